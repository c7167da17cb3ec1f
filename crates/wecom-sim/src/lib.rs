//! A WeCom that runs locally, for demos and tests: the same `/cgi-bin/...` endpoints, tokens,
//! errcodes and limits as WeCom ([`cgi`]), encrypted callbacks pushed to a configured URL
//! ([`callbacks`]), and a world-control API under `/sim/...` to seed scenarios, act as customers,
//! employees and admins, inject faults and generate traffic ([`world`]). Its state can be saved
//! and restored ([`persist`]), so a simulator can be restarted with the same world. It talks to
//! Pond only over HTTP, as WeCom would.
#![forbid(unsafe_code)]

pub mod callbacks;
pub mod cgi;
pub mod persist;
pub mod world;

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, Query, State},
    http::{Method, StatusCode},
    response::{IntoResponse, Response},
    routing::{any, get, post},
};
use rand::{Rng, SeedableRng, rngs::StdRng};
use rand_chacha::ChaCha12Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use callbacks::{CallbackConfig, Pusher};
use cgi::{Scope, TokenInfo};
use world::{Action, Credentials, Fault, Faults, LateAnswer, Scenario, SimError, World};

/// Settings of a simulator instance.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub credentials: Credentials,
    pub callback: CallbackConfig,
    /// Calls per minute per API before 45009 (WeCom: 10,000 per corp per API).
    pub calls_per_minute: u32,
    pub scenario: Option<Scenario>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            credentials: Credentials::default(),
            callback: CallbackConfig::default(),
            calls_per_minute: 10_000,
            scenario: Some(Scenario::default()),
        }
    }
}

/// Everything the handlers share.
pub struct SimState {
    world: Mutex<World>,
    /// The generator behind new ids, codes and names (ChaCha12, as `StdRng`, but serializable).
    rng: Mutex<ChaCha12Rng>,
    /// Steps the traffic generator has taken.
    traffic_steps: AtomicU64,
    /// Moves whenever the world or the generator is locked (so possibly changed): savers write
    /// only when it moved.
    changes: AtomicU64,
    /// One save at a time (they share a temporary file).
    save_lock: Mutex<()>,
    pub tokens: Mutex<HashMap<String, TokenInfo>>,
    faults: Mutex<Faults>,
    /// Answers to hold back, per API path, in order.
    late: Mutex<HashMap<String, std::collections::VecDeque<LateAnswer>>>,
    rate: Mutex<HashMap<String, (i64, u32)>>,
    calls: Mutex<HashMap<String, u64>>,
    calls_per_minute: Mutex<u32>,
    /// Where this simulator serves (`http://addr`), once started: the QR images it hands out
    /// point here, so they load offline. Before that, WeCom's image host is used.
    public_base: Mutex<Option<String>>,
    /// Images uploaded with `media/uploadimg`, by file name.
    media: Mutex<HashMap<String, Vec<u8>>>,
    pub pusher: Pusher,
}

impl SimState {
    pub fn world(&self) -> MutexGuard<'_, World> {
        self.changes.fetch_add(1, Ordering::Relaxed);
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }
    pub fn rng(&self) -> MutexGuard<'_, ChaCha12Rng> {
        self.changes.fetch_add(1, Ordering::Relaxed);
        self.rng.lock().unwrap_or_else(|e| e.into_inner())
    }
    /// The permanent URL of an uploaded image.
    pub fn media_url(&self, id: &str, ext: &str) -> String {
        self.image_url(&format!("media/{id}.{ext}"), id)
    }
    /// The image URL of a contact way's QR code.
    pub fn qr_url(&self, config_id: &str) -> String {
        self.image_url(&format!("qr/{config_id}.png"), config_id)
    }
    /// `/sim/{path}` on this simulator once it serves; WeCom's image host (for `id`) before.
    fn image_url(&self, path: &str, id: &str) -> String {
        match self.public_base.lock().unwrap_or_else(|e| e.into_inner()).as_deref() {
            Some(base) => format!("{base}/sim/{path}"),
            None => format!("https://wework.qpic.cn/wwpic/sim/{id}/0"),
        }
    }
}

