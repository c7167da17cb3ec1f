//! Admin console pages: corp settings, sync, jobs, audit log, users, API tokens.

use pond_app::corp::settings::SettingsInput;
use pond_core::{JobStatus, Page, PageRequest, Role};
use pond_store::{audit::AuditEntry, corp::Corp, jobs::Job, user::User};

use crate::console::{actor, prelude::*};

/// This feature's console pages.
pub fn pages(book: RouteBook) -> RouteBook {
    book.get("/console/corp", Role::Admin, corp_page)
        .post("/console/corp", Role::Admin, corp_save)
        .get("/console/sync", Role::ReadOnly, sync_page)
        .post("/console/sync", Role::Admin, sync_start)
        .get("/console/jobs", Role::ReadOnly, jobs_page)
        .post("/console/jobs/{id}/retry", Role::Admin, job_retry)
        .post("/console/jobs/retry", Role::Admin, jobs_retry_kind)
        .get("/console/events", Role::ReadOnly, events_page)
        .post("/console/events/{id}/retry", Role::Admin, event_retry)
        .post("/console/events/retry", Role::Admin, events_retry)
        .get("/console/audit", Role::Admin, audit_page)
        .get("/console/users", Role::Owner, users_page)
        .post("/console/users", Role::Owner, users_add)
        .post("/console/users/{id}", Role::Owner, users_access)
        .get("/console/tokens", Role::Owner, tokens_page)
        .post("/console/tokens", Role::Owner, tokens_create)
        .post("/console/tokens/{id}/revoke", Role::Owner, tokens_revoke)
}

#[derive(Template)]
#[template(path = "admin/corp.html")]
struct CorpPage {
    c: Chrome,
    /// (form field, label key, masked current value) for each secret.
    secrets: Vec<(&'static str, &'static str, String)>,
    form: CorpForm,
    error: Option<String>,
    /// The time zones a corp may choose.
    zones: Vec<&'static str>,
    /// What to paste into WeCom's "接收消息" settings.
    callback_url: String,
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
    #[serde(default)]
    timezone: String,
    #[serde(default)]
    brand_color: String,
    #[serde(default)]
    brand_logo_url: String,
}

impl CorpForm {
    fn from_corp(c: &Corp) -> Self {
        CorpForm {
            name: c.name.clone(),
            wecom_corp_id: c.wecom_corp_id.clone().unwrap_or_default(),
            agent_id: c.agent_id.map(|a| a.to_string()).unwrap_or_default(),
            api_base_url: c.api_base_url.clone(),
            timezone: c.timezone.clone(),
            brand_color: c.brand_color.clone(),
            brand_logo_url: c.brand_logo_url.clone(),
            ..Default::default()
        }
    }
    fn input(&self) -> Result<SettingsInput, pond_core::ValidationError> {
        let agent_id = match self.agent_id.trim() {
            "" => None,
            v => Some(v.parse::<i64>().map_err(|_| pond_app::corp::settings::agent_id_error())?),
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
            timezone: self.timezone.clone(),
            brand_color: self.brand_color.clone(),
            brand_logo_url: if self.brand_logo_url.trim().is_empty() {
                "-".into()
            } else {
                self.brand_logo_url.clone()
            },
        })
    }
}

/// The callback URL WeCom must call for this corp.
fn callback_url(app: &App, corp_id: i64) -> String {
    format!("{}/wecom/callback/{corp_id}", app.config.effective_public_url())
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
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Query(p): Query<ListParams>,
) -> PageResult {
    let flash = p.saved.map(|_| "common.saved");
    let c = chrome(&user, &headers, "/console/corp", flash);
    let corp = state.corps.get(&state.db, user.corp_id).await.or_page(c.lang)?;
    let form = CorpForm::from_corp(&corp);
    Ok(render(&CorpPage {
        c,
        secrets: secrets(&corp),
        form,
        error: None,
        zones: pond_core::CorpZone::names().collect(),
        callback_url: callback_url(&state, user.corp_id),
    }))
}

