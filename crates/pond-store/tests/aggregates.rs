//! Storage tests for every aggregate, each run on SQLite and on PostgreSQL.

use pond_core::{JobStatus, PageRequest, Role, Secret, StaffStatus};
use pond_store::{
    Db, StoreError, audit, corp,
    customer::{self, CustomerData, FollowRelation},
    department::{self, Department},
    group::{self, CustomerGroup, GroupMember},
    inbox::{self, Inserted},
    jobs::{self, NewJob},
    session,
    staff::{self, Staff},
    tag::{self, Tag, TagGroup},
    test_on_both_backends, token, user,
};

test_on_both_backends!(
    migrations_are_recorded_and_idempotent,
    tables_that_fill_get_their_first_statistics,
    corp_settings_round_trip_and_keep_secrets,
    departments_upsert_and_mark_removed,
    staff_upsert_search_paginate_and_resign,
    customers_follows_and_follow_tags,
    tags_and_groups_list_with_counts,
    customer_groups_and_members,
    inbox_absorbs_duplicates_and_claims_once,
    jobs_enqueue_claim_complete_fail_retry,
    jobs_lease_expiry_makes_job_claimable_again,
    audit_log_records_and_searches,
    users_sessions_and_tokens,
    search_treats_wildcards_literally,
);

async fn new_corp(db: &Db) -> i64 {
    corp::create(db, "星巴克测试").await.expect("create corp").id
}

async fn migrations_are_recorded_and_idempotent(db: Db) {
    assert_eq!(db.applied_migrations().await.unwrap(), vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    assert!(db.migrate().await.unwrap().is_empty(), "second run applies nothing");
    assert!(db.ping().await);
    if let Db::Postgres(pool) = &db {
        // v5: the tables written for every event keep no foreign key to corps; the others do.
        let keyed: Vec<String> = sqlx::query_scalar(
            "SELECT conrelid::regclass::text FROM pg_constraint
             WHERE contype = 'f' AND confrelid = 'corps'::regclass ORDER BY 1",
        )
        .fetch_all(pool)
        .await
        .unwrap();
        for hot in ["inbox_events", "jobs", "customers", "follow_relations", "customer_events", "welcome_results"] {
            assert!(!keyed.iter().any(|t| t == hot), "{hot} still checks corps: {keyed:?}");
        }
        assert!(keyed.iter().any(|t| t == "staff") && keyed.iter().any(|t| t == "channel_codes"), "{keyed:?}");
    }
}

/// PostgreSQL plans a new table's lookups with default selectivities until it has statistics;
/// Pond gathers them as soon as a table holds rows, once.
async fn tables_that_fill_get_their_first_statistics(db: Db) {
    let c = new_corp(&db).await;
    assert_eq!(db.analyze_new_tables(16).await.unwrap(), Vec::<String>::new(), "nothing filled yet");
    let results: Vec<pond_store::welcome::WelcomeResult> = (0..2_000)
        .map(|i| pond_store::welcome::WelcomeResult {
            external_userid: format!("wm{i:05}"),
            userid: "zhangsan".into(),
            welcome_code: format!("code-{i:05}"),
            welcome_id: None,
            status: "sent".into(),
            reason: String::new(),
            event_at: i,
            received_at: i,
            finished_at: i,
        })
        .collect();
    let mut tx = db.begin().await.unwrap();
    assert_eq!(pond_store::welcome::record_results(&mut tx, c, &results).await.unwrap(), 2_000);
    tx.commit().await.unwrap();
    let analyzed = db.analyze_new_tables(16).await.unwrap();
    match &db {
        Db::Postgres(pool) => {
            assert_eq!(analyzed, vec!["public.welcome_results".to_owned()], "only the table that filled");
            let corps: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM pg_stats WHERE tablename = 'welcome_results' AND attname = 'corp_id'",
            )
            .fetch_one(pool)
            .await
            .unwrap();
            assert_eq!(corps, 1, "statistics gathered");
            assert!(db.analyze_new_tables(16).await.unwrap().is_empty(), "once only");
        }
        Db::Sqlite { .. } => assert!(analyzed.is_empty(), "nothing to do on SQLite"),
    }
}

