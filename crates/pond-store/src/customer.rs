//! Customers (WeCom external contacts), their follow relations with staff, and the tags each
//! follow relation carries (WeCom tags a customer per employee, not globally).

use pond_core::{Page, PageRequest};

use std::collections::{BTreeMap, BTreeSet};

use pond_core::ids::Follow;

use crate::{
    Conn, Db, Result, StoreError, Tx,
    db::{Listing, Params, rows_per_statement},
    now_ms, on_conn, read_db,
};

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
pub async fn upsert<'c>(conn: impl Into<Conn<'c>>, corp_id: i64, c: &CustomerData) -> Result<i64> {
    let now = now_ms();
    Ok(on_conn!(conn.into(), |pool| {
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

/// Every customer of a corp, removed ones included.
pub async fn all(db: &Db, corp_id: i64) -> Result<Vec<Customer>> {
    let sql = format!("SELECT {COLUMNS} FROM customers WHERE corp_id = $1 ORDER BY external_userid");
    Ok(read_db!(db, |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(corp_id).fetch_all(pool).await)?)
}

/// Marks a customer as gone upstream (no follow relation left).
pub async fn mark_removed<'c>(conn: impl Into<Conn<'c>>, corp_id: i64, external_userid: &str) -> Result<()> {
    let now = now_ms();
    on_conn!(conn.into(), |pool| {
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
pub async fn upsert_follow<'c>(conn: impl Into<Conn<'c>>, f: &FollowRelation) -> Result<()> {
    on_conn!(conn.into(), |pool| {
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
pub async fn end_follow<'c>(
    conn: impl Into<Conn<'c>>,
    corp_id: i64,
    external_userid: &str,
    userid: &str,
) -> Result<bool> {
    let now = now_ms();
    let n = on_conn!(conn.into(), |pool| sqlx::query(
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
    let sql = follows_of_sql();
    Ok(read_db!(db, |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(corp_id)
        .bind(external_userid)
        .fetch_all(pool)
        .await)?)
}

fn follows_of_sql() -> String {
    format!(
        "SELECT {FOLLOW_COLUMNS} FROM follow_relations WHERE corp_id = $1 AND external_userid = $2 ORDER BY added_at, userid"
    )
}

/// [`follows_of`] read through `conn` (inside a transaction, it sees the transaction's writes).
async fn follows_of_on(conn: Conn<'_>, corp_id: i64, external_userid: &str) -> Result<Vec<FollowRelation>> {
    let sql = follows_of_sql();
    Ok(on_conn!(conn, |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(corp_id)
        .bind(external_userid)
        .fetch_all(pool)
        .await)?)
}

/// Replaces the tags one employee has put on one customer (in one transaction when given the
/// database, or inside the caller's).
pub async fn set_follow_tags<'c>(
    conn: impl Into<Conn<'c>>,
    corp_id: i64,
    follow: Follow<'_>,
    tag_ids: &[String],
) -> Result<()> {
    let Follow { external_userid, userid } = follow;
    match conn.into() {
        Conn::Db(db) => {
            let mut tx = db.begin().await?;
            replace_follow_tags(&mut tx, corp_id, external_userid, userid, tag_ids).await?;
            tx.commit().await
        }
        Conn::Tx(tx) => replace_follow_tags(tx, corp_id, external_userid, userid, tag_ids).await,
    }
}

async fn replace_follow_tags(
    tx: &mut crate::Tx,
    corp_id: i64,
    external_userid: &str,
    userid: &str,
    tag_ids: &[String],
) -> Result<()> {
    let now = now_ms();
    on_conn!(Conn::Tx(&mut *tx), |c| sqlx::query(
        "DELETE FROM follow_relation_tags WHERE corp_id = $1 AND external_userid = $2 AND userid = $3"
    )
    .bind(corp_id)
    .bind(external_userid)
    .bind(userid)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    for tag_id in tag_ids {
        on_conn!(Conn::Tx(&mut *tx), |c| sqlx::query(
            "INSERT INTO follow_relation_tags (corp_id, external_userid, userid, tag_id, tagged_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(corp_id)
        .bind(external_userid)
        .bind(userid)
        .bind(tag_id)
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    }
    Ok(())
}

/// Tag ids one employee has put on one customer, sorted.
pub async fn follow_tags(db: &Db, corp_id: i64, follow: Follow<'_>) -> Result<Vec<String>> {
    let Follow { external_userid, userid } = follow;
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
pub async fn reconcile_follows<'c>(
    conn: impl Into<Conn<'c>>,
    corp_id: i64,
    external_userid: &str,
    keep: &[String],
) -> Result<Vec<String>> {
    let mut conn = conn.into();
    let mut ended = Vec::new();
    for f in follows_of_on(conn.reborrow(), corp_id, external_userid).await? {
        if f.removed_at.is_none() && !keep.contains(&f.userid) {
            end_follow(conn.reborrow(), corp_id, external_userid, &f.userid).await?;
            ended.push(f.userid);
        }
    }
    if keep.is_empty() {
        mark_removed(conn, corp_id, external_userid).await?;
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

/// A customer as WeCom describes them now: their data and every live follow relation with its
/// tags, or `data: None` when they have no relation with the corp any more.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub external_userid: String,
    pub data: Option<CustomerData>,
    pub follows: Vec<(FollowRelation, Vec<String>)>,
}

/// Makes Pond equal several snapshots at once, inside `tx`, with a handful of multi-row
/// statements (not a few per customer): customers upserted, follow relations upserted with their
/// tags replaced, relations missing from a snapshot ended, customers left with none marked
/// removed. The same effect as [`upsert`], [`upsert_follow`], [`set_follow_tags`] and
/// [`reconcile_follows`] per customer. Returns the `(external_userid, userid)` relations ended.
pub async fn store_snapshots(tx: &mut Tx, corp_id: i64, snapshots: &[Snapshot]) -> Result<Vec<(String, String)>> {
    let now = now_ms();
    let (backend, per_statement) = (tx.backend(), rows_per_statement(tx.backend()));
    let mut by_customer: BTreeMap<&str, &Snapshot> = BTreeMap::new();
    for snap in snapshots {
        by_customer.insert(&snap.external_userid, snap);
    }
    let present: Vec<&CustomerData> = by_customer.values().filter_map(|s| s.data.as_ref()).collect();
    for chunk in present.chunks(per_statement) {
        let sql = format!(
            "INSERT INTO customers (corp_id, external_userid, name, customer_type, avatar, gender, unionid, corp_name,
                                    removed_at, created_at, updated_at)
             VALUES {} ON CONFLICT (corp_id, external_userid) DO UPDATE SET name = excluded.name,
                customer_type = excluded.customer_type, avatar = excluded.avatar, gender = excluded.gender,
                unionid = excluded.unionid, corp_name = excluded.corp_name, removed_at = NULL,
                updated_at = excluded.updated_at",
            Params::new(backend).rows(chunk.len(), 11)
        );
        on_conn!(Conn::Tx(&mut *tx), |c| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for d in chunk {
                q = q
                    .bind(corp_id)
                    .bind(&d.external_userid)
                    .bind(&d.name)
                    .bind(d.customer_type)
                    .bind(&d.avatar)
                    .bind(d.gender)
                    .bind(&d.unionid)
                    .bind(&d.corp_name)
                    .bind(None::<i64>)
                    .bind(now)
                    .bind(now);
            }
            q.execute(c).await.map(|r| r.rows_affected())
        })?;
    }
    let mut follows: BTreeMap<(&str, &str), &(FollowRelation, Vec<String>)> = BTreeMap::new();
    for snap in by_customer.values().filter(|s| s.data.is_some()) {
        for f in &snap.follows {
            follows.insert((&snap.external_userid, &f.0.userid), f);
        }
    }
    let follow_rows: Vec<&(FollowRelation, Vec<String>)> = follows.values().copied().collect();
    for chunk in follow_rows.chunks(per_statement) {
        let sql = format!(
            "INSERT INTO follow_relations (corp_id, external_userid, userid, remark, description, add_way, state,
                                           added_at, removed_at, updated_at)
             VALUES {} ON CONFLICT (corp_id, external_userid, userid) DO UPDATE SET remark = excluded.remark,
                description = excluded.description, add_way = excluded.add_way, state = excluded.state,
                added_at = excluded.added_at, removed_at = NULL, updated_at = excluded.updated_at",
            Params::new(backend).rows(chunk.len(), 10)
        );
        on_conn!(Conn::Tx(&mut *tx), |c| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (f, _) in chunk.iter().copied() {
                q = q
                    .bind(corp_id)
                    .bind(&f.external_userid)
                    .bind(&f.userid)
                    .bind(&f.remark)
                    .bind(&f.description)
                    .bind(f.add_way)
                    .bind(&f.state)
                    .bind(f.added_at)
                    .bind(None::<i64>)
                    .bind(now);
            }
            q.execute(c).await.map(|r| r.rows_affected())
        })?;
        let customers: BTreeSet<&str> = chunk.iter().map(|(f, _)| f.external_userid.as_str()).collect();
        let mut p = Params::new(backend);
        // The `external_userid IN` list repeats what the pairs say so that SQLite searches the
        // key's index by customer; given only the pairs, it scanned every tag row of the corp.
        let sql = format!(
            "DELETE FROM follow_relation_tags
             WHERE corp_id = {} AND external_userid IN ({}) AND (external_userid, userid) IN (VALUES {})",
            p.one(),
            p.list(customers.len()),
            p.rows(chunk.len(), 2)
        );
        on_conn!(Conn::Tx(&mut *tx), |c| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(corp_id);
            for customer in &customers {
                q = q.bind(*customer);
            }
            for (f, _) in chunk.iter().copied() {
                q = q.bind(&f.external_userid).bind(&f.userid);
            }
            q.execute(c).await.map(|r| r.rows_affected())
        })?;
    }
    let mut tags: BTreeSet<(&str, &str, &str)> = BTreeSet::new();
    for (f, ids) in &follow_rows {
        for id in ids {
            tags.insert((&f.external_userid, &f.userid, id));
        }
    }
    let tags: Vec<(&str, &str, &str)> = tags.into_iter().collect();
    for chunk in tags.chunks(per_statement) {
        let sql = format!(
            "INSERT INTO follow_relation_tags (corp_id, external_userid, userid, tag_id, tagged_at) VALUES {}
             ON CONFLICT DO NOTHING",
            Params::new(backend).rows(chunk.len(), 5)
        );
        on_conn!(Conn::Tx(&mut *tx), |c| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (e, u, t) in chunk {
                q = q.bind(corp_id).bind(*e).bind(*u).bind(*t).bind(now);
            }
            q.execute(c).await.map(|r| r.rows_affected())
        })?;
    }
    // Relations Pond holds live that the snapshots no longer list end; customers with none left are removed.
    let customers: Vec<&str> = by_customer.keys().copied().collect();
    let mut ended = Vec::new();
    for chunk in customers.chunks(per_statement) {
        let mut p = Params::new(backend);
        let sql = format!(
            "SELECT external_userid, userid FROM follow_relations
             WHERE corp_id = {} AND removed_at IS NULL AND external_userid IN ({})",
            p.one(),
            p.list(chunk.len())
        );
        let live: Vec<(String, String)> = on_conn!(Conn::Tx(&mut *tx), |c| {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(corp_id);
            for e in chunk {
                q = q.bind(*e);
            }
            q.fetch_all(c).await
        })?;
        ended.extend(live.into_iter().filter(|(e, u)| !follows.contains_key(&(e.as_str(), u.as_str()))));
    }
    for chunk in ended.chunks(per_statement) {
        let customers: BTreeSet<&str> = chunk.iter().map(|(e, _)| e.as_str()).collect();
        let mut p = Params::new(backend);
        // `external_userid IN` for the index, as in the tags' DELETE above.
        let sql = format!(
            "UPDATE follow_relations SET removed_at = {}, updated_at = {}
             WHERE corp_id = {} AND external_userid IN ({}) AND removed_at IS NULL
               AND (external_userid, userid) IN (VALUES {})",
            p.one(),
            p.one(),
            p.one(),
            p.list(customers.len()),
            p.rows(chunk.len(), 2)
        );
        on_conn!(Conn::Tx(&mut *tx), |c| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now).bind(now).bind(corp_id);
            for customer in &customers {
                q = q.bind(*customer);
            }
            for (e, u) in chunk {
                q = q.bind(e).bind(u);
            }
            q.execute(c).await.map(|r| r.rows_affected())
        })?;
    }
    let gone: Vec<&str> = by_customer
        .values()
        .filter(|s| s.data.is_none() || s.follows.is_empty())
        .map(|s| s.external_userid.as_str())
        .collect();
    for chunk in gone.chunks(per_statement) {
        let mut p = Params::new(backend);
        let sql = format!(
            "UPDATE customers SET removed_at = {}, updated_at = {}
             WHERE corp_id = {} AND removed_at IS NULL AND external_userid IN ({})",
            p.one(),
            p.one(),
            p.one(),
            p.list(chunk.len())
        );
        on_conn!(Conn::Tx(&mut *tx), |c| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now).bind(now).bind(corp_id);
            for e in chunk {
                q = q.bind(*e);
            }
            q.execute(c).await.map(|r| r.rows_affected())
        })?;
    }
    Ok(ended)
}

/// Which end of a follow relation a daily count is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowEdge {
    /// Added (`added_at`).
    Added,
    /// Ended, either side deleting (`removed_at`).
    Ended,
}

/// Follow relations added or ended per local day in `[from, to)`: (day number since the epoch in
/// a zone `offset_ms` east of UTC, count). A customer adding two employees counts twice, as in
/// WeCom's own figures (`new_contact_cnt`).
pub async fn per_day(
    db: &Db,
    corp_id: i64,
    edge: FollowEdge,
    offset_ms: i64,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, i64)>> {
    let column = match edge {
        FollowEdge::Added => "added_at",
        FollowEdge::Ended => "removed_at",
    };
    let sql = format!(
        "SELECT ({column} + $2) / 86400000, COUNT(*) FROM follow_relations
         WHERE corp_id = $1 AND {column} >= $3 AND {column} < $4 GROUP BY 1 ORDER BY 1"
    );
    Ok(read_db!(db, |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
        .bind(corp_id)
        .bind(offset_ms)
        .bind(from)
        .bind(to)
        .fetch_all(pool)
        .await)?)
}

/// Per state: (state, relations added since `since`, of them still live). Only non-empty states.
pub async fn adds_by_state(db: &Db, corp_id: i64, since: i64) -> Result<Vec<(String, i64, i64)>> {
    Ok(read_db!(db, |pool| sqlx::query_as(
        "SELECT state, COUNT(*), SUM(CASE WHEN removed_at IS NULL THEN 1 ELSE 0 END) FROM follow_relations
         WHERE corp_id = $1 AND state <> '' AND added_at >= $2 GROUP BY state"
    )
    .bind(corp_id)
    .bind(since)
    .fetch_all(pool)
    .await)?)
}

/// Customers still connected to at least one employee.
pub async fn count_live(db: &Db, corp_id: i64) -> Result<i64> {
    Ok(read_db!(db, |pool| sqlx::query_scalar(
        "SELECT COUNT(DISTINCT external_userid) FROM follow_relations WHERE corp_id = $1 AND removed_at IS NULL"
    )
    .bind(corp_id)
    .fetch_one(pool)
    .await)?)
}

/// Which customers a listing or export shows. Empty strings and `None` mean "any".
#[derive(Debug, Clone, Default)]
pub struct CustomerFilter {
    /// Part of the name, the external id or a remark.
    pub search: String,
    /// Followed by this employee.
    pub userid: String,
    /// Carrying this tag (from any employee).
    pub tag_id: String,
    /// Added through this contact-way `state`.
    pub state: String,
    /// First added at or after (epoch ms).
    pub added_from: Option<i64>,
    /// First added before (epoch ms).
    pub added_to: Option<i64>,
    /// `Some(true)`: no employee connected any more; `Some(false)`: still connected.
    pub lost: Option<bool>,
}

/// How a customer listing is ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CustomerOrder {
    #[default]
    NewestFirst,
    OldestFirst,
    Name,
}

