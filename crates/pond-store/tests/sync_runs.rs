//! Sync runs start one at a time per corp (also when several instances ask at once), a run since a
//! gap covers it, runs are spaced by a window, abandoned runs stop blocking; instance heartbeats;
//! deleted tags come off customers. Each test runs on SQLite and on PostgreSQL.

use pond_core::{
    PageRequest,
    ids::Follow,
    sync::{Ask, Decision, SyncKind, SyncReason},
};
use pond_store::{
    Db, corp, customer, instance,
    sync_run::{self, Cost, NewRun, StartRule},
    tag::{self, Tag, TagGroup},
    test_on_both_backends,
};

test_on_both_backends!(
    runs_start_one_at_a_time_and_cover_what_they_should,
    instances_asking_at_once_start_one_run,
    abandoned_runs_stop_blocking,
    heartbeats_say_who_was_alive,
    deleted_tags_and_groups_come_off_customers,
);

const T0: i64 = 1_800_000_000_000;

fn new_run(corp_id: i64, kind: SyncKind, reason: SyncReason) -> NewRun<'static> {
    NewRun { corp_id, started_by: "test", kind, reason, gap_ms: None }
}

fn rule(now: i64, covered_since: Option<i64>, not_within_ms: i64) -> StartRule {
    StartRule { ask: Ask { now, covered_since, not_within_ms }, abandoned_before: now - 120_000 }
}

async fn runs_start_one_at_a_time_and_cover_what_they_should(db: Db) {
    let c = corp::create(&db, "测试").await.unwrap().id;
    assert!(!sync_run::has_full_sync(&db, c).await.unwrap());
    let full = sync_run::start(&db, &new_run(c, SyncKind::Full, SyncReason::Manual), &rule(T0, None, 0))
        .await
        .unwrap()
        .expect("the first run starts");
    assert_eq!((full.kind.as_str(), full.reason.as_str(), full.status.as_str()), ("full", "manual", "running"));
    let second = sync_run::start(&db, &new_run(c, SyncKind::Full, SyncReason::Manual), &rule(T0 + 1, None, 0)).await;
    assert_eq!(second.unwrap().unwrap_err(), Decision::Running, "one at a time");
    // A catch-up for a gap that ended before the running run started is covered by it.
    let covered = sync_run::start(
        &db,
        &new_run(c, SyncKind::Incremental, SyncReason::CallbackLag),
        &rule(T0 + 2, Some(T0 - 10), 300_000),
    )
    .await;
    assert_eq!(covered.unwrap().unwrap_err(), Decision::Covered);
    let cost = Cost { wecom_calls: 7, rows_written: 42, duration_ms: 1_500 };
    sync_run::finish(&db, full.id, "done", None, cost, T0 + 1_500).await.unwrap();
    assert!(sync_run::has_full_sync(&db, c).await.unwrap());
    let done = sync_run::get(&db, c, full.id).await.unwrap();
    assert_eq!((done.wecom_calls, done.rows_written, done.duration_ms), (7, 42, Some(1_500)));

    // A gap after the last run: not covered, but within the window after it — wait.
    let ask = new_run(c, SyncKind::Incremental, SyncReason::CallbackLag);
    let soon = sync_run::start(&db, &ask, &rule(T0 + 60_000, Some(T0 + 30_000), 300_000)).await.unwrap();
    assert_eq!(soon.unwrap_err(), Decision::TooSoon { retry_at: T0 + 300_000 });
    let later = sync_run::start(&db, &ask, &rule(T0 + 300_000, Some(T0 + 30_000), 300_000)).await.unwrap();
    let catch_up = later.expect("after the window it starts");
    assert_eq!((catch_up.kind.as_str(), catch_up.reason.as_str()), ("incremental", "callback_lag"));
    sync_run::finish(&db, catch_up.id, "", Some("WeCom unreachable"), Cost::default(), T0 + 301_000).await.unwrap();
    // An incremental run does not cover a periodic full sync; a failed run covers nothing.
    let periodic_full = sync_run::start(
        &db,
        &new_run(c, SyncKind::Full, SyncReason::Periodic),
        &rule(T0 + 400_000, Some(T0 + 200_000), 0),
    )
    .await
    .unwrap();
    assert!(periodic_full.is_ok(), "{periodic_full:?}");
    let page = sync_run::list(&db, c, PageRequest::new(Some(1), Some(2))).await.unwrap();
    assert_eq!(page.total, 3);
    assert_eq!(page.items[1].error.as_deref(), Some("WeCom unreachable"), "newest first");
}

