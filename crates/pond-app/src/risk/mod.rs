//! Risk control (next): the conversation archive and its Chinese full-text search (engine crate),
//! sensitive words (matcher crate), resignation inheritance and on-job transfer.