/// A customer as listed: with the time and `state` of their first add and how many employees
/// they are still connected to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct CustomerRow {
    pub external_userid: String,
    pub name: String,
    pub corp_name: String,
    pub customer_type: i64,
    /// The earliest `added_at` of the customer's follow relations (what WeCom calls createtime),
    /// or when Pond first saw them if none is known.
    pub first_added_at: i64,
    pub first_state: String,
    pub live_follows: i64,
}

// `first_added_at` below and the date bounds in FILTER spell out FIRST_ADDED (consts cannot be
// formatted together).
const ROW_COLUMNS: &str = "c.external_userid, c.name, c.corp_name, c.customer_type,
    COALESCE((SELECT MIN(f.added_at) FROM follow_relations f WHERE f.corp_id = c.corp_id AND f.external_userid = c.external_userid), c.created_at) AS first_added_at,
    COALESCE((SELECT f.state FROM follow_relations f WHERE f.corp_id = c.corp_id AND f.external_userid = c.external_userid ORDER BY f.added_at LIMIT 1), '') AS first_state,
    (SELECT COUNT(*) FROM follow_relations f WHERE f.corp_id = c.corp_id AND f.external_userid = c.external_userid AND f.removed_at IS NULL) AS live_follows";

const FILTER: &str = "c.corp_id = $1
    AND (LOWER(c.name) LIKE $2 ESCAPE '\\' OR LOWER(c.external_userid) LIKE $2 ESCAPE '\\'
         OR EXISTS (SELECT 1 FROM follow_relations f WHERE f.corp_id = c.corp_id AND f.external_userid = c.external_userid AND LOWER(f.remark) LIKE $2 ESCAPE '\\'))
    AND ($3 = '' OR EXISTS (SELECT 1 FROM follow_relations f WHERE f.corp_id = c.corp_id AND f.external_userid = c.external_userid AND f.userid = $3))
    AND ($4 = '' OR EXISTS (SELECT 1 FROM follow_relation_tags t WHERE t.corp_id = c.corp_id AND t.external_userid = c.external_userid AND t.tag_id = $4))
    AND ($5 = '' OR EXISTS (SELECT 1 FROM follow_relations f WHERE f.corp_id = c.corp_id AND f.external_userid = c.external_userid AND f.state = $5))
    AND ($6 < 0 OR COALESCE((SELECT MIN(f.added_at) FROM follow_relations f WHERE f.corp_id = c.corp_id AND f.external_userid = c.external_userid), c.created_at) >= $6)
    AND ($7 < 0 OR COALESCE((SELECT MIN(f.added_at) FROM follow_relations f WHERE f.corp_id = c.corp_id AND f.external_userid = c.external_userid), c.created_at) < $7)
    AND ($8 = '' OR ($8 = 'lost') = NOT EXISTS (SELECT 1 FROM follow_relations f WHERE f.corp_id = c.corp_id AND f.external_userid = c.external_userid AND f.removed_at IS NULL))";

