//! The job queue under real workers: two servers sharing one database drain 10,000 jobs, every
//! job runs exactly once (whichever server takes it); failures are retried with backoff and end as
//! `failed` with their reason.

mod common;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use pond_app::{
    App as AppState, Config,
    pipeline::jobs::{JobError, JobFuture, JobHandler, Registry},
};
use pond_core::{JobStatus, PageRequest};
use pond_store::{
    Db,
    jobs::{self, Job, NewJob},
    test_on_both_backends,
};

test_on_both_backends!(failures_retry_with_backoff_then_fail_with_reason);

/// The two-server test needs the database URL to open a second pool, so it is spelled out here.
mod two_servers_drain_ten_thousand_jobs_without_running_any_twice {
    use pond_store::testing::TestDb;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let t = TestDb::sqlite().await;
        super::two_servers_drain_ten_thousand_jobs_without_running_any_twice(t.db.clone(), &t.url).await;
        t.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        if let Some(t) = TestDb::postgres().await {
            super::two_servers_drain_ten_thousand_jobs_without_running_any_twice(t.db.clone(), &t.url).await;
            t.cleanup().await;
        }
    }
}

/// Records which worker ran each job, and how often.
#[derive(Clone, Default)]
struct Recorder {
    runs: Arc<Mutex<HashMap<i64, Vec<String>>>>,
}

impl JobHandler for Recorder {
    fn run<'a>(&'a self, job: &'a Job) -> JobFuture<'a> {
        Box::pin(async move {
            let worker = job.locked_by.clone().unwrap_or_default();
            self.runs.lock().expect("lock").entry(job.id).or_default().push(worker);
            Ok(())
        })
    }
}

fn fast_config() -> Config {
    let mut c = Config::default();
    c.jobs.batch_size = 100;
    c.jobs.poll_interval_ms = 20;
    c
}

async fn start_server(db: Db, registry: Registry) -> pond_server::Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    pond_server::start(AppState::new(db, fast_config()), listener, registry, false).await.expect("start")
}

async fn wait_until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    while !done().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn count(db: &Db, corp_id: i64, status: JobStatus) -> i64 {
    jobs::list(db, corp_id, Some(status), PageRequest::new(Some(1), Some(1))).await.expect("list").total
}

async fn two_servers_drain_ten_thousand_jobs_without_running_any_twice(db: Db, url: &str) {
    const JOBS: usize = 10_000;
    let corp_id = pond_store::corp::create(&db, "queue").await.expect("corp").id;
    let keys: Vec<String> = (0..JOBS).map(|i| format!("job-{i}")).collect();
    let new_jobs: Vec<NewJob> = keys
        .iter()
        .map(|k| NewJob {
            corp_id,
            kind: "test.record",
            payload: "{}",
            idempotency_key: k,
            max_attempts: 3,
            run_at: None,
        })
        .collect();
    assert_eq!(jobs::enqueue_many(&db, &new_jobs).await.expect("enqueue"), JOBS as u64);

    // Two servers, each with its own connection pool to the same database, as two machines would have.
    let recorder = Recorder::default();
    let registry = Registry::default().with("test.record", recorder.clone());
    let first = start_server(Db::open(url).await.expect("db 1"), registry.clone()).await;
    let second = start_server(Db::open(url).await.expect("db 2"), registry).await;

    let (first_port, second_port) = (first.addr.port(), second.addr.port());
    wait_until("the queue to drain", async || count(&db, corp_id, JobStatus::Done).await == JOBS as i64).await;
    first.shutdown().await;
    second.shutdown().await;

    // What must hold, whoever took which job (how the work splits depends on timing).
    let runs = recorder.runs.lock().expect("lock").clone();
    assert_eq!(runs.len(), JOBS, "every job ran");
    let twice: Vec<_> = runs.iter().filter(|(_, w)| w.len() != 1).collect();
    assert!(twice.is_empty(), "jobs run more than once: {:?}", &twice[..twice.len().min(5)]);
    let servers = [format!("-{}", first_port), format!("-{}", second_port)];
    let strangers: Vec<_> =
        runs.iter().filter(|(_, w)| !servers.iter().any(|port| w[0].ends_with(port.as_str()))).take(5).collect();
    assert!(strangers.is_empty(), "run by neither server: {strangers:?}");
    for status in [JobStatus::Pending, JobStatus::Running, JobStatus::Failed] {
        assert_eq!(count(&db, corp_id, status).await, 0, "{status:?}");
    }
}

