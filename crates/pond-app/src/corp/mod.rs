//! Corps: their WeCom settings (validated, audited) and a short-lived cache of them.

pub mod cache;
pub mod settings;
