//! The customer center: overview, staff, customers (one customer's page and timeline), tags and
//! customer groups — all read from Pond's mirror of WeCom.

mod api;
mod console;

use crate::app::FeatureRoutes;

pub const ROUTES: FeatureRoutes =
    FeatureRoutes { api: api::routes, console: console::pages, public: axum::Router::new };
