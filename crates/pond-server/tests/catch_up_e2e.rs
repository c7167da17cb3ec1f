//! Catch-up after missed callbacks, end to end: Pond and the WeCom simulator over real HTTP.
//! While Pond is stopped (or the simulator cannot reach it) the world changes and the simulator
//! gives those callbacks up after WeCom's retries; Pond, started again (or receiving a late
//! callback), reconciles incrementally, and its picture — read through the API — equals the
//! simulator's. The sync runs say why they ran and what they cost. Each test runs on SQLite and
//! on PostgreSQL.

mod common;

use std::{collections::BTreeMap, time::Duration};

use common::world::{Setup, console_login, settle, setup, sim_settings};
use pond_store::{Db, test_on_both_backends};
use serde_json::Value;
use wecom_sim::{
    Simulator,
    callbacks::CallbackConfig,
    world::{Action, Picture},
};

test_on_both_backends!(
    missed_callbacks_are_caught_up_at_start,
    a_late_callback_calls_for_a_catch_up,
    instances_starting_together_catch_up_once,
);

/// An admin API client of the corp.
struct Api {
    http: reqwest::Client,
    base: String,
    bearer: String,
}

impl Api {
    async fn new(db: &Db, corp_id: i64, addr: std::net::SocketAddr) -> Api {
        let (token, hash, prefix) = pond_app::auth::new_api_token();
        pond_store::token::create(db, corp_id, "catch-up", &hash, &prefix, "test", "admin").await.unwrap();
        Api {
            http: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
            base: format!("http://{addr}"),
            bearer: format!("Bearer {token}"),
        }
    }

    fn at(&self, addr: std::net::SocketAddr) -> Api {
        Api { http: self.http.clone(), base: format!("http://{addr}"), bearer: self.bearer.clone() }
    }

    async fn get(&self, path: &str) -> Value {
        let resp =
            self.http.get(format!("{}{path}", self.base)).header("authorization", &self.bearer).send().await.unwrap();
        assert_eq!(resp.status(), 200, "GET {path}");
        resp.json().await.unwrap()
    }

