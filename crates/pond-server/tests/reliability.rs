//! What Pond does when WeCom misbehaves, through HTTP and the simulator, on both databases:
//! credential errors (a secret being rotated) are retried rather than failing the event; an event
//! that failed for good is retried — one, or all of a type — from the API and the console, audited;
//! a backlog of stored events (an instance that accepted callbacks without applying them) is drained
//! batch after batch, not one batch per poll.

mod common;

use common::world::{Setup, callbacks_to, connect, console_login, settle, setup, start_instance};
use pond_store::{Db, test_on_both_backends};
use serde_json::{Value, json};
use wecom_sim::world::{Action, Fault};

test_on_both_backends!(
    credential_errors_are_retried_not_failed,
    failed_events_are_retried_from_the_api_and_console,
    a_backlog_is_drained_without_waiting_for_the_poll
);

async fn api(s: &Setup, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let (token, hash, prefix) = pond_app::auth::new_api_token();
    pond_store::token::create(&s.pond.app.db, s.corp_id, "t", &hash, &prefix, "test", "admin").await.unwrap();
    let mut req = reqwest::Client::new().request(method, format!("http://{}{path}", s.pond.addr)).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// A new customer scans a store's contact way; returns (customer, employee).
fn scan(s: &Setup) -> (String, String) {
    let out = s
        .sim
        .act(Action::Scan { config_id: None, state: Some("store-001".into()), external_userid: None, name: None })
        .unwrap();
    (out.created.unwrap(), out.userid.unwrap())
}

async fn customer_in_pond(s: &Setup, external_userid: &str) -> bool {
    pond_store::customer::all_live(&s.pond.app.db, s.corp_id).await.unwrap().iter().any(|(id, _)| id == external_userid)
}

/// The stored add event of a customer.
async fn add_event(s: &Setup, external_userid: &str) -> pond_store::inbox::InboxEvent {
    let page = pond_store::inbox::list(
        &s.pond.app.db,
        s.corp_id,
        Some("add_external_contact"),
        "",
        pond_core::PageRequest::new(Some(1), Some(200)),
    )
    .await
    .unwrap();
    page.items.into_iter().find(|e| e.payload.contains(external_userid)).expect("the add event is stored")
}

async fn credential_errors_are_retried_not_failed(db: Db) {
    let s = setup(db, false).await;
    pond_app::sync::run_full_sync(&s.pond.app, s.corp_id, "test").await.unwrap();
    let reads_before = s.sim.calls().get("externalcontact/get").copied().unwrap_or(0);
    // Reading the new customer answers 40001 (secret being rotated) then 40013: the client renews its
    // token once per call, so the first two applications of the event fail.
    s.sim.inject(Fault {
        path: "externalcontact/get".into(),
        errcode: 40001,
        count: 2,
        delay_ms: 0,
        ..Fault::default()
    });
    s.sim.inject(Fault {
        path: "externalcontact/get".into(),
        errcode: 40013,
        count: 1,
        delay_ms: 0,
        ..Fault::default()
    });
    let (customer, _) = scan(&s);
    settle(&s).await;

    let event = add_event(&s, &customer).await;
    assert_eq!(event.status, "done", "applied in the end, not failed: {event:?}");
    assert!(event.attempts >= 2, "retried after the credential errors: {event:?}");
    assert!(customer_in_pond(&s, &customer).await, "the customer is in Pond");
    let reads = s.sim.calls().get("externalcontact/get").copied().unwrap_or(0) - reads_before;
    assert!(reads >= 4, "three refused reads and one that worked: {reads}");
    let failed = pond_store::inbox::list(&s.pond.app.db, s.corp_id, None, "failed", Default::default()).await.unwrap();
    assert_eq!(failed.total, 0, "nothing failed");
}

async fn failed_events_are_retried_from_the_api_and_console(db: Db) {
    let s = setup(db, false).await;
    pond_app::sync::run_full_sync(&s.pond.app, s.corp_id, "test").await.unwrap();
    // 60011 (no permission for this customer) is not worth retrying: both events fail at once.
    s.sim.inject(Fault {
        path: "externalcontact/get".into(),
        errcode: 60011,
        count: 2,
        delay_ms: 0,
        ..Fault::default()
    });
    let (first, _) = scan(&s);
    let (second, _) = scan(&s);
    settle(&s).await;
    let first_event = add_event(&s, &first).await;
    assert_eq!(first_event.status, "failed", "{first_event:?}");
    assert!(first_event.last_error.as_deref().unwrap_or_default().contains("60011"), "{first_event:?}");
    assert!(!customer_in_pond(&s, &first).await);

    // The troubles are shown, by event type, with the error.
    let (status, troubles) = api(&s, reqwest::Method::GET, "/api/v1/pipeline/troubles", None).await;
    assert_eq!(status, 200, "{troubles}");
    assert_eq!(troubles["events"][0]["event_type"], "change_external_contact/add_external_contact", "{troubles}");
    assert_eq!(troubles["events"][0]["failed"], 2, "{troubles}");
    let (cookie, csrf) = console_login(&s, "ops@example.com").await;
    let client = reqwest::Client::new();
    let html = client
        .get(format!("http://{}/console/events?status=failed", s.pond.addr))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("60011") && html.contains("客户添加员工"), "the console lists the failed events");

    // One, through the API.
    let (status, retried) =
        api(&s, reqwest::Method::POST, &format!("/api/v1/events/{}/retry", first_event.id), None).await;
    assert_eq!(status, 200, "{retried}");
    settle(&s).await;
    assert_eq!(add_event(&s, &first).await.status, "done");
    assert!(customer_in_pond(&s, &first).await, "the retried event applied");
    assert_eq!(add_event(&s, &second).await.status, "failed", "only the one asked for");
    let (status, again) =
        api(&s, reqwest::Method::POST, &format!("/api/v1/events/{}/retry", first_event.id), None).await;
    assert_eq!(status, 404, "an event that is not failed cannot be retried: {again}");

    // All of a type, through the console.
    let resp = client
        .post(format!("http://{}/console/events/retry", s.pond.addr))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("_csrf={csrf}&event_type=change_external_contact%2Fadd_external_contact"))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success() || resp.status().is_redirection(), "{}", resp.status());
    settle(&s).await;
    assert_eq!(add_event(&s, &second).await.status, "done");
    assert!(customer_in_pond(&s, &second).await);
    let (_, troubles) = api(&s, reqwest::Method::GET, "/api/v1/pipeline/troubles", None).await;
    assert_eq!(troubles["events"], json!([]), "nothing left in trouble");

    // Both retries audited, by who did them.
    let audit =
        pond_store::audit::list(&s.pond.app.db, s.corp_id, Some("event.retry"), Default::default()).await.unwrap();
    assert_eq!(audit.total, 2, "{:?}", audit.items);
    assert!(audit.items.iter().any(|e| e.actor.contains("ops@example.com")), "{:?}", audit.items);
}

