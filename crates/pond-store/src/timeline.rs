//! The customer timeline: what happened to a customer, newest first (added, deleted, edited,
//! joined a group…). Written once per inbox event, so a re-applied event adds nothing.

use crate::{
    Conn, Db, Result,
    db::{Params, rows_per_statement},
    on_conn, read_db,
};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct TimelineEntry {
    pub id: i64,
    pub external_userid: String,
    pub userid: String,
    /// e.g. `added`, `deleted_by_customer`, `deleted_by_staff`, `edited`, `joined_group`, `left_group`.
    pub kind: String,
    pub detail: String,
    pub occurred_at: i64,
}

/// An entry to record.
#[derive(Debug, Clone)]
pub struct NewEntry<'a> {
    pub corp_id: i64,
    pub external_userid: &'a str,
    pub userid: &'a str,
    pub kind: &'a str,
    pub detail: &'a str,
    pub occurred_at: i64,
    /// The inbox event that caused it; `None` for entries from a full sync.
    pub inbox_id: Option<i64>,
}

/// Records an entry; with an `inbox_id`, at most once per (event, customer, employee, kind).
pub async fn record<'c>(conn: impl Into<Conn<'c>>, e: &NewEntry<'_>) -> Result<()> {
    record_many(conn, std::slice::from_ref(e)).await
}

/// Records several entries in one statement, each as [`record`] would.
pub async fn record_many<'c>(conn: impl Into<Conn<'c>>, entries: &[NewEntry<'_>]) -> Result<()> {
    let mut conn = conn.into();
    for chunk in entries.chunks(rows_per_statement(conn.backend())) {
        let sql = format!(
            "INSERT INTO customer_events (corp_id, external_userid, userid, kind, detail, occurred_at, inbox_id)
             VALUES {} ON CONFLICT DO NOTHING",
            Params::new(conn.backend()).rows(chunk.len(), 7)
        );
        on_conn!(conn.reborrow(), |c| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for e in chunk {
                q = q
                    .bind(e.corp_id)
                    .bind(e.external_userid)
                    .bind(e.userid)
                    .bind(e.kind)
                    .bind(e.detail)
                    .bind(e.occurred_at)
                    .bind(e.inbox_id);
            }
            q.execute(c).await.map(|r| r.rows_affected())
        })?;
    }
    Ok(())
}

/// A customer's timeline, newest first, at most `limit` entries.
pub async fn of_customer(db: &Db, corp_id: i64, external_userid: &str, limit: i64) -> Result<Vec<TimelineEntry>> {
    Ok(read_db!(db, |pool| sqlx::query_as(
        "SELECT id, external_userid, userid, kind, detail, occurred_at FROM customer_events
         WHERE corp_id = $1 AND external_userid = $2 ORDER BY occurred_at DESC, id DESC LIMIT $3"
    )
    .bind(corp_id)
    .bind(external_userid)
    .bind(limit)
    .fetch_all(pool)
    .await)?)
}
