//! The event inbox: every accepted WeCom callback, stored once under its dedupe key before it is
//! acknowledged, so WeCom's retries are absorbed and a crash cannot lose an acknowledged event.

use pond_core::{Page, PageRequest};

use crate::{Db, Result, db::Listing, now_ms, write_db};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct InboxEvent {
    pub id: i64,
    pub corp_id: i64,
    pub dedupe_key: String,
    pub event_type: String,
    pub payload: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub received_at: i64,
    pub processed_at: Option<i64>,
}

/// Whether an insert stored a new event or met one already stored under the same key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    New(i64),
    Duplicate,
}

const COLUMNS: &str = "id, corp_id, dedupe_key, event_type, payload, status, attempts, last_error, received_at, processed_at";

/// Stores an event unless one with the same `(corp_id, dedupe_key)` exists.
pub async fn insert(
    db: &Db,
    corp_id: i64,
    dedupe_key: &str,
    event_type: &str,
    payload: &str,
) -> Result<Inserted> {
    let id: Option<i64> = write_db!(db, |pool| sqlx::query_scalar(
        "INSERT INTO inbox_events (corp_id, dedupe_key, event_type, payload, received_at)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (corp_id, dedupe_key) DO NOTHING RETURNING id"
    )
    .bind(corp_id)
    .bind(dedupe_key)
    .bind(event_type)
    .bind(payload)
    .bind(now_ms())
    .fetch_optional(pool)
    .await)?;
    Ok(id.map_or(Inserted::Duplicate, Inserted::New))
}

/// Takes up to `limit` pending events in arrival order, marking them `processing`.
/// Claimed through the single writer on SQLite and with `SKIP LOCKED` on PostgreSQL.
pub async fn claim(db: &Db, limit: i64) -> Result<Vec<InboxEvent>> {
    let lock = match db {
        Db::Postgres(_) => "FOR UPDATE SKIP LOCKED", // PostgreSQL only
        Db::Sqlite { .. } => "",
    };
    let sql = format!(
        "UPDATE inbox_events SET status = 'processing', attempts = attempts + 1
         WHERE id IN (SELECT id FROM inbox_events WHERE status = 'pending' ORDER BY id LIMIT $1 {lock})
         RETURNING {COLUMNS}"
    );
    let mut rows: Vec<InboxEvent> = write_db!(db, |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(limit)
        .fetch_all(pool)
        .await)?;
    rows.sort_by_key(|e| e.id);
    Ok(rows)
}

/// Records the outcome of applying an event: done, or back to pending / failed with the error.
pub async fn finish(db: &Db, id: i64, error: Option<&str>, give_up: bool) -> Result<()> {
    let status = match (error, give_up) {
        (None, _) => "done",
        (Some(_), false) => "pending",
        (Some(_), true) => "failed",
    };
    write_db!(db, |pool| sqlx::query(
        "UPDATE inbox_events SET status = $2, last_error = $3, processed_at = $4 WHERE id = $1"
    )
    .bind(id)
    .bind(status)
    .bind(error)
    .bind(now_ms())
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Lists a corp's events, newest first; `search` matches the event type.
pub async fn list(
    db: &Db,
    corp_id: i64,
    search: Option<&str>,
    req: PageRequest,
) -> Result<Page<InboxEvent>> {
    Listing {
        columns: COLUMNS,
        from: "inbox_events",
        filter: "corp_id = $1 AND LOWER(event_type) LIKE $2 ESCAPE '\\'",
        order_by: "id DESC",
    }
    .fetch(db, corp_id, search, req)
    .await
}
