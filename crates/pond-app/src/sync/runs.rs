//! Sync runs: asked for by a person, by the reconcile intervals, or by [`super::catch_up`];
//! started one at a time per corp (on every instance sharing the database) unless a recent run
//! already covers what is asked; recorded with why they ran and what they cost (WeCom calls,
//! rows written, duration).

use std::{
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use pond_core::sync::{Ask, Decision, SyncKind, SyncReason};
use pond_store::sync_run::{self, Cost, NewRun, StartRule, SyncRun};

use super::{RunCtx, full_sync, incremental::incremental};
use crate::{App, AppError};

/// A `running` run that showed no sign of life for this long is taken as abandoned (its instance
/// stopped) and no longer blocks the next one.
const ABANDONED_MS: i64 = 120_000;
/// How often a run shows it is alive besides its progress reports (which may be far apart while
/// it waits for WeCom's rate budget).
const TOUCH_EVERY: Duration = Duration::from_secs(20);

/// A run asked for.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub corp_id: i64,
    pub started_by: &'a str,
    pub kind: SyncKind,
    pub reason: SyncReason,
    pub gap_ms: Option<i64>,
    /// When a run is covered by another or too soon (the time in it is filled in).
    pub covered_since: Option<i64>,
    pub not_within_ms: i64,
}

impl<'a> Request<'a> {
    /// A run a person asked for: it starts unless one is running.
    pub fn manual(corp_id: i64, started_by: &'a str, kind: SyncKind) -> Self {
        Request {
            corp_id,
            started_by,
            kind,
            reason: SyncReason::Manual,
            gap_ms: None,
            covered_since: None,
            not_within_ms: 0,
        }
    }
}

/// Stops a task when dropped (the run's sign of life ends with the run, however it ends).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Records a run if `req` allows one now (see [`pond_core::sync::decide`]); `Err(decision)` says
/// why not.
pub async fn try_start(app: &App, req: &Request<'_>) -> Result<Result<SyncRun, Decision>, AppError> {
    let now = app.clock.now_ms();
    let new = NewRun {
        corp_id: req.corp_id,
        started_by: req.started_by,
        kind: req.kind,
        reason: req.reason,
        gap_ms: req.gap_ms,
    };
    let rule = StartRule {
        ask: Ask { now, covered_since: req.covered_since, not_within_ms: req.not_within_ms },
        abandoned_before: now - ABANDONED_MS,
    };
    Ok(sync_run::start(&app.db, &new, &rule).await?)
}

/// Runs a recorded run to its end and records the outcome and cost. Returns whether it succeeded.
pub async fn execute(app: &App, run: &SyncRun, client: &wecom::Client) -> bool {
    let (client, calls) = client.tallied();
    let started = Instant::now();
    let kind = run.kind.parse::<SyncKind>().unwrap_or(SyncKind::Full);
    let (db, run_id, clock) = (app.db.clone(), run.id, app.clock.clone());
    let _alive = AbortOnDrop(tokio::spawn(async move {
        loop {
            tokio::time::sleep(TOUCH_EVERY).await;
            let _ = sync_run::touch(&db, run_id, clock.now_ms()).await;
        }
    }));
    let mut ctx = RunCtx { db: &app.db, progress: Some((run.id, &app.clock)), rows: 0 };
    let result = match kind {
        SyncKind::Full => full_sync(&mut ctx, &client, run.corp_id).await.map(|s| s.to_string()),
        SyncKind::Incremental => incremental(&mut ctx, &client, run.corp_id).await.map(|s| s.to_string()),
    };
    let elapsed = started.elapsed();
    let cost = Cost {
        wecom_calls: i64::try_from(calls.load(Ordering::Relaxed)).unwrap_or(i64::MAX),
        rows_written: i64::try_from(ctx.rows).unwrap_or(i64::MAX),
        duration_ms: i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX),
    };
    let (corp_id, reason, now) = (run.corp_id, run.reason.as_str(), app.clock.now_ms());
    let outcome = match &result {
        Ok(summary) => {
            tracing::info!(corp_id, run_id, kind = kind.as_str(), reason, ?elapsed, calls = cost.wecom_calls,
                rows = cost.rows_written, %summary, "sync finished");
            let text = format!("{summary} in {:.1} s", elapsed.as_secs_f64());
            sync_run::finish(&app.db, run_id, &text, None, cost, now).await
        }
        Err(e) => {
            tracing::warn!(corp_id, run_id, kind = kind.as_str(), reason, error = %e, "sync failed");
            sync_run::finish(&app.db, run_id, "", Some(&e.to_string()), cost, now).await
        }
    };
    if let Err(e) = outcome {
        tracing::error!(run_id, error = %e, "could not record the end of a sync run");
    }
    result.is_ok()
}

