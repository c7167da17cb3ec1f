//! Extension points: how a feature area plugs into Pond without editing the pipeline.
//!
//! A feature area (acquisition today; groups, reach, risk and fission next) implements
//! [`Feature`] and is listed once in [`crate::features`]. From that list:
//! * the job worker learns its job kinds ([`Feature::register_jobs`]);
//! * the periodic runner starts its timed tasks ([`Feature::periodic_tasks`]);
//! * the inbox worker and sync call its [`EventEffects`] for every WeCom event: a per-batch
//!   preload (reads what the batch's events need, once), a pure plan (decides the jobs an event
//!   calls for, no I/O), and an after-commit hook (keeps in-memory indexes current);
//! * the inbox worker runs its [`Expedite`]d job kinds before the batch is written, for work that
//!   cannot wait for the queue (the welcome message: its code is valid 20 s and once only).
//!
//! Neither the pipeline nor sync names a feature.

use std::{any::Any, collections::HashMap, future::Future, pin::Pin, sync::Arc, time::Duration};

use pond_store::{Db, StoreError, Tx, inbox::InboxEvent, jobs};
use wecom::{Callback, Client};

use crate::{
    App, AppError,
    clock::Clock,
    pipeline::jobs::{JobError, Registry},
    sync::CustomerNow,
};

/// A boxed future, so features of different types can sit in one list.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A feature area, as the rest of Pond sees it.
pub trait Feature: Send + Sync + 'static {
    /// Short name, for logs.
    fn name(&self) -> &'static str;
    /// Adds the handlers of the job kinds this feature queues.
    fn register_jobs(&self, _app: &App, jobs: Registry) -> Registry {
        jobs
    }
    /// Tasks this feature runs on a timer.
    fn periodic_tasks(&self, _app: &App) -> Vec<PeriodicTask> {
        Vec::new()
    }
    /// What this feature does when WeCom events arrive.
    fn event_effects(&self) -> Option<Arc<dyn EventEffects>> {
        None
    }
    /// Job kinds the inbox worker runs before writing a batch, instead of queuing them.
    fn expedited(&self) -> Vec<Arc<dyn Expedite>> {
        Vec::new()
    }
}

/// A task run every `every` (first one interval after the start). Its errors are logged with the
/// task's name; the next run comes all the same.
pub struct PeriodicTask {
    pub name: &'static str,
    pub every: Duration,
    pub run: Arc<dyn Fn() -> BoxFuture<'static, Result<(), AppError>> + Send + Sync>,
}

impl PeriodicTask {
    pub fn new<F, Fut>(name: &'static str, every: Duration, run: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), AppError>> + Send + 'static,
    {
        PeriodicTask { name, every, run: Arc::new(move || Box::pin(run())) }
    }
}

/// One WeCom event, as effects see it.
#[derive(Clone, Copy)]
pub struct Event<'a> {
    pub corp_id: i64,
    /// The stored callback (its id, when Pond received it).
    pub stored: &'a InboxEvent,
    pub callback: &'a Callback,
    /// For customer events: the customer as just read from WeCom.
    pub customer: Option<&'a CustomerNow>,
}

/// A feature's reaction to WeCom events (customer added / edited / removed, group created /
/// changed / member joined / left / dismissed, tag changed, employee changes).
pub trait EventEffects: Send + Sync + 'static {
    /// Reads once what planning these events (one corp's batch) needs, and returns the planner.
    fn preload<'a>(
        &'a self,
        db: &'a Db,
        corp_id: i64,
        events: &'a [&'a Callback],
    ) -> BoxFuture<'a, Result<Box<dyn EffectPlan>, AppError>>;

    /// Called once the batch holding these events is committed: update in-memory engines.
    fn after_commit(&self, _corp_id: i64, _events: &[&Callback]) {}
}

