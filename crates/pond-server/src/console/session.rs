//! Console sign-in: login and logout, the session cookie, the middleware that sends visitors
//! without a session to the login page, and CSRF protection for every form.
//!
//! CSRF: each session has a synchronizer token; every console form carries it as `_csrf` (or the
//! `X-CSRF-Token` header) and [`require_csrf`] checks it on every non-GET request before any handler
//! runs, so a new form cannot forget it. The login form, which has no session yet, uses a
//! double-submit cookie. Requests whose `Origin` differs from `Host` are refused as well.

use axum::{
    Form,
    body::{Body, to_bytes},
    extract::{Query, Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};

use serde::Deserialize;

use super::{Chrome, ConsoleError, LoginPage, render, render_with};
use pond_app::{App, auth};

use crate::console::i18n::Lang;

pub const SESSION_COOKIE: &str = "pond_session";
pub const LOGIN_CSRF_COOKIE: &str = "pond_login_csrf";
pub const LANG_COOKIE: &str = "pond_lang";

/// The signed-in user of a console request (set by [`require_session`]).
pub type CurrentUser = pond_app::auth::SessionUser;

/// Reads one cookie from the request headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

pub fn lang_of(headers: &HeaderMap) -> Lang {
    cookie(headers, LANG_COOKIE).map(Lang::from_code).unwrap_or_default()
}

fn set_cookie(state: &App, name: &str, value: &str, path: &str, max_age_secs: i64, same_site: &str) -> HeaderValue {
    let secure = if state.config.secure_cookies() { "; Secure" } else { "" };
    let text = format!("{name}={value}; Path={path}; Max-Age={max_age_secs}; HttpOnly; SameSite={same_site}{secure}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A path we may send the user back to: on this site, inside the console.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with("/console")
                && !n.contains("//")
                && !n.contains('\\')
                && n.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            n.to_owned()
        }
        _ => "/console".to_owned(),
    }
}

/// Middleware over `/console`: loads the session or redirects to the login page.
pub async fn require_session(State(state): State<App>, mut req: Request, next: Next) -> Response {
    let to_login = |req: &Request| {
        let here = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/console");
        let next = if req.method() == Method::GET { here } else { "/console" };
        Redirect::to(&format!("/login?next={}", encode_component(next))).into_response()
    };
    let Some(token) = cookie(req.headers(), SESSION_COOKIE) else {
        return to_login(&req);
    };
    match auth::session_user(&state, token).await {
        Ok(Some(user)) => {
            req.extensions_mut().insert(user);
            next.run(req).await
        }
        Ok(None) => to_login(&req),
        Err(e) => ConsoleError::from_api(e.into(), lang_of(req.headers())).into_response(),
    }
}

fn forbidden(lang: Lang, why: &str) -> Response {
    ConsoleError { status: StatusCode::FORBIDDEN, message: why.to_owned(), lang }.into_response()
}

/// `scheme://host[:port]` in lower case, the default port (80 for http, 443 for https) left out.
fn normalized_origin(scheme: &str, authority: &str) -> String {
    let scheme = scheme.to_ascii_lowercase();
    let authority = authority.to_ascii_lowercase();
    let authority = match (scheme.as_str(), authority.rsplit_once(':')) {
        ("http", Some((host, "80"))) | ("https", Some((host, "443"))) => host.to_owned(),
        _ => authority,
    };
    format!("{scheme}://{authority}")
}

/// `Origin` (when sent) must be this site: scheme, host and port. The site is the configured
/// `public_url` when set, else the request's `Host` over http (https when a proxy says
/// `X-Forwarded-Proto: https`).
fn origin_matches(headers: &HeaderMap, public_url: &str) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let Some((scheme, authority)) = origin.split_once("://") else { return false };
    let given = normalized_origin(scheme, authority);
    let public = public_url.trim();
    let expected = match public.split_once("://") {
        Some((scheme, rest)) if !public.is_empty() => normalized_origin(scheme, rest.split('/').next().unwrap_or("")),
        _ => {
            let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
            let https = headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()) == Some("https");
            normalized_origin(if https { "https" } else { "http" }, host)
        }
    };
    given == expected
}