async fn corp_settings_round_trip_and_keep_secrets(db: Db) {
    let id = new_corp(&db).await;
    let settings = corp::WecomSettings {
        name: "咖啡连锁".into(),
        wecom_corp_id: Some("ww0123456789abcdef".into()),
        agent_id: Some(1000002),
        contact_secret: Some(Secret::new("contact-secret-value-0123456789")),
        app_secret: Some(Secret::new("app-secret-value-0123456789")),
        callback_token: Some(Secret::new("tok123")),
        encoding_aes_key: Some(Secret::new("jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C")),
        api_base_url: "http://127.0.0.1:9000".into(),
    };
    let saved = corp::update_settings(&db, id, &settings).await.unwrap();
    assert_eq!(saved.name, "咖啡连锁");
    assert_eq!(saved.contact_secret.expose(), "contact-secret-value-0123456789");

    // Blank secrets keep what is stored.
    let keep = corp::WecomSettings {
        callback_token: None,
        contact_secret: None,
        app_secret: None,
        encoding_aes_key: None,
        ..settings.clone()
    };
    let kept = corp::update_settings(&db, id, &keep).await.unwrap();
    assert_eq!(kept.app_secret.expose(), "app-secret-value-0123456789");
    assert_eq!(kept.callback_token.expose(), "tok123");
    assert_eq!(kept.encoding_aes_key.expose(), "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C");
    assert!(!format!("{kept:?}").contains("secret-value"), "Debug must mask secrets");

    let found = corp::find_by_wecom_corp_id(&db, "ww0123456789abcdef").await.unwrap().expect("found");
    assert_eq!(found.id, id);
    assert_eq!(corp::get(&db, id).await.unwrap().agent_id, Some(1000002));

    // A second corp cannot take the same WeCom corp id.
    let other = new_corp(&db).await;
    let err = corp::update_settings(&db, other, &settings).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert!(matches!(corp::get(&db, 9999).await, Err(StoreError::NotFound(_))));
    assert_eq!(corp::list(&db).await.unwrap().len(), 2);
}

async fn departments_upsert_and_mark_removed(db: Db) {
    let c = new_corp(&db).await;
    let mut d =
        Department { corp_id: c, dept_id: 1, name: "总部".into(), parent_id: None, sort_order: 0, removed_at: None };
    department::upsert(&db, &d).await.unwrap();
    department::upsert(&db, &Department { dept_id: 2, name: "华东区".into(), parent_id: Some(1), ..d.clone() })
        .await
        .unwrap();
    d.name = "总公司".into();
    department::upsert(&db, &d).await.unwrap();
    assert!(department::mark_removed(&db, c, 2).await.unwrap());
    assert!(!department::mark_removed(&db, c, 2).await.unwrap(), "second mark is a no-op");
    let all = department::list(&db, c).await.unwrap();
    assert_eq!(all.len(), 2, "removed departments are kept");
    assert_eq!(all[0].name, "总公司");
    assert!(all[1].removed_at.is_some());
}

fn staff(corp_id: i64, userid: &str, name: &str) -> Staff {
    Staff {
        corp_id,
        userid: userid.into(),
        name: name.into(),
        department_ids: "1".into(),
        position: "店长".into(),
        mobile: String::new(),
        status: "active".into(),
        removed_at: None,
    }
}

async fn staff_upsert_search_paginate_and_resign(db: Db) {
    let c = new_corp(&db).await;
    let other = new_corp(&db).await;
    for i in 0..25 {
        staff::upsert(&db, &staff(c, &format!("user{i:02}"), &format!("员工{i:02}"))).await.unwrap();
    }
    staff::upsert(&db, &staff(other, "user00", "别家员工")).await.unwrap();
    let page = staff::list(&db, c, None, PageRequest::new(Some(3), Some(10))).await.unwrap();
    assert_eq!((page.total, page.items.len(), page.pages()), (25, 5, 3));
    let found = staff::list(&db, c, Some("USER1"), PageRequest::default()).await.unwrap();
    assert_eq!(found.total, 10, "case-insensitive search on userid");
    let by_name = staff::list(&db, c, Some("员工2"), PageRequest::default()).await.unwrap();
    assert_eq!(by_name.total, 5);
    staff::set_status(&db, c, "user03", StaffStatus::Resigned).await.unwrap();
    assert_eq!(staff::get(&db, c, "user03").await.unwrap().status(), StaffStatus::Resigned);
    assert_eq!(staff::get(&db, other, "user00").await.unwrap().name, "别家员工", "corps are separate");
    assert!(matches!(staff::set_status(&db, c, "nobody", StaffStatus::Resigned).await, Err(StoreError::NotFound(_))));
    let mut some = staff::of_userids(&db, c, &["user03", "user04", "nobody"]).await.unwrap();
    some.sort_by(|a, b| a.userid.cmp(&b.userid));
    let got: Vec<(&str, StaffStatus)> = some.iter().map(|s| (s.userid.as_str(), s.status())).collect();
    assert_eq!(
        got,
        [("user03", StaffStatus::Resigned), ("user04", StaffStatus::Active)],
        "only known ones, this corp's"
    );
}

