//! Pond's HTTP face and workers: the JSON API v1 (with its OpenAPI document), the operator
//! console, health and metrics endpoints, and the job worker that drains the shared queue.
//! It holds no SQL: everything persistent goes through `pond-store`.
#![forbid(unsafe_code)]

pub mod acquisition;
pub mod api;
pub mod app;
pub mod auth;
pub mod business_card;
pub mod callback;
pub mod channel_codes;
pub mod config;
pub mod console;
pub mod corp_cache;
pub mod corp_settings;
pub mod error;
pub mod health;
pub mod inbox_worker;
pub mod inbox_writer;
pub mod landing;
pub mod metrics;
pub mod regional;
pub mod state;
pub mod sync;
pub mod wecom_link;
pub mod worker;
pub mod writer_thread;

pub use app::{Running, router, start};
pub use config::Config;
pub use state::AppState;
