//! Who the phone pages hand visitors to, end to end (Pond and the simulator over HTTP, on both
//! databases): never an employee who resigned (learnt from the address-book callback) or whom
//! WeCom refuses a contact way; the backup when everyone else is capped, off schedule or gone;
//! the simulator's `add_contact_way` calls stay bounded however many visits come; and a burst of
//! anonymous visits from one client address is cut off without any WeCom call, others unaffected.
//! Time moves with Pond's clock (and the simulator's), never by waiting.

mod common;

use std::{
    collections::BTreeSet,
    net::{IpAddr, Ipv4Addr},
    time::Duration,
};

use common::world::{Setup, settle, setup};
use pond_store::{Db, test_on_both_backends};
use serde_json::{Value, json};
use wecom_sim::world::Action;

test_on_both_backends!(
    landing_pages_route_around_resigned_refused_and_capped_staff,
    off_schedule_codes_go_to_the_backup_until_the_schedule_starts,
    regional_pages_route_to_store_staff_who_can_serve,
    a_burst_from_one_client_is_limited_without_wecom_calls,
);

struct Api {
    http: reqwest::Client,
    base: String,
    bearer: String,
}

impl Api {
    async fn new(s: &Setup) -> Api {
        let (token, hash, prefix) = pond_app::auth::new_api_token();
        pond_store::token::create(&s.pond.app.db, s.corp_id, "t", &hash, &prefix, "test", "admin").await.unwrap();
        Api { http: reqwest::Client::new(), base: format!("http://{}", s.pond.addr), bearer: format!("Bearer {token}") }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base)).header("authorization", &self.bearer);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    /// A landing code with these rules; returns its page's path.
    async fn landing_code(&self, state: &str, strategy: &str, rules: Value) -> String {
        let (st, code) = self
            .post(
                "/api/v1/channel-codes",
                json!({"name": format!("海报 {state}"), "mode": "landing", "strategy": strategy, "state": state, "rules": rules}),
            )
            .await;
        assert_eq!(st, 201, "{code}");
        let url = code["landing_url"].as_str().unwrap();
        url.split_once("/c/").map(|(_, p)| format!("/c/{p}")).unwrap()
    }

    /// The employee's status as Pond's API gives it.
    async fn staff_status(&self, userid: &str) -> String {
        let (_, page) = self.call(reqwest::Method::GET, &format!("/api/v1/staff?q={userid}"), None).await;
        page["items"].as_array().unwrap().iter().find(|s| s["userid"] == userid).unwrap()["status"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

/// A phone (its own client address, 127.x.y.z) opening Pond's public pages.
struct Phone {
    http: reqwest::Client,
    base: String,
}

impl Phone {
    fn at(s: &Setup, n: u32) -> Phone {
        let [_, b, c, d] = n.to_be_bytes();
        let address = IpAddr::V4(Ipv4Addr::new(127, b, c, d.max(1)));
        let http = reqwest::Client::builder().local_address(address).build().unwrap();
        Phone { http, base: format!("http://{}", s.pond.addr) }
    }

    async fn open(&self, path: &str) -> (u16, String, Option<String>) {
        let resp = self.http.get(format!("{}{path}", self.base)).send().await.unwrap();
        let status = resp.status().as_u16();
        let retry_after = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
        (status, resp.text().await.unwrap(), retry_after)
    }
}

/// Visits a page from `count` phones (each its own address); returns the employees shown, one
/// per visit (the owner of the contact way whose QR the page shows), every visit answered 200.
async fn visits(s: &Setup, first_phone: u32, count: u32, path: &str) -> Vec<String> {
    let mut shown = Vec::new();
    for n in first_phone..first_phone + count {
        let (status, html, _) = Phone::at(s, n).open(path).await;
        assert_eq!(status, 200, "visit {n} of {path}: {html}");
        shown.push(shown_employee(s, &html).unwrap_or_else(|| panic!("no QR on the page: {html}")));
    }
    shown
}

/// The employee whose contact way's QR a page shows.
fn shown_employee(s: &Setup, html: &str) -> Option<String> {
    let src = html.split("class=\"qr\" src=\"").nth(1)?.split('"').next()?;
    let world = s.sim.state.world();
    let way = world.contact_ways.values().find(|w| w.qr_code == src)?;
    assert_eq!(way.user.len(), 1, "a single-person contact way");
    Some(way.user[0].clone())
}

fn add_contact_way_calls(s: &Setup) -> u64 {
    s.sim.calls().get("externalcontact/add_contact_way").copied().unwrap_or(0)
}

fn callbacks_to_pond(s: &Setup, deliver: bool) {
    s.sim.configure_callbacks(wecom_sim::callbacks::CallbackConfig {
        url: deliver.then(|| format!("http://{}/wecom/callback/{}", s.pond.addr, s.corp_id)),
        duplicate: false,
        retry_delay_ms: 50,
        concurrency: 1,
    });
}

/// Waits until the inbox is applied and no job is pending or running.
async fn settle_jobs(s: &Setup) {
    settle(s).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let counts = pond_store::jobs::counts_by_status(&s.pond.app.db).await.unwrap();
        if !counts.iter().any(|(st, n)| (st == "pending" || st == "running") && *n > 0) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "jobs still pending: {counts:?}");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

/// A customer adds `userid` through the contact way the page showed for them.
fn customer_adds_through(s: &Setup, userid: &str, state: &str) {
    let config_id = s
        .sim
        .state
        .world()
        .contact_ways
        .values()
        .find(|w| w.state == state && w.user == [userid])
        .map(|w| w.config_id.clone())
        .expect("the employee's contact way");
    s.sim.act(Action::Scan { config_id: Some(config_id), state: None, external_userid: None, name: None }).unwrap();
}

fn resign(s: &Setup, userid: &str) {
    s.sim.act(Action::StaffResigns { userid: userid.into() }).unwrap();
}

/// Moves Pond's clock and the simulator's forward together.
fn advance(s: &Setup, by: Duration) {
    s.pond.app.clock.advance(by);
    s.sim.state.world().clock_offset_ms += i64::try_from(by.as_millis()).unwrap();
}

fn only(shown: &[String]) -> BTreeSet<&str> {
    shown.iter().map(String::as_str).collect()
}

async fn landing_pages_route_around_resigned_refused_and_capped_staff(db: Db) {
    let s = setup(db, false).await;
    let api = Api::new(&s).await;
    pond_app::sync::run_full_sync(&s.pond.app, s.corp_id, "test").await.unwrap();
    let path = api
        .landing_code(
            "rt-1",
            "round_robin",
            json!({"staff": [{"userid": "s001e01"}, {"userid": "s001e02"}, {"userid": "s001e04"}],
                   "daily_cap": 1, "backup": ["s001e03"]}),
        )
        .await;

    // s001e01 leaves; Pond learns it from the address-book callback.
    resign(&s, "s001e01");
    settle(&s).await;
    assert_eq!(api.staff_status("s001e01").await, "resigned");
    // s001e04 leaves too, but the callback is held back: Pond still thinks them active, WeCom
    // refuses their contact way.
    callbacks_to_pond(&s, false);
    resign(&s, "s001e04");
    assert_eq!(api.staff_status("s001e04").await, "active");

    let calls = add_contact_way_calls(&s);
    let shown = visits(&s, 1, 24, &path).await;
    assert_eq!(only(&shown), BTreeSet::from(["s001e02"]), "never the resigned ones: {shown:?}");
    assert_eq!(add_contact_way_calls(&s) - calls, 2, "s001e04 refused once (remembered), s001e02's way made once");

    // After a while WeCom is asked about s001e04 once more (still refused), and only once.
    advance(&s, pond_app::acquisition::contact_ways::REFUSED_FOR + Duration::from_secs(60));
    let shown = visits(&s, 101, 24, &path).await;
    assert_eq!(only(&shown), BTreeSet::from(["s001e02"]));
    assert_eq!(add_contact_way_calls(&s) - calls, 3);

    // The held callback arrives: s001e04 is resigned in Pond too; no call is made for them again.
    callbacks_to_pond(&s, true);
    settle(&s).await;
    assert_eq!(api.staff_status("s001e04").await, "resigned");
    advance(&s, pond_app::acquisition::contact_ways::REFUSED_FOR + Duration::from_secs(60));
    let shown = visits(&s, 201, 12, &path).await;
    assert_eq!(only(&shown), BTreeSet::from(["s001e02"]));
    assert_eq!(add_contact_way_calls(&s) - calls, 3);

    // s001e02 reaches the daily cap (1): the backup takes over; its way is made once.
    customer_adds_through(&s, "s001e02", "rt-1");
    settle_jobs(&s).await;
    let shown = visits(&s, 301, 24, &path).await;
    assert_eq!(only(&shown), BTreeSet::from(["s001e03"]), "the backup when the others are capped or gone");
    assert_eq!(add_contact_way_calls(&s) - calls, 4, "{} visits, 4 WeCom calls", 24 * 3 + 12);

    // The backup reaches the cap as well: nobody can serve, and no call is made for it.
    customer_adds_through(&s, "s001e03", "rt-1");
    settle_jobs(&s).await;
    let (status, html, _) = Phone::at(&s, 401).open(&path).await;
    assert_eq!(status, 503);
    assert!(html.contains("暂时无人接待"), "{html}");
    assert_eq!(add_contact_way_calls(&s) - calls, 4);
    s.pond.shutdown().await;
}

async fn off_schedule_codes_go_to_the_backup_until_the_schedule_starts(db: Db) {
    let s = setup(db, false).await;
    let api = Api::new(&s).await;
    pond_app::sync::run_full_sync(&s.pond.app, s.corp_id, "test").await.unwrap();
    // Pond's clock to 10:00 in the corp's time zone; the schedule runs 12:00–13:00 every day.
    let zone =
        pond_core::CorpZone::from_stored(&pond_store::corp::get(&s.pond.app.db, s.corp_id).await.unwrap().timezone);
    let minute = i64::from(zone.local_time(s.pond.app.clock.now_ms()).minute);
    let to_ten = u64::try_from((10 * 60 - minute).rem_euclid(24 * 60)).unwrap();
    // Pond's clock only (no caps here): the simulator's tokens would expire hours ahead.
    s.pond.app.clock.advance(Duration::from_secs(to_ten * 60));
    let path = api
        .landing_code(
            "rt-2",
            "random",
            json!({"staff": [], "schedules": [{"weekdays": [1, 2, 3, 4, 5, 6, 7], "start": "12:00", "end": "13:00",
                    "staff": [{"userid": "s002e01"}, {"userid": "s002e02"}]}],
                   "backup": ["s002e03"]}),
        )
        .await;
    let calls = add_contact_way_calls(&s);
    let shown = visits(&s, 1, 10, &path).await;
    assert_eq!(only(&shown), BTreeSet::from(["s002e03"]), "off schedule: the backup");

    s.pond.app.clock.advance(Duration::from_secs(2 * 3600));
    let shown = visits(&s, 101, 20, &path).await;
    assert!(only(&shown).is_subset(&BTreeSet::from(["s002e01", "s002e02"])), "on schedule: {shown:?}");
    // One of the scheduled staff leaves: the other serves alone; once both are gone, the backup.
    resign(&s, "s002e01");
    settle(&s).await;
    let shown = visits(&s, 201, 12, &path).await;
    assert_eq!(only(&shown), BTreeSet::from(["s002e02"]));
    resign(&s, "s002e02");
    settle(&s).await;
    let shown = visits(&s, 301, 12, &path).await;
    assert_eq!(only(&shown), BTreeSet::from(["s002e03"]), "on schedule but resigned: the backup");
    let made = add_contact_way_calls(&s) - calls;
    assert!(made <= 3, "one way per employee at most, {made} calls");
    s.pond.shutdown().await;
}

async fn regional_pages_route_to_store_staff_who_can_serve(db: Db) {
    let s = setup(db, false).await;
    let api = Api::new(&s).await;
    pond_app::sync::run_full_sync(&s.pond.app, s.corp_id, "test").await.unwrap();
    let csv = "name,address,city,latitude,longitude,staff\n静安店,南京西路1号,上海,31.2286,121.4547,s003e01|s003e02|s003e03\n";
    let imported = api
        .http
        .post(format!("{}/api/v1/stores/import", api.base))
        .header("authorization", &api.bearer)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(imported.status(), 202, "imports run in the background");
    let id = imported.json::<serde_json::Value>().await.unwrap()["id"].as_i64().unwrap();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let (_, import) = api.call(reqwest::Method::GET, &format!("/api/v1/imports/{id}"), None).await;
        if import["status"] == "done" {
            break;
        }
        assert!(import["status"] != "failed" && tokio::time::Instant::now() < deadline, "{import}");
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    }
    let (_, stores) = api.call(reqwest::Method::GET, "/api/v1/stores", None).await;
    let store = format!("/r/{}?store={}", s.corp_id, stores[0]["id"]);

    resign(&s, "s003e01");
    settle(&s).await;
    callbacks_to_pond(&s, false);
    resign(&s, "s003e03");
    let calls = add_contact_way_calls(&s);
    let shown = visits(&s, 1, 24, &store).await;
    assert_eq!(only(&shown), BTreeSet::from(["s003e02"]), "only the store's employee who can serve");
    assert_eq!(add_contact_way_calls(&s) - calls, 2, "s003e03 refused once, s003e02's way made once");

    callbacks_to_pond(&s, true);
    resign(&s, "s003e02");
    settle(&s).await;
    let (status, html, _) = Phone::at(&s, 101).open(&store).await;
    assert_eq!(status, 503, "nobody left at the store");
    assert!(html.contains("门店暂时无人接待"), "{html}");
    assert_eq!(add_contact_way_calls(&s) - calls, 2);
    s.pond.shutdown().await;
}

async fn a_burst_from_one_client_is_limited_without_wecom_calls(db: Db) {
    let s = setup(db, false).await;
    let api = Api::new(&s).await;
    pond_app::sync::run_full_sync(&s.pond.app, s.corp_id, "test").await.unwrap();
    let path = api.landing_code("rt-4", "random", json!({"staff": [{"userid": "s004e01"}]})).await;
    let budget = pond_app::Config::default().security.h5_hits_per_minute;
    let calls = add_contact_way_calls(&s);
    // Twenty phones at once, before the employee has a contact way: one is made (WeCom answers
    // the first call slowly, so the others arrive while it is being made).
    s.sim.inject(wecom_sim::world::Fault {
        path: "externalcontact/add_contact_way".into(),
        count: 1,
        delay_ms: 500,
        ..Default::default()
    });
    let mut at_once = tokio::task::JoinSet::new();
    for n in 100..120 {
        let (phone, path) = (Phone::at(&s, n), path.clone());
        at_once.spawn(async move { phone.open(&path).await.0 });
    }
    while let Some(status) = at_once.join_next().await {
        assert_eq!(status.unwrap(), 200);
    }
    assert_eq!(add_contact_way_calls(&s) - calls, 1, "one contact way made for simultaneous first visits");

    let phone = Phone::at(&s, 7);
    let mut answered = Vec::new();
    for _ in 0..budget + 20 {
        answered.push(phone.open(&path).await);
    }
    let ok = answered.iter().filter(|(status, _, _)| *status == 200).count();
    assert_eq!(ok, budget as usize, "the client's budget, then refused");
    let (status, html, retry_after) = answered.last().unwrap();
    assert_eq!(*status, 429);
    assert!(html.contains("访问过于频繁") && html.contains("秒后再"), "{html}");
    assert!(retry_after.as_deref().and_then(|r| r.parse::<u64>().ok()).is_some_and(|r| (1..=60).contains(&r)));
    // The regional page shares the client's budget.
    let (status, _, _) = phone.open(&format!("/r/{}", s.corp_id)).await;
    assert_eq!(status, 429);
    assert_eq!(add_contact_way_calls(&s) - calls, 1, "no call for the burst");

    // Another phone is served; the limited one is again once its budget has refilled.
    assert_eq!(Phone::at(&s, 8).open(&path).await.0, 200);
    s.pond.app.clock.advance(Duration::from_secs(60));
    assert_eq!(phone.open(&path).await.0, 200);
    assert_eq!(add_contact_way_calls(&s) - calls, 1);
    // Only the visits served were counted as scans.
    let code_id = path.rsplit('/').next().unwrap();
    let (_, stats) = api.call(reqwest::Method::GET, &format!("/api/v1/channel-codes/{code_id}/stats"), None).await;
    assert_eq!(stats["totals"]["scans"], 20 + budget + 2, "{stats}");
    s.pond.shutdown().await;
}