/// A simulator: cheap to clone, shareable between an HTTP server and in-process callers.
#[derive(Clone)]
pub struct Simulator {
    pub state: Arc<SimState>,
}

impl Simulator {
    /// Creates the world (seeded when the config has a scenario) and starts the callback pusher.
    /// Must be called inside a Tokio runtime.
    pub fn new(config: SimConfig) -> Result<Self, wecom::CryptoError> {
        let mut world = World::new(config.credentials.clone());
        if let Some(s) = &config.scenario {
            world.seed(s);
        }
        let seed = config.scenario.as_ref().map_or(0, |s| s.seed);
        Simulator::assemble(config, world, ChaCha12Rng::seed_from_u64(seed.wrapping_add(1)), 0)
    }

    /// A simulator over `world` (whose credentials it answers to), starting its callback pusher.
    fn assemble(
        config: SimConfig,
        world: World,
        rng: ChaCha12Rng,
        traffic_steps: u64,
    ) -> Result<Self, wecom::CryptoError> {
        let c = &world.creds;
        let crypt = wecom::MsgCrypt::new(&c.callback_token, &c.encoding_aes_key, &c.corp_id)?;
        Ok(Simulator {
            state: Arc::new(SimState {
                world: Mutex::new(world),
                rng: Mutex::new(rng),
                traffic_steps: AtomicU64::new(traffic_steps),
                changes: AtomicU64::new(0),
                save_lock: Mutex::new(()),
                tokens: Mutex::default(),
                faults: Mutex::default(),
                late: Mutex::default(),
                rate: Mutex::default(),
                calls: Mutex::default(),
                calls_per_minute: Mutex::new(config.calls_per_minute),
                public_base: Mutex::new(None),
                media: Mutex::default(),
                pusher: Pusher::start(crypt, config.callback),
            }),
        })
    }

    pub fn credentials(&self) -> Credentials {
        self.state.world().creds.clone()
    }

    /// Applies a world action and queues its callbacks (while the world is locked, so that a
    /// snapshot has both or neither).
    pub fn act(&self, action: Action) -> Result<world::Outcome, SimError> {
        let mut world = self.state.world();
        let outcome = {
            let mut rng = self.state.rng();
            world.apply(action, &mut *rng)?
        };
        for xml in &outcome.callbacks {
            self.state.pusher.push(xml.clone());
        }
        drop(world);
        Ok(outcome)
    }

    /// Applies `count` random actions (the traffic generator's mix) from a seeded generator.
    /// Returns how many applied (some random picks are refused by the world's rules, as in life).
    pub fn random_actions(&self, count: usize, seed: u64) -> TrafficReport {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut report = TrafficReport::default();
        for _ in 0..count {
            let action = self.state.world().random_action(&mut rng);
            match action.map(|a| self.act(a)) {
                Some(Ok(outcome)) => {
                    report.applied += 1;
                    report.callbacks.extend(outcome.callbacks);
                }
                _ => report.refused += 1,
            }
        }
        report
    }

    /// The next `count` steps of the traffic generator, continuing where it stopped (its position
    /// is part of the saved world, so a restored simulator does not repeat itself). Step `n` is
    /// [`Simulator::random_actions`]`(1, seed + n)`.
    pub fn next_traffic(&self, count: usize, seed: u64) -> TrafficReport {
        let mut report = TrafficReport::default();
        for _ in 0..count {
            let step = self.state.traffic_steps.fetch_add(1, Ordering::SeqCst);
            let r = self.random_actions(1, seed.wrapping_add(step));
            report.applied += r.applied;
            report.refused += r.refused;
            report.callbacks.extend(r.callbacks);
        }
        report
    }

    /// Steps the traffic generator has taken.
    pub fn traffic_steps(&self) -> u64 {
        self.state.traffic_steps.load(Ordering::SeqCst)
    }

