//! Admin: corp settings, sync runs, jobs, the audit log, console users and API tokens.

mod api;
mod console;

use crate::app::FeatureRoutes;

pub const ROUTES: FeatureRoutes =
    FeatureRoutes { api: api::routes, console: console::pages, public: axum::Router::new };
