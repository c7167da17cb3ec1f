//! Welcome messages: the job that sends one within WeCom's 20-second `welcome_code` window, its
//! expedited run in the inbox worker, and the welcome-message settings (corp default, per
//! employee, per code).

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use pond_core::{ValidationError, WelcomeStatus, acquisition, ids};
use pond_store::{
    Db, StoreError, Tx, customer, staff,
    welcome::{self, WelcomeResult},
};
use serde::{Deserialize, Serialize};
use wecom::{Callback, Client};

use crate::{
    App, AppError,
    acquisition::effects::added,
    audit::{self, AuditAction},
    auth::Actor,
    clock::Clock,
    feature::{BoxFuture, Expedite, ExpeditedBatch, PlannedJob, Record},
    pipeline::jobs::{JobError, JobFuture, JobHandler, job_error, store_error},
};

/// WeCom's welcome_code lifetime.
pub const WELCOME_WINDOW_MS: i64 = 20_000;

/// The welcome sending job's kind.
pub const WELCOME_JOB: &str = "welcome.send";

/// The idempotency key of the welcome job for a welcome code: one job per code.
pub fn welcome_job_key(welcome_code: &str) -> String {
    format!("welcome:{welcome_code}")
}

/// The welcome code a [`welcome_job_key`] names.
pub fn welcome_code_of_key(key: &str) -> Option<&str> {
    key.strip_prefix("welcome:")
}

/// A welcome job's payload.
#[derive(Debug, Serialize, Deserialize)]
pub struct WelcomeJob {
    pub welcome_code: String,
    pub external_userid: String,
    pub userid: String,
    pub welcome_id: Option<i64>,
    pub event_at: i64,
    #[serde(default)]
    pub received_at: i64,
    /// The customer's name as read when the event was applied (saves a read at sending time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_name: Option<String>,
}

impl WelcomeJob {
    pub fn planned(&self) -> PlannedJob {
        PlannedJob {
            kind: WELCOME_JOB,
            payload: crate::pipeline::jobs::payload_json(self),
            idempotency_key: welcome_job_key(&self.welcome_code),
            max_attempts: 5,
        }
    }
}

/// Runs queued welcome jobs (those not sent while their batch was read).
pub struct WelcomeSender(pub App);

/// Welcome messages and employee names read while sending, each at most once per batch.
#[derive(Default)]
pub struct WelcomeLookups {
    messages: tokio::sync::Mutex<HashMap<i64, Option<welcome::WelcomeMessage>>>,
    staff_names: tokio::sync::Mutex<HashMap<String, String>>,
}

impl WelcomeLookups {
    async fn message(&self, db: &Db, corp_id: i64, id: i64) -> Result<Option<welcome::WelcomeMessage>, JobError> {
        let mut messages = self.messages.lock().await;
        if let Some(m) = messages.get(&id) {
            return Ok(m.clone());
        }
        let m = match welcome::get(db, corp_id, id).await {
            Ok(m) => Some(m),
            Err(pond_store::StoreError::NotFound(_)) => None,
            Err(e) => return Err(store_error(e)),
        };
        messages.insert(id, m.clone());
        Ok(m)
    }

    /// Reads the names of these employees in one query, so sends do not look them up one by one.
    pub async fn preload_staff_names(&self, db: &Db, corp_id: i64, userids: &[&str]) -> pond_store::Result<()> {
        let found = staff::names(db, corp_id, userids).await?;
        let mut names = self.staff_names.lock().await;
        for userid in userids {
            names.insert((*userid).to_owned(), String::new());
        }
        names.extend(found);
        Ok(())
    }

    async fn staff_name(&self, db: &Db, corp_id: i64, userid: &str) -> String {
        let mut names = self.staff_names.lock().await;
        if let Some(n) = names.get(userid) {
            return n.clone();
        }
        let name = staff::get(db, corp_id, userid).await.map(|s| s.name).unwrap_or_default();
        names.insert(userid.to_owned(), name.clone());
        name
    }
}

/// How sending one welcome message ended, when it ended (a transient error is `Err`).
pub enum Delivered {
    /// Sent, or skipped for a reason that makes retrying pointless: record and finish the job.
    Done(WelcomeResult),
    /// Refused for good: record, and fail the job with this reason.
    Failed(WelcomeResult, String),
}

impl Delivered {
    /// The outcome to record.
    pub fn result(&self) -> &WelcomeResult {
        match self {
            Delivered::Done(r) | Delivered::Failed(r, _) => r,
        }
    }
}

