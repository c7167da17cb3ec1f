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
    let secure = if state.config.session.secure_cookie { "; Secure" } else { "" };
    let text = format!("{name}={value}; Path={path}; Max-Age={max_age_secs}; HttpOnly; SameSite={same_site}{secure}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A path we may send the user back to: on this site, inside the console.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/console") && !n.contains("//") && !n.contains('\\') => n.to_owned(),
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

/// Constant-time comparison, so the token cannot be guessed byte by byte from timings.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn forbidden(lang: Lang, why: &str) -> Response {
    ConsoleError { status: StatusCode::FORBIDDEN, message: why.to_owned(), lang }.into_response()
}

/// `Origin` (when sent) must name this host.
fn origin_matches(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    origin.split_once("://").is_some_and(|(_, rest)| rest == host)
}

/// Middleware: every state-changing request must carry the expected CSRF token.
/// Expected = the session's token when signed in, else the login cookie's.
pub async fn require_csrf(State(state): State<App>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let lang = lang_of(req.headers());
    if !origin_matches(req.headers()) {
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
    if !given.as_deref().is_some_and(|g| same(g, &expected)) {
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

/// POST /login: checks the password and starts a session.
pub async fn login_submit(State(state): State<App>, headers: HeaderMap, Form(form): Form<LoginForm>) -> Response {
    let lang = lang_of(&headers);
    let session = match auth::login(&state, &form.email, &form.password).await {
        Ok(Some(session)) => session,
        Ok(None) => {
            let csrf = cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or_default().to_owned();
            let page = LoginPage {
                c: Chrome::anonymous(lang, &csrf, "/login"),
                next: safe_next(form.next.as_deref()),
                error: Some(lang.t("login.failed")),
                email: form.email.clone(),
            };
            return render_with(StatusCode::UNAUTHORIZED, &page);
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
    let mut resp = Redirect::to("/login").into_response();
    resp.headers_mut().append(header::SET_COOKIE, set_cookie(&state, SESSION_COOKIE, "", "/", 0, "Lax"));
    resp
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
        for evil in ["https://evil.example", "//evil.example", "/console//evil", "/login", "/console\\x"] {
            assert_eq!(safe_next(Some(evil)), "/console", "{evil}");
        }
    }

    #[test]
    fn cookies_and_forms_parse() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; pond_session=abc; b=2"));
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "c"), None);
        assert_eq!(form_field(b"x=1&_csrf=ab%2Bc&y=2", "_csrf").as_deref(), Some("ab+c"));
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }

    #[test]
    fn origin_check() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("pond.local:8080"));
        assert!(origin_matches(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("http://pond.local:8080"));
        assert!(origin_matches(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("https://evil.example"));
        assert!(!origin_matches(&h));
    }
}