fn follow(corp_id: i64, ext: &str, userid: &str) -> FollowRelation {
    FollowRelation {
        corp_id,
        external_userid: ext.into(),
        userid: userid.into(),
        remark: "老客".into(),
        description: String::new(),
        add_way: 1,
        state: "store-001".into(),
        added_at: 1_700_000_000_000,
        removed_at: None,
    }
}

async fn customers_follows_and_follow_tags(db: Db) {
    let c = new_corp(&db).await;
    let data =
        CustomerData {
            external_userid: "wmEXT1".into(), name: "张三".into(), customer_type: 1, ..Default::default()
        };
    let id1 = customer::upsert(&db, c, &data).await.unwrap();
    let id1_again = customer::upsert(&db, c, &CustomerData { name: "张三丰".into(), ..data.clone() }).await.unwrap();
    assert_eq!(id1, id1_again, "upsert keeps the dense id");
    let id2 = customer::upsert(&db, c, &CustomerData { external_userid: "wmEXT2".into(), name: "李四".into(), ..data })
        .await
        .unwrap();
    assert!(id2 > id1);
    assert_eq!(customer::get(&db, c, "wmEXT1").await.unwrap().name, "张三丰");

    customer::upsert_follow(&db, &follow(c, "wmEXT1", "user01")).await.unwrap();
    customer::upsert_follow(&db, &follow(c, "wmEXT1", "user02")).await.unwrap();
    assert!(customer::end_follow(&db, c, "wmEXT1", "user02").await.unwrap());
    assert!(!customer::end_follow(&db, c, "wmEXT1", "user02").await.unwrap());
    let follows = customer::follows_of(&db, c, "wmEXT1").await.unwrap();
    assert_eq!(follows.len(), 2);
    assert_eq!(follows[0].state, "store-001");
    assert!(follows.iter().any(|f| f.userid == "user02" && f.removed_at.is_some()));

    let tags = vec!["etB".to_owned(), "etA".to_owned()];
    customer::set_follow_tags(&db, c, pond_core::ids::Follow { external_userid: "wmEXT1", userid: "user01" }, &tags)
        .await
        .unwrap();
    assert_eq!(
        customer::follow_tags(&db, c, pond_core::ids::Follow { external_userid: "wmEXT1", userid: "user01" })
            .await
            .unwrap(),
        vec!["etA", "etB"]
    );
    customer::set_follow_tags(
        &db,
        c,
        pond_core::ids::Follow { external_userid: "wmEXT1", userid: "user01" },
        &["etC".to_owned()],
    )
    .await
    .unwrap();
    assert_eq!(
        customer::follow_tags(&db, c, pond_core::ids::Follow { external_userid: "wmEXT1", userid: "user01" })
            .await
            .unwrap(),
        vec!["etC"]
    );
    assert!(
        customer::follow_tags(&db, c, pond_core::ids::Follow { external_userid: "wmEXT1", userid: "user02" })
            .await
            .unwrap()
            .is_empty(),
        "tags are per follow relation"
    );

    customer::mark_removed(&db, c, "wmEXT2").await.unwrap();
    let page = customer::list(&db, c, None, PageRequest::default()).await.unwrap();
    assert_eq!(page.total, 2);
    assert_eq!(page.items[0].external_userid, "wmEXT2", "newest first");
    assert!(page.items[0].removed_at.is_some());
    assert_eq!(customer::list(&db, c, Some("张"), PageRequest::default()).await.unwrap().total, 1);
}

