//! The console's home: the dashboard (new, lost and net customers, trend, top channels, welcome
//! success, sync and job health) and the design-system reference page.

mod console;
mod text;

use crate::app::{FeatureRoutes, NavGroup, NavItem, ShownTo};

pub const ROUTES: FeatureRoutes = FeatureRoutes {
    api: utoipa_axum::router::OpenApiRouter::new,
    console: console::pages,
    public: axum::Router::new,
    nav: NAV,
    text: text::TEXT,
};

const NAV: &[NavItem] =
    &[NavItem { group: NavGroup::Home, key: "nav.overview", href: "/console", shown_to: ShownTo::Everyone }];
