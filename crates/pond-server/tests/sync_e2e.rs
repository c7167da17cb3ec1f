//! Pond and the WeCom simulator in-process, talking over real HTTP: full sync, then random world
//! actions delivered as encrypted callbacks, and Pond's picture compared with the simulator's.
//! Also: duplicated callbacks, forged / replayed / malformed callbacks, and faults during sync.
//! Each test runs on SQLite and on PostgreSQL.

mod common;

use std::{collections::BTreeMap, time::Duration};

use common::world::{settle, setup};
use pond_app::sync::SyncSummary;

use pond_store::{Db, test_on_both_backends};
use wecom_sim::world::{Action, Fault, Picture};

test_on_both_backends!(
    full_sync_then_random_actions_keep_pond_equal_to_wecom,
    duplicated_callbacks_are_applied_once,
    forged_replayed_and_malformed_callbacks_are_refused,
    sync_survives_rate_limits_busy_errors_and_token_expiry,
    console_and_api_start_sync_and_show_customers,
);

/// Pond's picture of the corp, in the simulator's terms.
async fn pond_picture(db: &Db, corp_id: i64) -> Picture {
    let live_tags: BTreeMap<String, (String, String)> =
        pond_store::tag::all_live(db, corp_id).await.unwrap().into_iter().map(|(id, g, n)| (id, (g, n))).collect();
    let mut tags_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (e, u, t) in pond_store::customer::all_follow_tags(db, corp_id).await.unwrap() {
        if live_tags.contains_key(&t) {
            tags_of.entry(format!("{e}|{u}")).or_default().push(t);
        }
    }
    Picture {
        departments: pond_store::department::list(db, corp_id)
            .await
            .unwrap()
            .into_iter()
            .filter(|d| d.removed_at.is_none())
            .map(|d| (d.dept_id, d.name))
            .collect(),
        staff: pond_store::staff::all(db, corp_id)
            .await
            .unwrap()
            .into_iter()
            .map(|s| (s.userid.clone(), (s.name.clone(), s.status == "active")))
            .collect(),
        customers: pond_store::customer::all_live(db, corp_id).await.unwrap().into_iter().collect(),
        follows: pond_store::customer::all_live_follows(db, corp_id)
            .await
            .unwrap()
            .into_iter()
            .map(|f| {
                let key = format!("{}|{}", f.external_userid, f.userid);
                let tags = tags_of.get(&key).cloned().unwrap_or_default();
                (key, (f.remark, f.state, tags))
            })
            .collect(),
        tags: live_tags,
        groups: pond_store::group::all_live(db, corp_id)
            .await
            .unwrap()
            .into_iter()
            .map(|(g, members)| (g.chat_id, (g.name, g.owner_userid, members)))
            .collect(),
    }
}

fn assert_same(pond: &Picture, wecom: &Picture) {
    assert_eq!(pond.departments, wecom.departments, "departments");
    assert_eq!(pond.staff, wecom.staff, "staff");
    assert_eq!(pond.tags, wecom.tags, "tags");
    assert_eq!(pond.customers.len(), wecom.customers.len(), "customer count");
    assert_eq!(pond.customers, wecom.customers, "customers");
    let differing: Vec<_> = wecom.follows.iter().filter(|(k, v)| pond.follows.get(*k) != Some(*v)).take(3).collect();
    assert!(differing.is_empty(), "follow relations differ, e.g. {differing:?}");
    assert_eq!(pond.follows.len(), wecom.follows.len(), "follow relation count");
    assert_eq!(pond.groups, wecom.groups, "groups");
}

