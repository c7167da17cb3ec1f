//! `pond demo` stopped and started again shows the same world: it keeps the simulator's world in
//! its data folder, so Pond's data and the world stay together (before, a restart reseeded the
//! world and Pond marked the customers, follow relations and staff changes since the first start
//! removed or resigned). A folder whose world is missing or unusable is refused unless `--reset`.
//!
//! The binary is started as a user would (`--traffic 0`, so only this test changes the world), on
//! a temporary data folder and a free port, on SQLite and, with `POND_TEST_DATABASE_URL`, on a
//! PostgreSQL database of its own.

use std::{
    collections::{BTreeMap, BTreeSet},
    io::{BufRead, BufReader, Read},
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex},
    thread,
    time::{Duration, Instant},
};

use pond_store::testing::TestDb;
use serde_json::{Value, json};

/// Only guards against a hang; a start takes a few seconds.
const PATIENCE: Duration = Duration::from_secs(180);

type Lines = Arc<Mutex<Vec<String>>>;

fn collect(from: impl Read + Send + 'static, into: Lines) {
    thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { break };
            into.lock().unwrap_or_else(|e| e.into_inner()).push(line);
        }
    });
}

/// A `pond demo` child process.
struct Demo {
    child: Child,
    out: Lines,
    err: Lines,
}

