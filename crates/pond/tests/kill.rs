//! Pond killed with SIGKILL under traffic, several times, and started again on the same database
//! and port: every customer who added an employee is welcomed exactly once (counted in the
//! simulator, per welcome code), every callback is applied, and Pond's picture of the corp equals
//! the simulator's. On SQLite, and on PostgreSQL when `POND_TEST_DATABASE_URL` is set.
//!
//! Pond runs as a child process (`pond serve` from this build); the simulator runs in the test and
//! retries a callback delivery that fails (as WeCom does) long enough to outlast a restart.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::TcpListener,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use pond_app::{App, Config, auth::Actor};
use pond_core::{Role, Secret};
use pond_store::{Db, testing::TestDb};
use rand::{Rng, SeedableRng};
use serde_json::Value;
use wecom_sim::{
    SimConfig, Simulator,
    callbacks::CallbackConfig,
    world::{Action, Scenario},
};

/// How many times Pond is killed.
const KILLS: usize = 4;
/// New customers per second while Pond runs.
const ADDS_PER_SECOND: u64 = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    let t = TestDb::sqlite().await;
    killed_pond_welcomes_everyone_once(&t).await;
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    if let Some(t) = TestDb::postgres().await {
        killed_pond_welcomes_everyone_once(&t).await;
        t.cleanup().await;
    }
}

struct Pond {
    child: Option<Child>,
    port: u16,
    env: Vec<(&'static str, String)>,
    log: std::path::PathBuf,
}

impl Pond {
    fn start(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).expect("pond log");
        let err = log.try_clone().expect("pond log");
        let child = Command::new(env!("CARGO_BIN_EXE_pond"))
            .arg("serve")
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .expect("start pond serve");
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL pond"); // std's kill is SIGKILL on Unix
            let _ = child.wait();
        }
    }

    async fn wait_ready(&self, http: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if http.get(format!("http://127.0.0.1:{}/healthz", self.port)).send().await.is_ok_and(|r| r.status() == 200)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("pond did not start; its log:\n{}", std::fs::read_to_string(&self.log).unwrap_or_default());
    }
}

