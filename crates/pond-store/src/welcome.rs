//! Welcome messages (the library), each employee's chosen message, and the outcome of every
//! welcome sent (or skipped) per customer.

use crate::{
    Conn, Db, Result, StoreError, Tx,
    db::{Params, rows_per_statement, select_in},
    now_ms, on_conn, read_db,
};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct WelcomeMessage {
    pub id: i64,
    pub corp_id: i64,
    pub name: String,
    /// Text with `{customer_name}` / `{staff_name}` variables.
    pub text: String,
    /// JSON array of WeCom attachments (`{"msgtype": "image", "image": {...}}` …).
    pub attachments: String,
    pub is_default: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, corp_id, name, text, attachments, is_default, created_at, updated_at";

/// Adds a message; `is_default` makes it the corp default (and the previous default ordinary).
pub async fn create(
    db: &Db,
    corp_id: i64,
    name: &str,
    text: &str,
    attachments: &str,
    is_default: bool,
) -> Result<WelcomeMessage> {
    let mut tx = db.begin().await?;
    let msg = create_in(&mut tx, corp_id, name, text, attachments, is_default).await?;
    tx.commit().await?;
    Ok(msg)
}

/// [`create`] inside the caller's transaction (so its audit entry commits with it).
pub async fn create_in(
    tx: &mut Tx,
    corp_id: i64,
    name: &str,
    text: &str,
    attachments: &str,
    is_default: bool,
) -> Result<WelcomeMessage> {
    let now = now_ms();
    if is_default {
        on_conn!(Conn::Tx(&mut *tx), |c| sqlx::query(
            "UPDATE welcome_messages SET is_default = FALSE WHERE corp_id = $1"
        )
        .bind(corp_id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    }
    let sql = format!(
        "INSERT INTO welcome_messages (corp_id, name, text, attachments, is_default, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING {COLUMNS}"
    );
    Ok(on_conn!(Conn::Tx(&mut *tx), |c| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(corp_id)
        .bind(name)
        .bind(text)
        .bind(attachments)
        .bind(is_default)
        .bind(now)
        .fetch_one(c)
        .await)?)
}

/// Changes a message (and makes it the only default when `is_default`), inside the caller's
/// transaction.
pub async fn update_in(
    tx: &mut Tx,
    corp_id: i64,
    id: i64,
    name: &str,
    text: &str,
    attachments: &str,
    is_default: bool,
) -> Result<WelcomeMessage> {
    if is_default {
        on_conn!(Conn::Tx(&mut *tx), |c| sqlx::query(
            "UPDATE welcome_messages SET is_default = FALSE WHERE corp_id = $1 AND id <> $2"
        )
        .bind(corp_id)
        .bind(id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    }
    let sql = format!(
        "UPDATE welcome_messages SET name = $3, text = $4, attachments = $5, is_default = $6, updated_at = $7
         WHERE corp_id = $1 AND id = $2 AND deleted_at IS NULL RETURNING {COLUMNS}"
    );
    let row: Option<WelcomeMessage> = on_conn!(Conn::Tx(&mut *tx), |c| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(corp_id)
        .bind(id)
        .bind(name)
        .bind(text)
        .bind(attachments)
        .bind(is_default)
        .bind(now_ms())
        .fetch_optional(c)
        .await)?;
    row.ok_or_else(|| crate::StoreError::NotFound(format!("welcome message {id}")))
}

/// Per message: (welcome_id, sent, skipped, failed).
pub async fn counts_by_message(db: &Db, corp_id: i64) -> Result<Vec<(i64, i64, i64, i64)>> {
    Ok(read_db!(db, |pool| sqlx::query_as(
        "SELECT welcome_id,
                SUM(CASE WHEN status = 'sent' THEN 1 ELSE 0 END),
                SUM(CASE WHEN status = 'skipped' THEN 1 ELSE 0 END),
                SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END)
         FROM welcome_results WHERE corp_id = $1 AND welcome_id IS NOT NULL GROUP BY welcome_id"
    )
    .bind(corp_id)
    .fetch_all(pool)
    .await)?)
}

/// Every employee's own message: (userid, welcome_id).
pub async fn staff_assignments(db: &Db, corp_id: i64) -> Result<Vec<(String, i64)>> {
    Ok(read_db!(db, |pool| sqlx::query_as(
        "SELECT s.userid, s.welcome_id FROM staff_welcome s JOIN welcome_messages w ON w.id = s.welcome_id
         WHERE s.corp_id = $1 AND w.deleted_at IS NULL ORDER BY s.userid"
    )
    .bind(corp_id)
    .fetch_all(pool)
    .await)?)
}

pub async fn get(db: &Db, corp_id: i64, id: i64) -> Result<WelcomeMessage> {
    let sql = format!("SELECT {COLUMNS} FROM welcome_messages WHERE corp_id = $1 AND id = $2 AND deleted_at IS NULL");
    let row: Option<WelcomeMessage> = read_db!(db, |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(corp_id)
        .bind(id)
        .fetch_optional(pool)
        .await)?;
    row.ok_or_else(|| StoreError::NotFound(format!("welcome message {id}")))
}

pub async fn list(db: &Db, corp_id: i64) -> Result<Vec<WelcomeMessage>> {
    let sql = format!("SELECT {COLUMNS} FROM welcome_messages WHERE corp_id = $1 AND deleted_at IS NULL ORDER BY id");
    Ok(read_db!(db, |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(corp_id).fetch_all(pool).await)?)
}

pub async fn corp_default(db: &Db, corp_id: i64) -> Result<Option<i64>> {
    Ok(read_db!(db, |pool| sqlx::query_scalar(
        "SELECT id FROM welcome_messages WHERE corp_id = $1 AND is_default AND deleted_at IS NULL ORDER BY id LIMIT 1"
    )
    .bind(corp_id)
    .fetch_optional(pool)
    .await)?)
}

/// Soft-deletes a message.
pub async fn delete<'c>(conn: impl Into<Conn<'c>>, corp_id: i64, id: i64) -> Result<()> {
    let n = on_conn!(conn.into(), |pool| {
        sqlx::query(
        "UPDATE welcome_messages SET deleted_at = $3, is_default = FALSE WHERE corp_id = $1 AND id = $2 AND deleted_at IS NULL"
    )
    .bind(corp_id)
    .bind(id)
    .bind(now_ms())
    .execute(pool)
    .await
    .map(|r| r.rows_affected())
    })?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("welcome message {id}")));
    }
    Ok(())
}

