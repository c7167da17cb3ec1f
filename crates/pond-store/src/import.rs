//! Background imports: one row per uploaded CSV that passed its checks — what it makes, how far
//! it got (lines done of the total), and how it ended (the line report and the reason when it
//! failed). The rows an import makes carry its id until it commits (see
//! [`crate::channel_code::reveal_import`]). Status changes are guarded by the status they come
//! from, so a step run twice (a job re-run after its lease) changes nothing the second time.

use pond_core::{ImportStatus, Page, PageRequest};

use crate::{Conn, Db, Result, StoreError, now_ms, on_conn, read_db};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct Import {
    pub id: i64,
    pub corp_id: i64,
    /// `pond_core::ImportKind`.
    pub kind: String,
    /// `pond_core::ImportStatus`.
    pub status: String,
    /// Lines in the file (the header aside).
    pub total: i64,
    /// Lines whose part is made (or, while undoing, still to undo).
    pub done: i64,
    /// JSON array of `pond_app::LineError`: the lines refused when it failed.
    pub report: String,
    /// Why it failed, when not because of one line.
    pub error: String,
    pub error_zh: String,
    /// Who uploaded it (an actor as recorded in the audit log).
    pub actor: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
}

impl Import {
    pub fn status(&self) -> ImportStatus {
        self.status.parse().unwrap_or(ImportStatus::Failed)
    }
}

const COLUMNS: &str =
    "id, corp_id, kind, status, total, done, report, error, error_zh, actor, created_at, updated_at, finished_at";

/// An import to store, queued.
#[derive(Debug, Clone)]
pub struct NewImport<'a> {
    pub corp_id: i64,
    pub kind: &'a str,
    pub total: i64,
    /// What its steps need besides the rows it made (kind-specific; never shown).
    pub payload: &'a str,
    pub actor: &'a str,
}

pub async fn create<'c>(conn: impl Into<Conn<'c>>, new: &NewImport<'_>) -> Result<Import> {
    let sql = format!(
        "INSERT INTO imports (corp_id, kind, status, total, payload, actor, created_at, updated_at)
         VALUES ($1, $2, 'queued', $3, $4, $5, $6, $6) RETURNING {COLUMNS}"
    );
    Ok(on_conn!(conn.into(), |c| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(new.corp_id)
        .bind(new.kind)
        .bind(new.total)
        .bind(new.payload)
        .bind(new.actor)
        .bind(now_ms())
        .fetch_one(c)
        .await)?)
}

pub async fn get(db: &Db, corp_id: i64, id: i64) -> Result<Import> {
    let sql = format!("SELECT {COLUMNS} FROM imports WHERE corp_id = $1 AND id = $2");
    let row: Option<Import> = read_db!(db, |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(corp_id)
        .bind(id)
        .fetch_optional(pool)
        .await)?;
    row.ok_or_else(|| StoreError::NotFound(format!("import {id}")))
}

/// What the import's steps need besides its rows.
pub async fn payload(db: &Db, corp_id: i64, id: i64) -> Result<String> {
    let row: Option<String> =
        read_db!(db, |pool| sqlx::query_scalar("SELECT payload FROM imports WHERE corp_id = $1 AND id = $2")
            .bind(corp_id)
            .bind(id)
            .fetch_optional(pool)
            .await)?;
    row.ok_or_else(|| StoreError::NotFound(format!("import {id}")))
}

/// A corp's imports, newest first.
pub async fn list(db: &Db, corp_id: i64, req: PageRequest) -> Result<Page<Import>> {
    let total: i64 = read_db!(db, |pool| sqlx::query_scalar("SELECT COUNT(*) FROM imports WHERE corp_id = $1")
        .bind(corp_id)
        .fetch_one(pool)
        .await)?;
    let sql = format!("SELECT {COLUMNS} FROM imports WHERE corp_id = $1 ORDER BY id DESC LIMIT $2 OFFSET $3");
    let items: Vec<Import> = read_db!(db, |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(corp_id)
        .bind(req.limit())
        .bind(req.offset())
        .fetch_all(pool)
        .await)?;
    Ok(Page::new(items, total, req))
}

/// Moves a queued import to running. Returns whether it was queued.
pub async fn set_running<'c>(conn: impl Into<Conn<'c>>, id: i64) -> Result<bool> {
    let n = on_conn!(conn.into(), |c| sqlx::query(
        "UPDATE imports SET status = 'running', updated_at = $2 WHERE id = $1 AND status = 'queued'"
    )
    .bind(id)
    .bind(now_ms())
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

/// Records how many lines are made (or, while undoing, left to undo).
pub async fn set_progress<'c>(conn: impl Into<Conn<'c>>, id: i64, done: i64) -> Result<()> {
    on_conn!(conn.into(), |c| sqlx::query("UPDATE imports SET done = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(done)
        .bind(now_ms())
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Why an import failed: the refused lines (JSON) and/or a reason in both languages.
#[derive(Debug, Clone, Default)]
pub struct Failure<'a> {
    pub report: &'a str,
    pub error: &'a str,
    pub error_zh: &'a str,
}

/// Decides that a queued or running import fails: it is undone from now on. Returns whether it
/// was still queued or running (a second decision keeps the first reason).
pub async fn begin_undo<'c>(conn: impl Into<Conn<'c>>, id: i64, why: &Failure<'_>) -> Result<bool> {
    let n = on_conn!(conn.into(), |c| sqlx::query(
        "UPDATE imports SET status = 'undoing', report = $2, error = $3, error_zh = $4, updated_at = $5
         WHERE id = $1 AND (status = 'queued' OR status = 'running')"
    )
    .bind(id)
    .bind(why.report)
    .bind(why.error)
    .bind(why.error_zh)
    .bind(now_ms())
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

/// Ends a running import with everything made. Returns whether it was running.
pub async fn finish_done<'c>(conn: impl Into<Conn<'c>>, id: i64) -> Result<bool> {
    let now = now_ms();
    let n = on_conn!(conn.into(), |c| sqlx::query(
        "UPDATE imports SET status = 'done', done = total, updated_at = $2, finished_at = $2
         WHERE id = $1 AND (status = 'queued' OR status = 'running')"
    )
    .bind(id)
    .bind(now)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

/// Ends an undone import as failed (nothing of it left). Returns whether it was being undone.
pub async fn finish_failed<'c>(conn: impl Into<Conn<'c>>, id: i64) -> Result<bool> {
    let now = now_ms();
    let n = on_conn!(conn.into(), |c| sqlx::query(
        "UPDATE imports SET status = 'failed', done = 0, updated_at = $2, finished_at = $2
         WHERE id = $1 AND status = 'undoing'"
    )
    .bind(id)
    .bind(now)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}