/// Sends the welcome message of a `welcome.send` job (payload as queued), within WeCom's window
/// as `clock` (the App's) tells it.
///
/// `tried_before`: an earlier attempt may have reached WeCom (its worker died, or its answer was
/// lost). Then the code is offered to WeCom even past the window, and a "code used" answer means
/// that earlier attempt sent it: recorded as sent, confirmed by WeCom — so a crash neither sends
/// twice nor leaves a sent welcome counted as skipped.
pub async fn deliver_welcome(
    db: &Db,
    client: &Client,
    clock: &Clock,
    corp_id: i64,
    payload: &str,
    lookups: &WelcomeLookups,
    tried_before: bool,
) -> Result<Delivered, JobError> {
    let p: WelcomeJob = serde_json::from_str(payload).map_err(|e| JobError::Permanent(format!("bad payload: {e}")))?;
    let outcome = |status: WelcomeStatus, reason: String| WelcomeResult {
        external_userid: p.external_userid.clone(),
        userid: p.userid.clone(),
        welcome_code: p.welcome_code.clone(),
        welcome_id: p.welcome_id,
        status: status.as_str().to_owned(),
        reason,
        event_at: p.event_at,
        received_at: p.received_at,
        finished_at: clock.now_ms(),
    };
    let skipped = |reason: String| Ok(Delivered::Done(outcome(WelcomeStatus::Skipped, reason)));
    let Some(welcome_id) = p.welcome_id else {
        return skipped("no welcome message configured (code, employee or corp default)".into());
    };
    if clock.now_ms() - p.event_at > WELCOME_WINDOW_MS && !tried_before {
        return skipped("welcome code expired before sending (20 s window)".into());
    }
    let Some(message) = lookups.message(db, corp_id, welcome_id).await? else {
        return skipped(format!("welcome message {welcome_id} was deleted"));
    };
    let customer_name = match &p.customer_name {
        Some(name) => name.clone(),
        None => customer::get(db, corp_id, &p.external_userid).await.map(|c| c.name).unwrap_or_default(),
    };
    let staff_name = lookups.staff_name(db, corp_id, &p.userid).await;
    let text = acquisition::render_welcome(&message.text, &customer_name, &staff_name);
    let attachments: Vec<serde_json::Value> =
        crate::json_column("welcome_messages.attachments", message.id, &message.attachments)
            .map_err(|e| JobError::Permanent(e.to_string()))?;
    let msg = wecom::api::WelcomeMsg {
        welcome_code: p.welcome_code.clone(),
        text: (!text.is_empty()).then_some(wecom::api::Text { content: text }),
        attachments,
    };
    match client.send_welcome_msg(&msg).await {
        Ok(()) => Ok(Delivered::Done(outcome(WelcomeStatus::Sent, String::new()))),
        Err(e) if is_code_used(&e) && tried_before => Ok(Delivered::Done(outcome(
            WelcomeStatus::Sent,
            format!("confirmed by WeCom: code used by an earlier attempt that was interrupted ({e})"),
        ))),
        Err(e) if is_code_used(&e) => skipped(format!("welcome code already used ({e})")),
        Err(e) if is_code_invalid(&e) && tried_before => skipped(format!(
            "welcome code refused ({e}); an interrupted earlier attempt may have sent it, WeCom does not say"
        )),
        Err(e) if is_code_invalid(&e) => skipped(format!("welcome code refused ({e})")),
        Err(e) if e.is_retryable_later() && clock.now_ms() - p.event_at <= WELCOME_WINDOW_MS => {
            Err(JobError::Retryable(e.to_string()))
        }
        Err(e) if e.is_retryable_later() => skipped(format!("window passed while WeCom was unavailable ({e})")),
        Err(e) => Ok(Delivered::Failed(outcome(WelcomeStatus::Failed, e.to_string()), e.to_string())),
    }
}

/// WeCom's answers that a welcome code was used already: 41051 (the customer has been sent a
/// welcome or started chatting) and 41096 (a welcome is being sent with this code).
fn is_code_used(e: &wecom::WecomError) -> bool {
    matches!(e.errcode(), Some(41051 | 41096))
}

/// WeCom's answers that a welcome code cannot be used: 41049 (missing) and 41050 (invalid — unknown,
/// or past its 20 s; errcode table, document 90313). Nothing to retry: the welcome is skipped.
fn is_code_invalid(e: &wecom::WecomError) -> bool {
    matches!(e.errcode(), Some(41049 | 41050))
}