impl Drop for Pond {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// The corp, its WeCom settings pointing at the simulator, a default welcome message, a full sync
/// and an API token — made in the test's own process before Pond starts. Returns (corp id, token).
async fn prepare(db: &Db, key: &str, sim: &Simulator, sim_url: &str) -> (i64, String) {
    let mut config = Config::default();
    config.security.secret_key = key.to_owned();
    let app = App::new(db.clone(), config);
    let creds = sim.credentials();
    let corp = pond_store::corp::create(db, "杀进程测试").await.expect("corp");
    let settings = pond_store::corp::WecomSettings {
        name: "杀进程测试".into(),
        wecom_corp_id: Some(creds.corp_id.clone()),
        agent_id: Some(creds.agent_id),
        contact_secret: Some(Secret::new(creds.contact_secret.clone())),
        app_secret: Some(Secret::new(creds.app_secret.clone())),
        callback_token: Some(Secret::new(creds.callback_token.clone())),
        encoding_aes_key: Some(Secret::new(creds.encoding_aes_key.clone())),
        api_base_url: sim_url.to_owned(),
    };
    pond_app::secrets::store_settings(&app, db, corp.id, &settings).await.expect("settings");
    pond_store::welcome::create(db, corp.id, "默认", "{customer_name}您好，我是{staff_name}", "[]", true)
        .await
        .expect("welcome message");
    pond_app::sync::run_full_sync(&app, corp.id, "test").await.expect("full sync");
    let (token, _) = pond_app::admin::create_token(&app, &Actor::system("test"), corp.id, "kill", Role::ReadOnly)
        .await
        .expect("token");
    (corp.id, token)
}

async fn killed_pond_welcomes_everyone_once(t: &TestDb) {
    let scenario = Scenario { seed: 23, stores: 3, staff_per_store: 3, customers: 60, groups: 0, history_days: 0 };
    let sim = Simulator::new(SimConfig { scenario: Some(scenario), ..SimConfig::default() }).expect("sim");
    let (sim_addr, _) = sim.start("127.0.0.1:0".parse().expect("address")).await.expect("sim bind");
    let sim_url = format!("http://{sim_addr}");
    t.db.migrate().await.expect("migrate");
    let key = pond_app::secrets::new_key();
    let (corp_id, token) = prepare(&t.db, &key, &sim, &sim_url).await;

    let data = tempdir();
    let port = free_port();
    let mut pond = Pond {
        child: None,
        port,
        env: vec![
            ("POND_DATABASE_URL", t.url.clone()),
            ("POND_DATA_DIR", data.display().to_string()),
            ("POND_LISTEN", format!("127.0.0.1:{port}")),
            ("POND_SECURITY__SECRET_KEY", key),
            ("POND_INSTANCE_ID", "kill-test".into()),
            ("POND_JOBS__POLL_INTERVAL_MS", "50".into()),
            ("POND_LOG", "warn".into()),
        ],
        log: data.join("pond.log"),
    };
    // WeCom's answers take a while, so that kills land while calls are in flight: a welcome WeCom
    // carried out for a Pond that died before recording it must be found out, not sent again.
    for (path, delay_ms) in [("externalcontact/get", 150), ("externalcontact/send_welcome_msg", 250)] {
        sim.inject(wecom_sim::world::Fault { path: path.into(), count: u32::MAX, delay_ms, ..Default::default() });
    }
    let http = reqwest::Client::new();
    pond.start();
    pond.wait_ready(&http).await;
    // Deliveries that fail (Pond is down) are retried 3 times, 2 s apart: a restart takes well
    // under that, so no callback is given up.
    sim.configure_callbacks(CallbackConfig {
        url: Some(format!("http://127.0.0.1:{port}/wecom/callback/{corp_id}")),
        duplicate: false,
        retry_delay_ms: 2_000,
        concurrency: 4,
    });

    let mut rng = rand::rngs::StdRng::seed_from_u64(rand::rng().random());
    let stores: Vec<String> = (1..=3).map(|n| format!("store-{n:03}")).collect();
    let mut added: BTreeMap<String, String> = BTreeMap::new(); // customer → welcome code
    let mut edits = 0;
    for round in 0..=KILLS {
        // Traffic for a random while, then (but for the last round) SIGKILL and a restart.
        let run_for = Duration::from_millis(rng.random_range(300..1_500));
        let until = Instant::now() + run_for;
        while Instant::now() < until {
            let state = stores[rng.random_range(0..stores.len())].clone();
            let scanned = sim
                .act(Action::Scan { config_id: None, state: Some(state), external_userid: None, name: None })
                .expect("scan");
            let (customer, code) = (scanned.created.expect("new customer"), scanned.welcome_code.expect("code"));
            added.insert(customer.clone(), code);
            if rng.random_bool(0.3) {
                let userid = scanned.userid.expect("employee");
                sim.act(Action::StaffEditsCustomer {
                    userid,
                    external_userid: customer,
                    remark: Some(format!("改{edits}")),
                    add_tags: vec![],
                    remove_tags: vec![],
                })
                .expect("edit");
                edits += 1;
            }
            tokio::time::sleep(Duration::from_millis(1_000 / ADDS_PER_SECOND)).await;
        }
        if round < KILLS {
            pond.kill();
            pond.start();
            pond.wait_ready(&http).await;
        }
    }
    settle(&sim, &t.db).await;

    let deliveries = sim.state.pusher.stats();
    assert_eq!(deliveries.failed, 0, "every callback delivered (none given up): {deliveries:?}");

    // Welcomed exactly once: one accepted send per customer, and a second call for a code only
    // where Pond had to ask after a crash — recorded as confirmed by WeCom.
    let world = sim.state.world().clone();
    let mut confirmed = 0;
    for (customer, code) in &added {
        let sent = world.welcomes_sent.iter().filter(|w| &w.external_userid == customer).count();
        assert_eq!(sent, 1, "customer {customer} welcomed once");
        let attempts = world.welcome_codes[code].send_attempts;
        let detail: Value = http
            .get(format!("http://127.0.0.1:{port}/api/v1/customers/{customer}"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("customer detail")
            .json()
            .await
            .expect("json");
        let results = detail["welcome_results"].as_array().cloned().unwrap_or_default();
        assert_eq!(results.len(), 1, "one welcome outcome recorded for {customer}: {detail}");
        assert_eq!(results[0]["status"], "sent", "{customer}: {detail}");
        let reason = results[0]["reason"].as_str().unwrap_or_default();
        if attempts == 1 {
            assert_eq!(reason, "", "{customer}: a single call is a plain send");
        } else {
            assert!(reason.starts_with("confirmed by WeCom"), "{customer}: {attempts} calls, recorded {reason:?}");
            confirmed += 1;
        }
    }
    assert_eq!(world.welcomes_sent.len(), added.len(), "no welcome for anyone else");
    eprintln!(
        "{} customers added, {edits} edits, {KILLS} kills; {confirmed} welcomes confirmed by WeCom after a crash",
        added.len()
    );

    // Pond's picture equals the simulator's: every customer and follow relation, with remarks.
    let pond_follows: BTreeSet<(String, String, String)> = pond_store::customer::all_live_follows(&t.db, corp_id)
        .await
        .expect("follows")
        .into_iter()
        .map(|f| (f.external_userid, f.userid, f.remark))
        .collect();
    let wecom_follows: BTreeSet<(String, String, String)> =
        world.follows.iter().map(|((e, u), f)| (e.clone(), u.clone(), f.remark.clone())).collect();
    let missing: Vec<_> = wecom_follows.difference(&pond_follows).take(3).collect();
    let extra: Vec<_> = pond_follows.difference(&wecom_follows).take(3).collect();
    assert!(missing.is_empty() && extra.is_empty(), "follows differ: missing {missing:?}, extra {extra:?}");
    let customers: BTreeSet<String> = pond_store::customer::all_live(&t.db, corp_id)
        .await
        .expect("customers")
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(customers, world.customers.keys().cloned().collect::<BTreeSet<_>>(), "customers");
    // What a killed instance held was taken back at once by its restart, not left to its leases.
    drop(pond);
    let log = std::fs::read_to_string(data.join("pond.log")).unwrap_or_default();
    assert!(log.contains("took back what this instance held"), "a restart reclaimed its events; log:\n{log}");
    let _ = std::fs::remove_dir_all(&data);
}

/// Waits until the simulator has delivered every callback and Pond has applied every event and
/// run every job.
async fn settle(sim: &Simulator, db: &Db) {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        sim.state.pusher.idle().await;
        let unfinished = pond_store::inbox::unfinished(db).await.expect("inbox");
        let jobs = pond_store::jobs::counts_by_status(db).await.expect("jobs");
        let busy = jobs.iter().any(|(s, n)| (s == "pending" || s == "running") && *n > 0);
        if unfinished == 0 && !busy && sim.state.pusher.queued() == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "not settled: {unfinished} events, jobs {jobs:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn tempdir() -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("pond-kill-{}-{:08x}", std::process::id(), rand::rng().random::<u32>()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    assert!(Path::new(&dir).is_dir());
    dir
}
