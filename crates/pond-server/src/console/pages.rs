//! Console page handlers: each reads through `pond-store`, renders one template, and records
//! admin actions in the audit log.

use askama::Template;
use axum::{
    Extension, Form,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect},
};
use pond_core::{JobStatus, Page, PageRequest, Role, ids};
use pond_store::{
    audit::AuditEntry, corp::Corp, customer::Customer, group::GroupListing, jobs::Job, staff::Staff, tag::TagListing,
    user::User,
};
use serde::Deserialize;

use super::{
    Chrome, ConsoleError, PageResult, Pager, chrome,
    i18n::Lang,
    render, require,
    session::{CurrentUser, encode_component, lang_of},
};
use crate::{auth, corp_settings::SettingsInput, error::ApiError, state::AppState};

trait OrPage<T> {
    fn or_page(self, lang: Lang) -> Result<T, ConsoleError>;
}

impl<T, E: Into<ApiError>> OrPage<T> for Result<T, E> {
    fn or_page(self, lang: Lang) -> Result<T, ConsoleError> {
        self.map_err(|e| ConsoleError::from_api(e.into(), lang))
    }
}

/// Search, page and flash parameters shared by list pages.
#[derive(Debug, Deserialize, Default)]
pub struct ListParams {
    #[serde(default)]
    q: String,
    page: Option<u32>,
    saved: Option<u8>,
}

impl ListParams {
    fn request(&self) -> PageRequest {
        PageRequest::new(self.page, Some(50))
    }
    fn search(&self) -> Option<&str> {
        Some(self.q.trim()).filter(|q| !q.is_empty())
    }
    fn extra(&self) -> String {
        if self.q.trim().is_empty() { String::new() } else { format!("&q={}", encode_component(self.q.trim())) }
    }
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    c: Chrome,
    corp_name: String,
    counts: Vec<(&'static str, &'static str, i64)>,
}

pub async fn overview(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
) -> PageResult {
    let c = chrome(&user, &headers, "/console", None);
    let lang = c.lang;
    let one = PageRequest::new(Some(1), Some(1));
    let db = &state.db;
    let corp = user.corp_id;
    let counts = vec![
        ("nav.staff", "/console/staff", pond_store::staff::list(db, corp, None, one).await.or_page(lang)?.total),
        (
            "nav.customers",
            "/console/customers",
            pond_store::customer::list(db, corp, None, one).await.or_page(lang)?.total,
        ),
        ("nav.tags", "/console/tags", pond_store::tag::list(db, corp, None, one).await.or_page(lang)?.total),
        ("nav.groups", "/console/groups", pond_store::group::list(db, corp, None, one).await.or_page(lang)?.total),
        (
            "overview.pending_jobs",
            "/console/jobs?status=pending",
            pond_store::jobs::list(db, corp, Some(JobStatus::Pending), one).await.or_page(lang)?.total,
        ),
        (
            "overview.failed_jobs",
            "/console/jobs?status=failed",
            pond_store::jobs::list(db, corp, Some(JobStatus::Failed), one).await.or_page(lang)?.total,
        ),
    ];
    let corp_name = pond_store::corp::get(db, corp).await.or_page(lang)?.name;
    Ok(render(&OverviewPage { c, corp_name, counts }))
}

#[derive(Template)]
#[template(path = "corp.html")]
struct CorpPage {
    c: Chrome,
    /// (form field, label key, masked current value) for each secret.
    secrets: Vec<(&'static str, &'static str, String)>,
    form: CorpForm,
    error: Option<String>,
}

/// The settings form as posted (the CSRF field is checked by the middleware and ignored here).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CorpForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    wecom_corp_id: String,
    #[serde(default)]
    agent_id: String,
    #[serde(default)]
    contact_secret: String,
    #[serde(default)]
    app_secret: String,
    #[serde(default)]
    callback_token: String,
    #[serde(default)]
    encoding_aes_key: String,
    #[serde(default)]
    api_base_url: String,
}

