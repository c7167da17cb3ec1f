//! Keeping Pond's picture of a corp equal to WeCom's.
//!
//! * [`full_sync`] reads everything (departments, staff, customers with follow relations and
//!   tags, the tag library, customer groups with members) and marks what disappeared upstream as
//!   removed — never deleting it. It reports progress on its sync run.
//! * [`incremental`] brings a synced picture up to date after callbacks may have been missed:
//!   it reads what may have changed (as cheaply as WeCom allows) and writes only what differs.
//! * [`apply_event`] applies one callback from the inbox. Callbacks carry only ids, so each one
//!   re-reads the thing it names (customer, group, tag library, employee) and reconciles it. This
//!   makes applying idempotent and independent of arrival order: a late "added" event for a
//!   customer who has since deleted the employee still ends with the relation removed.
//! * [`runs`] records runs (one at a time per corp, with why they ran and their cost) and starts
//!   them by hand and periodically; [`catch_up`] starts incremental ones when callbacks may have
//!   been missed (at start, after downtime, on late or refused callbacks).

use pond_core::text::{clean_external, limits};
use std::collections::{BTreeMap, BTreeSet};

use crate::{
    AppError,
    feature::{Event, Features, PlannedJob, Plans},
};
use pond_core::StaffStatus;
use pond_store::{
    Db, StoreError, customer, department, group,
    inbox::InboxEvent,
    staff, sync_run, tag,
    timeline::{self, NewEntry},
};
use wecom::{
    Callback, Client, EventKind,
    api::{ExternalContact, ExternalContactDetail, GroupChat},
    events::{ContactEvent, ExternalChatChange, ExternalContactChange},
};

/// A follow relation as WeCom describes it (`follow_user` of `get`, `follow_info` of
/// `batch/get_by_user`: two types with the same fields), as the store keeps it: current.
macro_rules! follow_relation {
    ($corp_id:expr, $external_userid:expr, $f:expr) => {
        customer::FollowRelation {
            corp_id: $corp_id,
            external_userid: $external_userid.to_owned(),
            userid: $f.userid.clone(),
            // The client lets employees type longer remarks than the API's 20 characters.
            remark: pond_core::text::clean_external(&$f.remark, 64),
            description: pond_core::text::clean_external(&$f.description, pond_core::text::limits::DESCRIPTION),
            add_way: $f.add_way,
            state: $f.state.clone(),
            added_at: $f.createtime * 1000,
            removed_at: None,
        }
    };
}

// After the macro, so that they can use it.
pub mod catch_up;
pub mod incremental;
pub mod runs;

pub use runs::{reconcile_all, run_full_sync, spawn_full_sync, spawn_sync};

/// What a full sync found.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SyncSummary {
    pub departments: usize,
    pub staff: usize,
    pub customers: usize,
    pub follows: usize,
    pub tags: usize,
    pub groups: usize,
    pub marked_removed: usize,
}

impl std::fmt::Display for SyncSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} departments, {} staff, {} customers ({} follow relations), {} tags, {} groups; {} marked removed",
            self.departments, self.staff, self.customers, self.follows, self.tags, self.groups, self.marked_removed
        )
    }
}

impl SyncSummary {
    /// Reads back a finished run's stored summary (`Display` followed by ` in 1.2 s`): the counts
    /// and the seconds, so the console can show them in the reader's language.
    pub fn from_stored(text: &str) -> Option<(SyncSummary, f64)> {
        let numbers = numbers_in(text)?;
        let [departments, staff, customers, follows, tags, groups, marked_removed, seconds] = numbers[..] else {
            return None;
        };
        let summary = SyncSummary {
            departments: departments as usize,
            staff: staff as usize,
            customers: customers as usize,
            follows: follows as usize,
            tags: tags as usize,
            groups: groups as usize,
            marked_removed: marked_removed as usize,
        };
        // Only text this type wrote itself is read back.
        (format!("{summary} in {seconds:.1} s") == text).then_some((summary, seconds))
    }
}

