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

/// The inbox worker for this app's configuration, claiming events for the instance `holder`.
pub fn inbox_worker(app: &App, holder: &str) -> inbox::InboxWorker {
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
        holder: holder.to_owned(),
        metrics: app.metrics.clone(),
        clock: app.clock.clone(),
    }
}

/// This instance's name: what its workers record on the events and jobs they hold. With
/// `instance_id` configured (the CLI keeps one in the data folder) it is the same after a restart,
/// so the restarted instance takes back at once what it held when it died; without, it is unique to
/// this process and what a dead process held comes back when its leases end.
pub fn instance_name(app: &App, port: u16) -> String {
    let id = app.config.instance_id.trim();
    if id.is_empty() {
        let host = std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "pond".to_owned());
        format!("{host}-{}-{port}", std::process::id())
    } else {
        format!("{id}:{port}")
    }
}

/// Takes back what this instance held when it last stopped (crashed, killed): its inbox events
/// and jobs go back in the queue at once, their attempts still counted. Returns how many.
pub async fn reclaim_own(app: &App, name: &str) -> Result<u64, pond_store::StoreError> {
    let events = pond_store::inbox::requeue_held_by(&app.db, name).await?;
    let jobs = pond_store::jobs::requeue_held_by(&app.db, name).await?;
    if events + jobs > 0 {
        tracing::warn!(instance = name, events, jobs, "took back what this instance held when it stopped");
        app.metrics.reclaimed.fetch_add(events + jobs, std::sync::atomic::Ordering::Relaxed);
    }
    Ok(events + jobs)
}

/// Renews the leases of what this instance holds, every [`inbox::HEARTBEAT`], until `shutdown`.
async fn heartbeat(app: App, name: String, shutdown: impl std::future::Future<Output = ()>) {
    tokio::pin!(shutdown);
    let job_lease_ms = i64::try_from(app.config.jobs.lease_secs).unwrap_or(30).saturating_mul(1000);
    // Three beats per lease at least, so one late beat never lets a live worker's hold lapse.
    let every = inbox::HEARTBEAT.min(Duration::from_millis(u64::try_from(job_lease_ms / 3).unwrap_or(1).max(1)));
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tokio::time::sleep(every) => {}
        }
        let (events, jobs) = tokio::join!(
            pond_store::inbox::extend_leases(&app.db, &name, inbox::LEASE_MS),
            pond_store::jobs::extend_leases(&app.db, &name, job_lease_ms)
        );
        if let Err(e) = events.and(jobs) {
            tracing::error!(instance = %name, error = %e, "could not renew leases; another instance may take them over");
        }
    }
}

/// Starts this instance's workers — the job worker, the inbox worker (fed by the callback intake),
/// the lease heartbeat and every periodic task — until `stopped` turns true. Call
/// [`reclaim_own`] first.
pub fn start_workers(
    app: &App,
    registry: jobs::Registry,
    name: String,
    stopped: watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    let mut tasks = Vec::new();
    tasks.push(tokio::spawn(heartbeat(app.clone(), name.clone(), until_stopped(stopped.clone()))));
    let handed = app.inbox_writer.hand_off(&name, inbox::LEASE_MS);
    tasks.push(tokio::spawn(inbox_worker(app, &name).run(handed, until_stopped(stopped.clone()))));
    tasks.push(tokio::spawn(job_worker(app, registry, name).run(until_stopped(stopped.clone()))));
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
