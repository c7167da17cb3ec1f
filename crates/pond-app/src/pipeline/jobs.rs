//! The job worker: claims due jobs from the shared queue, runs each through the handler registered
//! for its kind, and records the outcome — done, retry later (exponential backoff with jitter), or
//! failed for good with its reason. Several instances may run workers against one PostgreSQL
//! database; the queue's claim guarantees each attempt goes to exactly one worker.

use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::Arc,
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use pond_core::backoff::Backoff;
use pond_store::{Db, jobs::Job, now_ms};
use rand::Rng;
use tokio::{sync::Notify, task::JoinSet};
use tracing::Instrument;

use crate::metrics::Metrics;

/// How often workers put back in the queue what a dead worker held (its lease ended): often
/// enough next to leases of minutes, rarely enough that the sweep — which walks every held entry
/// of the status index, dead ones included — costs nothing under load.
pub const LAPSED_SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// How an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// Worth another attempt later (rate limit, upstream busy, timeout).
    #[error("{0}")]
    Retryable(String),
    /// Will never succeed (bad input, no permission); the job fails at once.
    #[error("{0}")]
    Permanent(String),
}

/// A WeCom error as a job outcome: retried when transient.
pub fn api_error(e: wecom::WecomError) -> JobError {
    if e.is_retryable_later() { JobError::Retryable(e.to_string()) } else { JobError::Permanent(e.to_string()) }
}

/// A database error as a job outcome: retried.
pub fn store_error(e: pond_store::StoreError) -> JobError {
    JobError::Retryable(e.to_string())
}

/// A service error as a job outcome: retried when transient (or a database failure).
pub fn job_error(e: crate::AppError) -> JobError {
    match &e {
        crate::AppError::Storage(_) => JobError::Retryable(e.cause().unwrap_or_default()),
        _ if e.is_transient() => JobError::Retryable(e.to_string()),
        _ => JobError::Permanent(e.to_string()),
    }
}

/// A job's payload, parsed; a payload that does not parse fails the job for good.
pub fn parse_payload<T: serde::de::DeserializeOwned>(payload: &str) -> Result<T, JobError> {
    serde_json::from_str(payload).map_err(|e| JobError::Permanent(format!("bad payload: {e}")))
}

/// A job's payload as stored.
pub fn payload_json<T: serde::Serialize>(payload: &T) -> String {
    // Payloads are plain structs of strings and numbers: serialising them cannot fail.
    serde_json::to_string(payload).unwrap_or_default()
}

/// A boxed future, so handlers of different kinds can share one registry.
pub type JobFuture<'a> = Pin<Box<dyn Future<Output = Result<(), JobError>> + Send + 'a>>;

/// Runs jobs of one kind.
pub trait JobHandler: Send + Sync + 'static {
    fn run<'a>(&'a self, job: &'a Job) -> JobFuture<'a>;
}

/// Handlers by job kind.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<String, Arc<dyn JobHandler>>,
}

impl Registry {
    pub fn with(mut self, kind: &str, handler: impl JobHandler) -> Self {
        self.handlers.insert(kind.to_owned(), Arc::new(handler));
        self
    }
    pub fn kinds(&self) -> Vec<&str> {
        let mut kinds: Vec<&str> = self.handlers.keys().map(String::as_str).collect();
        kinds.sort_unstable();
        kinds
    }
}

/// Settings of one worker.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Unique per worker; recorded on claimed jobs.
    pub name: String,
    pub batch_size: i64,
    pub lease_ms: i64,
    pub poll_interval: Duration,
    pub backoff: Backoff,
}

/// A job worker bound to a database and a handler registry.
#[derive(Clone)]
pub struct Worker {
    db: Db,
    registry: Registry,
    settings: WorkerSettings,
    metrics: Arc<Metrics>,
    wake: Arc<Notify>,
}

impl Worker {
    pub fn new(db: Db, registry: Registry, settings: WorkerSettings, metrics: Arc<Metrics>, wake: Arc<Notify>) -> Self {
        Worker { db, registry, settings, metrics, wake }
    }

    /// Replaces the retry policy (tests use short delays).
    pub fn set_backoff(&mut self, backoff: Backoff) {
        self.settings.backoff = backoff;
    }

    /// Puts jobs whose lease ended back in the queue, then claims and runs one batch. Returns how
    /// many jobs it ran (0 when none were due).
    pub async fn run_batch(&self) -> Result<usize, pond_store::StoreError> {
        pond_store::jobs::requeue_lapsed(&self.db).await?;
        self.run_claimed_batch().await
    }

    /// Claims and runs one batch of due jobs.
    async fn run_claimed_batch(&self) -> Result<usize, pond_store::StoreError> {
        let jobs =
            pond_store::jobs::claim(&self.db, &self.settings.name, self.settings.batch_size, self.settings.lease_ms)
                .await?;
        let count = jobs.len();
        let mut set = JoinSet::new();
        for job in jobs {
            let handler = self.registry.handlers.get(&job.kind).cloned();
            let span = tracing::info_span!("job", job_id = job.id, corp_id = job.corp_id, kind = %job.kind);
            set.spawn(
                async move {
                    let outcome = match handler {
                        Some(h) => h.run(&job).await,
                        None => Err(JobError::Permanent(format!("no handler for job kind `{}`", job.kind))),
                    };
                    (job, outcome)
                }
                .instrument(span),
            );
        }
        let mut done = Vec::with_capacity(count);
        while let Some(joined) = set.join_next().await {
            let (job, outcome) = match joined {
                Ok(pair) => pair,
                Err(e) => {
                    // A panicking handler leaves its job running; the lease brings it back.
                    tracing::error!(error = %e, "job handler panicked");
                    continue;
                }
            };
            self.metrics.job_runs.fetch_add(1, Ordering::Relaxed);
            match outcome {
                Ok(()) => done.push(job.id),
                Err(err) => self.record_failure(&job, &err).await?,
            }
        }
        pond_store::jobs::complete(&self.db, &self.settings.name, &done).await?;
        Ok(count)
    }

    async fn record_failure(&self, job: &Job, err: &JobError) -> Result<(), pond_store::StoreError> {
        let retry_at = match err {
            JobError::Retryable(_) if job.attempts < job.max_attempts => {
                let attempts = u32::try_from(job.attempts).unwrap_or(u32::MAX);
                Some(now_ms() + self.settings.backoff.delay_ms(attempts, rand::rng().random::<f64>()))
            }
            _ => None,
        };
        let status = pond_store::jobs::fail(&self.db, &self.settings.name, job.id, &err.to_string(), retry_at).await?;
        if status == pond_core::JobStatus::Failed {
            self.metrics.job_failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(job_id = job.id, kind = %job.kind, error = %err, "job failed");
        } else {
            self.metrics.job_retries.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Runs until `shutdown` resolves: drains due jobs, then sleeps until woken or the poll interval
    /// passes. Jobs whose lease ended are put back in the queue every [`LAPSED_SWEEP_INTERVAL`].
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut last_sweep: Option<Instant> = None;
        loop {
            if last_sweep.is_none_or(|at| at.elapsed() >= LAPSED_SWEEP_INTERVAL) {
                last_sweep = Some(Instant::now());
                if let Err(e) = pond_store::jobs::requeue_lapsed(&self.db).await {
                    tracing::error!(error = %e, "job worker could not requeue lapsed jobs");
                }
            }
            let ran = match self.run_claimed_batch().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(error = %e, "job worker could not reach the queue");
                    0
                }
            };
            if ran > 0 {
                continue;
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.settings.poll_interval) => {}
            }
        }
    }
}