impl WelcomeSender {
    async fn send(&self, job: &pond_store::jobs::Job) -> Result<(), JobError> {
        // An event applied again (its batch's write failed after the welcome went out) queues its
        // welcome job again: the outcome is recorded, so WeCom is not asked a second time.
        if let Some(code) = welcome_code_of_key(&job.idempotency_key)
            && !welcome::recorded_codes(&self.0.db, job.corp_id, &[code]).await.map_err(store_error)?.is_empty()
        {
            return Ok(());
        }
        let client = self.0.client(job.corp_id).await.map_err(job_error)?;
        // Attempts count claims: above one, an earlier claim (or the run made at once while the
        // event was applied, see `jobs::note_tried`) may have reached WeCom.
        let tried_before = job.attempts > 1;
        let delivered = deliver_welcome(
            &self.0.db,
            &client,
            &self.0.clock,
            job.corp_id,
            &job.payload,
            &WelcomeLookups::default(),
            tried_before,
        )
        .await?;
        let (result, failure) = match delivered {
            Delivered::Done(r) => (r, None),
            Delivered::Failed(r, reason) => (r, Some(reason)),
        };
        welcome::record_result(&self.0.db, job.corp_id, &result).await.map_err(store_error)?;
        match failure {
            Some(reason) => Err(JobError::Permanent(reason)),
            None => Ok(()),
        }
    }
}

impl JobHandler for WelcomeSender {
    fn run<'a>(&'a self, job: &'a pond_store::jobs::Job) -> JobFuture<'a> {
        Box::pin(self.send(job))
    }
}

/// The welcome message as an expedited job: sent while its batch is read, outcome written with it.
pub struct ExpediteWelcome;

/// A batch's welcome sends: names read once, codes handled before.
struct WelcomeBatch {
    db: Db,
    clock: Clock,
    corp_id: i64,
    lookups: WelcomeLookups,
    /// Codes whose outcome is recorded or whose job is queued already.
    handled: HashSet<String>,
}

impl Expedite for ExpediteWelcome {
    fn kind(&self) -> &'static str {
        WELCOME_JOB
    }

    fn prepare<'a>(
        &'a self,
        db: &'a Db,
        clock: &'a Clock,
        corp_id: i64,
        events: &'a [&'a Callback],
    ) -> BoxFuture<'a, Result<Arc<dyn ExpeditedBatch>, AppError>> {
        Box::pin(async move {
            let mut codes = std::collections::BTreeSet::new();
            let mut userids = std::collections::BTreeSet::new();
            for (userid, _, code) in events.iter().filter_map(|cb| added(cb)) {
                userids.insert(userid);
                codes.extend(code);
            }
            let codes: Vec<&str> = codes.into_iter().collect();
            let userids: Vec<&str> = userids.into_iter().collect();
            let keys: Vec<String> = codes.iter().map(|c| welcome_job_key(c)).collect();
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            let lookups = WelcomeLookups::default();
            let (recorded, queued, names) = tokio::join!(
                welcome::recorded_codes(db, corp_id, &codes),
                pond_store::jobs::existing_keys(db, corp_id, &keys),
                lookups.preload_staff_names(db, corp_id, &userids)
            );
            if let Err(e) = names {
                // Looked up one by one while sending instead.
                tracing::warn!(corp_id, error = %e, "could not read the employees' names");
            }
            let mut handled: HashSet<String> = recorded?.into_iter().collect();
            handled.extend(queued?.iter().filter_map(|k| welcome_code_of_key(k)).map(str::to_owned));
            let clock = clock.clone();
            Ok(Arc::new(WelcomeBatch { db: db.clone(), clock, corp_id, lookups, handled }) as Arc<dyn ExpeditedBatch>)
        })
    }
}

impl ExpeditedBatch for WelcomeBatch {
    fn handled(&self, job: &PlannedJob) -> bool {
        welcome_code_of_key(&job.idempotency_key).is_some_and(|code| self.handled.contains(code))
    }

    fn run(
        self: Arc<Self>,
        client: Client,
        job: PlannedJob,
        tried_before: bool,
    ) -> BoxFuture<'static, Result<Record, JobError>> {
        Box::pin(async move {
            let delivered = deliver_welcome(
                &self.db,
                &client,
                &self.clock,
                self.corp_id,
                &job.payload,
                &self.lookups,
                tried_before,
            )
            .await?;
            Ok(Box::new(delivered.result().clone()) as Record)
        })
    }

    fn write<'a>(
        &'a self,
        tx: &'a mut Tx,
        corp_id: i64,
        records: Vec<&'a Record>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let results: Vec<WelcomeResult> =
                records.into_iter().filter_map(|r| r.downcast_ref::<WelcomeResult>()).cloned().collect();
            welcome::record_results(tx, corp_id, &results).await.map(|_| ())
        })
    }
}