/// Middleware: every state-changing request must carry the expected CSRF token.
/// Expected = the session's token when signed in, else the login cookie's.
pub async fn require_csrf(State(state): State<App>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let lang = lang_of(req.headers());
    if !origin_matches(req.headers(), &state.config.public_url) {
        return forbidden(lang, "cross-origin form refused (Origin does not match Host)");
    }
    let expected = match req.extensions().get::<CurrentUser>() {
        Some(user) => Some(user.csrf.clone()),
        None => cookie(req.headers(), LOGIN_CSRF_COOKIE).map(str::to_owned),
    };
    let Some(expected) = expected.filter(|e| !e.is_empty()) else {
        return forbidden(lang, "missing CSRF token");
    };
    let header_token = req.headers().get("x-csrf-token").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let boundary = multipart_boundary(req.headers());
    let (parts, body) = req.into_parts();
    let bytes = match to_bytes(body, state.config.http.body_limit_bytes).await {
        Ok(b) => b,
        Err(_) => {
            return ConsoleError {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                message: "request body too large".into(),
                lang,
            }
            .into_response();
        }
    };
    let form_token = match boundary {
        Some(boundary) => multipart_field(bytes.clone(), boundary, "_csrf").await,
        None => form_field(&bytes, "_csrf"),
    };
    let given = header_token.or(form_token);
    if !given.as_deref().is_some_and(|g| auth::same_secret(g, &expected)) {
        return forbidden(lang, "invalid or missing CSRF token; reload the page and try again");
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// The boundary of a `multipart/form-data` request (forms that upload files), if it is one.
pub fn multipart_boundary(headers: &HeaderMap) -> Option<String> {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).and_then(|ct| multer::parse_boundary(ct).ok())
}

/// A buffered `multipart/form-data` body, read field by field.
pub fn multipart_reader(body: axum::body::Bytes, boundary: String) -> multer::Multipart<'static> {
    multer::Multipart::new(futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(body) }), boundary)
}

/// One text field of a `multipart/form-data` body.
async fn multipart_field(body: axum::body::Bytes, boundary: String, name: &str) -> Option<String> {
    let mut multipart = multipart_reader(body, boundary);
    while let Ok(Some(field)) = multipart.next_field().await {
        if field.name() == Some(name) {
            return field.text().await.ok();
        }
    }
    None
}

/// One field of an `application/x-www-form-urlencoded` body.
fn form_field(body: &[u8], name: &str) -> Option<String> {
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    fields.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// Percent-encodes a query component (for the `next` parameter).
pub fn encode_component(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

/// GET /login: the form, with a fresh double-submit CSRF cookie.
pub async fn login_page(State(state): State<App>, headers: HeaderMap, Query(q): Query<LoginQuery>) -> Response {
    let csrf = auth::random_hex(16);
    let lang = lang_of(&headers);
    let page = LoginPage {
        c: Chrome::anonymous(lang, &csrf, "/login"),
        next: safe_next(q.next.as_deref()),
        error: None,
        email: String::new(),
    };
    let mut resp = render(&page);
    resp.headers_mut()
        .append(header::SET_COOKIE, set_cookie(&state, LOGIN_CSRF_COOKIE, &csrf, "/login", 3600, "Strict"));
    resp
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    next: Option<String>,
}

/// The client's address: the TCP peer, or — when `security.trust_forwarded_for` says a proxy in
/// front sets it — the last `X-Forwarded-For` entry, the one that proxy appended (the entries
/// before it are whatever the client sent). `None` when neither is known.
pub struct ClientAddress(pub Option<std::net::IpAddr>);

impl axum::extract::FromRequestParts<App> for ClientAddress {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut axum::http::request::Parts, app: &App) -> Result<Self, Self::Rejection> {
        let forwarded = app
            .config
            .security
            .trust_forwarded_for
            .then(|| parts.headers.get_all("x-forwarded-for").iter().next_back().and_then(|v| v.to_str().ok()))
            .flatten()
            .and_then(|v| v.rsplit(',').next())
            .and_then(forwarded_ip);
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|axum::extract::ConnectInfo(addr)| addr.ip());
        // IPv4 clients of a dual-stack listener arrive as `::ffff:a.b.c.d`.
        Ok(ClientAddress(forwarded.or(peer).map(|ip| ip.to_canonical())))
    }
}

/// One `X-Forwarded-For` entry as an address: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or
/// `[2001:db8::1]:443`.
fn forwarded_ip(entry: &str) -> Option<std::net::IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<std::net::IpAddr>()
        .ok()
        .or_else(|| entry.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| entry.strip_prefix('[').and_then(|e| e.strip_suffix(']')).and_then(|e| e.parse().ok()))
}

/// True for a request made on this machine, not relayed: the TCP peer is loopback and no proxy
/// header says it came from elsewhere (a reverse proxy on the same machine relays public
/// requests from loopback).
pub fn is_local_request(parts_headers: &HeaderMap, extensions: &axum::http::Extensions) -> bool {
    let relayed = ["x-forwarded-for", "forwarded", "x-real-ip", "via"].iter().any(|h| parts_headers.contains_key(*h));
    let peer = extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|axum::extract::ConnectInfo(addr)| addr.ip().to_canonical());
    !relayed && peer.is_some_and(|ip| ip.is_loopback())
}