/// Two free ports in a row: Pond's, and the simulator's one above.
fn free_ports() -> u16 {
    for _ in 0..50 {
        let Ok(a) = TcpListener::bind("127.0.0.1:0") else { continue };
        let Ok(port) = a.local_addr().map(|a| a.port()) else { continue };
        if port < u16::MAX && TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
    panic!("no two free ports in a row on 127.0.0.1");
}

impl Demo {
    fn start(dir: &Path, port: u16, database_url: Option<&str>, extra: &[&str]) -> Demo {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pond"));
        cmd.arg("demo")
            .arg("--data-dir")
            .arg(dir)
            .args(["--listen", &format!("127.0.0.1:{port}"), "--traffic", "0"])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("POND_") {
                cmd.env_remove(key);
            }
        }
        if let Some(url) = database_url {
            cmd.env("POND_DATABASE_URL", url);
        }
        let mut child = cmd.spawn().expect("start pond demo");
        let (out, err) = (Lines::default(), Lines::default());
        collect(child.stdout.take().expect("stdout is piped"), out.clone());
        collect(child.stderr.take().expect("stderr is piped"), err.clone());
        Demo { child, out, err }
    }

    fn output(&self) -> String {
        let out = self.out.lock().unwrap_or_else(|e| e.into_inner()).join("\n");
        let err = self.err.lock().unwrap_or_else(|e| e.into_inner());
        let tail = err.iter().skip(err.len().saturating_sub(40)).cloned().collect::<Vec<_>>().join("\n");
        format!("--- stdout\n{out}\n--- stderr (last lines)\n{tail}")
    }

    /// Waits for a stdout line containing `text`, and returns it.
    fn line(&mut self, text: &str) -> String {
        let start = Instant::now();
        loop {
            if let Some(l) = self.out.lock().unwrap_or_else(|e| e.into_inner()).iter().find(|l| l.contains(text)) {
                return l.clone();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                thread::sleep(Duration::from_millis(200));
                panic!("pond demo exited ({status}) before printing {text:?}\n{}", self.output());
            }
            assert!(start.elapsed() < PATIENCE, "no {text:?} from pond demo\n{}", self.output());
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops it as a service manager would (SIGTERM) and waits for it to exit.
    fn stop(mut self) -> (ExitStatus, String) {
        let killed = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        assert!(killed.is_ok_and(|s| s.success()), "kill -TERM failed");
        let status = self.exit();
        (status, self.output())
    }

    fn exit(&mut self) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for pond demo") {
                thread::sleep(Duration::from_millis(200)); // the readers drain the pipes
                return status;
            }
            if start.elapsed() > PATIENCE {
                let _ = self.child.kill();
                panic!("pond demo did not exit\n{}", self.output());
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Pond's API and the simulator's world-control API of one running demo.
struct Api {
    http: reqwest::Client,
    pond: String,
    sim: String,
    token: String,
}

impl Api {
    async fn get(&self, path: &str) -> Value {
        let resp = self
            .http
            .get(format!("{}{path}", self.pond))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        assert!(resp.status().is_success(), "GET {path}: {}", resp.status());
        resp.json().await.expect("JSON")
    }

    /// Every item of a paged list.
    async fn all(&self, path: &str) -> Vec<Value> {
        let mut items = Vec::new();
        for page in 1.. {
            let sep = if path.contains('?') { '&' } else { '?' };
            let body = self.get(&format!("{path}{sep}per_page=200&page={page}")).await;
            let batch = body["items"].as_array().cloned().unwrap_or_default();
            let done = batch.len() < 200;
            items.extend(batch);
            if done {
                break;
            }
        }
        items
    }

    /// Waits for a finished sync run newer than `after`; returns its id.
    async fn synced_after(&self, after: i64) -> i64 {
        let start = Instant::now();
        loop {
            let run = match self.http.get(format!("{}/api/v1/sync", self.pond)).bearer_auth(&self.token).send().await {
                Ok(r) if r.status().is_success() => r.json::<Value>().await.ok(),
                _ => None,
            };
            if let Some(run) = run {
                let id = run["id"].as_i64().unwrap_or(0);
                if id > after && run["status"] != "running" {
                    assert_eq!(run["status"], "done", "the demo's sync at start failed: {run}");
                    return id;
                }
            }
            assert!(start.elapsed() < PATIENCE, "no sync finished");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until `check` holds for `GET path` (the callback pipeline is asynchronous).
    async fn until(&self, path: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let resp = self.http.get(format!("{}{path}", self.pond)).bearer_auth(&self.token).send().await;
            if let Ok(r) = resp
                && r.status().is_success()
                && let Ok(v) = r.json::<Value>().await
                && check(&v)
            {
                return v;
            }
            assert!(start.elapsed() < PATIENCE, "Pond never showed {what}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn act(&self, action: Value) -> Value {
        let resp =
            self.http.post(format!("{}/sim/actions", self.sim)).json(&action).send().await.expect("simulator action");
        assert!(resp.status().is_success(), "{action}: {}", resp.status());
        resp.json().await.expect("JSON")
    }

    async fn picture(&self) -> Value {
        self.http.get(format!("{}/sim/picture", self.sim)).send().await.expect("picture").json().await.expect("JSON")
    }
}

/// Customers (id → removed_at) and staff (userid → status) as Pond shows them.
async fn pond_view(api: &Api) -> (BTreeMap<String, Value>, BTreeMap<String, String>) {
    let customers = api
        .all("/api/v1/customers")
        .await
        .into_iter()
        .map(|c| (c["external_userid"].as_str().unwrap_or_default().to_owned(), c["removed_at"].clone()))
        .collect();
    let staff = api
        .all("/api/v1/staff")
        .await
        .into_iter()
        .map(|s| {
            (s["userid"].as_str().unwrap_or_default().to_owned(), s["status"].as_str().unwrap_or_default().to_owned())
        })
        .collect();
    (customers, staff)
}

/// The follow relations of `ids` that Pond has marked removed (`customer|userid`).
async fn removed_follows(api: &Api, ids: &[String]) -> Vec<String> {
    let mut removed = Vec::new();
    for chunk in ids.chunks(16) {
        let mut set = tokio::task::JoinSet::new();
        for id in chunk {
            let (http, url, token, id) =
                (api.http.clone(), format!("{}/api/v1/customers/{id}", api.pond), api.token.clone(), id.clone());
            set.spawn(async move {
                let v: Value =
                    http.get(url).bearer_auth(token).send().await.expect("customer").json().await.expect("JSON");
                let follows = v["follows"].as_array().cloned().unwrap_or_default();
                follows
                    .iter()
                    .filter(|f| !f["removed_at"].is_null())
                    .map(|f| format!("{id}|{}", f["userid"].as_str().unwrap_or_default()))
                    .collect::<Vec<_>>()
            });
        }
        while let Some(found) = set.join_next().await {
            removed.extend(found.expect("customer task"));
        }
    }
    removed
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pond-demo-{}-{:08x}", std::process::id(), rand_u32()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn rand_u32() -> u32 {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    t ^ std::process::id().rotate_left(16)
}

async fn restart_keeps_the_world(database_url: Option<&str>) {
    let dir = temp_dir();
    let port = free_ports();

    // First start: a new world, a new Pond.
    let mut first = Demo::start(&dir, port, database_url, &[]);
    let token_line = first.line("API token:");
    let token = token_line.split_whitespace().nth(2).expect("the token after `API token:`").to_owned();
    first.line("(new;");
    let api = Api {
        http: reqwest::Client::new(),
        pond: format!("http://127.0.0.1:{port}"),
        sim: format!("http://127.0.0.1:{}", port + 1),
        token,
    };
    let first_sync = api.synced_after(0).await;

    // Changes a reseeded world would not have: a new customer, a second employee for a seeded
    // customer, an employee leaving (their customers go with them, as in WeCom until they are
    // handed over), a new tag.
    let picture = api.picture().await;
    let seeded = picture["customers"].as_object().and_then(|c| c.keys().next().cloned()).expect("customers");
    let leaver = "s010e05";
    let follows = picture["follows"].as_object().expect("follows");
    let leavers_follows: BTreeSet<String> =
        follows.keys().filter(|k| k.ends_with(&format!("|{leaver}"))).cloned().collect();
    let leavers_only: BTreeSet<String> = leavers_follows
        .iter()
        .filter_map(|k| k.split('|').next())
        .filter(|c| follows.keys().filter(|k| k.starts_with(&format!("{c}|"))).count() == 1)
        .map(str::to_owned)
        .collect();
    assert!(!leavers_follows.is_empty() && !leavers_follows.iter().any(|k| k.starts_with(&seeded)));
    let added = api.act(json!({"action": "scan", "state": "store-003"})).await;
    let new_customer = added["created"].as_str().expect("new customer").to_owned();
    let second = api.act(json!({"action": "scan", "state": "store-006", "external_userid": seeded})).await;
    let second_staff = second["userid"].as_str().expect("employee").to_owned();
    api.act(json!({"action": "staff_resigns", "userid": leaver})).await;
    api.act(json!({"action": "create_tag", "group_name": "重启", "name": "重启前的标签"})).await;
    api.until(&format!("/api/v1/customers/{new_customer}"), "the new customer", |_| true).await;
    api.until(&format!("/api/v1/customers/{seeded}"), "the second employee", |c| {
        c["follows"].as_array().is_some_and(|f| f.iter().any(|f| f["userid"] == second_staff.as_str()))
    })
    .await;
    api.until("/api/v1/staff?q=s010e05", "the employee leaving", |s| s["items"][0]["status"] == "resigned").await;
    api.until("/api/v1/tags?q=重启前的标签", "the new tag", |t| t["total"] == 1).await;
    let (customers_before, staff_before) = pond_view(&api).await;
    assert!(customers_before.contains_key(&new_customer));

    let (status, output) = first.stop();
    assert!(status.success(), "pond demo did not stop cleanly on SIGTERM ({status})\n{output}");
    assert!(dir.join("wecom-sim-world.json").is_file(), "the world is saved in the data folder");

    // Second start: the same world, and Pond reconciled with it.
    let mut second_run = Demo::start(&dir, port, database_url, &[]);
    second_run.line("(restored;");
    api.synced_after(first_sync).await;
    let picture = api.picture().await;
    let (customers_after, staff_after) = pond_view(&api).await;
    assert_eq!(
        customers_after.keys().collect::<Vec<_>>(),
        customers_before.keys().collect::<Vec<_>>(),
        "the same customers after the restart"
    );
    let removed: BTreeSet<String> =
        customers_after.iter().filter(|(_, r)| !r.is_null()).map(|(id, _)| id.clone()).collect();
    assert_eq!(removed, leavers_only, "customers removed: only those who had no employee but the one who left");
    let live: BTreeSet<&String> = customers_after.iter().filter(|(_, r)| r.is_null()).map(|(id, _)| id).collect();
    let world: BTreeSet<&String> = picture["customers"].as_object().expect("customers").keys().collect();
    assert_eq!(live, world, "Pond's customers are the world's");
    assert_eq!(staff_after, staff_before, "no employee changed by the restart");
    let world_staff: BTreeMap<String, String> = picture["staff"]
        .as_object()
        .expect("staff")
        .iter()
        .map(|(id, s)| (id.clone(), if s[1] == true { "active" } else { "resigned" }.to_owned()))
        .collect();
    assert_eq!(staff_after, world_staff, "Pond's staff are the world's");
    assert_eq!(staff_after.get(leaver).map(String::as_str), Some("resigned"));
    assert_eq!(staff_after.values().filter(|s| *s == "resigned").count(), 1);
    // The follow relations a reseeded world would lose or bring back: those made since the first
    // start, and those of the one who left.
    let mut touched: Vec<String> =
        leavers_follows.iter().filter_map(|k| k.split('|').next()).map(str::to_owned).collect();
    touched.extend([new_customer.clone(), seeded.clone()]);
    let removed_follows: BTreeSet<String> = removed_follows(&api, &touched).await.into_iter().collect();
    assert_eq!(removed_follows, leavers_follows, "follow relations removed: only those of the one who left");
    let tags = api.get("/api/v1/tags?q=重启前的标签").await;
    assert_eq!(tags["total"], 1, "the tag made before the restart is still there");
    let (status, output) = second_run.stop();
    assert!(status.success(), "pond demo did not stop cleanly on SIGTERM ({status})\n{output}");

    // Pond's data without its world, or with a damaged one: refused, pointing at --reset.
    let world = dir.join("wecom-sim-world.json");
    let kept = dir.join("kept.json");
    std::fs::rename(&world, &kept).expect("move the world away");
    let mut missing = Demo::start(&dir, port, database_url, &[]);
    let status = missing.exit();
    let output = missing.output();
    assert!(!status.success(), "started without its world\n{output}");
    assert!(output.contains("not the WeCom simulator's world") && output.contains("--reset"), "{output}");
    std::fs::write(&world, b"{\"format\": \"wecom-sim world\", \"version\": 99}").expect("write");
    let mut damaged = Demo::start(&dir, port, database_url, &[]);
    let status = damaged.exit();
    let output = damaged.output();
    assert!(!status.success(), "started with an unusable world\n{output}");
    assert!(output.contains("version 99") && output.contains("--reset"), "{output}");

    // --reset starts both over (SQLite: the database is in the folder).
    let mut reset = Demo::start(&dir, port, database_url, &["--reset"]);
    if database_url.is_some() {
        let status = reset.exit();
        let output = reset.output();
        assert!(!status.success() && output.contains("PostgreSQL"), "{output}");
    } else {
        reset.line("--reset: deleted");
        reset.line("API token:");
        reset.line("(new;");
        let (status, output) = reset.stop();
        assert!(status.success(), "{output}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_demo_shows_the_same_world_sqlite() {
    restart_keeps_the_world(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_demo_shows_the_same_world_postgres() {
    let Some(db) = TestDb::postgres().await else { return };
    let url = db.url.clone();
    restart_keeps_the_world(Some(&url)).await;
    db.cleanup().await;
}
