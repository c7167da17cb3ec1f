//! Customer-center console pages: staff, customers (with one customer's page), tags,
//! groups.

use pond_app::{
    acquisition::channels::{Channel, ChannelNames},
    customers::listing::{self, CustomerListing, FilterInput},
    pickers::{self, PickerOption},
};
use pond_core::PageRequest;
use pond_core::Role;
use pond_store::{
    customer::{Customer, CustomerOrder},
    group::GroupListing,
    staff::Staff,
    tag::TagListing,
};

use crate::console::prelude::*;

/// This feature's console pages.
pub fn pages(book: RouteBook) -> RouteBook {
    book.get("/console/staff", Role::ReadOnly, staff_page)
        .get("/console/customers", Role::ReadOnly, customers_page)
        .get("/console/customers/export.csv", Role::Operator, customers_export)
        .post("/console/customers/bulk-tag", Role::Admin, customers_bulk_tag)
        .get("/console/customers/{external_userid}", Role::ReadOnly, customer_page)
        .post("/console/customers/{external_userid}/follows/{userid}", Role::Admin, follow_save)
        .get("/console/tags", Role::ReadOnly, tags_page)
        .get("/console/tags/new", Role::Admin, tag_new)
        .post("/console/tags", Role::Admin, tag_create)
        .get("/console/tags/{tag_id}/edit", Role::Admin, tag_edit)
        .post("/console/tags/{tag_id}", Role::Admin, tag_rename)
        .post("/console/tags/{tag_id}/delete", Role::Admin, tag_delete)
        .get("/console/groups", Role::ReadOnly, groups_page)
}

#[derive(Template)]
#[template(path = "customers/staff.html")]
struct StaffPage {
    c: Chrome,
    q: String,
    items: Vec<Staff>,
    pager: Pager,
    departments: std::collections::HashMap<i64, String>,
}

impl StaffPage {
    fn department_names(&self, ids: &str) -> String {
        pickers::departments_of(ids, &self.departments).join("、")
    }
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
    let departments = pickers::department_names(&state, user.corp_id).await.or_page(c.lang)?;
    Ok(render(&StaffPage { c, q: p.q, items: page.items, pager, departments }))
}

#[derive(Template)]
#[template(path = "customers/customers.html")]
struct CustomersPage {
    c: Chrome,
    f: CustomerQuery,
    items: Vec<CustomerListing>,
    pager: Pager,
    staff: Vec<PickerOption>,
    tags: Vec<PickerOption>,
    channels: Vec<(String, String)>,
    error: Option<String>,
}

impl CustomersPage {
    /// The link that sorts by `key` (keeping the filters).
    fn sort_link(&self, key: &str) -> String {
        format!("/console/customers?{}", self.f.query_with_sort(key))
    }
    fn export_link(&self) -> String {
        format!("/console/customers/export.csv?{}", self.f.query_with_sort(&self.f.sort))
    }
}

/// The customer list's filters, sort and page, as in the URL.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CustomerQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    userid: String,
    #[serde(default)]
    tag: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    sort: String,
    page: Option<u32>,
    queued: Option<usize>,
}

impl CustomerQuery {
    fn input(&self) -> FilterInput {
        FilterInput {
            search: self.q.clone(),
            userid: self.userid.clone(),
            tag_id: self.tag.clone(),
            state: self.state.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
            status: self.status.clone(),
        }
    }
    fn order(&self) -> CustomerOrder {
        match self.sort.as_str() {
            "oldest" => CustomerOrder::OldestFirst,
            "name" => CustomerOrder::Name,
            _ => CustomerOrder::NewestFirst,
        }
    }
    fn query_with_sort(&self, sort: &str) -> String {
        let pairs = [
            ("q", self.q.as_str()),
            ("userid", &self.userid),
            ("tag", &self.tag),
            ("state", &self.state),
            ("from", &self.from),
            ("to", &self.to),
            ("status", &self.status),
            ("sort", sort),
        ];
        serde_urlencoded::to_string(pairs.iter().filter(|(_, v)| !v.is_empty()).collect::<Vec<_>>()).unwrap_or_default()
    }
    fn is_filtered(&self) -> bool {
        [&self.q, &self.userid, &self.tag, &self.state, &self.from, &self.to, &self.status]
            .iter()
            .any(|v| !v.is_empty())
    }
}

