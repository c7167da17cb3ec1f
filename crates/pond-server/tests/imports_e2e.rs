//! Background imports end to end, Pond and the simulator over HTTP, on both databases: a big
//! code import answered at once and finished in the background past the request timeout, with
//! its progress visible and nothing shown before it commits; WeCom refusing a contact way midway
//! leaves no code and no contact way; a Pond killed mid-import is taken over by another instance
//! on the same database, which either finishes it with exactly one contact way per code or, when
//! WeCom then refuses, removes everything — the contact way WeCom made without Pond hearing of it
//! included. Each import is audited once when it starts and once when it ends.

mod common;

use std::{collections::BTreeMap, time::Duration};

use common::world::{Setup, console_login, setup_configured, start_instance, test_config};
use pond_store::{Db, test_on_both_backends};
use serde_json::Value;
use wecom_sim::{Simulator, world::Fault};

test_on_both_backends!(
    a_big_import_runs_in_the_background_past_the_request_timeout,
    wecom_refusing_a_contact_way_midway_leaves_nothing,
    a_pond_killed_mid_import_is_finished_by_another_instance,
    a_pond_killed_mid_import_then_refused_leaves_nothing,
);

const ADD_WAY: &str = "externalcontact/add_contact_way";
const DEL_WAY: &str = "externalcontact/del_contact_way";

struct Api {
    http: reqwest::Client,
    base: String,
    bearer: String,
}

impl Api {
    async fn new(s: &Setup, addr: std::net::SocketAddr) -> Api {
        Api::on(&s.pond.app.db, s.corp_id, addr).await
    }

    async fn on(db: &Db, corp_id: i64, addr: std::net::SocketAddr) -> Api {
        let (token, hash, prefix) = pond_app::auth::new_api_token();
        pond_store::token::create(db, corp_id, "t", &hash, &prefix, "test", "admin").await.unwrap();
        Api { http: reqwest::Client::new(), base: format!("http://{addr}"), bearer: format!("Bearer {token}") }
    }

    async fn get(&self, path: &str) -> Value {
        let r = self.http.get(format!("{}{path}", self.base)).header("authorization", &self.bearer).send().await;
        let r = r.unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap()
    }

    /// Uploads a code CSV: (status, body).
    async fn upload(&self, csv: String) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/api/v1/channel-codes/import", self.base))
            .header("authorization", &self.bearer)
            .header("content-type", "text/csv")
            .body(csv)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn import(&self, id: i64) -> Value {
        self.get(&format!("/api/v1/imports/{id}")).await
    }