/// When a customer was first added: the earliest `added_at` of their follow relations, or when
/// Pond first saw them.
const FIRST_ADDED: &str = "COALESCE((SELECT MIN(f.added_at) FROM follow_relations f WHERE f.corp_id = c.corp_id AND f.external_userid = c.external_userid), c.created_at)";

/// One page of customers matching `filter`, in `order`.
pub async fn search(
    db: &Db,
    corp_id: i64,
    filter: &CustomerFilter,
    order: CustomerOrder,
    req: PageRequest,
) -> Result<Page<CustomerRow>> {
    search_as(db, corp_id, filter, ROW_COLUMNS, order, req).await
}

/// Like [`search`], but the customers themselves (for the API's list).
pub async fn search_customers(
    db: &Db,
    corp_id: i64,
    filter: &CustomerFilter,
    order: CustomerOrder,
    req: PageRequest,
) -> Result<Page<Customer>> {
    let columns: Vec<String> = COLUMNS.split(", ").map(|col| format!("c.{col}")).collect();
    let columns = format!("{}, {FIRST_ADDED} AS first_added_at", columns.join(", "));
    search_as(db, corp_id, filter, &columns, order, req).await
}

/// The query behind [`search`] and [`search_customers`]: `columns` must name `first_added_at`.
async fn search_as<T>(
    db: &Db,
    corp_id: i64,
    filter: &CustomerFilter,
    columns: &str,
    order: CustomerOrder,
    req: PageRequest,
) -> Result<Page<T>>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
        + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
        + Send
        + Unpin,
{
    let pattern = crate::db::like_pattern(&filter.search);
    let lost = match filter.lost {
        None => "",
        Some(true) => "lost",
        Some(false) => "live",
    };
    let order_by = match order {
        CustomerOrder::NewestFirst => "first_added_at DESC, c.id DESC",
        CustomerOrder::OldestFirst => "first_added_at ASC, c.id ASC",
        CustomerOrder::Name => "c.name ASC, c.id ASC",
    };
    let count_sql = format!("SELECT COUNT(*) FROM customers c WHERE {FILTER}");
    let list_sql = format!("SELECT {columns} FROM customers c WHERE {FILTER} ORDER BY {order_by} LIMIT $9 OFFSET $10");
    let (from, to) = (filter.added_from.unwrap_or(-1), filter.added_to.unwrap_or(-1));
    // The filter's parameters, $1 to $8, bound the same way for the count and the page.
    macro_rules! bind_filter {
        ($query:expr) => {
            $query
                .bind(corp_id)
                .bind(&pattern)
                .bind(&filter.userid)
                .bind(&filter.tag_id)
                .bind(&filter.state)
                .bind(from)
                .bind(to)
                .bind(lost)
        };
    }
    let total: i64 = read_db!(db, |pool| bind_filter!(sqlx::query_scalar(sqlx::AssertSqlSafe(count_sql.clone())))
        .fetch_one(pool)
        .await)?;
    let items: Vec<T> = read_db!(db, |pool| bind_filter!(sqlx::query_as(sqlx::AssertSqlSafe(list_sql.clone())))
        .bind(req.limit())
        .bind(req.offset())
        .fetch_all(pool)
        .await)?;
    Ok(Page::new(items, total, req))
}

