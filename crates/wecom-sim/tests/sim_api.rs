//! The simulator through its public HTTP surface, driven by the `wecom` client as Pond would.

use std::{sync::Arc, time::Duration};

use axum::{Router, extract::Query, routing::post};
use tokio::sync::Mutex;
use wecom::{
    Client, ClientConfig, MsgCrypt,
    api::{AddCorpTag, ContactWay, ContactWayUpdate, NewTag, Text, WelcomeMsg},
};
use wecom_sim::{
    SimConfig, Simulator,
    callbacks::CallbackConfig,
    world::{Action, Fault, LateAnswer, Scenario},
};

async fn start(scenario: Scenario) -> (Simulator, String) {
    let sim = Simulator::new(SimConfig { scenario: Some(scenario), ..SimConfig::default() }).expect("sim");
    let (addr, _) = sim.start("127.0.0.1:0".parse().unwrap()).await.expect("bind");
    (sim, format!("http://{addr}"))
}

fn small() -> Scenario {
    Scenario { seed: 7, stores: 3, staff_per_store: 3, customers: 120, groups: 4, history_days: 0 }
}

fn client(base: &str, sim: &Simulator, app: bool) -> Client {
    let c = sim.credentials();
    let secret = if app { c.app_secret } else { c.contact_secret };
    let mut cfg = ClientConfig::new(base, &c.corp_id, &secret);
    cfg.base_backoff = Duration::from_millis(5);
    Client::new(cfg).expect("client")
}

#[tokio::test]
async fn tokens_errcodes_and_scopes() {
    let (sim, base) = start(small()).await;
    let creds = sim.credentials();
    let bad_corp = Client::new(ClientConfig::new(&base, "wwnope", &creds.app_secret)).unwrap();
    assert_eq!(bad_corp.access_token().await.unwrap_err().errcode(), Some(40013));
    let bad_secret = Client::new(ClientConfig::new(&base, &creds.corp_id, "wrong")).unwrap();
    assert_eq!(bad_secret.access_token().await.unwrap_err().errcode(), Some(40001));

    let app = client(&base, &sim, true);
    let t1 = app.access_token().await.unwrap();
    let again = client(&base, &sim, true).access_token().await.unwrap();
    assert_eq!(t1, again, "the same token until it expires");
    let users = app.user_list(1, true).await.unwrap();
    assert_eq!(users.len(), 9);
    assert_eq!(app.user_get("nobody").await.unwrap_err().errcode(), Some(60111));

    let contact = client(&base, &sim, false);
    assert_eq!(
        contact.user_list(1, true).await.unwrap_err().errcode(),
        Some(48002),
        "contact secret cannot read the address book"
    );
    assert_eq!(contact.follow_user_list().await.unwrap().len(), 9);

    // Expired tokens are renewed transparently, once.
    sim.expire_tokens();
    assert_eq!(app.department_list(None).await.unwrap().len(), 4);
    let raw = reqwest::get(format!("{base}/cgi-bin/department/list?access_token=bogus"))
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(raw["errcode"], 40014);
    assert!(raw["errmsg"].as_str().unwrap().contains("more info at"));
    let missing = reqwest::get(format!("{base}/cgi-bin/department/list"))
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(missing["errcode"], 41001);
}

