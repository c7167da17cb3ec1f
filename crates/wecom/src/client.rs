//! An async WeCom API client.
//!
//! * `access_token` is cached per client (one corp id + secret), renewed before it expires and
//!   at once when WeCom answers 40001 / 40014 / 42001 (one renewal, one retry);
//! * transient failures (errcode -1, 45009, 45033, HTTP 5xx, timeouts, connection errors) are
//!   retried with exponential backoff and jitter, up to [`ClientConfig::max_retries`];
//! * a per-API call budget (calls per minute) keeps Pond under WeCom's frequency limits: when a
//!   path's budget is spent the call waits for the next window instead of provoking 45009;
//! * every other errcode is returned as [`WecomError::Api`] for the caller to record.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use rand::Rng;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use tokio::sync::Mutex;

/// A failed API call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WecomError {
    /// WeCom answered with a non-zero errcode.
    #[error("errcode {errcode}: {errmsg}")]
    Api { errcode: i64, errmsg: String },
    /// The call could not be made or answered (network, timeout, HTTP status).
    #[error("transport: {0}")]
    Transport(String),
    /// The answer was not the JSON expected.
    #[error("unexpected response: {0}")]
    Decode(String),
}

impl WecomError {
    pub fn errcode(&self) -> Option<i64> {
        match self {
            WecomError::Api { errcode, .. } => Some(*errcode),
            _ => None,
        }
    }
    /// Worth retrying later by a queue: transient, or a credential answer (see
    /// [`is_retryable_later_code`]).
    pub fn is_retryable_later(&self) -> bool {
        match self {
            WecomError::Api { errcode, .. } => is_retryable_later_code(*errcode),
            _ => self.is_transient(),
        }
    }
    /// Worth retrying at once, within the call (upstream busy, rate limited, network, HTTP status).
    pub fn is_transient(&self) -> bool {
        match self {
            WecomError::Api { errcode, .. } => is_transient_code(*errcode),
            WecomError::Transport(_) => true,
            WecomError::Decode(_) => false,
        }
    }
}

/// Worth retrying later by a queue (minutes, not the client's seconds): everything
/// [`WecomError::is_transient`] covers, plus the credential answers that a secret being rotated or a
/// token renewed elsewhere gives for a while — 40001 invalid secret or token, 40013 invalid corp
/// id, 40014 invalid token, 42001 expired token (the client has renewed the token once already).
/// Callers retry with backoff and alert, rather than fail the work on the first answer.
pub fn is_retryable_later_code(errcode: i64) -> bool {
    is_transient_code(errcode) || is_token_code(errcode) || errcode == 40013
}

/// -1 system busy, 45009 frequency limit, 45033 concurrency limit.
pub fn is_transient_code(errcode: i64) -> bool {
    matches!(errcode, -1 | 45009 | 45033)
}

/// 40001 bad credential, 40014 invalid token, 42001 expired token.
pub fn is_token_code(errcode: i64) -> bool {
    matches!(errcode, 40001 | 40014 | 42001)
}

#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// e.g. `https://qyapi.weixin.qq.com` (no trailing slash).
    pub base_url: String,
    pub corp_id: String,
    pub secret: String,
    /// Retries after the first attempt for transient failures.
    pub max_retries: u32,
    /// First backoff delay; doubles per retry, with jitter, capped at `max_backoff`.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// Calls per minute allowed per API path (WeCom allows 10,000 per corp per API).
    pub calls_per_minute: u32,
    pub timeout: Duration,
}

impl ClientConfig {
    pub fn new(base_url: &str, corp_id: &str, secret: &str) -> Self {
        ClientConfig {
            base_url: base_url.trim_end_matches('/').to_owned(),
            corp_id: corp_id.to_owned(),
            secret: secret.to_owned(),
            max_retries: 5,
            base_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            calls_per_minute: 9_000,
            timeout: Duration::from_secs(10),
        }
    }
}

/// Counters for metrics: calls made, retries, token renewals.
#[derive(Debug, Default)]
pub struct ClientStats {
    pub calls: AtomicU64,
    pub retries: AtomicU64,
    pub token_refreshes: AtomicU64,
    pub budget_waits: AtomicU64,
}

struct CachedToken {
    value: String,
    renew_at: Instant,
}

struct Inner {
    http: reqwest::Client,
    config: ClientConfig,
    token: Mutex<Option<CachedToken>>,
    budget: Mutex<HashMap<String, (Instant, u32)>>,
    stats: Arc<ClientStats>,
}

