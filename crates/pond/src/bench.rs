//! `pond bench pipeline`: the add-event pipeline under load, end to end over HTTP.
//!
//! The simulator — on a runtime of its own, so that its CPU time is counted apart from Pond's —
//! preloads customers and Pond syncs them; then N new customers add employees, at a given rate or
//! all at once. The simulator pushes each add (encrypted) to Pond's callback URL; Pond stores it,
//! applies it (re-reading the customer) and sends the welcome message through `send_welcome_msg`.
//!
//! Each add is timed on this machine's clock at three points: created (the simulator, in ms),
//! received (Pond's callback handler, before the body is read) and welcome answered (Pond, when
//! `send_welcome_msg` has answered). Reported: add → receipt (waiting in the simulator and on the
//! wire), receipt → welcome, and add → welcome — the span WeCom's 20-second `welcome_code` window
//! counts. Throughput counts only welcomes `sent`, over the time from the first add until Pond's
//! queue (inbox and jobs) has drained. The run fails unless every add was delivered and welcomed.

use std::{
    collections::{BTreeMap, HashMap},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use pond_app::{App, Config, config::SqliteSynchronous};
use pond_store::Db;
use sqlx::{Connection, Executor};

#[derive(Debug, clap::Args)]
pub struct PipelineArgs {
    /// `sqlite` (a fresh file in a temp folder) or a PostgreSQL server URL (a fresh database is created and dropped).
    #[arg(long, default_value = "sqlite")]
    database: String,
    /// SQLite's `synchronous` setting: `full` (Pond's default, durable) or `normal`.
    #[arg(long, value_enum, default_value_t = Synchronous::Full)]
    synchronous: Synchronous,
    /// Add events to drive.
    #[arg(long, default_value_t = 50_000)]
    events: usize,
    /// Customers preloaded (and synced) before the run.
    #[arg(long, default_value_t = 10_000)]
    customers: usize,
    /// Callbacks the simulator keeps in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Add events per second (0 = all at once: every add is created first and waits in the
    /// simulator's queue for its delivery, which counts against the 20 s window).
    #[arg(long, default_value_t = 5_000.0)]
    rate: f64,
    /// Worker threads of the simulator's runtime.
    #[arg(long, default_value_t = 1)]
    sim_threads: usize,
    /// Only accept callbacks (no inbox or job workers; the database upkeep still runs): measures
    /// the receiving half alone.
    #[arg(long)]
    accept_only: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Synchronous {
    Full,
    Normal,
}

/// The simulator's runtime threads' name, by which their CPU time is told from Pond's.
const SIM_THREAD: &str = "wecom-sim";

/// How long the queue may take to drain after the last callback was accepted.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(120);

struct Fresh {
    url: String,
    drop: Option<(String, String)>,
    dir: Option<std::path::PathBuf>,
}

async fn fresh_database(spec: &str) -> Result<Fresh> {
    let name = format!("pond_bench_{}", std::process::id());
    if spec == "sqlite" {
        let dir = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&dir)?;
        return Ok(Fresh { url: format!("sqlite:{}", dir.join("bench.db").display()), drop: None, dir: Some(dir) });
    }
    if !spec.starts_with("postgres") {
        bail!("--database must be sqlite or a postgres:// URL");
    }
    let mut admin = sqlx::PgConnection::connect(spec).await.context("connecting to PostgreSQL")?;
    admin.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).await?;
    admin.close().await?;
    let base = spec.rsplit_once('/').map(|(b, _)| b).unwrap_or(spec);
    Ok(Fresh { url: format!("{base}/{name}"), drop: Some((spec.to_owned(), name)), dir: None })
}

