//! Pond's HTTP face over `pond-app`: the WeCom callback receiver, the JSON API v1 (with its
//! OpenAPI document), the operator console and the customer-facing H5 pages, health and metrics.
//! One folder per feature (`admin/`, `customers/`, `acquisition/`), each giving its API routes,
//! console pages and public pages to [`app::FEATURES`]. A handler parses, calls one service
//! function of `pond-app`, and renders: no SQL, no business rules here.
#![forbid(unsafe_code)]

pub mod acquisition;
pub mod admin;
pub mod api;
pub mod app;
pub mod assets;
pub mod auth;
pub mod callback;
pub mod console;
pub mod customers;
pub mod error;
pub mod headers;
pub mod health;
pub mod home;

pub use app::{Running, router, start};
pub use pond_app::{App, Config};
