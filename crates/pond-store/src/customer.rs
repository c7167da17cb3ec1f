//! Customers (WeCom external contacts), their follow relations with staff, and the tags each
//! follow relation carries (WeCom tags a customer per employee, not globally).

use pond_core::{Page, PageRequest};

use crate::{Db, Result, StoreError, db::Listing, now_ms, read_db, write_db};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct Customer {
    pub id: i64,
    pub corp_id: i64,
    pub external_userid: String,
    pub name: String,
    pub customer_type: i64,
    pub avatar: String,
    pub gender: i64,
    pub unionid: String,
    pub corp_name: String,
    pub removed_at: Option<i64>,
    pub created_at: i64,
}

/// The fields of a customer that come from WeCom.
#[derive(Debug, Clone, Default)]
pub struct CustomerData {
    pub external_userid: String,
    pub name: String,
    pub customer_type: i64,
    pub avatar: String,
    pub gender: i64,
    pub unionid: String,
    pub corp_name: String,
}

/// A staff ↔ customer relation: who added whom, how (`add_way`), through which code (`state`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct FollowRelation {
    pub corp_id: i64,
    pub external_userid: String,
    pub userid: String,
    pub remark: String,
    pub description: String,
    pub add_way: i64,
    pub state: String,
    pub added_at: i64,
    pub removed_at: Option<i64>,
}

const COLUMNS: &str =
    "id, corp_id, external_userid, name, customer_type, avatar, gender, unionid, corp_name, removed_at, created_at";
const FOLLOW_COLUMNS: &str =
    "corp_id, external_userid, userid, remark, description, add_way, state, added_at, removed_at";

/// Inserts or refreshes a customer; returns Pond's dense id for it.
pub async fn upsert(db: &Db, corp_id: i64, c: &CustomerData) -> Result<i64> {
    let now = now_ms();
    Ok(write_db!(db, |pool| {
        sqlx::query_scalar(
            "INSERT INTO customers (corp_id, external_userid, name, customer_type, avatar, gender, unionid, corp_name,
                                removed_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, $9, $9)
         ON CONFLICT (corp_id, external_userid) DO UPDATE SET name = excluded.name,
            customer_type = excluded.customer_type, avatar = excluded.avatar, gender = excluded.gender,
            unionid = excluded.unionid, corp_name = excluded.corp_name, removed_at = NULL,
            updated_at = excluded.updated_at
         RETURNING id",
        )
        .bind(corp_id)
        .bind(&c.external_userid)
        .bind(&c.name)
        .bind(c.customer_type)
        .bind(&c.avatar)
        .bind(c.gender)
        .bind(&c.unionid)
        .bind(&c.corp_name)
        .bind(now)
        .fetch_one(pool)
        .await
    })?)
}

pub async fn get(db: &Db, corp_id: i64, external_userid: &str) -> Result<Customer> {
    let sql = format!("SELECT {COLUMNS} FROM customers WHERE corp_id = $1 AND external_userid = $2");
    let row: Option<Customer> = read_db!(db, |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(corp_id)
        .bind(external_userid)
        .fetch_optional(pool)
        .await)?;
    row.ok_or_else(|| StoreError::NotFound(format!("customer {external_userid}")))
}

