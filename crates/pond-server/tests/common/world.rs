//! Pond and the WeCom simulator started together, talking over real HTTP, their clocks stopped at
//! the same instant (tests move both: [`Setup::advance_clocks`]).

use std::time::Duration;

use pond_app::{App as AppState, Config};
use pond_core::Secret;
use pond_server::Running;
use pond_store::Db;
use wecom_sim::{SimConfig, Simulator, callbacks::CallbackConfig, world::Scenario};

pub struct Setup {
    pub sim: Simulator,
    pub pond: Running,
    pub corp_id: i64,
    pub sim_url: String,
}

impl Setup {
    /// Moves the simulator's clock and Pond's forward together (both stand still otherwise).
    pub fn advance_clocks(&self, by: Duration) {
        self.sim.advance_clock(i64::try_from(by.as_millis()).unwrap_or(i64::MAX));
        self.pond.app.clock.advance(by);
    }
}

pub fn scenario() -> Scenario {
    Scenario { seed: 11, stores: 4, staff_per_store: 4, customers: 300, groups: 6, history_days: 0 }
}

/// A simulator and a corp of `db` connected to it, before any Pond runs (callbacks wait until
/// they are given a URL).
pub struct Connected {
    pub sim: Simulator,
    pub sim_url: String,
    pub corp_id: i64,
    /// Pond's configuration for this test; its secret key opens the corp's sealed secrets, so every
    /// instance of the test uses it.
    pub config: Config,
    /// Where the simulator's clock was stopped, and where each Pond's starts stopped: the same
    /// instant, so that WeCom's deadlines (the welcome code's 20 s) pass only when a test moves
    /// both clocks, however slowly the machine runs the test.
    pub clock_at_ms: i64,
}

/// The configuration tests start Pond with (jobs polled every 50 ms, a key for the WeCom secrets).
pub fn test_config() -> Config {
    let mut config = Config::default();
    config.jobs.poll_interval_ms = 50;
    config.security.secret_key = pond_app::secrets::new_key();
    config
}

/// [`connect_with`] the test configuration.
pub async fn connect(db: &Db) -> Connected {
    connect_with(db, test_config()).await
}

/// Another Pond on the same database (and corp), as a second instance or a restart would be, its
/// clock stopped at `clock_at_ms` (where the simulator's is).
pub async fn start_instance(db: &Db, config: Config, clock_at_ms: i64) -> Running {
    start_pond_at(db.clone(), config, clock_at_ms, pond_app::features()).await
}

/// A corp's WeCom settings for the simulator's credentials, its API at `api_base_url`.
pub fn sim_settings(sim: &Simulator, api_base_url: &str) -> pond_store::corp::WecomSettings {
    let creds = sim.credentials();
    pond_store::corp::WecomSettings {
        name: "模拟咖啡".into(),
        wecom_corp_id: Some(creds.corp_id.clone()),
        agent_id: Some(creds.agent_id),
        contact_secret: Some(Secret::new(creds.contact_secret.clone())),
        app_secret: Some(Secret::new(creds.app_secret.clone())),
        callback_token: Some(Secret::new(creds.callback_token.clone())),
        encoding_aes_key: Some(Secret::new(creds.encoding_aes_key.clone())),
        api_base_url: api_base_url.to_owned(),
    }
}

/// Seeds a simulator (its clock stopped at this whole second: callbacks carry seconds) and stores
/// its credentials as a corp's settings, sealed as Pond seals them; Pond is to run with `config`.
pub async fn connect_with(db: &Db, config: Config) -> Connected {
    let sim = Simulator::new(SimConfig { scenario: Some(scenario()), ..SimConfig::default() }).expect("sim");
    let clock_at_ms = pond_store::now_ms() / 1000 * 1000;
    sim.freeze_clock(clock_at_ms);
    let (sim_addr, _) = sim.start("127.0.0.1:0".parse().unwrap()).await.expect("sim bind");
    let corp = pond_store::corp::create(db, "模拟咖啡").await.unwrap();
    let settings = sim_settings(&sim, &format!("http://{sim_addr}"));
    // Stored as Pond stores them: sealed (so every end-to-end test reads them through the key).
    let sealing = AppState::new(db.clone(), config.clone());
    pond_app::secrets::store_settings(&sealing, db, corp.id, &settings).await.unwrap();
    assert!(pond_store::corp::get(db, corp.id).await.unwrap().app_secret.expose().starts_with("pond:v1:"));
    Connected { sim, sim_url: format!("http://{sim_addr}"), corp_id: corp.id, config, clock_at_ms }
}

