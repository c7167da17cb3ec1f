//! Console sessions. The cookie holds a random token; only its hash is stored, next to the
//! session's CSRF token, so a database leak yields no usable session.

use crate::{Conn, Db, Result, now_ms, on_conn, read_db, write_db};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Session {
    pub id_hash: String,
    pub corp_id: i64,
    pub user_id: i64,
    pub csrf_token: String,
    pub created_at: i64,
    pub expires_at: i64,
}

pub async fn create<'c>(
    conn: impl Into<Conn<'c>>,
    id_hash: &str,
    corp_id: i64,
    user_id: i64,
    csrf_token: &str,
    ttl_ms: i64,
) -> Result<()> {
    let now = now_ms();
    on_conn!(conn.into(), |pool| {
        sqlx::query(
        "INSERT INTO sessions (id_hash, corp_id, user_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)"
    )
    .bind(id_hash)
    .bind(corp_id)
    .bind(user_id)
    .bind(csrf_token)
    .bind(now)
    .bind(now + ttl_ms)
    .execute(pool)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// The live (unexpired) session with this hash.
pub async fn get_live(db: &Db, id_hash: &str) -> Result<Option<Session>> {
    Ok(read_db!(db, |pool| {
        sqlx::query_as(
        "SELECT id_hash, corp_id, user_id, csrf_token, created_at, expires_at FROM sessions WHERE id_hash = $1 AND expires_at > $2"
    )
    .bind(id_hash)
    .bind(now_ms())
    .fetch_optional(pool)
    .await
    })?)
}

pub async fn delete<'c>(conn: impl Into<Conn<'c>>, id_hash: &str) -> Result<()> {
    on_conn!(conn.into(), |pool| sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
        .bind(id_hash)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Deletes expired sessions; returns how many.
pub async fn purge_expired(db: &Db) -> Result<u64> {
    Ok(write_db!(db, |pool| sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
        .bind(now_ms())
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?)
}

/// Ends every session of a user (password change, disable, "sign out everywhere"); returns how many.
pub async fn delete_for_user<'c>(conn: impl Into<Conn<'c>>, user_id: i64) -> Result<u64> {
    Ok(on_conn!(conn.into(), |pool| sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?)
}

/// How many live sessions a user has.
pub async fn count_live_for_user(db: &Db, user_id: i64) -> Result<i64> {
    Ok(read_db!(db, |pool| sqlx::query_scalar("SELECT COUNT(*) FROM sessions WHERE user_id = $1 AND expires_at > $2")
        .bind(user_id)
        .bind(now_ms())
        .fetch_one(pool)
        .await)?)
}
