//! Sync runs: one row per sync of a corp (full or incremental), with why it ran, its phase and
//! progress, and what it cost, so the console can show a progress bar and the history, and
//! several instances do not sync the same corp at once.

use pond_core::{
    Page, PageRequest, SyncStatus,
    sync::{Ask, Decision, RunsSeen, SyncKind, SyncReason},
};

use crate::{Conn, Db, Result, StoreError, on_conn, read_db, write_db};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct SyncRun {
    pub id: i64,
    pub corp_id: i64,
    pub started_by: String,
    /// `full` or `incremental` ([`SyncKind`]).
    pub kind: String,
    /// Why it ran ([`SyncReason`]).
    pub reason: String,
    /// For a run after downtime: how long no instance was alive; after a late callback: its lag.
    pub gap_ms: Option<i64>,
    /// `running`, `done` or `failed`.
    pub status: String,
    pub phase: String,
    pub done_items: i64,
    pub total_items: i64,
    pub summary: String,
    pub error: Option<String>,
    /// Calls made to WeCom (retries and token fetches included).
    pub wecom_calls: i64,
    /// Rows the run wrote: a full sync rewrites every row it reads, an incremental one only
    /// those that differ.
    pub rows_written: i64,
    pub duration_ms: Option<i64>,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    /// When the run last showed it was alive (progress or its heartbeat).
    pub touched_at: Option<i64>,
}

const COLUMNS: &str = "id, corp_id, started_by, kind, reason, gap_ms, status, phase, done_items, total_items, summary, \
     error, wecom_calls, rows_written, duration_ms, started_at, finished_at, touched_at";

/// A run about to start.
#[derive(Debug, Clone, Copy)]
pub struct NewRun<'a> {
    pub corp_id: i64,
    pub started_by: &'a str,
    pub kind: SyncKind,
    pub reason: SyncReason,
    pub gap_ms: Option<i64>,
}

/// When a run may start: `ask` (see [`pond_core::sync::decide`]), and when a `running` run counts
/// as abandoned (no sign of life since `abandoned_before`; it is then marked failed).
#[derive(Debug, Clone, Copy)]
pub struct StartRule {
    pub ask: Ask,
    pub abandoned_before: i64,
}

