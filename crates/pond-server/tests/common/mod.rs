//! Helpers for driving the real application over its public HTTP surface (in-process, no sockets).
#![allow(dead_code)]

pub mod world;

use axum::{
    Router,
    body::Body,
    http::{HeaderMap, Method, Request, StatusCode, header},
};
use http_body_util::BodyExt;
use pond_app::{App as AppState, Config, auth};
use pond_core::Role;
use pond_store::Db;
use tower::ServiceExt;

pub struct App {
    pub router: Router,
    pub state: AppState,
    pub corp_id: i64,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    pub fn location(&self) -> &str {
        self.headers.get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
    /// `name=value` of a Set-Cookie header naming `name`.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .find(|kv| kv.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }
}

pub const PASSWORD: &str = "pond-test-password";

impl App {
    pub async fn new(db: Db) -> App {
        Self::with_config(db, Config::default()).await
    }

    pub async fn with_config(db: Db, config: Config) -> App {
        let corp = pond_store::corp::create(&db, "测试咖啡").await.expect("corp");
        let state = AppState::new(db, config);
        App { router: pond_server::router(state.clone()), state, corp_id: corp.id }
    }

    pub fn db(&self) -> &Db {
        &self.state.db
    }

    pub async fn send(&self, method: Method, path: &str, headers: &[(&str, &str)], body: impl Into<Body>) -> Reply {
        self.send_from(None, method, path, headers, body).await
    }

    /// [`App::send`] as if from this TCP peer (what the server's connection gives handlers).
    pub async fn send_from(
        &self,
        peer: Option<std::net::SocketAddr>,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(path).header(header::HOST, "pond.test");
        if let Some(peer) = peer {
            req = req.extension(axum::extract::ConnectInfo(peer));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = self.router.clone().oneshot(req.body(body.into()).expect("request")).await.expect("infallible");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        Reply { status, headers, body: String::from_utf8_lossy(&bytes).into_owned() }
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.send(Method::GET, path, headers, Body::empty()).await
    }

    /// Runs the queued jobs (this in-process app has no workers) until none is due.
    pub async fn run_jobs(&self) {
        let registry = pond_app::pipeline::default_registry(&self.state);
        let worker = pond_app::pipeline::job_worker(&self.state, registry, "test-worker".into());
        while worker.run_batch().await.expect("job batch") > 0 {}
    }

    /// A fresh admin API token for this app's corp.
    pub async fn token(&self) -> String {
        self.token_as(Role::Admin).await
    }

    /// A fresh API token acting as `role`.
    pub async fn token_as(&self, role: Role) -> String {
        let (token, hash, prefix) = auth::new_api_token();
        pond_store::token::create(self.db(), self.corp_id, "test", &hash, &prefix, "test", role.as_str())
            .await
            .expect("token");
        token
    }

    pub async fn user(&self, email: &str, role: Role) {
        let hash = auth::hash_password(PASSWORD).expect("hash");
        pond_store::user::create(self.db(), self.corp_id, email, &hash, role).await.expect("user");
    }

    /// Logs in through the login form; returns (cookie header value, CSRF token of the session).
    pub async fn login(&self, email: &str) -> (String, String) {
        let form = self.get("/login", &[]).await;
        let login_cookie = form.cookie("pond_login_csrf").expect("login CSRF cookie");
        let csrf = login_cookie.split_once('=').map(|(_, v)| v.to_owned()).unwrap_or_default();
        let body = format!("_csrf={csrf}&email={email}&password={PASSWORD}&next=/console");
        let reply = self
            .send(
                Method::POST,
                "/login",
                &[("content-type", "application/x-www-form-urlencoded"), ("cookie", &login_cookie)],
                body,
            )
            .await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "login failed: {}", reply.body);
        let session = reply.cookie("pond_session").expect("session cookie");
        let page = self.get("/console/account", &[("cookie", &session)]).await;
        let csrf = page
            .body
            .split("name=\"_csrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("a form with a CSRF token")
            .to_owned();
        (session, csrf)
    }

    /// One try at the login form from `peer` (the reply: 303 signed in, 401 refused, 429 throttled).
    pub async fn login_attempt(&self, email: &str, password: &str, peer: Option<std::net::SocketAddr>) -> Reply {
        let form = self.get("/login", &[]).await;
        let login_cookie = form.cookie("pond_login_csrf").expect("login CSRF cookie");
        let csrf = login_cookie.split_once('=').map(|(_, v)| v.to_owned()).unwrap_or_default();
        let body = format!("_csrf={csrf}&email={}&password={password}&next=/console", email.replace('@', "%40"));
        self.send_from(
            peer,
            Method::POST,
            "/login",
            &[("content-type", "application/x-www-form-urlencoded"), ("cookie", &login_cookie)],
            body,
        )
        .await
    }

    pub async fn post_form(&self, path: &str, cookie: &str, body: &str) -> Reply {
        self.send(
            Method::POST,
            path,
            &[("content-type", "application/x-www-form-urlencoded"), ("cookie", cookie)],
            body.to_owned(),
        )
        .await
    }
}