pub async fn corp_save(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Form(form): Form<CorpForm>,
) -> PageResult {
    let c = chrome(&user, &headers, "/console/corp", None);
    let saved = match form.input() {
        Ok(input) => pond_app::admin::update_corp(&state, &actor(&user), user.corp_id, &input).await,
        Err(e) => Err(e.into()),
    };
    let (status, error) = match saved {
        Ok(_) => return Ok(Redirect::to("/console/corp?saved=1").into_response()),
        Err(e @ AppError::Invalid(_)) => {
            (StatusCode::UNPROCESSABLE_ENTITY, crate::console::user_message(&e.into(), c.lang))
        }
        Err(e @ AppError::Conflict(_)) => (StatusCode::CONFLICT, crate::console::user_message(&e.into(), c.lang)),
        Err(e) => return Err(ConsoleError::from_api(e.into(), c.lang)),
    };
    let corp = state.corps.get(&state.db, user.corp_id).await.or_page(c.lang)?;
    let form = CorpForm {
        contact_secret: String::new(),
        app_secret: String::new(),
        callback_token: String::new(),
        encoding_aes_key: String::new(),
        ..form
    };
    Ok(render_with(
        status,
        &CorpPage {
            c,
            secrets: secrets(&corp),
            form,
            error: Some(error),
            zones: pond_core::CorpZone::names().collect(),
            callback_url: callback_url(&state, user.corp_id),
        },
    ))
}

#[derive(Template)]
#[template(path = "admin/jobs.html")]
struct JobsPage {
    c: Chrome,
    status: &'static str,
    tabs: Vec<(&'static str, &'static str)>,
    items: Vec<Job>,
    pager: Pager,
    /// Failed jobs by kind (the "retry all" buttons).
    troubles: pond_app::admin::PipelineTroubles,
    /// How many a "retry all" just put back.
    retried: Option<u64>,
}

#[derive(Debug, Deserialize, Default)]
pub struct JobParams {
    status: Option<String>,
    page: Option<u32>,
    retried: Option<u8>,
    /// How many a "retry all" put back.
    count: Option<u64>,
}

pub async fn jobs_page(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Query(p): Query<JobParams>,
) -> PageResult {
    let flash = p.retried.or(p.count.map(|_| 1)).map(|_| "jobs.retried");
    let c = chrome(&user, &headers, "/console/jobs", flash);
    let status = p.status.as_deref().and_then(|s| s.parse::<JobStatus>().ok()).unwrap_or(JobStatus::Pending);
    let page: Page<Job> =
        pond_store::jobs::list(&state.db, user.corp_id, Some(status), PageRequest::new(p.page, Some(50)))
            .await
            .or_page(c.lang)?;
    let pager = Pager::new(&page, "/console/jobs", &format!("&status={}", status.as_str()));
    let tabs = JobStatus::ALL.iter().map(|s| (s.as_str(), job_status_key(*s))).collect();
    let troubles = pond_app::admin::pipeline_troubles(&state, user.corp_id).await.or_page(c.lang)?;
    Ok(render(&JobsPage { c, status: status.as_str(), tabs, items: page.items, pager, troubles, retried: p.count }))
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
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    ConsolePath(id): ConsolePath<i64>,
) -> PageResult {
    let lang = lang_of(&headers);
    pond_app::admin::retry_job(&state, &actor(&user), user.corp_id, id).await.or_page(lang)?;
    Ok(Redirect::to("/console/jobs?status=failed&retried=1").into_response())
}

/// "Retry all failed jobs of this kind", as posted.
#[derive(Debug, Deserialize)]
pub struct RetryKindForm {
    kind: String,
}

