//! The customer center: one customer with everything Pond knows of them (follow relations with
//! employees' and tags' names, timeline, welcome outcomes), the filtered list and its bulk actions
//! (`listing`), and the tag library (`tags`). Plain lists (staff, tags, groups) are one store read
//! each and are called directly.

use std::collections::HashMap;

use pond_store::{
    customer::{Customer, FollowRelation},
    timeline::TimelineEntry,
    welcome::WelcomeResult,
};

pub mod listing;
pub mod tags;

use crate::{App, AppError};

/// One follow relation with the names an operator reads.
#[derive(Debug, Clone)]
pub struct Follow {
    pub relation: FollowRelation,
    /// The employee's name (empty when unknown).
    pub staff_name: String,
    pub tag_ids: Vec<String>,
    /// `group/name` of each live tag.
    pub tag_names: Vec<String>,
}

/// A customer with their follow relations, timeline and welcome outcomes.
#[derive(Debug, Clone)]
pub struct CustomerDetail {
    pub customer: Customer,
    pub follows: Vec<Follow>,
    /// Newest first, at most 100.
    pub timeline: Vec<TimelineEntry>,
    pub welcome_results: Vec<WelcomeResult>,
}

pub async fn customer(app: &App, corp_id: i64, external_userid: &str) -> Result<CustomerDetail, AppError> {
    let db = &app.db;
    let customer = pond_store::customer::get(db, corp_id, external_userid).await?;
    let tag_names: HashMap<String, String> = pond_store::tag::all_live(db, corp_id)
        .await?
        .into_iter()
        .map(|(id, group, name)| (id, format!("{group}/{name}")))
        .collect();
    let relations = pond_store::customer::follows_of(db, corp_id, external_userid).await?;
    let userids: Vec<&str> = relations.iter().map(|f| f.userid.as_str()).collect();
    let names: HashMap<String, String> = pond_store::staff::names(db, corp_id, &userids).await?.into_iter().collect();
    let mut follows = Vec::with_capacity(relations.len());
    for relation in relations {
        let tag_ids = pond_store::customer::follow_tags(
            db,
            corp_id,
            pond_core::ids::Follow { external_userid, userid: &relation.userid },
        )
        .await?;
        let tag_names = tag_ids.iter().filter_map(|t| tag_names.get(t).cloned()).collect();
        let staff_name = names.get(&relation.userid).cloned().unwrap_or_default();
        follows.push(Follow { relation, staff_name, tag_ids, tag_names });
    }
    let mut timeline = pond_store::timeline::of_customer(db, corp_id, external_userid, 100).await?;
    // Adds that happened before Pond was connected come from the sync, not from an event: show
    // them as well, at the time WeCom gives (createtime), so the timeline is never wrongly empty.
    for f in &follows {
        let seen = timeline.iter().any(|e| e.userid == f.relation.userid && e.kind.starts_with("added"));
        if !seen {
            timeline.push(TimelineEntry {
                id: 0,
                external_userid: external_userid.to_owned(),
                userid: f.relation.userid.clone(),
                kind: "added_before_sync".into(),
                detail: String::new(),
                occurred_at: f.relation.added_at,
            });
        }
    }
    timeline.sort_by(|a, b| b.occurred_at.cmp(&a.occurred_at).then(b.id.cmp(&a.id)));
    let welcome_results = pond_store::welcome::results_for_customer(db, corp_id, external_userid).await?;
    Ok(CustomerDetail { customer, follows, timeline, welcome_results })
}