async fn full_sync_then_random_actions_keep_pond_equal_to_wecom(db: Db) {
    let s = setup(db, false).await;
    let run = pond_app::sync::run_full_sync(&s.pond.app, s.corp_id, "test").await.expect("sync");
    assert_eq!(run.status, "done", "{run:?}");
    let wecom = s.sim.picture();
    let expected = {
        let world = s.sim.state.world();
        SyncSummary {
            departments: world.departments.len(),
            staff: world.users.len(),
            customers: wecom.customers.len(),
            follows: wecom.follows.len(),
            tags: world.tags.len(),
            groups: world.groups.len(),
            marked_removed: 0,
        }
    };
    assert_eq!(expected.customers, 300, "the scenario's customers all follow someone");
    let (summary, _) = SyncSummary::from_stored(&run.summary).expect("a summary Pond wrote");
    assert_eq!(summary, expected, "{}", run.summary);
    assert_same(&pond_picture(&s.pond.app.db, s.corp_id).await, &wecom);

    let report = s.sim.random_actions(1_000, 2026);
    assert!(report.applied > 800, "{report:?}");
    settle(&s).await;
    let db = s.pond.app.db.clone();
    let failed = pond_store::inbox::counts_by_status(&db).await.unwrap();
    assert!(!failed.iter().any(|(st, n)| st == "failed" && *n > 0), "no event failed: {failed:?}");
    assert_same(&pond_picture(&db, s.corp_id).await, &s.sim.picture());

    // The timeline shows what happened to a customer added through a store code.
    let added = s
        .sim
        .act(Action::Scan {
            config_id: None,
            state: Some("store-002".into()),
            external_userid: None,
            name: Some("时间线".into()),
        })
        .unwrap();
    settle(&s).await;
    let customer = added.created.unwrap();
    let timeline = pond_store::timeline::of_customer(&db, s.corp_id, &customer, 10).await.unwrap();
    assert_eq!(timeline.len(), 1);
    assert_eq!((timeline[0].kind.as_str(), timeline[0].detail.as_str()), ("added", "state=store-002"));
    // A second sync changes nothing and marks nothing removed.
    let again = pond_app::sync::run_full_sync(&s.pond.app, s.corp_id, "test").await.unwrap();
    let (again, _) = SyncSummary::from_stored(&again.summary).expect("a summary Pond wrote");
    let wecom = s.sim.picture();
    assert_eq!(
        (again.customers, again.follows, again.groups, again.marked_removed),
        (wecom.customers.len(), wecom.follows.len(), wecom.groups.len(), 0),
        "{again:?}"
    );
    s.pond.shutdown().await;
}

async fn duplicated_callbacks_are_applied_once(db: Db) {
    let s = setup(db, true).await;
    pond_app::sync::run_full_sync(&s.pond.app, s.corp_id, "test").await.expect("sync");
    let report = s.sim.random_actions(150, 7);
    settle(&s).await;
    let deliveries = s.sim.state.pusher.stats();
    assert_eq!(deliveries.delivered, 2 * report.applied as u64, "every callback was delivered twice");
    let db = s.pond.app.db.clone();
    let distinct: std::collections::BTreeSet<String> =
        report.callbacks.iter().map(|xml| wecom::Callback::parse(xml).unwrap().dedupe_key()).collect();
    let stored = pond_store::inbox::list(&db, s.corp_id, None, "", pond_core::PageRequest::new(Some(1), Some(1)))
        .await
        .unwrap()
        .total;
    assert_eq!(stored, distinct.len() as i64, "one inbox row per distinct event");
    // Effects happened once: no customer has the same timeline entry twice.
    for (customer, _) in pond_store::customer::all_live(&db, s.corp_id).await.unwrap().iter().take(50) {
        let entries = pond_store::timeline::of_customer(&db, s.corp_id, customer, 100).await.unwrap();
        let mut keys: Vec<_> =
            entries.iter().map(|e| (e.kind.clone(), e.userid.clone(), e.occurred_at, e.detail.clone())).collect();
        let before = keys.len();
        keys.dedup();
        assert_eq!(before, keys.len(), "timeline of {customer} has duplicates: {entries:?}");
    }
    let metrics = reqwest::get(format!("http://{}/metrics", s.pond.addr)).await.unwrap().text().await.unwrap();
    let duplicates = report.applied as u64 * 2 - distinct.len() as u64;
    assert!(metrics.contains(&format!("pond_callbacks_duplicate_total {duplicates}")), "{metrics}");
    assert_same(&pond_picture(&db, s.corp_id).await, &s.sim.picture());
    s.pond.shutdown().await;
}

