//! Admin: corp settings, sync runs, jobs and WeCom events (with their retries), the audit log,
//! console users and API tokens.

mod api;
mod console;
mod text;

use crate::app::{FeatureRoutes, NavGroup, NavItem, ShownTo};

pub const ROUTES: FeatureRoutes =
    FeatureRoutes { api: api::routes, console: console::pages, public: axum::Router::new, nav: NAV, text: text::TEXT };

const NAV: &[NavItem] = &[
    NavItem { group: NavGroup::System, key: "nav.jobs", href: "/console/jobs", shown_to: ShownTo::Everyone },
    NavItem { group: NavGroup::System, key: "nav.events", href: "/console/events", shown_to: ShownTo::Everyone },
    NavItem { group: NavGroup::System, key: "nav.sync", href: "/console/sync", shown_to: ShownTo::Everyone },
    NavItem { group: NavGroup::System, key: "nav.corp", href: "/console/corp", shown_to: ShownTo::Everyone },
    NavItem { group: NavGroup::System, key: "nav.audit", href: "/console/audit", shown_to: ShownTo::Admins },
    NavItem { group: NavGroup::System, key: "nav.users", href: "/console/users", shown_to: ShownTo::Owners },
    NavItem { group: NavGroup::System, key: "nav.tokens", href: "/console/tokens", shown_to: ShownTo::Owners },
];
