//! The audit log's vocabulary: every admin action Pond records, by name. Services record their
//! own action (the front ends never do), so the API, the console and the CLI audit alike.

use pond_store::Conn;

use crate::{AppError, auth::Actor};

/// An admin action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    Login,
    LoginFailed,
    LoginThrottled,
    Logout,
    SessionsEnded,
    CorpUpdate,
    UserAdd,
    UserPassword,
    UserAccess,
    TokenAdd,
    TokenRevoke,
    JobRetry,
    JobRetryKind,
    EventRetry,
    SyncStart,
    WelcomeCreate,
    WelcomeUpdate,
    WelcomeDelete,
    StaffWelcome,
    ChannelCodeCreate,
    ChannelCodeUpdate,
    ChannelCodeDelete,
    ImportStart,
    ImportDone,
    ImportFailed,
    StoreDelete,
    StoreUpdate,
    CardsUpdate,
    CustomerEdit,
    TagCreate,
    TagUpdate,
    TagDelete,
    CustomerBulkTag,
    CustomerExport,
}

impl AuditAction {
    /// The stored name (stable: existing rows keep it).
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Login => "console.login",
            AuditAction::LoginFailed => "console.login_failed",
            AuditAction::LoginThrottled => "console.login_throttled",
            AuditAction::Logout => "console.logout",
            AuditAction::SessionsEnded => "user.sessions_ended",
            AuditAction::CorpUpdate => "corp.update",
            AuditAction::UserAdd => "user.add",
            AuditAction::UserPassword => "user.password",
            AuditAction::UserAccess => "user.access",
            AuditAction::TokenAdd => "token.add",
            AuditAction::TokenRevoke => "token.revoke",
            AuditAction::JobRetry => "job.retry",
            AuditAction::JobRetryKind => "job.retry_kind",
            AuditAction::EventRetry => "event.retry",
            AuditAction::SyncStart => "sync.start",
            AuditAction::WelcomeCreate => "welcome.create",
            AuditAction::WelcomeUpdate => "welcome.update",
            AuditAction::WelcomeDelete => "welcome.delete",
            AuditAction::StaffWelcome => "staff.welcome",
            AuditAction::ChannelCodeCreate => "channel_code.create",
            AuditAction::ChannelCodeUpdate => "channel_code.update",
            AuditAction::ChannelCodeDelete => "channel_code.delete",
            AuditAction::ImportStart => "import.start",
            AuditAction::ImportDone => "import.done",
            AuditAction::ImportFailed => "import.failed",
            AuditAction::StoreDelete => "store.delete",
            AuditAction::StoreUpdate => "store.update",
            AuditAction::CardsUpdate => "staff.card",
            AuditAction::CustomerEdit => "customer.edit",
            AuditAction::TagCreate => "tag.create",
            AuditAction::TagUpdate => "tag.update",
            AuditAction::TagDelete => "tag.delete",
            AuditAction::CustomerBulkTag => "customer.bulk_tag",
            AuditAction::CustomerExport => "customer.export",
        }
    }
}

/// Records an action; pass the change's transaction so both commit together.
pub async fn record<'c>(
    conn: impl Into<Conn<'c>>,
    corp_id: i64,
    actor: &Actor,
    action: AuditAction,
    target: &str,
    detail: &str,
) -> Result<(), AppError> {
    Ok(pond_store::audit::record(conn, corp_id, actor.as_str(), action.as_str(), target, detail).await?)
}
