//! Administration shared by every front end: corp settings, console users, API tokens, failed
//! jobs and sync runs. Each action validates its input, checks nothing about HTTP, and records
//! itself in the audit log, so the API, the console and the CLI behave alike.

use pond_core::{Role, ValidationError, ids, sync::SyncKind};
use pond_store::{StoreError, corp::Corp, jobs::Job, sync_run::SyncRun, token::ApiToken, user::User};

use crate::{
    App, AppError,
    audit::{self, AuditAction},
    auth::{self, Actor},
    corp::settings::SettingsInput,
};

/// What an update changed, as `field: before → after` (secrets named, never shown).
fn corp_changes(before: &Corp, after: &Corp, changed_secrets: &[&str]) -> String {
    let show = |v: &Option<String>| v.clone().unwrap_or_default();
    let mut changes: Vec<String> = [
        ("name", before.name.clone(), after.name.clone()),
        ("wecom_corp_id", show(&before.wecom_corp_id), show(&after.wecom_corp_id)),
        ("agent_id", show(&before.agent_id.map(|a| a.to_string())), show(&after.agent_id.map(|a| a.to_string()))),
        ("api_base_url", before.api_base_url.clone(), after.api_base_url.clone()),
        ("timezone", before.timezone.clone(), after.timezone.clone()),
        ("brand_color", before.brand_color.clone(), after.brand_color.clone()),
        ("brand_logo_url", before.brand_logo_url.clone(), after.brand_logo_url.clone()),
    ]
    .into_iter()
    .filter(|(_, b, a)| b != a)
    .map(|(field, b, a)| format!("{field}: {b:?} → {a:?}"))
    .collect();
    changes.extend(changed_secrets.iter().map(|s| format!("{s}: ●●● → ●●●")));
    if changes.is_empty() { "no change".to_owned() } else { changes.join("; ") }
}

/// Saves a corp's WeCom settings (blank secrets keep the stored ones; secrets are sealed before
/// they are stored). The audit entry says what changed, before → after, and names the secrets
/// that changed, never their values.
///
/// Pointing `api_base_url` somewhere else requires the secrets Pond would send there (the app and
/// contact secrets that are set) to be typed again in the same request: whoever may change the
/// settings cannot make Pond hand the stored secret to a server of their choosing.
pub async fn update_corp(app: &App, actor: &Actor, corp_id: i64, input: &SettingsInput) -> Result<Corp, AppError> {
    let settings = input.validate()?;
    let zone = input.zone()?;
    let (brand_color, brand_logo) = input.brand()?;
    let changed_secrets: Vec<&str> = [
        ("contact_secret", settings.contact_secret.is_some()),
        ("app_secret", settings.app_secret.is_some()),
        ("callback_token", settings.callback_token.is_some()),
        ("encoding_aes_key", settings.encoding_aes_key.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, changed)| changed.then_some(name))
    .collect();
    let before = crate::secrets::open_corp(&app.secrets, pond_store::corp::get(&app.db, corp_id).await?);
    if settings.api_base_url.trim_end_matches('/') != before.api_base_url.trim_end_matches('/') {
        let missing: Vec<&str> = [
            ("app_secret", &before.app_secret, &settings.app_secret),
            ("contact_secret", &before.contact_secret, &settings.contact_secret),
        ]
        .into_iter()
        .filter(|(_, stored, given)| !stored.is_empty() && given.is_none())
        .map(|(name, _, _)| name)
        .collect();
        if let Some(first) = missing.first() {
            return Err(ValidationError::new(
                first,
                format!("changing api_base_url requires entering {} again", missing.join(" and ")),
                format!("修改 API 地址时须重新填写 {}", missing.join("、")),
            )
            .into());
        }
    }
    let mut tx = app.db.begin().await?;
    let corp = match crate::secrets::store_settings(app, &mut tx, corp_id, &settings).await {
        Ok(corp) => corp,
        Err(AppError::Conflict(_)) => {
            return Err(AppError::Conflict(
                "wecom_corp_id: another corp in this Pond already uses this corp id".into(),
            ));
        }
        Err(e) => return Err(e),
    };
    let corp = match zone {
        Some(zone) => pond_store::corp::set_timezone(&mut tx, corp_id, zone.name()).await?,
        None => corp,
    };
    let corp = if brand_color.is_some() || brand_logo.is_some() {
        let color = brand_color.unwrap_or_else(|| corp.brand_color.clone());
        let logo = brand_logo.unwrap_or_else(|| corp.brand_logo_url.clone());
        pond_store::corp::set_brand(&mut tx, corp_id, &color, &logo).await?
    } else {
        corp
    };
    let detail = corp_changes(&before, &corp, &changed_secrets);
    audit::record(&mut tx, corp_id, actor, AuditAction::CorpUpdate, &format!("corp:{corp_id}"), &detail).await?;
    tx.commit().await?;
    app.corps.invalidate(corp_id);
    Ok(crate::secrets::open_corp(&app.secrets, corp))
}

