//! The batch paths the event pipeline uses — group-committed callbacks, customers stored from
//! snapshots in one transaction, jobs queued in the caller's transaction, multi-row timeline and outcomes — each
//! checked against the effect of the one-at-a-time functions, on SQLite and on PostgreSQL.

use pond_core::JobStatus;
use pond_store::{
    Db, WalLimits, corp,
    customer::{self, CustomerData, FollowRelation, Snapshot},
    inbox::{self, Inserted, NewEvent},
    jobs::{self, NewJob},
    test_on_both_backends,
    testing::ReadSnapshot,
    timeline::{self, NewEntry},
    welcome::{self, WelcomeResult},
};

test_on_both_backends!(
    group_commit_stores_each_event_once_and_requeues_applied_duplicates,
    events_stored_held_are_claimed_only_when_released_or_their_lease_ends,
    wal_checkpoint_runs_beside_the_writer,
    wal_restart_gives_way_to_a_reader_unless_the_log_is_too_long,
    snapshots_upsert_replace_tags_end_missing_relations_and_remove_customers,
    snapshots_of_more_customers_than_one_statement_holds,
    jobs_queued_in_a_transaction_once_per_key_or_not_at_all,
    timeline_and_outcomes_in_one_transaction_or_none,
);

/// SQLite commits are durable unless relaxed: `synchronous = FULL` in WAL mode by default.
#[tokio::test]
async fn sqlite_is_durable_by_default_and_can_be_relaxed() {
    let t = pond_store::testing::TestDb::sqlite().await;
    assert_eq!(t.db.sqlite_durability().await.unwrap(), Some(("wal".to_owned(), "full".to_owned())));
    let options = pond_store::DbOptions { sqlite_synchronous: pond_store::SqliteSync::Normal };
    let relaxed = Db::connect_with(&t.url, options).await.unwrap();
    assert_eq!(relaxed.sqlite_durability().await.unwrap(), Some(("wal".to_owned(), "normal".to_owned())));
    relaxed.close().await;
    if let Some(pg) = pond_store::testing::TestDb::postgres().await {
        assert_eq!(pg.db.sqlite_durability().await.unwrap(), None);
        pg.cleanup().await;
    }
    t.cleanup().await;
}

async fn new_corp(db: &Db) -> i64 {
    corp::create(db, "批量测试").await.expect("create corp").id
}

fn event<'a>(corp_id: i64, key: &'a str) -> NewEvent<'a> {
    NewEvent {
        corp_id,
        received_at: 1,
        dedupe_key: key,
        event_type: "change_external_contact/add_external_contact",
        payload: "<xml/>",
    }
}

async fn group_commit_stores_each_event_once_and_requeues_applied_duplicates(db: Db) {
    let c = new_corp(&db).await;
    let keys: Vec<String> = (0..120).map(|i| format!("k{i:03}")).collect();
    let mut batch: Vec<NewEvent<'_>> = keys.iter().map(|k| event(c, k)).collect();
    // The same callback twice in one batch (WeCom retried while the first was being stored).
    batch.push(event(c, "k007"));
    let stored = inbox::insert_many(&db, &batch).await.unwrap();
    assert_eq!(stored.len(), 121, "one answer per callback, in order");
    assert!(stored[..120].iter().all(|s| matches!(s, Inserted::New(_))));
    assert_eq!(stored[120], Inserted::Duplicate);
    let Inserted::New(k007) = stored[7] else { panic!("k007 is new") };
    assert_eq!(inbox::unfinished(&db).await.unwrap(), 120);

    // Apply k000..k009, then a later batch repeats k003 (done → queued again) and k050 (still pending).
    let claimed = inbox::claim(&db, "w1", 10, 60_000).await.unwrap();
    let ids: Vec<i64> = claimed.iter().map(|e| e.id).collect();
    assert!(ids.contains(&k007));
    inbox::finish_done(&db, &ids).await.unwrap();
    assert_eq!(inbox::unfinished(&db).await.unwrap(), 110);
    let again = inbox::insert_many(&db, &[event(c, "k003"), event(c, "k050"), event(c, "new")]).await.unwrap();
    assert_eq!(again[..2], [Inserted::Duplicate, Inserted::Duplicate]);
    assert!(matches!(again[2], Inserted::New(_)));
    assert_eq!(inbox::unfinished(&db).await.unwrap(), 112, "k003 re-queued, k050 once, new added");
}

