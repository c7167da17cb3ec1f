//! The acquisition journey: when a customer adds an employee, decide the welcome message, the
//! channel's tags and remark, and queue them as jobs (each with an idempotency key, so a
//! re-applied event queues nothing twice); run those jobs against WeCom; create and route
//! channel live codes (native contact ways kept current, or Pond's landing page).

use std::collections::HashMap;

use pond_core::acquisition::{self, LocalTime, Rules, Strategy};
use pond_store::{
    Db,
    channel_code::ChannelCode,
    customer, jobs, now_ms, staff,
    welcome::{self, WelcomeResult},
};
use serde::{Deserialize, Serialize};
use wecom::{Client, WecomError, api::ContactWay};

use crate::{
    sync::SyncError,
    wecom_link::WecomClients,
    worker::{JobError, JobFuture, JobHandler, Registry},
};

/// WeCom's welcome_code lifetime.
pub const WELCOME_WINDOW_MS: i64 = 20_000;
const CHINA_OFFSET_MS: i64 = 8 * 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// Local (China) weekday and minute for an epoch-ms instant.
pub fn local_time(ms: i64) -> LocalTime {
    let local = ms + CHINA_OFFSET_MS;
    let day = local.div_euclid(DAY_MS);
    LocalTime { weekday: ((day + 3).rem_euclid(7) + 1) as u8, minute: (local.rem_euclid(DAY_MS) / 60_000) as u16 }
}

/// Start of the local (China) day containing `ms`, as epoch ms.
pub fn local_day_start(ms: i64) -> i64 {
    (ms + CHINA_OFFSET_MS).div_euclid(DAY_MS) * DAY_MS - CHINA_OFFSET_MS
}

#[derive(Debug, Serialize, Deserialize)]
struct WelcomeJob {
    welcome_code: String,
    external_userid: String,
    userid: String,
    welcome_id: Option<i64>,
    event_at: i64,
    #[serde(default)]
    received_at: i64,
    /// The customer's name as read when the event was applied (saves a read at sending time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    customer_name: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct TagJob {
    userid: String,
    external_userid: String,
    add: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct RemarkJob {
    userid: String,
    external_userid: String,
    prefix: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct RefreshJob {
    code_id: i64,
}

fn job_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// A customer adding an employee, as the inbox worker saw it.
#[derive(Debug, Clone, Copy)]
pub struct Added<'a> {
    pub userid: &'a str,
    pub external_userid: &'a str,
    pub state: &'a str,
    pub welcome_code: Option<&'a str>,
    /// When it happened (the event's CreateTime), epoch ms.
    pub event_at: i64,
    /// When Pond received the callback, epoch ms.
    pub received_at: i64,
    /// The customer's name, when the customer was just read from WeCom.
    pub customer_name: Option<&'a str>,
}

/// A job an event queues (owned, so a batch can collect them before writing).
#[derive(Debug, Clone)]
pub struct PlannedJob {
    pub kind: &'static str,
    pub payload: String,
    pub idempotency_key: String,
    pub max_attempts: i64,
}

impl PlannedJob {
    /// The welcome code a welcome job sends with.
    pub fn welcome_code(&self) -> Option<&str> {
        if self.kind == WELCOME_JOB { welcome_code_of_key(&self.idempotency_key) } else { None }
    }

    pub fn as_new(&self, corp_id: i64) -> jobs::NewJob<'_> {
        jobs::NewJob {
            corp_id,
            kind: self.kind,
            payload: &self.payload,
            idempotency_key: &self.idempotency_key,
            max_attempts: self.max_attempts,
            run_at: None,
        }
    }
}

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

/// The settings the acquisition rules read (channel codes by state, employees' and the corp's
/// welcome messages), each read at most once per batch of events.
pub struct AddRules<'a> {
    db: &'a Db,
    corp_id: i64,
    codes: HashMap<String, Option<ChannelCode>>,
    staff_welcome: HashMap<String, Option<i64>>,
    corp_default: Option<Option<i64>>,
}

