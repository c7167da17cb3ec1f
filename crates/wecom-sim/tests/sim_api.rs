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
    world::{Action, Fault, Scenario},
};

async fn start(scenario: Scenario) -> (Simulator, String) {
    let sim = Simulator::new(SimConfig { scenario: Some(scenario), ..SimConfig::default() }).expect("sim");
    let (addr, _) = sim.start("127.0.0.1:0".parse().unwrap()).await.expect("bind");
    (sim, format!("http://{addr}"))
}

fn small() -> Scenario {
    Scenario { seed: 7, stores: 3, staff_per_store: 3, customers: 120, groups: 4 }
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
    c.del_contact_way(&created.config_id).await.unwrap();
    assert_eq!(c.get_contact_way(&created.config_id).await.unwrap_err().errcode(), Some(40058));
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
    let second = scan(&sim);
    assert_ne!(first.userid, second.userid, "multi-user codes rotate");
    sim.state.world().clock_offset_ms += 21_000;
    assert_eq!(c.send_welcome_msg(&msg(second.welcome_code.unwrap())).await.unwrap_err().errcode(), Some(40058));
    let empty = WelcomeMsg { welcome_code: "x".into(), text: None, attachments: vec![] };
    assert_eq!(c.send_welcome_msg(&empty).await.unwrap_err().errcode(), Some(40058));
    assert_eq!(sim.state.world().welcomes_sent.len(), 1);
}

#[tokio::test]
async fn faults_are_retried_by_the_client() {
    let (sim, base) = start(small()).await;
    let c = client(&base, &sim, true);
    sim.inject(Fault { path: "department/list".into(), errcode: 45009, count: 2, delay_ms: 0 });
    sim.inject(Fault { path: "department/list".into(), errcode: -1, count: 1, delay_ms: 0 });
    assert_eq!(c.department_list(None).await.unwrap().len(), 4);
    assert_eq!(c.stats().retries.load(std::sync::atomic::Ordering::Relaxed), 3);
    sim.inject(Fault { path: "user/get".into(), errcode: 60111, count: 1, delay_ms: 0 });
    assert_eq!(c.user_get("s001e01").await.unwrap_err().errcode(), Some(60111), "permanent errors are not retried");
    assert_eq!(sim.calls().get("department/list"), Some(&4));
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
    assert_eq!(a.picture(), b.picture());
    let before = a.picture();
    let report = a.random_actions(200, 9);
    assert!(report.applied > 150, "{report:?}");
    assert_ne!(a.picture(), before);
    let r2 = b.random_actions(200, 9);
    assert_eq!(report, r2);
    assert_eq!(a.picture(), b.picture(), "same seed, same world");
}