/// POST /login: checks the password and starts a session. Too many failures answer 429 with
/// `Retry-After`; so does a flood of logins beyond what the password checker takes at once.
pub async fn login_submit(
    State(state): State<App>,
    ClientAddress(client): ClientAddress,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let lang = lang_of(&headers);
    let again = |status: StatusCode, error: String, retry_after: Option<u64>| {
        let csrf = cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or_default().to_owned();
        let page = LoginPage {
            c: Chrome::anonymous(lang, &csrf, "/login"),
            next: safe_next(form.next.as_deref()),
            error: Some(error),
            email: form.email.clone(),
        };
        let mut resp = render_with(status, &page);
        if let Some(secs) = retry_after.and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
            resp.headers_mut().insert(header::RETRY_AFTER, secs);
        }
        resp
    };
    let session = match auth::login(&state, &form.email, &form.password, client).await {
        Ok(auth::LoginOutcome::Success(session)) => session,
        Ok(auth::LoginOutcome::Refused) => {
            return again(StatusCode::UNAUTHORIZED, lang.t("login.failed").to_owned(), None);
        }
        Ok(auth::LoginOutcome::Throttled { retry_after_secs }) => {
            let text = lang.t("login.throttled").replace("{n}", &retry_after_secs.to_string());
            return again(StatusCode::TOO_MANY_REQUESTS, text, Some(retry_after_secs));
        }
        Ok(auth::LoginOutcome::Busy) => {
            return again(StatusCode::TOO_MANY_REQUESTS, lang.t("login.busy").to_owned(), Some(1));
        }
        Err(e) => return ConsoleError::from_api(e.into(), lang).into_response(),
    };
    let mut resp = Redirect::to(&safe_next(form.next.as_deref())).into_response();
    let max_age = session.ttl_ms / 1000;
    resp.headers_mut()
        .append(header::SET_COOKIE, set_cookie(&state, SESSION_COOKIE, &session.token, "/", max_age, "Lax"));
    resp.headers_mut().append(header::SET_COOKIE, set_cookie(&state, LOGIN_CSRF_COOKIE, "", "/login", 0, "Strict"));
    resp
}

/// POST /console/logout: ends the session.
pub async fn logout(State(state): State<App>, axum::Extension(user): axum::Extension<CurrentUser>) -> Response {
    if let Err(e) = auth::logout(&state, &user).await {
        tracing::warn!(user = %user.email, error = %e, cause = e.cause(), "could not end a session");
    }
    signed_out(&state)
}

/// The signed-in user's own account page: sessions, "sign out everywhere", password change.
#[derive(askama::Template)]
#[template(path = "account.html")]
pub struct AccountPage {
    pub c: Chrome,
    pub sessions: i64,
    pub error: Option<String>,
}

async fn account_view(
    state: &App,
    user: &CurrentUser,
    headers: &HeaderMap,
    failure: Option<crate::error::ApiError>,
) -> Response {
    let c = super::chrome(user, headers, "/console/account", None);
    let sessions = pond_store::session::count_live_for_user(&state.db, user.user_id).await.unwrap_or(0);
    let status = failure.as_ref().map_or(StatusCode::OK, |e| e.status());
    let error = failure.map(|e| super::user_message(&e, c.lang));
    render_with(status, &AccountPage { c, sessions, error })
}

/// GET /console/account
pub async fn account_page(
    State(state): State<App>,
    axum::Extension(user): axum::Extension<CurrentUser>,
    headers: HeaderMap,
) -> Response {
    account_view(&state, &user, &headers, None).await
}

#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

/// Signed out everywhere: the session cookie cleared, off to the login page.
fn signed_out(state: &App) -> Response {
    let mut resp = Redirect::to("/login").into_response();
    resp.headers_mut().append(header::SET_COOKIE, set_cookie(state, SESSION_COOKIE, "", "/", 0, "Lax"));
    resp
}

/// POST /console/account/password: the current password checked; every session ends.
pub async fn account_password(
    State(state): State<App>,
    axum::Extension(user): axum::Extension<CurrentUser>,
    ClientAddress(client): ClientAddress,
    headers: HeaderMap,
    Form(form): Form<PasswordForm>,
) -> Response {
    match pond_app::admin::change_own_password(&state, &user, &form.current_password, &form.new_password, client).await
    {
        Ok(()) => signed_out(&state),
        Err(e) => account_view(&state, &user, &headers, Some(e.into())).await,
    }
}