/// The live follow relations (external_userid, userid) of several customers, for a listing.
pub async fn live_follows_of_many(db: &Db, corp_id: i64, external_userids: &[&str]) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for chunk in external_userids.chunks(200) {
        let marks: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT external_userid, userid FROM follow_relations
             WHERE corp_id = $1 AND removed_at IS NULL AND external_userid IN ({}) ORDER BY added_at",
            marks.join(", ")
        );
        let rows: Vec<(String, String)> = read_db!(db, |pool| {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(corp_id);
            for id in chunk {
                q = q.bind(*id);
            }
            q.fetch_all(pool).await
        })?;
        out.extend(rows);
    }
    Ok(out)
}

/// Sets the remark one employee keeps on one customer.
pub async fn set_follow_remark(db: &Db, corp_id: i64, follow: Follow<'_>, remark: &str) -> Result<()> {
    let Follow { external_userid, userid } = follow;
    crate::write_db!(db, |pool| {
        sqlx::query(
        "UPDATE follow_relations SET remark = $4, updated_at = $5 WHERE corp_id = $1 AND external_userid = $2 AND userid = $3"
    )
    .bind(corp_id)
    .bind(external_userid)
    .bind(userid)
    .bind(remark)
    .bind(now_ms())
    .execute(pool)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(())
}