    /// Polls the import until it ends, checking at every look that nothing it makes is visible
    /// before it is done; returns every state seen and the last one.
    async fn follow(&self, id: i64, prefix: &str) -> (Vec<Value>, Value) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
        let mut seen = Vec::new();
        loop {
            let codes = self.get("/api/v1/channel-codes").await;
            let import = self.import(id).await;
            if import["status"] != "done" {
                // The import had not committed when the list was read.
                let shown =
                    codes.as_array().unwrap().iter().filter(|c| c["state"].as_str().unwrap().starts_with(prefix));
                assert_eq!(shown.count(), 0, "codes of an unfinished import are listed: {import}");
            }
            seen.push(import.clone());
            if import["status"] == "done" || import["status"] == "failed" {
                return (seen, import);
            }
            assert!(tokio::time::Instant::now() < deadline, "the import is still unfinished: {import}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The audit entries about one import: (action, actor, detail), oldest first.
    async fn audited(&self, id: i64) -> Vec<(String, String, String)> {
        let page = self.get(&format!("/api/v1/audit?q=import:{id}&per_page=200")).await;
        let mut entries: Vec<(String, String, String)> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["target"] == format!("import:{id}"))
            .map(|e| {
                let text = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
                (text("action"), text("actor"), text("detail"))
            })
            .collect();
        entries.reverse();
        entries
    }
}

/// A code CSV: `native` WeCom codes then `landing` ones, states `{prefix}-00000`….
fn codes_csv(prefix: &str, native: usize, landing: usize) -> String {
    let mut csv =
        String::from("name,channel_group,mode,strategy,state,staff,daily_cap,auto_tags,welcome_id,remark_prefix\n");
    for i in 0..native + landing {
        let (mode, strategy) = if i < native { ("native", "round_robin") } else { ("landing", "random") };
        csv.push_str(&format!("导入{i},批量,{mode},{strategy},{prefix}-{i:05},s001e01|s002e01,,,,\n"));
    }
    csv
}

/// The simulator's contact ways whose state starts with `prefix`: state → config ids.
fn ways(sim: &Simulator, prefix: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (id, way) in &sim.state.world().contact_ways {
        if way.state.starts_with(prefix) {
            out.entry(way.state.clone()).or_default().push(id.clone());
        }
    }
    out
}

fn calls(sim: &Simulator, path: &str) -> u64 {
    sim.calls().get(path).copied().unwrap_or(0)
}

fn fault(errcode: i64, count: u32, delay_ms: u64, applied: bool) -> Fault {
    Fault { path: ADD_WAY.into(), errcode, count, delay_ms, applied }
}

/// Every imported native code holds exactly one contact way in WeCom: the one Pond shows.
async fn assert_one_way_per_code(api: &Api, sim: &Simulator, prefix: &str, native: usize) {
    let ways = ways(sim, prefix);
    assert_eq!(ways.len(), native, "one contact way per native code");
    let codes = api.get("/api/v1/channel-codes").await;
    for code in codes.as_array().unwrap().iter().filter(|c| c["mode"] == "native") {
        let state = code["state"].as_str().unwrap();
        let held = ways.get(state).unwrap_or_else(|| panic!("no contact way for {state}"));
        assert_eq!(held.len(), 1, "{state} has {held:?} in WeCom");
        assert!(code["qr_code"].as_str().unwrap().contains(&held[0]), "{state} shows WeCom's contact way: {code}");
    }
}

async fn a_big_import_runs_in_the_background_past_the_request_timeout(db: Db) {
    const NATIVE: usize = 2_400;
    const LANDING: usize = 600;
    let mut config = test_config();
    config.http.request_timeout_secs = 3;
    let s = setup_configured(db, false, pond_app::features(), config).await;
    pond_app::sync::run_full_sync(&s.pond.app, s.corp_id, "test").await.unwrap();
    let api = Api::new(&s, s.pond.addr).await;
    // The first contact way takes 4 s, longer than a whole request may; later, WeCom carries one
    // out but answers "busy", so the client's retry makes a second contact way for that code.
    s.sim.inject(fault(0, 1, 4_000, false));
    s.sim.inject(fault(0, 500, 0, false));
    s.sim.inject(fault(-1, 1, 0, true));
    let (status, started) = api.upload(codes_csv("big", NATIVE, LANDING)).await;
    assert_eq!(status, 202, "{started}");
    assert_eq!((started["status"].as_str(), started["total"].as_i64()), (Some("queued"), Some(3_000)), "{started}");
    let id = started["id"].as_i64().unwrap();

    // Its progress page refreshes itself while it runs.
    let (session, _) = console_login(&s, "imports@example.com").await;
    let page = |lang: &'static str| {
        let (http, url, cookie) =
            (api.http.clone(), format!("{}/console/imports/{id}", api.base), format!("{session}; pond_lang={lang}"));
        async move { http.get(url).header("cookie", cookie).send().await.unwrap().text().await.unwrap() }
    };
    let running = page("en").await;
    assert!(running.contains("http-equiv=\"refresh\"") && running.contains("<progress"), "{running}");

