//! Instance heartbeats: when each Pond instance was last alive and whether it stopped, so one
//! starting later knows whether anybody was listening for WeCom's callbacks meanwhile.

use crate::{Db, Result, read_db, write_db};

/// Another instance as recorded.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Heartbeat {
    pub instance: String,
    pub started_at: i64,
    pub seen_at: i64,
    /// Set when it stopped in an orderly way; a crashed one just stops beating.
    pub stopped_at: Option<i64>,
}

/// Records that `instance` (started at `started_at`) is alive at `now`.
pub async fn beat(db: &Db, instance: &str, started_at: i64, now: i64) -> Result<()> {
    write_db!(db, |pool| sqlx::query(
        "INSERT INTO instance_heartbeats (instance, started_at, seen_at) VALUES ($1, $2, $3)
         ON CONFLICT (instance) DO UPDATE SET seen_at = excluded.seen_at, stopped_at = NULL"
    )
    .bind(instance)
    .bind(started_at)
    .bind(now)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Records that `instance` stopped at `now`.
pub async fn stopped(db: &Db, instance: &str, now: i64) -> Result<()> {
    write_db!(db, |pool| sqlx::query(
        "UPDATE instance_heartbeats SET seen_at = $2, stopped_at = $2 WHERE instance = $1"
    )
    .bind(instance)
    .bind(now)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Every instance but `except`, most recently seen first.
pub async fn others(db: &Db, except: &str) -> Result<Vec<Heartbeat>> {
    Ok(read_db!(db, |pool| sqlx::query_as(
        "SELECT instance, started_at, seen_at, stopped_at FROM instance_heartbeats
         WHERE instance <> $1 ORDER BY seen_at DESC, instance"
    )
    .bind(except)
    .fetch_all(pool)
    .await)?)
}

/// Forgets instances not seen since `before` (each start records a new one).
pub async fn forget_before(db: &Db, before: i64) -> Result<u64> {
    Ok(write_db!(db, |pool| sqlx::query("DELETE FROM instance_heartbeats WHERE seen_at < $1")
        .bind(before)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?)
}
