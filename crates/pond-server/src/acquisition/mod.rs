//! Acquisition: welcome messages, channel live codes, regional store codes and business cards —
//! their API, console pages, and the customer-facing landing and regional pages (H5).

mod api;
mod console;
mod h5;

use crate::app::FeatureRoutes;

pub const ROUTES: FeatureRoutes = FeatureRoutes { api: api::routes, console: console::pages, public: h5::routes };