async fn instances_asking_at_once_start_one_run(db: Db) {
    let c = corp::create(&db, "并发").await.unwrap().id;
    let mut asks = tokio::task::JoinSet::new();
    for i in 0..6 {
        let db = db.clone();
        asks.spawn(async move {
            let started_by = format!("instance-{i}");
            let new = NewRun {
                corp_id: c,
                started_by: &started_by,
                kind: SyncKind::Incremental,
                reason: SyncReason::Start,
                gap_ms: None,
            };
            sync_run::start(&db, &new, &rule(T0, Some(T0 - 5_000), 0)).await.unwrap().map(|r| r.id)
        });
    }
    let mut started = Vec::new();
    let mut refused = Vec::new();
    while let Some(answer) = asks.join_next().await {
        match answer.unwrap() {
            Ok(id) => started.push(id),
            Err(d) => refused.push(d),
        }
    }
    assert_eq!(started.len(), 1, "exactly one run starts: {refused:?}");
    assert!(refused.iter().all(|d| *d == Decision::Covered), "the others see it covers them: {refused:?}");
    assert_eq!(sync_run::list(&db, c, PageRequest::default()).await.unwrap().total, 1);
}

async fn abandoned_runs_stop_blocking(db: Db) {
    let c = corp::create(&db, "崩溃").await.unwrap().id;
    let first = sync_run::start(&db, &new_run(c, SyncKind::Full, SyncReason::Manual), &rule(T0, None, 0))
        .await
        .unwrap()
        .unwrap();
    sync_run::progress(&db, first.id, "customers", 1, 10, T0 + 60_000).await.unwrap();
    sync_run::touch(&db, first.id, T0 + 100_000).await.unwrap();
    // Alive 100 s in: still blocks two minutes after that.
    let manual = new_run(c, SyncKind::Full, SyncReason::Manual);
    let blocked = sync_run::start(&db, &manual, &rule(T0 + 219_000, None, 0)).await.unwrap();
    assert_eq!(blocked.unwrap_err(), Decision::Running);
    // Its instance died: no sign of life for two minutes, so it is marked failed and a run starts.
    let next = sync_run::start(&db, &new_run(c, SyncKind::Full, SyncReason::Manual), &rule(T0 + 221_000, None, 0))
        .await
        .unwrap();
    assert!(next.is_ok(), "{next:?}");
    let abandoned = sync_run::get(&db, c, first.id).await.unwrap();
    assert_eq!(abandoned.status, "failed");
    assert!(abandoned.error.unwrap().contains("abandoned"));
}

async fn heartbeats_say_who_was_alive(db: Db) {
    assert!(instance::others(&db, "a").await.unwrap().is_empty());
    instance::beat(&db, "a", T0, T0).await.unwrap();
    instance::beat(&db, "a", T0, T0 + 10_000).await.unwrap();
    instance::beat(&db, "b", T0 + 5_000, T0 + 5_000).await.unwrap();
    instance::stopped(&db, "b", T0 + 8_000).await.unwrap();
    let seen = instance::others(&db, "c").await.unwrap();
    assert_eq!(
        seen.iter().map(|h| (h.instance.as_str(), h.seen_at, h.stopped_at)).collect::<Vec<_>>(),
        vec![("a", T0 + 10_000, None), ("b", T0 + 8_000, Some(T0 + 8_000))]
    );
    assert_eq!(instance::others(&db, "a").await.unwrap().len(), 1, "not itself");
    assert_eq!(instance::forget_before(&db, T0 + 9_000).await.unwrap(), 1);
    assert_eq!(instance::others(&db, "c").await.unwrap().len(), 1);
}

async fn deleted_tags_and_groups_come_off_customers(db: Db) {
    let c = corp::create(&db, "标签").await.unwrap().id;
    for (group_id, tags) in [("g1", ["t1", "t2"]), ("g2", ["t3", "t4"])] {
        tag::upsert_group(
            &db,
            &TagGroup { corp_id: c, group_id: group_id.into(), name: group_id.into(), sort_order: 0 },
        )
        .await
        .unwrap();
        for t in tags {
            let row = Tag { corp_id: c, tag_id: t.into(), group_id: group_id.into(), name: t.into(), sort_order: 0 };
            tag::upsert_tag(&db, &row).await.unwrap();
        }
    }
    for (e, tags) in [("wmA", vec!["t1", "t2", "t3"]), ("wmB", vec!["t1", "t4"])] {
        let ids: Vec<String> = tags.into_iter().map(str::to_owned).collect();
        customer::set_follow_tags(&db, c, Follow { external_userid: e, userid: "u1" }, &ids).await.unwrap();
    }
    assert!(tag::mark_tag_deleted(&db, c, "t1").await.unwrap());
    assert!(!tag::mark_tag_deleted(&db, c, "t1").await.unwrap(), "once");
    let tags_of = |e: &'static str| {
        let db = db.clone();
        async move { customer::follow_tags(&db, c, Follow { external_userid: e, userid: "u1" }).await.unwrap() }
    };
    assert_eq!(tags_of("wmA").await, vec!["t2", "t3"], "a deleted tag comes off every customer");
    assert_eq!(tags_of("wmB").await, vec!["t4"]);
    let gone = tag::delete(&db, c, &[], &["g2".to_owned()]).await.unwrap();
    assert_eq!((gone.tags, gone.groups, gone.detached), (2, 1, 2), "a deleted group takes its tags along");
    assert_eq!(tags_of("wmA").await, vec!["t2"]);
    assert!(tags_of("wmB").await.is_empty());
    let (groups, tags) = tag::library(&db, c).await.unwrap();
    assert_eq!((groups.len(), tags.len()), (1, 1));
}