pub async fn customers_page(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Query(f): Query<CustomerQuery>,
) -> PageResult {
    let mut c = chrome(&user, &headers, "/console/customers", None);
    if let Some(n) = f.queued {
        c.failure = None;
        c.flash = Some(if n > 0 { "customers.bulk_queued" } else { "customers.bulk_none" });
    }
    let (items, pager, error) = match f.input().parse(user.zone) {
        Ok(filter) => {
            let page = listing::list(&state, user.corp_id, &filter, f.order(), PageRequest::new(f.page, Some(50)))
                .await
                .or_page(c.lang)?;
            let extra = format!("&{}", f.query_with_sort(&f.sort));
            let pager = Pager::new(&page, "/console/customers", &extra);
            (page.items, pager, None)
        }
        Err(e) => {
            let msg = crate::console::user_message(&crate::error::ApiError::Invalid(e), c.lang);
            (Vec::new(), Pager { page: 1, pages: 1, total: 0, prev: None, next: None, numbers: Vec::new() }, Some(msg))
        }
    };
    let staff = pickers::staff(&state, user.corp_id).await.or_page(c.lang)?;
    let tags = pickers::tags(&state, user.corp_id).await.or_page(c.lang)?;
    let channels = ChannelNames::load(&state, user.corp_id).await.or_page(c.lang)?.choices();
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    Ok(render_with(status, &CustomersPage { c, f, items, pager, staff, tags, channels, error }))
}

/// GET /console/customers/export.csv: the filtered set, every page.
pub async fn customers_export(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Query(f): Query<CustomerQuery>,
) -> PageResult {
    let lang = lang_of(&headers);
    let filter = f.input().parse(user.zone).map_err(AppError::from).or_page(lang)?;
    let csv = listing::export_csv(&state, &crate::console::actor(&user), user.corp_id, &filter).await.or_page(lang)?;
    let name = format!("customers-{}.csv", pond_app::acquisition::stats::date_of(user.zone, pond_store::now_ms()));
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        csv,
    )
        .into_response())
}

/// POST /console/customers/bulk-tag: `ids` (the rows ticked) and `tags` (from the picker).
pub async fn customers_bulk_tag(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    body: String,
) -> PageResult {
    let lang = lang_of(&headers);
    let form = FormPairs::parse(&body);
    let back = form.one("back").unwrap_or_default().to_owned();
    let back =
        if back.starts_with("/console/customers") && !back.contains("//") { back } else { "/console/customers".into() };
    let queued =
        listing::bulk_tag(&state, &crate::console::actor(&user), user.corp_id, &form.all("ids"), &form.all("tags"))
            .await
            .or_page(lang)?;
    let sep = if back.contains('?') { '&' } else { '?' };
    Ok(Redirect::to(&format!("{back}{sep}queued={queued}")).into_response())
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
    let c = chrome(&user, &headers, "/console/tags", p.flash());
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
    owners: pickers::Names,
}

impl GroupsPage {
    fn owner(&self, userid: &str) -> String {
        self.owners.of(userid)
    }
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
    let owners = pickers::staff_names(&state, user.corp_id).await.or_page(c.lang)?;
    Ok(render(&GroupsPage { c, q: p.q, items: page.items, pager, owners }))
}

#[derive(Template)]
#[template(path = "customers/customer.html")]
struct CustomerPage {
    c: Chrome,
    customer: Customer,
    follows: Vec<FollowView>,
    timeline: Vec<pond_store::timeline::TimelineEntry>,
    welcome: Vec<pond_store::welcome::WelcomeResult>,
    staff_names: pickers::Names,
    tags: Vec<PickerOption>,
    /// (userid, message) of a failed edit.
    error: Option<(String, String)>,
}

