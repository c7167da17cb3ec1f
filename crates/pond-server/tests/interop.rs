//! Interoperability with independent WeCom implementations (installed by `.ci/run`):
//! * the official `@wecom/crypto` npm package opens what the simulator sends and seals an event
//!   that Pond's callback endpoint accepts;
//! * the `wechatpy` Python SDK, unmodified, completes token, user list, customer list and get,
//!   corp-tag CRUD and contact-way CRUD against the simulator, and opens a simulator callback
//!   with its own crypto.
//!
//! Without the tools (no `interop/.venv` or `interop/node_modules`) the test reports itself
//! skipped; under `CI` that is a failure.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::Command,
    sync::{Arc, Mutex},
};

use axum::{Router, extract::Query, routing::post};
use pond_app::{App as AppState, Config, pipeline::jobs::Registry};
use pond_core::Secret;
use pond_store::testing::TestDb;
use wecom_sim::{
    SimConfig, Simulator,
    callbacks::CallbackConfig,
    world::{Action, Scenario},
};

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop")
}

fn tools() -> Option<(PathBuf, PathBuf)> {
    let dir = interop_dir();
    let python = dir.join(".venv/bin/python");
    let node_modules = dir.join("node_modules/@wecom/crypto");
    if python.exists() && node_modules.exists() {
        return Some((python, dir));
    }
    if std::env::var_os("CI").is_some() {
        panic!("interop tools are missing under {}: .ci/run must install them", dir.display());
    }
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED interop test: run `.ci/run` (or see README) to install interop/.venv and interop/node_modules"
    );
    None
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run interop tool");
    assert!(
        out.status.success(),
        "{cmd:?} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// What the simulator posted: query parameters and body.
type Captured = Arc<Mutex<Vec<(std::collections::HashMap<String, String>, String)>>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn independent_implementations_interoperate() {
    let Some((python, dir)) = tools() else { return };
    let sim = Simulator::new(SimConfig {
        scenario: Some(Scenario { seed: 3, stores: 2, staff_per_store: 3, customers: 40, groups: 2, history_days: 0 }),
        ..SimConfig::default()
    })
    .unwrap();
    let (sim_addr, _) = sim.start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let creds = sim.credentials();

    // 1. Capture one callback as the simulator sends it.
    let captured: Captured = Arc::default();
    let sink = captured.clone();
    let app = Router::new().route(
        "/cb",
        post(move |Query(q): Query<std::collections::HashMap<String, String>>, body: String| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push((q, body));
                "success"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cb_addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    sim.configure_callbacks(CallbackConfig {
        url: Some(format!("http://{cb_addr}/cb")),
        duplicate: false,
        retry_delay_ms: 10,
        concurrency: 1,
    });
    sim.act(Action::Scan {
        config_id: None,
        state: Some("store-001".into()),
        external_userid: None,
        name: Some("互通".into()),
    })
    .unwrap();
    sim.state.pusher.idle().await;
    let (query, body) = captured.lock().unwrap()[0].clone();
    let encrypt = body.split("<Encrypt><![CDATA[").nth(1).and_then(|r| r.split("]]>").next()).unwrap().to_owned();

    // 2. @wecom/crypto opens it.
    let opened = run(Command::new("node").current_dir(&dir).args([
        "wecom_crypto.mjs",
        "open",
        &creds.callback_token,
        &creds.encoding_aes_key,
        &query["msg_signature"],
        &query["timestamp"],
        &query["nonce"],
        &encrypt,
    ]));
    let opened: serde_json::Value = serde_json::from_str(&opened).unwrap();
    assert_eq!(opened["id"], creds.corp_id.as_str());
    assert!(opened["message"].as_str().unwrap().contains("add_external_contact"), "{opened}");

    // 3. wechatpy drives the simulator's API and opens the same callback with its own crypto.
    let xml_file = std::env::temp_dir().join(format!("pond-interop-{}.xml", std::process::id()));
    std::fs::write(&xml_file, &body).unwrap();
    let report = run(Command::new(&python).current_dir(&dir).args([
        "wechatpy_sdk.py",
        &format!("http://{sim_addr}"),
        &creds.corp_id,
        &creds.app_secret,
        &creds.callback_token,
        &creds.encoding_aes_key,
        &query["msg_signature"],
        &query["timestamp"],
        &query["nonce"],
        xml_file.to_str().unwrap(),
    ]));
    let _ = std::fs::remove_file(&xml_file);
    let report: serde_json::Value = serde_json::from_str(&report).unwrap_or_else(|e| panic!("{e}: {report}"));
    assert_eq!(report["token"], true);
    assert_eq!(report["users"], 6);
    assert_eq!(report["tag_crud"], true);
    assert_eq!(report["contact_way_crud"], true);
    assert!(report["callback_event"].as_str().unwrap().contains("add_external_contact"), "{report}");
    let calls = sim.calls();
    for path in [
        "gettoken",
        "user/list",
        "externalcontact/get",
        "externalcontact/add_corp_tag",
        "externalcontact/del_contact_way",
    ] {
        assert!(calls.get(path).copied().unwrap_or(0) > 0, "wechatpy called {path}");
    }

    // 4. An event sealed by @wecom/crypto is accepted by Pond's callback endpoint.
    let t = TestDb::sqlite().await;
    let corp = pond_store::corp::create(&t.db, "互通").await.unwrap();
    let settings = pond_store::corp::WecomSettings {
        name: "互通".into(),
        wecom_corp_id: Some(creds.corp_id.clone()),
        app_secret: Some(Secret::new(creds.app_secret.clone())),
        callback_token: Some(Secret::new(creds.callback_token.clone())),
        encoding_aes_key: Some(Secret::new(creds.encoding_aes_key.clone())),
        api_base_url: format!("http://{sim_addr}"),
        ..Default::default()
    };
    pond_store::corp::update_settings(&t.db, corp.id, &settings).await.unwrap();
    let pond = pond_server::start(
        AppState::new(t.db.clone(), Config::default()),
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        Registry::default(),
        false,
    )
    .await
    .unwrap();
    let ts = (pond_store::now_ms() / 1000).to_string();
    let event = format!(
        "<xml><ToUserName><![CDATA[{}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>{ts}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_tag]]></Event><ChangeType><![CDATA[shuffle]]></ChangeType><Id><![CDATA[]]></Id></xml>",
        creds.corp_id
    );
    let sealed = run(Command::new("node").current_dir(&dir).args([
        "wecom_crypto.mjs",
        "seal",
        &creds.callback_token,
        &creds.encoding_aes_key,
        &creds.corp_id,
        &ts,
        "nodenonce",
        &event,
    ]));
    let sealed: serde_json::Value = serde_json::from_str(&sealed).unwrap();
    let envelope = format!(
        "<xml><ToUserName><![CDATA[{}]]></ToUserName><Encrypt><![CDATA[{}]]></Encrypt></xml>",
        creds.corp_id,
        sealed["encrypt"].as_str().unwrap()
    );
    let reply = reqwest::Client::new()
        .post(format!("http://{}/wecom/callback/{}", pond.addr, corp.id))
        .query(&[("msg_signature", sealed["signature"].as_str().unwrap()), ("timestamp", &ts), ("nonce", "nodenonce")])
        .body(envelope)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.text().await.unwrap(), "success");
    let stored = pond_store::inbox::list(&t.db, corp.id, None, "", Default::default()).await.unwrap();
    assert_eq!(stored.total, 1);
    assert_eq!(stored.items[0].event_type, "change_external_tag/shuffle");
    pond.shutdown().await;
    t.cleanup().await;
}