/// The numbers in a stored summary, in order.
fn numbers_in(text: &str) -> Option<Vec<f64>> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter(|part| !part.is_empty() && *part != ".")
        .map(str::parse::<f64>)
        .collect::<Result<_, _>>()
        .ok()
}

/// A run in progress: where it reports its phase, and the rows it wrote so far.
pub struct RunCtx<'a> {
    pub db: &'a Db,
    /// The recorded run and the clock its progress is stamped with (`None`: work outside a run,
    /// e.g. an event refreshing the tag library).
    pub progress: Option<(i64, &'a crate::clock::Clock)>,
    /// Rows written (inserted, updated or deleted) so far.
    pub rows: u64,
}

impl<'a> RunCtx<'a> {
    /// Work that is not a recorded run.
    pub fn untracked(db: &'a Db) -> Self {
        RunCtx { db, progress: None, rows: 0 }
    }

    async fn report(&self, phase: &str, done: usize, total: usize) {
        if let Some((id, clock)) = self.progress {
            let _ = sync_run::progress(self.db, id, phase, done as i64, total as i64, clock.now_ms()).await;
        }
    }
}

/// Reads the whole corp from WeCom into Pond, rewriting every row it reads.
pub async fn full_sync(run: &mut RunCtx<'_>, client: &Client, corp_id: i64) -> Result<SyncSummary, AppError> {
    let db = run.db;
    let mut summary = SyncSummary::default();

    run.report("departments", 0, 1).await;
    let depts = client.department_list(None).await?;
    summary.marked_removed += store_departments(run, corp_id, &depts, false).await?;
    summary.departments = depts.len();

    run.report("staff", 0, 1).await;
    let ids: BTreeSet<i64> = depts.iter().map(|d| d.id).collect();
    let mut seen_staff = BTreeSet::new();
    for root in depts.iter().filter(|d| !ids.contains(&d.parentid)) {
        for u in client.user_list(root.id, true).await? {
            if seen_staff.insert(u.userid.clone()) {
                staff::upsert(db, &staff_row(corp_id, &u)).await?;
                run.rows += 1;
            }
        }
    }
    for s in staff::all(db, corp_id).await? {
        if !seen_staff.contains(&s.userid) && s.status() != StaffStatus::Resigned {
            staff::set_status(db, corp_id, &s.userid, StaffStatus::Resigned).await?;
            summary.marked_removed += 1;
            run.rows += 1;
        }
    }
    summary.staff = seen_staff.len();

    run.report("tags", 0, 1).await;
    let tags = sync_tags(run, client, corp_id, false).await?;
    summary.tags = tags.live;
    summary.marked_removed += tags.deleted;

    let follow_users = client.follow_user_list().await?;
    let chunks: Vec<&[String]> = follow_users.chunks(100).collect();
    let mut seen_follows: BTreeSet<(String, String)> = BTreeSet::new();
    let mut seen_customers: BTreeSet<String> = BTreeSet::new();
    for (i, chunk) in chunks.iter().enumerate() {
        run.report("customers", i, chunks.len()).await;
        for item in client.batch_get_by_user_all(chunk).await? {
            let c = &item.external_contact;
            if seen_customers.insert(c.external_userid.clone()) {
                customer::upsert(db, corp_id, &customer_data(c)).await?;
                run.rows += 1;
            }
            let f = &item.follow_info;
            customer::upsert_follow(db, &follow_relation!(corp_id, c.external_userid, f)).await?;
            customer::set_follow_tags(
                db,
                corp_id,
                pond_core::ids::Follow { external_userid: &c.external_userid, userid: &f.userid },
                &f.tag_id,
            )
            .await?;
            run.rows += 1 + f.tag_id.len() as u64;
            seen_follows.insert((c.external_userid.clone(), f.userid.clone()));
        }
    }
    let mut live_by_customer: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in customer::all_live_follows(db, corp_id).await? {
        live_by_customer.entry(f.external_userid).or_default().push(f.userid);
    }
    for (external_userid, userids) in live_by_customer {
        let keep: Vec<String> = userids
            .iter()
            .filter(|u| seen_follows.contains(&(external_userid.clone(), (*u).clone())))
            .cloned()
            .collect();
        if keep.len() != userids.len() {
            let ended = customer::reconcile_follows(db, corp_id, &external_userid, &keep).await?.len();
            summary.marked_removed += ended;
            run.rows += ended as u64;
        }
    }
    for (external_userid, _) in customer::all_live(db, corp_id).await? {
        if !seen_customers.contains(&external_userid) {
            customer::mark_removed(db, corp_id, &external_userid).await?;
            summary.marked_removed += 1;
            run.rows += 1;
        }
    }
    summary.customers = seen_customers.len();
    summary.follows = seen_follows.len();

    let chats = client.group_chat_list_all().await?;
    let mut seen_groups = BTreeSet::new();
    for (i, chat) in chats.iter().enumerate() {
        if i % 20 == 0 {
            run.report("groups", i, chats.len()).await;
        }
        match client.group_chat_get(&chat.chat_id).await {
            Ok(g) => {
                store_group(db, corp_id, &g).await?;
                run.rows += 1 + g.member_list.len() as u64;
                seen_groups.insert(g.chat_id);
            }
            Err(e) if e.errcode() == Some(GROUP_GONE) => {}
            Err(e) => return Err(e.into()),
        }
    }
    for chat_id in group::live_ids(db, corp_id).await? {
        if !seen_groups.contains(&chat_id) {
            group::mark_dismissed(db, corp_id, &chat_id).await?;
            summary.marked_removed += 1;
            run.rows += 1;
        }
    }
    summary.groups = seen_groups.len();
    if let Err(e) = db.refresh_statistics().await {
        tracing::warn!(error = %e, "could not refresh planner statistics after the sync");
    }
    run.report("finished", 1, 1).await;
    Ok(summary)
}

