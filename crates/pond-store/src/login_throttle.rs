//! Failed console logins, counted per key (`account:<e-mail>`, `address:<ip>`) in a window, with
//! the time until which the key is locked. Kept in the database so that every instance sharing it
//! sees the same count. The policy (how many, how long) is `pond_app::auth`'s.

use crate::{Conn, Db, Result, on_conn, read_db};

#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct Throttle {
    /// Failures since `window_start`.
    pub failures: i64,
    pub window_start: i64,
    /// No login for this key before this time (epoch ms; 0 = not locked).
    pub locked_until: i64,
    /// Lockouts in this window (each lets one more try be checked once it ends).
    pub lockouts: i64,
}

/// The key's state, if it has failed before.
pub async fn get(db: &Db, key: &str) -> Result<Option<Throttle>> {
    Ok(read_db!(db, |pool| sqlx::query_as(
        "SELECT failures, window_start, locked_until, lockouts FROM login_throttle WHERE throttle_key = $1"
    )
    .bind(key)
    .fetch_optional(pool)
    .await)?)
}

/// Counts one failure at `now` (a window older than `window_from` starts again at 1) and returns
/// the new state. One statement, so concurrent failures all count.
pub async fn record_failure<'c>(conn: impl Into<Conn<'c>>, key: &str, now: i64, window_from: i64) -> Result<Throttle> {
    Ok(on_conn!(conn.into(), |pool| sqlx::query_as(
        "INSERT INTO login_throttle (throttle_key, failures, window_start, locked_until) VALUES ($1, 1, $2, 0)
         ON CONFLICT (throttle_key) DO UPDATE SET
           failures = CASE WHEN login_throttle.window_start < $3 THEN 1 ELSE login_throttle.failures + 1 END,
           window_start = CASE WHEN login_throttle.window_start < $3 THEN $2 ELSE login_throttle.window_start END,
           lockouts = CASE WHEN login_throttle.window_start < $3 THEN 0 ELSE login_throttle.lockouts END
         RETURNING failures, window_start, locked_until, lockouts"
    )
    .bind(key)
    .bind(now)
    .bind(window_from)
    .fetch_one(pool)
    .await)?)
}

/// Counts one try refused while the key is locked; returns how many this lockout has refused (the
/// first is audited, the rest only logged).
pub async fn note_refusal<'c>(conn: impl Into<Conn<'c>>, key: &str) -> Result<i64> {
    Ok(on_conn!(conn.into(), |pool| sqlx::query_scalar(
        "UPDATE login_throttle SET refused = refused + 1 WHERE throttle_key = $1 RETURNING refused"
    )
    .bind(key)
    .fetch_optional(pool)
    .await)?
    .unwrap_or(1))
}

/// Takes back one counted try (it was right, or never checked).
pub async fn forgive<'c>(conn: impl Into<Conn<'c>>, key: &str) -> Result<()> {
    on_conn!(conn.into(), |pool| sqlx::query(
        "UPDATE login_throttle SET failures = failures - 1 WHERE throttle_key = $1 AND failures > 0"
    )
    .bind(key)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Forgets keys whose window and lockout both ended before `before`; returns how many.
pub async fn purge<'c>(conn: impl Into<Conn<'c>>, before: i64) -> Result<u64> {
    Ok(on_conn!(conn.into(), |pool| sqlx::query(
        "DELETE FROM login_throttle WHERE window_start < $1 AND locked_until < $1"
    )
    .bind(before)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?)
}

/// Locks the key until `until`, or keeps a longer lock (its refusal count starts again; one more
/// lockout this window).
pub async fn lock<'c>(conn: impl Into<Conn<'c>>, key: &str, until: i64) -> Result<()> {
    on_conn!(conn.into(), |pool| sqlx::query(
        "UPDATE login_throttle SET refused = 0, lockouts = lockouts + 1,
           locked_until = CASE WHEN locked_until > $2 THEN locked_until ELSE $2 END
         WHERE throttle_key = $1"
    )
    .bind(key)
    .bind(until)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Forgets the key's failures and lockout (after a successful login, or an admin's password reset).
pub async fn clear<'c>(conn: impl Into<Conn<'c>>, key: &str) -> Result<()> {
    on_conn!(conn.into(), |pool| sqlx::query("DELETE FROM login_throttle WHERE throttle_key = $1")
        .bind(key)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}
