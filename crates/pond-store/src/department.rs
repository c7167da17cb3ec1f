//! Departments of a corp's WeCom address book. Removed upstream → marked, never deleted.

use crate::{Db, Result, now_ms, read_db, write_db};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Department {
    pub corp_id: i64,
    pub dept_id: i64,
    pub name: String,
    pub parent_id: Option<i64>,
    pub sort_order: i64,
    pub removed_at: Option<i64>,
}

/// Inserts or updates a department (clears its removed mark).
pub async fn upsert(db: &Db, d: &Department) -> Result<()> {
    write_db!(db, |pool| {
        sqlx::query(
            "INSERT INTO departments (corp_id, dept_id, name, parent_id, sort_order, removed_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, NULL, $6)
         ON CONFLICT (corp_id, dept_id) DO UPDATE SET name = excluded.name, parent_id = excluded.parent_id,
            sort_order = excluded.sort_order, removed_at = NULL, updated_at = excluded.updated_at",
        )
        .bind(d.corp_id)
        .bind(d.dept_id)
        .bind(&d.name)
        .bind(d.parent_id)
        .bind(d.sort_order)
        .bind(now_ms())
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Marks a department as gone upstream. Returns whether it existed.
pub async fn mark_removed(db: &Db, corp_id: i64, dept_id: i64) -> Result<bool> {
    let now = now_ms();
    let done = write_db!(db, |pool| {
        sqlx::query(
        "UPDATE departments SET removed_at = $3, updated_at = $3 WHERE corp_id = $1 AND dept_id = $2 AND removed_at IS NULL"
    )
    .bind(corp_id)
    .bind(dept_id)
    .bind(now)
    .execute(pool)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(done > 0)
}

pub async fn list(db: &Db, corp_id: i64) -> Result<Vec<Department>> {
    Ok(read_db!(db, |pool| sqlx::query_as(
        "SELECT corp_id, dept_id, name, parent_id, sort_order, removed_at FROM departments
         WHERE corp_id = $1 ORDER BY COALESCE(parent_id, 0), sort_order, dept_id"
    )
    .bind(corp_id)
    .fetch_all(pool)
    .await)?)
}

/// Live department ids of a corp.
pub async fn live_ids(db: &Db, corp_id: i64) -> Result<Vec<i64>> {
    Ok(read_db!(db, |pool| sqlx::query_scalar(
        "SELECT dept_id FROM departments WHERE corp_id = $1 AND removed_at IS NULL ORDER BY dept_id"
    )
    .bind(corp_id)
    .fetch_all(pool)
    .await)?)
}
