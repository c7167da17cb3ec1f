//! The incremental reconcile: brings a synced picture of a corp up to date after callbacks may
//! have been missed, writing only what differs.
//!
//! WeCom has no "what changed since" for customers, so it reads what may have changed as cheaply
//! as WeCom allows, and says so:
//!
//! | what | WeCom calls | written |
//! |---|---|---|
//! | departments | `department/list` (1) | departments that differ |
//! | staff | `user/list` per root department | employees that differ; vanished ones resigned |
//! | tag library | `get_corp_tag_list` (1) | tags that differ; vanished tags and groups marked deleted and taken off customers |
//! | customers | `get_follow_user_list` (1) + `batch/get_by_user` pages of 100 relations; `get` once per customer that differs | customers that differ (their relations and tags) |
//! | groups | `groupchat/list` pages of 1,000; `groupchat/get` per new group | new groups; vanished ones dismissed |
//!
//! Known groups' members and names are not read (one `groupchat/get` per group would make this as
//! dear as a full sync); changes to them missed during downtime wait for the next full sync
//! (`sync.full_sync_interval_secs`).
//!
//! A customer that differs is read again on its own (`externalcontact/get`) just before it is
//! written, as the inbox worker reads one: pages read earlier may predate a callback applied
//! meanwhile, and a customer added after their employee's page was read is missing from it.

use std::collections::{BTreeMap, BTreeSet};

use pond_core::StaffStatus;
use pond_store::{customer, group, staff};
use tokio::task::JoinSet;
use wecom::Client;

use super::{
    CustomerNow, GROUP_GONE, RunCtx, customer_data, fetch_customer, snapshot, staff_row, store_departments,
    store_group, sync_tags,
};
use crate::AppError;

/// Customers read again at once (`externalcontact/get`).
const REREADS_IN_FLIGHT: usize = 16;
/// Snapshots written per transaction.
const SNAPSHOTS_PER_TX: usize = 200;

/// What an incremental reconcile checked and changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct IncrementalSummary {
    /// Customers and follow relations WeCom lists (all of them were compared).
    pub customers: usize,
    pub follows: usize,
    /// Customers written because they differed (new, edited, relations or tags changed).
    pub customers_changed: usize,
    /// Customers left with no relation, marked removed.
    pub customers_removed: usize,
    /// Tags and tag groups new or renamed.
    pub tags_changed: usize,
    /// Tags and tag groups marked deleted.
    pub tags_deleted: usize,
    /// Deleted tags taken off customers.
    pub tags_detached: usize,
    /// Employees and departments written because they differed (or vanished).
    pub staff_changed: usize,
    pub departments_changed: usize,
    pub groups_added: usize,
    pub groups_dismissed: usize,
}

impl std::fmt::Display for IncrementalSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} customers ({} follow relations) checked: {} changed, {} removed; {} tags changed, {} deleted, \
             {} taken off customers; {} staff and {} departments changed; {} new groups, {} dismissed",
            self.customers,
            self.follows,
            self.customers_changed,
            self.customers_removed,
            self.tags_changed,
            self.tags_deleted,
            self.tags_detached,
            self.staff_changed,
            self.departments_changed,
            self.groups_added,
            self.groups_dismissed
        )
    }
}

impl IncrementalSummary {
    /// Reads back a finished run's stored summary (`Display` followed by ` in 1.2 s`).
    pub fn from_stored(text: &str) -> Option<(IncrementalSummary, f64)> {
        let numbers = super::numbers_in(text)?;
        let [
            customers,
            follows,
            changed,
            removed,
            tags_changed,
            deleted,
            detached,
            staff,
            departments,
            added,
            dismissed,
            seconds,
        ] = numbers[..]
        else {
            return None;
        };
        let summary = IncrementalSummary {
            customers: customers as usize,
            follows: follows as usize,
            customers_changed: changed as usize,
            customers_removed: removed as usize,
            tags_changed: tags_changed as usize,
            tags_deleted: deleted as usize,
            tags_detached: detached as usize,
            staff_changed: staff as usize,
            departments_changed: departments as usize,
            groups_added: added as usize,
            groups_dismissed: dismissed as usize,
        };
        (format!("{summary} in {seconds:.1} s") == text).then_some((summary, seconds))
    }
}

/// Pond's current picture of the corp's customers, indexed for comparing.
struct Known {
    customers: BTreeMap<String, customer::Customer>,
    /// Live relations by customer, then employee.
    follows: BTreeMap<String, BTreeMap<String, customer::FollowRelation>>,
    tags: BTreeMap<(String, String), BTreeSet<String>>,
}

