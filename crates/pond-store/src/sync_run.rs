//! Sync runs: one row per full sync of a corp, with its phase and progress, so the console can
//! show a progress bar and several instances do not sync the same corp at once.

use pond_core::SyncStatus;

use crate::{Db, Result, StoreError, now_ms, read_db, write_db};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct SyncRun {
    pub id: i64,
    pub corp_id: i64,
    pub started_by: String,
    /// `running`, `done` or `failed`.
    pub status: String,
    pub phase: String,
    pub done_items: i64,
    pub total_items: i64,
    pub summary: String,
    pub error: Option<String>,
    pub started_at: i64,
    pub finished_at: Option<i64>,
}

const COLUMNS: &str =
    "id, corp_id, started_by, status, phase, done_items, total_items, summary, error, started_at, finished_at";

/// Starts a run unless one for the corp is running and was active within `stale_ms`.
/// Returns `None` when another run is in progress.
pub async fn start(db: &Db, corp_id: i64, started_by: &str, stale_ms: i64) -> Result<Option<SyncRun>> {
    let now = now_ms();
    let sql = format!(
        "INSERT INTO sync_runs (corp_id, started_by, started_at)
         SELECT $1, $2, $3 WHERE NOT EXISTS (
            SELECT 1 FROM sync_runs WHERE corp_id = $1 AND status = 'running' AND started_at > $4)
         RETURNING {COLUMNS}"
    );
    Ok(write_db!(db, |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(corp_id)
        .bind(started_by)
        .bind(now)
        .bind(now - stale_ms)
        .fetch_optional(pool)
        .await)?)
}

pub async fn progress(db: &Db, id: i64, phase: &str, done: i64, total: i64) -> Result<()> {
    write_db!(db, |pool| sqlx::query(
        "UPDATE sync_runs SET phase = $2, done_items = $3, total_items = $4 WHERE id = $1"
    )
    .bind(id)
    .bind(phase)
    .bind(done)
    .bind(total)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Ends a run: `error` `None` = done with `summary`, else failed.
pub async fn finish(db: &Db, id: i64, summary: &str, error: Option<&str>) -> Result<()> {
    let status = if error.is_some() { SyncStatus::Failed } else { SyncStatus::Done }.as_str();
    write_db!(db, |pool| sqlx::query(
        "UPDATE sync_runs SET status = $2, summary = $3, error = $4, finished_at = $5, phase = 'finished' WHERE id = $1"
    )
    .bind(id)
    .bind(status)
    .bind(summary)
    .bind(error)
    .bind(now_ms())
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn latest(db: &Db, corp_id: i64) -> Result<Option<SyncRun>> {
    let sql = format!("SELECT {COLUMNS} FROM sync_runs WHERE corp_id = $1 ORDER BY id DESC LIMIT 1");
    Ok(read_db!(db, |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(corp_id).fetch_optional(pool).await)?)
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