    async fn post(&self, path: &str) -> (u16, Value) {
        let resp =
            self.http.post(format!("{}{path}", self.base)).header("authorization", &self.bearer).send().await.unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap())
    }

    /// Every item of a paginated listing.
    async fn all(&self, path: &str) -> Vec<Value> {
        let mut items = Vec::new();
        for page in 1.. {
            let sep = if path.contains('?') { '&' } else { '?' };
            let got = self.get(&format!("{path}{sep}page={page}&per_page=200")).await;
            let batch = got["items"].as_array().unwrap().clone();
            items.extend(batch);
            if items.len() as i64 >= got["total"].as_i64().unwrap() {
                return items;
            }
        }
        unreachable!()
    }

    /// Pond's picture of the corp as the API shows it, in the simulator's terms (departments and
    /// group members are not in the API; groups are compared by name and owner).
    async fn picture(&self) -> Picture {
        let mut picture = Picture {
            departments: BTreeMap::new(),
            staff: BTreeMap::new(),
            customers: BTreeMap::new(),
            follows: BTreeMap::new(),
            tags: BTreeMap::new(),
            groups: BTreeMap::new(),
        };
        for s in self.all("/api/v1/staff").await {
            let userid = s["userid"].as_str().unwrap().to_owned();
            picture.staff.insert(userid, (s["name"].as_str().unwrap().to_owned(), s["status"] == "active"));
        }
        for t in self.all("/api/v1/tags").await.into_iter().filter(|t| t["deleted_at"].is_null()) {
            let names = (t["group_name"].as_str().unwrap().to_owned(), t["name"].as_str().unwrap().to_owned());
            picture.tags.insert(t["tag_id"].as_str().unwrap().to_owned(), names);
        }
        for c in self.all("/api/v1/customers?status=live").await {
            let id = c["external_userid"].as_str().unwrap().to_owned();
            picture.customers.insert(id.clone(), c["name"].as_str().unwrap().to_owned());
            let detail = self.get(&format!("/api/v1/customers/{id}")).await;
            for f in detail["follows"].as_array().unwrap().iter().filter(|f| f["removed_at"].is_null()) {
                let tags: Vec<String> =
                    f["tag_ids"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_owned()).collect();
                let key = format!("{id}|{}", f["userid"].as_str().unwrap());
                let value = (f["remark"].as_str().unwrap().to_owned(), f["state"].as_str().unwrap().to_owned(), tags);
                picture.follows.insert(key, value);
            }
        }
        for g in self.all("/api/v1/groups").await.into_iter().filter(|g| g["dismissed_at"].is_null()) {
            let value =
                (g["name"].as_str().unwrap().to_owned(), g["owner_userid"].as_str().unwrap().to_owned(), vec![]);
            picture.groups.insert(g["chat_id"].as_str().unwrap().to_owned(), value);
        }
        picture
    }

    /// Waits until a run of `kind` newer than `after` has finished, and returns it.
    async fn finished_run(&self, kind: &str, after: i64) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
        loop {
            let runs = self.get("/api/v1/sync/runs?per_page=50").await;
            let found = runs["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["kind"] == kind && r["id"].as_i64().unwrap() > after && r["status"] != "running")
                .cloned();
            if let Some(run) = found {
                return run;
            }
            assert!(tokio::time::Instant::now() < deadline, "no {kind} run finished: {runs}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn runs(&self) -> Vec<Value> {
        self.all("/api/v1/sync/runs").await
    }
}

/// Pond's picture equals the simulator's (what the API can show of it).
fn assert_same(pond: &Picture, sim: &Picture) {
    assert_eq!(pond.staff, sim.staff, "staff");
    assert_eq!(pond.tags, sim.tags, "tags");
    assert_eq!(pond.customers, sim.customers, "customers");
    let differing: Vec<_> = sim.follows.iter().filter(|(k, v)| pond.follows.get(*k) != Some(*v)).take(3).collect();
    assert!(differing.is_empty(), "follow relations differ, e.g. {differing:?}");
    let extra: Vec<_> = pond.follows.keys().filter(|k| !sim.follows.contains_key(*k)).take(3).collect();
    assert!(extra.is_empty(), "Pond holds relations WeCom has ended, e.g. {extra:?}");
    let groups = |p: &Picture| {
        p.groups.iter().map(|(k, (n, o, _))| (k.clone(), (n.clone(), o.clone()))).collect::<BTreeMap<_, _>>()
    };
    assert_eq!(groups(pond), groups(sim), "groups");
}

/// The first instance runs on a stopped clock (the tests' setup): moved a second on before it
/// stops, its last sign of life comes after the full sync it ran, as it would in real time (a run
/// started at the very moment an instance was last seen counts as covering what followed).
fn outlive_the_sync(pond: &pond_server::Running) {
    pond.app.clock.advance(Duration::from_secs(1));
}

/// The key sealing WeCom secrets, shared by the instances a test starts (as a key file would be).
static KEY: std::sync::LazyLock<String> = std::sync::LazyLock::new(pond_app::secrets::new_key);

/// Starts another Pond instance on `db` (its own clock, moved `ahead`) and points the
/// simulator's callbacks at it.
async fn start_pond(db: &Db, sim: &Simulator, corp_id: i64, ahead: Duration) -> pond_server::Running {
    let mut config = pond_app::Config::default();
    config.jobs.poll_interval_ms = 50;
    config.security.secret_key = KEY.clone();
    let state = pond_app::App::new(db.clone(), config);
    state.clock.advance(ahead);
    // Sealed with the instances' key (the first instance of the test had one of its own).
    let settings = sim_settings(sim, &pond_store::corp::get(db, corp_id).await.unwrap().api_base_url);
    pond_app::secrets::store_settings(&state, db, corp_id, &settings).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let registry = pond_app::pipeline::default_registry(&state);
    let pond = pond_server::start(state, listener, registry, false).await.unwrap();
    point_callbacks(sim, &format!("http://{}/wecom/callback/{corp_id}", pond.addr));
    pond
}

fn point_callbacks(sim: &Simulator, url: &str) {
    sim.configure_callbacks(CallbackConfig {
        url: Some(url.to_owned()),
        duplicate: false,
        retry_delay_ms: 50,
        concurrency: 1,
    });
}

/// Total calls the simulator answered.
fn calls(sim: &Simulator) -> u64 {
    sim.calls().values().sum()
}

/// A full sync through the API, waited for.
async fn full_sync(api: &Api) -> i64 {
    let (status, run) = api.post("/api/v1/sync").await;
    assert_eq!(status, 202, "{run}");
    let done = api.finished_run("full", run["id"].as_i64().unwrap() - 1).await;
    assert_eq!(done["status"], "done", "{done}");
    done["id"].as_i64().unwrap()
}

/// Changes the world while Pond cannot hear it: a new customer, a remark edit, a tag deleted (one
/// that customers carry) and a customer deleting an employee. Returns the deleted tag.
fn change_the_world(sim: &Simulator, round: u64) -> String {
    let before = sim.picture();
    let tagged = before.follows.iter().filter(|(_, (_, _, tags))| !tags.is_empty());
    let tag = tagged.clone().next().map(|(_, (_, _, tags))| tags[0].clone()).expect("a tagged customer");
    let carriers = before.follows.values().filter(|(_, _, tags)| tags.contains(&tag)).count();
    assert!(carriers > 0);
    let (edited, _) = before.follows.iter().nth(round as usize * 7).unwrap();
    let (e, u) = edited.split_once('|').unwrap();
    let remark = format!("补录{round}");
    sim.act(Action::StaffEditsCustomer {
        userid: u.into(),
        external_userid: e.into(),
        remark: Some(remark),
        add_tags: vec![],
        remove_tags: vec![],
    })
    .unwrap();
    sim.act(Action::Scan {
        config_id: None,
        state: Some("store-002".into()),
        external_userid: None,
        name: Some(format!("停机客户{round}")),
    })
    .unwrap();
    // A customer with one relation deletes that employee: they leave Pond's customers.
    let mut relations: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for key in before.follows.keys() {
        let (e, u) = key.split_once('|').unwrap();
        relations.entry(e).or_default().push(u);
    }
    let (leaving, staff) = relations.iter().filter(|(c, us)| us.len() == 1 && **c != e).nth(round as usize).unwrap();
    sim.act(Action::CustomerDeletesStaff { external_userid: (*leaving).into(), userid: staff[0].into() }).unwrap();
    sim.act(Action::DeleteTag { tag_id: tag.clone() }).unwrap();
    tag
}

async fn missed_callbacks_are_caught_up_at_start(db: Db) {
    let Setup { sim, pond, corp_id, sim_url } = setup(db.clone(), false).await;
    let api = Api::new(&db, corp_id, pond.addr).await;
    let synced = full_sync(&api).await;
    outlive_the_sync(&pond);

    // Pond stops; the world changes; WeCom's pushes fail and, after its retries, are given up.
    pond.shutdown().await;
    let before = sim.state.pusher.stats();
    let tag = change_the_world(&sim, 1);
    sim.state.pusher.idle().await;
    let after = sim.state.pusher.stats();
    let failed = after.failed - before.failed;
    assert!(failed >= 4, "the callbacks were not delivered: {after:?}");
    assert_eq!(after.delivered, before.delivered, "none got through");
    assert_eq!(after.attempts - before.attempts, failed * 4, "each was tried 4 times (3 retries), then given up");
    assert_eq!(sim.state.pusher.queued(), 0, "nothing left to send: WeCom will not send them again");

    // Pond starts again: it catches up by itself.
    let calls_before = calls(&sim);
    let pond = start_pond(&db, &sim, corp_id, Duration::ZERO).await;
    let api = api.at(pond.addr);
    let run = api.finished_run("incremental", synced).await;
    assert_eq!(run["status"], "done", "{run}");
    assert_eq!(run["reason"], "start", "a short restart after an orderly stop: {run}");
    let gap = run["gap_ms"].as_i64().expect("the gap since Pond was last alive");
    assert!((0..30_000).contains(&gap), "{run}");
    assert_eq!(run["started_by"], "catch-up");
    // Its cost: every WeCom call it made (and nothing else called WeCom meanwhile).
    let wecom_calls = run["wecom_calls"].as_i64().unwrap();
    assert_eq!(wecom_calls as u64, calls(&sim) - calls_before, "{run}");
    // department/list, user/list, tag list, follow user list, batch pages, group list, gets.
    assert!(wecom_calls >= 7, "{run}");
    let rows = run["rows_written"].as_i64().unwrap();
    assert!((4..100).contains(&rows), "only what changed was written: {run}");
    assert!(run["duration_ms"].as_i64().is_some(), "{run}");
    // Pond's picture equals WeCom's; the deleted tag is on nobody.
    let sim_picture = sim.picture();
    let summary = run["summary"].as_str().unwrap();
    let customers = sim_picture.customers.len();
    assert!(summary.starts_with(&format!("{customers} customers (")), "every customer checked: {summary}");
    assert!(!sim_picture.tags.contains_key(&tag));
    assert_same(&api.picture().await, &sim_picture);
    let carrying = api.get(&format!("/api/v1/customers?tag={tag}")).await;
    assert_eq!(carrying["total"], 0, "the deleted tag is gone from every customer: {carrying}");
    let listed = api.all("/api/v1/tags").await;
    let deleted = listed.iter().find(|t| t["tag_id"] == tag.as_str()).expect("deleted tags stay listed");
    assert!(!deleted["deleted_at"].is_null() && deleted["customers"] == 0, "{deleted}");

    // Stopped again, down for ten minutes (Pond's clock moved): the run says it was downtime.
    pond.shutdown().await;
    change_the_world(&sim, 2);
    sim.state.pusher.idle().await;
    let pond = start_pond(&db, &sim, corp_id, Duration::from_secs(600)).await;
    let api = api.at(pond.addr);
    let run = api.finished_run("incremental", run["id"].as_i64().unwrap()).await;
    assert_eq!((run["status"].as_str(), run["reason"].as_str()), (Some("done"), Some("downtime")), "{run}");
    assert!(run["gap_ms"].as_i64().unwrap() >= 600_000, "{run}");
    assert_same(&api.picture().await, &sim.picture());

    // The console shows the history with why each ran and its cost.
    let s = Setup { sim: sim.clone(), pond, corp_id, sim_url };
    let (session, _) = console_login(&s, "ops@example.com").await;
    let page = reqwest::Client::new()
        .get(format!("http://{}/console/sync", s.pond.addr))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("停机后启动") && page.contains("10 分钟"), "the reason and the gap: {page}");
    assert!(page.contains("企业微信调用") && page.contains("写入行数") && page.contains("增量"), "{page}");
    s.pond.shutdown().await;
}

