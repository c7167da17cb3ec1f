//! Acquisition: welcome messages, channel live codes, regional store codes and business cards —
//! their API, console pages, and the customer-facing landing and regional pages (H5).

mod api;
mod console;
mod h5;
mod text;

use crate::app::{FeatureRoutes, NavGroup, NavItem, ShownTo};

pub const ROUTES: FeatureRoutes =
    FeatureRoutes { api: api::routes, console: console::pages, public: h5::routes, nav: NAV, text: text::TEXT };

const NAV: &[NavItem] = &[
    NavItem { group: NavGroup::Acquisition, key: "nav.codes", href: "/console/codes", shown_to: ShownTo::Everyone },
    NavItem { group: NavGroup::Acquisition, key: "nav.stores", href: "/console/stores", shown_to: ShownTo::Everyone },
    NavItem { group: NavGroup::Acquisition, key: "nav.imports", href: "/console/imports", shown_to: ShownTo::Everyone },
    NavItem { group: NavGroup::Content, key: "nav.welcome", href: "/console/welcome", shown_to: ShownTo::Everyone },
];
