//! The operator console: server-rendered pages (askama templates compiled into the binary),
//! Chinese by default with an English switch. Everything under `/console` requires a session and
//! every form a CSRF token — both enforced by layers over the whole console, not per handler —
//! and every route is registered with the lowest role allowed on it ([`RouteBook`]).

pub mod chart;
pub mod design;
pub mod i18n;
pub mod session;

/// What console page files share.
pub(crate) mod prelude {
    pub use askama::Template;
    pub use axum::{
        Extension, Form,
        extract::{Query, State},
        http::{HeaderMap, StatusCode, header},
        response::{IntoResponse, Redirect},
    };
    pub use pond_app::{App, AppError};
    pub use serde::Deserialize;

    pub use super::{
        Chrome, ConsoleError, ConsolePath, FormPairs, ListParams, OrPage, PageResult, Pager, RouteBook, chrome, render,
        render_with, saved_flash,
        session::{CurrentUser, lang_of},
    };
}

use askama::Template;
use axum::{
    Router,
    extract::State,
    handler::Handler,
    http::{Method, StatusCode},
    middleware,
    response::{Html, IntoResponse, Response},
    routing::{get, post},
};
use chrono::{DateTime, FixedOffset};
use pond_core::{CorpZone, Page, Role};

use pond_app::{App, auth::Actor};
use pond_core::PageRequest;
use serde::Deserialize;

use crate::error::ApiError;
use i18n::Lang;

/// Records each console route as it is registered, with the lowest role allowed on it, so tests
/// can walk the real list. A route cannot be registered without its role.
pub struct RouteBook {
    router: Router<App>,
    routes: Vec<(Method, &'static str, Role)>,
}

impl RouteBook {
    pub fn get<H: Handler<T, App>, T: 'static>(mut self, path: &'static str, lowest: Role, handler: H) -> Self {
        self.router =
            self.router.route(path, get(handler).route_layer(middleware::from_fn_with_state(lowest, check_role)));
        self.routes.push((Method::GET, path, lowest));
        self
    }
    pub fn post<H: Handler<T, App>, T: 'static>(mut self, path: &'static str, lowest: Role, handler: H) -> Self {
        self.router =
            self.router.route(path, post(handler).route_layer(middleware::from_fn_with_state(lowest, check_role)));
        self.routes.push((Method::POST, path, lowest));
        self
    }
}

/// Route middleware: the signed-in user's role must reach the route's `lowest` (a logged 403 page
/// otherwise).
async fn check_role(State(lowest): State<Role>, req: axum::extract::Request, next: middleware::Next) -> Response {
    let lang = session::lang_of(req.headers());
    match req.extensions().get::<session::CurrentUser>() {
        Some(user) if user.role >= lowest => next.run(req).await,
        other => {
            if let Some(user) = other {
                tracing::info!(user = %user.email, role = %user.role, path = %req.uri().path(), "console page refused for role");
            }
            ConsoleError { status: StatusCode::FORBIDDEN, message: lang.t("error.forbidden_detail").into(), lang }
                .into_response()
        }
    }
}

/// A failure as a console error page.
pub trait OrPage<T> {
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
    pub q: String,
    pub page: Option<u32>,
    /// Set after a change: `deleted`, `created`, or anything for "saved".
    pub saved: Option<String>,
}

impl ListParams {
    pub fn request(&self) -> PageRequest {
        PageRequest::new(self.page, Some(50))
    }
    /// The toast for `saved`.
    pub fn flash(&self) -> Option<&'static str> {
        saved_flash(self.saved.as_deref())
    }
    pub fn search(&self) -> Option<&str> {
        Some(self.q.trim()).filter(|q| !q.is_empty())
    }
    pub fn extra(&self) -> String {
        if self.q.trim().is_empty() {
            String::new()
        } else {
            format!("&q={}", session::encode_component(self.q.trim()))
        }
    }
}

/// The toast after a change redirects back with `?saved=…`: `deleted`, `created`, or anything for
/// "saved".
pub fn saved_flash(saved: Option<&str>) -> Option<&'static str> {
    saved.map(|s| match s {
        "deleted" => "common.deleted",
        "created" => "common.created",
        _ => "common.saved",
    })
}

/// A posted form read as pairs, for forms whose pickers post one value per choice (`tags=a&tags=b`),
/// which a struct of single fields cannot hold.
#[derive(Debug, Clone, Default)]
pub struct FormPairs(pub Vec<(String, String)>);

