//! Customer-group operations (next): group welcome, keyword auto-replies, anti-harassment,
//! red packets, check-in. It will plug in as a [`crate::feature::Feature`] reacting to group
//! events (created, member joined / left, dismissed) and archive messages.