    let (seen, done) = api.follow(id, "big-").await;
    assert!(seen[0]["status"] != "done", "the upload was answered before the work: {:?}", seen[0]);
    let progress: Vec<i64> = seen.iter().map(|i| i["done"].as_i64().unwrap()).collect();
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "progress only grows: {progress:?}");
    assert_eq!((done["status"].as_str(), done["done"].as_i64()), (Some("done"), Some(3_000)), "{done}");
    let took = done["finished_at"].as_i64().unwrap() - done["created_at"].as_i64().unwrap();
    assert!(took >= 3_000, "it outlasted the 3 s request timeout ({took} ms) and still finished");

    let codes = api.get("/api/v1/channel-codes").await;
    assert_eq!(codes.as_array().unwrap().len(), NATIVE + LANDING);
    assert_one_way_per_code(&api, &s.sim, "big-", NATIVE).await;
    assert_eq!(calls(&s.sim, ADD_WAY), NATIVE as u64 + 1, "one retry: the call answered 'busy'");
    assert_eq!(calls(&s.sim, DEL_WAY), 1, "the contact way WeCom made for the busy answer is deleted");

    let audited = api.audited(id).await;
    let actions: Vec<&str> = audited.iter().map(|(a, _, _)| a.as_str()).collect();
    assert_eq!(actions, ["import.start", "import.done"], "{audited:?}");
    assert!(audited.iter().all(|(_, actor, _)| actor.starts_with("api-token:")), "{audited:?}");
    assert!(audited[1].2.contains("3000 codes"), "{audited:?}");
    let finished = page("zh").await;
    assert!(!finished.contains("http-equiv=\"refresh\"") && finished.contains("已全部导入"), "{finished}");
    s.pond.shutdown().await;
}

async fn wecom_refusing_a_contact_way_midway_leaves_nothing(db: Db) {
    let s = setup_configured(db, false, pond_app::features(), test_config()).await;
    pond_app::sync::run_full_sync(&s.pond.app, s.corp_id, "test").await.unwrap();
    let api = Api::new(&s, s.pond.addr).await;
    let before: Vec<String> = s.sim.state.world().contact_ways.keys().cloned().collect();
    // WeCom's cap on contact ways is reached after 150 of the import's 400.
    s.sim.state.world().contact_way_quota = before.len() + 150;
    let (status, started) = api.upload(codes_csv("cap", 400, 20)).await;
    assert_eq!(status, 202, "{started}");
    let id = started["id"].as_i64().unwrap();
    let (seen, failed) = api.follow(id, "cap-").await;
    assert!(seen.iter().any(|i| i["status"] == "running" || i["status"] == "undoing" || i["status"] == "queued"));
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["done"], 0, "{failed}");
    let errors = failed["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{failed}");
    let line = errors[0]["line"].as_i64().unwrap();
    assert!((2..=401).contains(&line), "the refused line is named: {failed}");
    // WeCom's 41045 (API添加「联系我」达到数量上限; errcode table, document 90313).
    assert!(errors[0]["message"].as_str().unwrap().contains("41045"), "{failed}");

    assert!(ways(&s.sim, "cap-").is_empty(), "no contact way of the import is left in WeCom");
    let after: Vec<String> = s.sim.state.world().contact_ways.keys().cloned().collect();
    assert_eq!(after, before, "WeCom holds what it held before, nothing else was touched");
    assert_eq!(calls(&s.sim, DEL_WAY), 150, "each contact way made was deleted once");
    assert!(api.get("/api/v1/channel-codes").await.as_array().unwrap().is_empty(), "no code is left");
    let audited = api.audited(id).await;
    let actions: Vec<&str> = audited.iter().map(|(a, _, _)| a.as_str()).collect();
    assert_eq!(actions, ["import.start", "import.failed"], "{audited:?}");
    assert!(audited[1].2.contains("41045") && audited[1].2.contains("nothing imported"), "{audited:?}");
    // The states are free again: the same file imports once WeCom has room.
    s.sim.state.world().contact_way_quota = 500_000;
    let (status, again) = api.upload(codes_csv("cap", 400, 20)).await;
    assert_eq!(status, 202, "{again}");
    let (_, done) = api.follow(again["id"].as_i64().unwrap(), "cap-").await;
    assert_eq!(done["status"], "done", "{done}");
    assert_one_way_per_code(&api, &s.sim, "cap-", 400).await;
    s.pond.shutdown().await;
}