impl FormPairs {
    /// An `application/x-www-form-urlencoded` body; unreadable input reads as empty.
    pub fn parse(body: &str) -> Self {
        FormPairs(serde_urlencoded::from_str(body).unwrap_or_default())
    }
    /// Every value posted under `key`, in order.
    pub fn all(&self, key: &str) -> Vec<String> {
        self.0.iter().filter(|(k, _)| k == key).map(|(_, v)| v.clone()).collect()
    }
    /// The first value posted under `key`.
    pub fn one(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// The audit log's name for a signed-in user.
pub fn actor(user: &session::CurrentUser) -> Actor {
    Actor::user(&user.email)
}

fn book() -> RouteBook {
    let book = RouteBook { router: Router::new(), routes: Vec::new() }
        .post("/console/logout", Role::ReadOnly, session::logout)
        .get("/console/account", Role::ReadOnly, session::account_page)
        .post("/console/account/password", Role::ReadOnly, session::account_password)
        .post("/console/account/sessions/end", Role::ReadOnly, session::account_end_sessions)
        .post("/console/users/{id}/sessions/end", Role::Owner, session::user_end_sessions);
    crate::app::FEATURES.iter().fold(book, |book, feature| (feature.console)(book))
}

/// Every console route (method, path pattern, lowest role allowed); all require a session.
pub fn protected_routes() -> Vec<(Method, &'static str, Role)> {
    book().routes
}

/// The console and its public entry points (login, language switch).
pub fn router(state: App) -> Router<App> {
    let protected = book()
        .router
        // Unknown console paths also pass the session check before answering 404.
        .route("/console/{*rest}", axum::routing::any(not_found))
        .layer(middleware::from_fn_with_state(state.clone(), session::require_csrf))
        .layer(middleware::from_fn_with_state(state.clone(), session::require_session));
    let public = Router::new()
        .route("/login", get(session::login_page).post(session::login_submit))
        .route("/lang", get(session::switch_lang))
        .layer(middleware::from_fn_with_state(state, session::require_csrf));
    protected.merge(public).layer(middleware::from_fn(no_store))
}

/// What the browser may do with any page Pond serves: scripts, styles and images only from Pond
/// itself (so nothing inline, and nothing a hostile name could smuggle in), no framing, forms only
/// to Pond. Images may also come over HTTPS (WeCom's QR and uploaded images) and, when
/// `loopback_images` is set (the demo, whose simulator serves them), from this machine.
pub fn content_security_policy(loopback_images: bool) -> String {
    let loopback = if loopback_images { " http://127.0.0.1:* http://localhost:*" } else { "" };
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:{loopback}; \
         connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    )
}

/// No copy of a console page is kept after logout (Back shows nothing once the session ends).
/// The other headers are every response's (`crate::headers`).
async fn no_store(req: axum::extract::Request, next: middleware::Next) -> Response {
    use axum::http::{HeaderValue, header};
    let mut resp = next.run(req).await;
    resp.headers_mut().entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    resp
}

async fn not_found(headers: axum::http::HeaderMap) -> ConsoleError {
    ConsoleError::not_found(session::lang_of(&headers))
}

/// `Path<T>` for console pages: a malformed id (`/console/codes/abc`) is the "not found" page, not
/// axum's plain-text parse error.
pub struct ConsolePath<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> axum::extract::FromRequestParts<S> for ConsolePath<T> {
    type Rejection = ConsoleError;
    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, ConsoleError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(ConsolePath(value)),
            Err(_) => Err(ConsoleError::not_found(session::lang_of(&parts.headers))),
        }
    }
}

/// What a console handler returns: a page, or an error page.
pub type PageResult = Result<Response, ConsoleError>;

/// The layout data for a signed-in user's page.
pub fn chrome(
    user: &session::CurrentUser,
    headers: &axum::http::HeaderMap,
    path: &str,
    flash: Option<&'static str>,
) -> Chrome {
    Chrome {
        lang: session::lang_of(headers),
        email: user.email.clone(),
        role: Some(user.role),
        csrf: user.csrf.clone(),
        path: path.to_owned(),
        flash,
        failure: None,
        zone: user.zone,
    }
}

/// What every page's layout needs: language, who is signed in, the CSRF token, where we are.
#[derive(Debug, Clone)]
pub struct Chrome {
    pub lang: Lang,
    pub email: String,
    pub role: Option<Role>,
    pub csrf: String,
    pub path: String,
    pub flash: Option<&'static str>,
    /// A failure to show as a toast (already in the page's language).
    pub failure: Option<String>,
    /// The corp's time zone: every time on the page is shown in it.
    pub zone: CorpZone,
}