/// Starts a run and waits for its end. Returns the finished run (a failed one included), or
/// `Conflict` when another is running.
pub async fn run_now(app: &App, req: &Request<'_>) -> Result<SyncRun, AppError> {
    let client = app.client(req.corp_id).await?;
    let run = try_start(app, req).await?.map_err(refused)?;
    execute(app, &run, &client).await;
    Ok(sync_run::get(&app.db, req.corp_id, run.id).await?)
}

/// Runs a full sync of one corp now, recorded as a sync run. Returns the finished run.
pub async fn run_full_sync(app: &App, corp_id: i64, started_by: &str) -> Result<SyncRun, AppError> {
    run_now(app, &Request::manual(corp_id, started_by, SyncKind::Full)).await
}

/// Starts a sync a person asked for in the background; returns the run at once (progress is on
/// the run).
pub async fn spawn_sync(app: &App, corp_id: i64, started_by: &str, kind: SyncKind) -> Result<SyncRun, AppError> {
    let client = app.client(corp_id).await?;
    let run = try_start(app, &Request::manual(corp_id, started_by, kind)).await?.map_err(refused)?;
    let (app, started) = (app.clone(), run.clone());
    tokio::spawn(async move {
        execute(&app, &started, &client).await;
    });
    Ok(run)
}

/// [`spawn_sync`] of a full sync.
pub async fn spawn_full_sync(app: &App, corp_id: i64, started_by: &str) -> Result<SyncRun, AppError> {
    spawn_sync(app, corp_id, started_by, SyncKind::Full).await
}

/// The periodic reconcile (`sync.reconcile_interval_secs`): an incremental reconcile of each corp
/// with WeCom settings (a full sync for one never synced), unless a run started within most of
/// the interval already did it — so instances sharing a database take turns.
pub async fn reconcile_all(app: &App) -> Result<(), AppError> {
    let every = interval_ms(app.config.sync.reconcile_interval_secs);
    periodic(app, every, false).await
}

/// The periodic full sync (`sync.full_sync_interval_secs`), which also reads what incremental
/// reconciles leave out (known groups' members).
pub async fn full_sync_all(app: &App) -> Result<(), AppError> {
    let every = interval_ms(app.config.sync.full_sync_interval_secs);
    periodic(app, every, true).await
}

fn interval_ms(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}

async fn periodic(app: &App, every_ms: i64, full: bool) -> Result<(), AppError> {
    for corp in pond_store::corp::list(&app.db).await?.into_iter().filter(|c| c.wecom_corp_id.is_some()) {
        let synced = pond_store::sync_run::has_full_sync(&app.db, corp.id).await?;
        let kind = if full || !synced { SyncKind::Full } else { SyncKind::Incremental };
        let req = Request {
            corp_id: corp.id,
            started_by: "reconcile",
            kind,
            reason: SyncReason::Periodic,
            gap_ms: None,
            // A run in the last 90% of the interval covers this one.
            covered_since: Some(app.clock.now_ms() - every_ms / 10 * 9),
            not_within_ms: 0,
        };
        match run_now(app, &req).await {
            Ok(_) => {}
            Err(AppError::Conflict(reason)) => tracing::info!(corp_id = corp.id, %reason, "reconcile skipped"),
            Err(e) => {
                tracing::warn!(corp_id = corp.id, error = %e, cause = e.cause(), "periodic reconcile could not run")
            }
        }
    }
    Ok(())
}

fn refused(decision: Decision) -> AppError {
    AppError::Conflict(match decision {
        Decision::Covered => "a recent sync of this corp already covers it".into(),
        Decision::TooSoon { .. } => "a sync of this corp ran moments ago".into(),
        Decision::Running | Decision::Start => "a sync of this corp is already running".into(),
    })
}