/// A welcome message as submitted.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WelcomeInput {
    pub name: String,
    /// Text with `{customer_name}` and `{staff_name}` variables.
    #[serde(default)]
    pub text: String,
    /// Up to 9 WeCom attachments: `{"msgtype": "image"|"link"|"miniprogram"|"video"|"file", "<msgtype>": {...}}`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub attachments: Vec<serde_json::Value>,
    #[serde(default)]
    pub is_default: bool,
}

impl WelcomeInput {
    pub fn validate(&self) -> Result<(String, String), ValidationError> {
        let name = ids::required_text("name", &self.name, 64)?;
        if self.text.trim().is_empty() && self.attachments.is_empty() {
            return Err(ValidationError::new(
                "text",
                "text and attachments cannot both be empty",
                "文字和附件不能都为空",
            ));
        }
        if let Some(token) = acquisition::unknown_placeholder(&self.text) {
            return Err(ValidationError::new(
                "text",
                format!("{token} is not a variable; use {{customer_name}} or {{staff_name}}"),
                format!("{token} 不是可用的变量，请使用 {{客户昵称}} 或 {{员工姓名}}"),
            ));
        }
        pond_core::ids::message_text("text", &self.text, 4000)?;
        if self.attachments.len() > acquisition::MAX_WELCOME_ATTACHMENTS {
            return Err(ValidationError::new(
                "attachments",
                "at most 9 attachments (WeCom's limit)",
                "最多 9 个附件（企业微信的限制）",
            ));
        }
        for (i, a) in self.attachments.iter().enumerate() {
            let kind = a.get("msgtype").and_then(|k| k.as_str()).unwrap_or("");
            if !matches!(kind, "image" | "link" | "miniprogram" | "video" | "file")
                || !a.get(kind).is_some_and(|v| v.is_object())
            {
                return Err(ValidationError::new(
                    "attachments",
                    format!(
                        "attachment {} must be {{\"msgtype\": image|link|miniprogram|video|file, \"<msgtype>\": {{...}}}}",
                        i + 1
                    ),
                    format!(
                        "第 {} 个附件须为 {{\"msgtype\": image|link|miniprogram|video|file, \"<msgtype>\": {{...}}}}",
                        i + 1
                    ),
                ));
            }
        }
        let attachments = serde_json::to_string(&self.attachments).unwrap_or_else(|_| "[]".into());
        Ok((name, attachments))
    }
}

/// The corp's welcome messages.
pub async fn list(app: &App, corp_id: i64) -> Result<Vec<welcome::WelcomeMessage>, AppError> {
    Ok(welcome::list(&app.db, corp_id).await?)
}

/// Adds a welcome message.
pub async fn create(
    app: &App,
    actor: &Actor,
    corp_id: i64,
    input: &WelcomeInput,
) -> Result<welcome::WelcomeMessage, AppError> {
    let (name, attachments) = input.validate()?;
    let mut tx = app.db.begin().await?;
    let m = welcome::create_in(&mut tx, corp_id, &name, input.text.trim(), &attachments, input.is_default).await?;
    audit::record(&mut tx, corp_id, actor, AuditAction::WelcomeCreate, &format!("welcome:{}", m.id), &m.name).await?;
    tx.commit().await?;
    Ok(m)
}

/// Changes a welcome message; audited with what changed.
pub async fn update(
    app: &App,
    actor: &Actor,
    corp_id: i64,
    id: i64,
    input: &WelcomeInput,
) -> Result<welcome::WelcomeMessage, AppError> {
    let (name, attachments) = input.validate()?;
    let before = welcome::get(&app.db, corp_id, id).await?;
    let mut tx = app.db.begin().await?;
    let m = welcome::update_in(&mut tx, corp_id, id, &name, input.text.trim(), &attachments, input.is_default).await?;
    let mut changes = Vec::new();
    if before.name != m.name {
        changes.push(format!("name: {:?} → {:?}", before.name, m.name));
    }
    if before.text != m.text {
        changes.push(format!("text: {:?} → {:?}", before.text, m.text));
    }
    if before.attachments != m.attachments {
        changes.push(format!("attachments: {} → {}", before.attachments, m.attachments));
    }
    if before.is_default != m.is_default {
        changes.push(format!("is_default: {} → {}", before.is_default, m.is_default));
    }
    let detail = if changes.is_empty() { "no change".to_owned() } else { changes.join("; ") };
    audit::record(&mut tx, corp_id, actor, AuditAction::WelcomeUpdate, &format!("welcome:{id}"), &detail).await?;
    tx.commit().await?;
    Ok(m)
}