/// A client for one corp and one secret. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
    /// Counts this handle's calls apart from the shared stats (see [`Client::tallied`]).
    tally: Option<Arc<AtomicU64>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.config.base_url)
            .field("corp_id", &self.inner.config.corp_id)
            .finish()
    }
}

enum Method<'a> {
    Get(&'a [(&'a str, &'a str)]),
    /// A JSON body, serialised once for every attempt.
    Post(&'a [u8], &'a [(&'a str, &'a str)]),
    /// A file as `multipart/form-data` under the field `media` (WeCom's name for it).
    Upload {
        file: &'a Upload<'a>,
        query: &'a [(&'a str, &'a str)],
    },
}

/// A file to upload: its bytes, the file name WeCom shows, and its MIME type.
#[derive(Debug, Clone, Copy)]
pub struct Upload<'a> {
    pub bytes: &'a [u8],
    pub file_name: &'a str,
    pub content_type: &'a str,
}

/// The status every WeCom answer carries; read before the answer is decoded into its type.
#[derive(Deserialize)]
struct Status {
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
}

/// `gettoken`'s answer.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default = "default_token_lifetime")]
    expires_in: u64,
}

fn default_token_lifetime() -> u64 {
    7200
}

impl Client {
    pub fn new(config: ClientConfig) -> Result<Self, WecomError> {
        let http = reqwest::Client::builder().timeout(config.timeout).build().map_err(transport)?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                config,
                token: Mutex::new(None),
                budget: Mutex::new(HashMap::new()),
                stats: Arc::default(),
            }),
            tally: None,
        })
    }

    /// The same client (token, budget and stats shared) with a counter of its own: every request
    /// made through it (token fetches and retries included) adds one, so a task can say what it
    /// cost while other tasks use the client too.
    pub fn tallied(&self) -> (Client, Arc<AtomicU64>) {
        let tally = Arc::new(AtomicU64::new(0));
        (Client { inner: self.inner.clone(), tally: Some(tally.clone()) }, tally)
    }

    pub fn stats(&self) -> Arc<ClientStats> {
        self.inner.stats.clone()
    }

    pub fn corp_id(&self) -> &str {
        &self.inner.config.corp_id
    }

    /// Drops the cached token (the next call fetches a new one).
    pub async fn forget_token(&self) {
        *self.inner.token.lock().await = None;
    }

    /// The cached token, fetched when missing or about to expire.
    pub async fn access_token(&self) -> Result<String, WecomError> {
        let mut slot = self.inner.token.lock().await;
        if let Some(t) = slot.as_ref().filter(|t| Instant::now() < t.renew_at) {
            return Ok(t.value.clone());
        }
        let c = &self.inner.config;
        let url = format!("{}/cgi-bin/gettoken", c.base_url);
        let mut attempt = 0;
        let answer: TokenAnswer = loop {
            let query = [("corpid", c.corp_id.as_str()), ("corpsecret", c.secret.as_str())];
            match self.send_once("gettoken", &url, &Method::Get(&query)).await {
                Ok(answer) => break answer,
                Err(e) if e.is_transient() && attempt < c.max_retries => {
                    attempt += 1;
                    self.inner.stats.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(self.backoff(attempt)).await;
                }
                Err(e) => return Err(e),
            }
        };
        let expires_in = answer.expires_in;
        // Renew 5 minutes early (or at half-life for short-lived tokens).
        let lead = if expires_in > 600 { expires_in - 300 } else { expires_in / 2 };
        self.inner.stats.token_refreshes.fetch_add(1, Ordering::Relaxed);
        *slot = Some(CachedToken {
            value: answer.access_token.clone(),
            renew_at: Instant::now() + Duration::from_secs(lead),
        });
        Ok(answer.access_token)
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let c = &self.inner.config;
        let cap = c.base_backoff.saturating_mul(1 << attempt.saturating_sub(1).min(16)).min(c.max_backoff);
        let half = cap / 2;
        half + cap.saturating_sub(half).mul_f64(rand::rng().random::<f64>())
    }

    /// Waits until this path's per-minute budget has room.
    async fn spend_budget(&self, path: &str) {
        let limit = self.inner.config.calls_per_minute.max(1);
        loop {
            let wait = {
                let mut budget = self.inner.budget.lock().await;
                let now = Instant::now();
                let entry = budget.entry(path.to_owned()).or_insert((now, 0));
                if now.duration_since(entry.0) >= Duration::from_secs(60) {
                    *entry = (now, 0);
                }
                if entry.1 < limit {
                    entry.1 += 1;
                    None
                } else {
                    Some(Duration::from_secs(60).saturating_sub(now.duration_since(entry.0)))
                }
            };
            match wait {
                None => return,
                Some(d) => {
                    self.inner.stats.budget_waits.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(d).await;
                }
            }
        }
    }

    /// One attempt: the answer decoded into `T` when its errcode is 0 (`path` names the API in
    /// errors). Decoded straight from the body, without an intermediate JSON tree.
    async fn send_once<T: DeserializeOwned>(
        &self,
        path: &str,
        url: &str,
        method: &Method<'_>,
    ) -> Result<T, WecomError> {
        self.inner.stats.calls.fetch_add(1, Ordering::Relaxed);
        if let Some(tally) = &self.tally {
            tally.fetch_add(1, Ordering::Relaxed);
        }
        let request = match method {
            Method::Get(query) => self.inner.http.get(url).query(query),
            Method::Post(body, query) => self
                .inner
                .http
                .post(url)
                .query(query)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_vec()),
            Method::Upload { file, query } => {
                let part = reqwest::multipart::Part::bytes(file.bytes.to_vec())
                    .file_name(file.file_name.to_owned())
                    .mime_str(file.content_type)
                    .map_err(|e| WecomError::Decode(format!("{path}: {e}")))?;
                self.inner.http.post(url).query(query).multipart(reqwest::multipart::Form::new().part("media", part))
            }
        };
        let resp = request.send().await.map_err(transport)?;
        let status = resp.status();
        if !status.is_success() {
            return Err(WecomError::Transport(format!("HTTP {status}")));
        }
        let body = resp.bytes().await.map_err(transport)?;
        let answer: Status = serde_json::from_slice(&body).map_err(|e| WecomError::Decode(format!("{path}: {e}")))?;
        if answer.errcode != 0 {
            return Err(WecomError::Api { errcode: answer.errcode, errmsg: answer.errmsg });
        }
        serde_json::from_slice(&body).map_err(|e| WecomError::Decode(format!("{path}: {e}")))
    }

    async fn call<T: DeserializeOwned>(&self, path: &str, method: Method<'_>) -> Result<T, WecomError> {
        let url = format!("{}/cgi-bin/{path}", self.inner.config.base_url);
        let mut attempt = 0;
        let mut renewed = false;
        loop {
            self.spend_budget(path).await;
            let token = self.access_token().await?;
            let result = match &method {
                Method::Get(q) => {
                    let mut query: Vec<(&str, &str)> = vec![("access_token", &token)];
                    query.extend_from_slice(q);
                    self.send_once(path, &url, &Method::Get(&query)).await
                }
                Method::Post(body, q) => {
                    let mut query: Vec<(&str, &str)> = vec![("access_token", &token)];
                    query.extend_from_slice(q);
                    self.send_once(path, &url, &Method::Post(body, &query)).await
                }
                Method::Upload { file, query: q } => {
                    let mut query: Vec<(&str, &str)> = vec![("access_token", &token)];
                    query.extend_from_slice(q);
                    self.send_once(path, &url, &Method::Upload { file, query: &query }).await
                }
            };
            match result {
                Ok(v) => return Ok(v),
                Err(WecomError::Api { errcode, .. }) if is_token_code(errcode) && !renewed => {
                    renewed = true;
                    self.forget_token().await;
                }
                Err(e) if e.is_transient() && attempt < self.inner.config.max_retries => {
                    attempt += 1;
                    self.inner.stats.retries.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(path, error = %e, attempt, "retrying WeCom call");
                    tokio::time::sleep(self.backoff(attempt)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// GET `/cgi-bin/{path}?access_token=…&query…`, decoded into `T`.
    pub async fn get<T: DeserializeOwned>(&self, path: &str, query: &[(&str, &str)]) -> Result<T, WecomError> {
        self.call(path, Method::Get(query)).await
    }

    /// POST a file as multipart to `/cgi-bin/{path}?access_token=…`, decoded into `T`.
    pub async fn upload<T: DeserializeOwned>(&self, path: &str, file: &Upload<'_>) -> Result<T, WecomError> {
        self.call(path, Method::Upload { file, query: &[] }).await
    }

    /// POST JSON to `/cgi-bin/{path}?access_token=…`, decoded into `T`.
    pub async fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T, WecomError> {
        let body = serde_json::to_vec(body).map_err(|e| WecomError::Decode(e.to_string()))?;
        self.call(path, Method::Post(&body, &[])).await
    }
}

/// A transport failure, without its URL: `gettoken`'s query carries the corp secret, and these
/// messages are logged, stored with sync runs and shown in the console.
fn transport(e: reqwest::Error) -> WecomError {
    WecomError::Transport(e.without_url().to_string())
}
