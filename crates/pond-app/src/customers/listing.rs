//! The customer list as operators use it: filters (employee, tag, channel, first-add dates,
//! lost), names instead of ids, the filtered set as CSV, and tagging many customers at once
//! (queued as jobs, so each WeCom call is retried until it succeeds or is recorded as failed).

use std::collections::HashMap;

use pond_core::{CorpZone, Page, PageRequest, ValidationError, ids, ids::Follow};
use pond_store::customer::{CustomerFilter, CustomerOrder, CustomerRow};

use crate::{
    App, AppError,
    acquisition::{
        channels::{Channel, ChannelNames},
        jobs::TagJob,
        stats::{date_of, parse_date},
    },
    audit::{self, AuditAction},
    auth::Actor,
    export::{Cell, CsvOut},
};

/// The largest export; beyond it the operator is asked to narrow the filter.
pub const EXPORT_LIMIT: u32 = 50_000;
/// The most customers one bulk action may tag.
pub const BULK_LIMIT: usize = 5_000;

/// A filter as typed into the console or API: dates are the corp's local `YYYY-MM-DD`.
#[derive(Debug, Clone, Default)]
pub struct FilterInput {
    pub search: String,
    pub userid: String,
    pub tag_id: String,
    pub state: String,
    pub from: String,
    pub to: String,
    /// `lost`, `live` or empty.
    pub status: String,
}

impl FilterInput {
    pub fn parse(&self, zone: CorpZone) -> Result<CustomerFilter, ValidationError> {
        let day = 86_400_000;
        let from = match self.from.trim() {
            "" => None,
            d => Some(parse_date(zone, "from", d)?),
        };
        let to = match self.to.trim() {
            "" => None,
            d => Some(parse_date(zone, "to", d)? + day),
        };
        let lost = match self.status.trim() {
            "" => None,
            "lost" => Some(true),
            "live" => Some(false),
            _ => return Err(ValidationError::new("status", "must be lost or live", "须为 lost 或 live")),
        };
        Ok(CustomerFilter {
            search: self.search.trim().to_owned(),
            userid: self.userid.trim().to_owned(),
            tag_id: self.tag_id.trim().to_owned(),
            state: self.state.trim().to_owned(),
            added_from: from,
            added_to: to,
            lost,
        })
    }
}

/// A customer row with the names an operator reads.
#[derive(Debug, Clone)]
pub struct CustomerListing {
    pub row: CustomerRow,
    /// The channel of the first add.
    pub channel: Channel,
    /// Names of the employees still connected.
    pub staff: Vec<String>,
}

/// One page of the customers themselves matching `filter` (the API's list).
pub async fn customers(
    app: &App,
    corp_id: i64,
    filter: &CustomerFilter,
    order: CustomerOrder,
    req: PageRequest,
) -> Result<Page<pond_store::customer::Customer>, AppError> {
    Ok(pond_store::customer::search_customers(&app.db, corp_id, filter, order, req).await?)
}

/// One page of customers matching `filter`.
pub async fn list(
    app: &App,
    corp_id: i64,
    filter: &CustomerFilter,
    order: CustomerOrder,
    req: PageRequest,
) -> Result<Page<CustomerListing>, AppError> {
    let page = pond_store::customer::search(&app.db, corp_id, filter, order, req).await?;
    named(app, corp_id, page).await
}

async fn named(app: &App, corp_id: i64, page: Page<CustomerRow>) -> Result<Page<CustomerListing>, AppError> {
    let channels = ChannelNames::load(app, corp_id).await?;
    let ids: Vec<&str> = page.items.iter().map(|r| r.external_userid.as_str()).collect();
    let follows = pond_store::customer::live_follows_of_many(&app.db, corp_id, &ids).await?;
    let names = crate::pickers::staff_names(app, corp_id).await?;
    let mut staff_of: HashMap<String, Vec<String>> = HashMap::new();
    for (external_userid, userid) in follows {
        let name = names.of(&userid);
        staff_of.entry(external_userid).or_default().push(name);
    }
    let Page { items, total, page, per_page } = page;
    let items = items
        .into_iter()
        .map(|row| CustomerListing {
            channel: channels.resolve(&row.first_state),
            staff: staff_of.remove(&row.external_userid).unwrap_or_default(),
            row,
        })
        .collect();
    Ok(Page { items, total, page, per_page })
}

/// The customers matching `filter` as CSV (UTF-8 with BOM, so Excel and WPS read the Chinese),
/// audited; refused when more than [`EXPORT_LIMIT`] match.
pub async fn export_csv(app: &App, actor: &Actor, corp_id: i64, filter: &CustomerFilter) -> Result<String, AppError> {
    let zone = crate::acquisition::routing::corp_zone(app, corp_id).await?;
    let first = pond_store::customer::search(
        &app.db,
        corp_id,
        filter,
        CustomerOrder::NewestFirst,
        PageRequest::new(Some(1), Some(1)),
    )
    .await?;
    if first.total > i64::from(EXPORT_LIMIT) {
        return Err(ValidationError::new(
            "filter",
            format!("{} customers match; narrow the filter to at most {EXPORT_LIMIT}", first.total),
            format!("共 {} 位客户符合条件，请缩小筛选范围（最多 {EXPORT_LIMIT} 位）", first.total),
        )
        .into());
    }
    let mut out = CsvOut::new(&["客户", "external_userid", "企业", "首次添加", "渠道", "跟进员工", "状态"]);
    let mut page_no = 1;
    loop {
        let page =
            list(app, corp_id, filter, CustomerOrder::NewestFirst, PageRequest::new(Some(page_no), Some(500))).await?;
        for c in &page.items {
            let status = if c.row.live_follows > 0 { "好友" } else { "已流失" };
            out.row(&[
                Cell::Text(&c.row.name),
                Cell::Text(&c.row.external_userid),
                Cell::Text(&c.row.corp_name),
                Cell::Text(&date_of(zone, c.row.first_added_at)),
                Cell::Text(c.channel.name()),
                Cell::Text(&c.staff.join("、")),
                Cell::Text(status),
            ]);
        }
        if !page.has_next() {
            break;
        }
        page_no += 1;
    }
    audit::record(&app.db, corp_id, actor, AuditAction::CustomerExport, "customers", &format!("rows={}", first.total))
        .await?;
    Ok(out.finish())
}

