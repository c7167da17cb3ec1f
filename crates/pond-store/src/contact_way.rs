//! Per-employee contact ways, whatever they belong to: a WeCom contact way for one employee
//! carrying its owner's `state`, created on first need and reused (see `pond_app`'s
//! `acquisition::contact_ways`, their one owner).

use crate::{Conn, Db, Result, on_conn, read_db};

/// What a contact way belongs to, as stored (`owner_kind`, `owner_id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// `channel_code` or `store` today.
    pub kind: &'static str,
    pub id: i64,
}

/// A stored contact way.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ContactWay {
    pub userid: String,
    pub state: String,
    pub config_id: String,
    pub qr_code: String,
}

/// The employee's contact way for this owner, if one was made.
pub async fn get(db: &Db, corp_id: i64, owner: Owner, userid: &str) -> Result<Option<ContactWay>> {
    Ok(read_db!(db, |pool| sqlx::query_as(
        "SELECT userid, state, config_id, qr_code FROM contact_ways
         WHERE corp_id = $1 AND owner_kind = $2 AND owner_id = $3 AND userid = $4"
    )
    .bind(corp_id)
    .bind(owner.kind)
    .bind(owner.id)
    .bind(userid)
    .fetch_optional(pool)
    .await)?)
}

/// Every contact way of this owner.
pub async fn of_owner(db: &Db, corp_id: i64, owner: Owner) -> Result<Vec<ContactWay>> {
    Ok(read_db!(db, |pool| sqlx::query_as(
        "SELECT userid, state, config_id, qr_code FROM contact_ways
         WHERE corp_id = $1 AND owner_kind = $2 AND owner_id = $3 ORDER BY userid"
    )
    .bind(corp_id)
    .bind(owner.kind)
    .bind(owner.id)
    .fetch_all(pool)
    .await)?)
}

/// Records (or replaces) the employee's contact way for this owner.
pub async fn put<'c>(conn: impl Into<Conn<'c>>, corp_id: i64, owner: Owner, way: &ContactWay) -> Result<()> {
    on_conn!(conn.into(), |c| sqlx::query(
        "INSERT INTO contact_ways (corp_id, owner_kind, owner_id, userid, state, config_id, qr_code)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (corp_id, owner_kind, owner_id, userid)
         DO UPDATE SET state = excluded.state, config_id = excluded.config_id, qr_code = excluded.qr_code"
    )
    .bind(corp_id)
    .bind(owner.kind)
    .bind(owner.id)
    .bind(&way.userid)
    .bind(&way.state)
    .bind(&way.config_id)
    .bind(&way.qr_code)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Which of these WeCom contact ways Pond holds as a per-employee contact way.
pub async fn config_ids_held(db: &Db, corp_id: i64, config_ids: &[&str]) -> Result<Vec<String>> {
    let rows: Vec<(String,)> = crate::db::select_in(db, corp_id, config_ids, |corp, list| {
        format!("SELECT config_id FROM contact_ways WHERE corp_id = {corp} AND config_id IN ({list})")
    })
    .await?;
    Ok(rows.into_iter().map(|(s,)| s).collect())
}