async fn cleanup(f: Fresh) {
    if let Some((admin_url, name)) = f.drop
        && let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await
    {
        let _ = admin.execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).await;
    }
    if let Some(dir) = f.dir {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// CPU time this process has used so far (user + system, all threads, ended ones included), from
/// `/proc/self/stat`; `None` where there is no procfs.
fn process_cpu_time() -> Option<Duration> {
    cpu_time_of("/proc/self/stat")
}

/// CPU time used so far by this process's threads whose name passes `named` (sqlx runs each
/// SQLite connection on a thread named `sqlx-sqlite-worker-N`; the simulator's runtime threads
/// are [`SIM_THREAD`]); `None` without procfs.
fn threads_cpu_time(named: impl Fn(&str) -> bool) -> Option<Duration> {
    cpu_time_of_named("/proc/self/task", named)
}

/// CPU time used so far by the PostgreSQL server's processes on this machine (`postgres` in
/// `/proc/*/comm`), so a run on a local server can show what the database costs per event too;
/// `None` without procfs.
fn local_postgres_cpu_time() -> Option<Duration> {
    cpu_time_of_named("/proc", |comm| comm == "postgres")
}

/// CPU time used so far by the processes or threads listed in `dir` (`/proc` or
/// `/proc/self/task`) whose command name passes `named`; `None` without procfs.
fn cpu_time_of_named(dir: &str, named: impl Fn(&str) -> bool) -> Option<Duration> {
    let mut total = Duration::ZERO;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        if named(comm.trim_end()) {
            total += cpu_time_of(entry.path().join("stat")).unwrap_or_default();
        }
    }
    Some(total)
}

/// Bytes this process has had written to storage so far (`write_bytes` of `/proc/self/io`: the
/// database files, WAL included); `None` without procfs.
fn storage_bytes_written() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    io.lines().find_map(|l| l.strip_prefix("write_bytes:")).and_then(|v| v.trim().parse().ok())
}

/// User + system time from a `/proc/…/stat` file.
fn cpu_time_of(path: impl AsRef<std::path::Path>) -> Option<Duration> {
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // The kernel reports in USER_HZ, 100 on every Linux architecture Pond runs on.
    Some(Duration::from_millis(ticks * 10))
}

/// Context switches (voluntary, involuntary) so far of this process's threads whose name passes
/// `named`, from `/proc/self/task/*/status`; threads that ended are not counted.
fn context_switches(named: impl Fn(&str) -> bool) -> (u64, u64) {
    let mut total = (0, 0);
    for entry in std::fs::read_dir("/proc/self/task").into_iter().flatten().flatten() {
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        if !named(comm.trim_end()) {
            continue;
        }
        let status = std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
        let field = |name: &str| {
            status.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or(0)
        };
        total.0 += field("voluntary_ctxt_switches:");
        total.1 += field("nonvoluntary_ctxt_switches:");
    }
    total
}

/// Counters read before and after the run.
#[derive(Clone, Copy)]
struct CpuSample {
    process: Option<Duration>,
    simulator: Option<Duration>,
    sqlite: Option<Duration>,
    postgres: Option<Duration>,
    written: Option<u64>,
    /// Context switches of Pond's threads (all but the simulator's), and of SQLite's alone.
    switches: (u64, u64),
    sqlite_switches: (u64, u64),
    transactions: u64,
}

impl CpuSample {
    fn now() -> CpuSample {
        CpuSample {
            process: process_cpu_time(),
            simulator: threads_cpu_time(|comm| comm == SIM_THREAD),
            sqlite: threads_cpu_time(|comm| comm.starts_with("sqlx-sqlite")),
            postgres: local_postgres_cpu_time(),
            written: storage_bytes_written(),
            switches: context_switches(|comm| comm != SIM_THREAD),
            sqlite_switches: context_switches(|comm| comm.starts_with("sqlx-sqlite")),
            transactions: pond_store::transactions_begun(),
        }
    }
}

fn used(after: Option<Duration>, before: Option<Duration>) -> Option<Duration> {
    after.zip(before).map(|(a, b)| a.saturating_sub(b))
}

/// The value at or below which a share `p` of the sorted values lie (nearest rank).
fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `p50 …, p95 …, p99 …, max …` of a set of latencies in ms.
fn spread(mut values: Vec<i64>) -> String {
    values.sort_unstable();
    format!(
        "p50 {} ms, p95 {} ms, p99 {} ms, max {} ms",
        percentile(&values, 0.50),
        percentile(&values, 0.95),
        percentile(&values, 0.99),
        values.last().copied().unwrap_or(0)
    )
}