/// Adds a console user. The password is hashed off the async threads (argon2 is slow on purpose).
pub async fn add_user(
    app: &App,
    actor: &Actor,
    corp_id: i64,
    email: &str,
    role: Role,
    password: &str,
) -> Result<User, AppError> {
    let email = ids::login_email(email)?;
    ids::new_password(password)?;
    let hash = hash_password(password).await?;
    let mut tx = app.db.begin().await?;
    let user = match pond_store::user::create(&mut tx, corp_id, &email, &hash, role).await {
        Ok(user) => user,
        Err(StoreError::Conflict(_)) => {
            return Err(AppError::Conflict("email: this e-mail already has a console login".into()));
        }
        Err(e) => return Err(e.into()),
    };
    audit::record(&mut tx, corp_id, actor, AuditAction::UserAdd, &user.email, &format!("role={role}")).await?;
    tx.commit().await?;
    Ok(user)
}

/// Changes a console user's role, or disables or re-enables their login (a disabled user's
/// sessions stop working at once; the audit log keeps their history). The corp always keeps an
/// enabled owner.
pub async fn set_user_access(
    app: &App,
    actor: &Actor,
    corp_id: i64,
    user_id: i64,
    role: Role,
    disabled: bool,
) -> Result<User, AppError> {
    let user = pond_store::user::get(&app.db, user_id).await?;
    if user.corp_id != corp_id {
        return Err(AppError::NotFound(format!("user {user_id}")));
    }
    let mut tx = app.db.begin().await?;
    let owners = pond_store::user::enabled_owners_locked(&mut tx, corp_id).await?;
    let other_owners = owners.iter().filter(|id| **id != user_id).count();
    if (role != Role::Owner || disabled) && owners.contains(&user_id) && other_owners == 0 {
        return Err(ValidationError::new(
            "role",
            "the corp needs at least one enabled owner",
            "企业至少需要一名启用的所有者",
        )
        .into());
    }
    pond_store::user::set_access(&mut tx, user_id, role.as_str(), disabled).await?;
    let mut detail = format!("role: {} → {role}; disabled: {} → {disabled}", user.role, user.disabled);
    if disabled {
        let ended = pond_store::session::delete_for_user(&mut tx, user_id).await?;
        detail.push_str(&format!("; sessions ended: {ended}"));
    }
    audit::record(&mut tx, corp_id, actor, AuditAction::UserAccess, &user.email, &detail).await?;
    tx.commit().await?;
    Ok(pond_store::user::get(&app.db, user_id).await?)
}

/// Ends every console session of one of the corp's users ("sign out everywhere"); audited.
/// Returns how many sessions ended.
pub async fn end_sessions(app: &App, actor: &Actor, corp_id: i64, user_id: i64) -> Result<u64, AppError> {
    let user = pond_store::user::get(&app.db, user_id).await?;
    if user.corp_id != corp_id {
        return Err(AppError::NotFound(format!("user {user_id}")));
    }
    let mut tx = app.db.begin().await?;
    let ended = pond_store::session::delete_for_user(&mut tx, user_id).await?;
    audit::record(
        &mut tx,
        corp_id,
        actor,
        AuditAction::SessionsEnded,
        &user.email,
        &format!("sessions ended: {ended}"),
    )
    .await?;
    tx.commit().await?;
    Ok(ended)
}

