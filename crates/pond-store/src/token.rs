//! API tokens for `/api/v1`. Only a hash is stored; the token is shown once, at creation.

use crate::{Conn, Db, Result, StoreError, now_ms, on_conn, read_db, write_db};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct ApiToken {
    pub id: i64,
    pub corp_id: i64,
    pub name: String,
    /// The first characters of the token, to recognise it in lists.
    pub prefix: String,
    pub created_by: String,
    /// The lowest role this token acts as (`readonly`, `operator`, `admin`, `owner`).
    pub role: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

const COLUMNS: &str = "id, corp_id, name, prefix, created_by, role, created_at, last_used_at, revoked_at";

pub async fn create<'c>(
    conn: impl Into<Conn<'c>>,
    corp_id: i64,
    name: &str,
    token_hash: &str,
    prefix: &str,
    created_by: &str,
    role: &str,
) -> Result<ApiToken> {
    let sql = format!(
        "INSERT INTO api_tokens (corp_id, name, token_hash, prefix, created_by, created_at, role)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
    );
    Ok(on_conn!(conn.into(), |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(corp_id)
        .bind(name)
        .bind(token_hash)
        .bind(prefix)
        .bind(created_by)
        .bind(now_ms())
        .bind(role)
        .fetch_one(pool)
        .await)?)
}

/// The unrevoked token with this hash.
pub async fn find_active(db: &Db, token_hash: &str) -> Result<Option<ApiToken>> {
    let sql = format!("SELECT {COLUMNS} FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL");
    Ok(read_db!(db, |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(token_hash).fetch_optional(pool).await)?)
}

pub async fn list(db: &Db, corp_id: i64) -> Result<Vec<ApiToken>> {
    let sql = format!("SELECT {COLUMNS} FROM api_tokens WHERE corp_id = $1 ORDER BY id");
    Ok(read_db!(db, |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(corp_id).fetch_all(pool).await)?)
}

pub async fn revoke<'c>(conn: impl Into<Conn<'c>>, corp_id: i64, id: i64) -> Result<()> {
    let n = on_conn!(conn.into(), |pool| {
        sqlx::query("UPDATE api_tokens SET revoked_at = $3 WHERE corp_id = $1 AND id = $2 AND revoked_at IS NULL")
            .bind(corp_id)
            .bind(id)
            .bind(now_ms())
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
    })?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("api token {id}")));
    }
    Ok(())
}

pub async fn touch(db: &Db, id: i64) -> Result<()> {
    write_db!(db, |pool| sqlx::query("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now_ms())
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// One page of a corp's API tokens whose name or prefix contains `search`, newest first.
pub async fn page(
    db: &Db,
    corp_id: i64,
    search: Option<&str>,
    req: pond_core::PageRequest,
) -> Result<pond_core::Page<ApiToken>> {
    crate::db::Listing {
        columns: COLUMNS,
        from: "api_tokens",
        filter: "corp_id = $1 AND (LOWER(name) LIKE $2 ESCAPE '\\' OR LOWER(prefix) LIKE $2 ESCAPE '\\')",
        order_by: "id DESC",
    }
    .fetch(db, corp_id, search, req)
    .await
}