impl<'a> AddRules<'a> {
    pub fn new(db: &'a Db, corp_id: i64) -> Self {
        AddRules { db, corp_id, codes: HashMap::new(), staff_welcome: HashMap::new(), corp_default: None }
    }

    /// Reads the settings a batch of events will need in three queries, instead of one per
    /// state and employee as they come up.
    pub async fn preload(&mut self, states: &[&str], userids: &[&str]) -> Result<(), SyncError> {
        let states: Vec<&str> =
            states.iter().copied().filter(|s| !s.is_empty() && !self.codes.contains_key(*s)).collect();
        let codes = pond_store::channel_code::find_by_states(self.db, self.corp_id, &states).await?;
        for state in states {
            self.codes.insert(state.to_owned(), None);
        }
        for code in codes {
            self.codes.insert(code.state.clone(), Some(code));
        }
        let userids: Vec<&str> = userids.iter().copied().filter(|u| !self.staff_welcome.contains_key(*u)).collect();
        let found: HashMap<String, i64> =
            welcome::for_staff_many(self.db, self.corp_id, &userids).await?.into_iter().collect();
        for userid in userids {
            self.staff_welcome.insert(userid.to_owned(), found.get(userid).copied());
        }
        self.corp_default().await?;
        Ok(())
    }

    async fn code(&mut self, state: &str) -> Result<Option<ChannelCode>, SyncError> {
        if state.is_empty() {
            return Ok(None);
        }
        if let Some(code) = self.codes.get(state) {
            return Ok(code.clone());
        }
        let code = pond_store::channel_code::find_by_state(self.db, self.corp_id, state).await?;
        self.codes.insert(state.to_owned(), code.clone());
        Ok(code)
    }

    async fn staff_welcome(&mut self, userid: &str) -> Result<Option<i64>, SyncError> {
        if let Some(id) = self.staff_welcome.get(userid) {
            return Ok(*id);
        }
        let id = welcome::for_staff(self.db, self.corp_id, userid).await?;
        self.staff_welcome.insert(userid.to_owned(), id);
        Ok(id)
    }

    async fn corp_default(&mut self) -> Result<Option<i64>, SyncError> {
        if let Some(id) = self.corp_default {
            return Ok(id);
        }
        let id = welcome::corp_default(self.db, self.corp_id).await?;
        self.corp_default = Some(id);
        Ok(id)
    }