async fn tags_and_groups_list_with_counts(db: Db) {
    let c = new_corp(&db).await;
    tag::upsert_group(&db, &TagGroup { corp_id: c, group_id: "g1".into(), name: "渠道".into(), sort_order: 1 })
        .await
        .unwrap();
    tag::upsert_group(&db, &TagGroup { corp_id: c, group_id: "g2".into(), name: "会员等级".into(), sort_order: 2 })
        .await
        .unwrap();
    for (id, g, name) in [("t1", "g1", "门店"), ("t2", "g1", "包裹卡"), ("t3", "g2", "金卡")] {
        tag::upsert_tag(
            &db,
            &Tag { corp_id: c, tag_id: id.into(), group_id: g.into(), name: name.into(), sort_order: 0 },
        )
        .await
        .unwrap();
    }
    customer::set_follow_tags(
        &db,
        c,
        pond_core::ids::Follow { external_userid: "wmA", userid: "u1" },
        &["t1".into(), "t3".into()],
    )
    .await
    .unwrap();
    customer::set_follow_tags(&db, c, pond_core::ids::Follow { external_userid: "wmB", userid: "u1" }, &["t1".into()])
        .await
        .unwrap();
    let all = tag::list(&db, c, None, PageRequest::default()).await.unwrap();
    assert_eq!(all.total, 3);
    assert_eq!(all.items[0].group_name, "渠道");
    let t1 = all.items.iter().find(|t| t.tag_id == "t1").unwrap();
    assert_eq!(t1.customers, 2);
    let gold = tag::list(&db, c, Some("会员"), PageRequest::default()).await.unwrap();
    assert_eq!(gold.items.iter().map(|t| t.tag_id.as_str()).collect::<Vec<_>>(), vec!["t3"], "search by group name");
    assert!(tag::mark_tag_deleted(&db, c, "t2").await.unwrap());
    let listed = tag::list(&db, c, Some("包裹"), PageRequest::default()).await.unwrap();
    assert!(listed.items[0].deleted_at.is_some(), "deleted tags are marked, not removed");
}

async fn customer_groups_and_members(db: Db) {
    let c = new_corp(&db).await;
    let g = CustomerGroup {
        corp_id: c,
        chat_id: "wrCHAT1".into(),
        name: "会员福利群".into(),
        owner_userid: "u1".into(),
        notice: String::new(),
        created_at: 1_000,
        dismissed_at: None,
    };
    group::upsert(&db, &g).await.unwrap();
    group::upsert(
        &db,
        &CustomerGroup { chat_id: "wrCHAT2".into(), name: "新品试饮群".into(), created_at: 2_000, ..g.clone() },
    )
    .await
    .unwrap();
    for (i, member) in ["u1", "wmA", "wmB"].iter().enumerate() {
        group::upsert_member(
            &db,
            &GroupMember {
                corp_id: c,
                chat_id: "wrCHAT1".into(),
                member_id: (*member).into(),
                member_type: if member.starts_with('u') { 1 } else { 2 },
                join_time: i as i64,
                join_scene: 1,
                invitor_userid: String::new(),
                group_nickname: String::new(),
                left_at: None,
            },
        )
        .await
        .unwrap();
    }
    assert!(group::mark_member_left(&db, c, "wrCHAT1", "wmB", 5_000).await.unwrap());
    let listed = group::list(&db, c, None, PageRequest::default()).await.unwrap();
    assert_eq!(listed.items.iter().map(|g| g.chat_id.as_str()).collect::<Vec<_>>(), vec!["wrCHAT2", "wrCHAT1"]);
    assert_eq!(listed.items[1].members, 2, "members who left are not counted");
    assert_eq!(group::members(&db, c, "wrCHAT1").await.unwrap().len(), 3);
    group::upsert(&db, &CustomerGroup { dismissed_at: Some(9_000), ..g }).await.unwrap();
    let found = group::list(&db, c, Some("福利"), PageRequest::default()).await.unwrap();
    assert_eq!(found.items[0].dismissed_at, Some(9_000));
}