/// Sets (or with `None` clears) the message an employee greets with.
pub async fn set_for_staff<'c>(
    conn: impl Into<Conn<'c>>,
    corp_id: i64,
    userid: &str,
    welcome_id: Option<i64>,
) -> Result<()> {
    match welcome_id {
        Some(id) => on_conn!(conn.into(), |pool| sqlx::query(
            "INSERT INTO staff_welcome (corp_id, userid, welcome_id) VALUES ($1, $2, $3)
             ON CONFLICT (corp_id, userid) DO UPDATE SET welcome_id = excluded.welcome_id"
        )
        .bind(corp_id)
        .bind(userid)
        .bind(id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?,
        None => {
            on_conn!(conn.into(), |pool| sqlx::query("DELETE FROM staff_welcome WHERE corp_id = $1 AND userid = $2")
                .bind(corp_id)
                .bind(userid)
                .execute(pool)
                .await
                .map(|r| r.rows_affected()))?
        }
    };
    Ok(())
}

pub async fn for_staff(db: &Db, corp_id: i64, userid: &str) -> Result<Option<i64>> {
    Ok(read_db!(db, |pool| sqlx::query_scalar(
        "SELECT s.welcome_id FROM staff_welcome s JOIN welcome_messages w ON w.id = s.welcome_id
         WHERE s.corp_id = $1 AND s.userid = $2 AND w.deleted_at IS NULL"
    )
    .bind(corp_id)
    .bind(userid)
    .fetch_optional(pool)
    .await)?)
}

/// [`for_staff`] for several employees at once: `(userid, welcome_id)` of those who have one.
pub async fn for_staff_many(db: &Db, corp_id: i64, userids: &[&str]) -> Result<Vec<(String, i64)>> {
    select_in(db, corp_id, userids, |corp, list| {
        format!(
            "SELECT s.userid, s.welcome_id FROM staff_welcome s JOIN welcome_messages w ON w.id = s.welcome_id
             WHERE s.corp_id = {corp} AND w.deleted_at IS NULL AND s.userid IN ({list})"
        )
    })
    .await
}

/// Which of these welcome codes already have an outcome (so a re-applied event sends nothing).
pub async fn recorded_codes(db: &Db, corp_id: i64, codes: &[&str]) -> Result<Vec<String>> {
    let rows: Vec<(String,)> = select_in(db, corp_id, codes, |corp, list| {
        format!("SELECT welcome_code FROM welcome_results WHERE corp_id = {corp} AND welcome_code IN ({list})")
    })
    .await?;
    Ok(rows.into_iter().map(|(code,)| code).collect())
}

/// What happened to one welcome code.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct WelcomeResult {
    pub external_userid: String,
    pub userid: String,
    pub welcome_code: String,
    pub welcome_id: Option<i64>,
    /// `sent`, `skipped` (code used or expired, or no message configured) or `failed`.
    pub status: String,
    pub reason: String,
    pub event_at: i64,
    /// When Pond received the add event (epoch ms), for latency figures.
    pub received_at: i64,
    pub finished_at: i64,
}

/// Records the outcome for a welcome code (the first outcome wins; later ones are ignored).
pub async fn record_result<'c>(conn: impl Into<Conn<'c>>, corp_id: i64, r: &WelcomeResult) -> Result<bool> {
    Ok(record_results(conn, corp_id, std::slice::from_ref(r)).await? > 0)
}