async fn events_stored_held_are_claimed_only_when_released_or_their_lease_ends(db: Db) {
    let c = new_corp(&db).await;
    let keys: Vec<String> = (0..5).map(|i| format!("h{i}")).collect();
    let mut batch: Vec<NewEvent<'_>> = keys.iter().map(|k| event(c, k)).collect();
    batch.push(event(c, "h2"));
    let (stored, held) = inbox::insert_many_held(&db, &batch, "w1", 60_000).await.unwrap();
    let new_ids: Vec<i64> = stored
        .iter()
        .filter_map(|s| match s {
            Inserted::New(id) => Some(*id),
            Inserted::Duplicate => None,
        })
        .collect();
    assert_eq!(stored[5], Inserted::Duplicate, "the copy inside the batch");
    assert_eq!(held.iter().map(|e| e.id).collect::<Vec<_>>(), new_ids, "each new event handed back once, in order");
    assert!(held.iter().all(|e| e.status == "processing" && e.attempts == 1 && e.dedupe_key.starts_with('h')));
    assert!(held.iter().all(|e| e.received_at == 1), "receipt time as given (the request's arrival), not the commit's");
    assert_eq!(held[0].payload, "<xml/>");
    assert!(inbox::claim(&db, "w1", 10, 60_000).await.unwrap().is_empty(), "held events are not claimable");
    assert_eq!(inbox::unfinished(&db).await.unwrap(), 5);

    // An applied event seen again goes back in the queue, unheld.
    inbox::finish_done(&db, &[held[0].id]).await.unwrap();
    let (again, none_held) = inbox::insert_many_held(&db, &[event(c, "h0")], "w1", 60_000).await.unwrap();
    assert_eq!((again[0], none_held.len()), (Inserted::Duplicate, 0));
    let claimed = inbox::claim(&db, "w1", 10, 60_000).await.unwrap();
    assert_eq!(claimed.iter().map(|e| e.id).collect::<Vec<_>>(), vec![held[0].id]);
    assert_eq!(claimed[0].received_at, 1, "stored as given");

    // Released (a stopping worker) or lease over (a dead one): claimable, the attempt not lost.
    inbox::release(&db, &[held[1].id, held[2].id]).await.unwrap();
    let (_, expired) = inbox::insert_many_held(&db, &[event(c, "late")], "w1", -1).await.unwrap();
    assert_eq!(inbox::requeue_lapsed(&db).await.unwrap(), 1);
    let claimed = inbox::claim(&db, "w1", 10, 60_000).await.unwrap();
    assert_eq!(claimed.iter().map(|e| e.id).collect::<Vec<_>>(), vec![held[1].id, held[2].id, expired[0].id]);
    assert_eq!(claimed.iter().map(|e| e.attempts).collect::<Vec<_>>(), vec![1, 1, 2]);
    inbox::release(&db, &[held[3].id, held[4].id]).await.unwrap();
    inbox::release(&db, &[]).await.unwrap();
    assert_eq!(inbox::claim(&db, "w1", 10, 60_000).await.unwrap().len(), 2);
}

async fn wal_checkpoint_runs_beside_the_writer(db: Db) {
    let c = new_corp(&db).await;
    let keys: Vec<String> = (0..300).map(|i| format!("w{i}")).collect();
    let batch: Vec<NewEvent<'_>> = keys.iter().map(|k| event(c, k)).collect();
    let stored = inbox::insert_many(&db, &batch).await.unwrap();
    let Inserted::New(first) = stored[0] else { panic!("w0 is new") };
    // A write transaction open meanwhile neither blocks the checkpoint nor is blocked by it.
    let mut tx = db.begin().await.unwrap();
    inbox::finish_done(&mut tx, &[first]).await.unwrap();
    let log = db.checkpoint_wal().await.unwrap();
    tx.commit().await.unwrap();
    match db.backend() {
        pond_store::Backend::Sqlite => assert!(log.is_some_and(|pages| pages > 0), "the log held the inserts: {log:?}"),
        pond_store::Backend::Postgres => assert_eq!(log, None),
    }
    assert_eq!(db.checkpoint_wal().await.unwrap().is_some(), db.backend() == pond_store::Backend::Sqlite);
    assert_eq!(inbox::unfinished(&db).await.unwrap(), 299, "nothing lost through checkpoints");
}