struct FollowView {
    relation: pond_store::customer::FollowRelation,
    staff_name: String,
    tag_ids: Vec<String>,
    tag_names: Vec<String>,
    channel: Channel,
}

impl CustomerPage {
    fn staff_name(&self, userid: &str) -> String {
        self.staff_names.of(userid)
    }
}

#[derive(Debug, Deserialize, Default)]
pub struct CustomerPageQuery {
    saved: Option<String>,
}

async fn customer_page_with(
    state: &App,
    user: &CurrentUser,
    headers: &HeaderMap,
    external_userid: &str,
    flash: Option<&'static str>,
    error: Option<(String, String)>,
) -> PageResult {
    let c = chrome(user, headers, "/console/customers", flash);
    let detail = pond_app::customers::customer(state, user.corp_id, external_userid).await.or_page(c.lang)?;
    let channels = ChannelNames::load(state, user.corp_id).await.or_page(c.lang)?;
    let staff_names = pickers::staff_names(state, user.corp_id).await.or_page(c.lang)?;
    let tags = pickers::tags(state, user.corp_id).await.or_page(c.lang)?;
    let follows = detail
        .follows
        .into_iter()
        .map(|f| FollowView {
            channel: channels.resolve(&f.relation.state),
            relation: f.relation,
            staff_name: f.staff_name,
            tag_ids: f.tag_ids,
            tag_names: f.tag_names,
        })
        .collect();
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    Ok(render_with(
        status,
        &CustomerPage {
            c,
            customer: detail.customer,
            follows,
            timeline: detail.timeline,
            welcome: detail.welcome_results,
            staff_names,
            tags,
            error,
        },
    ))
}

pub async fn customer_page(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    ConsolePath(external_userid): ConsolePath<String>,
    Query(q): Query<CustomerPageQuery>,
) -> PageResult {
    let flash = saved_flash(q.saved.as_deref());
    customer_page_with(&state, &user, &headers, &external_userid, flash, None).await
}

/// POST /console/customers/{external_userid}/follows/{userid}: tags and remark, through WeCom.
pub async fn follow_save(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    ConsolePath((external_userid, userid)): ConsolePath<(String, String)>,
    body: String,
) -> PageResult {
    let lang = lang_of(&headers);
    let form = FormPairs::parse(&body);
    let (tags, remark) = (form.all("tags"), form.one("remark").unwrap_or(""));
    let follow = pond_core::ids::Follow { external_userid: &external_userid, userid: &userid };
    match listing::edit_follow(&state, &crate::console::actor(&user), user.corp_id, follow, &tags, remark).await {
        Ok(()) => Ok(Redirect::to(&format!(
            "/console/customers/{}?saved=1",
            crate::console::session::encode_component(&external_userid)
        ))
        .into_response()),
        Err(e @ (AppError::NotFound(_) | AppError::Storage(_) | AppError::Internal(_))) => {
            Err(ConsoleError::from_api(e.into(), lang))
        }
        Err(e) => {
            let message = crate::console::user_message(&e.into(), lang);
            customer_page_with(&state, &user, &headers, &external_userid, None, Some((userid, message))).await
        }
    }
}

