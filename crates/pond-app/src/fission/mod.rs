//! Fission campaigns (next): posters (renderer crate), invite progress from adds carrying the
//! campaign's `state` prefix (see [`pond_core::state`]), rewards.
