//! The corp's tag library, edited from Pond: every change goes to WeCom first
//! (`externalcontact/add_corp_tag`, `edit_corp_tag`, `del_corp_tag`), then into Pond's mirror,
//! then the audit log. WeCom's own change callbacks confirm it later (applied idempotently).

use pond_core::{ValidationError, ids};
use pond_store::tag::{Tag, TagGroup};
use wecom::api::{AddCorpTag, NewTag};

use crate::{
    App, AppError,
    audit::{self, AuditAction},
    auth::Actor,
};

/// Adds a tag to a group, by the group's name (a new group is created when none has it).
pub async fn create(app: &App, actor: &Actor, corp_id: i64, group_name: &str, name: &str) -> Result<String, AppError> {
    let group_name = ids::required_text("group", group_name, 30)?;
    let name = ids::required_text("name", name, 30)?;
    let existing = pond_store::tag::all_live(&app.db, corp_id).await?;
    if existing.iter().any(|(_, g, n)| *g == group_name && *n == name) {
        return Err(ValidationError::new(
            "name",
            "this group already has a tag with that name",
            "该标签组已有同名标签",
        )
        .into());
    }
    let client = app.client(corp_id).await?;
    let group = client
        .add_corp_tag(&AddCorpTag {
            group_id: None,
            group_name: Some(group_name.clone()),
            order: None,
            tag: vec![NewTag { name: name.clone(), order: None }],
        })
        .await?;
    pond_store::tag::upsert_group(
        &app.db,
        &TagGroup {
            corp_id,
            group_id: group.group_id.clone(),
            name: group.group_name.clone(),
            sort_order: group.order,
        },
    )
    .await?;
    let mut tag_id = String::new();
    for t in &group.tag {
        pond_store::tag::upsert_tag(
            &app.db,
            &Tag {
                corp_id,
                tag_id: t.id.clone(),
                group_id: group.group_id.clone(),
                name: t.name.clone(),
                sort_order: t.order,
            },
        )
        .await?;
        if t.name == name {
            tag_id = t.id.clone();
        }
    }
    audit::record(
        &app.db,
        corp_id,
        actor,
        AuditAction::TagCreate,
        &format!("tag:{tag_id}"),
        &format!("{group_name}/{name}"),
    )
    .await?;
    Ok(tag_id)
}

/// Renames a tag.
pub async fn rename(app: &App, actor: &Actor, corp_id: i64, tag_id: &str, name: &str) -> Result<(), AppError> {
    let name = ids::required_text("name", name, 30)?;
    let (group_id, old, sort_order) = live_tag(app, corp_id, tag_id).await?;
    let client = app.client(corp_id).await?;
    client.edit_corp_tag(tag_id, Some(&name), None).await?;
    pond_store::tag::upsert_tag(
        &app.db,
        &Tag { corp_id, tag_id: tag_id.to_owned(), group_id, name: name.clone(), sort_order },
    )
    .await?;
    audit::record(
        &app.db,
        corp_id,
        actor,
        AuditAction::TagUpdate,
        &format!("tag:{tag_id}"),
        &format!("name: {old:?} → {name:?}"),
    )
    .await?;
    Ok(())
}

/// Deletes a tag: WeCom removes it from every customer.
pub async fn delete(app: &App, actor: &Actor, corp_id: i64, tag_id: &str) -> Result<(), AppError> {
    let (_, old, _) = live_tag(app, corp_id, tag_id).await?;
    let client = app.client(corp_id).await?;
    client.del_corp_tag(&[tag_id.to_owned()], &[]).await?;
    pond_store::tag::mark_tag_deleted(&app.db, corp_id, tag_id).await?;
    audit::record(&app.db, corp_id, actor, AuditAction::TagDelete, &format!("tag:{tag_id}"), &old).await?;
    Ok(())
}

/// (group id, name, sort order) of a live tag.
async fn live_tag(app: &App, corp_id: i64, tag_id: &str) -> Result<(String, String, i64), AppError> {
    let (group_id, _, name, order) = pond_store::tag::get_live(&app.db, corp_id, tag_id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("tag {tag_id}")))?;
    Ok((group_id, name, order))
}