async fn a_late_callback_calls_for_a_catch_up(db: Db) {
    let s = setup(db.clone(), false).await;
    let api = Api::new(&db, s.corp_id, s.pond.addr).await;
    let synced = full_sync(&api).await;
    let good_url = format!("http://{}/wecom/callback/{}", s.pond.addr, s.corp_id);

    // WeCom cannot reach Pond for a moment: a remark edit is lost.
    point_callbacks(&s.sim, "http://127.0.0.1:9/wecom/callback/0");
    let (key, _) = s.sim.picture().follows.into_iter().nth(11).unwrap();
    let (e, u) = key.split_once('|').unwrap();
    s.sim
        .act(Action::StaffEditsCustomer {
            userid: u.into(),
            external_userid: e.into(),
            remark: Some("丢失的备注".into()),
            add_tags: vec![],
            remove_tags: vec![],
        })
        .unwrap();
    s.sim.state.pusher.idle().await;
    assert_eq!(s.sim.state.pusher.stats().failed, 1);
    point_callbacks(&s.sim, &good_url);
    assert_eq!(api.runs().await.len(), 1, "nothing noticed yet");

    // The next callback arrives six minutes after WeCom created it (Pond's clock moved on; more
    // than the five minutes that catch-ups for late callbacks keep from the previous run).
    s.pond.app.clock.advance(Duration::from_secs(360));
    s.sim
        .act(Action::Scan { config_id: None, state: Some("store-001".into()), external_userid: None, name: None })
        .unwrap();
    settle(&s).await;
    let run = api.finished_run("incremental", synced).await;
    assert_eq!((run["status"].as_str(), run["reason"].as_str()), (Some("done"), Some("callback_lag")), "{run}");
    let lag = run["gap_ms"].as_i64().unwrap();
    assert!((359_000..390_000).contains(&lag), "{run}");
    let detail = api.get(&format!("/api/v1/customers/{e}")).await;
    let follow = detail["follows"].as_array().unwrap().iter().find(|f| f["userid"] == u).cloned().unwrap();
    assert_eq!(follow["remark"], "丢失的备注", "the lost edit was caught up");
    assert_same(&api.picture().await, &s.sim.picture());

    // More late callbacks of the same stretch: the run since covers them, none starts.
    s.sim
        .act(Action::Scan { config_id: None, state: Some("store-003".into()), external_userid: None, name: None })
        .unwrap();
    settle(&s).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while s.pond.app.catch_up.pending() > 0 {
        assert!(tokio::time::Instant::now() < deadline, "the late callback's reason was never settled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let incremental = api.runs().await.into_iter().filter(|r| r["kind"] == "incremental").count();
    assert_eq!(incremental, 1, "covered by the run already made");

    // A tag deleted while Pond listens: its callback takes it off every customer at once.
    let picture = s.sim.picture();
    let tag = picture.follows.values().find_map(|(_, _, tags)| tags.first().cloned()).expect("a tagged customer");
    let carriers = picture.follows.values().filter(|(_, _, tags)| tags.contains(&tag)).count() as i64;
    let listed = api.get(&format!("/api/v1/customers?tag={tag}")).await;
    assert!(listed["total"].as_i64().unwrap() > 0 && carriers > 0, "{listed}");
    s.sim.act(Action::DeleteTag { tag_id: tag.clone() }).unwrap();
    settle(&s).await;
    let listed = api.get(&format!("/api/v1/customers?tag={tag}")).await;
    assert_eq!(listed["total"], 0, "the deleted tag is on nobody: {listed}");
    assert_same(&api.picture().await, &s.sim.picture());
    s.pond.shutdown().await;
}

async fn instances_starting_together_catch_up_once(db: Db) {
    let Setup { sim, pond, corp_id, .. } = setup(db.clone(), false).await;
    let api = Api::new(&db, corp_id, pond.addr).await;
    let synced = full_sync(&api).await;
    outlive_the_sync(&pond);
    pond.shutdown().await;
    change_the_world(&sim, 1);
    sim.state.pusher.idle().await;

    // Two instances on the same database start at once (the second takes the callbacks).
    let (a, b) =
        tokio::join!(start_pond(&db, &sim, corp_id, Duration::ZERO), start_pond(&db, &sim, corp_id, Duration::ZERO));
    let api = api.at(a.addr);
    let run = api.finished_run("incremental", synced).await;
    assert_eq!(run["status"], "done", "{run}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while a.app.catch_up.pending() + b.app.catch_up.pending() > 0 {
        assert!(tokio::time::Instant::now() < deadline, "a start reason was never settled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let incremental = api.runs().await.into_iter().filter(|r| r["kind"] == "incremental").count();
    assert_eq!(incremental, 1, "one of them caught up, the other saw it covered");
    assert_same(&api.picture().await, &sim.picture());
    a.shutdown().await;
    b.shutdown().await;
}
