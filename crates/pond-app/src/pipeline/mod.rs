//! The event pipeline and the job queue's workers.
//!
//! * [`intake`] — accepted callbacks stored in group commits, handed to the inbox worker in memory.
//! * [`inbox`] — the inbox worker: applies events in batches through sync and every feature's
//!   effects, runs expedited jobs, writes each batch in one transaction.
//! * [`jobs`] — the job worker: runs queued jobs through the handlers features register.
//! * [`periodic`] — timed tasks (features', sync's reconcile, the database's upkeep).
//! * [`writer_thread`] — SQLite's writer on a thread of its own.

pub mod inbox;
pub mod intake;
pub mod jobs;
pub mod periodic;
pub mod writer_thread;

use std::time::Duration;

use pond_core::backoff::Backoff;
use tokio::{sync::watch, task::JoinHandle};

use crate::App;

/// The job handlers of every feature.
pub fn default_registry(app: &App) -> jobs::Registry {
    app.features.job_registry(app)
}

/// A job worker for this app's configuration.
pub fn job_worker(app: &App, registry: jobs::Registry, name: String) -> jobs::Worker {
    let settings = &app.config.jobs;
    jobs::Worker::new(
        app.db.clone(),
        registry,
        jobs::WorkerSettings {
            name,
            batch_size: i64::from(settings.batch_size),
            lease_ms: i64::try_from(settings.lease_secs).unwrap_or(300) * 1000,
            poll_interval: Duration::from_millis(settings.poll_interval_ms),
            backoff: Backoff::default(),
        },
        app.metrics.clone(),
        app.wake_worker.clone(),
    )
}

/// The inbox worker for this app's configuration.
pub fn inbox_worker(app: &App) -> inbox::InboxWorker {
    inbox::InboxWorker {
        db: app.db.clone(),
        clients: app.wecom.clone(),
        corps: app.corps.clone(),
        features: app.features.clone(),
        wake: app.wake_inbox.clone(),
        wake_jobs: app.wake_worker.clone(),
        poll_interval: Duration::from_millis(app.config.jobs.poll_interval_ms),
        batch_size: 200,
        backoff: Backoff { base_ms: 500, max_ms: 5 * 60 * 1000 },
        clock: app.clock.clone(),
    }
}

/// Starts this instance's workers — the job worker, the inbox worker (fed by the callback intake)
/// and every periodic task — until `stopped` turns true.
pub fn start_workers(
    app: &App,
    registry: jobs::Registry,
    name: String,
    stopped: watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    let mut tasks = Vec::new();
    tasks.push(tokio::spawn(job_worker(app, registry, name).run(until_stopped(stopped.clone()))));
    let handed = app.inbox_writer.hand_off(inbox::LEASE_MS);
    tasks.push(tokio::spawn(inbox_worker(app).run(handed, until_stopped(stopped.clone()))));
    let periodic = periodic::core_tasks(app).into_iter().chain(app.features.periodic_tasks(app));
    for task in periodic {
        tasks.push(tokio::spawn(periodic::run(task, until_stopped(stopped.clone()))));
    }
    tasks
}

/// Resolves once `stopped` turns true.
pub async fn until_stopped(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|s| *s).await;
}