impl Known {
    async fn read(db: &pond_store::Db, corp_id: i64) -> Result<Known, AppError> {
        let customers = customer::all(db, corp_id).await?.into_iter().map(|c| (c.external_userid.clone(), c)).collect();
        let mut follows: BTreeMap<String, BTreeMap<String, customer::FollowRelation>> = BTreeMap::new();
        for f in customer::all_live_follows(db, corp_id).await? {
            follows.entry(f.external_userid.clone()).or_default().insert(f.userid.clone(), f);
        }
        let mut tags: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
        for (e, u, t) in customer::all_follow_tags(db, corp_id).await? {
            tags.entry((e, u)).or_default().insert(t);
        }
        Ok(Known { customers, follows, tags })
    }

    /// Whether storing `snap` would change Pond's picture.
    fn differs(&self, snap: &customer::Snapshot) -> bool {
        let live = self.follows.get(&snap.external_userid);
        let stored = self.customers.get(&snap.external_userid);
        let (Some(data), false) = (&snap.data, snap.follows.is_empty()) else {
            // Gone: a change only if Pond still holds them live.
            return stored.is_some_and(|c| c.removed_at.is_none()) || live.is_some_and(|l| !l.is_empty());
        };
        let Some(c) = stored else { return true };
        let same_customer = c.removed_at.is_none()
            && c.name == data.name
            && c.customer_type == data.customer_type
            && c.avatar == data.avatar
            && c.gender == data.gender
            && c.unionid == data.unionid
            && c.corp_name == data.corp_name;
        if !same_customer {
            return true;
        }
        let empty = BTreeMap::new();
        let live = live.unwrap_or(&empty);
        if live.len() != snap.follows.len() {
            return true;
        }
        snap.follows.iter().any(|(relation, tag_ids)| {
            let tags: BTreeSet<String> = tag_ids.iter().cloned().collect();
            let known_tags = self.tags.get(&(relation.external_userid.clone(), relation.userid.clone()));
            live.get(&relation.userid) != Some(relation) || known_tags.map_or(!tags.is_empty(), |k| *k != tags)
        })
    }
}