    /// The jobs a customer adding an employee queues: the welcome message (code's, else the
    /// employee's, else the corp default), and for a channel code its tags, remark prefix and —
    /// for native codes with caps or schedules — a refresh of its contact way. Each has an
    /// idempotency key, so a re-applied event queues nothing twice.
    pub async fn plan(&mut self, a: &Added<'_>) -> Result<Vec<PlannedJob>, SyncError> {
        let Added { userid, external_userid, state, welcome_code, event_at, received_at, customer_name } = *a;
        let code = self.code(state).await?;
        let mut planned = Vec::new();
        if let Some(welcome_code) = welcome_code {
            let chosen = acquisition::choose_welcome(
                code.as_ref().and_then(|c| c.welcome_id),
                self.staff_welcome(userid).await?,
                self.corp_default().await?,
            );
            let payload = job_json(&WelcomeJob {
                welcome_code: welcome_code.to_owned(),
                external_userid: external_userid.to_owned(),
                userid: userid.to_owned(),
                welcome_id: chosen,
                event_at,
                received_at,
                customer_name: customer_name.map(str::to_owned),
            });
            planned.push(PlannedJob {
                kind: WELCOME_JOB,
                payload,
                idempotency_key: welcome_job_key(welcome_code),
                max_attempts: 5,
            });
        }
        let Some(code) = code else { return Ok(planned) };
        let tags: Vec<String> = serde_json::from_str(&code.auto_tags).unwrap_or_default();
        if !tags.is_empty() {
            let payload =
                job_json(&TagJob { userid: userid.into(), external_userid: external_userid.into(), add: tags });
            planned.push(PlannedJob {
                kind: "customer.mark_tag",
                payload,
                idempotency_key: format!("tags:{}:{external_userid}:{userid}", code.id),
                max_attempts: 8,
            });
        }
        if !code.remark_prefix.is_empty() {
            let payload = job_json(&RemarkJob {
                userid: userid.into(),
                external_userid: external_userid.into(),
                prefix: code.remark_prefix.clone(),
            });
            planned.push(PlannedJob {
                kind: "customer.remark",
                payload,
                idempotency_key: format!("remark:{}:{external_userid}:{userid}", code.id),
                max_attempts: 8,
            });
        }
        if code.mode == "native" && !code.config_id.is_empty() {
            let rules: Rules = serde_json::from_str(&code.rules).unwrap_or_default();
            if rules.daily_cap.is_some() || !rules.schedules.is_empty() {
                planned.push(PlannedJob {
                    kind: "channel.refresh",
                    payload: job_json(&RefreshJob { code_id: code.id }),
                    idempotency_key: format!("refresh:{}:{external_userid}:{userid}", code.id),
                    max_attempts: 8,
                });
            }
        }
        Ok(planned)
    }
}

/// New customers today per employee through a code (for caps and fewest-added-today).
pub async fn added_today(
    db: &Db,
    code: &ChannelCode,
    now: i64,
) -> Result<HashMap<String, u32>, pond_store::StoreError> {
    Ok(pond_store::channel_code::added_since(db, code.corp_id, &code.state, local_day_start(now))
        .await?
        .into_iter()
        .map(|(u, n)| (u, u32::try_from(n).unwrap_or(u32::MAX)))
        .collect())
}

/// Employees a native code's contact way should hold right now (never empty while anyone can serve).
pub async fn native_users(db: &Db, code: &ChannelCode, now: i64) -> Result<Vec<String>, pond_store::StoreError> {
    let rules: Rules = serde_json::from_str(&code.rules).unwrap_or_default();
    let added = added_today(db, code, now).await?;
    let eligible = acquisition::eligible(&rules, local_time(now), &added);
    let mut users: Vec<String> = eligible.staff.into_iter().map(|s| s.userid).collect();
    users.sort();
    users.dedup();
    Ok(users)
}

/// Picks the employee for one landing-page scan and advances the round-robin counter.
pub async fn route_scan(db: &Db, code: &ChannelCode, now: i64) -> Result<Option<String>, pond_store::StoreError> {
    let rules: Rules = serde_json::from_str(&code.rules).unwrap_or_default();
    let strategy = Strategy::parse(&code.strategy).unwrap_or(Strategy::RoundRobin);
    let added = added_today(db, code, now).await?;
    let eligible = acquisition::eligible(&rules, local_time(now), &added);
    let position = pond_store::channel_code::next_position(db, code.id).await?;
    let unit: f64 = rand::Rng::random(&mut rand::rng());
    Ok(acquisition::pick(strategy, &eligible.staff, u64::try_from(position).unwrap_or(0), &added, unit))
}

/// The contact way a native code uses, for `users` (single when one employee, multi otherwise).
pub fn native_way(code: &ChannelCode, users: Vec<String>) -> ContactWay {
    ContactWay {
        kind: if users.len() == 1 { 1 } else { 2 },
        scene: 2,
        remark: code.name.chars().take(30).collect(),
        skip_verify: code.skip_verify,
        state: code.state.clone(),
        user: users,
        ..Default::default()
    }
}