impl Chrome {
    pub fn anonymous(lang: Lang, csrf: &str, path: &str) -> Self {
        Chrome {
            lang,
            email: String::new(),
            role: None,
            csrf: csrf.to_owned(),
            path: path.to_owned(),
            flash: None,
            failure: None,
            zone: CorpZone::default(),
        }
    }
    pub fn t(&self, key: &str) -> &'static str {
        self.lang.t(key)
    }
    pub fn is_admin(&self) -> bool {
        self.role.is_some_and(Role::can_administer)
    }
    /// May run day-to-day work (codes, welcome messages, stores, exports).
    pub fn can_operate(&self) -> bool {
        self.role.is_some_and(|r| r >= Role::Operator)
    }
    pub fn is_owner(&self) -> bool {
        self.role == Some(Role::Owner)
    }
    /// The versioned URL of an embedded asset.
    pub fn asset(&self, name: &str) -> String {
        crate::assets::url(name)
    }
    /// The menu as (group heading key, entries), groups in their fixed order, empty ones left out.
    pub fn nav_groups(&self) -> Vec<(Option<&'static str>, Vec<&'static crate::app::NavItem>)> {
        let items = self.nav();
        crate::app::NavGroup::ALL
            .iter()
            .map(|g| (g.key(), items.iter().copied().filter(|i| i.group == *g).collect::<Vec<_>>()))
            .filter(|(_, items)| !items.is_empty())
            .collect()
    }
    /// The navigation entries this user sees, from every feature in order.
    pub fn nav(&self) -> Vec<&'static crate::app::NavItem> {
        use crate::app::ShownTo;
        crate::app::FEATURES
            .iter()
            .flat_map(|f| f.nav.iter())
            .filter(|item| match item.shown_to {
                ShownTo::Everyone => true,
                ShownTo::Admins => self.is_admin(),
                ShownTo::Owners => self.is_owner(),
            })
            .collect()
    }
    pub fn active(&self, prefix: &str) -> bool {
        if prefix == "/console" { self.path == "/console" } else { self.path.starts_with(prefix) }
    }
    /// Epoch ms → `2026-11-25 18:03:04` in the corp's time zone.
    pub fn time(&self, ms: &i64) -> String {
        let offset = FixedOffset::east_opt(self.zone.offset_secs()).unwrap_or(chrono::Offset::fix(&chrono::Utc));
        DateTime::from_timestamp_millis(*ms)
            .map(|t| t.with_timezone(&offset).format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_default()
    }
    pub fn time_opt(&self, ms: &Option<i64>) -> String {
        ms.as_ref().map(|m| self.time(m)).unwrap_or_default()
    }
    /// An enum value's label (`enum.<kind>.<value>` in the texts), or the value itself.
    pub fn label(&self, kind: &str, value: &str) -> String {
        self.lang.lookup(&format!("enum.{kind}.{value}")).map(str::to_owned).unwrap_or_else(|| value.to_owned())
    }
    /// [`Chrome::label`] of a number or other displayable value (e.g. WeCom's `add_way`).
    pub fn label_of(&self, kind: &str, value: impl std::fmt::Display) -> String {
        self.label(kind, &value.to_string())
    }
    /// The text in the page's language, of a pair the service layer gave (English, Chinese).
    pub fn pick<'a>(&self, en: &'a str, zh: &'a str) -> &'a str {
        match self.lang {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }
    /// A form field's label (`field.<name>`), or its name.
    pub fn field(&self, name: &str) -> String {
        i18n::field_label(self.lang, name)
    }
    pub fn status_label(&self, status: &str) -> String {
        self.label("status", status)
    }
    pub fn role_name(&self, role: &str) -> &'static str {
        match role {
            "owner" => self.t("role.owner"),
            "admin" => self.t("role.admin"),
            "operator" => self.t("role.operator"),
            _ => self.t("role.readonly"),
        }
    }
}

/// Previous / next links for a listing, keeping its search.
#[derive(Debug, Clone)]
pub struct Pager {
    pub page: u32,
    pub pages: u32,
    pub total: i64,
    pub prev: Option<String>,
    pub next: Option<String>,
    /// Numbered links around the current page: (number, link; none for the current one).
    pub numbers: Vec<(u32, Option<String>)>,
}