async fn a_backlog_is_drained_without_waiting_for_the_poll(db: Db) {
    // An instance that only accepts callbacks (no workers) leaves them pending in the database —
    // more than one claim's batch (200).
    let c = connect(&db).await;
    pond_store::welcome::create(&db, c.corp_id, "欢迎", "您好", "[]", true).await.unwrap();
    let mut accepting_only = c.config.clone();
    accepting_only.jobs.enabled = false;
    let acceptor = start_instance(&db, accepting_only, c.clock_at_ms).await;
    c.sim.configure_callbacks(wecom_sim::callbacks::CallbackConfig {
        concurrency: 8,
        ..callbacks_to(acceptor.addr, c.corp_id, false)
    });
    let adds = 450;
    for _ in 0..adds {
        c.sim
            .act(Action::Scan { config_id: None, state: Some("store-001".into()), external_userid: None, name: None })
            .unwrap();
    }
    c.sim.state.pusher.idle().await;
    let pending = pond_store::inbox::unfinished(&db).await.unwrap();
    assert_eq!(pending, adds, "every add stored, none applied");

    // A worker that polls once a minute: the backlog must not wait a poll per batch of 200.
    let mut slow_poll = c.config.clone();
    slow_poll.jobs.poll_interval_ms = 60_000;
    let started = std::time::Instant::now();
    let worker = start_instance(&db, slow_poll, c.clock_at_ms).await;
    let deadline = started + std::time::Duration::from_secs(45);
    while pond_store::inbox::unfinished(&db).await.unwrap() > 0 {
        assert!(std::time::Instant::now() < deadline, "the backlog waited for the poll interval");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let sent = c.sim.calls().get("externalcontact/send_welcome_msg").copied().unwrap_or(0);
    assert_eq!(sent, adds as u64, "every added customer welcomed once");
    worker.shutdown().await;
    acceptor.shutdown().await;
}