/// Records several outcomes in as few statements as the database allows, each as [`record_result`] would. Returns
/// how many were new.
pub async fn record_results<'c>(conn: impl Into<Conn<'c>>, corp_id: i64, results: &[WelcomeResult]) -> Result<u64> {
    let mut conn = conn.into();
    let mut recorded = 0;
    for chunk in results.chunks(rows_per_statement(conn.backend())) {
        let sql = format!(
            "INSERT INTO welcome_results (corp_id, external_userid, userid, welcome_code, welcome_id, status, reason,
                                          event_at, received_at, finished_at)
             VALUES {} ON CONFLICT (corp_id, welcome_code) DO NOTHING",
            Params::new(conn.backend()).rows(chunk.len(), 10)
        );
        recorded += on_conn!(conn.reborrow(), |c| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for r in chunk {
                q = q
                    .bind(corp_id)
                    .bind(&r.external_userid)
                    .bind(&r.userid)
                    .bind(&r.welcome_code)
                    .bind(r.welcome_id)
                    .bind(&r.status)
                    .bind(&r.reason)
                    .bind(r.event_at)
                    .bind(r.received_at)
                    .bind(r.finished_at);
            }
            q.execute(c).await.map(|r| r.rows_affected())
        })?;
    }
    Ok(recorded)
}

pub async fn results_for_customer(db: &Db, corp_id: i64, external_userid: &str) -> Result<Vec<WelcomeResult>> {
    Ok(read_db!(db, |pool| sqlx::query_as(
        "SELECT external_userid, userid, welcome_code, welcome_id, status, reason, event_at, received_at, finished_at
         FROM welcome_results WHERE corp_id = $1 AND external_userid = $2 ORDER BY id"
    )
    .bind(corp_id)
    .bind(external_userid)
    .fetch_all(pool)
    .await)?)
}

/// (status, count) of a corp's welcome outcomes.
pub async fn result_counts(db: &Db, corp_id: i64) -> Result<Vec<(String, i64)>> {
    Ok(read_db!(db, |pool| sqlx::query_as(
        "SELECT status, COUNT(*) FROM welcome_results WHERE corp_id = $1 GROUP BY status ORDER BY status"
    )
    .bind(corp_id)
    .fetch_all(pool)
    .await)?)
}

/// When one welcome outcome's event was received and the outcome reached, for latency figures.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Timing {
    pub welcome_code: String,
    pub status: String,
    pub reason: String,
    /// When Pond received the add event (epoch ms; 0 for outcomes recorded before this was kept).
    pub received_at: i64,
    pub finished_at: i64,
}

/// Every welcome outcome of a corp with its times, for latency figures.
pub async fn timings(db: &Db, corp_id: i64) -> Result<Vec<Timing>> {
    Ok(read_db!(db, |pool| sqlx::query_as(
        "SELECT welcome_code, status, reason, received_at, finished_at FROM welcome_results WHERE corp_id = $1"
    )
    .bind(corp_id)
    .fetch_all(pool)
    .await)?)
}