/// Starts an import of 300 native codes on a Pond whose job leases last 2 s, lets WeCom carry out
/// 101 contact ways — the last one without answering — and kills that Pond with the import
/// half-made. Returns the simulator, the database, the corp and the import's id.
async fn kill_mid_import(db: Db, prefix: &str) -> (Simulator, Db, i64, i64) {
    let s = setup_configured(db.clone(), false, pond_app::features(), instance_config()).await;
    pond_app::sync::run_full_sync(&s.pond.app, s.corp_id, "test").await.unwrap();
    let api = Api::new(&s, s.pond.addr).await;
    s.sim.inject(fault(0, 100, 0, false));
    s.sim.inject(fault(0, 1, 60_000, true));
    // Every later call hangs without effect until the faults are cleared.
    s.sim.inject(fault(-1, 100_000, 60_000, false));
    let (status, started) = api.upload(codes_csv(prefix, 300, 0)).await;
    assert_eq!(status, 202, "{started}");
    let id = started["id"].as_i64().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while ways(&s.sim, prefix).len() < 101 {
        assert!(tokio::time::Instant::now() < deadline, "WeCom never got 101 contact ways");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let half = api.import(id).await;
    assert_ne!(half["status"], "done", "{half}");
    let Setup { sim, pond, corp_id, sim_url } = s;
    pond.kill();
    let cleared = reqwest::Client::new().delete(format!("{sim_url}/sim/faults")).send().await.unwrap();
    assert!(cleared.status().is_success());
    (sim, db, corp_id, id)
}

/// Another Pond on the database, with 2-second job leases: it takes over the import once the
/// killed one's lease has run out.
async fn take_over(db: &Db, sim: &Simulator) -> pond_server::Running {
    start_instance(db, instance_config(), sim.now_ms()).await
}

/// Both instances: job leases of 2 s, and the same key for the WeCom secrets.
fn instance_config() -> pond_app::Config {
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let mut config = test_config();
    config.jobs.lease_secs = 2;
    config.security.secret_key = KEY.get_or_init(pond_app::secrets::new_key).clone();
    config
}

async fn a_pond_killed_mid_import_is_finished_by_another_instance(db: Db) {
    let (sim, db, corp_id, id) = kill_mid_import(db, "crash").await;
    let second = take_over(&db, &sim).await;
    let api = Api::on(&db, corp_id, second.addr).await;
    let (_, done) = api.follow(id, "crash-").await;
    assert_eq!((done["status"].as_str(), done["done"].as_i64()), (Some("done"), Some(300)), "{done}");
    // The contact way WeCom made as Pond died was never recorded: the code got another one and
    // the unrecorded one was deleted.
    assert_one_way_per_code(&api, &sim, "crash-", 300).await;
    assert!(calls(&sim, DEL_WAY) >= 1, "the unrecorded contact way is deleted");
    let audited = api.audited(id).await;
    let actions: Vec<&str> = audited.iter().map(|(a, _, _)| a.as_str()).collect();
    assert_eq!(actions, ["import.start", "import.done"], "{audited:?}");
    let failed_jobs = api.get("/api/v1/jobs?status=failed").await;
    assert_eq!(failed_jobs["total"], 0, "{failed_jobs}");
    second.shutdown().await;
}

async fn a_pond_killed_mid_import_then_refused_leaves_nothing(db: Db) {
    let (sim, db, corp_id, id) = kill_mid_import(db, "doomed").await;
    let seeded = sim.state.world().contact_ways.values().filter(|w| !w.state.starts_with("doomed-")).count();
    // WeCom refuses every further contact way: the import that resumes must undo itself.
    let made = sim.state.world().contact_ways.len();
    sim.state.world().contact_way_quota = made;
    let second = take_over(&db, &sim).await;
    let api = Api::on(&db, corp_id, second.addr).await;
    let (_, failed) = api.follow(id, "doomed-").await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(ways(&sim, "doomed-").is_empty(), "every contact way is gone, the unrecorded one too");
    assert_eq!(sim.state.world().contact_ways.len(), seeded, "nothing else was deleted");
    assert!(calls(&sim, DEL_WAY) >= 101, "at least the 101 contact ways made were deleted");
    assert!(api.get("/api/v1/channel-codes").await.as_array().unwrap().is_empty(), "no code is left");
    let audited = api.audited(id).await;
    let actions: Vec<&str> = audited.iter().map(|(a, _, _)| a.as_str()).collect();
    assert_eq!(actions, ["import.start", "import.failed"], "{audited:?}");
    second.shutdown().await;
}