    /// Every add through a contact way so far, with its creation time in ms (the callback's
    /// `CreateTime` has whole seconds) and when its welcome code was used, oldest first: what a
    /// load test measures latency from.
    pub fn adds(&self) -> Vec<world::AddRecord> {
        let mut adds: Vec<world::AddRecord> = self
            .state
            .world()
            .welcome_codes
            .iter()
            .map(|(code, c)| world::AddRecord {
                welcome_code: code.clone(),
                external_userid: c.external_userid.clone(),
                userid: c.userid.clone(),
                created_at_ms: c.issued_at_ms,
                welcomed_at_ms: c.used_at_ms,
            })
            .collect();
        adds.sort_by(|a, b| (a.created_at_ms, &a.welcome_code).cmp(&(b.created_at_ms, &b.welcome_code)));
        adds
    }

    pub fn picture(&self) -> world::Picture {
        self.state.world().picture()
    }

    /// Changes the per-API calls-per-minute limit (load tests lift it above WeCom's 10,000).
    pub fn set_rate_limit(&self, calls_per_minute: u32) {
        *self.state.calls_per_minute.lock().unwrap_or_else(|e| e.into_inner()) = calls_per_minute;
    }

    pub fn configure_callbacks(&self, config: CallbackConfig) {
        self.state.pusher.configure(config);
    }

    pub fn inject(&self, fault: Fault) {
        let mut faults = self.state.faults.lock().unwrap_or_else(|e| e.into_inner());
        faults.entry(fault.path.clone()).or_default().push_back(fault);
    }

    /// Holds back the answers of the next calls of a path after they took effect.
    pub fn answer_late(&self, late: LateAnswer) {
        let mut queue = self.state.late.lock().unwrap_or_else(|e| e.into_inner());
        queue.entry(late.path.clone()).or_default().push_back(late);
    }

    /// Expires every issued token (the next call with one gets 42001).
    pub fn expire_tokens(&self) {
        let mut tokens = self.state.tokens.lock().unwrap_or_else(|e| e.into_inner());
        for t in tokens.values_mut() {
            t.expires_at_ms = 0;
        }
    }

    /// The simulator's time (epoch ms): the wall clock, or where tests stopped it, plus what they
    /// moved it by.
    pub fn now_ms(&self) -> i64 {
        self.state.world().now_ms()
    }

    /// Stops the simulator's clock at `at_ms`: it moves only by [`Simulator::advance_clock`].
    pub fn freeze_clock(&self, at_ms: i64) {
        let mut world = self.state.world();
        (world.frozen_at_ms, world.clock_offset_ms) = (Some(at_ms), 0);
    }

    /// Moves the simulator's clock forward (expires welcome codes, tokens, …).
    pub fn advance_clock(&self, by_ms: i64) {
        self.state.world().clock_offset_ms += by_ms.max(0);
    }

    /// Calls received per API path — every attempt, including refused and unanswered ones
    /// (counted when the request arrives).
    pub fn calls(&self) -> HashMap<String, u64> {
        self.state.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// The HTTP application: `/cgi-bin/...` and `/sim/...`.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/cgi-bin/media/uploadimg", axum::routing::post(sim_uploadimg))
            .route("/cgi-bin/{*path}", any(cgi_handler))
            .route("/sim/media/{file}", get(sim_media))
            .route("/sim/credentials", get(sim_credentials))
            .route("/sim/seed", post(sim_seed))
            .route("/sim/picture", get(sim_picture))
            .route("/sim/qr/{file}", get(sim_qr))
            .route("/sim/actions", post(sim_action))
            .route("/sim/traffic", post(sim_traffic))
            .route("/sim/faults", post(sim_fault).delete(sim_clear_faults))
            .route("/sim/late_answers", post(sim_late_answer))
            .route("/sim/tokens/expire", post(sim_expire_tokens))
            .route("/sim/clock", get(sim_clock_get))
            .route("/sim/clock/advance", post(sim_clock))
            .route("/sim/clock/freeze", post(sim_clock_freeze))
            .route("/sim/callback", get(sim_callback_get).put(sim_callback_put))
            .route("/sim/deliveries", get(sim_deliveries))
            .route("/sim/welcome_messages", get(sim_welcomes))
            .route("/sim/adds", get(sim_adds))
            .route("/sim/calls", get(sim_calls))
            .with_state(self.clone())
    }