/// errcode for a group chat that no longer exists.
const GROUP_GONE: i64 = 40050;
/// errcodes meaning "this customer has no relation with the corp (any more)".
const CUSTOMER_GONE: [i64; 2] = [84061, 40096];
const USER_GONE: i64 = 60111;

fn staff_row(corp_id: i64, u: &wecom::api::User) -> staff::Staff {
    staff::Staff {
        corp_id,
        userid: u.userid.clone(),
        name: clean_external(&u.name, limits::STAFF_NAME),
        department_ids: u.department.iter().map(i64::to_string).collect::<Vec<_>>().join(","),
        position: clean_external(&u.position, 128),
        mobile: u.mobile.clone(),
        status: staff_status(u.status).as_str().into(),
        removed_at: None,
    }
}

/// WeCom's member status (1 active, 2 disabled, 4 not yet activated, 5 left the corp).
fn staff_status(wecom_status: i64) -> StaffStatus {
    match wecom_status {
        2 => StaffStatus::Disabled,
        4 => StaffStatus::Inactive,
        5 => StaffStatus::Resigned,
        _ => StaffStatus::Active,
    }
}

fn customer_data(c: &ExternalContact) -> customer::CustomerData {
    customer::CustomerData {
        external_userid: c.external_userid.clone(),
        name: clean_external(&c.name, limits::CUSTOMER_NAME),
        customer_type: c.kind,
        avatar: c.avatar.clone(),
        gender: c.gender,
        unionid: c.unionid.clone(),
        corp_name: clean_external(&c.corp_name, limits::CORP_NAME),
    }
}