/// A signed-in user changes their own password: the current one must be right. Every session of
/// theirs ends, this one included (they sign in again with the new password).
pub async fn change_own_password(
    app: &App,
    user: &auth::SessionUser,
    current: &str,
    new: &str,
    client: Option<std::net::IpAddr>,
) -> Result<(), AppError> {
    ids::new_password(new)?;
    if !auth::check_current_password(app, user, current, client).await? {
        return Err(ValidationError::new("current_password", "is not your current password", "当前密码不正确").into());
    }
    let hash = hash_password(new).await?;
    let mut tx = app.db.begin().await?;
    pond_store::user::set_password(&mut tx, user.user_id, &hash).await?;
    let ended = pond_store::session::delete_for_user(&mut tx, user.user_id).await?;
    audit::record(
        &mut tx,
        user.corp_id,
        &Actor::user(&user.email),
        AuditAction::UserPassword,
        &user.email,
        &format!("own password; sessions ended: {ended}"),
    )
    .await?;
    Ok(tx.commit().await?)
}

/// Sets a new password for a console user found by e-mail; returns the user. Every session of
/// theirs ends.
pub async fn set_password(app: &App, actor: &Actor, email: &str, password: &str) -> Result<User, AppError> {
    let email = ids::login_email(email)?;
    ids::new_password(password)?;
    let user = pond_store::user::find_by_email(&app.db, &email)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no console user {email}")))?;
    let hash = hash_password(password).await?;
    let mut tx = app.db.begin().await?;
    pond_store::user::set_password(&mut tx, user.id, &hash).await?;
    let ended = pond_store::session::delete_for_user(&mut tx, user.id).await?;
    // A reset also lifts a lockout of the account (the way out for a user an attacker keeps locked).
    pond_store::login_throttle::clear(&mut tx, &format!("account:{email}")).await?;
    audit::record(&mut tx, user.corp_id, actor, AuditAction::UserPassword, &email, &format!("sessions ended: {ended}"))
        .await?;
    tx.commit().await?;
    Ok(user)
}

async fn hash_password(password: &str) -> Result<String, AppError> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || auth::hash_password(&password))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?
}

/// Creates an API token acting as `role` in this corp; returns it (shown once) with its stored
/// record.
pub async fn create_token(
    app: &App,
    actor: &Actor,
    corp_id: i64,
    name: &str,
    role: Role,
) -> Result<(String, ApiToken), AppError> {
    let name = ids::required_text("name", name, 64)?;
    let (token, hash, prefix) = auth::new_api_token();
    let mut tx = app.db.begin().await?;
    let stored =
        pond_store::token::create(&mut tx, corp_id, &name, &hash, &prefix, actor.as_str(), role.as_str()).await?;
    audit::record(&mut tx, corp_id, actor, AuditAction::TokenAdd, &prefix, &format!("name={name}; role={role}"))
        .await?;
    tx.commit().await?;
    Ok((token, stored))
}

/// Revokes an API token.
pub async fn revoke_token(app: &App, actor: &Actor, corp_id: i64, id: i64) -> Result<(), AppError> {
    let mut tx = app.db.begin().await?;
    pond_store::token::revoke(&mut tx, corp_id, id).await?;
    audit::record(&mut tx, corp_id, actor, AuditAction::TokenRevoke, &format!("token:{id}"), "").await?;
    Ok(tx.commit().await?)
}

/// Puts a failed job back in the queue with a fresh set of attempts, and wakes the worker.
pub async fn retry_job(app: &App, actor: &Actor, corp_id: i64, id: i64) -> Result<Job, AppError> {
    let mut tx = app.db.begin().await?;
    pond_store::jobs::retry(&mut tx, corp_id, id).await?;
    audit::record(&mut tx, corp_id, actor, AuditAction::JobRetry, &format!("job:{id}"), "").await?;
    tx.commit().await?;
    app.wake_worker.notify_one();
    Ok(pond_store::jobs::get(&app.db, corp_id, id).await?)
}

/// Puts every failed job of one kind back in the queue with fresh attempts, and wakes the worker.
/// Returns how many. Nothing failed of that kind is not an error (the answer is 0).
pub async fn retry_failed_jobs(app: &App, actor: &Actor, corp_id: i64, kind: &str) -> Result<u64, AppError> {
    let kind = pond_core::ids::required_text("kind", kind, 64)?;
    let mut tx = app.db.begin().await?;
    let n = pond_store::jobs::retry_kind(&mut tx, corp_id, &kind).await?;
    audit::record(&mut tx, corp_id, actor, AuditAction::JobRetryKind, &format!("jobs:{kind}"), &format!("{n} job(s)"))
        .await?;
    tx.commit().await?;
    app.wake_worker.notify_one();
    Ok(n)
}