/// Starts a Pond instance over `db` (workers included), its clock stopped where the simulator's is.
pub async fn start_pond(
    db: Db,
    c: &Connected,
    features: Vec<std::sync::Arc<dyn pond_app::feature::Feature>>,
) -> Running {
    start_pond_at(db, c.config.clone(), c.clock_at_ms, features).await
}

/// [`start_pond`] from the parts of a [`Connected`] (for a Pond started on another runtime).
pub async fn start_pond_at(
    db: Db,
    config: Config,
    clock_at_ms: i64,
    features: Vec<std::sync::Arc<dyn pond_app::feature::Feature>>,
) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let state = AppState::with_features(db, config, features);
    state.clock.set(clock_at_ms);
    pond_server::start(state.clone(), listener, pond_app::pipeline::default_registry(&state), false).await.unwrap()
}

/// The simulator's callbacks to this Pond, one at a time, each twice when `duplicate`.
pub fn callbacks_to(addr: std::net::SocketAddr, corp_id: i64, duplicate: bool) -> CallbackConfig {
    CallbackConfig {
        url: Some(format!("http://{addr}/wecom/callback/{corp_id}")),
        duplicate,
        retry_delay_ms: 50,
        concurrency: 1,
    }
}

pub async fn setup(db: Db, duplicate: bool) -> Setup {
    setup_with(db, duplicate, pond_app::features()).await
}

/// [`setup`] with these feature areas.
pub async fn setup_with(
    db: Db,
    duplicate: bool,
    features: Vec<std::sync::Arc<dyn pond_app::feature::Feature>>,
) -> Setup {
    setup_configured(db, duplicate, features, test_config()).await
}

/// [`setup_with`] with this configuration.
pub async fn setup_configured(
    db: Db,
    duplicate: bool,
    features: Vec<std::sync::Arc<dyn pond_app::feature::Feature>>,
    config: Config,
) -> Setup {
    let c = connect_with(&db, config).await;
    let pond = start_pond(db, &c, features).await;
    c.sim.configure_callbacks(callbacks_to(pond.addr, c.corp_id, duplicate));
    Setup { sim: c.sim, pond, corp_id: c.corp_id, sim_url: c.sim_url }
}

/// Waits until the simulator has delivered every callback and Pond has applied every event.
pub async fn settle(s: &Setup) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
    loop {
        s.sim.state.pusher.idle().await;
        let unfinished = pond_store::inbox::unfinished(&s.pond.app.db).await.unwrap();
        if unfinished == 0 && s.sim.state.pusher.queued() == 0 {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "events still unapplied: {unfinished}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A console login over HTTP: creates an admin and returns (session cookie, CSRF token).
pub async fn console_login(s: &Setup, email: &str) -> (String, String) {
    console_login_as(s, email, pond_core::Role::Admin).await
}

/// [`console_login`] with another role.
pub async fn console_login_as(s: &Setup, email: &str, role: pond_core::Role) -> (String, String) {
    let base = format!("http://{}", s.pond.addr);
    let hash = pond_app::auth::hash_password("pond-test-password").unwrap();
    pond_store::user::create(&s.pond.app.db, s.corp_id, email, &hash, role).await.unwrap();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let form = http.get(format!("{base}/login")).send().await.unwrap();
    let login_cookie =
        form.headers().get("set-cookie").unwrap().to_str().unwrap().split(';').next().unwrap().to_owned();
    let csrf = login_cookie.split_once('=').unwrap().1.to_owned();
    let login = http
        .post(format!("{base}/login"))
        .header("cookie", &login_cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("_csrf={csrf}&email={}&password=pond-test-password", email.replace('@', "%40")))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 303);
    let session = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("pond_session="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let page = http
        .get(format!("{base}/console/account"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = page.split("name=\"_csrf\" value=\"").nth(1).and_then(|r| r.split('"').next()).unwrap().to_owned();
    (session, csrf)
}