/// Stores WeCom's departments and marks those it no longer lists removed. With `only_changed`,
/// rows equal to Pond's are not written. Returns how many were marked removed.
async fn store_departments(
    run: &mut RunCtx<'_>,
    corp_id: i64,
    depts: &[wecom::api::Department],
    only_changed: bool,
) -> Result<usize, AppError> {
    let db = run.db;
    let known: BTreeMap<i64, department::Department> =
        department::list(db, corp_id).await?.into_iter().map(|d| (d.dept_id, d)).collect();
    for d in depts {
        let row = department::Department {
            corp_id,
            dept_id: d.id,
            name: clean_external(&d.name, limits::DEPARTMENT_NAME),
            parent_id: (d.parentid != 0).then_some(d.parentid),
            sort_order: d.order,
            removed_at: None,
        };
        if !only_changed || known.get(&d.id) != Some(&row) {
            department::upsert(db, &row).await?;
            run.rows += 1;
        }
    }
    let seen: BTreeSet<i64> = depts.iter().map(|d| d.id).collect();
    let mut removed = 0;
    for (id, d) in &known {
        if d.removed_at.is_none() && !seen.contains(id) && department::mark_removed(db, corp_id, *id).await? {
            removed += 1;
            run.rows += 1;
        }
    }
    Ok(removed)
}

/// What [`sync_tags`] found and changed.
#[derive(Debug, Clone, Copy, Default)]
struct TagsSynced {
    /// Tags WeCom lists.
    live: usize,
    /// Tags and tag groups written because they were new or differed.
    changed: usize,
    /// Tags and tag groups marked deleted.
    deleted: usize,
    /// Deleted tags taken off customers.
    detached: usize,
}

/// Reads the tag library: tags and groups stored, those WeCom no longer lists marked deleted and
/// taken off every customer. With `only_changed`, rows equal to Pond's are not written.
async fn sync_tags(
    run: &mut RunCtx<'_>,
    client: &Client,
    corp_id: i64,
    only_changed: bool,
) -> Result<TagsSynced, AppError> {
    let db = run.db;
    let groups = client.corp_tag_list(&[], &[]).await?;
    let (known_groups, known_tags) = tag::library(db, corp_id).await?;
    let known_groups: BTreeMap<String, tag::TagGroup> =
        known_groups.into_iter().map(|g| (g.group_id.clone(), g)).collect();
    let known_tags: BTreeMap<String, tag::Tag> = known_tags.into_iter().map(|t| (t.tag_id.clone(), t)).collect();
    let mut out = TagsSynced::default();
    let (mut seen_groups, mut seen_tags) = (BTreeSet::new(), BTreeSet::new());
    for g in groups.iter().filter(|g| !g.deleted) {
        let row = tag::TagGroup {
            corp_id,
            group_id: g.group_id.clone(),
            name: clean_external(&g.group_name, limits::TAG_NAME),
            sort_order: g.order,
        };
        if !only_changed || known_groups.get(&g.group_id) != Some(&row) {
            tag::upsert_group(db, &row).await?;
            out.changed += 1;
        }
        seen_groups.insert(g.group_id.clone());
        for t in g.tag.iter().filter(|t| !t.deleted) {
            let row = tag::Tag {
                corp_id,
                tag_id: t.id.clone(),
                group_id: g.group_id.clone(),
                name: clean_external(&t.name, limits::TAG_NAME),
                sort_order: t.order,
            };
            if !only_changed || known_tags.get(&t.id) != Some(&row) {
                tag::upsert_tag(db, &row).await?;
                out.changed += 1;
            }
            seen_tags.insert(t.id.clone());
        }
    }
    let gone_tags: Vec<String> = known_tags.into_keys().filter(|id| !seen_tags.contains(id)).collect();
    let gone_groups: Vec<String> = known_groups.into_keys().filter(|id| !seen_groups.contains(id)).collect();
    // Also takes off customers any deleted tag still on them (events applied in another order).
    let deletion = tag::delete(db, corp_id, &gone_tags, &gone_groups).await?;
    out.live = seen_tags.len();
    out.deleted = (deletion.tags + deletion.groups) as usize;
    out.detached = deletion.detached as usize;
    run.rows += out.changed as u64 + deletion.rows();
    Ok(out)
}

