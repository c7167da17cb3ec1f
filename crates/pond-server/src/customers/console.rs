//! Customer-center console pages: overview, staff, customers (with one customer's page), tags,
//! groups.

use pond_store::{customer::Customer, group::GroupListing, staff::Staff, tag::TagListing};

use crate::console::prelude::*;

/// This feature's console pages.
pub fn pages(book: RouteBook) -> RouteBook {
    book.get("/console/staff", staff_page)
        .get("/console/customers", customers_page)
        .get("/console/customers/{external_userid}", customer_page)
        .get("/console/tags", tags_page)
        .get("/console/groups", groups_page)
}

#[derive(Template)]
#[template(path = "customers/staff.html")]
struct StaffPage {
    c: Chrome,
    q: String,
    items: Vec<Staff>,
    pager: Pager,
}

pub async fn staff_page(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Query(p): Query<ListParams>,
) -> PageResult {
    let c = chrome(&user, &headers, "/console/staff", None);
    let page = pond_store::staff::list(&state.db, user.corp_id, p.search(), p.request()).await.or_page(c.lang)?;
    let pager = Pager::new(&page, "/console/staff", &p.extra());
    Ok(render(&StaffPage { c, q: p.q, items: page.items, pager }))
}

#[derive(Template)]
#[template(path = "customers/customers.html")]
struct CustomersPage {
    c: Chrome,
    q: String,
    items: Vec<Customer>,
    pager: Pager,
}

pub async fn customers_page(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Query(p): Query<ListParams>,
) -> PageResult {
    let c = chrome(&user, &headers, "/console/customers", None);
    let page = pond_store::customer::list(&state.db, user.corp_id, p.search(), p.request()).await.or_page(c.lang)?;
    let pager = Pager::new(&page, "/console/customers", &p.extra());
    Ok(render(&CustomersPage { c, q: p.q, items: page.items, pager }))
}

#[derive(Template)]
#[template(path = "customers/tags.html")]
struct TagsPage {
    c: Chrome,
    q: String,
    items: Vec<TagListing>,
    pager: Pager,
}

pub async fn tags_page(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Query(p): Query<ListParams>,
) -> PageResult {
    let c = chrome(&user, &headers, "/console/tags", None);
    let page = pond_store::tag::list(&state.db, user.corp_id, p.search(), p.request()).await.or_page(c.lang)?;
    let pager = Pager::new(&page, "/console/tags", &p.extra());
    Ok(render(&TagsPage { c, q: p.q, items: page.items, pager }))
}

#[derive(Template)]
#[template(path = "customers/groups.html")]
struct GroupsPage {
    c: Chrome,
    q: String,
    items: Vec<GroupListing>,
    pager: Pager,
}

pub async fn groups_page(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Query(p): Query<ListParams>,
) -> PageResult {
    let c = chrome(&user, &headers, "/console/groups", None);
    let page = pond_store::group::list(&state.db, user.corp_id, p.search(), p.request()).await.or_page(c.lang)?;
    let pager = Pager::new(&page, "/console/groups", &p.extra());
    Ok(render(&GroupsPage { c, q: p.q, items: page.items, pager }))
}

#[derive(Template)]
#[template(path = "customers/customer.html")]
struct CustomerPage {
    c: Chrome,
    customer: Customer,
    /// (follow relation, staff name, tag names)
    follows: Vec<(pond_store::customer::FollowRelation, String, Vec<String>)>,
    timeline: Vec<pond_store::timeline::TimelineEntry>,
}

pub async fn customer_page(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    ConsolePath(external_userid): ConsolePath<String>,
) -> PageResult {
    let c = chrome(&user, &headers, "/console/customers", None);
    let detail = pond_app::customers::customer(&state, user.corp_id, &external_userid).await.or_page(c.lang)?;
    let follows = detail.follows.into_iter().map(|f| (f.relation, f.staff_name, f.tag_names)).collect();
    Ok(render(&CustomerPage { c, customer: detail.customer, follows, timeline: detail.timeline }))
}