async fn inbox_absorbs_duplicates_and_claims_once(db: Db) {
    let c = new_corp(&db).await;
    let first = inbox::insert(&db, c, "add:u1:wmA:100", "change_external_contact", "<xml/>").await.unwrap();
    assert!(matches!(first, Inserted::New(_)));
    assert_eq!(
        inbox::insert(&db, c, "add:u1:wmA:100", "change_external_contact", "<xml/>").await.unwrap(),
        Inserted::Duplicate
    );
    inbox::insert(&db, c, "del:u1:wmA:200", "change_external_contact", "<xml/>").await.unwrap();
    let claimed = inbox::claim(&db, "w1", 10, 60_000).await.unwrap();
    assert_eq!(claimed.len(), 2);
    assert!(inbox::claim(&db, "w1", 10, 60_000).await.unwrap().is_empty(), "claimed events are not handed out again");
    assert_eq!(inbox::unfinished(&db).await.unwrap(), 2);
    inbox::finish(&db, claimed[0].id, inbox::Outcome::Done).await.unwrap();
    let later = pond_store::now_ms() + 3_600_000;
    inbox::finish(&db, claimed[1].id, inbox::Outcome::Retry { error: "boom", at: later }).await.unwrap();
    assert!(inbox::claim(&db, "w1", 10, 60_000).await.unwrap().is_empty(), "retries wait for their time");
    inbox::finish(&db, claimed[1].id, inbox::Outcome::Retry { error: "boom", at: 0 }).await.unwrap();
    let again = inbox::claim(&db, "w1", 10, -1).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);
    assert!(inbox::claim(&db, "w1", 10, 60_000).await.unwrap().is_empty(), "a lapsed lease waits for the sweep");
    assert_eq!(inbox::requeue_lapsed(&db).await.unwrap(), 1);
    let lease_over = inbox::claim(&db, "w1", 10, 60_000).await.unwrap();
    assert_eq!(lease_over.len(), 1, "an expired lease makes the event claimable again");
    inbox::finish(&db, lease_over[0].id, inbox::Outcome::Failed { error: "gave up" }).await.unwrap();
    assert_eq!(inbox::unfinished(&db).await.unwrap(), 0);
    assert!(inbox::counts_by_status(&db).await.unwrap().contains(&("failed".to_owned(), 1)));
    // A duplicate of an applied event puts it back in the queue (re-applying is an idempotent refresh).
    assert_eq!(
        inbox::insert(&db, c, "add:u1:wmA:100", "change_external_contact", "<xml/>").await.unwrap(),
        Inserted::Duplicate
    );
    assert_eq!(inbox::claim(&db, "w1", 10, 60_000).await.unwrap().len(), 1);
    let page = inbox::list(&db, c, Some("external"), "", PageRequest::default()).await.unwrap();
    assert_eq!(page.total, 2);
}

fn new_job<'a>(corp_id: i64, key: &'a str, max_attempts: i64) -> NewJob<'a> {
    NewJob { corp_id, kind: "test.echo", payload: "{}", idempotency_key: key, max_attempts, run_at: None }
}

async fn jobs_enqueue_claim_complete_fail_retry(db: Db) {
    let c = new_corp(&db).await;
    let a = jobs::enqueue(&db, &new_job(c, "a", 2)).await.unwrap().expect("new");
    assert_eq!(jobs::enqueue(&db, &new_job(c, "a", 2)).await.unwrap(), None, "idempotency key dedupes");
    let b = jobs::enqueue(&db, &new_job(c, "b", 1)).await.unwrap().expect("new");
    jobs::enqueue(&db, &NewJob { run_at: Some(pond_store::now_ms() + 3_600_000), ..new_job(c, "later", 1) })
        .await
        .unwrap();

    let claimed = jobs::claim(&db, "w1", 10, 60_000).await.unwrap();
    assert_eq!(claimed.iter().map(|j| j.id).collect::<Vec<_>>(), vec![a, b], "future jobs wait");
    assert!(claimed.iter().all(|j| j.attempts == 1 && j.status() == JobStatus::Running));
    assert!(jobs::claim(&db, "w2", 10, 60_000).await.unwrap().is_empty());

    assert_eq!(jobs::complete(&db, "someone-else", &[a]).await.unwrap(), 0, "only the holder completes");
    assert_eq!(jobs::complete(&db, "w1", &[a]).await.unwrap(), 1);
    assert_eq!(jobs::get(&db, c, a).await.unwrap().status(), JobStatus::Done);

    // b has max_attempts 1: a retryable failure still ends it.
    let st = jobs::fail(&db, "w1", b, "errcode 45009: api freq out of limit", Some(0)).await.unwrap();
    assert_eq!(st, JobStatus::Failed);
    let failed = jobs::list(&db, c, Some(JobStatus::Failed), PageRequest::default()).await.unwrap();
    assert_eq!(failed.total, 1);
    assert_eq!(failed.items[0].last_error.as_deref(), Some("errcode 45009: api freq out of limit"));

    jobs::retry(&db, c, b).await.unwrap();
    assert!(matches!(jobs::retry(&db, c, b).await, Err(StoreError::NotFound(_))), "only failed jobs retry");
    let again = jobs::claim(&db, "w2", 10, 60_000).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id, again[0].attempts), (b, 1));
    // A retryable failure with attempts left goes back to pending at the given time.
    let st = jobs::fail(&db, "w2", b, "temporary", Some(pond_store::now_ms() + 3_600_000)).await;
    assert_eq!(st.unwrap(), JobStatus::Failed, "attempts exhausted (1 of 1)");

    let counts = jobs::counts_by_status(&db).await.unwrap();
    assert!(counts.contains(&("done".to_owned(), 1)) && counts.contains(&("failed".to_owned(), 1)), "{counts:?}");
    assert_eq!(jobs::list(&db, c, None, PageRequest::default()).await.unwrap().total, 3);
}