async fn store_group(db: &Db, corp_id: i64, g: &GroupChat) -> Result<(Vec<String>, Vec<group::GroupMember>), AppError> {
    group::upsert(
        db,
        &group::CustomerGroup {
            corp_id,
            chat_id: g.chat_id.clone(),
            name: clean_external(&g.name, limits::GROUP_NAME),
            owner_userid: g.owner.clone(),
            notice: g.notice.clone(),
            created_at: g.create_time * 1000,
            dismissed_at: None,
        },
    )
    .await?;
    let members: Vec<group::GroupMember> = g
        .member_list
        .iter()
        .map(|m| group::GroupMember {
            corp_id,
            chat_id: g.chat_id.clone(),
            member_id: m.userid.clone(),
            member_type: m.kind,
            join_time: m.join_time * 1000,
            join_scene: m.join_scene,
            invitor_userid: m.invitor.as_ref().map(|i| i.userid.clone()).unwrap_or_default(),
            group_nickname: clean_external(&m.group_nickname, limits::GROUP_NAME),
            left_at: None,
        })
        .collect();
    Ok(group::set_members(db, corp_id, &g.chat_id, &members).await?)
}

/// A customer as WeCom describes them now: present (with every follow relation), or without any
/// relation to the corp.
#[derive(Debug, Clone)]
pub enum CustomerNow {
    Present(Box<ExternalContactDetail>),
    Gone,
}

impl CustomerNow {
    pub fn name(&self) -> Option<&str> {
        match self {
            CustomerNow::Present(d) => Some(&d.external_contact.name),
            CustomerNow::Gone => None,
        }
    }
}

/// Reads one customer from WeCom (no database access, so it can run outside a transaction).
pub async fn fetch_customer(client: &Client, external_userid: &str) -> Result<CustomerNow, AppError> {
    match client.external_contact_get(external_userid).await {
        Ok(detail) => Ok(CustomerNow::Present(Box::new(detail))),
        Err(e) if e.errcode().is_some_and(|c| CUSTOMER_GONE.contains(&c)) => Ok(CustomerNow::Gone),
        Err(e) => Err(e.into()),
    }
}

/// What [`fetch_customer`] read, as the store's snapshot of the customer.
pub fn snapshot(corp_id: i64, external_userid: &str, now: &CustomerNow) -> customer::Snapshot {
    let CustomerNow::Present(detail) = now else {
        return customer::Snapshot { external_userid: external_userid.to_owned(), data: None, follows: Vec::new() };
    };
    let follows = detail
        .follow_user
        .iter()
        .map(|f| {
            let relation = follow_relation!(corp_id, external_userid, f);
            let tags = f.tags.iter().filter(|t| t.kind == 1).map(|t| t.tag_id.clone()).collect();
            (relation, tags)
        })
        .collect();
    customer::Snapshot {
        external_userid: external_userid.to_owned(),
        data: Some(customer_data(&detail.external_contact)),
        follows,
    }
}

/// What a customer event adds besides the customer's own state: its timeline entry and the jobs
/// it queues (for an addition: welcome, channel tags, remark, code refresh).
#[derive(Debug, Clone)]
pub struct CustomerEffects {
    pub kind: &'static str,
    pub detail: String,
    pub jobs: Vec<PlannedJob>,
}