impl CorpForm {
    fn from_corp(c: &Corp) -> Self {
        CorpForm {
            name: c.name.clone(),
            wecom_corp_id: c.wecom_corp_id.clone().unwrap_or_default(),
            agent_id: c.agent_id.map(|a| a.to_string()).unwrap_or_default(),
            api_base_url: c.api_base_url.clone(),
            ..Default::default()
        }
    }
    fn input(&self) -> Result<SettingsInput, pond_core::ValidationError> {
        let agent_id = match self.agent_id.trim() {
            "" => None,
            v => Some(v.parse::<i64>().map_err(|_| crate::corp_settings::agent_id_error())?),
        };
        Ok(SettingsInput {
            name: self.name.clone(),
            wecom_corp_id: self.wecom_corp_id.clone(),
            agent_id,
            contact_secret: self.contact_secret.clone(),
            app_secret: self.app_secret.clone(),
            callback_token: self.callback_token.clone(),
            encoding_aes_key: self.encoding_aes_key.clone(),
            api_base_url: self.api_base_url.clone(),
        })
    }
}

fn secrets(corp: &Corp) -> Vec<(&'static str, &'static str, String)> {
    vec![
        ("contact_secret", "corp.contact_secret", corp.contact_secret.masked()),
        ("app_secret", "corp.app_secret", corp.app_secret.masked()),
        ("callback_token", "corp.callback_token", corp.callback_token.masked()),
        ("encoding_aes_key", "corp.encoding_aes_key", corp.encoding_aes_key.masked()),
    ]
}

pub async fn corp_page(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Query(p): Query<ListParams>,
) -> PageResult {
    let flash = p.saved.map(|_| "common.saved");
    let c = chrome(&user, &headers, "/console/corp", flash);
    let corp = pond_store::corp::get(&state.db, user.corp_id).await.or_page(c.lang)?;
    let form = CorpForm::from_corp(&corp);
    Ok(render(&CorpPage { c, secrets: secrets(&corp), form, error: None }))
}

pub async fn corp_save(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Form(form): Form<CorpForm>,
) -> PageResult {
    let c = chrome(&user, &headers, "/console/corp", None);
    require(&user, user.role.can_administer(), c.lang)?;
    let corp = pond_store::corp::get(&state.db, user.corp_id).await.or_page(c.lang)?;
    let settings = match form.input().and_then(|i| i.validate()) {
        Ok(s) => s,
        Err(e) => {
            let mut resp = render(&CorpPage {
                c,
                secrets: secrets(&corp),
                form: CorpForm {
                    contact_secret: String::new(),
                    app_secret: String::new(),
                    callback_token: String::new(),
                    encoding_aes_key: String::new(),
                    ..form
                },
                error: Some(e.to_string()),
            });
            *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            return Ok(resp);
        }
    };
    let changed_secrets: Vec<&str> = [
        ("contact_secret", settings.contact_secret.is_some()),
        ("app_secret", settings.app_secret.is_some()),
        ("callback_token", settings.callback_token.is_some()),
        ("encoding_aes_key", settings.encoding_aes_key.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, changed)| changed.then_some(name))
    .collect();
    match pond_store::corp::update_settings(&state.db, user.corp_id, &settings).await {
        Ok(_) => state.corps.invalidate(user.corp_id),
        Err(pond_store::StoreError::Conflict(_)) => {
            let mut resp = render(&CorpPage {
                c,
                secrets: secrets(&corp),
                form: CorpForm {
                    contact_secret: String::new(),
                    app_secret: String::new(),
                    callback_token: String::new(),
                    encoding_aes_key: String::new(),
                    ..form
                },
                error: Some("wecom_corp_id: another corp in this Pond already uses this corp id".into()),
            });
            *resp.status_mut() = StatusCode::CONFLICT;
            return Ok(resp);
        }
        Err(e) => return Err(ConsoleError::from_api(e.into(), c.lang)),
    }
    let detail = if changed_secrets.is_empty() {
        String::new()
    } else {
        format!("secrets changed: {}", changed_secrets.join(", "))
    };
    pond_store::audit::record(
        &state.db,
        user.corp_id,
        &user.email,
        "corp.update",
        &format!("corp:{}", user.corp_id),
        &detail,
    )
    .await
    .or_page(c.lang)?;
    Ok(Redirect::to("/console/corp?saved=1").into_response())
}