/// Job handlers of the acquisition journey.
pub fn register(
    registry: Registry,
    db: Db,
    clients: std::sync::Arc<WecomClients>,
    corps: std::sync::Arc<crate::corp_cache::CorpCache>,
) -> Registry {
    let ctx = Ctx { db, clients, corps };
    registry
        .with(WELCOME_JOB, WelcomeSender(ctx.clone()))
        .with("customer.mark_tag", TagMarker(ctx.clone()))
        .with("customer.remark", Remarker(ctx.clone()))
        .with("channel.refresh", Refresher(ctx))
}

#[derive(Clone)]
struct Ctx {
    db: Db,
    clients: std::sync::Arc<WecomClients>,
    corps: std::sync::Arc<crate::corp_cache::CorpCache>,
}

impl Ctx {
    async fn client(&self, corp_id: i64) -> Result<Client, JobError> {
        let corp = self.corps.get(&self.db, corp_id).await.map_err(|e| JobError::Retryable(e.to_string()))?;
        self.clients.for_corp(&corp).map_err(|e| JobError::Permanent(e.to_string()))
    }
}

fn api_error(e: WecomError) -> JobError {
    if e.is_transient() { JobError::Retryable(e.to_string()) } else { JobError::Permanent(e.to_string()) }
}

fn store_error(e: pond_store::StoreError) -> JobError {
    JobError::Retryable(e.to_string())
}

struct WelcomeSender(Ctx);

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