/// Decides a customer event's effects: its timeline entry, and the jobs every feature's plan
/// calls for (no I/O: the plans were preloaded for the batch).
pub fn customer_event_effects(
    plans: &Plans,
    corp_id: i64,
    event: &InboxEvent,
    cb: &Callback,
    now: &CustomerNow,
) -> Result<CustomerEffects, AppError> {
    let EventKind::ExternalContact(e) = &cb.kind else {
        return Err(AppError::Internal("not a customer event".into()));
    };
    let jobs = plans.plan(&Event { corp_id, stored: event, callback: cb, customer: Some(now) });
    let (kind, detail) = match &e.change {
        ExternalContactChange::Add { state, .. } => ("added", format!("state={state}")),
        ExternalContactChange::AddHalf { state, .. } => ("added_unverified", format!("state={state}")),
        ExternalContactChange::Edit => ("edited", String::new()),
        ExternalContactChange::DeletedByStaff { source } => ("deleted_by_staff", source.clone()),
        ExternalContactChange::DeletedByCustomer => ("deleted_by_customer", String::new()),
        ExternalContactChange::TransferFail { reason } => ("transfer_failed", reason.clone()),
    };
    Ok(CustomerEffects { kind, detail, jobs })
}

/// The timeline entry of a customer event with these effects.
pub fn timeline_entry<'e>(
    corp_id: i64,
    event: &InboxEvent,
    cb: &'e Callback,
    effects: &'e CustomerEffects,
) -> Option<NewEntry<'e>> {
    let EventKind::ExternalContact(e) = &cb.kind else { return None };
    Some(NewEntry {
        corp_id,
        external_userid: &e.external_userid,
        userid: &e.userid,
        kind: effects.kind,
        detail: &effects.detail,
        occurred_at: cb.create_time * 1000,
        inbox_id: Some(event.id),
    })
}

/// Applies one stored callback to Pond's picture of the corp, then queues the jobs every
/// feature's effects call for.
pub async fn apply_event(
    db: &Db,
    client: &Client,
    features: &Features,
    corp_id: i64,
    event: &InboxEvent,
) -> Result<(), AppError> {
    let cb =
        Callback::parse(&event.payload).map_err(|e| AppError::Internal(format!("stored event cannot be read: {e}")))?;
    let plans = features.preload(db, corp_id, &[&cb]).await?;
    let at = cb.create_time * 1000;
    let note = |external_userid: &str, userid: &str, kind: &'static str, detail: String| {
        let (e, u) = (external_userid.to_owned(), userid.to_owned());
        async move {
            timeline::record(
                db,
                &NewEntry {
                    corp_id,
                    external_userid: &e,
                    userid: &u,
                    kind,
                    detail: &detail,
                    occurred_at: at,
                    inbox_id: Some(event.id),
                },
            )
            .await
        }
    };
    match &cb.kind {
        EventKind::ExternalContact(e) => {
            let now = fetch_customer(client, &e.external_userid).await?;
            let effects = customer_event_effects(&plans, corp_id, event, &cb, &now)?;
            let jobs: Vec<pond_store::jobs::NewJob<'_>> = effects.jobs.iter().map(|j| j.as_new(corp_id)).collect();
            let mut tx = db.begin().await?;
            customer::store_snapshots(&mut tx, corp_id, &[snapshot(corp_id, &e.external_userid, &now)]).await?;
            timeline::record_many(
                &mut tx,
                &timeline_entry(corp_id, event, &cb, &effects).into_iter().collect::<Vec<_>>(),
            )
            .await?;
            pond_store::jobs::enqueue_in(&mut tx, &jobs).await?;
            tx.commit().await?;
            features.after_commit(corp_id, &[&cb]);
            return Ok(());
        }
        EventKind::ExternalChat(c) => {
            let result = match &c.change {
                ExternalChatChange::Dismiss => None,
                _ => match client.group_chat_get(&c.chat_id).await {
                    Ok(g) => Some(g),
                    Err(e) if e.errcode() == Some(GROUP_GONE) => None,
                    Err(e) => return Err(e.into()),
                },
            };
            match result {
                Some(g) => {
                    let (joined, left) = store_group(db, corp_id, &g).await?;
                    for m in g.member_list.iter().filter(|m| m.kind == 2 && joined.contains(&m.userid)) {
                        note(&m.userid, "", "joined_group", clean_external(&g.name, limits::GROUP_NAME)).await?;
                    }
                    for m in left.iter().filter(|m| m.member_type == 2) {
                        note(&m.member_id, "", "left_group", clean_external(&g.name, limits::GROUP_NAME)).await?;
                    }
                }
                None => group::mark_dismissed(db, corp_id, &c.chat_id).await?,
            }
        }
        EventKind::ExternalTag(t) => {
            if t.change == "delete" {
                if t.tag_type == "tag_group" {
                    tag::mark_group_deleted(db, corp_id, &t.id).await?;
                } else {
                    tag::mark_tag_deleted(db, corp_id, &t.id).await?;
                }
            } else {
                sync_tags(&mut RunCtx::untracked(db), client, corp_id, true).await?;
            }
        }
        EventKind::Contact(c) => match c {
            ContactEvent::UserCreated { userid } | ContactEvent::UserUpdated { userid, new_userid: None } => {
                refresh_staff(db, client, corp_id, userid).await?
            }
            ContactEvent::UserUpdated { userid, new_userid: Some(new) } => {
                refresh_staff(db, client, corp_id, new).await?;
                resign(db, corp_id, userid).await?;
            }
            ContactEvent::UserDeleted { userid } => resign(db, corp_id, userid).await?,
            ContactEvent::PartyCreated { .. }
            | ContactEvent::PartyUpdated { .. }
            | ContactEvent::PartyDeleted { .. } => {
                let depts = client.department_list(None).await?;
                store_departments(&mut RunCtx::untracked(db), corp_id, &depts, true).await?;
            }
        },
        EventKind::Unknown => {}
    }
    // Other events' effects: planned once their change is stored, queued after it.
    let jobs = plans.plan(&Event { corp_id, stored: event, callback: &cb, customer: None });
    if !jobs.is_empty() {
        let jobs: Vec<pond_store::jobs::NewJob<'_>> = jobs.iter().map(|j| j.as_new(corp_id)).collect();
        let mut tx = db.begin().await?;
        pond_store::jobs::enqueue_in(&mut tx, &jobs).await?;
        tx.commit().await?;
    }
    features.after_commit(corp_id, &[&cb]);
    Ok(())
}