/// Starts a run if `rule` allows it: one at a time per corp, on every instance sharing the
/// database (PostgreSQL: the corp's row is locked while deciding; SQLite: the single writer).
/// Returns the new run, or why none started.
pub async fn start(db: &Db, new: &NewRun<'_>, rule: &StartRule) -> Result<Result<SyncRun, Decision>> {
    let now = rule.ask.now;
    let mut tx = db.begin().await?;
    if tx.backend() == crate::Backend::Postgres {
        // PostgreSQL only: serialises deciding between instances (SQLite's writer already does).
        on_conn!(Conn::Tx(&mut tx), |c| sqlx::query("SELECT id FROM corps WHERE id = $1 FOR NO KEY UPDATE")
            .bind(new.corp_id)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
    }
    on_conn!(Conn::Tx(&mut tx), |c| sqlx::query(
        "UPDATE sync_runs SET status = 'failed', phase = 'finished', finished_at = $3,
            error = 'abandoned: no progress for a while (its instance stopped?)'
         WHERE corp_id = $1 AND status = 'running' AND COALESCE(touched_at, started_at) < $2"
    )
    .bind(new.corp_id)
    .bind(rule.abandoned_before)
    .bind(now)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    let covering = match new.kind {
        SyncKind::Incremental => "",
        SyncKind::Full => " AND kind = 'full'",
    };
    let facts_sql = format!(
        "SELECT
            (SELECT COUNT(*) FROM sync_runs WHERE corp_id = $1 AND status = 'running'),
            (SELECT MAX(started_at) FROM sync_runs WHERE corp_id = $1 AND status IN ('running', 'done'){covering}),
            (SELECT MAX(started_at) FROM sync_runs WHERE corp_id = $1)"
    );
    let (running, last_covering_start, last_start): (i64, Option<i64>, Option<i64>) =
        on_conn!(Conn::Tx(&mut tx), |c| sqlx::query_as(sqlx::AssertSqlSafe(facts_sql))
            .bind(new.corp_id)
            .fetch_one(c)
            .await)?;
    let decision =
        pond_core::sync::decide(&rule.ask, &RunsSeen { running: running > 0, last_covering_start, last_start });
    if decision != Decision::Start {
        tx.commit().await?;
        return Ok(Err(decision));
    }
    let sql = format!(
        "INSERT INTO sync_runs (corp_id, started_by, kind, reason, gap_ms, started_at, touched_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING {COLUMNS}"
    );
    let run: SyncRun = on_conn!(Conn::Tx(&mut tx), |c| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(new.corp_id)
        .bind(new.started_by)
        .bind(new.kind.as_str())
        .bind(new.reason.as_str())
        .bind(new.gap_ms)
        .bind(now)
        .fetch_one(c)
        .await)?;
    tx.commit().await?;
    Ok(Ok(run))
}

/// Records a run's phase and progress (and that it is alive).
pub async fn progress(db: &Db, id: i64, phase: &str, done: i64, total: i64, now: i64) -> Result<()> {
    write_db!(db, |pool| sqlx::query(
        "UPDATE sync_runs SET phase = $2, done_items = $3, total_items = $4, touched_at = $5 WHERE id = $1"
    )
    .bind(id)
    .bind(phase)
    .bind(done)
    .bind(total)
    .bind(now)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Records that a run is alive (between progress reports, e.g. while waiting for WeCom's budget).
pub async fn touch(db: &Db, id: i64, now: i64) -> Result<()> {
    write_db!(db, |pool| sqlx::query("UPDATE sync_runs SET touched_at = $2 WHERE id = $1 AND status = 'running'")
        .bind(id)
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// What a run cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cost {
    pub wecom_calls: i64,
    pub rows_written: i64,
    pub duration_ms: i64,
}

/// Ends a run: `error` `None` = done with `summary`, else failed.
pub async fn finish(db: &Db, id: i64, summary: &str, error: Option<&str>, cost: Cost, now: i64) -> Result<()> {
    let status = if error.is_some() { SyncStatus::Failed } else { SyncStatus::Done }.as_str();
    write_db!(db, |pool| sqlx::query(
        "UPDATE sync_runs SET status = $2, summary = $3, error = $4, finished_at = $5, touched_at = $5,
            phase = 'finished', wecom_calls = $6, rows_written = $7, duration_ms = $8
         WHERE id = $1"
    )
    .bind(id)
    .bind(status)
    .bind(summary)
    .bind(error)
    .bind(now)
    .bind(cost.wecom_calls)
    .bind(cost.rows_written)
    .bind(cost.duration_ms)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn latest(db: &Db, corp_id: i64) -> Result<Option<SyncRun>> {
    let sql = format!("SELECT {COLUMNS} FROM sync_runs WHERE corp_id = $1 ORDER BY id DESC LIMIT 1");
    Ok(read_db!(db, |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(corp_id).fetch_optional(pool).await)?)
}

/// Whether the corp was ever synced in full successfully (an incremental reconcile needs a
/// picture to bring up to date).
pub async fn has_full_sync(db: &Db, corp_id: i64) -> Result<bool> {
    let n: i64 = read_db!(db, |pool| sqlx::query_scalar(
        "SELECT COUNT(*) FROM sync_runs WHERE corp_id = $1 AND kind = 'full' AND status = 'done'"
    )
    .bind(corp_id)
    .fetch_one(pool)
    .await)?;
    Ok(n > 0)
}

/// The corp's runs, newest first.
pub async fn list(db: &Db, corp_id: i64, req: PageRequest) -> Result<Page<SyncRun>> {
    let total: i64 = read_db!(db, |pool| sqlx::query_scalar("SELECT COUNT(*) FROM sync_runs WHERE corp_id = $1")
        .bind(corp_id)
        .fetch_one(pool)
        .await)?;
    let sql = format!("SELECT {COLUMNS} FROM sync_runs WHERE corp_id = $1 ORDER BY id DESC LIMIT $2 OFFSET $3");
    let items: Vec<SyncRun> = read_db!(db, |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
        .bind(corp_id)
        .bind(req.limit())
        .bind(req.offset())
        .fetch_all(pool)
        .await)?;
    Ok(Page::new(items, total, req))
}

pub async fn get(db: &Db, corp_id: i64, id: i64) -> Result<SyncRun> {
    let sql = format!("SELECT {COLUMNS} FROM sync_runs WHERE corp_id = $1 AND id = $2");
    let run: Option<SyncRun> = read_db!(db, |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(corp_id)
        .bind(id)
        .fetch_optional(pool)
        .await)?;
    run.ok_or_else(|| StoreError::NotFound(format!("sync run {id}")))
}