pub async fn jobs_retry_kind(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Form(form): Form<RetryKindForm>,
) -> PageResult {
    let lang = lang_of(&headers);
    let n = pond_app::admin::retry_failed_jobs(&state, &actor(&user), user.corp_id, &form.kind).await.or_page(lang)?;
    Ok(Redirect::to(&format!("/console/jobs?status=failed&count={n}")).into_response())
}

#[derive(Template)]
#[template(path = "admin/events.html")]
struct EventsPage {
    c: Chrome,
    status: &'static str,
    q: String,
    tabs: Vec<(&'static str, &'static str)>,
    items: Vec<pond_store::inbox::InboxEvent>,
    pager: Pager,
    troubles: pond_app::admin::PipelineTroubles,
    /// How many a retry just put back.
    retried: Option<u64>,
}

#[derive(Debug, Deserialize, Default)]
pub struct EventParams {
    status: Option<String>,
    q: Option<String>,
    page: Option<u32>,
    count: Option<u64>,
}

const EVENT_TABS: [(&str, &str); 4] = [
    ("failed", "events.failed"),
    ("pending", "events.pending"),
    ("processing", "events.processing"),
    ("done", "events.done"),
];

pub async fn events_page(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Query(p): Query<EventParams>,
) -> PageResult {
    let c = chrome(&user, &headers, "/console/events", p.count.map(|_| "jobs.retried"));
    let status = EVENT_TABS.iter().map(|(s, _)| *s).find(|s| Some(*s) == p.status.as_deref()).unwrap_or("failed");
    let q = p.q.unwrap_or_default();
    let search = Some(q.as_str()).filter(|q| !q.trim().is_empty());
    let (page, troubles) = tokio::join!(
        pond_store::inbox::list(&state.db, user.corp_id, search, status, PageRequest::new(p.page, Some(50))),
        pond_app::admin::pipeline_troubles(&state, user.corp_id)
    );
    let page = page.or_page(c.lang)?;
    let troubles = troubles.or_page(c.lang)?;
    let pager = Pager::new(
        &page,
        "/console/events",
        &format!("&status={status}&q={}", crate::console::session::encode_component(q.trim())),
    );
    let tabs = EVENT_TABS.to_vec();
    Ok(render(&EventsPage { c, status, q, tabs, items: page.items, pager, troubles, retried: p.count }))
}

pub async fn event_retry(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    ConsolePath(id): ConsolePath<i64>,
) -> PageResult {
    use pond_app::admin::EventsToRetry;
    let lang = lang_of(&headers);
    let n = pond_app::admin::retry_failed_events(&state, &actor(&user), user.corp_id, EventsToRetry::One(id))
        .await
        .or_page(lang)?;
    Ok(Redirect::to(&format!("/console/events?status=failed&count={n}")).into_response())
}

/// "Retry every failed event (of this type)", as posted.
#[derive(Debug, Deserialize)]
pub struct RetryEventsForm {
    #[serde(default)]
    event_type: String,
}

pub async fn events_retry(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Form(form): Form<RetryEventsForm>,
) -> PageResult {
    use pond_app::admin::EventsToRetry;
    let lang = lang_of(&headers);
    let which = match form.event_type.trim() {
        "" => EventsToRetry::All,
        t => EventsToRetry::OfType(t),
    };
    let n = pond_app::admin::retry_failed_events(&state, &actor(&user), user.corp_id, which).await.or_page(lang)?;
    Ok(Redirect::to(&format!("/console/events?status=failed&count={n}")).into_response())
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    c: Chrome,
    q: String,
    items: Vec<AuditEntry>,
    pager: Pager,
}

pub async fn audit_page(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Query(p): Query<ListParams>,
) -> PageResult {
    let c = chrome(&user, &headers, "/console/audit", None);
    let page = pond_store::audit::list(&state.db, user.corp_id, p.search(), p.request()).await.or_page(c.lang)?;
    let pager = Pager::new(&page, "/console/audit", &p.extra());
    Ok(render(&AuditPage { c, q: p.q, items: page.items, pager }))
}

