//! Customer groups (客户群) and their members. Dismissed groups and members who left are marked.

use pond_core::{Page, PageRequest};

use crate::{Db, Result, db::Listing, now_ms, read_db, write_db};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct CustomerGroup {
    pub corp_id: i64,
    pub chat_id: String,
    pub name: String,
    pub owner_userid: String,
    pub notice: String,
    pub created_at: i64,
    pub dismissed_at: Option<i64>,
}

/// A group as listed, with its current member count.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct GroupListing {
    pub chat_id: String,
    pub name: String,
    pub owner_userid: String,
    pub members: i64,
    pub created_at: i64,
    pub dismissed_at: Option<i64>,
}

/// A member of a group: staff (`member_type` 1) or customer (2), as WeCom numbers them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct GroupMember {
    pub corp_id: i64,
    pub chat_id: String,
    pub member_id: String,
    pub member_type: i64,
    pub join_time: i64,
    pub join_scene: i64,
    pub invitor_userid: String,
    pub group_nickname: String,
    pub left_at: Option<i64>,
}

pub async fn upsert(db: &Db, g: &CustomerGroup) -> Result<()> {
    write_db!(db, |pool| {
        sqlx::query(
        "INSERT INTO customer_groups (corp_id, chat_id, name, owner_userid, notice, created_at, dismissed_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (corp_id, chat_id) DO UPDATE SET name = excluded.name, owner_userid = excluded.owner_userid,
            notice = excluded.notice, dismissed_at = excluded.dismissed_at, updated_at = excluded.updated_at"
    )
    .bind(g.corp_id)
    .bind(&g.chat_id)
    .bind(&g.name)
    .bind(&g.owner_userid)
    .bind(&g.notice)
    .bind(g.created_at)
    .bind(g.dismissed_at)
    .bind(now_ms())
    .execute(pool)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(())
}

pub async fn upsert_member(db: &Db, m: &GroupMember) -> Result<()> {
    write_db!(db, |pool| {
        sqlx::query(
        "INSERT INTO group_members (corp_id, chat_id, member_id, member_type, join_time, join_scene, invitor_userid,
                                    group_nickname, left_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (corp_id, chat_id, member_id) DO UPDATE SET member_type = excluded.member_type,
            join_time = excluded.join_time, join_scene = excluded.join_scene,
            invitor_userid = excluded.invitor_userid, group_nickname = excluded.group_nickname,
            left_at = excluded.left_at, updated_at = excluded.updated_at"
    )
    .bind(m.corp_id)
    .bind(&m.chat_id)
    .bind(&m.member_id)
    .bind(m.member_type)
    .bind(m.join_time)
    .bind(m.join_scene)
    .bind(&m.invitor_userid)
    .bind(&m.group_nickname)
    .bind(m.left_at)
    .bind(now_ms())
    .execute(pool)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Marks a member as having left. Returns whether they were present.
pub async fn mark_member_left(db: &Db, corp_id: i64, chat_id: &str, member_id: &str, at: i64) -> Result<bool> {
    let n = write_db!(db, |pool| sqlx::query(
        "UPDATE group_members SET left_at = $4, updated_at = $4
         WHERE corp_id = $1 AND chat_id = $2 AND member_id = $3 AND left_at IS NULL"
    )
    .bind(corp_id)
    .bind(chat_id)
    .bind(member_id)
    .bind(at)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

/// Current and past members of a group, in joining order.
pub async fn members(db: &Db, corp_id: i64, chat_id: &str) -> Result<Vec<GroupMember>> {
    Ok(read_db!(db, |pool| {
        sqlx::query_as(
        "SELECT corp_id, chat_id, member_id, member_type, join_time, join_scene, invitor_userid, group_nickname, left_at
         FROM group_members WHERE corp_id = $1 AND chat_id = $2 ORDER BY join_time, member_id"
    )
    .bind(corp_id)
    .bind(chat_id)
    .fetch_all(pool)
    .await
    })?)
}

/// Lists groups whose name or chat id contains `search`, newest first.
pub async fn list(db: &Db, corp_id: i64, search: Option<&str>, req: PageRequest) -> Result<Page<GroupListing>> {
    Listing {
        columns: "g.chat_id, g.name, g.owner_userid,
                  (SELECT COUNT(*) FROM group_members m WHERE m.corp_id = g.corp_id AND m.chat_id = g.chat_id AND m.left_at IS NULL) AS members,
                  g.created_at, g.dismissed_at",
        from: "customer_groups g",
        filter: "g.corp_id = $1 AND (LOWER(g.name) LIKE $2 ESCAPE '\\' OR LOWER(g.chat_id) LIKE $2 ESCAPE '\\')",
        order_by: "g.created_at DESC, g.chat_id",
    }
    .fetch(db, corp_id, search, req)
    .await
}

/// Chat ids of a corp's groups that are not dismissed.
pub async fn live_ids(db: &Db, corp_id: i64) -> Result<Vec<String>> {
    Ok(read_db!(db, |pool| sqlx::query_scalar(
        "SELECT chat_id FROM customer_groups WHERE corp_id = $1 AND dismissed_at IS NULL ORDER BY chat_id"
    )
    .bind(corp_id)
    .fetch_all(pool)
    .await)?)
}

/// Live groups with name, owner and current member ids (for comparisons).
pub async fn all_live(db: &Db, corp_id: i64) -> Result<Vec<(CustomerGroup, Vec<String>)>> {
    let groups: Vec<CustomerGroup> = read_db!(db, |pool| sqlx::query_as(
        "SELECT corp_id, chat_id, name, owner_userid, notice, created_at, dismissed_at FROM customer_groups
         WHERE corp_id = $1 AND dismissed_at IS NULL ORDER BY chat_id"
    )
    .bind(corp_id)
    .fetch_all(pool)
    .await)?;
    let members: Vec<(String, String)> = read_db!(db, |pool| {
        sqlx::query_as(
        "SELECT chat_id, member_id FROM group_members WHERE corp_id = $1 AND left_at IS NULL ORDER BY chat_id, member_id"
    )
    .bind(corp_id)
    .fetch_all(pool)
    .await
    })?;
    Ok(groups
        .into_iter()
        .map(|g| {
            let ids = members.iter().filter(|(c, _)| *c == g.chat_id).map(|(_, m)| m.clone()).collect();
            (g, ids)
        })
        .collect())
}

/// Marks a group dismissed (and its members gone).
pub async fn mark_dismissed(db: &Db, corp_id: i64, chat_id: &str) -> Result<()> {
    let now = now_ms();
    write_db!(db, |pool| {
        async {
        let mut tx = pool.begin().await?;
        sqlx::query("UPDATE customer_groups SET dismissed_at = $3, updated_at = $3 WHERE corp_id = $1 AND chat_id = $2 AND dismissed_at IS NULL")
            .bind(corp_id)
            .bind(chat_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE group_members SET left_at = $3, updated_at = $3 WHERE corp_id = $1 AND chat_id = $2 AND left_at IS NULL")
            .bind(corp_id)
            .bind(chat_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }
    .await
    })?;
    Ok(())
}

/// Makes the stored membership equal `members`: upserts them, marks the others as left.
/// Returns the ids of members who joined, and the (previous rows of) members who left.
pub async fn set_members(
    db: &Db,
    corp_id: i64,
    chat_id: &str,
    members: &[GroupMember],
) -> Result<(Vec<String>, Vec<GroupMember>)> {
    let before: Vec<GroupMember> = self::members(db, corp_id, chat_id).await?;
    let now = now_ms();
    let mut joined = Vec::new();
    for m in members {
        if !before.iter().any(|b| b.member_id == m.member_id && b.left_at.is_none()) {
            joined.push(m.member_id.clone());
        }
        upsert_member(db, m).await?;
    }
    let mut left = Vec::new();
    for b in before.iter().filter(|b| b.left_at.is_none()) {
        if !members.iter().any(|m| m.member_id == b.member_id) {
            mark_member_left(db, corp_id, chat_id, &b.member_id, now).await?;
            left.push(b.clone());
        }
    }
    Ok((joined, left))
}

/// Members still in the corp's live groups: (customers, employees).
pub async fn member_counts(db: &Db, corp_id: i64) -> Result<(i64, i64)> {
    let rows: Vec<(i64, i64)> = read_db!(db, |pool| sqlx::query_as(
        "SELECT m.member_type, COUNT(*) FROM group_members m
         JOIN customer_groups g ON g.corp_id = m.corp_id AND g.chat_id = m.chat_id
         WHERE m.corp_id = $1 AND m.left_at IS NULL AND g.dismissed_at IS NULL GROUP BY m.member_type"
    )
    .bind(corp_id)
    .fetch_all(pool)
    .await)?;
    let of = |t: i64| rows.iter().find(|(k, _)| *k == t).map(|(_, n)| *n).unwrap_or(0);
    Ok((of(2), of(1)))
}
