//! Console users: login e-mail, argon2 password hash (hashed by the caller), role, corp.

use pond_core::Role;

use crate::{Conn, Db, Result, StoreError, now_ms, on_conn, read_db, write_db};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    pub corp_id: i64,
    pub email: String,
    pub password_hash: String,
    pub role: String,
    pub disabled: bool,
    pub created_at: i64,
    pub last_login_at: Option<i64>,
}

impl User {
    /// The stored role; an unreadable value counts as the least privileged.
    pub fn role(&self) -> Role {
        self.role.parse().unwrap_or(Role::ReadOnly)
    }
}

const COLUMNS: &str = "id, corp_id, email, password_hash, role, disabled, created_at, last_login_at";

/// Adds a user. A taken e-mail gives [`StoreError::Conflict`].
pub async fn create<'c>(
    conn: impl Into<Conn<'c>>,
    corp_id: i64,
    email: &str,
    password_hash: &str,
    role: Role,
) -> Result<User> {
    let sql = format!(
        "INSERT INTO console_users (corp_id, email, password_hash, role, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
    );
    Ok(on_conn!(conn.into(), |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(corp_id)
        .bind(email)
        .bind(password_hash)
        .bind(role.as_str())
        .bind(now_ms())
        .fetch_one(pool)
        .await)?)
}

pub async fn find_by_email(db: &Db, email: &str) -> Result<Option<User>> {
    let sql = format!("SELECT {COLUMNS} FROM console_users WHERE email = $1");
    Ok(read_db!(db, |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(email).fetch_optional(pool).await)?)
}

pub async fn get(db: &Db, id: i64) -> Result<User> {
    let sql = format!("SELECT {COLUMNS} FROM console_users WHERE id = $1");
    let user: Option<User> =
        read_db!(db, |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await)?;
    user.ok_or_else(|| StoreError::NotFound(format!("user {id}")))
}

pub async fn list(db: &Db, corp_id: i64) -> Result<Vec<User>> {
    let sql = format!("SELECT {COLUMNS} FROM console_users WHERE corp_id = $1 ORDER BY id");
    Ok(read_db!(db, |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(corp_id).fetch_all(pool).await)?)
}

pub async fn count(db: &Db) -> Result<i64> {
    Ok(read_db!(db, |pool| sqlx::query_scalar("SELECT COUNT(*) FROM console_users").fetch_one(pool).await)?)
}

pub async fn touch_login(db: &Db, id: i64) -> Result<()> {
    write_db!(db, |pool| sqlx::query("UPDATE console_users SET last_login_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now_ms())
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Replaces a user's password hash.
/// Changes a user's role and whether they may sign in.
pub async fn set_access<'c>(conn: impl Into<Conn<'c>>, id: i64, role: &str, disabled: bool) -> Result<()> {
    let n =
        on_conn!(conn.into(), |pool| sqlx::query("UPDATE console_users SET role = $2, disabled = $3 WHERE id = $1")
            .bind(id)
            .bind(role)
            .bind(disabled)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("user {id}")));
    }
    Ok(())
}

pub async fn set_password<'c>(conn: impl Into<Conn<'c>>, id: i64, password_hash: &str) -> Result<()> {
    let n = on_conn!(conn.into(), |pool| sqlx::query("UPDATE console_users SET password_hash = $2 WHERE id = $1")
        .bind(id)
        .bind(password_hash)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("user {id}")));
    }
    Ok(())
}

/// The corp's enabled owners' ids, read inside the transaction that will change a user's access,
/// with their rows locked on PostgreSQL (`FOR UPDATE`; SQLite's write transactions run one at a
/// time): two owners demoting each other at once cannot both see the other as the one left.
pub async fn enabled_owners_locked(tx: &mut crate::Tx, corp_id: i64) -> Result<Vec<i64>> {
    let lock = if tx.backend() == crate::Backend::Postgres { " FOR UPDATE" } else { "" };
    let sql = format!(
        "SELECT id FROM console_users WHERE corp_id = $1 AND role = 'owner' AND NOT disabled ORDER BY id{lock}"
    );
    let conn: Conn<'_> = tx.into();
    Ok(on_conn!(conn, |pool| sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(corp_id).fetch_all(pool).await)?)
}

/// One page of a corp's console users whose e-mail contains `search`, oldest first.
pub async fn page(
    db: &Db,
    corp_id: i64,
    search: Option<&str>,
    req: pond_core::PageRequest,
) -> Result<pond_core::Page<User>> {
    crate::db::Listing {
        columns: COLUMNS,
        from: "console_users",
        filter: "corp_id = $1 AND LOWER(email) LIKE $2 ESCAPE '\\'",
        order_by: "id",
    }
    .fetch(db, corp_id, search, req)
    .await
}