/// A feature's decisions for one batch, made without I/O from what [`EventEffects::preload`] read.
pub trait EffectPlan: Send + Sync {
    /// Adds the jobs `event` calls for (each with an idempotency key, so a re-applied event queues
    /// nothing twice).
    fn plan(&self, event: &Event<'_>, jobs: &mut Vec<PlannedJob>);
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

/// What an expedited job left to record: written in the batch's transaction by the
/// [`ExpeditedBatch`] that made it.
pub type Record = Box<dyn Any + Send + Sync>;

/// A job kind that cannot wait for the queue: the inbox worker runs it while the batch is read,
/// and records its outcome with the batch. Should the write not happen, the event is applied
/// again and its job is run or queued again — so the job must be safe to repeat (WeCom refuses a
/// used welcome code).
pub trait Expedite: Send + Sync + 'static {
    /// The job kind.
    fn kind(&self) -> &'static str;
    /// Reads once what running this batch's jobs of this kind needs, and which were handled by an
    /// earlier application of the same events. An error leaves every such job to the queue.
    /// `clock` is the App's: deadlines are judged by it.
    fn prepare<'a>(
        &'a self,
        db: &'a Db,
        clock: &'a Clock,
        corp_id: i64,
        events: &'a [&'a Callback],
    ) -> BoxFuture<'a, Result<Arc<dyn ExpeditedBatch>, AppError>>;
}

/// The expedited jobs of one batch.
pub trait ExpeditedBatch: Send + Sync {
    /// Whether this job was handled before (its outcome recorded, or queued): not run again.
    fn handled(&self, job: &PlannedJob) -> bool;
    /// Runs the job. `Ok` is an outcome to record (done, or refused for good); `Err` leaves the
    /// job to the queue (retryable: at the backoff's next attempt). `tried_before`: the event was
    /// claimed before (its earlier application died or failed), so WeCom may have been called for
    /// this job already — the run must find out rather than assume.
    fn run(
        self: Arc<Self>,
        client: Client,
        job: PlannedJob,
        tried_before: bool,
    ) -> BoxFuture<'static, Result<Record, JobError>>;
    /// Writes the outcomes this batch's runs returned, in the batch's transaction.
    fn write<'a>(
        &'a self,
        tx: &'a mut Tx,
        corp_id: i64,
        records: Vec<&'a Record>,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// The features of this Pond, assembled once from [`crate::features`].
#[derive(Clone, Default)]
pub struct Features {
    list: Vec<Arc<dyn Feature>>,
    effects: Vec<Arc<dyn EventEffects>>,
    expedited: HashMap<&'static str, Arc<dyn Expedite>>,
}

impl Features {
    pub fn new(list: Vec<Arc<dyn Feature>>) -> Self {
        let effects = list.iter().filter_map(|f| f.event_effects()).collect();
        let expedited = list.iter().flat_map(|f| f.expedited()).map(|e| (e.kind(), e)).collect();
        Features { list, effects, expedited }
    }

    pub fn list(&self) -> &[Arc<dyn Feature>] {
        &self.list
    }

    pub fn effects(&self) -> &[Arc<dyn EventEffects>] {
        &self.effects
    }

    pub fn expedited(&self) -> &HashMap<&'static str, Arc<dyn Expedite>> {
        &self.expedited
    }

    /// Every feature's job handlers, in one registry.
    pub fn job_registry(&self, app: &App) -> Registry {
        self.list.iter().fold(Registry::default(), |registry, f| f.register_jobs(app, registry))
    }

    /// Every feature's periodic tasks.
    pub fn periodic_tasks(&self, app: &App) -> Vec<PeriodicTask> {
        self.list.iter().flat_map(|f| f.periodic_tasks(app)).collect()
    }

    /// Preloads every feature's effects for a batch of one corp's events.
    pub async fn preload(&self, db: &Db, corp_id: i64, events: &[&Callback]) -> Result<Plans, AppError> {
        let mut plans = Vec::with_capacity(self.effects.len());
        for effects in &self.effects {
            plans.push(effects.preload(db, corp_id, events).await?);
        }
        Ok(Plans(plans))
    }

    /// Tells every feature that a batch of one corp's events was committed.
    pub fn after_commit(&self, corp_id: i64, events: &[&Callback]) {
        for effects in &self.effects {
            effects.after_commit(corp_id, events);
        }
    }
}

/// Every feature's plan for one batch.
pub struct Plans(Vec<Box<dyn EffectPlan>>);

impl Plans {
    /// The jobs every feature plans for `event`.
    pub fn plan(&self, event: &Event<'_>) -> Vec<PlannedJob> {
        let mut jobs = Vec::new();
        for plan in &self.0 {
            plan.plan(event, &mut jobs);
        }
        jobs
    }
}