#[tokio::test]
async fn customers_tags_and_groups_read_back() {
    let (sim, base) = start(small()).await;
    let c = client(&base, &sim, true);
    let follow = c.follow_user_list().await.unwrap();
    let all = c.batch_get_by_user_all(&follow).await.unwrap();
    let picture = sim.picture();
    assert_eq!(all.len(), picture.follows.len(), "every follow relation is listed once");
    let one = &all[0];
    let detail = c.external_contact_get(&one.external_contact.external_userid).await.unwrap();
    assert!(detail.follow_user.iter().any(|f| f.userid == one.follow_info.userid));
    assert_eq!(c.external_contact_get("wmNOBODY").await.unwrap_err().errcode(), Some(40096));
    let bad = c.batch_get_by_user(&[], "", 10).await.unwrap_err();
    assert_eq!(bad.errcode(), Some(40058));

    let tags = c.corp_tag_list(&[], &[]).await.unwrap();
    assert_eq!(tags.iter().map(|g| g.tag.len()).sum::<usize>(), 11);
    let created = c
        .add_corp_tag(&AddCorpTag {
            group_name: Some("渠道".into()),
            tag: vec![NewTag { name: "小红书".into(), order: None }],
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(created.tag.iter().any(|t| t.name == "小红书"));
    let dup = c
        .add_corp_tag(&AddCorpTag {
            group_name: Some("渠道".into()),
            tag: vec![NewTag { name: "小红书".into(), order: None }],
            ..Default::default()
        })
        .await;
    assert_eq!(dup.unwrap_err().errcode(), Some(40071));
    let new_id = created.tag.iter().find(|t| t.name == "小红书").unwrap().id.clone();
    c.edit_corp_tag(&new_id, Some("小红书种草"), None).await.unwrap();
    c.mark_tag(&one.follow_info.userid, &one.external_contact.external_userid, std::slice::from_ref(&new_id), &[])
        .await
        .unwrap();
    assert!(sim.picture().follows.values().any(|(_, _, tags)| tags.contains(&new_id)));
    c.del_corp_tag(std::slice::from_ref(&new_id), &[]).await.unwrap();
    assert_eq!(c.edit_corp_tag(&new_id, Some("x"), None).await.unwrap_err().errcode(), Some(40068));

    let groups = c.group_chat_list_all().await.unwrap();
    assert_eq!(groups.len(), 4);
    let g = c.group_chat_get(&groups[0].chat_id).await.unwrap();
    assert!(!g.member_list.is_empty() && !g.owner.is_empty());
}

#[tokio::test]
async fn contact_ways_enforce_limits() {
    let (sim, base) = start(small()).await;
    let c = client(&base, &sim, true);
    let way = ContactWay {
        kind: 2,
        scene: 2,
        state: "parcel-card".into(),
        user: vec!["s001e01".into(), "s001e02".into()],
        skip_verify: true,
        ..Default::default()
    };
    let created = c.add_contact_way(&way).await.unwrap();
    assert!(!created.qr_code.is_empty());
    let read = c.get_contact_way(&created.config_id).await.unwrap();
    assert_eq!((read.state.as_str(), read.user.len()), ("parcel-card", 2));
    let long_state = ContactWay { state: "x".repeat(31), ..way.clone() };
    assert_eq!(c.add_contact_way(&long_state).await.unwrap_err().errcode(), Some(40058));
    let too_many = ContactWay { user: (0..101).map(|i| format!("u{i}")).collect(), ..way.clone() };
    assert_eq!(c.add_contact_way(&too_many).await.unwrap_err().errcode(), Some(40058));
    let single_two = ContactWay { kind: 1, ..way.clone() };
    assert_eq!(c.add_contact_way(&single_two).await.unwrap_err().errcode(), Some(40058));
    let unknown_user = ContactWay { user: vec!["ghost".into()], ..way.clone() };
    assert_eq!(c.add_contact_way(&unknown_user).await.unwrap_err().errcode(), Some(60111));
    let no_type =
        c.post_raw("externalcontact/add_contact_way", &serde_json::json!({"scene": 2, "user": ["s001e01"]})).await;
    assert_eq!(no_type.unwrap_err().errcode(), Some(41037));
    c.update_contact_way(&ContactWayUpdate {
        config_id: created.config_id.clone(),
        user: Some(vec!["s002e01".into()]),
        ..Default::default()
    })
    .await
    .unwrap();
    let updated = c.get_contact_way(&created.config_id).await.unwrap();
    assert_eq!(updated.user, vec!["s002e01".to_owned()]);
    assert_eq!(updated.state, "parcel-card", "fields not sent are kept");
    let listed = c.list_contact_way(None, None, "", 100).await.unwrap();
    assert_eq!(listed.contact_way.len(), 4, "3 store codes + the new one");
    let now = sim.state.world().now_s();
    let later = c.list_contact_way(Some(now + 60), None, "", 100).await.unwrap();
    assert!(later.contact_way.is_empty(), "none created after start_time: {later:?}");
    let earlier = c.list_contact_way(Some(now - 86_400), Some(now - 3_600), "", 100).await.unwrap();
    assert!(earlier.contact_way.is_empty(), "none created before end_time: {earlier:?}");
    c.del_contact_way(&created.config_id).await.unwrap();
    // 41044 无效的「联系我」config_id参数 (errcode table, document 90313; xen0n/go-workwx errcodes).
    assert_eq!(c.get_contact_way(&created.config_id).await.unwrap_err().errcode(), Some(41044));
    assert_eq!(c.del_contact_way(&created.config_id).await.unwrap_err().errcode(), Some(41044));
}

#[tokio::test]
async fn welcome_codes_are_single_use_and_expire() {
    let (sim, base) = start(small()).await;
    let c = client(&base, &sim, true);
    let scan = |s: &Simulator| {
        s.act(Action::Scan {
            config_id: None,
            state: Some("store-001".into()),
            external_userid: None,
            name: Some("新客".into()),
        })
        .unwrap()
    };
    let first = scan(&sim);
    let msg = |code: String| WelcomeMsg {
        welcome_code: code,
        text: Some(Text { content: "欢迎光临".into() }),
        attachments: vec![],
    };
    c.send_welcome_msg(&msg(first.welcome_code.clone().unwrap())).await.unwrap();
    assert_eq!(c.send_welcome_msg(&msg(first.welcome_code.clone().unwrap())).await.unwrap_err().errcode(), Some(41051));
    // The clock stopped, then moved past the code's 20 seconds, through the control API.
    let http = reqwest::Client::new();
    let at = sim.now_ms();
    let frozen: serde_json::Value = http
        .post(format!("{base}/sim/clock/freeze"))
        .json(&serde_json::json!({ "at_ms": at }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((frozen["now_ms"].as_i64(), frozen["frozen"].as_bool()), (Some(at), Some(true)));
    let second = scan(&sim);
    assert_ne!(first.userid, second.userid, "multi-user codes rotate");
    let issued = sim.state.world().welcome_codes[second.welcome_code.as_deref().unwrap()].issued_at_ms;
    assert_eq!(issued, at, "issued on the simulator's clock");
    let advance =
        |ms: i64| http.post(format!("{base}/sim/clock/advance")).json(&serde_json::json!({ "ms": ms })).send();
    assert!(advance(20_000).await.unwrap().status().is_success());
    assert_eq!(sim.now_ms(), at + 20_000);
    let third = scan(&sim);
    c.send_welcome_msg(&msg(third.welcome_code.clone().unwrap())).await.unwrap();
    assert_eq!(sim.state.world().welcomes_sent[1].at_ms, at + 20_000, "sent on the simulator's clock");
    assert!(advance(1).await.unwrap().status().is_success());
    // WeCom's errcode table (document 90313; xen0n/go-workwx errcodes/mod.go): 41050 无效的欢迎语code,
    // "须在添加好友后20秒内使用" — for a code past its 20 s and for one WeCom never issued alike;
    // 41049 缺少欢迎语code参数.
    assert_eq!(
        c.send_welcome_msg(&msg(second.welcome_code.clone().unwrap())).await.unwrap_err().errcode(),
        Some(41050),
        "a code past its 20 s"
    );
    assert_eq!(c.send_welcome_msg(&msg("never-issued".into())).await.unwrap_err().errcode(), Some(41050));
    assert_eq!(c.send_welcome_msg(&msg(String::new())).await.unwrap_err().errcode(), Some(41049));
    let empty = WelcomeMsg { welcome_code: "x".into(), text: None, attachments: vec![] };
    assert_eq!(c.send_welcome_msg(&empty).await.unwrap_err().errcode(), Some(40058));
    assert_eq!(sim.state.world().welcomes_sent.len(), 2);
    assert_eq!(sim.calls().get("externalcontact/send_welcome_msg"), Some(&7), "refused calls are counted too");

    // Each add is listed with its creation time in ms and when its code was used, over HTTP too.
    let adds: Vec<wecom_sim::world::AddRecord> =
        reqwest::get(format!("{base}/sim/adds")).await.unwrap().json().await.unwrap();
    assert_eq!(adds, sim.adds());
    assert_eq!(adds.len(), 3);
    let by_code = |code: &Option<String>| adds.iter().find(|a| Some(&a.welcome_code) == code.as_ref()).unwrap();
    let (welcomed, expired, late) =
        (by_code(&first.welcome_code), by_code(&second.welcome_code), by_code(&third.welcome_code));
    assert_eq!(welcomed.external_userid, first.created.clone().unwrap());
    assert!(welcomed.welcomed_at_ms.is_some_and(|at| at >= welcomed.created_at_ms));
    assert_eq!(expired.welcomed_at_ms, None, "an expired code is never used");
    assert_eq!(late.welcomed_at_ms, Some(at + 20_000), "used on the simulator's clock");
}

#[tokio::test]
async fn faults_are_retried_by_the_client() {
    let (sim, base) = start(small()).await;
    let c = client(&base, &sim, true);
    sim.inject(Fault { path: "department/list".into(), errcode: 45009, count: 2, delay_ms: 0, ..Fault::default() });
    sim.inject(Fault { path: "department/list".into(), errcode: -1, count: 1, delay_ms: 0, ..Fault::default() });
    assert_eq!(c.department_list(None).await.unwrap().len(), 4);
    assert_eq!(c.stats().retries.load(std::sync::atomic::Ordering::Relaxed), 3);
    sim.inject(Fault { path: "user/get".into(), errcode: 60111, count: 1, delay_ms: 0, ..Fault::default() });
    assert_eq!(c.user_get("s001e01").await.unwrap_err().errcode(), Some(60111), "permanent errors are not retried");
    assert_eq!(sim.calls().get("department/list"), Some(&4));
    // Carried out, answered "busy": the client retries and WeCom now holds two contact ways.
    let way =
        ContactWay { kind: 1, scene: 2, state: "twice".into(), user: vec!["s001e01".into()], ..Default::default() };
    sim.inject(Fault {
        path: "externalcontact/add_contact_way".into(),
        errcode: -1,
        applied: true,
        ..Fault::default()
    });
    c.add_contact_way(&way).await.unwrap();
    let twice = sim.state.world().contact_ways.values().filter(|w| w.state == "twice").count();
    assert_eq!(twice, 2, "the first call was carried out although it answered -1");

    // An answer held back after the call took effect: the tag exists while the caller still waits.
    sim.answer_late(LateAnswer { path: "externalcontact/add_corp_tag".into(), count: 1, delay_ms: 600_000 });
    let waiting = tokio::spawn(async move {
        let tag = AddCorpTag {
            group_name: Some("渠道".into()),
            tag: vec![NewTag { name: "迟到的回答".into(), order: None }],
            ..Default::default()
        };
        c.add_corp_tag(&tag).await
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !sim.picture().tags.values().any(|(_, name)| name == "迟到的回答") {
        assert!(tokio::time::Instant::now() < deadline, "the call never took effect");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!waiting.is_finished(), "the answer is held back");
    assert_eq!(sim.calls().get("externalcontact/add_corp_tag"), Some(&1), "counted when it arrived");
    waiting.abort();
}

#[tokio::test]
async fn actions_push_signed_callbacks_with_retries() {
    let (sim, _) = start(small()).await;
    let received = Arc::new(Mutex::new(Vec::<String>::new()));
    let creds = sim.credentials();
    let crypt = MsgCrypt::new(&creds.callback_token, &creds.encoding_aes_key, &creds.corp_id).unwrap();
    let fail_first = Arc::new(Mutex::new(true));
    let (r, f) = (received.clone(), fail_first.clone());
    let app = Router::new().route(
        "/cb",
        post(move |Query(q): Query<std::collections::HashMap<String, String>>, body: String| {
            let (r, f, crypt) = (r.clone(), f.clone(), crypt.clone());
            async move {
                let mut fail = f.lock().await;
                if *fail {
                    *fail = false;
                    return "busy".to_owned();
                }
                let xml = crypt
                    .open_callback(&q["msg_signature"], &q["timestamp"], &q["nonce"], &body)
                    .expect("valid callback");
                r.lock().await.push(xml);
                "success".to_owned()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    sim.configure_callbacks(CallbackConfig {
        url: Some(format!("http://{addr}/cb")),
        duplicate: false,
        retry_delay_ms: 10,
        concurrency: 1,
    });
    let out = sim
        .act(Action::Scan { config_id: None, state: Some("store-002".into()), external_userid: None, name: None })
        .unwrap();
    sim.act(Action::CreateTag { group_id: None, group_name: Some("活动".into()), name: "双十一".into() }).unwrap();
    let refused = sim.act(Action::DismissGroup { chat_id: "wrNOPE".into() });
    assert_eq!(refused.unwrap_err().errcode, 40050);
    sim.state.pusher.idle().await;
    let got = received.lock().await.clone();
    assert_eq!(got.len(), 2);
    let first = wecom::Callback::parse(&got[0]).unwrap();
    assert_eq!(first.change_type, "add_external_contact");
    assert!(got[0].contains(out.welcome_code.as_deref().unwrap()));
    assert!(got[1].contains("change_external_tag"));
    let stats = sim.state.pusher.stats();
    assert_eq!((stats.delivered, stats.failed, stats.attempts), (2, 0, 3), "the first was retried once");
}

#[tokio::test]
async fn seeding_is_deterministic_and_traffic_changes_the_world() {
    let (a, _) = start(small()).await;
    let (b, _) = start(small()).await;
    // The callbacks carry the simulator's time (CreateTime): both clocks stand at the same instant,
    // so the comparison does not depend on whether the two runs fall in the same second.
    a.freeze_clock(1_700_000_000_000);
    b.freeze_clock(1_700_000_000_000);
    assert_eq!(a.picture(), b.picture());
    let before = a.picture();
    let report = a.random_actions(200, 9);
    assert!(report.applied > 150, "{report:?}");
    assert_ne!(a.picture(), before);
    let r2 = b.random_actions(200, 9);
    assert!(
        !report.callbacks.is_empty()
            && report.callbacks.iter().all(|xml| xml.contains("<CreateTime>1700000000</CreateTime>"))
    );
    assert_eq!(report, r2, "the same callbacks, CreateTime included");
    assert_eq!(a.picture(), b.picture(), "same seed, same world");
}

#[tokio::test]
async fn operations_endpoints_for_later_features() {
    use wecom::api::{GroupWelcomeTemplate, MomentTask, MsgTemplate};
    let (sim, base) = start(small()).await;
    let c = client(&base, &sim, true);

    // Group welcome templates.
    let t = GroupWelcomeTemplate { text: Some(Text { content: "欢迎入群".into() }), ..Default::default() };
    let id = c.add_group_welcome_template(&t).await.unwrap();
    assert_eq!(c.get_group_welcome_template(&id).await.unwrap().text.unwrap().content, "欢迎入群");
    let with_link = GroupWelcomeTemplate {
        link: Some(serde_json::json!({"title": "福利", "url": "https://example.com"})),
        ..t.clone()
    };
    c.edit_group_welcome_template(&id, &with_link).await.unwrap();
    assert!(c.get_group_welcome_template(&id).await.unwrap().link.is_some());
    assert_eq!(
        c.add_group_welcome_template(&GroupWelcomeTemplate::default()).await.unwrap_err().errcode(),
        Some(40058)
    );
    c.del_group_welcome_template(&id).await.unwrap();
    assert_eq!(c.get_group_welcome_template(&id).await.unwrap_err().errcode(), Some(40058));

    // Mass messages: created, confirmed by the sender, results per customer.
    let (customer, sender) = sim
        .picture()
        .follows
        .keys()
        .next()
        .unwrap()
        .split_once('|')
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .unwrap();
    let m = MsgTemplate {
        chat_type: "single".into(),
        external_userid: vec![customer.clone(), "wmNOBODY".into()],
        text: Some(Text { content: "双十二会员日".into() }),
        ..Default::default()
    };
    let created = c.add_msg_template(&m).await.unwrap();
    assert_eq!(created.fail_list, vec!["wmNOBODY".to_owned()]);
    let now = sim.state.world().now_s();
    let listed = c.get_groupmsg_list_v2("single", now - 3600, now + 60, "", 100).await.unwrap();
    assert!(listed.group_msg_list.iter().any(|g| g.msgid == created.msgid));
    let tasks = c.get_groupmsg_task(&created.msgid, "", 1000).await.unwrap();
    assert_eq!((tasks.task_list[0].userid.as_str(), tasks.task_list[0].status), (sender.as_str(), 0));
    sim.act(Action::StaffSendsMassMessage { msgid: created.msgid.clone(), userid: sender.clone() }).unwrap();
    assert_eq!(c.get_groupmsg_task(&created.msgid, "", 1000).await.unwrap().task_list[0].status, 2);
    let results = c.get_groupmsg_send_result(&created.msgid, &sender, "", 1000).await.unwrap();
    assert_eq!((results.send_list[0].external_userid.as_str(), results.send_list[0].status), (customer.as_str(), 1));
    assert_eq!(
        c.add_msg_template(&MsgTemplate { chat_type: "single".into(), ..Default::default() })
            .await
            .unwrap_err()
            .errcode(),
        Some(40058)
    );

    // Moments: task, invalid senders reported, publish tracked per employee.
    let task = MomentTask {
        text: Some(Text { content: "新品上市".into() }),
        visible_range: Some(serde_json::json!({"sender_list": {"user_list": ["s001e01", "ghost"]}})),
        ..Default::default()
    };
    let job = c.add_moment_task(&task).await.unwrap();
    let result = c.get_moment_task_result(&job).await.unwrap();
    assert_eq!(result.status, 3);
    assert_eq!(result.result["invalid_sender_list"]["user_list"], serde_json::json!(["ghost"]));
    let moment_id = result.result["moment_id"].as_str().unwrap().to_owned();
    sim.act(Action::StaffPublishesMoment { moment_id: moment_id.clone(), userid: "s001e01".into() }).unwrap();
    assert_eq!(c.get_moment_task(&moment_id).await.unwrap()[0].publish_status, 1);
    let too_many = MomentTask { attachments: vec![serde_json::json!({"msgtype": "video", "video": {}}); 2], ..task };
    assert_eq!(c.add_moment_task(&too_many).await.unwrap_err().errcode(), Some(40058));

    // On-job transfer: waits, then moves the relation.
    let takeover = if sender == "s001e01" { "s001e02" } else { "s001e01" };
    let out = c.transfer_customer(false, &sender, takeover, &[customer.clone(), "wmNOBODY".into()]).await.unwrap();
    assert_eq!(out.iter().map(|o| o.errcode).collect::<Vec<_>>(), vec![0, 40096]);
    assert_eq!(c.transfer_result(false, &sender, takeover, "").await.unwrap().customer[0].status, 2);
    sim.act(Action::FinishTransfers { force: false }).unwrap();
    assert_eq!(c.transfer_result(false, &sender, takeover, "").await.unwrap().customer[0].status, 2, "not before 24 h");
    sim.act(Action::FinishTransfers { force: true }).unwrap();
    assert_eq!(c.transfer_result(false, &sender, takeover, "").await.unwrap().customer[0].status, 1);
    assert!(sim.picture().follows.contains_key(&format!("{customer}|{takeover}")));
    assert!(!sim.picture().follows.contains_key(&format!("{customer}|{sender}")));

    // Resignation: customers become unassigned, then go to a colleague; the resigned owner's groups too.
    let leaver = "s002e01";
    let owned: Vec<String> =
        sim.state.world().groups.iter().filter(|(_, g)| g.owner == leaver).map(|(id, _)| id.clone()).collect();
    sim.act(Action::StaffResigns { userid: leaver.into() }).unwrap();
    let unassigned = c.get_unassigned_list("", 1000).await.unwrap();
    let mine: Vec<String> =
        unassigned.info.iter().filter(|u| u.handover_userid == leaver).map(|u| u.external_userid.clone()).collect();
    let first = mine.first().expect("the leaver had customers, now unassigned");
    assert_eq!(
        c.transfer_customer(false, leaver, "s002e02", std::slice::from_ref(first)).await.unwrap_err().errcode(),
        Some(40058)
    );
    let out = c.transfer_customer(true, leaver, "s002e02", std::slice::from_ref(first)).await.unwrap();
    assert_eq!(out[0].errcode, 0);
    sim.act(Action::FinishTransfers { force: true }).unwrap();
    assert!(sim.picture().follows.contains_key(&format!("{first}|s002e02")));
    assert!(!owned.is_empty(), "the leaver owned groups");
    let failed = c.transfer_group_chats(true, &owned, "s002e02").await.unwrap();
    assert_eq!(failed.len(), owned.len(), "on-job transfer refuses a resigned owner's groups");
    assert!(c.transfer_group_chats(false, &owned, "s002e02").await.unwrap().is_empty());
    assert!(owned.iter().all(|g| sim.state.world().groups[g].owner == "s002e02"));

    // Statistics.
    let day = (now + 8 * 3600) / 86_400 * 86_400 - 8 * 3600;
    let behaviour = c.get_user_behavior_data(&[takeover.to_owned()], day, day + 86_399).await.unwrap();
    assert_eq!(behaviour.len(), 1);
    assert!(behaviour[0].new_contact_cnt >= 1, "the transferred customer counts as new today");
    let stats = c.group_chat_statistic(day, &[], 0, 100).await.unwrap();
    assert!(stats.total >= 1 && !stats.items.is_empty());
}