#[derive(Template)]
#[template(path = "admin/users.html")]
struct UsersPage {
    c: Chrome,
    users: Vec<User>,
    total: i64,
    pager: Pager,
    q: String,
    roles: Vec<&'static str>,
    error: Option<String>,
    email: String,
}

/// The users page: one page of users (search and page from `p`), with an error and the e-mail
/// typed when a change was refused.
async fn users_view(
    state: &App,
    user: &CurrentUser,
    c: Chrome,
    p: &ListParams,
    error: Option<String>,
    email: String,
) -> PageResult {
    let page = pond_store::user::page(&state.db, user.corp_id, p.search(), p.request()).await.or_page(c.lang)?;
    let pager = Pager::new(&page, "/console/users", &p.extra());
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let (total, users, q) = (page.total, page.items, p.q.clone());
    Ok(render_with(status, &UsersPage { c, users, total, pager, q, roles: role_names(), error, email }))
}

pub async fn users_page(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Query(p): Query<ListParams>,
) -> PageResult {
    let c = chrome(&user, &headers, "/console/users", p.flash());
    users_view(&state, &user, c, &p, None, String::new()).await
}

#[derive(Debug, Deserialize)]
pub struct NewUserForm {
    email: String,
    role: String,
    password: String,
}

pub async fn users_add(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Form(form): Form<NewUserForm>,
) -> PageResult {
    let c = chrome(&user, &headers, "/console/users", None);
    let added = match form.role.parse::<Role>() {
        Ok(role) => {
            pond_app::admin::add_user(&state, &actor(&user), user.corp_id, &form.email, role, &form.password).await
        }
        Err(e) => Err(e.into()),
    };
    let error = match added {
        Ok(_) => return Ok(Redirect::to("/console/users?saved=1").into_response()),
        Err(e @ (AppError::Invalid(_) | AppError::Conflict(_))) => crate::console::user_message(&e.into(), c.lang),
        Err(e) => return Err(ConsoleError::from_api(e.into(), c.lang)),
    };
    users_view(&state, &user, c, &ListParams::default(), Some(error), form.email).await
}

#[derive(Debug, Deserialize)]
pub struct AccessForm {
    role: String,
    /// `enable` or `disable`; absent keeps the login as it is.
    #[serde(default)]
    login: String,
    #[serde(default)]
    confirmed: String,
}

/// POST /console/users/{id}: a new role, or the login disabled / re-enabled (disabling asks first).
pub async fn users_access(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    ConsolePath(id): ConsolePath<i64>,
    Form(form): Form<AccessForm>,
) -> PageResult {
    let c = chrome(&user, &headers, "/console/users", None);
    let target = pond_store::user::get(&state.db, id).await.or_page(c.lang)?;
    if target.corp_id != user.corp_id {
        return Err(ConsoleError::not_found(c.lang));
    }
    let disabled = match form.login.as_str() {
        "disable" => true,
        "enable" => false,
        _ => target.disabled,
    };
    if disabled && !target.disabled && form.confirmed != "yes" {
        let page = crate::console::ConfirmPage {
            title: format!("{} {}", c.t("users.disable"), target.email),
            message: c.t("users.disable_consequence").to_owned(),
            action: format!("/console/users/{id}"),
            cancel: "/console/users".to_owned(),
            ok: "users.disable",
            fields: vec![("role".into(), form.role.clone()), ("login".into(), "disable".into())],
            c,
        };
        return Ok(render(&page));
    }
    let role = form.role.parse::<Role>().map_err(AppError::from).or_page(c.lang)?;
    match pond_app::admin::set_user_access(&state, &actor(&user), user.corp_id, id, role, disabled).await {
        Ok(_) => Ok(Redirect::to("/console/users?saved=1").into_response()),
        Err(e @ AppError::Invalid(_)) => {
            let error = Some(crate::console::user_message(&e.into(), c.lang));
            users_view(&state, &user, c, &ListParams::default(), error, String::new()).await
        }
        Err(e) => Err(ConsoleError::from_api(e.into(), c.lang)),
    }
}

