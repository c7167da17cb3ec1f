//! Timed tasks: every feature's ([`crate::feature::Feature::periodic_tasks`]), sync's reconciles,
//! and the database's upkeep (SQLite's WAL checkpoint, PostgreSQL's first statistics). One loop
//! runs them all the same way; a failed run is logged with the task's name and cause.

use std::{future::Future, time::Duration};

use crate::{App, AppError, feature::PeriodicTask};

/// Tables with at least this many pages (of 8 KB) and no statistics get them at once.
const ANALYZE_FROM_PAGES: i64 = 16;

/// Runs `task` every `task.every` (the first time one interval after the start) until
/// `shutdown` resolves.
pub async fn run(task: PeriodicTask, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tokio::time::sleep(task.every) => {}
        }
        if let Err(e) = (task.run)().await {
            tracing::warn!(task = task.name, error = %e, cause = e.cause(), "periodic task failed");
        }
    }
}

/// The tasks this instance runs besides the features': the database's upkeep and, when
/// configured, the reconcile with WeCom.
pub fn core_tasks(app: &App) -> Vec<PeriodicTask> {
    let mut tasks = Vec::new();
    let db = app.db.clone();
    // Expired console sessions and login-throttle keys whose window and lockout are over.
    let (purge_db, clock, window) = (app.db.clone(), app.clock.clone(), app.config.security.login_window_secs);
    tasks.push(PeriodicTask::new("logins.purge", Duration::from_secs(600), move || {
        let (db, clock) = (purge_db.clone(), clock.clone());
        async move {
            pond_store::session::purge_expired(&db).await?;
            let before = clock.now_ms() - i64::try_from(window.saturating_mul(1000)).unwrap_or(i64::MAX);
            pond_store::login_throttle::purge(&db, before).await?;
            Ok(())
        }
    }));
    match app.db.backend() {
        // Checkpoints SQLite's write-ahead log off the writer (see `Db::checkpoint_wal`).
        pond_store::Backend::Sqlite => {
            tasks.push(PeriodicTask::new("sqlite.checkpoint", Duration::from_millis(200), move || {
                let db = db.clone();
                async move {
                    // A failed checkpoint is not lost work: commits checkpoint by themselves.
                    db.checkpoint_wal().await.map(|_| ()).map_err(AppError::from)
                }
            }))
        }
        // Gives new tables their first statistics as soon as they hold rows (see
        // `Db::analyze_new_tables`); autovacuum keeps them after that.
        pond_store::Backend::Postgres => {
            tasks.push(PeriodicTask::new("postgres.first_statistics", Duration::from_secs(2), move || {
                let db = db.clone();
                async move {
                    let tables = db.analyze_new_tables(ANALYZE_FROM_PAGES).await?;
                    if !tables.is_empty() {
                        tracing::info!(?tables, "gathered first statistics");
                    }
                    Ok(())
                }
            }))
        }
    }
    let every = app.config.sync.reconcile_interval_secs;
    if every > 0 {
        let app = app.clone();
        tasks.push(PeriodicTask::new("sync.reconcile", Duration::from_secs(every), move || {
            let app = app.clone();
            async move { crate::sync::reconcile_all(&app).await }
        }));
    }
    let every = app.config.sync.full_sync_interval_secs;
    if every > 0 {
        let app = app.clone();
        tasks.push(PeriodicTask::new("sync.full", Duration::from_secs(every), move || {
            let app = app.clone();
            async move { crate::sync::runs::full_sync_all(&app).await }
        }));
    }
    tasks
}