#[derive(Template)]
#[template(path = "customers/tag_form.html")]
struct TagFormPage {
    c: Chrome,
    /// The tag being renamed: (id, group name).
    editing: Option<(String, String)>,
    group: String,
    name: String,
    groups: Vec<String>,
    error: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
pub struct TagForm {
    #[serde(default)]
    group: String,
    #[serde(default)]
    name: String,
}

async fn tag_form_page(
    state: &App,
    user: &CurrentUser,
    headers: &HeaderMap,
    editing: Option<(String, String)>,
    form: TagForm,
    failure: Option<AppError>,
) -> PageResult {
    let c = chrome(user, headers, "/console/tags", None);
    let mut groups: Vec<String> = pond_store::tag::all_live(&state.db, user.corp_id)
        .await
        .or_page(c.lang)?
        .into_iter()
        .map(|(_, g, _)| g)
        .collect();
    groups.sort();
    groups.dedup();
    let error = failure.map(|e| crate::console::user_message(&e.into(), c.lang));
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    Ok(render_with(status, &TagFormPage { c, editing, group: form.group, name: form.name, groups, error }))
}

/// GET /console/tags/new
pub async fn tag_new(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
) -> PageResult {
    tag_form_page(&state, &user, &headers, None, TagForm::default(), None).await
}

/// POST /console/tags
pub async fn tag_create(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Form(form): Form<TagForm>,
) -> PageResult {
    match pond_app::customers::tags::create(
        &state,
        &crate::console::actor(&user),
        user.corp_id,
        &form.group,
        &form.name,
    )
    .await
    {
        Ok(_) => Ok(Redirect::to("/console/tags?saved=1").into_response()),
        Err(
            e @ (AppError::Invalid(_) | AppError::Wecom { .. } | AppError::NotConnected(_) | AppError::Conflict(_)),
        ) => tag_form_page(&state, &user, &headers, None, form, Some(e)).await,
        Err(e) => Err(ConsoleError::from_api(e.into(), lang_of(&headers))),
    }
}

/// GET /console/tags/{tag_id}/edit
pub async fn tag_edit(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    ConsolePath(tag_id): ConsolePath<String>,
) -> PageResult {
    let lang = lang_of(&headers);
    let tags = pond_store::tag::all_live(&state.db, user.corp_id).await.or_page(lang)?;
    let (_, group, name) =
        tags.into_iter().find(|(id, _, _)| *id == tag_id).ok_or_else(|| ConsoleError::not_found(lang))?;
    tag_form_page(&state, &user, &headers, Some((tag_id, group.clone())), TagForm { group, name }, None).await
}

/// POST /console/tags/{tag_id}: renames the tag.
pub async fn tag_rename(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    ConsolePath(tag_id): ConsolePath<String>,
    Form(form): Form<TagForm>,
) -> PageResult {
    match pond_app::customers::tags::rename(&state, &crate::console::actor(&user), user.corp_id, &tag_id, &form.name)
        .await
    {
        Ok(()) => Ok(Redirect::to("/console/tags?saved=1").into_response()),
        Err(e @ (AppError::Invalid(_) | AppError::Wecom { .. } | AppError::NotConnected(_))) => {
            let editing = Some((tag_id, form.group.clone()));
            tag_form_page(&state, &user, &headers, editing, form, Some(e)).await
        }
        Err(e) => Err(ConsoleError::from_api(e.into(), lang_of(&headers))),
    }
}

/// POST /console/tags/{tag_id}/delete (asks first without JavaScript).
pub async fn tag_delete(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    ConsolePath(tag_id): ConsolePath<String>,
    Form(confirm): Form<crate::console::Confirmation>,
) -> PageResult {
    let lang = lang_of(&headers);
    if !confirm.given() {
        let tags = pond_store::tag::all_live(&state.db, user.corp_id).await.or_page(lang)?;
        let (_, group, name) =
            tags.into_iter().find(|(id, _, _)| *id == tag_id).ok_or_else(|| ConsoleError::not_found(lang))?;
        let c = chrome(&user, &headers, "/console/tags", None);
        let page = crate::console::ConfirmPage::delete(
            c,
            &format!("{group}/{name}"),
            "tags.delete_consequence",
            format!("/console/tags/{}/delete", crate::console::session::encode_component(&tag_id)),
            "/console/tags".to_owned(),
        );
        return Ok(render(&page));
    }
    pond_app::customers::tags::delete(&state, &crate::console::actor(&user), user.corp_id, &tag_id)
        .await
        .or_page(lang)?;
    Ok(Redirect::to("/console/tags?saved=deleted").into_response())
}