async fn refresh_staff(db: &Db, client: &Client, corp_id: i64, userid: &str) -> Result<(), AppError> {
    match client.user_get(userid).await {
        Ok(u) => Ok(staff::upsert(db, &staff_row(corp_id, &u)).await?),
        Err(e) if e.errcode() == Some(USER_GONE) => resign(db, corp_id, userid).await,
        Err(e) => Err(e.into()),
    }
}

/// An employee left: marked resigned, and their customers await reassignment (WeCom lists them
/// as unassigned), so their follow relations end here.
async fn resign(db: &Db, corp_id: i64, userid: &str) -> Result<(), AppError> {
    match staff::set_status(db, corp_id, userid, StaffStatus::Resigned).await {
        Ok(()) | Err(StoreError::NotFound(_)) => {}
        Err(e) => return Err(e.into()),
    }
    customer::end_follows_of_staff(db, corp_id, userid).await?;
    Ok(())
}

#[cfg(test)]
mod summary_tests {
    use super::SyncSummary;

    #[test]
    fn stored_summaries_read_back() {
        let s = SyncSummary {
            departments: 3,
            staff: 50,
            customers: 2000,
            follows: 2400,
            tags: 12,
            groups: 20,
            marked_removed: 0,
        };
        let text = format!("{s} in 2.5 s");
        assert_eq!(SyncSummary::from_stored(&text), Some((s, 2.5)));
        assert_eq!(SyncSummary::from_stored("something else 1 2"), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_active_wecom_members_are_active_staff() {
        let statuses: Vec<StaffStatus> = [1, 2, 4, 5].into_iter().map(staff_status).collect();
        assert_eq!(
            statuses,
            [StaffStatus::Active, StaffStatus::Disabled, StaffStatus::Inactive, StaffStatus::Resigned]
        );
    }
}