/// Sends the welcome message of a `welcome.send` job (payload as queued), within WeCom's window.
pub async fn deliver_welcome(
    db: &Db,
    client: &Client,
    corp_id: i64,
    payload: &str,
    lookups: &WelcomeLookups,
) -> Result<Delivered, JobError> {
    let p: WelcomeJob = serde_json::from_str(payload).map_err(|e| JobError::Permanent(format!("bad payload: {e}")))?;
    let outcome = |status: &str, reason: String| WelcomeResult {
        external_userid: p.external_userid.clone(),
        userid: p.userid.clone(),
        welcome_code: p.welcome_code.clone(),
        welcome_id: p.welcome_id,
        status: status.to_owned(),
        reason,
        event_at: p.event_at,
        received_at: p.received_at,
        finished_at: now_ms(),
    };
    let skipped = |reason: String| Ok(Delivered::Done(outcome("skipped", reason)));
    let Some(welcome_id) = p.welcome_id else {
        return skipped("no welcome message configured (code, employee or corp default)".into());
    };
    if now_ms() - p.event_at > WELCOME_WINDOW_MS {
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
    let attachments: Vec<serde_json::Value> = serde_json::from_str(&message.attachments).unwrap_or_default();
    let msg = wecom::api::WelcomeMsg {
        welcome_code: p.welcome_code.clone(),
        text: (!text.is_empty()).then_some(wecom::api::Text { content: text }),
        attachments,
    };
    match client.send_welcome_msg(&msg).await {
        Ok(()) => Ok(Delivered::Done(outcome("sent", String::new()))),
        Err(e) if e.errcode() == Some(41051) => skipped(format!("welcome code already used ({e})")),
        Err(e) if e.errcode() == Some(40058) => skipped(format!("welcome code refused ({e})")),
        Err(e) if e.is_transient() && now_ms() - p.event_at <= WELCOME_WINDOW_MS => {
            Err(JobError::Retryable(e.to_string()))
        }
        Err(e) if e.is_transient() => skipped(format!("window passed while WeCom was unavailable ({e})")),
        Err(e) => Ok(Delivered::Failed(outcome("failed", e.to_string()), e.to_string())),
    }
}

impl WelcomeSender {
    async fn send(&self, job: &pond_store::jobs::Job) -> Result<(), JobError> {
        let client = self.0.client(job.corp_id).await?;
        let delivered =
            deliver_welcome(&self.0.db, &client, job.corp_id, &job.payload, &WelcomeLookups::default()).await?;
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

struct TagMarker(Ctx);

impl JobHandler for TagMarker {
    fn run<'a>(&'a self, job: &'a pond_store::jobs::Job) -> JobFuture<'a> {
        Box::pin(async move {
            let p: TagJob =
                serde_json::from_str(&job.payload).map_err(|e| JobError::Permanent(format!("bad payload: {e}")))?;
            let client = self.0.client(job.corp_id).await?;
            client.mark_tag(&p.userid, &p.external_userid, &p.add, &[]).await.map_err(api_error)?;
            // Reflect at once; the edit callback (if any) will confirm.
            let mut tags = customer::follow_tags(&self.0.db, job.corp_id, &p.external_userid, &p.userid)
                .await
                .map_err(store_error)?;
            tags.extend(p.add);
            tags.sort();
            tags.dedup();
            customer::set_follow_tags(&self.0.db, job.corp_id, &p.external_userid, &p.userid, &tags)
                .await
                .map_err(store_error)
        })
    }
}

struct Remarker(Ctx);

impl JobHandler for Remarker {
    fn run<'a>(&'a self, job: &'a pond_store::jobs::Job) -> JobFuture<'a> {
        Box::pin(async move {
            let p: RemarkJob =
                serde_json::from_str(&job.payload).map_err(|e| JobError::Permanent(format!("bad payload: {e}")))?;
            let name =
                customer::get(&self.0.db, job.corp_id, &p.external_userid).await.map(|c| c.name).unwrap_or_default();
            let remark: String = format!("{}{name}", p.prefix).chars().take(20).collect();
            let client = self.0.client(job.corp_id).await?;
            client.remark(&p.userid, &p.external_userid, &remark, "").await.map_err(api_error)
        })
    }
}

struct Refresher(Ctx);

impl JobHandler for Refresher {
    fn run<'a>(&'a self, job: &'a pond_store::jobs::Job) -> JobFuture<'a> {
        Box::pin(async move {
            let p: RefreshJob =
                serde_json::from_str(&job.payload).map_err(|e| JobError::Permanent(format!("bad payload: {e}")))?;
            let code = pond_store::channel_code::get(&self.0.db, job.corp_id, p.code_id).await.map_err(store_error)?;
            refresh_native(&self.0.db, &self.0.client(job.corp_id).await?, &code).await
        })
    }
}

/// Makes a native code's contact way hold exactly the employees eligible now.
pub async fn refresh_native(db: &Db, client: &Client, code: &ChannelCode) -> Result<(), JobError> {
    let users = native_users(db, code, now_ms()).await.map_err(store_error)?;
    let current: Vec<String> = serde_json::from_str(&code.current_users).unwrap_or_default();
    if users == current || users.is_empty() {
        // An empty list cannot be stored in WeCom; the code keeps its last users until someone can serve.
        return Ok(());
    }
    let update = wecom::api::ContactWayUpdate {
        config_id: code.config_id.clone(),
        user: Some(users.clone()),
        ..Default::default()
    };
    client.update_contact_way(&update).await.map_err(api_error)?;
    let json = serde_json::to_string(&users).unwrap_or_default();
    pond_store::channel_code::set_contact_way(db, code.id, &code.config_id, &code.qr_code, &json)
        .await
        .map_err(store_error)
}

/// Every minute, brings each native code's contact way in line with its schedules and caps
/// (schedules change with the clock, not only when customers arrive).
pub async fn refresh_native_codes_periodically(
    state: crate::AppState,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(std::time::Duration::from_secs(60)) => {}
        }
        let codes = pond_store::channel_code::all_native(&state.db).await.unwrap_or_default();
        for code in codes {
            let Ok(corp) = pond_store::corp::get(&state.db, code.corp_id).await else { continue };
            let Ok(client) = state.wecom.for_corp(&corp) else { continue };
            if let Err(e) = refresh_native(&state.db, &client, &code).await {
                tracing::warn!(code_id = code.id, error = %e, "could not refresh a native code's staff");
            }
        }
    }
}