async fn jobs_lease_expiry_makes_job_claimable_again(db: Db) {
    let c = new_corp(&db).await;
    let id = jobs::enqueue(&db, &new_job(c, "x", 5)).await.unwrap().expect("new");
    let first = jobs::claim(&db, "dead-worker", 1, -1).await.unwrap();
    assert_eq!(first.len(), 1);
    let st = jobs::fail(&db, "dead-worker", id, "e", Some(0));
    // The lease is already over; once swept, another worker takes it over.
    assert!(jobs::claim(&db, "w2", 1, 60_000).await.unwrap().is_empty(), "a lapsed lease waits for the sweep");
    assert_eq!(jobs::requeue_lapsed(&db).await.unwrap(), 1);
    let second = jobs::claim(&db, "w2", 1, 60_000).await.unwrap();
    let _ = st.await; // the dead worker's late report must not disturb the new holder
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].locked_by.as_deref(), Some("w2"));
    assert_eq!(jobs::complete(&db, "dead-worker", &[id]).await.unwrap(), 0);
    assert_eq!(jobs::complete(&db, "w2", &[id]).await.unwrap(), 1);
}

async fn audit_log_records_and_searches(db: Db) {
    let c = new_corp(&db).await;
    audit::record(&db, c, "ops@example.com", "corp.update", "corp:1", "name").await.unwrap();
    audit::record(&db, c, "cli", "user.add", "boss@example.com", "role=owner").await.unwrap();
    let all = audit::list(&db, c, None, PageRequest::default()).await.unwrap();
    assert_eq!(all.items.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(), vec!["user.add", "corp.update"]);
    assert_eq!(audit::list(&db, c, Some("OPS@"), PageRequest::default()).await.unwrap().total, 1);
}

async fn users_sessions_and_tokens(db: Db) {
    let c = new_corp(&db).await;
    let u = user::create(&db, c, "boss@example.com", "$argon2id$fake", Role::Owner).await.unwrap();
    assert!(matches!(user::create(&db, c, "boss@example.com", "x", Role::Admin).await, Err(StoreError::Conflict(_))));
    assert_eq!(user::find_by_email(&db, "boss@example.com").await.unwrap().unwrap().role(), Role::Owner);
    user::touch_login(&db, u.id).await.unwrap();
    assert!(user::get(&db, u.id).await.unwrap().last_login_at.is_some());
    assert_eq!(user::list(&db, c).await.unwrap().len(), 1);
    assert_eq!(user::count(&db).await.unwrap(), 1);

    session::create(&db, "hash-live", c, u.id, "csrf1", 60_000).await.unwrap();
    session::create(&db, "hash-old", c, u.id, "csrf2", -1).await.unwrap();
    assert_eq!(session::get_live(&db, "hash-live").await.unwrap().unwrap().csrf_token, "csrf1");
    assert!(session::get_live(&db, "hash-old").await.unwrap().is_none(), "expired sessions are not live");
    assert_eq!(session::purge_expired(&db).await.unwrap(), 1);
    session::delete(&db, "hash-live").await.unwrap();
    assert!(session::get_live(&db, "hash-live").await.unwrap().is_none());

    let t = token::create(&db, c, "ci", "sha-of-token", "pond_abc", "boss@example.com", "operator").await.unwrap();
    assert_eq!(token::find_active(&db, "sha-of-token").await.unwrap().unwrap().id, t.id);
    token::touch(&db, t.id).await.unwrap();
    token::revoke(&db, c, t.id).await.unwrap();
    assert!(token::find_active(&db, "sha-of-token").await.unwrap().is_none());
    assert!(token::list(&db, c).await.unwrap()[0].last_used_at.is_some());
}

async fn search_treats_wildcards_literally(db: Db) {
    let c = new_corp(&db).await;
    staff::upsert(&db, &staff(c, "a_b", "百分之%百")).await.unwrap();
    staff::upsert(&db, &staff(c, "axb", "普通")).await.unwrap();
    assert_eq!(staff::list(&db, c, Some("a_b"), PageRequest::default()).await.unwrap().total, 1);
    assert_eq!(staff::list(&db, c, Some("%"), PageRequest::default()).await.unwrap().total, 1);
}