    /// Serves the simulator on `listener` until the returned handle is aborted.
    pub fn serve(&self, listener: tokio::net::TcpListener) -> tokio::task::JoinHandle<()> {
        let app = self.router();
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "simulator server stopped");
            }
        })
    }

    /// Binds `addr` and serves; returns the bound address.
    pub async fn start(&self, addr: SocketAddr) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let bound = listener.local_addr()?;
        *self.state.public_base.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!("http://{bound}"));
        Ok((bound, self.serve(listener)))
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct TrafficReport {
    pub applied: usize,
    pub refused: usize,
    /// The callback XML each applied action queued, in order.
    #[serde(skip)]
    pub callbacks: Vec<String>,
}

/// Runs the traffic generator: `rate` actions per second for `duration`, from `seed`, continuing
/// from the simulator's traffic position ([`Simulator::next_traffic`]).
pub async fn generate_traffic(sim: &Simulator, rate: f64, duration: Duration, seed: u64) -> TrafficReport {
    let mut report = TrafficReport::default();
    if rate <= 0.0 {
        return report;
    }
    let interval = Duration::from_secs_f64(1.0 / rate);
    let start = tokio::time::Instant::now();
    let mut n = 0u64;
    while start.elapsed() < duration {
        let r = sim.next_traffic(1, seed);
        report.applied += r.applied;
        report.refused += r.refused;
        report.callbacks.extend(r.callbacks);
        n += 1;
        tokio::time::sleep_until(start + interval.mul_f64(n as f64)).await;
    }
    report
}

fn sim_error(status: StatusCode, e: &SimError) -> Response {
    (status, Json(cgi::error_body(e))).into_response()
}