/// Uploads an image for a welcome message through WeCom's `media/uploadimg` (whose URL does not
/// expire, unlike a media_id's 3 days) and returns the attachment to add:
/// `{"msgtype": "image", "image": {"pic_url": …}}`. JPG or PNG, 5 B to 2 MB, as WeCom takes.
pub async fn upload_image(
    app: &App,
    corp_id: i64,
    bytes: &[u8],
    file_name: &str,
) -> Result<serde_json::Value, AppError> {
    let content_type = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        "image/jpeg"
    } else {
        return Err(ValidationError::new("image", "must be a JPG or PNG image", "须为 JPG 或 PNG 图片").into());
    };
    if bytes.len() < 5 || bytes.len() > 2 * 1024 * 1024 {
        return Err(ValidationError::new(
            "image",
            "must be at most 2 MB (WeCom's limit)",
            "不能超过 2 MB（企业微信的限制）",
        )
        .into());
    }
    let client = app.client(corp_id).await?;
    let name = if file_name.trim().is_empty() { "image" } else { file_name };
    let url = client.upload_image(&wecom::client::Upload { bytes, file_name: name, content_type }).await?;
    Ok(serde_json::json!({"msgtype": "image", "image": {"pic_url": url}}))
}

/// Per message: (welcome_id, sent, skipped, failed) over all outcomes.
pub async fn send_stats(app: &App, corp_id: i64) -> Result<Vec<(i64, i64, i64, i64)>, AppError> {
    Ok(welcome::counts_by_message(&app.db, corp_id).await?)
}

/// Deletes a welcome message (codes and employees using it fall back to the next choice).
pub async fn delete(app: &App, actor: &Actor, corp_id: i64, id: i64) -> Result<(), AppError> {
    welcome::get(&app.db, corp_id, id).await?;
    let codes = pond_store::channel_code::names_using_welcome(&app.db, corp_id, id).await?;
    let staff: Vec<String> = welcome::staff_assignments(&app.db, corp_id)
        .await?
        .into_iter()
        .filter(|(_, w)| *w == id)
        .map(|(userid, _)| userid)
        .collect();
    if !codes.is_empty() || !staff.is_empty() {
        let (mut en, mut zh) = (Vec::new(), Vec::new());
        if !codes.is_empty() {
            en.push(format!("codes {}", codes.join(", ")));
            zh.push(format!("活码 {}", codes.join("、")));
        }
        if !staff.is_empty() {
            en.push(format!("employees {}", staff.join(", ")));
            zh.push(format!("员工 {}", staff.join("、")));
        }
        return Err(ValidationError::new(
            "welcome",
            format!("still used by {}; choose another message for them first", en.join(" and ")),
            format!("仍被{}使用，请先为它们改选其他欢迎语", zh.join("和")),
        )
        .into());
    }
    let mut tx = app.db.begin().await?;
    welcome::delete(&mut tx, corp_id, id).await?;
    audit::record(&mut tx, corp_id, actor, AuditAction::WelcomeDelete, &format!("welcome:{id}"), "").await?;
    Ok(tx.commit().await?)
}

/// Sets the message an employee greets with when the code has none (`None`: the corp default).
pub async fn set_for_staff(
    app: &App,
    actor: &Actor,
    corp_id: i64,
    userid: &str,
    welcome_id: Option<i64>,
) -> Result<(), AppError> {
    staff::get(&app.db, corp_id, userid).await?;
    if let Some(id) = welcome_id {
        welcome::get(&app.db, corp_id, id).await?;
    }
    let detail = welcome_id.map(|id| format!("welcome:{id}")).unwrap_or_else(|| "corp default".into());
    let mut tx = app.db.begin().await?;
    welcome::set_for_staff(&mut tx, corp_id, userid, welcome_id).await?;
    audit::record(&mut tx, corp_id, actor, AuditAction::StaffWelcome, userid, &detail).await?;
    Ok(tx.commit().await?)
}