/// Brings Pond's picture of the corp up to date (see the module documentation for what it reads).
pub async fn incremental(run: &mut RunCtx<'_>, client: &Client, corp_id: i64) -> Result<IncrementalSummary, AppError> {
    let db = run.db;
    let mut summary = IncrementalSummary::default();

    run.report("departments", 0, 1).await;
    let depts = client.department_list(None).await?;
    let before = run.rows;
    store_departments(run, corp_id, &depts, true).await?;
    summary.departments_changed = (run.rows - before) as usize;

    run.report("staff", 0, 1).await;
    let ids: BTreeSet<i64> = depts.iter().map(|d| d.id).collect();
    let known_staff: BTreeMap<String, staff::Staff> =
        staff::all(db, corp_id).await?.into_iter().map(|s| (s.userid.clone(), s)).collect();
    let mut seen_staff = BTreeSet::new();
    for root in depts.iter().filter(|d| !ids.contains(&d.parentid)) {
        for u in client.user_list(root.id, true).await? {
            if seen_staff.insert(u.userid.clone()) {
                let row = staff_row(corp_id, &u);
                if known_staff.get(&u.userid) != Some(&row) {
                    staff::upsert(db, &row).await?;
                    summary.staff_changed += 1;
                }
            }
        }
    }
    for s in known_staff.values() {
        if !seen_staff.contains(&s.userid) && s.status() == StaffStatus::Active {
            staff::set_status(db, corp_id, &s.userid, StaffStatus::Resigned).await?;
            summary.staff_changed += 1;
        }
    }
    run.rows += summary.staff_changed as u64;

    run.report("tags", 0, 1).await;
    let tags = sync_tags(run, client, corp_id, true).await?;
    (summary.tags_changed, summary.tags_deleted, summary.tags_detached) = (tags.changed, tags.deleted, tags.detached);

    // Customers: every relation WeCom lists, compared with Pond's.
    let follow_users = client.follow_user_list().await?;
    let chunks: Vec<&[String]> = follow_users.chunks(100).collect();
    let mut upstream: BTreeMap<String, customer::Snapshot> = BTreeMap::new();
    for (i, chunk) in chunks.iter().enumerate() {
        run.report("customers", i, chunks.len()).await;
        for item in client.batch_get_by_user_all(chunk).await? {
            let c = &item.external_contact;
            let f = &item.follow_info;
            let snap = upstream.entry(c.external_userid.clone()).or_insert_with(|| customer::Snapshot {
                external_userid: c.external_userid.clone(),
                data: Some(customer_data(c)),
                follows: Vec::new(),
            });
            let mut tag_ids = f.tag_id.clone();
            tag_ids.sort();
            tag_ids.dedup();
            snap.follows.push((follow_relation!(corp_id, c.external_userid, f), tag_ids));
            summary.follows += 1;
        }
    }
    summary.customers = upstream.len();
    let known = Known::read(db, corp_id).await?;
    // Customers Pond holds live that WeCom no longer lists.
    let vanished: BTreeSet<String> = known
        .customers
        .values()
        .filter(|c| c.removed_at.is_none())
        .map(|c| c.external_userid.clone())
        .chain(known.follows.keys().cloned())
        .filter(|e| !upstream.contains_key(e))
        .collect();
    for e in vanished {
        upstream.insert(e.clone(), customer::Snapshot { external_userid: e, data: None, follows: Vec::new() });
    }
    let differing: Vec<String> =
        upstream.values().filter(|s| known.differs(s)).map(|s| s.external_userid.clone()).collect();
    drop(upstream);

    // Each one that differs, read again as it is now, and written if it still differs.
    run.report("customers", chunks.len(), chunks.len()).await;
    let mut fresh = Vec::with_capacity(differing.len());
    for batch in differing.chunks(REREADS_IN_FLIGHT) {
        let mut reads = JoinSet::new();
        for e in batch {
            let (client, e) = (client.clone(), e.clone());
            reads.spawn(async move {
                let now = fetch_customer(&client, &e).await;
                (e, now)
            });
        }
        while let Some(done) = reads.join_next().await {
            let (e, now) = done.map_err(|e| AppError::Internal(format!("customer read failed: {e}")))?;
            let now: CustomerNow = now?;
            let snap = snapshot(corp_id, &e, &now);
            if known.differs(&snap) {
                fresh.push(snap);
            }
        }
    }
    fresh.sort_by(|a, b| a.external_userid.cmp(&b.external_userid));
    for chunk in fresh.chunks(SNAPSHOTS_PER_TX) {
        let mut tx = db.begin().await?;
        let ended = customer::store_snapshots(&mut tx, corp_id, chunk).await?;
        tx.commit().await?;
        run.rows += ended.len() as u64;
        for snap in chunk {
            if snap.data.is_some() && !snap.follows.is_empty() {
                summary.customers_changed += 1;
                run.rows += 1 + snap.follows.iter().map(|(_, tags)| 1 + tags.len() as u64).sum::<u64>();
            } else {
                summary.customers_removed += 1;
                run.rows += 1;
            }
        }
    }

    // Groups: new ones read, vanished ones dismissed.
    run.report("groups", 0, 1).await;
    let listed = client.group_chat_list_all().await?;
    let live: BTreeSet<String> = group::live_ids(db, corp_id).await?.into_iter().collect();
    let listed_ids: BTreeSet<&str> = listed.iter().map(|c| c.chat_id.as_str()).collect();
    for chat in listed.iter().filter(|c| !live.contains(&c.chat_id)) {
        match client.group_chat_get(&chat.chat_id).await {
            Ok(g) => {
                store_group(db, corp_id, &g).await?;
                summary.groups_added += 1;
                run.rows += 1 + g.member_list.len() as u64;
            }
            Err(e) if e.errcode() == Some(GROUP_GONE) => {}
            Err(e) => return Err(e.into()),
        }
    }
    for chat_id in live.iter().filter(|id| !listed_ids.contains(id.as_str())) {
        group::mark_dismissed(db, corp_id, chat_id).await?;
        summary.groups_dismissed += 1;
        run.rows += 1;
    }
    run.report("finished", 1, 1).await;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::IncrementalSummary;

    #[test]
    fn stored_summaries_read_back() {
        let s = IncrementalSummary {
            customers: 2000,
            follows: 2400,
            customers_changed: 3,
            customers_removed: 1,
            tags_changed: 0,
            tags_deleted: 1,
            tags_detached: 311,
            staff_changed: 0,
            departments_changed: 0,
            groups_added: 1,
            groups_dismissed: 0,
        };
        let text = format!("{s} in 0.4 s");
        assert_eq!(IncrementalSummary::from_stored(&text), Some((s, 0.4)));
        assert_eq!(IncrementalSummary::from_stored("2000 customers in 1 s"), None);
    }
}
