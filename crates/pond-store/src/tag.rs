//! The corp's tag library (企业客户标签): tag groups and their tags. Deleted upstream → marked.

use pond_core::{Page, PageRequest};

use crate::{Db, Result, db::Listing, now_ms, write_db};

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

/// Marks a tag deleted upstream. Returns whether it was live.
pub async fn mark_tag_deleted(db: &Db, corp_id: i64, tag_id: &str) -> Result<bool> {
    let now = now_ms();
    let n = write_db!(db, |pool| {
        sqlx::query(
        "UPDATE tags SET deleted_at = $3, updated_at = $3 WHERE corp_id = $1 AND tag_id = $2 AND deleted_at IS NULL"
    )
    .bind(corp_id)
    .bind(tag_id)
    .bind(now)
    .execute(pool)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(n > 0)
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

/// Marks a tag group and all its tags deleted upstream.
pub async fn mark_group_deleted(db: &Db, corp_id: i64, group_id: &str) -> Result<()> {
    let now = now_ms();
    write_db!(db, |pool| {
        async {
        let mut tx = pool.begin().await?;
        sqlx::query("UPDATE tag_groups SET deleted_at = $3, updated_at = $3 WHERE corp_id = $1 AND group_id = $2 AND deleted_at IS NULL")
            .bind(corp_id)
            .bind(group_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE tags SET deleted_at = $3, updated_at = $3 WHERE corp_id = $1 AND group_id = $2 AND deleted_at IS NULL")
            .bind(corp_id)
            .bind(group_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }
    .await
    })?;
    Ok(())
}