impl Pager {
    pub fn new<T>(p: &Page<T>, base: &str, extra_query: &str) -> Self {
        let link = |n: u32| format!("{base}?page={n}{extra_query}");
        let pages = p.pages();
        let mut shown: Vec<u32> = vec![1, pages];
        shown.extend(p.page.saturating_sub(2).max(1)..=(p.page + 2).min(pages));
        shown.sort_unstable();
        shown.dedup();
        let numbers = shown.into_iter().filter(|n| *n >= 1).map(|n| (n, (n != p.page).then(|| link(n)))).collect();
        Pager {
            page: p.page,
            pages,
            total: p.total,
            prev: p.has_prev().then(|| link(p.page - 1)),
            next: p.has_next().then(|| link(p.page + 1)),
            numbers,
        }
    }
}

/// Renders a template answered with this status.
pub fn render_with<T: Template>(status: StatusCode, page: &T) -> Response {
    let mut resp = render(page);
    *resp.status_mut() = status;
    resp
}

/// Renders a template, or a plain 500 if the template itself fails.
pub fn render<T: Template>(page: &T) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "template error").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub c: Chrome,
    pub next: String,
    pub error: Option<String>,
    pub email: String,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    c: Chrome,
    status: u16,
    title_key: &'static str,
    message: String,
}

/// An error shown as a console page, in the page's language.
#[derive(Debug)]
pub struct ConsoleError {
    pub status: StatusCode,
    /// Already in `lang`.
    pub message: String,
    pub lang: Lang,
}

impl ConsoleError {
    pub fn from_api(err: ApiError, lang: Lang) -> Self {
        if let ApiError::Internal(cause) = &err {
            tracing::error!(%cause, "internal error in console");
        }
        ConsoleError { status: err.status(), message: user_message(&err, lang), lang }
    }
    pub fn not_found(lang: Lang) -> Self {
        ConsoleError { status: StatusCode::NOT_FOUND, message: lang.t("error.not_found_detail").into(), lang }
    }
}

/// What a user reads about a failure: invalid input names the field and the reason in the page's
/// language; other failures are explained by kind (their English detail goes to the log).
pub fn user_message(err: &ApiError, lang: Lang) -> String {
    match (err, lang) {
        (ApiError::Invalid(v), Lang::Zh) => format!("{}：{}", i18n::field_label(lang, v.field), v.reason_zh),
        (ApiError::Invalid(v), Lang::En) => format!("{}: {}", i18n::field_label(lang, v.field), v.reason),
        (_, Lang::En) => err.to_string(),
        (_, Lang::Zh) => {
            tracing::info!(error = %err, "console error shown by kind");
            lang.t(error_detail_key(err.status())).to_owned()
        }
    }
}

fn error_title_key(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 422 => "error.invalid",
        401 | 403 => "error.forbidden",
        404 => "error.not_found",
        409 => "error.conflict",
        413 => "error.too_large",
        429 => "error.throttled",
        502 => "error.upstream",
        _ => "error.internal",
    }
}

fn error_detail_key(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 422 => "error.invalid_detail",
        401 | 403 => "error.forbidden_detail",
        404 => "error.not_found_detail",
        409 => "error.conflict_detail",
        413 => "error.too_large_detail",
        429 => "error.throttled_detail",
        502 => "error.upstream_detail",
        _ => "error.internal_detail",
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let page = ErrorPage {
            c: Chrome::anonymous(self.lang, "", ""),
            status: self.status.as_u16(),
            title_key: error_title_key(self.status),
            message: self.message,
        };
        render_with(self.status, &page)
    }
}

/// A destructive action's confirmation, for browsers without JavaScript (with it, the same text
/// shows in a dialog before the post). The form re-posts with `confirmed=yes`.
#[derive(Template)]
#[template(path = "confirm.html")]
pub struct ConfirmPage {
    pub c: Chrome,
    pub title: String,
    /// What stops working.
    pub message: String,
    pub action: String,
    pub cancel: String,
    pub ok: &'static str,
    /// Fields the confirmed form posts again (name, value).
    pub fields: Vec<(String, String)>,
}

impl ConfirmPage {
    /// The confirmation of deleting `name`: `consequence` is the text key of what stops working.
    pub fn delete(c: Chrome, name: &str, consequence: &'static str, action: String, cancel: String) -> Self {
        ConfirmPage {
            title: format!("{} {name}", c.t("common.delete")),
            message: c.t(consequence).to_owned(),
            action,
            cancel,
            ok: "common.delete",
            fields: Vec::new(),
            c,
        }
    }
}

/// Whether a destructive form was confirmed.
#[derive(Debug, Deserialize, Default)]
pub struct Confirmation {
    #[serde(default)]
    pub confirmed: String,
}

impl Confirmation {
    pub fn given(&self) -> bool {
        self.confirmed == "yes"
    }
}