/// Behaves as its payload says: fail permanently, fail once then succeed, or always fail (retryably).
#[derive(Clone, Default)]
struct Flaky;

impl JobHandler for Flaky {
    fn run<'a>(&'a self, job: &'a Job) -> JobFuture<'a> {
        Box::pin(async move {
            match job.payload.as_str() {
                "permanent" => Err(JobError::Permanent("errcode 60111: invalid userid".into())),
                "retry-once" if job.attempts < 2 => {
                    Err(JobError::Retryable("errcode 45009: api freq out of limit".into()))
                }
                "retry-once" => Ok(()),
                _ => Err(JobError::Retryable("errcode -1: system busy".into())),
            }
        })
    }
}

async fn failures_retry_with_backoff_then_fail_with_reason(db: Db) {
    let corp_id = pond_store::corp::create(&db, "queue").await.expect("corp").id;
    let enqueue = |key: &'static str, kind: &'static str, payload: &'static str, max_attempts: i64| {
        let db = db.clone();
        async move {
            jobs::enqueue(&db, &NewJob { corp_id, kind, payload, idempotency_key: key, max_attempts, run_at: None })
                .await
                .expect("enqueue")
                .expect("new")
        }
    };
    let permanent = enqueue("p", "flaky", "permanent", 5).await;
    let retry_once = enqueue("r", "flaky", "retry-once", 5).await;
    let exhausted = enqueue("e", "flaky", "always", 2).await;
    let unknown = enqueue("u", "no.such.kind", "{}", 5).await;

    let state = AppState::new(db.clone(), fast_config());
    let mut settings_worker =
        pond_app::pipeline::job_worker(&state, Registry::default().with("flaky", Flaky), "w-test".into());
    // Backoff shortened so the test does not wait for production delays; the policy is the same.
    settings_worker.set_backoff(pond_core::backoff::Backoff { base_ms: 20, max_ms: 100 });
    wait_until("all jobs to settle", async || {
        settings_worker.run_batch().await.expect("batch");
        count(&db, corp_id, JobStatus::Pending).await + count(&db, corp_id, JobStatus::Running).await == 0
    })
    .await;

    let get = |id| {
        let db = db.clone();
        async move { jobs::get(&db, corp_id, id).await.expect("job") }
    };
    let p = get(permanent).await;
    assert_eq!((p.status(), p.attempts), (JobStatus::Failed, 1), "permanent errors are not retried");
    assert_eq!(p.last_error.as_deref(), Some("errcode 60111: invalid userid"));
    let r = get(retry_once).await;
    assert_eq!((r.status(), r.attempts, r.last_error.as_deref()), (JobStatus::Done, 2, None));
    let e = get(exhausted).await;
    assert_eq!((e.status(), e.attempts), (JobStatus::Failed, 2), "stops at max_attempts");
    assert_eq!(e.last_error.as_deref(), Some("errcode -1: system busy"));
    let u = get(unknown).await;
    assert_eq!(u.status(), JobStatus::Failed);
    assert!(u.last_error.as_deref().unwrap_or("").contains("no handler"));

    let metrics = state.metrics.render(&Default::default());
    assert!(metrics.contains("pond_job_failures_total 3"), "{metrics}");
    assert!(metrics.contains("pond_job_retries_total 2"), "{metrics}");
}