/// GET /sim/qr/{config_id}.png: the QR image of a contact way the simulator handed out. It encodes
/// a `work.weixin.qq.com/ca/…` link, as WeCom's own contact-way QR codes do.
async fn sim_qr(State(sim): State<Simulator>, Path(file): Path<String>) -> Response {
    let Some(config_id) = file.strip_suffix(".png") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if !sim.state.world().contact_ways.contains_key(config_id) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let link = format!("https://work.weixin.qq.com/ca/cawcde{config_id}");
    let Ok(code) = qrcode::QrCode::new(link.as_bytes()) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let img = code.render::<image::Luma<u8>>().min_dimensions(430, 430).quiet_zone(true).build();
    let mut out = std::io::Cursor::new(Vec::new());
    match img.write_to(&mut out, image::ImageFormat::Png) {
        Ok(()) => ([(axum::http::header::CONTENT_TYPE, "image/png")], out.into_inner()).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn cgi_handler(
    State(sim): State<Simulator>,
    Path(path): Path<String>,
    method: Method,
    Query(query): Query<Vec<(String, String)>>,
    body: Bytes,
) -> Response {
    if let Ok(mut calls) = sim.state.calls.lock() {
        *calls.entry(path.clone()).or_default() += 1;
    }
    // Answered in a task of its own: like WeCom, a request that arrived is carried out even if the
    // caller goes away before the answer (a caller killed mid-call must find out what happened).
    let state = sim.state.clone();
    let result = tokio::spawn(async move { answer(&state, &path, &method, &query, &body).await })
        .await
        .unwrap_or_else(|_| Err(SimError::new(-1, "system busy")));
    match result {
        Ok(v) => Json(v).into_response(),
        Err(e) if e.errcode == 48001 => sim_error(StatusCode::NOT_FOUND, &e),
        Err(e) => Json(cgi::error_body(&e)).into_response(),
    }
}

async fn answer(
    state: &SimState,
    path: &str,
    method: &Method,
    query: &[(String, String)],
    body: &[u8],
) -> Result<Value, SimError> {
    // Injected faults come first, so even gettoken can be made to fail.
    let fault = {
        let mut faults = state.faults.lock().unwrap_or_else(|e| e.into_inner());
        let queue = faults.get_mut(path);
        let fault = queue.as_ref().and_then(|q| q.front().cloned());
        if let (Some(q), Some(_)) = (queue, &fault)
            && let Some(front) = q.front_mut()
        {
            front.count = front.count.saturating_sub(1);
            if front.count == 0 {
                q.pop_front();
            }
        }
        fault
    };
    match fault {
        Some(f) if f.applied => {
            let done = carry_out(state, path, method, query, body);
            if f.delay_ms > 0 {
                tokio::time::sleep(Duration::from_millis(f.delay_ms)).await;
            }
            return if f.errcode != 0 { Err(SimError::new(f.errcode, "injected fault")) } else { done };
        }
        Some(f) => {
            if f.delay_ms > 0 {
                tokio::time::sleep(Duration::from_millis(f.delay_ms)).await;
            }
            if f.errcode != 0 {
                return Err(SimError::new(f.errcode, "injected fault"));
            }
        }
        None => {}
    }
    let late_ms = {
        let mut late = state.late.lock().unwrap_or_else(|e| e.into_inner());
        let mut ms = 0;
        if let Some(q) = late.get_mut(path)
            && let Some(front) = q.front_mut()
        {
            ms = front.delay_ms;
            front.count = front.count.saturating_sub(1);
            if front.count == 0 {
                q.pop_front();
            }
        }
        ms
    };
    let answer = carry_out(state, path, method, query, body);
    if late_ms > 0 {
        tokio::time::sleep(Duration::from_millis(late_ms)).await;
    }
    answer
}

/// Answers a call as WeCom would, faults aside.
fn carry_out(
    state: &SimState,
    path: &str,
    method: &Method,
    query: &[(String, String)],
    body: &[u8],
) -> Result<Value, SimError> {
    if path == "gettoken" {
        return cgi::gettoken(state, query);
    }
    let scope = gate(state, path, query)?;
    let body: Value = if *method == Method::POST {
        if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(body).map_err(|_| SimError::new(47001, "data format error"))?
        }
    } else {
        Value::Null
    };
    cgi::dispatch(state, path, scope, query, &body)
}

/// The checks every authenticated call passes: its token, then the per-minute rate limit.
fn gate(state: &SimState, path: &str, query: &[(String, String)]) -> Result<Scope, SimError> {
    let scope: Scope = cgi::check_token(state, query)?;
    {
        let limit = *state.calls_per_minute.lock().unwrap_or_else(|e| e.into_inner());
        let minute = state.world().now_ms() / 60_000;
        let mut rate = state.rate.lock().unwrap_or_else(|e| e.into_inner());
        let entry = rate.entry(path.to_owned()).or_insert((minute, 0));
        if entry.0 != minute {
            *entry = (minute, 0);
        }
        entry.1 += 1;
        if entry.1 > limit {
            return Err(SimError::new(45009, "api freq out of limit"));
        }
    }
    Ok(scope)
}

/// POST /cgi-bin/media/uploadimg: an image for messages, as WeCom takes it — multipart field
/// `media`, JPG or PNG, 5 B to 2 MB — answered with a URL that never expires. The simulator keeps
/// the bytes and serves them at that URL (`/sim/media/…`), so uploaded images show offline.
async fn sim_uploadimg(
    State(sim): State<Simulator>,
    Query(query): Query<Vec<(String, String)>>,
    multipart: Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let state = &sim.state;
    if let Ok(mut calls) = state.calls.lock() {
        *calls.entry("media/uploadimg".to_owned()).or_default() += 1;
    }
    let result = async {
        gate(state, "media/uploadimg", &query)?;
        let mut multipart = multipart.map_err(|_| SimError::new(41005, "media data missing"))?;
        let mut file = None;
        while let Ok(Some(field)) = multipart.next_field().await {
            if field.name() == Some("media") {
                let bytes = field.bytes().await.map_err(|_| SimError::new(41005, "media data missing"))?;
                file = Some(bytes);
            }
        }
        let bytes = file.ok_or_else(|| SimError::new(41005, "media data missing"))?;
        if bytes.len() < 5 || bytes.len() > 2 * 1024 * 1024 {
            return Err(SimError::new(40006, "invalid file size"));
        }
        let ext = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            "png"
        } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
            "jpg"
        } else {
            return Err(SimError::new(40005, "invalid file type"));
        };
        let id = format!("{:032x}", state.rng().random::<u128>());
        let url = state.media_url(&id, ext);
        state.media.lock().unwrap_or_else(|e| e.into_inner()).insert(format!("{id}.{ext}"), bytes.to_vec());
        Ok(serde_json::json!({"errcode": 0, "errmsg": "ok", "url": url}))
    }
    .await;
    match result {
        Ok(v) => Json(v).into_response(),
        Err(e) => Json(cgi::error_body(&e)).into_response(),
    }
}

