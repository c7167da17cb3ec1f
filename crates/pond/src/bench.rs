//! `pond bench pipeline`: the add-event pipeline under load, end to end over HTTP.
//!
//! Preloads customers in the simulator and syncs them, then has N new customers add employees;
//! the simulator pushes each add event (encrypted) to Pond, Pond stores it, applies it (re-reading
//! the customer), picks the welcome message and sends it through the simulator's
//! `send_welcome_msg`. Prints callbacks accepted per second, events processed per second, and the
//! p50 / p99 latency from callback receipt to the welcome API call answered.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use pond_app::{App, Config};
use pond_store::Db;
use sqlx::{Connection, Executor};

#[derive(Debug, clap::Args)]
pub struct PipelineArgs {
    /// `sqlite` (a fresh file in a temp folder) or a PostgreSQL server URL (a fresh database is created and dropped).
    #[arg(long, default_value = "sqlite")]
    database: String,
    /// Add events to drive.
    #[arg(long, default_value_t = 100_000)]
    events: usize,
    /// Customers preloaded (and synced) before the run.
    #[arg(long, default_value_t = 10_000)]
    customers: usize,
    /// Callbacks the simulator keeps in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Add events per second (0 = all at once, an open-loop burst).
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Only accept callbacks (no inbox or job workers): measures the receiving half alone.
    #[arg(long)]
    accept_only: bool,
}

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

/// CPU time this process has used so far (user + system, all threads), from `/proc/self/stat`;
/// `None` where there is no procfs. Pond and the simulator share the process, so this is the cost
/// of both sides, the figure that decides throughput on a machine with few cores.
fn process_cpu_time() -> Option<Duration> {
    cpu_time_of("/proc/self/stat")
}