/// Which inbox events to put back in the queue.
#[derive(Debug, Clone, Copy)]
pub enum EventsToRetry<'a> {
    One(i64),
    /// Every failed event of this type.
    OfType(&'a str),
    /// Every failed event.
    All,
}

/// Puts failed inbox events back in the queue with fresh attempts, and wakes the inbox worker.
/// Returns how many. Retrying one that is not failed is "not found"; a type with none failed is 0.
pub async fn retry_failed_events(
    app: &App,
    actor: &Actor,
    corp_id: i64,
    which: EventsToRetry<'_>,
) -> Result<u64, AppError> {
    let (id, event_type, target) = match which {
        EventsToRetry::One(id) => (Some(id), None, format!("event:{id}")),
        EventsToRetry::OfType(t) => {
            let t = pond_core::ids::required_text("event_type", t, 128)?;
            (None, Some(t.clone()), format!("events:{t}"))
        }
        EventsToRetry::All => (None, None, "events:*".to_owned()),
    };
    let mut tx = app.db.begin().await?;
    let n = pond_store::inbox::retry_failed(&mut tx, corp_id, id, event_type.as_deref()).await?;
    if n == 0 && id.is_some() {
        return Err(AppError::NotFound(format!("failed event {target}")));
    }
    audit::record(&mut tx, corp_id, actor, AuditAction::EventRetry, &target, &format!("{n} event(s)")).await?;
    tx.commit().await?;
    app.wake_inbox.notify_one();
    Ok(n)
}

/// What is wrong in the corp's pipeline now: events failed or waiting for a retry after an error
/// (by type, with one of their errors) and failed jobs (by kind) — the console's alert.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PipelineTroubles {
    pub events: Vec<EventTrouble>,
    pub jobs: Vec<JobTrouble>,
}

#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventTrouble {
    pub event_type: String,
    pub failed: i64,
    /// Waiting for another attempt after an error (WeCom busy, credentials being changed…).
    pub retrying: i64,
    pub error: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobTrouble {
    pub kind: String,
    pub failed: i64,
    pub error: Option<String>,
}

impl PipelineTroubles {
    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.jobs.is_empty()
    }
}

/// The corp's [`PipelineTroubles`].
pub async fn pipeline_troubles(app: &App, corp_id: i64) -> Result<PipelineTroubles, AppError> {
    let (events, jobs) =
        tokio::join!(pond_store::inbox::troubles(&app.db, corp_id), pond_store::jobs::failed_by_kind(&app.db, corp_id));
    Ok(PipelineTroubles {
        events: events?
            .into_iter()
            .map(|t| EventTrouble {
                event_type: t.event_type,
                failed: t.failed,
                retrying: t.retrying,
                error: t.last_error,
            })
            .collect(),
        jobs: jobs?.into_iter().map(|(kind, failed, error)| JobTrouble { kind, failed, error }).collect(),
    })
}

/// Starts a sync in the background and returns its run at once (progress is on the run).
/// A sync already running is a conflict.
pub async fn start_sync(app: &App, actor: &Actor, corp_id: i64, kind: SyncKind) -> Result<SyncRun, AppError> {
    let run = crate::sync::spawn_sync(app, corp_id, actor.as_str(), kind).await?;
    audit::record(&app.db, corp_id, actor, AuditAction::SyncStart, &format!("sync:{}", run.id), kind.as_str()).await?;
    Ok(run)
}

/// The kind of sync asked for by name (`full` when absent).
pub fn sync_kind(name: Option<&str>) -> Result<SyncKind, AppError> {
    match name.map(str::trim) {
        None | Some("") => Ok(SyncKind::Full),
        Some(s) => s.parse::<SyncKind>().map_err(|_| {
            ValidationError::new("kind", "must be full or incremental", "须为 full（全量）或 incremental（增量）")
                .into()
        }),
    }
}