async fn wal_restart_gives_way_to_a_reader_unless_the_log_is_too_long(db: Db) {
    let c = new_corp(&db).await;
    let keys: Vec<String> = (0..300).map(|i| format!("r{i}")).collect();
    let batch: Vec<NewEvent<'_>> = keys.iter().map(|k| event(c, k)).collect();
    inbox::insert_many(&db, &batch).await.unwrap();
    let Some(reader) = ReadSnapshot::hold(&db).await else {
        assert_eq!(db.checkpoint_wal_within(WalLimits::DEFAULT).await.unwrap(), None, "no log on PostgreSQL");
        return;
    };
    let eager = WalLimits { restart_from: 1, restart_tail: i64::MAX / 2, insist_from: i64::MAX };
    // A reader still on the log: the restart gives up at once, and the log stays.
    let kept = db.checkpoint_wal_within(eager).await.unwrap();
    assert!(kept.is_some_and(|pages| pages > 0), "restarted under a reader: {kept:?}");
    reader.end().await;
    assert_eq!(db.checkpoint_wal_within(eager).await.unwrap(), Some(0), "restarted once the reader is gone");

    // Past `insist_from` it waits for the reader (up to a second) instead.
    inbox::insert_many(&db, &batch[..1]).await.unwrap();
    let reader = ReadSnapshot::hold(&db).await.expect("SQLite");
    let ends_soon = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        reader.end().await;
    });
    let insisting = WalLimits { insist_from: 1, ..eager };
    assert_eq!(db.checkpoint_wal_within(insisting).await.unwrap(), Some(0), "waited for the reader to finish");
    ends_soon.await.unwrap();
    assert_eq!(inbox::unfinished(&db).await.unwrap(), 300, "nothing lost through restarts");
}

fn data(external_userid: &str, name: &str) -> CustomerData {
    CustomerData {
        external_userid: external_userid.into(),
        name: name.into(),
        customer_type: 1,
        avatar: String::new(),
        gender: 2,
        unionid: String::new(),
        corp_name: String::new(),
    }
}

fn follow(corp_id: i64, external_userid: &str, userid: &str, tags: &[&str]) -> (FollowRelation, Vec<String>) {
    (
        FollowRelation {
            corp_id,
            external_userid: external_userid.into(),
            userid: userid.into(),
            remark: format!("{userid}的客户"),
            description: String::new(),
            add_way: 1,
            state: "store-001".into(),
            added_at: 1_700_000_000_000,
            removed_at: None,
        },
        tags.iter().map(|t| (*t).to_owned()).collect(),
    )
}

