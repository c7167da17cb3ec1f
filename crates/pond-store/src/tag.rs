//! The corp's tag library (企业客户标签): tag groups and their tags. Deleted upstream → marked.

use pond_core::{Page, PageRequest};

use crate::{Conn, Db, Result, db::Listing, now_ms, on_conn, write_db};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagGroup {
    pub corp_id: i64,
    pub group_id: String,
    pub name: String,
    pub sort_order: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub corp_id: i64,
    pub tag_id: String,
    pub group_id: String,
    pub name: String,
    pub sort_order: i64,
}

/// A tag as listed: with its group's name and how many follow relations carry it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct TagListing {
    pub tag_id: String,
    pub name: String,
    pub group_id: String,
    pub group_name: String,
    pub customers: i64,
    pub deleted_at: Option<i64>,
}

pub async fn upsert_group(db: &Db, g: &TagGroup) -> Result<()> {
    write_db!(db, |pool| {
        sqlx::query(
            "INSERT INTO tag_groups (corp_id, group_id, name, sort_order, deleted_at, updated_at)
         VALUES ($1, $2, $3, $4, NULL, $5)
         ON CONFLICT (corp_id, group_id) DO UPDATE SET name = excluded.name, sort_order = excluded.sort_order,
            deleted_at = NULL, updated_at = excluded.updated_at",
        )
        .bind(g.corp_id)
        .bind(&g.group_id)
        .bind(&g.name)
        .bind(g.sort_order)
        .bind(now_ms())
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(())
}

pub async fn upsert_tag(db: &Db, t: &Tag) -> Result<()> {
    write_db!(db, |pool| {
        sqlx::query(
            "INSERT INTO tags (corp_id, tag_id, group_id, name, sort_order, deleted_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, NULL, $6)
         ON CONFLICT (corp_id, tag_id) DO UPDATE SET group_id = excluded.group_id, name = excluded.name,
            sort_order = excluded.sort_order, deleted_at = NULL, updated_at = excluded.updated_at",
        )
        .bind(t.corp_id)
        .bind(&t.tag_id)
        .bind(&t.group_id)
        .bind(&t.name)
        .bind(t.sort_order)
        .bind(now_ms())
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Marks a tag deleted upstream and removes it from every customer (as WeCom does). Returns
/// whether it was live.
pub async fn mark_tag_deleted(db: &Db, corp_id: i64, tag_id: &str) -> Result<bool> {
    Ok(delete(db, corp_id, &[tag_id.to_owned()], &[]).await?.tags > 0)
}

/// What [`delete`] changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deletion {
    /// Tags that were live and are now marked deleted (those of deleted groups included).
    pub tags: u64,
    /// Tag groups newly marked deleted.
    pub groups: u64,
    /// Tags taken off customers (follow relations).
    pub detached: u64,
}

impl Deletion {
    pub fn rows(&self) -> u64 {
        self.tags + self.groups + self.detached
    }
}

/// Marks tags and tag groups (with all their tags) deleted upstream, in one transaction, and takes
/// every deleted tag of the corp off its customers: WeCom removes a deleted tag from everyone
/// it was on, and says so in a single `delete` callback.
pub async fn delete(db: &Db, corp_id: i64, tag_ids: &[String], group_ids: &[String]) -> Result<Deletion> {
    let now = now_ms();
    let mut out = Deletion::default();
    let mut tx = db.begin().await?;
    for group_id in group_ids {
        out.groups += on_conn!(Conn::Tx(&mut tx), |c| sqlx::query(
            "UPDATE tag_groups SET deleted_at = $3, updated_at = $3
             WHERE corp_id = $1 AND group_id = $2 AND deleted_at IS NULL"
        )
        .bind(corp_id)
        .bind(group_id)
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        out.tags += on_conn!(Conn::Tx(&mut tx), |c| {
            sqlx::query(
            "UPDATE tags SET deleted_at = $3, updated_at = $3 WHERE corp_id = $1 AND group_id = $2 AND deleted_at IS NULL"
        )
        .bind(corp_id)
        .bind(group_id)
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
        })?;
    }
    for tag_id in tag_ids {
        out.tags += on_conn!(Conn::Tx(&mut tx), |c| {
            sqlx::query(
            "UPDATE tags SET deleted_at = $3, updated_at = $3 WHERE corp_id = $1 AND tag_id = $2 AND deleted_at IS NULL"
        )
        .bind(corp_id)
        .bind(tag_id)
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
        })?;
    }
    out.detached = on_conn!(Conn::Tx(&mut tx), |c| sqlx::query(
        "DELETE FROM follow_relation_tags WHERE corp_id = $1 AND tag_id IN (
            SELECT tag_id FROM tags WHERE corp_id = $1 AND deleted_at IS NOT NULL)"
    )
    .bind(corp_id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    tx.commit().await?;
    Ok(out)
}

/// Lists tags whose name or group name contains `search`, grouped by tag group.
pub async fn list(db: &Db, corp_id: i64, search: Option<&str>, req: PageRequest) -> Result<Page<TagListing>> {
    Listing {
        columns: "t.tag_id, t.name, t.group_id, COALESCE(g.name, '') AS group_name,
                  (SELECT COUNT(*) FROM follow_relation_tags f WHERE f.corp_id = t.corp_id AND f.tag_id = t.tag_id) AS customers,
                  t.deleted_at",
        from: "tags t LEFT JOIN tag_groups g ON g.corp_id = t.corp_id AND g.group_id = t.group_id",
        filter: "t.corp_id = $1 AND (LOWER(t.name) LIKE $2 ESCAPE '\\' OR LOWER(COALESCE(g.name, '')) LIKE $2 ESCAPE '\\')",
        order_by: "COALESCE(g.sort_order, 0), t.group_id, t.sort_order, t.tag_id",
    }
    .fetch(db, corp_id, search, req)
    .await
}

/// Live tags of a corp: (tag_id, group name, tag name).
pub async fn all_live(db: &Db, corp_id: i64) -> Result<Vec<(String, String, String)>> {
    Ok(crate::read_db!(db, |pool| sqlx::query_as(
        "SELECT t.tag_id, COALESCE(g.name, ''), t.name FROM tags t
         LEFT JOIN tag_groups g ON g.corp_id = t.corp_id AND g.group_id = t.group_id
         WHERE t.corp_id = $1 AND t.deleted_at IS NULL ORDER BY t.tag_id"
    )
    .bind(corp_id)
    .fetch_all(pool)
    .await)?)
}

/// One live tag: (group id, group name, tag name, sort order), if it exists.
pub async fn get_live(db: &Db, corp_id: i64, tag_id: &str) -> Result<Option<(String, String, String, i64)>> {
    Ok(crate::read_db!(db, |pool| sqlx::query_as(
        "SELECT t.group_id, COALESCE(g.name, ''), t.name, t.sort_order FROM tags t
         LEFT JOIN tag_groups g ON g.corp_id = t.corp_id AND g.group_id = t.group_id
         WHERE t.corp_id = $1 AND t.tag_id = $2 AND t.deleted_at IS NULL"
    )
    .bind(corp_id)
    .bind(tag_id)
    .fetch_optional(pool)
    .await)?)
}

/// Marks a tag group and all its tags deleted upstream, and takes them off customers.
pub async fn mark_group_deleted(db: &Db, corp_id: i64, group_id: &str) -> Result<()> {
    delete(db, corp_id, &[], &[group_id.to_owned()]).await?;
    Ok(())
}

/// The live tag library: groups, and tags with their group.
pub async fn library(db: &Db, corp_id: i64) -> Result<(Vec<TagGroup>, Vec<Tag>)> {
    let groups: Vec<(String, String, i64)> = crate::read_db!(db, |pool| {
        sqlx::query_as(
        "SELECT group_id, name, sort_order FROM tag_groups WHERE corp_id = $1 AND deleted_at IS NULL ORDER BY group_id"
    )
    .bind(corp_id)
    .fetch_all(pool)
    .await
    })?;
    let tags: Vec<(String, String, String, i64)> = crate::read_db!(db, |pool| {
        sqlx::query_as(
        "SELECT tag_id, group_id, name, sort_order FROM tags WHERE corp_id = $1 AND deleted_at IS NULL ORDER BY tag_id"
    )
    .bind(corp_id)
    .fetch_all(pool)
    .await
    })?;
    Ok((
        groups
            .into_iter()
            .map(|(group_id, name, sort_order)| TagGroup { corp_id, group_id, name, sort_order })
            .collect(),
        tags.into_iter()
            .map(|(tag_id, group_id, name, sort_order)| Tag { corp_id, tag_id, group_id, name, sort_order })
            .collect(),
    ))
}