#[derive(Template)]
#[template(path = "staff.html")]
struct StaffPage {
    c: Chrome,
    q: String,
    items: Vec<Staff>,
    pager: Pager,
}

pub async fn staff_page(
    State(state): State<AppState>,
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
#[template(path = "customers.html")]
struct CustomersPage {
    c: Chrome,
    q: String,
    items: Vec<Customer>,
    pager: Pager,
}

pub async fn customers_page(
    State(state): State<AppState>,
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
#[template(path = "tags.html")]
struct TagsPage {
    c: Chrome,
    q: String,
    items: Vec<TagListing>,
    pager: Pager,
}

pub async fn tags_page(
    State(state): State<AppState>,
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
#[template(path = "groups.html")]
struct GroupsPage {
    c: Chrome,
    q: String,
    items: Vec<GroupListing>,
    pager: Pager,
}

pub async fn groups_page(
    State(state): State<AppState>,
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
#[template(path = "jobs.html")]
struct JobsPage {
    c: Chrome,
    status: &'static str,
    tabs: Vec<(&'static str, &'static str)>,
    items: Vec<Job>,
    pager: Pager,
}

#[derive(Debug, Deserialize, Default)]
pub struct JobParams {
    status: Option<String>,
    page: Option<u32>,
    retried: Option<u8>,
}

pub async fn jobs_page(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Query(p): Query<JobParams>,
) -> PageResult {
    let flash = p.retried.map(|_| "jobs.retried");
    let c = chrome(&user, &headers, "/console/jobs", flash);
    let status = p.status.as_deref().and_then(|s| s.parse::<JobStatus>().ok()).unwrap_or(JobStatus::Pending);
    let page: Page<Job> =
        pond_store::jobs::list(&state.db, user.corp_id, Some(status), PageRequest::new(p.page, Some(50)))
            .await
            .or_page(c.lang)?;
    let pager = Pager::new(&page, "/console/jobs", &format!("&status={}", status.as_str()));
    let tabs = JobStatus::ALL.iter().map(|s| (s.as_str(), job_status_key(*s))).collect();
    Ok(render(&JobsPage { c, status: status.as_str(), tabs, items: page.items, pager }))
}

fn job_status_key(s: JobStatus) -> &'static str {
    match s {
        JobStatus::Pending => "jobs.pending",
        JobStatus::Running => "jobs.running",
        JobStatus::Done => "jobs.done",
        JobStatus::Failed => "jobs.failed",
    }
}

pub async fn job_retry(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> PageResult {
    let lang = lang_of(&headers);
    require(&user, user.role.can_administer(), lang)?;
    pond_store::jobs::retry(&state.db, user.corp_id, id).await.or_page(lang)?;
    pond_store::audit::record(&state.db, user.corp_id, &user.email, "job.retry", &format!("job:{id}"), "")
        .await
        .or_page(lang)?;
    state.wake_worker.notify_one();
    Ok(Redirect::to("/console/jobs?status=failed&retried=1").into_response())
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    c: Chrome,
    q: String,
    items: Vec<AuditEntry>,
    pager: Pager,
}

pub async fn audit_page(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Query(p): Query<ListParams>,
) -> PageResult {
    let c = chrome(&user, &headers, "/console/audit", None);
    require(&user, user.role.can_administer(), c.lang)?;
    let page = pond_store::audit::list(&state.db, user.corp_id, p.search(), p.request()).await.or_page(c.lang)?;
    let pager = Pager::new(&page, "/console/audit", &p.extra());
    Ok(render(&AuditPage { c, q: p.q, items: page.items, pager }))
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    c: Chrome,
    users: Vec<User>,
    roles: Vec<&'static str>,
    error: Option<String>,
    email: String,
}

pub async fn users_page(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Query(p): Query<ListParams>,
) -> PageResult {
    let c = chrome(&user, &headers, "/console/users", p.saved.map(|_| "users.added"));
    require(&user, user.role == Role::Owner, c.lang)?;
    let users = pond_store::user::list(&state.db, user.corp_id).await.or_page(c.lang)?;
    Ok(render(&UsersPage {
        c,
        users,
        roles: Role::ALL.iter().map(|r| r.as_str()).collect(),
        error: None,
        email: String::new(),
    }))
}

#[derive(Debug, Deserialize)]
pub struct NewUserForm {
    email: String,
    role: String,
    password: String,
}

pub async fn users_add(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Form(form): Form<NewUserForm>,
) -> PageResult {
    let c = chrome(&user, &headers, "/console/users", None);
    require(&user, user.role == Role::Owner, c.lang)?;
    let checked = ids::login_email(&form.email).and_then(|email| {
        let role: Role = form.role.parse()?;
        ids::new_password(&form.password)?;
        Ok((email, role))
    });
    let outcome = match checked {
        Ok((email, role)) => {
            let password = form.password.clone();
            let hash = tokio::task::spawn_blocking(move || auth::hash_password(&password))
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))
                .and_then(|r| r)
                .or_page(c.lang)?;
            match pond_store::user::create(&state.db, user.corp_id, &email, &hash, role).await {
                Ok(created) => {
                    pond_store::audit::record(
                        &state.db,
                        user.corp_id,
                        &user.email,
                        "user.add",
                        &created.email,
                        &format!("role={role}"),
                    )
                    .await
                    .or_page(c.lang)?;
                    return Ok(Redirect::to("/console/users?saved=1").into_response());
                }
                Err(pond_store::StoreError::Conflict(_)) => "email: this e-mail already has a console login".to_owned(),
                Err(e) => return Err(ConsoleError::from_api(e.into(), c.lang)),
            }
        }
        Err(e) => e.to_string(),
    };
    let users = pond_store::user::list(&state.db, user.corp_id).await.or_page(c.lang)?;
    let mut resp = render(&UsersPage {
        c,
        users,
        roles: Role::ALL.iter().map(|r| r.as_str()).collect(),
        error: Some(outcome),
        email: form.email,
    });
    *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    Ok(resp)
}

#[derive(Template)]
#[template(path = "customer.html")]
struct CustomerPage {
    c: Chrome,
    customer: Customer,
    /// (follow relation, staff name, tag names)
    follows: Vec<(pond_store::customer::FollowRelation, String, Vec<String>)>,
    timeline: Vec<pond_store::timeline::TimelineEntry>,
}

pub async fn customer_page(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Path(external_userid): Path<String>,
) -> PageResult {
    let c = chrome(&user, &headers, "/console/customers", None);
    let db = &state.db;
    let customer = pond_store::customer::get(db, user.corp_id, &external_userid).await.or_page(c.lang)?;
    let tag_names: std::collections::HashMap<String, String> = pond_store::tag::all_live(db, user.corp_id)
        .await
        .or_page(c.lang)?
        .into_iter()
        .map(|(id, group, name)| (id, format!("{group}/{name}")))
        .collect();
    let mut follows = Vec::new();
    for f in pond_store::customer::follows_of(db, user.corp_id, &external_userid).await.or_page(c.lang)? {
        let staff_name = pond_store::staff::get(db, user.corp_id, &f.userid).await.map(|s| s.name).unwrap_or_default();
        let tags = pond_store::customer::follow_tags(db, user.corp_id, &external_userid, &f.userid)
            .await
            .or_page(c.lang)?
            .into_iter()
            .filter_map(|t| tag_names.get(&t).cloned())
            .collect();
        follows.push((f, staff_name, tags));
    }
    let timeline = pond_store::timeline::of_customer(db, user.corp_id, &external_userid, 100).await.or_page(c.lang)?;
    Ok(render(&CustomerPage { c, customer, follows, timeline }))
}

#[derive(Template)]
#[template(path = "sync.html")]
struct SyncPage {
    c: Chrome,
    run: Option<pond_store::sync_run::SyncRun>,
    configured: bool,
}

impl SyncPage {
    fn percent(&self) -> i64 {
        match &self.run {
            Some(r) if r.status != "running" => 100,
            Some(r) if r.total_items > 0 => (r.done_items * 100 / r.total_items).clamp(0, 99),
            _ => 0,
        }
    }
}

pub async fn sync_page(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
) -> PageResult {
    let c = chrome(&user, &headers, "/console/sync", None);
    let run = pond_store::sync_run::latest(&state.db, user.corp_id).await.or_page(c.lang)?;
    let corp = pond_store::corp::get(&state.db, user.corp_id).await.or_page(c.lang)?;
    let configured = state.wecom.for_corp(&corp).is_ok();
    Ok(render(&SyncPage { c, run, configured }))
}

pub async fn sync_start(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
) -> PageResult {
    let lang = lang_of(&headers);
    require(&user, user.role.can_administer(), lang)?;
    match crate::sync::spawn_full_sync(&state, user.corp_id, &user.email).await {
        Ok(run) => {
            pond_store::audit::record(
                &state.db,
                user.corp_id,
                &user.email,
                "sync.start",
                &format!("sync:{}", run.id),
                "",
            )
            .await
            .or_page(lang)?;
            Ok(Redirect::to("/console/sync").into_response())
        }
        Err(crate::sync::StartError::AlreadyRunning) => Ok(Redirect::to("/console/sync").into_response()),
        Err(e) => Err(ConsoleError { status: StatusCode::CONFLICT, message: e.to_string(), lang }),
    }
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    c: Chrome,
    tokens: Vec<pond_store::token::ApiToken>,
    /// A token just created, shown this once.
    created: Option<String>,
    error: Option<String>,
}

pub async fn tokens_page(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
) -> PageResult {
    let c = chrome(&user, &headers, "/console/tokens", None);
    require(&user, user.role == Role::Owner, c.lang)?;
    let tokens = pond_store::token::list(&state.db, user.corp_id).await.or_page(c.lang)?;
    Ok(render(&TokensPage { c, tokens, created: None, error: None }))
}

#[derive(Debug, Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    name: String,
}

pub async fn tokens_create(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> PageResult {
    let c = chrome(&user, &headers, "/console/tokens", None);
    require(&user, user.role == Role::Owner, c.lang)?;
    let (created, error) = match ids::required_text("name", &form.name, 64) {
        Ok(name) => {
            let (token, hash, prefix) = auth::new_api_token();
            pond_store::token::create(&state.db, user.corp_id, &name, &hash, &prefix, &user.email)
                .await
                .or_page(c.lang)?;
            pond_store::audit::record(&state.db, user.corp_id, &user.email, "token.add", &prefix, &name)
                .await
                .or_page(c.lang)?;
            (Some(token), None)
        }
        Err(e) => (None, Some(e.to_string())),
    };
    let tokens = pond_store::token::list(&state.db, user.corp_id).await.or_page(c.lang)?;
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let mut resp = render(&TokensPage { c, tokens, created, error });
    *resp.status_mut() = status;
    Ok(resp)
}

pub async fn tokens_revoke(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> PageResult {
    let lang = lang_of(&headers);
    require(&user, user.role == Role::Owner, lang)?;
    pond_store::token::revoke(&state.db, user.corp_id, id).await.or_page(lang)?;
    pond_store::audit::record(&state.db, user.corp_id, &user.email, "token.revoke", &format!("token:{id}"), "")
        .await
        .or_page(lang)?;
    Ok(Redirect::to("/console/tokens").into_response())
}