/// The `count` seconds of the run (by when the adds were made) with the highest p99 add → welcome
/// latency, as `second: p99`: a tail made of a few stalls and one spread over the run look alike
/// in the overall p99.
fn slowest_seconds(timed: &[(i64, i64)], start_ms: i64, count: usize) -> String {
    let mut by_second: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for &(created_at, latency) in timed {
        by_second.entry((created_at - start_ms).max(0) / 1000).or_default().push(latency);
    }
    let mut p99s: Vec<(i64, i64)> = by_second
        .into_iter()
        .map(|(second, mut latencies)| {
            latencies.sort_unstable();
            (second, percentile(&latencies, 0.99))
        })
        .collect();
    p99s.sort_by_key(|&(second, p99)| (std::cmp::Reverse(p99), second));
    p99s.iter().take(count).map(|(second, p99)| format!("{second} s: p99 {p99} ms")).collect::<Vec<_>>().join(", ")
}

/// The settings of `config` that differ from Pond's defaults, as `key = value (default …)`;
/// secrets and tokens are shown only as set.
fn non_defaults(config: &Config) -> Vec<String> {
    fn walk(path: &str, now: &serde_json::Value, default: &serde_json::Value, out: &mut Vec<String>) {
        match (now, default) {
            (serde_json::Value::Object(now), serde_json::Value::Object(default)) => {
                for (key, value) in now {
                    let path = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                    walk(&path, value, default.get(key).unwrap_or(&serde_json::Value::Null), out);
                }
            }
            _ if now != default => {
                if path.contains("secret") || path.contains("token") {
                    out.push(format!("{path} = (set)"));
                } else {
                    out.push(format!("{path} = {now} (default {default})"));
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let (Ok(now), Ok(default)) = (serde_json::to_value(config), serde_json::to_value(Config::default())) {
        walk("", &now, &default, &mut out);
    }
    out
}

/// This machine: cores, CPU model and load average before the run.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map(|n| n.get().to_string()).unwrap_or_else(|_| "?".into());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name").map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned()))
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "?".into());
    format!("{cores} cores ({model}), load average before the run {load}")
}

/// The database and how it makes commits durable, as it reports itself.
async fn describe_database(db: &Db) -> Result<String> {
    if let Some((journal, synchronous)) = db.sqlite_durability().await? {
        let default = pond_store::SqliteSync::default().as_str();
        return Ok(format!(
            "SQLite (a fresh file in {}), journal_mode {journal}, synchronous {synchronous} (Pond's default: {default})",
            std::env::temp_dir().display()
        ));
    }
    let Db::Postgres(pool) = db else { return Ok("?".into()) };
    let show = |setting: &'static str| async move {
        sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(format!("SHOW {setting}")))
            .fetch_one(pool)
            .await
            .unwrap_or_else(|_| "?".into())
    };
    Ok(format!(
        "PostgreSQL {} (a fresh database), synchronous_commit {}, fsync {}",
        show("server_version").await,
        show("synchronous_commit").await,
        show("fsync").await
    ))
}