/// Refuses tag ids that are not live tags of the corp.
async fn require_live_tags(app: &App, corp_id: i64, tag_ids: &[String]) -> Result<(), AppError> {
    let live: Vec<String> =
        pond_store::tag::all_live(&app.db, corp_id).await?.into_iter().map(|(id, _, _)| id).collect();
    match tag_ids.iter().find(|t| !live.contains(t)) {
        Some(unknown) => {
            Err(ValidationError::new("tags", format!("unknown tag {unknown}"), format!("标签 {unknown} 不存在")).into())
        }
        None => Ok(()),
    }
}

/// Queues putting `tag_ids` on each chosen customer, through every employee still connected to
/// them (WeCom tags per employee). Returns how many jobs were queued.
pub async fn bulk_tag(
    app: &App,
    actor: &Actor,
    corp_id: i64,
    external_userids: &[String],
    tag_ids: &[String],
) -> Result<usize, AppError> {
    if tag_ids.is_empty() {
        return Err(ValidationError::new("tags", "choose at least one tag", "请至少选择一个标签").into());
    }
    if external_userids.is_empty() {
        return Err(ValidationError::new("customers", "choose at least one customer", "请至少选择一位客户").into());
    }
    if external_userids.len() > BULK_LIMIT {
        return Err(ValidationError::new(
            "customers",
            format!("at most {BULK_LIMIT} customers at once"),
            format!("一次最多 {BULK_LIMIT} 位客户"),
        )
        .into());
    }
    require_live_tags(app, corp_id, tag_ids).await?;
    let ids: Vec<&str> = external_userids.iter().map(String::as_str).collect();
    let follows = pond_store::customer::live_follows_of_many(&app.db, corp_id, &ids).await?;
    let batch = format!("{}", pond_store::now_ms());
    let planned: Vec<_> = follows
        .iter()
        .map(|(external_userid, userid)| {
            TagJob::for_batch(&batch, Follow { external_userid, userid }, tag_ids.to_vec())
        })
        .collect();
    let jobs: Vec<_> = planned.iter().map(|p| p.as_new(corp_id)).collect();
    let mut tx = app.db.begin().await?;
    pond_store::jobs::enqueue_in(&mut tx, &jobs).await?;
    audit::record(
        &mut tx,
        corp_id,
        actor,
        AuditAction::CustomerBulkTag,
        "customers",
        &format!("customers={} follows={} tags={}", external_userids.len(), jobs.len(), tag_ids.join(",")),
    )
    .await?;
    tx.commit().await?;
    app.wake_worker.notify_one();
    Ok(jobs.len())
}

/// Changes the tags and the remark one employee keeps on one customer: written to WeCom first
/// (`externalcontact/mark_tag`, `externalcontact/remark`), then to Pond, then audited.
pub async fn edit_follow(
    app: &App,
    actor: &Actor,
    corp_id: i64,
    follow: Follow<'_>,
    tag_ids: &[String],
    remark: &str,
) -> Result<(), AppError> {
    let remark = remark.trim();
    if remark.chars().count() > 20 {
        return Err(ValidationError::new(
            "remark",
            "must be at most 20 characters (WeCom's limit)",
            "最多 20 个字符（企业微信的限制）",
        )
        .into());
    }
    let remark = ids::optional_text("remark", remark, 20)?;
    let remark = remark.as_str();
    let relation = pond_store::customer::follows_of(&app.db, corp_id, follow.external_userid)
        .await?
        .into_iter()
        .find(|f| f.userid == follow.userid && f.removed_at.is_none())
        .ok_or_else(|| AppError::NotFound("no live follow relation".into()))?;
    require_live_tags(app, corp_id, tag_ids).await?;
    let before = pond_store::customer::follow_tags(&app.db, corp_id, follow).await?;
    let add: Vec<String> = tag_ids.iter().filter(|t| !before.contains(t)).cloned().collect();
    let remove: Vec<String> = before.iter().filter(|t| !tag_ids.contains(t)).cloned().collect();
    let client = app.client(corp_id).await?;
    if !add.is_empty() || !remove.is_empty() {
        client.mark_tag(follow.userid, follow.external_userid, &add, &remove).await?;
    }
    if relation.remark != remark {
        client.remark(follow.userid, follow.external_userid, remark, &relation.description).await?;
    }
    let mut tags = tag_ids.to_vec();
    tags.sort();
    tags.dedup();
    pond_store::customer::set_follow_tags(&app.db, corp_id, follow, &tags).await?;
    pond_store::customer::set_follow_remark(&app.db, corp_id, follow, remark).await?;
    let detail = format!(
        "{}: tags +[{}] -[{}]; remark {:?} → {:?}",
        follow.userid,
        add.join(","),
        remove.join(","),
        relation.remark,
        remark
    );
    audit::record(&app.db, corp_id, actor, AuditAction::CustomerEdit, follow.external_userid, &detail).await?;
    Ok(())
}