/// Marks a customer as gone upstream (no follow relation left).
pub async fn mark_removed(db: &Db, corp_id: i64, external_userid: &str) -> Result<()> {
    let now = now_ms();
    write_db!(db, |pool| {
        sqlx::query(
        "UPDATE customers SET removed_at = $3, updated_at = $3 WHERE corp_id = $1 AND external_userid = $2 AND removed_at IS NULL"
    )
    .bind(corp_id)
    .bind(external_userid)
    .bind(now)
    .execute(pool)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Lists customers whose name or external id contains `search`, newest first.
pub async fn list(db: &Db, corp_id: i64, search: Option<&str>, req: PageRequest) -> Result<Page<Customer>> {
    Listing {
        columns: COLUMNS,
        from: "customers",
        filter: "corp_id = $1 AND (LOWER(name) LIKE $2 ESCAPE '\\' OR LOWER(external_userid) LIKE $2 ESCAPE '\\')",
        order_by: "id DESC",
    }
    .fetch(db, corp_id, search, req)
    .await
}

/// Inserts or updates a follow relation (clears its removed mark).
pub async fn upsert_follow(db: &Db, f: &FollowRelation) -> Result<()> {
    write_db!(db, |pool| {
        sqlx::query(
            "INSERT INTO follow_relations (corp_id, external_userid, userid, remark, description, add_way, state,
                                       added_at, removed_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, $9)
         ON CONFLICT (corp_id, external_userid, userid) DO UPDATE SET remark = excluded.remark,
            description = excluded.description, add_way = excluded.add_way, state = excluded.state,
            added_at = excluded.added_at, removed_at = NULL, updated_at = excluded.updated_at",
        )
        .bind(f.corp_id)
        .bind(&f.external_userid)
        .bind(&f.userid)
        .bind(&f.remark)
        .bind(&f.description)
        .bind(f.add_way)
        .bind(&f.state)
        .bind(f.added_at)
        .bind(now_ms())
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Marks a follow relation ended (either side deleted the other).
pub async fn end_follow(db: &Db, corp_id: i64, external_userid: &str, userid: &str) -> Result<bool> {
    let now = now_ms();
    let n = write_db!(db, |pool| sqlx::query(
        "UPDATE follow_relations SET removed_at = $4, updated_at = $4
         WHERE corp_id = $1 AND external_userid = $2 AND userid = $3 AND removed_at IS NULL"
    )
    .bind(corp_id)
    .bind(external_userid)
    .bind(userid)
    .bind(now)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

/// The follow relations of one customer, oldest first.
pub async fn follows_of(db: &Db, corp_id: i64, external_userid: &str) -> Result<Vec<FollowRelation>> {
    let sql = format!(
        "SELECT {FOLLOW_COLUMNS} FROM follow_relations WHERE corp_id = $1 AND external_userid = $2 ORDER BY added_at, userid"
    );
    Ok(read_db!(db, |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(corp_id)
        .bind(external_userid)
        .fetch_all(pool)
        .await)?)
}

/// Replaces the tags one employee has put on one customer, in one transaction.
pub async fn set_follow_tags(
    db: &Db,
    corp_id: i64,
    external_userid: &str,
    userid: &str,
    tag_ids: &[String],
) -> Result<()> {
    let now = now_ms();
    write_db!(db, |pool| {
        async {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM follow_relation_tags WHERE corp_id = $1 AND external_userid = $2 AND userid = $3")
                .bind(corp_id)
                .bind(external_userid)
                .bind(userid)
                .execute(&mut *tx)
                .await?;
            for tag_id in tag_ids {
                sqlx::query(
                    "INSERT INTO follow_relation_tags (corp_id, external_userid, userid, tag_id, tagged_at)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                )
                .bind(corp_id)
                .bind(external_userid)
                .bind(userid)
                .bind(tag_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await
        }
        .await
    })?;
    Ok(())
}

/// Tag ids one employee has put on one customer, sorted.
pub async fn follow_tags(db: &Db, corp_id: i64, external_userid: &str, userid: &str) -> Result<Vec<String>> {
    Ok(read_db!(db, |pool| {
        sqlx::query_scalar(
        "SELECT tag_id FROM follow_relation_tags WHERE corp_id = $1 AND external_userid = $2 AND userid = $3 ORDER BY tag_id"
    )
    .bind(corp_id)
    .bind(external_userid)
    .bind(userid)
    .fetch_all(pool)
    .await
    })?)
}

/// Every live follow relation of a corp, ordered by customer then employee.
pub async fn all_live_follows(db: &Db, corp_id: i64) -> Result<Vec<FollowRelation>> {
    let sql = format!(
        "SELECT {FOLLOW_COLUMNS} FROM follow_relations WHERE corp_id = $1 AND removed_at IS NULL ORDER BY external_userid, userid"
    );
    Ok(read_db!(db, |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(corp_id).fetch_all(pool).await)?)
}

/// Every (external_userid, userid, tag_id) of a corp's live follow relations.
pub async fn all_follow_tags(db: &Db, corp_id: i64) -> Result<Vec<(String, String, String)>> {
    Ok(read_db!(db, |pool| {
        sqlx::query_as(
        "SELECT t.external_userid, t.userid, t.tag_id FROM follow_relation_tags t
         JOIN follow_relations f ON f.corp_id = t.corp_id AND f.external_userid = t.external_userid AND f.userid = t.userid
         WHERE t.corp_id = $1 AND f.removed_at IS NULL ORDER BY t.external_userid, t.userid, t.tag_id"
    )
    .bind(corp_id)
    .fetch_all(pool)
    .await
    })?)
}

/// Customers of a corp not marked removed: (external_userid, name).
pub async fn all_live(db: &Db, corp_id: i64) -> Result<Vec<(String, String)>> {
    Ok(read_db!(db, |pool| sqlx::query_as(
        "SELECT external_userid, name FROM customers WHERE corp_id = $1 AND removed_at IS NULL ORDER BY external_userid"
    )
    .bind(corp_id)
    .fetch_all(pool)
    .await)?)
}

/// Ends every live follow of a customer not in `keep` and marks the customer removed when none
/// is left. Returns the employees whose relation ended.
pub async fn reconcile_follows(db: &Db, corp_id: i64, external_userid: &str, keep: &[String]) -> Result<Vec<String>> {
    let mut ended = Vec::new();
    for f in follows_of(db, corp_id, external_userid).await? {
        if f.removed_at.is_none() && !keep.contains(&f.userid) {
            end_follow(db, corp_id, external_userid, &f.userid).await?;
            ended.push(f.userid);
        }
    }
    if keep.is_empty() {
        mark_removed(db, corp_id, external_userid).await?;
    }
    Ok(ended)
}

/// Ends every live follow relation of one employee (e.g. they resigned); customers left with
/// none are marked removed. Returns the customers whose relation ended.
pub async fn end_follows_of_staff(db: &Db, corp_id: i64, userid: &str) -> Result<Vec<String>> {
    let customers: Vec<String> = read_db!(db, |pool| {
        sqlx::query_scalar(
        "SELECT external_userid FROM follow_relations WHERE corp_id = $1 AND userid = $2 AND removed_at IS NULL ORDER BY external_userid"
    )
    .bind(corp_id)
    .bind(userid)
    .fetch_all(pool)
    .await
    })?;
    for external_userid in &customers {
        let keep: Vec<String> = follows_of(db, corp_id, external_userid)
            .await?
            .into_iter()
            .filter(|f| f.removed_at.is_none() && f.userid != userid)
            .map(|f| f.userid)
            .collect();
        reconcile_follows(db, corp_id, external_userid, &keep).await?;
    }
    Ok(customers)
}