/// CPU time used so far by this process's SQLite threads (sqlx runs each SQLite connection on a
/// thread of its own, named `sqlx-sqlite-worker-N`); `None` without procfs.
fn sqlite_threads_cpu_time() -> Option<Duration> {
    cpu_time_of_named("/proc/self/task", |comm| comm.starts_with("sqlx-sqlite"))
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

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// The `count` seconds of the run (by when callbacks were received) with the highest p99 latency,
/// as `second: p99`: a tail made of a few stalls and one spread over the run look alike in the
/// overall p99.
fn slowest_seconds(sent: &[(i64, i64)], start_ms: i64, count: usize) -> String {
    let mut by_second: std::collections::BTreeMap<i64, Vec<i64>> = std::collections::BTreeMap::new();
    for &(received_at, latency) in sent {
        by_second.entry((received_at - start_ms).max(0) / 1000).or_default().push(latency);
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

/// Waits until no event or job is left to do. Polled slowly: the counts scan whole tables, and the
/// benchmark should not load the database itself.
async fn wait_until_drained(db: &Db) -> Result<()> {
    loop {
        let inbox = pond_store::inbox::unfinished(db).await?;
        let jobs = pond_store::jobs::counts_by_status(db).await?;
        let busy = jobs.iter().filter(|(s, _)| s == "pending" || s == "running").map(|(_, n)| n).sum::<i64>();
        if inbox == 0 && busy == 0 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

pub async fn pipeline(args: PipelineArgs) -> Result<()> {
    let fresh = fresh_database(&args.database).await?;
    let result = run(&args, &fresh.url).await;
    cleanup(fresh).await;
    result
}

async fn run(args: &PipelineArgs, url: &str) -> Result<()> {
    let backend = if url.starts_with("sqlite") { "SQLite" } else { "PostgreSQL" };
    let db = Db::open(url).await?;
    let sim = wecom_sim::Simulator::new(wecom_sim::SimConfig {
        scenario: Some(wecom_sim::world::Scenario {
            seed: 1,
            stores: 10,
            staff_per_store: 5,
            customers: args.customers,
            groups: 0,
            history_days: 0,
        }),
        ..Default::default()
    })?;
    // Lifted so the simulator measures Pond, not WeCom's 10,000-per-minute limit (see the note below).
    sim.set_rate_limit(u32::MAX);
    let (sim_addr, _server) = sim.start("127.0.0.1:0".parse()?).await?;
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
    let mut config = Config::default();
    config.jobs.batch_size = 128;
    config.jobs.poll_interval_ms = 20;
    config.wecom.calls_per_minute = u32::MAX;
    config.sync.reconcile_interval_secs = 0;
    config.http.request_timeout_secs = 60;
    config.jobs.enabled = !args.accept_only;
    let state = App::new(db.clone(), config);
    pond_app::secrets::store_settings(&state, &db, corp.id, &settings).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let registry = pond_app::pipeline::default_registry(&state);
    let pond = pond_server::start(state.clone(), listener, registry, false).await?;

    let t = Instant::now();
    let run = pond_app::sync::run_full_sync(&state, corp.id, "bench").await?;
    println!("preload: {} in {:.1} s", run.summary, t.elapsed().as_secs_f64());

    sim.configure_callbacks(wecom_sim::callbacks::CallbackConfig {
        url: Some(format!("http://{}/wecom/callback/{}", pond.addr, corp.id)),
        duplicate: false,
        retry_delay_ms: 1_000,
        concurrency: args.concurrency.max(1),
    });
    let stores: Vec<String> = (1..=10).map(|i| format!("store-{i:03}")).collect();
    let cpu_before = process_cpu_time();
    let sqlite_before = sqlite_threads_cpu_time();
    let written_before = storage_bytes_written();
    let postgres_before = local_postgres_cpu_time();
    let start = Instant::now();
    let start_ms = pond_store::now_ms();
    let interval = (args.rate > 0.0).then(|| Duration::from_secs_f64(1.0 / args.rate));
    for i in 0..args.events {
        if let Some(every) = interval {
            tokio::time::sleep_until(tokio::time::Instant::from_std(start + every.mul_f64(i as f64))).await;
        }
        let state_name = stores[i % stores.len()].clone();
        sim.act(wecom_sim::world::Action::Scan {
            config_id: None,
            state: Some(state_name),
            external_userid: None,
            name: None,
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let generated = start.elapsed();
    sim.state.pusher.idle().await;
    let accepted_in = start.elapsed();
    if !args.accept_only {
        wait_until_drained(&db).await?;
    }
    let cpu_used = process_cpu_time().zip(cpu_before).map(|(after, before)| after.saturating_sub(before));
    let written = storage_bytes_written().zip(written_before).map(|(after, before)| after.saturating_sub(before));
    // Server processes that ended during the run (none should) are not counted.
    let postgres_used =
        local_postgres_cpu_time().zip(postgres_before).map(|(after, before)| after.saturating_sub(before));
    let sqlite_used = sqlite_threads_cpu_time().zip(sqlite_before).map(|(after, before)| after.saturating_sub(before));
    let last_welcome = pond_store::welcome::last_finished_at(&db, corp.id).await?.unwrap_or(start_ms);
    let processed_in = Duration::from_millis(u64::try_from(last_welcome - start_ms).unwrap_or(0)).max(accepted_in);
    let deliveries = sim.state.pusher.stats();
    let sent: Vec<(i64, i64)> = pond_store::welcome::latencies(&db, corp.id)
        .await?
        .into_iter()
        .filter(|(s, _, _)| s == "sent")
        .map(|(_, received_at, latency)| (received_at, latency))
        .collect();
    let mut latencies: Vec<i64> = sent.iter().map(|(_, l)| *l).collect();
    latencies.sort_unstable();
    let outcomes = pond_store::welcome::result_counts(&db, corp.id).await?;
    let n = args.events as f64;
    println!(
        "pipeline benchmark on {backend}: {} add events, {} customers preloaded, {} callbacks in flight",
        args.events, args.customers, args.concurrency
    );
    println!("  events generated in          {:.1} s", generated.as_secs_f64());
    println!(
        "  callbacks accepted           {:.0} events/s ({} delivered, {} failed, {} attempts)",
        n / accepted_in.as_secs_f64(),
        deliveries.delivered,
        deliveries.failed,
        deliveries.attempts
    );
    println!(
        "  events processed (welcome answered) {:.0} events/s (all done in {:.1} s)",
        n / processed_in.as_secs_f64(),
        processed_in.as_secs_f64()
    );
    println!(
        "  latency receipt → welcome answered: p50 {} ms, p99 {} ms, max {} ms over {} sent",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(0),
        latencies.len()
    );
    if let Some(cpu) = cpu_used {
        let per_event = |d: Duration| d.as_secs_f64() * 1e6 / n;
        let sqlite = match sqlite_used {
            Some(s) if backend == "SQLite" => format!(" (SQLite's threads {:.0} µs)", per_event(s)),
            _ => String::new(),
        };
        println!(
            "  CPU used (Pond and simulator): {:.1} s, {:.0} µs per event{sqlite}",
            cpu.as_secs_f64(),
            per_event(cpu)
        );
        if let Some(pg) = postgres_used.filter(|_| backend == "PostgreSQL") {
            println!(
                "  CPU used by PostgreSQL's processes on this machine: {:.1} s, {:.0} µs per event",
                pg.as_secs_f64(),
                per_event(pg)
            );
        }
    }
    if let Some(bytes) = written.filter(|_| backend == "SQLite") {
        println!("  written to storage: {:.0} MB, {:.1} KB per event", bytes as f64 / 1e6, bytes as f64 / 1e3 / n);
    }
    println!("  slowest seconds (by callback receipt): {}", slowest_seconds(&sent, start_ms, 3));
    println!("  welcome outcomes: {outcomes:?}");
    println!(
        "  note: WeCom itself allows 10,000 calls per minute per API and corp (≈167/s); the simulator's limit was lifted to measure Pond."
    );
    pond.shutdown().await;
    Ok(())
}
