//! A simulator saved to a file and restored from it carries on with the same world: the same
//! answers through its HTTP API, the same pending callbacks, and the same next traffic.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use axum::{Router, extract::Query, routing::post};
use serde_json::{Value, json};
use tokio::sync::{Mutex, Notify};
use wecom::{
    Client, ClientConfig, MsgCrypt,
    api::{ContactWay, Text, WelcomeMsg},
    client::Upload,
};
use wecom_sim::{
    SimConfig, Simulator,
    callbacks::CallbackConfig,
    persist::{self, LoadError},
    world::{Action, Scenario},
};

fn small() -> Scenario {
    Scenario { seed: 11, stores: 3, staff_per_store: 3, customers: 150, groups: 4, history_days: 0 }
}

async fn serve(sim: &Simulator) -> String {
    let (addr, _) = sim.start("127.0.0.1:0".parse().expect("address")).await.expect("bind");
    format!("http://{addr}")
}

fn client(base: &str, sim: &Simulator) -> Client {
    let c = sim.credentials();
    let mut cfg = ClientConfig::new(base, &c.corp_id, &c.app_secret);
    cfg.base_backoff = Duration::from_millis(5);
    Client::new(cfg).expect("client")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wecom-sim-{name}-{}-{:x}", std::process::id(), rand::random::<u32>()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// What Pond would read from this simulator, through HTTP.
#[derive(Debug, PartialEq)]
struct View {
    users: Vec<wecom::api::User>,
    followers: Vec<String>,
    customers: Vec<wecom::api::ContactWithFollow>,
    tags: Vec<wecom::api::CorpTagGroup>,
    groups: Vec<wecom::api::GroupChat>,
    way: ContactWay,
    welcomes: Value,
    clock: Value,
}

async fn view(base: &str, sim: &Simulator, config_id: &str) -> View {
    let c = client(base, sim);
    let followers = c.follow_user_list().await.expect("follow users");
    let mut groups = Vec::new();
    for g in c.group_chat_list_all().await.expect("groups") {
        groups.push(c.group_chat_get(&g.chat_id).await.expect("group"));
    }
    let http = reqwest::Client::new();
    let welcomes =
        http.get(format!("{base}/sim/welcome_messages")).send().await.expect("welcomes").json().await.expect("json");
    let clock = http
        .post(format!("{base}/sim/clock/advance"))
        .json(&json!({"ms": 0}))
        .send()
        .await
        .expect("clock")
        .json()
        .await
        .expect("json");
    View {
        users: c.user_list(1, true).await.expect("user/list"),
        customers: c.batch_get_by_user_all(&followers).await.expect("customers"),
        followers,
        tags: c.corp_tag_list(&[], &[]).await.expect("tags"),
        groups,
        way: c.get_contact_way(config_id).await.expect("contact way"),
        welcomes,
        clock,
    }
}

/// The callbacks without their `CreateTime` (wall-clock seconds, which two runs may straddle).
fn timeless(callbacks: &[String]) -> Vec<String> {
    callbacks
        .iter()
        .map(|xml| match (xml.find("<CreateTime>"), xml.find("</CreateTime>")) {
            (Some(a), Some(b)) => format!("{}{}", &xml[..a], &xml[b..]),
            _ => xml.clone(),
        })
        .collect()
}

#[tokio::test]
async fn a_saved_world_answers_the_same_and_its_traffic_continues() {
    let a = Simulator::new(SimConfig { scenario: Some(small()), ..SimConfig::default() }).expect("sim");
    let base_a = serve(&a).await;
    let ca = client(&base_a, &a);

    // Change the world every way Pond and people do: traffic, a scan answered with a welcome
    // message, a contact way, an uploaded image, the clock.
    let traffic = a.next_traffic(40, 3);
    assert!(traffic.applied > 20, "{traffic:?}");
    let scan = a
        .act(Action::Scan { config_id: None, state: Some("store-001".into()), external_userid: None, name: None })
        .expect("scan");
    ca.send_welcome_msg(&WelcomeMsg {
        welcome_code: scan.welcome_code.clone().expect("welcome code"),
        text: Some(Text { content: "欢迎".into() }),
        attachments: vec![],
    })
    .await
    .expect("welcome sent");
    let active = ca.follow_user_list().await.expect("follow users");
    let way = ca
        .add_contact_way(&ContactWay {
            kind: 1,
            scene: 2,
            state: "saved-1".into(),
            user: active.into_iter().take(1).collect(),
            skip_verify: true,
            ..ContactWay::default()
        })
        .await
        .expect("contact way");
    let png = b"\x89PNG\r\n\x1a\nnot really an image";
    let image_url =
        ca.upload_image(&Upload { bytes: png, file_name: "a.png", content_type: "image/png" }).await.expect("upload");
    let image_path = image_url.split("/sim/").nth(1).expect("a /sim/ URL").to_owned();
    a.act(Action::FinishTransfers { force: true }).expect("no-op action");
    reqwest::Client::new()
        .post(format!("{base_a}/sim/clock/advance"))
        .json(&json!({"ms": 3_600_000}))
        .send()
        .await
        .expect("advance clock");
    // No callback URL yet: everything the actions caused is still pending.
    let pending = a.state.pusher.pending();
    assert_eq!(pending.len(), traffic.callbacks.len() + 1);

    let dir = temp_dir("roundtrip");
    let path = dir.join("world.json");
    a.save(&path).expect("save");
    assert!(!dir.join("world.json.tmp").exists(), "the temporary file is renamed");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("saved file").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the file holds the corp's secrets");
    }

    let saved = persist::load(&path).expect("loads").expect("exists");
    let b = Simulator::restore(SimConfig { scenario: None, ..SimConfig::default() }, saved).expect("restore");
    let base_b = serve(&b).await;

    assert_eq!(view(&base_a, &a, &way.config_id).await, view(&base_b, &b, &way.config_id).await);
    assert_eq!(a.picture(), b.picture());
    assert_eq!(
        client(&base_b, &b).access_token().await.expect("token"),
        ca.access_token().await.expect("token"),
        "tokens issued before the save are still valid"
    );
    let image = reqwest::get(format!("{base_b}/sim/{image_path}")).await.expect("image");
    assert_eq!(image.bytes().await.expect("bytes").as_ref(), png, "uploaded images are kept");
    assert_eq!(b.state.pusher.pending(), pending, "pending callbacks are kept, in order");
    assert_eq!(b.traffic_steps(), 40);

    // The same next traffic: same actions, same new ids and codes, same world after.
    let next_a = a.next_traffic(60, 3);
    let next_b = b.next_traffic(60, 3);
    assert!(next_a.applied > 30, "{next_a:?}");
    assert_eq!((next_a.applied, next_a.refused), (next_b.applied, next_b.refused));
    assert_eq!(timeless(&next_a.callbacks), timeless(&next_b.callbacks));
    assert_eq!(a.picture(), b.picture());

    // That comparison can fail: restored without its generator's and traffic's positions, a
    // simulator repeats itself instead of continuing.
    let mut rewound = persist::load(&path).expect("loads").expect("exists");
    rewound.traffic_steps = 0;
    rewound.rng = rand::SeedableRng::seed_from_u64(12);
    let c = Simulator::restore(SimConfig { scenario: None, ..SimConfig::default() }, rewound).expect("restore");
    let next_c = c.next_traffic(60, 3);
    assert_ne!(timeless(&next_a.callbacks), timeless(&next_c.callbacks));
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn pending_callbacks_are_delivered_after_a_restore() {
    let a = Simulator::new(SimConfig { scenario: Some(small()), ..SimConfig::default() }).expect("sim");
    a.next_traffic(10, 5);
    let pending = a.state.pusher.pending();
    assert!(!pending.is_empty());
    let dir = temp_dir("pending");
    let path = dir.join("world.json");
    a.save(&path).expect("save");

    let creds = a.credentials();
    let crypt = MsgCrypt::new(&creds.callback_token, &creds.encoding_aes_key, &creds.corp_id).expect("crypt");
    let received = Arc::new(Mutex::new(Vec::<String>::new()));
    let r = received.clone();
    let app = Router::new().route(
        "/cb",
        post(move |Query(q): Query<HashMap<String, String>>, body: String| {
            let (r, crypt) = (r.clone(), crypt.clone());
            async move {
                let xml = crypt
                    .open_callback(&q["msg_signature"], &q["timestamp"], &q["nonce"], &body)
                    .expect("valid callback");
                r.lock().await.push(xml);
                "success"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });

    let saved = persist::load(&path).expect("loads").expect("exists");
    let callback =
        CallbackConfig { url: Some(format!("http://{addr}/cb")), duplicate: false, retry_delay_ms: 10, concurrency: 1 };
    let b = Simulator::restore(SimConfig { callback, ..SimConfig::default() }, saved).expect("restore");
    b.state.pusher.idle().await;
    assert_eq!(*received.lock().await, pending, "delivered once each, in order");
    assert_eq!(b.state.pusher.stats().delivered, pending.len() as u64);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_held_pusher_keeps_callbacks_pending_instead_of_giving_up() {
    let sim = Simulator::new(SimConfig { scenario: Some(small()), ..SimConfig::default() }).expect("sim");
    // The receiver holds the first callback until told, then answers "busy"; later ones succeed.
    let arrived = Arc::new(Notify::new());
    let answer = Arc::new(Notify::new());
    let hits = Arc::new(AtomicU32::new(0));
    let (arr, ans, h) = (arrived.clone(), answer.clone(), hits.clone());
    let app = Router::new().route(
        "/cb",
        post(move || {
            let (arr, ans, h) = (arr.clone(), ans.clone(), h.clone());
            async move {
                if h.fetch_add(1, Ordering::SeqCst) > 0 {
                    return "success";
                }
                arr.notify_one();
                ans.notified().await;
                "busy"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    sim.configure_callbacks(CallbackConfig {
        url: Some(format!("http://{addr}/cb")),
        duplicate: false,
        retry_delay_ms: 10,
        concurrency: 1,
    });
    sim.act(Action::Scan { config_id: None, state: Some("store-001".into()), external_userid: None, name: None })
        .expect("scan");
    sim.act(Action::CreateTag { group_id: None, group_name: Some("活动".into()), name: "周年庆".into() }).expect("tag");
    arrived.notified().await;
    sim.state.pusher.hold();
    answer.notify_one();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while sim.state.pusher.stats().interrupted == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the refused delivery never ended");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Refused while held: neither retried nor given up, and the next one not started.
    let stats = sim.state.pusher.stats();
    assert_eq!((stats.queued, stats.delivered, stats.failed, stats.interrupted), (2, 0, 0, 1), "{stats:?}");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert_eq!(sim.state.pusher.pending().len(), 2);

    sim.state.pusher.resume();
    sim.state.pusher.idle().await;
    let stats = sim.state.pusher.stats();
    assert_eq!((stats.queued, stats.delivered, stats.failed), (0, 2, 0), "{stats:?}");
    assert_eq!(hits.load(Ordering::SeqCst), 3, "the held one again, then the next");
}

#[test]
fn unusable_files_are_refused_with_the_reason() {
    let dir = temp_dir("refused");
    let path = dir.join("world.json");
    assert!(persist::load(&path).expect("no file is fine").is_none());

    std::fs::write(&path, b"{\"format\": \"wecom-sim world\", \"version\": 99, \"world\": {}}").expect("write");
    let e = persist::load(&path).expect_err("another version");
    assert!(matches!(e, LoadError::Incompatible { found: 99, .. }), "{e:?}");
    assert!(e.to_string().contains("version 99"), "{e}");

    std::fs::write(&path, b"{\"format\": \"wecom-sim world\", \"version\": 1, \"world\": 7}").expect("write");
    assert!(matches!(persist::load(&path), Err(LoadError::Damaged { .. })));

    std::fs::write(&path, b"{\"format\": \"wecom-sim wor").expect("write");
    assert!(matches!(persist::load(&path), Err(LoadError::NotAWorld { .. })));

    std::fs::write(&path, b"[1, 2]").expect("write");
    let e = persist::load(&path).expect_err("not a world");
    assert!(e.to_string().contains("not a saved simulator world"), "{e}");
    let _ = std::fs::remove_dir_all(dir);
}
