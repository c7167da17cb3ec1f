//! The operator console: server-rendered pages (askama templates compiled into the binary),
//! Chinese by default with an English switch. Everything under `/console` requires a session and
//! every form a CSRF token — both enforced by layers over the whole console, not per handler.

pub mod i18n;
pub mod session;

/// What console page files share.
pub(crate) mod prelude {
    pub use askama::Template;
    pub use axum::{
        Extension, Form,
        extract::{Path, Query, State},
        http::{HeaderMap, StatusCode, header},
        response::{IntoResponse, Redirect},
    };
    pub use pond_app::{App, AppError};
    pub use serde::Deserialize;

    pub use super::{
        Chrome, ConsoleError, ListParams, OrPage, PageResult, Pager, RouteBook, chrome, render, render_with, require,
        session::{CurrentUser, lang_of},
    };
}

use askama::Template;
use axum::{
    Router,
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

/// Records each console route as it is registered, so tests can walk the real list.
pub struct RouteBook {
    router: Router<App>,
    routes: Vec<(Method, &'static str)>,
}

impl RouteBook {
    pub fn get<H: Handler<T, App>, T: 'static>(mut self, path: &'static str, handler: H) -> Self {
        self.router = self.router.route(path, get(handler));
        self.routes.push((Method::GET, path));
        self
    }
    pub fn post<H: Handler<T, App>, T: 'static>(mut self, path: &'static str, handler: H) -> Self {
        self.router = self.router.route(path, post(handler));
        self.routes.push((Method::POST, path));
        self
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
    pub saved: Option<u8>,
}

impl ListParams {
    pub fn request(&self) -> PageRequest {
        PageRequest::new(self.page, Some(50))
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

/// The audit log's name for a signed-in user.
pub fn actor(user: &session::CurrentUser) -> Actor {
    Actor::user(&user.email)
}

fn book() -> RouteBook {
    let book = RouteBook { router: Router::new(), routes: Vec::new() }.post("/console/logout", session::logout);
    crate::app::FEATURES.iter().fold(book, |book, feature| (feature.console)(book))
}

/// Every console route (method, path pattern) that requires a session.
pub fn protected_routes() -> Vec<(Method, &'static str)> {
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
    protected.merge(public)
}

async fn not_found(headers: axum::http::HeaderMap) -> ConsoleError {
    ConsoleError { status: StatusCode::NOT_FOUND, message: "no such page".into(), lang: session::lang_of(&headers) }
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
        zone: user.zone,
    }
}

/// Refuses (403, logged) what the user's role may not do.
pub fn require(user: &session::CurrentUser, allowed: bool, lang: Lang) -> Result<(), ConsoleError> {
    if allowed {
        Ok(())
    } else {
        tracing::info!(user = %user.email, role = %user.role, "console action refused for role");
        Err(ConsoleError { status: StatusCode::FORBIDDEN, message: "your role may not do this".into(), lang })
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
            zone: CorpZone::default(),
        }
    }
    pub fn t(&self, key: &str) -> &'static str {
        self.lang.t(key)
    }
    pub fn is_admin(&self) -> bool {
        self.role.is_some_and(Role::can_administer)
    }
    pub fn is_owner(&self) -> bool {
        self.role == Some(Role::Owner)
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
    pub fn role_name(&self, role: &str) -> &'static str {
        match role {
            "owner" => self.t("role.owner"),
            "admin" => self.t("role.admin"),
            _ => self.t("role.operator"),
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
}

impl Pager {
    pub fn new<T>(p: &Page<T>, base: &str, extra_query: &str) -> Self {
        let link = |n: u32| format!("{base}?page={n}{extra_query}");
        Pager {
            page: p.page,
            pages: p.pages(),
            total: p.total,
            prev: p.has_prev().then(|| link(p.page - 1)),
            next: p.has_next().then(|| link(p.page + 1)),
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
    pub error: Option<&'static str>,
    pub email: String,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    c: Chrome,
    status: u16,
    message: String,
}

/// An error shown as a console page.
#[derive(Debug)]
pub struct ConsoleError {
    pub status: StatusCode,
    pub message: String,
    pub lang: Lang,
}

impl ConsoleError {
    pub fn from_api(err: ApiError, lang: Lang) -> Self {
        if let ApiError::Internal(cause) = &err {
            tracing::error!(%cause, "internal error in console");
        }
        ConsoleError { status: err.status(), message: err.to_string(), lang }
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let page =
            ErrorPage { c: Chrome::anonymous(self.lang, "", ""), status: self.status.as_u16(), message: self.message };
        render_with(self.status, &page)
    }
}
