//! The audit log: who did what to which thing, when. Written for every admin action.

use pond_core::{Page, PageRequest};

use crate::{Conn, Db, Result, db::Listing, now_ms, on_conn};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct AuditEntry {
    pub id: i64,
    pub corp_id: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    pub created_at: i64,
}

/// Records one action. `actor` is a login e-mail, `cli`, or `api-token:<prefix>`.
pub async fn record<'c>(
    conn: impl Into<Conn<'c>>,
    corp_id: i64,
    actor: &str,
    action: &str,
    target: &str,
    detail: &str,
) -> Result<()> {
    on_conn!(conn.into(), |pool| {
        sqlx::query(
        "INSERT INTO audit_log (corp_id, actor, action, target, detail, created_at) VALUES ($1, $2, $3, $4, $5, $6)"
    )
    .bind(corp_id)
    .bind(actor)
    .bind(action)
    .bind(target)
    .bind(detail)
    .bind(now_ms())
    .execute(pool)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Lists entries newest first; `search` matches actor, action or target.
pub async fn list(db: &Db, corp_id: i64, search: Option<&str>, req: PageRequest) -> Result<Page<AuditEntry>> {
    Listing {
        columns: "id, corp_id, actor, action, target, detail, created_at",
        from: "audit_log",
        filter: "corp_id = $1 AND (LOWER(actor) LIKE $2 ESCAPE '\\' OR LOWER(action) LIKE $2 ESCAPE '\\'
                 OR LOWER(target) LIKE $2 ESCAPE '\\')",
        order_by: "id DESC",
    }
    .fetch(db, corp_id, search, req)
    .await
}
