//! The API's response shapes, documented in OpenAPI. Storage rows are mapped here so the wire
//! format can stay stable while storage changes, and so secrets are masked in one place.

use pond_core::Page;
use serde::Serialize;
use utoipa::ToSchema;

/// One page of results.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageOf<T> {
    pub items: Vec<T>,
    /// Number of matching items on all pages.
    pub total: i64,
    pub page: u32,
    pub per_page: u32,
}

impl<T> PageOf<T> {
    pub fn from_page<R: Into<T>>(p: Page<R>) -> Self {
        PageOf {
            items: p.items.into_iter().map(Into::into).collect(),
            total: p.total,
            page: p.page,
            per_page: p.per_page,
        }
    }
}

/// A corp's settings. Secrets are masked (`abc…xyz`); they are never returned in full.
#[derive(Debug, Serialize, ToSchema)]
pub struct CorpView {
    pub id: i64,
    pub name: String,
    pub wecom_corp_id: Option<String>,
    pub agent_id: Option<i64>,
    pub contact_secret: String,
    pub app_secret: String,
    pub callback_token: String,
    pub encoding_aes_key: String,
    pub api_base_url: String,
    pub timezone: String,
}

impl CorpView {
    pub fn new(c: &pond_store::corp::Corp) -> Self {
        CorpView {
            id: c.id,
            name: c.name.clone(),
            wecom_corp_id: c.wecom_corp_id.clone(),
            agent_id: c.agent_id,
            contact_secret: c.contact_secret.masked(),
            app_secret: c.app_secret.masked(),
            callback_token: c.callback_token.masked(),
            encoding_aes_key: c.encoding_aes_key.masked(),
            api_base_url: c.api_base_url.clone(),
            timezone: c.timezone.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StaffView {
    pub userid: String,
    pub name: String,
    pub department_ids: Vec<i64>,
    pub position: String,
    /// `active`, `disabled`, `inactive` (not yet activated in WeCom) or `resigned`.
    pub status: String,
    pub removed_at: Option<i64>,
}

impl From<pond_store::staff::Staff> for StaffView {
    fn from(s: pond_store::staff::Staff) -> Self {
        StaffView {
            department_ids: s.department_ids.split(',').filter_map(|d| d.trim().parse().ok()).collect(),
            userid: s.userid,
            name: s.name,
            position: s.position,
            status: s.status,
            removed_at: s.removed_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerView {
    pub external_userid: String,
    pub name: String,
    /// 1 = WeChat user, 2 = WeCom user.
    pub customer_type: i64,
    pub avatar: String,
    pub gender: i64,
    pub corp_name: String,
    /// Epoch ms when Pond first saw this customer.
    pub created_at: i64,
    /// Set when no employee follows the customer any more.
    pub removed_at: Option<i64>,
}

impl From<pond_store::customer::Customer> for CustomerView {
    fn from(c: pond_store::customer::Customer) -> Self {
        CustomerView {
            external_userid: c.external_userid,
            name: c.name,
            customer_type: c.customer_type,
            avatar: c.avatar,
            gender: c.gender,
            corp_name: c.corp_name,
            created_at: c.created_at,
            removed_at: c.removed_at,
        }
    }
}

/// An employee's relation with a customer.
#[derive(Debug, Serialize, ToSchema)]
pub struct FollowView {
    pub userid: String,
    pub remark: String,
    pub description: String,
    /// WeCom's add_way code (1 = scanned QR, 2 = searched phone, …).
    pub add_way: i64,
    /// The `state` of the contact way used, identifying the channel.
    pub state: String,
    pub added_at: i64,
    pub removed_at: Option<i64>,
    pub tag_ids: Vec<String>,
}

impl FollowView {
    pub fn new(f: pond_store::customer::FollowRelation, tag_ids: Vec<String>) -> Self {
        FollowView {
            userid: f.userid,
            remark: f.remark,
            description: f.description,
            add_way: f.add_way,
            state: f.state,
            added_at: f.added_at,
            removed_at: f.removed_at,
            tag_ids,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerDetail {
    pub customer: CustomerView,
    pub follows: Vec<FollowView>,
    /// What happened to each welcome message due to this customer.
    pub welcome_results: Vec<WelcomeResultView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WelcomeResultView {
    pub userid: String,
    pub welcome_id: Option<i64>,
    /// `sent`, `skipped` or `failed`.
    pub status: String,
    pub reason: String,
    /// Epoch ms of the add event, and of the outcome.
    pub event_at: i64,
    pub finished_at: i64,
}

impl From<pond_store::welcome::WelcomeResult> for WelcomeResultView {
    fn from(r: pond_store::welcome::WelcomeResult) -> Self {
        WelcomeResultView {
            userid: r.userid,
            welcome_id: r.welcome_id,
            status: r.status,
            reason: r.reason,
            event_at: r.event_at,
            finished_at: r.finished_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WelcomeView {
    pub id: i64,
    pub name: String,
    pub text: String,
    #[schema(value_type = Vec<Object>)]
    pub attachments: serde_json::Value,
    pub is_default: bool,
}

impl TryFrom<pond_store::welcome::WelcomeMessage> for WelcomeView {
    type Error = pond_app::AppError;
    fn try_from(m: pond_store::welcome::WelcomeMessage) -> Result<Self, Self::Error> {
        Ok(WelcomeView {
            attachments: pond_app::json_column("welcome_messages.attachments", m.id, &m.attachments)?,
            id: m.id,
            name: m.name,
            text: m.text,
            is_default: m.is_default,
        })
    }
}

/// A channel live code.
#[derive(Debug, Serialize, ToSchema)]
pub struct CodeView {
    pub id: i64,
    pub name: String,
    pub channel_group: String,
    pub mode: String,
    pub strategy: String,
    pub state: String,
    #[schema(value_type = Object)]
    pub rules: serde_json::Value,
    pub auto_tags: Vec<String>,
    pub welcome_id: Option<i64>,
    pub skip_verify: bool,
    pub remark_prefix: String,
    /// WeCom's QR image URL (native codes).
    pub qr_code: String,
    /// Employees the native contact way holds now.
    pub current_users: Vec<String>,
    /// The URL a landing code's QR opens.
    pub landing_url: Option<String>,
}

impl CodeView {
    /// The view of a stored code (its JSON columns read, a corrupt one an error).
    pub fn new(c: &pond_store::channel_code::ChannelCode, landing_url: &str) -> Result<Self, pond_app::AppError> {
        Ok(CodeView {
            id: c.id,
            name: c.name.clone(),
            channel_group: c.channel_group.clone(),
            mode: c.mode.clone(),
            strategy: c.strategy.clone(),
            state: c.state.clone(),
            rules: pond_app::json_column("channel_codes.rules", c.id, &c.rules)?,
            auto_tags: pond_app::json_column("channel_codes.auto_tags", c.id, &c.auto_tags)?,
            welcome_id: c.welcome_id,
            skip_verify: c.skip_verify,
            remark_prefix: c.remark_prefix.clone(),
            qr_code: c.qr_code.clone(),
            current_users: pond_app::json_column("channel_codes.current_users", c.id, &c.current_users)?,
            landing_url: (c.mode == pond_core::acquisition::CodeMode::Landing.as_str()).then(|| landing_url.to_owned()),
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TagView {
    pub tag_id: String,
    pub name: String,
    pub group_id: String,
    pub group_name: String,
    /// Follow relations carrying this tag.
    pub customers: i64,
    pub deleted_at: Option<i64>,
}

impl From<pond_store::tag::TagListing> for TagView {
    fn from(t: pond_store::tag::TagListing) -> Self {
        TagView {
            tag_id: t.tag_id,
            name: t.name,
            group_id: t.group_id,
            group_name: t.group_name,
            customers: t.customers,
            deleted_at: t.deleted_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupView {
    pub chat_id: String,
    pub name: String,
    pub owner_userid: String,
    pub members: i64,
    pub created_at: i64,
    pub dismissed_at: Option<i64>,
}

impl From<pond_store::group::GroupListing> for GroupView {
    fn from(g: pond_store::group::GroupListing) -> Self {
        GroupView {
            chat_id: g.chat_id,
            name: g.name,
            owner_userid: g.owner_userid,
            members: g.members,
            created_at: g.created_at,
            dismissed_at: g.dismissed_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    pub id: i64,
    pub kind: String,
    /// `pending`, `running`, `done` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub next_run_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

impl From<pond_store::jobs::Job> for JobView {
    fn from(j: pond_store::jobs::Job) -> Self {
        JobView {
            id: j.id,
            kind: j.kind,
            status: j.status,
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            next_run_at: j.next_run_at,
            last_error: j.last_error,
            created_at: j.created_at,
            finished_at: j.finished_at,
        }
    }
}

/// A stored WeCom callback and how applying it went.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    pub id: i64,
    /// `change_external_contact/add_external_contact` and the like.
    pub event_type: String,
    /// `pending`, `processing`, `done` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub received_at: i64,
    pub processed_at: Option<i64>,
}

impl From<pond_store::inbox::InboxEvent> for EventView {
    fn from(e: pond_store::inbox::InboxEvent) -> Self {
        EventView {
            id: e.id,
            event_type: e.event_type,
            status: e.status,
            attempts: e.attempts,
            last_error: e.last_error,
            received_at: e.received_at,
            processed_at: e.processed_at,
        }
    }
}

/// How many were put back in the queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct RetriedView {
    pub retried: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    pub id: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    pub created_at: i64,
}

impl From<pond_store::audit::AuditEntry> for AuditView {
    fn from(a: pond_store::audit::AuditEntry) -> Self {
        AuditView {
            id: a.id,
            actor: a.actor,
            action: a.action,
            target: a.target,
            detail: a.detail,
            created_at: a.created_at,
        }
    }
}

/// A sync with WeCom: why it ran, its progress, and what it cost.
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncRunView {
    pub id: i64,
    /// `full` (everything, every row rewritten) or `incremental` (what may have changed, only
    /// differing rows written).
    pub kind: String,
    /// `manual`, `periodic`, `start` (an instance started), `downtime` (an instance started after
    /// no instance was alive for `gap_ms`), `callback_lag` (a callback came `gap_ms` late: WeCom
    /// was holding callbacks back) or `callback_refused` (Pond could not store a callback).
    pub reason: String,
    /// For `downtime` and `callback_lag` (and `start`, when another instance was alive): the gap
    /// in milliseconds.
    pub gap_ms: Option<i64>,
    /// `running`, `done` or `failed`.
    pub status: String,
    /// departments, staff, tags, customers, groups, finished.
    pub phase: String,
    pub done_items: i64,
    pub total_items: i64,
    pub summary: String,
    pub error: Option<String>,
    /// Calls made to WeCom (token fetches and retries included).
    pub wecom_calls: i64,
    /// Rows written to Pond's database.
    pub rows_written: i64,
    /// How long it took, once finished.
    pub duration_ms: Option<i64>,
    pub started_by: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
}

impl From<pond_store::sync_run::SyncRun> for SyncRunView {
    fn from(r: pond_store::sync_run::SyncRun) -> Self {
        SyncRunView {
            id: r.id,
            kind: r.kind,
            reason: r.reason,
            gap_ms: r.gap_ms,
            status: r.status,
            phase: r.phase,
            done_items: r.done_items,
            total_items: r.total_items,
            summary: r.summary,
            error: r.error,
            wecom_calls: r.wecom_calls,
            rows_written: r.rows_written,
            duration_ms: r.duration_ms,
            started_by: r.started_by,
            started_at: r.started_at,
            finished_at: r.finished_at,
        }
    }
}
