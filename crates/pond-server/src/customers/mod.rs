//! The customer center: staff, customers (one customer's page and timeline), tags and
//! customer groups — all read from Pond's mirror of WeCom.

mod api;
mod console;
mod text;

use crate::app::{FeatureRoutes, NavGroup, NavItem, ShownTo};

pub const ROUTES: FeatureRoutes =
    FeatureRoutes { api: api::routes, console: console::pages, public: axum::Router::new, nav: NAV, text: text::TEXT };

const NAV: &[NavItem] = &[
    NavItem {
        group: NavGroup::Customers,
        key: "nav.customers",
        href: "/console/customers",
        shown_to: ShownTo::Everyone,
    },
    NavItem { group: NavGroup::Customers, key: "nav.staff", href: "/console/staff", shown_to: ShownTo::Everyone },
    NavItem { group: NavGroup::Customers, key: "nav.tags", href: "/console/tags", shown_to: ShownTo::Everyone },
    NavItem { group: NavGroup::Groups, key: "nav.groups", href: "/console/groups", shown_to: ShownTo::Everyone },
];
