//! Staff: the corp's employees as synced from WeCom, active or resigned.

use pond_core::{Page, PageRequest, StaffStatus};

use crate::{
    Db, Result, StoreError,
    db::{Listing, select_in},
    now_ms, read_db, write_db,
};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct Staff {
    pub corp_id: i64,
    pub userid: String,
    pub name: String,
    /// Comma-separated WeCom department ids.
    pub department_ids: String,
    pub position: String,
    pub mobile: String,
    pub status: String,
    pub removed_at: Option<i64>,
}

impl Staff {
    pub fn status(&self) -> StaffStatus {
        self.status.parse().unwrap_or(StaffStatus::Active)
    }
}

const COLUMNS: &str = "corp_id, userid, name, department_ids, position, mobile, status, removed_at";

pub async fn upsert(db: &Db, s: &Staff) -> Result<()> {
    write_db!(db, |pool| {
        sqlx::query(
        "INSERT INTO staff (corp_id, userid, name, department_ids, position, mobile, status, removed_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (corp_id, userid) DO UPDATE SET name = excluded.name, department_ids = excluded.department_ids,
            position = excluded.position, mobile = excluded.mobile, status = excluded.status,
            removed_at = excluded.removed_at, updated_at = excluded.updated_at"
    )
    .bind(s.corp_id)
    .bind(&s.userid)
    .bind(&s.name)
    .bind(&s.department_ids)
    .bind(&s.position)
    .bind(&s.mobile)
    .bind(&s.status)
    .bind(s.removed_at)
    .bind(now_ms())
    .execute(pool)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(())
}

pub async fn get(db: &Db, corp_id: i64, userid: &str) -> Result<Staff> {
    let sql = format!("SELECT {COLUMNS} FROM staff WHERE corp_id = $1 AND userid = $2");
    let row: Option<Staff> = read_db!(db, |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(corp_id)
        .bind(userid)
        .fetch_optional(pool)
        .await)?;
    row.ok_or_else(|| StoreError::NotFound(format!("staff {userid}")))
}

/// `(userid, name)` of these employees, those Pond knows.
pub async fn names(db: &Db, corp_id: i64, userids: &[&str]) -> Result<Vec<(String, String)>> {
    select_in(db, corp_id, userids, |corp, list| {
        format!("SELECT userid, name FROM staff WHERE corp_id = {corp} AND userid IN ({list})")
    })
    .await
}

/// These employees, those Pond knows (routing reads their status and name in one statement).
pub async fn of_userids(db: &Db, corp_id: i64, userids: &[&str]) -> Result<Vec<Staff>> {
    select_in(db, corp_id, userids, |corp, list| {
        format!("SELECT {COLUMNS} FROM staff WHERE corp_id = {corp} AND userid IN ({list})")
    })
    .await
}

/// Marks an employee resigned (kept, with history).
pub async fn set_status(db: &Db, corp_id: i64, userid: &str, status: StaffStatus) -> Result<()> {
    let n = write_db!(db, |pool| sqlx::query(
        "UPDATE staff SET status = $3, updated_at = $4 WHERE corp_id = $1 AND userid = $2"
    )
    .bind(corp_id)
    .bind(userid)
    .bind(status.as_str())
    .bind(now_ms())
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("staff {userid}")));
    }
    Ok(())
}

/// Lists staff whose name or userid contains `search`, by name.
pub async fn list(db: &Db, corp_id: i64, search: Option<&str>, req: PageRequest) -> Result<Page<Staff>> {
    Listing {
        columns: COLUMNS,
        from: "staff",
        filter: "corp_id = $1 AND (LOWER(name) LIKE $2 ESCAPE '\\' OR LOWER(userid) LIKE $2 ESCAPE '\\')",
        order_by: "name, userid",
    }
    .fetch(db, corp_id, search, req)
    .await
}

/// Every employee of a corp (for sync's "gone upstream" check and comparisons).
pub async fn all(db: &Db, corp_id: i64) -> Result<Vec<Staff>> {
    let sql = format!("SELECT {COLUMNS} FROM staff WHERE corp_id = $1 ORDER BY userid");
    Ok(read_db!(db, |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(corp_id).fetch_all(pool).await)?)
}