/// GET /sim/media/{file}: an image uploaded with `media/uploadimg`.
async fn sim_media(State(sim): State<Simulator>, Path(file): Path<String>) -> Response {
    let media = sim.state.media.lock().unwrap_or_else(|e| e.into_inner());
    match media.get(&file) {
        Some(bytes) => {
            let content_type = if file.ends_with(".png") { "image/png" } else { "image/jpeg" };
            ([(axum::http::header::CONTENT_TYPE, content_type)], bytes.clone()).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn sim_credentials(State(sim): State<Simulator>) -> Json<Credentials> {
    Json(sim.credentials())
}

async fn sim_seed(State(sim): State<Simulator>, body: Bytes) -> Response {
    let scenario: Scenario = if body.is_empty() {
        Scenario::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(s) => s,
            Err(e) => {
                return sim_error(StatusCode::BAD_REQUEST, &SimError::new(40058, e.to_string()));
            }
        }
    };
    sim.state.world().seed(&scenario);
    *sim.state.rng() = ChaCha12Rng::seed_from_u64(scenario.seed.wrapping_add(1));
    sim.state.traffic_steps.store(0, Ordering::SeqCst);
    let w = sim.state.world();
    Json(json!({"departments": w.departments.len(), "staff": w.users.len(), "customers": w.customers.len(), "groups": w.groups.len(), "tags": w.tags.len()})).into_response()
}

async fn sim_picture(State(sim): State<Simulator>) -> Json<world::Picture> {
    Json(sim.picture())
}

async fn sim_action(State(sim): State<Simulator>, body: Bytes) -> Response {
    let action: Action = match serde_json::from_slice(&body) {
        Ok(a) => a,
        Err(e) => {
            return sim_error(StatusCode::BAD_REQUEST, &SimError::new(40058, e.to_string()));
        }
    };
    match sim.act(action) {
        Ok(outcome) => Json(outcome).into_response(),
        Err(e) => sim_error(StatusCode::UNPROCESSABLE_ENTITY, &e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrafficRequest {
    count: usize,
    #[serde(default)]
    seed: u64,
}

async fn sim_traffic(State(sim): State<Simulator>, body: Bytes) -> Response {
    match serde_json::from_slice::<TrafficRequest>(&body) {
        Ok(req) if req.count <= 100_000 => Json(sim.random_actions(req.count, req.seed)).into_response(),
        Ok(_) => sim_error(StatusCode::BAD_REQUEST, &SimError::new(40058, "count must be at most 100000")),
        Err(e) => sim_error(StatusCode::BAD_REQUEST, &SimError::new(40058, e.to_string())),
    }
}

async fn sim_fault(State(sim): State<Simulator>, body: Bytes) -> Response {
    match serde_json::from_slice::<Fault>(&body) {
        Ok(f) => {
            sim.inject(f);
            Json(json!({"ok": true})).into_response()
        }
        Err(e) => sim_error(StatusCode::BAD_REQUEST, &SimError::new(40058, e.to_string())),
    }
}

async fn sim_late_answer(State(sim): State<Simulator>, body: Bytes) -> Response {
    match serde_json::from_slice::<LateAnswer>(&body) {
        Ok(late) => {
            sim.answer_late(late);
            Json(json!({"ok": true})).into_response()
        }
        Err(e) => sim_error(StatusCode::BAD_REQUEST, &SimError::new(40058, e.to_string())),
    }
}

async fn sim_clear_faults(State(sim): State<Simulator>) -> Json<Value> {
    sim.state.faults.lock().unwrap_or_else(|e| e.into_inner()).clear();
    sim.state.late.lock().unwrap_or_else(|e| e.into_inner()).clear();
    Json(json!({"ok": true}))
}

async fn sim_expire_tokens(State(sim): State<Simulator>) -> Json<Value> {
    sim.expire_tokens();
    Json(json!({"ok": true}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    ms: i64,
}

async fn sim_clock(State(sim): State<Simulator>, body: Bytes) -> Response {
    match serde_json::from_slice::<Advance>(&body) {
        Ok(a) if a.ms >= 0 => {
            let mut w = sim.state.world();
            w.clock_offset_ms += a.ms;
            Json(json!({"clock_offset_ms": w.clock_offset_ms})).into_response()
        }
        _ => sim_error(StatusCode::BAD_REQUEST, &SimError::new(40058, "body must be {\"ms\": <non-negative>}")),
    }
}

async fn sim_clock_get(State(sim): State<Simulator>) -> Json<Value> {
    let w = sim.state.world();
    Json(json!({"now_ms": w.now_ms(), "frozen": w.frozen_at_ms.is_some(), "clock_offset_ms": w.clock_offset_ms}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Freeze {
    /// Where to stop the clock (epoch ms); `null` lets it follow the wall clock again.
    at_ms: Option<i64>,
}

/// POST /sim/clock/freeze `{"at_ms": …}`: stops the clock there (or restarts it with `null`).
async fn sim_clock_freeze(State(sim): State<Simulator>, body: Bytes) -> Response {
    match serde_json::from_slice::<Freeze>(&body) {
        Ok(Freeze { at_ms: Some(at) }) => {
            sim.freeze_clock(at);
            sim_clock_get(State(sim)).await.into_response()
        }
        Ok(Freeze { at_ms: None }) => {
            {
                let mut w = sim.state.world();
                (w.frozen_at_ms, w.clock_offset_ms) = (None, 0);
            }
            sim_clock_get(State(sim)).await.into_response()
        }
        Err(_) => {
            sim_error(StatusCode::BAD_REQUEST, &SimError::new(40058, "body must be {\"at_ms\": <epoch ms or null>}"))
        }
    }
}

async fn sim_callback_get(State(sim): State<Simulator>) -> Json<CallbackConfig> {
    Json(sim.state.pusher.config())
}

async fn sim_callback_put(State(sim): State<Simulator>, body: Bytes) -> Response {
    match serde_json::from_slice::<CallbackConfig>(&body) {
        Ok(c) => {
            sim.configure_callbacks(c);
            Json(json!({"ok": true})).into_response()
        }
        Err(e) => sim_error(StatusCode::BAD_REQUEST, &SimError::new(40058, e.to_string())),
    }
}

async fn sim_deliveries(State(sim): State<Simulator>) -> Json<callbacks::DeliveryStats> {
    Json(sim.state.pusher.stats())
}

async fn sim_welcomes(State(sim): State<Simulator>) -> Json<Vec<world::SentWelcome>> {
    Json(sim.state.world().welcomes_sent.clone())
}

async fn sim_adds(State(sim): State<Simulator>) -> Json<Vec<world::AddRecord>> {
    Json(sim.adds())
}

async fn sim_calls(State(sim): State<Simulator>) -> Json<HashMap<String, u64>> {
    Json(sim.calls())
}