async fn snapshots_upsert_replace_tags_end_missing_relations_and_remove_customers(db: Db) {
    let c = new_corp(&db).await;
    // Before: wm1 followed by u1 (tag a) and u2; wm2 followed by u1; wm3 followed by u3.
    for (e, u) in [("wm1", "u1"), ("wm1", "u2"), ("wm2", "u1"), ("wm3", "u3")] {
        customer::upsert(&db, c, &data(e, "旧名")).await.unwrap();
        customer::upsert_follow(&db, &follow(c, e, u, &[]).0).await.unwrap();
    }
    customer::set_follow_tags(&db, c, pond_core::ids::Follow { external_userid: "wm1", userid: "u1" }, &["a".into()])
        .await
        .unwrap();

    let snapshots = vec![
        // wm1: renamed, u1's tags become b+c, u2 is gone.
        Snapshot {
            external_userid: "wm1".into(),
            data: Some(data("wm1", "小林")),
            follows: vec![follow(c, "wm1", "u1", &["b", "c"])],
        },
        // wm2: no relation with the corp any more.
        Snapshot { external_userid: "wm2".into(), data: None, follows: vec![] },
        // wm4: new, followed by two employees.
        Snapshot {
            external_userid: "wm4".into(),
            data: Some(data("wm4", "新客")),
            follows: vec![follow(c, "wm4", "u1", &[]), follow(c, "wm4", "u2", &["a"])],
        },
    ];
    let mut tx = db.begin().await.unwrap();
    let mut ended = customer::store_snapshots(&mut tx, c, &snapshots).await.unwrap();
    tx.commit().await.unwrap();
    ended.sort();
    assert_eq!(ended, vec![("wm1".into(), "u2".into()), ("wm2".into(), "u1".into())]);

    assert_eq!(customer::get(&db, c, "wm1").await.unwrap().name, "小林");
    assert_eq!(
        customer::follow_tags(&db, c, pond_core::ids::Follow { external_userid: "wm1", userid: "u1" }).await.unwrap(),
        vec!["b", "c"]
    );
    let wm1: Vec<(String, bool)> = customer::follows_of(&db, c, "wm1")
        .await
        .unwrap()
        .into_iter()
        .map(|f| (f.userid, f.removed_at.is_none()))
        .collect();
    assert_eq!(wm1, vec![("u1".into(), true), ("u2".into(), false)]);
    assert!(customer::get(&db, c, "wm2").await.unwrap().removed_at.is_some(), "no relation left: removed");
    assert!(customer::get(&db, c, "wm3").await.unwrap().removed_at.is_none(), "not in the batch: untouched");
    assert_eq!(customer::follows_of(&db, c, "wm4").await.unwrap().len(), 2);
    assert_eq!(
        customer::follow_tags(&db, c, pond_core::ids::Follow { external_userid: "wm4", userid: "u2" }).await.unwrap(),
        vec!["a"]
    );

    // A dropped transaction writes nothing.
    let mut tx = db.begin().await.unwrap();
    customer::store_snapshots(&mut tx, c, &[Snapshot { external_userid: "wm3".into(), data: None, follows: vec![] }])
        .await
        .unwrap();
    drop(tx);
    assert!(customer::get(&db, c, "wm3").await.unwrap().removed_at.is_none(), "rolled back");
}

async fn snapshots_of_more_customers_than_one_statement_holds(db: Db) {
    let c = new_corp(&db).await;
    let snapshots: Vec<Snapshot> = (0..1037)
        .map(|i| {
            let e = format!("wm{i:04}");
            Snapshot {
                follows: vec![follow(c, &e, "u1", &["a", "b"]), follow(c, &e, &format!("u{}", 2 + i % 3), &[])],
                data: Some(data(&e, &format!("客户{i}"))),
                external_userid: e,
            }
        })
        .collect();
    let mut tx = db.begin().await.unwrap();
    customer::store_snapshots(&mut tx, c, &snapshots).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(customer::all_live(&db, c).await.unwrap().len(), 1037);
    assert_eq!(customer::all_live_follows(&db, c).await.unwrap().len(), 2074);
    assert_eq!(customer::all_follow_tags(&db, c).await.unwrap().len(), 2074);
    assert_eq!(customer::get(&db, c, "wm1036").await.unwrap().name, "客户1036");
}

fn job<'a>(corp_id: i64, key: &'a str) -> NewJob<'a> {
    NewJob { corp_id, kind: "welcome.send", payload: "{}", idempotency_key: key, max_attempts: 5, run_at: None }
}