async fn forged_replayed_and_malformed_callbacks_are_refused(db: Db) {
    let s = setup(db, false).await;
    let creds = s.sim.credentials();
    let url = format!("http://{}/wecom/callback/{}", s.pond.addr, s.corp_id);
    let crypt = wecom::MsgCrypt::new(&creds.callback_token, &creds.encoding_aes_key, &creds.corp_id).unwrap();
    let http = reqwest::Client::new();
    let now = (pond_store::now_ms() / 1000).to_string();
    let event = format!(
        "<xml><ToUserName><![CDATA[{}]]></ToUserName><CreateTime>{now}</CreateTime><MsgType>event</MsgType><Event>change_external_contact</Event><ChangeType>del_follow_user</ChangeType><UserID>s001e01</UserID><ExternalUserID>wmX</ExternalUserID></xml>",
        creds.corp_id
    );
    let post = |sealed: wecom::SealedCallback| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            http.post(&url)
                .query(&[
                    ("msg_signature", &sealed.msg_signature),
                    ("timestamp", &sealed.timestamp),
                    ("nonce", &sealed.nonce),
                ])
                .body(sealed.body)
                .send()
                .await
                .unwrap()
        }
    };
    // URL verification works with the corp's own crypto.
    let echo = crypt.encrypt(b"echo-123");
    let sig = crypt.signature(&now, "n1", &echo);
    let verified = http
        .get(&url)
        .query(&[("msg_signature", sig.as_str()), ("timestamp", &now), ("nonce", "n1"), ("echostr", &echo)])
        .send()
        .await
        .unwrap();
    assert_eq!(verified.text().await.unwrap(), "echo-123");

    let mut forged = crypt.seal_callback(&event, &now, "n2", None);
    forged.msg_signature = "0".repeat(40);
    assert_eq!(post(forged).await.status(), 403);
    let old = (pond_store::now_ms() / 1000 - 3600).to_string();
    assert_eq!(post(crypt.seal_callback(&event, &old, "n3", None)).await.status(), 403, "replayed old timestamp");
    assert_eq!(
        post(crypt.seal_callback("<xml><ToUserName>oops", &now, "n4", None)).await.status(),
        400,
        "malformed XML"
    );
    let other = wecom::MsgCrypt::new(&creds.callback_token, &creds.encoding_aes_key, "wwSOMEONEELSE").unwrap();
    assert_eq!(post(other.seal_callback(&event, &now, "n5", None)).await.status(), 400, "wrong receive id");
    let mut broken = crypt.seal_callback(&event, &now, "n6", None);
    broken.body = "<xml><Encrypt>not base64!</Encrypt></xml>".into();
    broken.msg_signature = crypt.signature(&now, "n6", "not base64!");
    assert_eq!(post(broken).await.status(), 400);
    let unknown_corp = http.post(format!("http://{}/wecom/callback/999", s.pond.addr)).body("x").send().await.unwrap();
    assert_eq!(unknown_corp.status(), 404);

    let stored = pond_store::inbox::list(&s.pond.app.db, s.corp_id, None, "", Default::default()).await.unwrap().total;
    assert_eq!(stored, 0, "nothing stored");
    let ok = post(crypt.seal_callback(&event, &now, "n7", None)).await;
    assert_eq!(ok.text().await.unwrap(), "success");
    let stored = pond_store::inbox::list(&s.pond.app.db, s.corp_id, None, "", Default::default()).await.unwrap().total;
    assert_eq!(stored, 1);
    s.pond.shutdown().await;
}