#[derive(Template)]
#[template(path = "admin/sync.html")]
struct SyncPage {
    c: Chrome,
    /// The latest run, with its progress.
    run: Option<pond_store::sync_run::SyncRun>,
    /// This page of the history.
    runs: Vec<pond_store::sync_run::SyncRun>,
    pager: Pager,
    configured: bool,
}

impl SyncPage {
    /// A run's summary in the page's language (older free-text summaries as stored).
    fn summary(&self, run: &pond_store::sync_run::SyncRun) -> String {
        use crate::console::i18n::Lang;
        if let Some((s, seconds)) = pond_app::sync::SyncSummary::from_stored(&run.summary) {
            return match self.c.lang {
                Lang::Zh => format!(
                    "部门 {} 个，员工 {} 人，客户 {} 位（好友关系 {} 条），标签 {} 个，客户群 {} 个；标记为已删除 {} 项。用时 {seconds:.1} 秒。",
                    s.departments, s.staff, s.customers, s.follows, s.tags, s.groups, s.marked_removed
                ),
                Lang::En => run.summary.clone(),
            };
        }
        if let Some((s, seconds)) = pond_app::sync::incremental::IncrementalSummary::from_stored(&run.summary) {
            return match self.c.lang {
                Lang::Zh => format!(
                    "核对客户 {} 位（好友关系 {} 条）：有变化 {} 位，已无好友关系 {} 位；标签新增或改名 {} 个，删除 {} 个，从客户身上移除 {} 处；员工变化 {} 人，部门变化 {} 个；新客户群 {} 个，解散 {} 个。用时 {seconds:.1} 秒。",
                    s.customers,
                    s.follows,
                    s.customers_changed,
                    s.customers_removed,
                    s.tags_changed,
                    s.tags_deleted,
                    s.tags_detached,
                    s.staff_changed,
                    s.departments_changed,
                    s.groups_added,
                    s.groups_dismissed
                ),
                Lang::En => run.summary.clone(),
            };
        }
        run.summary.clone()
    }
    /// Why a run ran, with its gap when it has one.
    fn reason(&self, run: &pond_store::sync_run::SyncRun) -> String {
        let label = self.c.label("sync_reason", &run.reason);
        match run.gap_ms {
            Some(gap) => format!("{label}{}{}{}", self.c.pick(" (", "（"), self.span(gap), self.c.pick(")", "）")),
            None => label,
        }
    }
    /// A length of time, roughly: seconds, minutes, hours or days.
    fn span(&self, ms: i64) -> String {
        let secs = ms.max(0) / 1000;
        let (n, unit) = match secs {
            0..120 => (secs, "sync.seconds"),
            120..7_200 => (secs / 60, "sync.minutes"),
            7_200..172_800 => (secs / 3600, "sync.hours"),
            _ => (secs / 86_400, "sync.days"),
        };
        format!("{n} {}", self.c.t(unit))
    }
    fn duration(&self, run: &pond_store::sync_run::SyncRun) -> String {
        run.duration_ms.map(|ms| format!("{:.1} {}", ms as f64 / 1000.0, self.c.t("sync.seconds"))).unwrap_or_default()
    }
    fn percent(&self) -> i64 {
        match &self.run {
            Some(r) if r.status != "running" => 100,
            Some(r) if r.total_items > 0 => (r.done_items * 100 / r.total_items).clamp(0, 99),
            _ => 0,
        }
    }
}

#[derive(Debug, Deserialize, Default)]
pub struct SyncParams {
    /// Set after a start was refused because a sync is running.
    running: Option<u8>,
    page: Option<u32>,
}