async fn jobs_queued_in_a_transaction_once_per_key_or_not_at_all(db: Db) {
    let c = new_corp(&db).await;
    let mut tx = db.begin().await.unwrap();
    let queued = jobs::enqueue_in(&mut tx, &[job(c, "w1"), job(c, "w2")]).await.unwrap();
    let again = jobs::enqueue_in(&mut tx, &[job(c, "w1")]).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(queued.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), vec!["w1", "w2"]);
    assert!(again.is_empty(), "idempotency key: queued once");
    assert_eq!(jobs::enqueue(&db, &job(c, "w2")).await.unwrap(), None);
    let j = jobs::get(&db, c, queued[0].1).await.unwrap();
    assert_eq!((j.status(), j.attempts, j.locked_by), (JobStatus::Pending, 0, None));
    assert_eq!(jobs::existing_keys(&db, c, &["w1", "w3", "w2"]).await.unwrap().len(), 2);

    // Rolled back: nothing queued.
    let mut tx = db.begin().await.unwrap();
    jobs::enqueue_in(&mut tx, &[job(c, "w3")]).await.unwrap();
    drop(tx);
    assert!(jobs::existing_keys(&db, c, &["w3"]).await.unwrap().is_empty());
    let claimed = jobs::claim(&db, "queue", 10, 60_000).await.unwrap();
    assert_eq!(claimed.len(), 2);
    assert_eq!(jobs::complete(&db, "queue", &[claimed[0].id, claimed[1].id]).await.unwrap(), 2);
}

fn outcome(code: &str, status: &str) -> WelcomeResult {
    WelcomeResult {
        external_userid: format!("wm-{code}"),
        userid: "u1".into(),
        welcome_code: code.into(),
        welcome_id: None,
        status: status.into(),
        reason: String::new(),
        event_at: 1,
        received_at: 2,
        finished_at: 3,
    }
}

async fn timeline_and_outcomes_in_one_transaction_or_none(db: Db) {
    let c = new_corp(&db).await;
    let ids = inbox::insert_many(&db, &[event(c, "a"), event(c, "b")]).await.unwrap();
    let inbox_ids: Vec<i64> =
        ids.iter().filter_map(|i| if let Inserted::New(id) = i { Some(*id) } else { None }).collect();
    let entries: Vec<NewEntry<'_>> = (0..70)
        .map(|i| NewEntry {
            corp_id: c,
            external_userid: "wm1",
            userid: "u1",
            kind: if i % 2 == 0 { "added" } else { "edited" },
            detail: "",
            occurred_at: i,
            inbox_id: Some(inbox_ids[(i as usize / 2) % 2]),
        })
        .collect();
    let results: Vec<WelcomeResult> = (0..60).map(|i| outcome(&format!("code{i}"), "sent")).collect();

    // Rolled back: nothing of it stays.
    let mut tx = db.begin().await.unwrap();
    timeline::record_many(&mut tx, &entries).await.unwrap();
    welcome::record_results(&mut tx, c, &results).await.unwrap();
    inbox::finish_done(&mut tx, &inbox_ids).await.unwrap();
    drop(tx);
    assert!(timeline::of_customer(&db, c, "wm1", 100).await.unwrap().is_empty());
    assert!(welcome::result_counts(&db, c).await.unwrap().is_empty());
    assert_eq!(inbox::unfinished(&db).await.unwrap(), 2);

    let mut tx = db.begin().await.unwrap();
    timeline::record_many(&mut tx, &entries).await.unwrap();
    // Entries repeat per (event, customer, employee, kind): a re-applied event adds nothing.
    timeline::record_many(&mut tx, &entries).await.unwrap();
    welcome::record_results(&mut tx, c, &results).await.unwrap();
    welcome::record_results(&mut tx, c, &[outcome("code1", "skipped")]).await.unwrap();
    inbox::finish_done(&mut tx, &inbox_ids).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(timeline::of_customer(&db, c, "wm1", 100).await.unwrap().len(), 4, "2 events × 2 kinds");
    assert_eq!(welcome::result_counts(&db, c).await.unwrap(), vec![("sent".to_owned(), 60)], "first outcome kept");
    assert_eq!(inbox::unfinished(&db).await.unwrap(), 0);
    let mut recorded = welcome::recorded_codes(&db, c, &["code1", "nope", "code59"]).await.unwrap();
    recorded.sort();
    assert_eq!(recorded, vec!["code1", "code59"]);
}