async fn sync_survives_rate_limits_busy_errors_and_token_expiry(db: Db) {
    let s = setup(db, false).await;
    // Make the client's backoff irrelevant to wall time: faults are few and retries fast enough.
    s.sim.inject(Fault { path: "department/list".into(), errcode: 45009, count: 2, delay_ms: 0, ..Fault::default() });
    s.sim.inject(Fault {
        path: "externalcontact/batch/get_by_user".into(),
        errcode: -1,
        count: 2,
        delay_ms: 0,
        ..Fault::default()
    });
    s.sim.inject(Fault {
        path: "externalcontact/groupchat/get".into(),
        errcode: 42001,
        count: 1,
        delay_ms: 0,
        ..Fault::default()
    });
    s.sim.inject(Fault {
        path: "externalcontact/get_corp_tag_list".into(),
        errcode: 0,
        count: 1,
        delay_ms: 300,
        ..Fault::default()
    });
    let run = pond_app::sync::run_full_sync(&s.pond.app, s.corp_id, "test").await.expect("sync");
    assert_eq!(run.status, "done", "{run:?}");
    assert_same(&pond_picture(&s.pond.app.db, s.corp_id).await, &s.sim.picture());
    let metrics = reqwest::get(format!("http://{}/metrics", s.pond.addr)).await.unwrap().text().await.unwrap();
    let retries: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("pond_wecom_retries_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("retry counter");
    assert_eq!(retries, 4, "2 × 45009 and 2 × -1 were retried");
    assert!(metrics.contains("pond_wecom_token_refreshes_total 2"), "the expired token was renewed: {metrics}");

    // A permanent error fails the run with its reason, visibly.
    s.sim.inject(Fault {
        path: "externalcontact/get_follow_user_list".into(),
        errcode: 48002,
        count: 1,
        delay_ms: 0,
        ..Fault::default()
    });
    let failed = pond_app::sync::run_full_sync(&s.pond.app, s.corp_id, "test").await.expect("run recorded");
    assert_eq!(failed.status, "failed");
    assert!(failed.error.as_deref().unwrap_or("").contains("48002"), "{failed:?}");
    s.pond.shutdown().await;
}

async fn console_and_api_start_sync_and_show_customers(db: Db) {
    let s = setup(db, false).await;
    let db = s.pond.app.db.clone();
    let base = format!("http://{}", s.pond.addr);
    let (token, hash, prefix) = pond_app::auth::new_api_token();
    pond_store::token::create(&db, s.corp_id, "t", &hash, &prefix, "test", "admin").await.unwrap();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let bearer = format!("Bearer {token}");
    assert_eq!(
        http.get(format!("{base}/api/v1/sync")).header("authorization", &bearer).send().await.unwrap().status(),
        404
    );
    let started = http.post(format!("{base}/api/v1/sync")).header("authorization", &bearer).send().await.unwrap();
    assert_eq!(started.status(), 202);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let run = loop {
        let run: serde_json::Value = http
            .get(format!("{base}/api/v1/sync"))
            .header("authorization", &bearer)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if run["status"] != "running" {
            break run;
        }
        assert!(tokio::time::Instant::now() < deadline, "sync did not finish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(run["status"], "done", "{run}");
    assert!(run["summary"].as_str().unwrap().contains("300 customers"), "{run}");

    // The console shows the run, the customers, and one customer's follow relations and timeline.
    let hash = pond_app::auth::hash_password("pond-test-password").unwrap();
    pond_store::user::create(&db, s.corp_id, "ops@example.com", &hash, pond_core::Role::Admin).await.unwrap();
    let form = http.get(format!("{base}/login")).send().await.unwrap();
    let login_cookie =
        form.headers().get("set-cookie").unwrap().to_str().unwrap().split(';').next().unwrap().to_owned();
    let csrf = login_cookie.split_once('=').unwrap().1.to_owned();
    let login = http
        .post(format!("{base}/login"))
        .header("cookie", &login_cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("_csrf={csrf}&email=ops%40example.com&password=pond-test-password"))
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
    let page = |path: &str| {
        let (http, url, session) = (http.clone(), format!("{base}{path}"), session.clone());
        async move { http.get(url).header("cookie", session).send().await.unwrap().text().await.unwrap() }
    };
    let sync_page = page("/console/sync").await;
    assert!(sync_page.contains("100%") && sync_page.contains("客户 300 位"), "the summary is in Chinese: {sync_page}");
    let added = s
        .sim
        .act(Action::Scan {
            config_id: None,
            state: Some("store-003".into()),
            external_userid: None,
            name: Some("新朋友".into()),
        })
        .unwrap();
    settle(&s).await;
    let customer = added.created.unwrap();
    let list = page("/console/customers?q=%E6%96%B0%E6%9C%8B%E5%8F%8B").await;
    assert!(list.contains(&format!("/console/customers/{customer}")), "{list}");
    let detail = page(&format!("/console/customers/{customer}")).await;
    assert!(detail.contains("新朋友") && detail.contains("store-003") && detail.contains("添加了员工"), "{detail}");
    let groups = page("/console/groups").await;
    assert!(groups.contains("会员福利群1"), "groups are listed");
    s.pond.shutdown().await;
}