pub async fn sync_page(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Query(p): Query<SyncParams>,
) -> PageResult {
    let flash = p.running.map(|_| "sync.already_running");
    let c = chrome(&user, &headers, "/console/sync", flash);
    let run = pond_store::sync_run::latest(&state.db, user.corp_id).await.or_page(c.lang)?;
    let page = pond_store::sync_run::list(&state.db, user.corp_id, PageRequest::new(p.page, Some(20)))
        .await
        .or_page(c.lang)?;
    let pager = Pager::new(&page, "/console/sync", "");
    let corp = state.corps.get(&state.db, user.corp_id).await.or_page(c.lang)?;
    let configured = state.wecom.for_corp(&corp).is_ok();
    Ok(render(&SyncPage { c, run, runs: page.items, pager, configured }))
}

/// Which sync the console starts.
#[derive(Debug, Deserialize, Default)]
pub struct SyncForm {
    #[serde(default)]
    kind: Option<String>,
}

pub async fn sync_start(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Form(form): Form<SyncForm>,
) -> PageResult {
    let lang = lang_of(&headers);
    let kind = pond_app::admin::sync_kind(form.kind.as_deref()).or_page(lang)?;
    match pond_app::admin::start_sync(&state, &actor(&user), user.corp_id, kind).await {
        Ok(_) => Ok(Redirect::to("/console/sync").into_response()),
        // The page shows the run already going, with its progress.
        Err(AppError::Conflict(_)) => Ok(Redirect::to("/console/sync?running=1").into_response()),
        Err(e) => Err(ConsoleError::from_api(e.into(), lang)),
    }
}

#[derive(Template)]
#[template(path = "admin/tokens.html")]
struct TokensPage {
    c: Chrome,
    tokens: Vec<pond_store::token::ApiToken>,
    /// A token just created, shown this once.
    created: Option<String>,
    error: Option<String>,
    roles: Vec<&'static str>,
    total: i64,
    pager: Pager,
    q: String,
}

/// The tokens page: one page of tokens, with a token just created (shown once) or an error.
async fn tokens_view(
    state: &App,
    user: &CurrentUser,
    c: Chrome,
    p: &ListParams,
    created: Option<String>,
    error: Option<String>,
) -> PageResult {
    let page = pond_store::token::page(&state.db, user.corp_id, p.search(), p.request()).await.or_page(c.lang)?;
    let pager = Pager::new(&page, "/console/tokens", &p.extra());
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let (total, tokens, q) = (page.total, page.items, p.q.clone());
    Ok(render_with(status, &TokensPage { c, tokens, created, error, roles: role_names(), total, pager, q }))
}

pub async fn tokens_page(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Query(p): Query<ListParams>,
) -> PageResult {
    let c = chrome(&user, &headers, "/console/tokens", p.flash());
    tokens_view(&state, &user, c, &p, None, None).await
}

#[derive(Debug, Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
}

pub async fn tokens_create(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> PageResult {
    let c = chrome(&user, &headers, "/console/tokens", None);
    let created = match form.role.parse::<Role>() {
        Ok(role) => pond_app::admin::create_token(&state, &actor(&user), user.corp_id, &form.name, role).await,
        Err(e) => Err(e.into()),
    };
    let (created, error) = match created {
        Ok((token, _)) => (Some(token), None),
        Err(e @ AppError::Invalid(_)) => (None, Some(crate::console::user_message(&e.into(), c.lang))),
        Err(e) => return Err(ConsoleError::from_api(e.into(), c.lang)),
    };
    tokens_view(&state, &user, c, &ListParams::default(), created, error).await
}

pub async fn tokens_revoke(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    ConsolePath(id): ConsolePath<i64>,
) -> PageResult {
    let lang = lang_of(&headers);
    pond_app::admin::revoke_token(&state, &actor(&user), user.corp_id, id).await.or_page(lang)?;
    Ok(Redirect::to("/console/tokens").into_response())
}

fn role_names() -> Vec<&'static str> {
    Role::ALL.iter().map(|r| r.as_str()).collect()
}