/// POST /console/account/sessions/end: "sign out everywhere", this session included.
pub async fn account_end_sessions(
    State(state): State<App>,
    axum::Extension(user): axum::Extension<CurrentUser>,
    headers: HeaderMap,
) -> Response {
    match pond_app::admin::end_sessions(&state, &super::actor(&user), user.corp_id, user.user_id).await {
        Ok(_) => signed_out(&state),
        Err(e) => ConsoleError::from_api(e.into(), lang_of(&headers)).into_response(),
    }
}

/// POST /console/users/{id}/sessions/end: an owner signs a user out everywhere.
pub async fn user_end_sessions(
    State(state): State<App>,
    axum::Extension(user): axum::Extension<CurrentUser>,
    headers: HeaderMap,
    super::ConsolePath(id): super::ConsolePath<i64>,
) -> Response {
    match pond_app::admin::end_sessions(&state, &super::actor(&user), user.corp_id, id).await {
        Ok(_) if id == user.user_id => signed_out(&state),
        Ok(_) => Redirect::to("/console/users?saved=sessions").into_response(),
        Err(e) => ConsoleError::from_api(e.into(), lang_of(&headers)).into_response(),
    }
}

#[derive(Debug, Deserialize)]
pub struct LangQuery {
    to: String,
    back: Option<String>,
}

/// GET /lang?to=en&back=/console/staff: switches the console language (a preference cookie).
pub async fn switch_lang(State(state): State<App>, Query(q): Query<LangQuery>) -> Response {
    let lang = Lang::from_code(&q.to);
    let back = match q.back.as_deref() {
        Some("/login") => "/login".to_owned(),
        other => safe_next(other),
    };
    let mut resp = Redirect::to(&back).into_response();
    let code = if lang == Lang::En { "en" } else { "zh" };
    resp.headers_mut().append(header::SET_COOKIE, set_cookie(&state, LANG_COOKIE, code, "/", 365 * 86_400, "Lax"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_must_stay_inside_the_console() {
        assert_eq!(safe_next(Some("/console/staff?page=2")), "/console/staff?page=2");
        for evil in [
            "https://evil.example",
            "//evil.example",
            "/console//evil",
            "/login",
            "/console\\x",
            "/console\r\nSet-Cookie: a=b",
            "/console/客户",
        ] {
            assert_eq!(safe_next(Some(evil)), "/console", "{evil}");
        }
    }

    #[test]
    fn forwarded_entries_parse_with_or_without_ports() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().ok();
        assert_eq!(forwarded_ip(" 203.0.113.7 "), ip("203.0.113.7"));
        assert_eq!(forwarded_ip("203.0.113.7:5678"), ip("203.0.113.7"));
        assert_eq!(forwarded_ip("2001:db8::1"), ip("2001:db8::1"));
        assert_eq!(forwarded_ip("[2001:db8::1]:443"), ip("2001:db8::1"));
        assert_eq!(forwarded_ip("[2001:db8::1]"), ip("2001:db8::1"));
        assert_eq!(forwarded_ip("unknown"), None);
    }

    #[test]
    fn origins_must_match_scheme_host_and_port() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("pond.example:8080"));
        h.insert(header::ORIGIN, HeaderValue::from_static("http://pond.example:8080"));
        assert!(origin_matches(&h, ""));
        h.insert(header::ORIGIN, HeaderValue::from_static("https://pond.example:8080"));
        assert!(!origin_matches(&h, ""), "scheme differs");
        h.insert(header::ORIGIN, HeaderValue::from_static("http://pond.example:9090"));
        assert!(!origin_matches(&h, ""), "port differs");
        h.insert(header::ORIGIN, HeaderValue::from_static("https://scrm.example"));
        assert!(origin_matches(&h, "https://scrm.example/"));
        assert!(origin_matches(&h, "https://SCRM.example:443"));
        assert!(!origin_matches(&h, "http://scrm.example"));
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(!origin_matches(&h, ""));
    }

    #[test]
    fn cookies_and_forms_parse() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; pond_session=abc; b=2"));
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "c"), None);
        assert_eq!(form_field(b"x=1&_csrf=ab%2Bc&y=2", "_csrf").as_deref(), Some("ab+c"));
        assert!(auth::same_secret("abc", "abc") && !auth::same_secret("abc", "abd") && !auth::same_secret("abc", "ab"));
    }

    #[test]
    fn origin_check() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("pond.local:8080"));
        assert!(origin_matches(&h, ""));
        h.insert(header::ORIGIN, HeaderValue::from_static("http://pond.local:8080"));
        assert!(origin_matches(&h, ""));
        h.insert(header::ORIGIN, HeaderValue::from_static("https://evil.example"));
        assert!(!origin_matches(&h, ""));
    }
}