/// Waits until no event or job is left to do, polling every 20 ms (the inbox's count reads an
/// index; the jobs table holds few rows in this run). Fails after [`DRAIN_TIMEOUT`].
async fn wait_until_drained(db: &Db) -> Result<()> {
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    loop {
        let inbox = pond_store::inbox::unfinished(db).await?;
        let jobs = pond_store::jobs::counts_by_status(db).await?;
        let busy = jobs.iter().filter(|(s, _)| s == "pending" || s == "running").map(|(_, n)| n).sum::<i64>();
        if inbox == 0 && busy == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "Pond's queue did not drain within {} s of the last callback: {inbox} events and {busy} jobs left",
                DRAIN_TIMEOUT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What a run ended with, as far as its verdict goes.
struct Tally {
    events: usize,
    delivered: u64,
    given_up: u64,
    sent: usize,
    welcomed_in_simulator: usize,
    accept_only: bool,
}

/// Why the run failed (empty: it passed): every callback delivered and, unless only accepting,
/// every add's welcome sent — by Pond's record and by the simulator's.
fn verdict(t: &Tally) -> Vec<String> {
    let mut failures = Vec::new();
    if t.delivered != t.events as u64 || t.given_up > 0 {
        failures.push(format!("{} of {} callbacks delivered ({} given up)", t.delivered, t.events, t.given_up));
    }
    if !t.accept_only {
        if t.sent != t.events {
            failures.push(format!("{} of {} welcomes sent", t.sent, t.events));
        }
        if t.welcomed_in_simulator != t.sent {
            failures.push(format!(
                "Pond recorded {} welcomes sent, the simulator accepted {}",
                t.sent, t.welcomed_in_simulator
            ));
        }
    }
    failures
}

pub async fn pipeline(args: PipelineArgs) -> Result<()> {
    let sim_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.sim_threads.max(1))
        .thread_name(SIM_THREAD)
        .enable_all()
        .build()
        .context("starting the simulator's runtime")?;
    let fresh = fresh_database(&args.database).await?;
    let result = run(&args, &fresh.url, sim_runtime.handle()).await;
    cleanup(fresh).await;
    // A runtime may not be dropped inside another's async code.
    sim_runtime.shutdown_background();
    result
}

async fn run(args: &PipelineArgs, url: &str, sim_runtime: &tokio::runtime::Handle) -> Result<()> {
    let sqlite = url.starts_with("sqlite");
    let mut config = Config::default();
    // Pond's own budget (9,000 calls a minute per WeCom API, under WeCom's 10,000) lifted, and the
    // simulator's limit with it: the run measures Pond, not WeCom's rate limit.
    config.wecom.calls_per_minute = u32::MAX;
    // No reconcile during the run.
    config.sync.reconcile_interval_secs = 0;
    config.jobs.enabled = !args.accept_only;
    config.storage.sqlite_synchronous = match args.synchronous {
        Synchronous::Full => SqliteSynchronous::Full,
        Synchronous::Normal => SqliteSynchronous::Normal,
    };
    let db = Db::open_with(url, config.storage.db_options()).await?;
    let database = describe_database(&db).await?;

    // The simulator lives on its own runtime: its tasks (the callback pusher, its HTTP server, the
    // adds) run on threads named SIM_THREAD.
    let sim = {
        let _on_sim_runtime = sim_runtime.enter();
        wecom_sim::Simulator::new(wecom_sim::SimConfig {
            scenario: Some(wecom_sim::world::Scenario {
                seed: 1,
                stores: 10,
                staff_per_store: 5,
                customers: args.customers,
                groups: 0,
                history_days: 0,
            }),
            ..Default::default()
        })?
    };
    sim.set_rate_limit(u32::MAX);
    let any_port: std::net::SocketAddr = "127.0.0.1:0".parse()?;
    let (sim_addr, _server) = {
        let sim = sim.clone();
        sim_runtime.spawn(async move { sim.start(any_port).await }).await??
    };
    let creds = sim.credentials();
    let corp = pond_store::corp::create(&db, "bench").await?;
    let settings = pond_store::corp::WecomSettings {
        name: "bench".into(),
        wecom_corp_id: Some(creds.corp_id.clone()),
        app_secret: Some(pond_core::Secret::new(creds.app_secret.clone())),
        callback_token: Some(pond_core::Secret::new(creds.callback_token.clone())),
        encoding_aes_key: Some(pond_core::Secret::new(creds.encoding_aes_key.clone())),
        api_base_url: format!("http://{sim_addr}"),
        ..Default::default()
    };
    pond_store::welcome::create(&db, corp.id, "bench", "{customer_name}您好，我是{staff_name}", "[]", true).await?;
    let state = App::new(db.clone(), config.clone());
    pond_app::secrets::store_settings(&state, &db, corp.id, &settings).await?;
    let listener = tokio::net::TcpListener::bind(any_port).await?;
    let registry = pond_app::pipeline::default_registry(&state);
    let pond = pond_server::start(state.clone(), listener, registry, false).await?;
    // Without workers Pond runs no periodic tasks; the database's upkeep (SQLite's WAL checkpoint)
    // runs all the same, as it would beside workers.
    let (stop_upkeep, upkeep_stopped) = tokio::sync::watch::channel(false);
    if args.accept_only {
        for task in pond_app::pipeline::periodic::core_tasks(&state) {
            tokio::spawn(pond_app::pipeline::periodic::run(
                task,
                pond_app::pipeline::until_stopped(upkeep_stopped.clone()),
            ));
        }
    }

    let t = Instant::now();
    let preload = pond_app::sync::run_full_sync(&state, corp.id, "bench").await?;
    println!("preload: {} in {:.1} s", preload.summary, t.elapsed().as_secs_f64());

    sim.configure_callbacks(wecom_sim::callbacks::CallbackConfig {
        url: Some(format!("http://{}/wecom/callback/{}", pond.addr, corp.id)),
        duplicate: false,
        retry_delay_ms: 1_000,
        concurrency: args.concurrency.max(1),
    });
    let machine = machine();
    let commits_before = state.inbox_writer.group_commits();
    let before = CpuSample::now();
    let start = Instant::now();
    let start_ms = pond_store::now_ms();
    let generator = {
        let (sim, events, rate) = (sim.clone(), args.events, args.rate);
        sim_runtime.spawn(async move {
            let begun = tokio::time::Instant::now();
            let every = (rate > 0.0).then(|| Duration::from_secs_f64(1.0 / rate));
            for i in 0..events {
                if let Some(every) = every {
                    tokio::time::sleep_until(begun + every.mul_f64(i as f64)).await;
                }
                sim.act(wecom_sim::world::Action::Scan {
                    config_id: None,
                    state: Some(format!("store-{:03}", i % 10 + 1)),
                    external_userid: None,
                    name: None,
                })
                .map_err(|e| e.to_string())?;
            }
            Ok::<_, String>(begun.elapsed())
        })
    };
    let generated = generator.await?.map_err(|e| anyhow::anyhow!("the simulator refused an add: {e}"))?;
    sim.state.pusher.idle().await;
    let accepted_in = start.elapsed();
    let drained = if args.accept_only { Ok(()) } else { wait_until_drained(&db).await };
    let elapsed = start.elapsed();
    let after = CpuSample::now();
    let commits_after = state.inbox_writer.group_commits();
    let _ = stop_upkeep.send(true);

    // What happened to each add: the simulator's record joined with Pond's welcome outcome.
    let deliveries = sim.state.pusher.stats();
    let adds = sim.adds();
    let timings: HashMap<String, pond_store::welcome::Timing> =
        pond_store::welcome::timings(&db, corp.id).await?.into_iter().map(|t| (t.welcome_code.clone(), t)).collect();
    let inbox = pond_store::inbox::counts_by_status(&db).await?;
    let mut statuses: BTreeMap<&str, usize> = BTreeMap::new();
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let (mut waited, mut in_pond, mut add_to_welcome, mut timed) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut outside_window = 0;
    let mut no_outcome = 0;
    for add in &adds {
        let Some(t) = timings.get(&add.welcome_code) else {
            no_outcome += 1;
            continue;
        };
        *statuses.entry(t.status.as_str()).or_default() += 1;
        if t.status != "sent" {
            *reasons.entry(format!("{}: {}", t.status, t.reason)).or_default() += 1;
        }
        let total = t.finished_at - add.created_at_ms;
        waited.push(t.received_at - add.created_at_ms);
        in_pond.push(t.finished_at - t.received_at);
        add_to_welcome.push(total);
        timed.push((add.created_at_ms, total));
        if total > pond_app::acquisition::welcome::WELCOME_WINDOW_MS {
            outside_window += 1;
        }
    }
    let sent = statuses.get("sent").copied().unwrap_or(0);
    let welcomed_in_simulator = adds.iter().filter(|a| a.welcomed_at_ms.is_some()).count();

    let n = args.events as f64;
    let backend = if sqlite { "SQLite" } else { "PostgreSQL" };
    println!();
    println!("pipeline benchmark on {backend}");
    println!("configuration:");
    println!("  database: {database}");
    let changed = non_defaults(&config);
    println!(
        "  Pond settings that differ from its defaults: {}",
        if changed.is_empty() { "none".to_owned() } else { changed.join(", ") }
    );
    println!(
        "  the simulator: rate limit lifted (WeCom allows 10,000 calls a minute per API and corp, ≈167/s), \
         {} callbacks in flight, {} runtime thread(s) of its own",
        args.concurrency, args.sim_threads
    );
    let offered = if args.rate > 0.0 { format!("offered at {} events/s", args.rate) } else { "all at once".into() };
    println!(
        "  load: {} add events {offered}, {} customers preloaded{}",
        args.events,
        args.customers,
        if args.accept_only { "; accept only (no inbox or job workers; WAL checkpoints still run)" } else { "" }
    );
    println!("  machine: {machine}");
    println!("results:");
    println!(
        "  adds made in                  {:.2} s ({:.0} events/s)",
        generated.as_secs_f64(),
        n / generated.as_secs_f64()
    );
    println!(
        "  callbacks accepted            {:.0} events/s, all in {:.2} s ({} delivered, {} failed, {} attempts)",
        deliveries.delivered as f64 / accepted_in.as_secs_f64(),
        accepted_in.as_secs_f64(),
        deliveries.delivered,
        deliveries.failed,
        deliveries.attempts
    );
    if !args.accept_only {
        println!(
            "  processed (welcome sent)      {:.0} events/s: {sent} sent in {:.2} s, from the first add until Pond's queue drained",
            sent as f64 / elapsed.as_secs_f64(),
            elapsed.as_secs_f64()
        );
        println!(
            "  welcome outcomes              {}; no outcome: {no_outcome}; accepted by the simulator: {welcomed_in_simulator}",
            statuses.iter().map(|(s, c)| format!("{s} {c}")).collect::<Vec<_>>().join(", ")
        );
        for (reason, count) in reasons.iter().take(5) {
            println!("    {count} × {reason}");
        }
        println!("  inbox events by status        {inbox:?}");
        println!("  latency, over the {} adds with an outcome:", add_to_welcome.len());
        println!("    add → receipt (waiting in the simulator, and on the wire)  {}", spread(waited));
        println!("    receipt → welcome answered (in Pond)                     {}", spread(in_pond));
        println!("    add → welcome answered (WeCom's 20 s window)             {}", spread(add_to_welcome));
        println!("    over 20 s: {outside_window}");
        println!("    slowest seconds (by add): {}", slowest_seconds(&timed, start_ms, 3));
    }
    let per_event = |d: Duration| d.as_secs_f64() * 1e6 / n;
    if let (Some(process), Some(simulator)) =
        (used(after.process, before.process), used(after.simulator, before.simulator))
    {
        let pond_cpu = process.saturating_sub(simulator);
        let sqlite_cpu = match used(after.sqlite, before.sqlite) {
            Some(s) if sqlite => format!(" (SQLite's threads {:.0} µs)", per_event(s)),
            _ => String::new(),
        };
        println!(
            "  CPU: Pond {:.1} s, {:.0} µs per event{sqlite_cpu}; the simulator {:.1} s, {:.0} µs per event; over {:.1} s",
            pond_cpu.as_secs_f64(),
            per_event(pond_cpu),
            simulator.as_secs_f64(),
            per_event(simulator),
            elapsed.as_secs_f64()
        );
        if let Some(pg) = used(after.postgres, before.postgres).filter(|_| !sqlite) {
            // Server processes that ended during the run (none should) are not counted.
            println!(
                "  CPU of PostgreSQL's processes on this machine: {:.1} s, {:.0} µs per event",
                pg.as_secs_f64(),
                per_event(pg)
            );
        }
    }
    let commits = commits_after.0.saturating_sub(commits_before.0);
    let stored = commits_after.1.saturating_sub(commits_before.1);
    let transactions = after.transactions.saturating_sub(before.transactions);
    println!(
        "  write transactions (Db::begin): {transactions} ({:.2} per event); of them the intake's group commits: {commits}, {:.1} callbacks each",
        transactions as f64 / n,
        stored as f64 / commits.max(1) as f64
    );
    let switched = |after: (u64, u64), before: (u64, u64)| {
        format!(
            "{:.1} voluntary + {:.1} involuntary",
            after.0.saturating_sub(before.0) as f64 / n,
            after.1.saturating_sub(before.1) as f64 / n
        )
    };
    println!(
        "  context switches per event: Pond's threads {}{}",
        switched(after.switches, before.switches),
        if sqlite {
            format!(" (SQLite's threads {})", switched(after.sqlite_switches, before.sqlite_switches))
        } else {
            String::new()
        }
    );
    if let Some(bytes) = after.written.zip(before.written).map(|(a, b)| a.saturating_sub(b)).filter(|_| sqlite) {
        println!("  written to storage: {:.0} MB, {:.1} KB per event", bytes as f64 / 1e6, bytes as f64 / 1e3 / n);
    }
    pond.shutdown().await;

    drained?;
    let failures = verdict(&Tally {
        events: args.events,
        delivered: deliveries.delivered,
        given_up: deliveries.failed,
        sent,
        welcomed_in_simulator,
        accept_only: args.accept_only,
    });
    if !failures.is_empty() {
        bail!("benchmark failed: {}", failures.join("; "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&values, 0.50), 50);
        assert_eq!(percentile(&values, 0.99), 99);
        assert_eq!(percentile(&values, 1.0), 100);
        assert_eq!(percentile(&[7], 0.99), 7);
        assert_eq!(percentile(&[], 0.99), 0);
        // One slow event in 100 is the p99, not hidden below it.
        let mut tail = vec![1; 99];
        tail.push(1_000);
        assert_eq!(percentile(&tail, 0.99), 1);
        tail.push(1_000);
        assert_eq!(percentile(&tail, 0.99), 1_000);
    }

    #[test]
    fn a_run_passes_only_when_every_add_was_delivered_and_welcomed() {
        let all =
            Tally { events: 10, delivered: 10, given_up: 0, sent: 10, welcomed_in_simulator: 10, accept_only: false };
        assert!(verdict(&all).is_empty());
        let skipped = Tally { sent: 9, welcomed_in_simulator: 9, ..all };
        assert_eq!(verdict(&skipped), vec!["9 of 10 welcomes sent".to_owned()]);
        let lost = Tally { delivered: 9, given_up: 1, ..all };
        assert_eq!(verdict(&lost), vec!["9 of 10 callbacks delivered (1 given up)".to_owned()]);
        let unconfirmed = Tally { welcomed_in_simulator: 8, ..all };
        assert_eq!(verdict(&unconfirmed).len(), 1, "Pond's record must match the simulator's");
        let accepting = Tally { sent: 0, welcomed_in_simulator: 0, accept_only: true, ..all };
        assert!(verdict(&accepting).is_empty(), "accept-only runs apply nothing");
    }

    #[test]
    fn non_defaults_name_the_changed_keys_and_hide_secrets() {
        let mut config = Config::default();
        assert!(non_defaults(&config).is_empty());
        config.wecom.calls_per_minute = 5;
        config.security.metrics_token = "hush".into();
        config.storage.sqlite_synchronous = SqliteSynchronous::Normal;
        let changed = non_defaults(&config);
        assert!(changed.contains(&"wecom.calls_per_minute = 5 (default 9000)".to_owned()), "{changed:?}");
        assert!(
            changed.contains(&"storage.sqlite_synchronous = \"normal\" (default \"full\")".to_owned()),
            "{changed:?}"
        );
        assert!(changed.contains(&"security.metrics_token = (set)".to_owned()), "{changed:?}");
        assert!(!changed.iter().any(|c| c.contains("hush")));
    }
}
