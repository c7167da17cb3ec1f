//! Pond's services and workers, one folder per feature area, over `pond-store` (persistence),
//! `pond-core` (pure rules) and `wecom` (the protocol). No HTTP: `pond-server` and the `pond`
//! CLI are front ends over the same functions, so they cannot drift apart.
//!
//! * [`App`] — the handle every front end and test holds.
//! * [`feature`] — the extension points a feature area plugs into; [`features`] lists the areas.
//! * [`pipeline`] — callbacks in (group commit), the inbox worker, the job worker, periodic tasks.
//! * [`sync`] — Pond's picture of a corp kept equal to WeCom's (full sync, one event at a time).
//! * [`acquisition`] — welcome messages, channel codes, regional store codes, business cards.
//! * [`groups`], [`reach`], [`risk`], [`fission`] — the next feature areas (empty for now).
//! * [`admin`] — corp settings, console users, API tokens, jobs and the audit log.
//! * [`imports`] — CSV imports run in the background, all or nothing.
//!
//! Heavy engines (full-text search, audience bitmaps, the sensitive-word matcher, poster
//! rendering, the archive SDK) live in crates of their own with no database access: the feature
//! folder here reads the data and feeds them.
#![forbid(unsafe_code)]

pub mod acquisition;
pub mod admin;
pub mod app;
pub mod audit;
pub mod auth;
pub mod clock;
pub mod config;
pub mod corp;
pub mod customers;
pub mod dashboard;
pub mod error;
pub mod export;
pub mod feature;
pub mod files;
pub mod fission;
pub mod groups;
pub mod imports;
pub mod metrics;
pub mod pickers;
pub mod pipeline;
pub mod rate_limit;
pub mod reach;
pub mod risk;
pub mod secrets;
pub mod sync;
pub mod wecom_link;

use std::sync::Arc;

pub use app::App;
pub use config::Config;
pub use error::{AppError, LineError};

/// The feature areas of this Pond. Adding an area is one line here plus its own folders.
pub fn features() -> Vec<Arc<dyn feature::Feature>> {
    vec![Arc::new(acquisition::Acquisition)]
}

/// Reads a JSON column. A corrupt value is an error naming the column and the row, and is logged:
/// it is never silently read as empty.
pub fn json_column<T: serde::de::DeserializeOwned>(
    column: &'static str,
    row: impl std::fmt::Display,
    text: &str,
) -> Result<T, AppError> {
    serde_json::from_str(text).map_err(|e| {
        tracing::error!(column, %row, error = %e, "corrupt JSON column");
        AppError::Internal(format!("corrupt {column} in row {row}: {e}"))
    })
}
