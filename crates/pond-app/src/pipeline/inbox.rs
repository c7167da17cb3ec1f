//! Drains the event inbox: claims stored callbacks in arrival order and applies them through
//! [`crate::sync`] and every feature's effects ([`crate::feature`]), naming no feature itself. Transient failures (WeCom busy or rate-limited, database hiccup)
//! are retried with backoff; others, or too many attempts, mark the event failed with its reason.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use pond_core::backoff::Backoff;
use pond_store::{
    Backend, Db, customer,
    inbox::{self, InboxEvent, Outcome},
    jobs::{self, NewJob},
    now_ms,
    timeline::{self, NewEntry},
};
use rand::Rng;
use tokio::{
    sync::{Notify, Semaphore, mpsc, oneshot},
    task::{JoinHandle, JoinSet},
};
use tracing::Instrument;

use wecom::{Callback, EventKind};

use crate::{
    AppError,
    clock::Clock,
    corp::cache::CorpCache,
    feature::{ExpeditedBatch, Features, Record},
    pipeline::jobs::{JobError, LAPSED_SWEEP_INTERVAL},
    sync::{CustomerEffects, CustomerNow},
    wecom_link::WecomClients,
};

/// Attempts before an event is given up: with the backoff below (0.5 s doubling, at most 5 min
/// apart) the last comes about an hour after the first — long enough to ride out a secret being
/// rotated or WeCom being down, after which the event is failed and can be retried from the
/// console.
pub const MAX_ATTEMPTS: i64 = 20;
/// How long a claimed event stays with its worker before another may take it. Short, because a
/// welcome code is valid for 20 s: a live worker renews its leases every [`HEARTBEAT`], so only a
/// dead one's lapse — and an instance restarted under the same name takes its own back at once.
pub const LEASE_MS: i64 = 10_000;
/// How often a worker renews the leases of what it holds.
pub const HEARTBEAT: Duration = Duration::from_secs(3);
/// Groups of events applied at the same time.
const CONCURRENT_LANES: usize = 16;

/// What an event is about: events with the same lane are applied in order.
fn lane_of(event: &InboxEvent) -> String {
    match Callback::parse(&event.payload).map(|c| c.kind) {
        Ok(EventKind::ExternalContact(e)) => format!("{}:customer:{}", event.corp_id, e.external_userid),
        Ok(EventKind::ExternalChat(c)) => format!("{}:group:{}", event.corp_id, c.chat_id),
        Ok(EventKind::ExternalTag(_)) => format!("{}:tags", event.corp_id),
        // Address-book changes can end many follow relations: one lane per corp keeps them simple.
        _ => format!("{}:other", event.corp_id),
    }
}

#[derive(Clone)]
pub struct InboxWorker {
    pub db: Db,
    pub clients: Arc<WecomClients>,
    pub corps: Arc<CorpCache>,
    /// The feature areas whose effects and expedited jobs run here.
    pub features: Arc<Features>,
    pub wake: Arc<Notify>,
    /// Rung after events queued jobs, so the job worker starts them at once.
    pub wake_jobs: Arc<Notify>,
    pub poll_interval: Duration,
    pub batch_size: i64,
    pub backoff: Backoff,
    /// The instance this worker claims events for (see [`crate::pipeline::instance_name`]).
    pub holder: String,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The App's clock (expedited jobs judge their deadlines by it).
    pub clock: Clock,
}

/// How often the database's queue is claimed at least while events keep being handed over.
const QUEUE_CLAIM_INTERVAL: Duration = Duration::from_millis(500);

/// Events written per transaction at most.
const WRITE_PART: usize = 96;

/// Transactions a batch is written in at most on PostgreSQL (at once).
const CONCURRENT_WRITES: usize = 4;

/// Batches read and welcomed at once: the next batch starts as soon as the previous one has started
/// all its customer reads (while it waits for its slowest calls, and while earlier batches are
/// written), so an event does not wait for a whole batch's round. Written one at a time, in order.
const PREPARES_IN_FLIGHT: usize = 3;

/// WeCom calls in flight at once while a batch is read and welcomed.
const CALL_CONCURRENCY: usize = 64;

/// A claimed batch, parsed, with the customers its events name read from WeCom, their effects
/// planned and their expedited jobs (welcome messages) run.
#[derive(Default)]
pub struct Prepared {
    count: usize,
    customers: Vec<CorpBatch>,
    others: Vec<InboxEvent>,
}

struct CorpBatch {
    corp_id: i64,
    client: Result<wecom::Client, AppError>,
    events: Vec<(InboxEvent, Callback)>,
    fetched: HashMap<String, Result<CustomerNow, AppError>>,
    /// Each event's effects, in event order (`None` where its customer could not be read), or why
    /// they could not be planned.
    effects: Result<Vec<Option<CustomerEffects>>, AppError>,
    expedited: Expedited,
}

/// What became of a batch's expedited jobs while it was prepared.
#[derive(Default)]
struct Expedited {
    /// Each expedited kind's batch (absent where it could not be prepared: its jobs are queued).
    batches: HashMap<&'static str, Arc<dyn ExpeditedBatch>>,
    /// Run to an outcome (done, or refused for good), by job idempotency key.
    ran: HashMap<String, (&'static str, Record)>,
    /// To queue as jobs after all: running failed for now (retry at the given time) or could not
    /// be attempted.
    to_retry: HashMap<String, Option<i64>>,
    /// Keys a previous application of the same events already handled.
    handled: HashSet<String>,
}

impl InboxWorker {
    /// Puts events whose lease ended back in the queue, then claims and applies one batch; returns
    /// how many events it handled.
    ///
    /// Customer events — nearly all of the traffic — go together: each customer they name is read
    /// from WeCom once (concurrently), the welcome messages the events call for are sent at once
    /// (WeCom's welcome code is valid for 20 s and once only), then every event's changes, the
    /// welcome outcomes, the other jobs the events queue and the events' `done` marks are written
    /// in one transaction. Other events (groups, tags, the address book) are applied one by one,
    /// concurrently when about different things and in arrival order when about the same thing.
    pub async fn run_batch(&self) -> Result<usize, pond_store::StoreError> {
        inbox::requeue_lapsed(&self.db).await?;
        let events = inbox::claim(&self.db, &self.holder, self.batch_size, LEASE_MS).await?;
        let prepared = self.prepare(events).await;
        self.write(prepared).await
    }

    /// The reading stage: parses the events, reads the customers they name, plans their effects
    /// and sends their welcome messages (no database writes).
    ///
    /// Sending before the write is safe: should the write not happen (crash, database down), the
    /// event is applied again later, finds no outcome for its welcome code, and WeCom refuses the
    /// used code — the customer is welcomed once. A code whose outcome or job already exists is not
    /// sent again.
    pub async fn prepare(&self, events: Vec<InboxEvent>) -> Prepared {
        self.prepare_after(events, None).await
    }

    /// [`Self::prepare`], telling `reads_started` once every customer read has started (or when
    /// there is none to start).
    async fn prepare_after(&self, events: Vec<InboxEvent>, mut reads_started: Option<oneshot::Sender<()>>) -> Prepared {
        let count = events.len();
        let mut by_corp: BTreeMap<i64, Vec<(InboxEvent, Callback)>> = BTreeMap::new();
        let mut others = Vec::new();
        for event in events {
            match Callback::parse(&event.payload) {
                Ok(cb) if matches!(cb.kind, EventKind::ExternalContact(_)) => {
                    by_corp.entry(event.corp_id).or_default().push((event, cb));
                }
                _ => others.push(event),
            }
        }
        let mut customers = Vec::with_capacity(by_corp.len());
        let corps = by_corp.len();
        for (n, (corp_id, events)) in by_corp.into_iter().enumerate() {
            let last = n + 1 == corps;
            let client = self.client(corp_id).await;
            let mut batch = CorpBatch {
                corp_id,
                client,
                events,
                fetched: HashMap::new(),
                effects: Ok(Vec::new()),
                expedited: Expedited::default(),
            };
            if let Ok(client) = &batch.client {
                (batch.fetched, batch.effects, batch.expedited) =
                    self.read_and_run(corp_id, client, &batch.events, reads_started.take_if(|_| last)).await;
            }
            customers.push(batch);
        }
        Prepared { count, customers, others }
    }

    /// Reads each customer the events name once, plans each event's effects as soon as its
    /// customer is read (every feature's settings read once per batch), and runs the expedited jobs
    /// they call for at once — up to [`CALL_CONCURRENCY`] WeCom calls in flight, reads and runs
    /// together. Jobs handled by an earlier application of the same events are not run again.
    async fn read_and_run(
        &self,
        corp_id: i64,
        client: &wecom::Client,
        events: &[(InboxEvent, Callback)],
        mut reads_started: Option<oneshot::Sender<()>>,
    ) -> (HashMap<String, Result<CustomerNow, AppError>>, Result<Vec<Option<CustomerEffects>>, AppError>, Expedited)
    {
        let mut fetched = HashMap::new();
        let mut expedited = Expedited::default();
        let mut by_customer: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, (_, cb)) in events.iter().enumerate() {
            by_customer.entry(customer_of(cb)).or_default().push(i);
        }
        let callbacks: Vec<&Callback> = events.iter().map(|(_, cb)| cb).collect();
        let (plans, batches) = tokio::join!(
            self.features.preload(&self.db, corp_id, &callbacks),
            self.prepare_expedited(corp_id, &callbacks)
        );
        let plans = match plans {
            Ok(plans) => plans,
            Err(e) => return (fetched, Err(e), expedited),
        };
        expedited.batches = batches;

        let mut effects: Vec<Option<CustomerEffects>> = events.iter().map(|_| None).collect();
        let mut planning_error = None;
        let mut customers = by_customer.into_iter();
        let mut reads = JoinSet::new();
        let mut runs = JoinSet::new();
        loop {
            while reads.len() + runs.len() < CALL_CONCURRENCY {
                let Some((id, indexes)) = customers.next() else {
                    if let Some(started) = reads_started.take() {
                        let _ = started.send(());
                    }
                    break;
                };
                let (client, id) = (client.clone(), id.to_owned());
                reads.spawn(async move {
                    let now = crate::sync::fetch_customer(&client, &id).await;
                    (id, indexes, now)
                });
            }
            if reads.is_empty() && runs.is_empty() {
                break;
            }
            tokio::select! {
                Some(joined) = reads.join_next(), if !reads.is_empty() => {
                    let Ok((id, indexes, now)) = joined else { continue };
                    if let (Ok(now), None) = (&now, &planning_error) {
                        for i in indexes {
                            let (event, cb) = &events[i];
                            let fx = match crate::sync::customer_event_effects(&plans, corp_id, event, cb, now) {
                                Ok(fx) => fx,
                                Err(e) => {
                                    planning_error = Some(e);
                                    break;
                                }
                            };
                            for job in fx.jobs.iter().filter(|j| self.features.expedited().contains_key(j.kind)) {
                                match expedited.batches.get(job.kind) {
                                    None => {
                                        expedited.to_retry.insert(job.idempotency_key.clone(), None);
                                    }
                                    Some(batch) if batch.handled(job) => {
                                        expedited.handled.insert(job.idempotency_key.clone());
                                    }
                                    Some(batch) => {
                                        let (batch, client, job) = (batch.clone(), client.clone(), job.clone());
                                        let tried_before = event.attempts > 1;
                                        runs.spawn(async move {
                                            let (kind, key) = (job.kind, job.idempotency_key.clone());
                                            (kind, key, batch.run(client, job, tried_before).await)
                                        });
                                    }
                                }
                            }
                            effects[i] = Some(fx);
                        }
                    }
                    fetched.insert(id, now);
                }
                Some(joined) = runs.join_next(), if !runs.is_empty() => {
                    if let Ok((kind, key, outcome)) = joined {
                        self.note_run(corp_id, &mut expedited, kind, key, outcome);
                    }
                }
            }
        }
        let effects = match planning_error {
            Some(e) => Err(e),
            None => Ok(effects),
        };
        (fetched, effects, expedited)
    }

    /// Prepares every expedited kind for a batch; a kind that cannot be prepared is left out (its
    /// jobs go to the queue).
    async fn prepare_expedited(
        &self,
        corp_id: i64,
        callbacks: &[&Callback],
    ) -> HashMap<&'static str, Arc<dyn ExpeditedBatch>> {
        let mut batches = HashMap::new();
        for (kind, expedite) in self.features.expedited() {
            match expedite.prepare(&self.db, &self.clock, corp_id, callbacks).await {
                Ok(batch) => {
                    batches.insert(*kind, batch);
                }
                Err(e) => {
                    tracing::warn!(corp_id, kind, error = %e, cause = e.cause(), "could not prepare expedited jobs; queuing them instead")
                }
            }
        }
        batches
    }

    fn note_run(
        &self,
        corp_id: i64,
        out: &mut Expedited,
        kind: &'static str,
        key: String,
        outcome: Result<Record, JobError>,
    ) {
        match outcome {
            Ok(record) => {
                out.ran.insert(key, (kind, record));
            }
            Err(JobError::Retryable(reason)) => {
                tracing::info!(corp_id, key, reason, "expedited job will be retried by the job queue");
                let at = now_ms() + self.backoff.delay_ms(1, rand::rng().random::<f64>());
                out.to_retry.insert(key, Some(at));
            }
            Err(JobError::Permanent(reason)) => {
                tracing::warn!(corp_id, key, reason, "expedited job left to the job queue");
                out.to_retry.insert(key, None);
            }
        }
    }

    /// The writing stage: stores what [`Self::prepare`] read and decided. Returns how many events
    /// it handled.
    pub async fn write(&self, prepared: Prepared) -> Result<usize, pond_store::StoreError> {
        let mut queued = false;
        for batch in prepared.customers {
            queued |= self.apply_customer_events(batch).await?;
        }
        if !prepared.others.is_empty() {
            self.apply_one_by_one(prepared.others).await;
            queued = true;
        }
        if queued {
            self.wake_jobs.notify_one();
        }
        Ok(prepared.count)
    }

    /// Returns whether jobs were queued for the job worker.
    async fn apply_customer_events(&self, batch: CorpBatch) -> Result<bool, pond_store::StoreError> {
        if let Err(e) = &batch.client {
            for (event, _) in &batch.events {
                self.record_outcome(event, Err(e)).await?;
            }
            return Ok(false);
        }
        if let Err(e) = &batch.effects {
            tracing::warn!(corp_id = batch.corp_id, error = %e, "effects not planned; applying one by one");
            let all: Vec<usize> = (0..batch.events.len()).collect();
            return self.apply_on_their_own(&batch, &all).await;
        }
        let parts = write_parts(self.db.backend(), &batch.events);
        let batch = Arc::new(batch);
        let mut written = Vec::with_capacity(parts.len());
        match self.db.backend() {
            // One after the other: SQLite has one writer, and callbacks waiting for their group
            // commit get it between two parts.
            Backend::Sqlite => {
                for part in parts {
                    let result = self.write_customer_events(&batch, &part).await;
                    written.push((part, result));
                }
            }
            // At once, each on a connection of its own: a batch's parts name different customers,
            // so they touch different rows, and written one after the other they kept PostgreSQL
            // waiting on round trips with CPU to spare.
            Backend::Postgres => {
                let mut set = JoinSet::new();
                for part in parts {
                    let (worker, batch) = (self.clone(), batch.clone());
                    set.spawn(async move {
                        let result = worker.write_customer_events(&batch, &part).await;
                        (part, result)
                    });
                }
                while let Some(joined) = set.join_next().await {
                    match joined {
                        Ok(part_written) => written.push(part_written),
                        Err(e) => {
                            tracing::error!(error = %e, "inbox write panicked; its events run when their leases end")
                        }
                    }
                }
            }
        }
        let mut queued = false;
        let mut applied_alone = HashSet::new();
        for (part, result) in written {
            match result {
                Ok(q) => queued |= q,
                Err(e) => {
                    tracing::warn!(corp_id = batch.corp_id, error = %e, events = part.len(), "events not written together; applying one by one");
                    queued |= self.apply_on_their_own(&batch, &part).await?;
                    applied_alone.extend(part);
                }
            }
        }
        for (i, (event, cb)) in batch.events.iter().enumerate() {
            if applied_alone.contains(&i) {
                continue;
            }
            if let Some(Err(e)) = batch.fetched.get(customer_of(cb)) {
                self.record_outcome(event, Err(e)).await?;
            }
        }
        Ok(queued)
    }

    /// Applies events of a batch each on its own, after keeping the outcomes of the expedited jobs
    /// already run for them (the welcome jobs the events queue again find the outcome and do not
    /// call WeCom) — so one bad event cannot hold back the others.
    async fn apply_on_their_own(&self, batch: &CorpBatch, part: &[usize]) -> Result<bool, pond_store::StoreError> {
        let records = match &batch.effects {
            Ok(effects) => records_by_kind(
                &batch.expedited,
                part.iter().filter_map(|&i| effects[i].as_ref()).flat_map(|fx| fx.jobs.iter()),
            ),
            Err(_) => BTreeMap::new(),
        };
        if !records.is_empty() {
            let mut tx = self.db.begin().await?;
            write_records(&mut tx, batch.corp_id, &batch.expedited, records).await?;
            tx.commit().await?;
        }
        for &i in part {
            self.handle(&batch.events[i].0).await?;
        }
        Ok(true)
    }

    /// Writes a part of the batch — for every event whose customer was read: customers, timeline
    /// entries, welcome outcomes, the jobs the events queue, and their `done` marks — in one
    /// transaction. Returns whether jobs were queued.
    async fn write_customer_events(&self, batch: &CorpBatch, part: &[usize]) -> Result<bool, AppError> {
        let corp_id = batch.corp_id;
        // Batches whose effects could not be planned are applied one by one instead.
        let Ok(effects) = &batch.effects else { return Ok(false) };
        let mut snapshots = Vec::new();
        let mut seen = HashSet::new();
        let mut entries: Vec<NewEntry<'_>> = Vec::new();
        let mut queue: Vec<NewJob<'_>> = Vec::new();
        let mut done = Vec::new();
        let mut callbacks = Vec::with_capacity(part.len());
        // Jobs queued after a first attempt elsewhere: a failed expedited run, or an earlier
        // application of the same event that was interrupted and may have run them.
        let mut ran_before: Vec<&str> = Vec::new();
        let mut reapplied: Vec<&str> = Vec::new();
        for &i in part {
            let ((event, cb), fx) = (&batch.events[i], &effects[i]);
            let external_userid = customer_of(cb);
            let (Some(Ok(now)), Some(fx)) = (batch.fetched.get(external_userid), fx) else { continue };
            if seen.insert(external_userid) {
                snapshots.push(crate::sync::snapshot(corp_id, external_userid, now));
            }
            entries.extend(crate::sync::timeline_entry(corp_id, event, cb, fx));
            let expedited = &batch.expedited;
            for job in &fx.jobs {
                let mut new = job.as_new(corp_id);
                match expedited.to_retry.get(&job.idempotency_key) {
                    Some(at) => {
                        new.run_at = *at;
                        if at.is_some() {
                            ran_before.push(&job.idempotency_key);
                        } else if event.attempts > 1 {
                            reapplied.push(&job.idempotency_key);
                        }
                    }
                    // Run to an outcome, or handled before: nothing to queue.
                    None if expedited.ran.contains_key(&job.idempotency_key)
                        || expedited.handled.contains(&job.idempotency_key) =>
                    {
                        continue;
                    }
                    None => {}
                }
                queue.push(new);
            }
            done.push(event.id);
            callbacks.push(cb);
        }
        let records = records_by_kind(
            &batch.expedited,
            part.iter().filter_map(|&i| effects[i].as_ref()).flat_map(|fx| fx.jobs.iter()),
        );

        let mut tx = self.db.begin().await?;
        customer::store_snapshots(&mut tx, corp_id, &snapshots).await?;
        timeline::record_many(&mut tx, &entries).await?;
        write_records(&mut tx, corp_id, &batch.expedited, records).await?;
        let queued = !jobs::enqueue_in(&mut tx, &queue).await?.is_empty();
        if !ran_before.is_empty() {
            jobs::note_tried(&mut tx, corp_id, &ran_before, "first attempt made at once while the event was applied")
                .await?;
        }
        if !reapplied.is_empty() {
            jobs::note_tried(&mut tx, corp_id, &reapplied, "an interrupted earlier application may have run it")
                .await?;
        }
        inbox::finish_done(&mut tx, &done).await?;
        tx.commit().await?;
        self.features.after_commit(corp_id, &callbacks);
        Ok(queued)
    }

    async fn apply_one_by_one(&self, events: Vec<InboxEvent>) {
        let mut lanes: BTreeMap<String, Vec<InboxEvent>> = BTreeMap::new();
        for event in events {
            lanes.entry(lane_of(&event)).or_default().push(event);
        }
        let mut set = JoinSet::new();
        for (_, lane) in lanes {
            while set.len() >= CONCURRENT_LANES {
                if let Some(Err(e)) = set.join_next().await {
                    tracing::error!(error = %e, "inbox lane panicked");
                }
            }
            let worker = self.clone();
            set.spawn(async move {
                for event in &lane {
                    if let Err(e) = worker.handle(event).await {
                        tracing::error!(inbox_id = event.id, error = %e, "could not record an event's outcome");
                    }
                }
            });
        }
        while let Some(joined) = set.join_next().await {
            if let Err(e) = joined {
                tracing::error!(error = %e, "inbox lane panicked");
            }
        }
    }

    async fn handle(&self, event: &InboxEvent) -> Result<(), pond_store::StoreError> {
        let span =
            tracing::info_span!("inbox_event", inbox_id = event.id, corp_id = event.corp_id, event = %event.event_type);
        let result = self.apply(event).instrument(span).await;
        self.record_outcome(event, result.as_ref().map(|_| ())).await
    }

    /// Marks an event done, due again later (transient error, attempts left) or failed.
    async fn record_outcome(
        &self,
        event: &InboxEvent,
        result: Result<(), &AppError>,
    ) -> Result<(), pond_store::StoreError> {
        match result {
            Ok(()) => inbox::finish(&self.db, event.id, Outcome::Done).await?,
            Err(e) if e.is_transient() && event.attempts < MAX_ATTEMPTS => {
                let delay =
                    self.backoff.delay_ms(u32::try_from(event.attempts).unwrap_or(1), rand::rng().random::<f64>());
                // Shown in the console (events waiting for a retry after an error) and counted.
                tracing::warn!(inbox_id = event.id, attempts = event.attempts, error = %e, "event will be retried");
                self.metrics.inbox_retries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                inbox::finish(&self.db, event.id, Outcome::Retry { error: &e.to_string(), at: now_ms() + delay })
                    .await?;
            }
            Err(e) => {
                tracing::error!(inbox_id = event.id, attempts = event.attempts, error = %e, "event failed");
                self.metrics.inbox_failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                inbox::finish(&self.db, event.id, Outcome::Failed { error: &e.to_string() }).await?;
            }
        }
        Ok(())
    }

    async fn client(&self, corp_id: i64) -> Result<wecom::Client, AppError> {
        let corp = self.corps.get(&self.db, corp_id).await?;
        Ok(self.clients.for_corp(&corp)?)
    }

    async fn apply(&self, event: &InboxEvent) -> Result<(), AppError> {
        let client = self.client(event.corp_id).await?;
        crate::sync::apply_event(&self.db, &client, &self.features, event.corp_id, event).await
    }

    /// Runs until `shutdown` resolves, as a pipeline: up to [`PREPARES_IN_FLIGHT`] batches are
    /// read and welcomed at once, each starting with whatever has arrived when it starts, and a
    /// writer task writes them one at a time in batch order. A batch starts its reads only once
    /// the previous batch has started all of its own, so the last state read of a customer is the
    /// last written. Welcomes never wait for a write.
    ///
    /// Batches come from `handed` (events the callback writer stored already claimed for this
    /// worker, see [`crate::inbox_writer`]) and from the database's queue: events stored while
    /// this worker had no room, retries that are due, leases that ended. The queue is claimed
    /// whenever nothing was handed over, and at least every [`QUEUE_CLAIM_INTERVAL`]; events whose
    /// lease ended are put back in it at most every [`LAPSED_SWEEP_INTERVAL`].
    pub async fn run(self, mut handed: Option<mpsc::Receiver<Vec<InboxEvent>>>, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let limit = usize::try_from(self.batch_size).unwrap_or(1).max(1);
        let slots = Arc::new(Semaphore::new(PREPARES_IN_FLIGHT));
        let (to_writer, mut in_order) = mpsc::channel::<JoinHandle<Prepared>>(PREPARES_IN_FLIGHT);
        let writer = {
            let worker = self.clone();
            crate::pipeline::writer_thread::spawn(&self.db, async move {
                while let Some(preparing) = in_order.recv().await {
                    match preparing.await {
                        Ok(prepared) => {
                            if let Err(e) = worker.write(prepared).await {
                                tracing::error!(error = %e, "inbox worker could not record outcomes");
                            }
                        }
                        Err(e) => tracing::error!(error = %e, "inbox batch panicked"),
                    }
                }
            })
        };
        let mut carried: Vec<InboxEvent> = Vec::new();
        let mut last_claim: Option<Instant> = None;
        let mut last_sweep: Option<Instant> = None;
        // The last claim took a full batch: more are likely waiting in the database.
        let mut backlog = false;
        let mut previous_reads: Option<oneshot::Receiver<()>> = None;
        'batches: loop {
            // A free slot first: the batch then takes everything that has arrived meanwhile.
            let slot = tokio::select! {
                biased;
                _ = &mut shutdown => break,
                slot = slots.clone().acquire_owned() => match slot {
                    Ok(slot) => slot,
                    Err(_) => break,
                },
            };
            // Reads in batch order: the last state read of a customer is the last written.
            if let Some(started) = previous_reads.take() {
                let _ = started.await;
            }
            let next = loop {
                if let Some(rx) = handed.as_mut() {
                    while carried.len() < limit {
                        match rx.try_recv() {
                            Ok(batch) => carried.extend(batch),
                            Err(_) => break,
                        }
                    }
                }
                // Woken: events were stored in the queue (no room in the handoff): claim them now,
                // so they are not overtaken for long by the ones handed over after them.
                let woken = tokio::select! {
                    biased;
                    _ = self.wake.notified() => true,
                    _ = std::future::ready(()) => false,
                };
                let idle = carried.is_empty() && slots.available_permits() + 1 == PREPARES_IN_FLIGHT;
                let claim_due =
                    woken || idle || backlog || last_claim.is_none_or(|at| at.elapsed() >= QUEUE_CLAIM_INTERVAL);
                let mut next = Vec::new();
                if claim_due {
                    last_claim = Some(Instant::now());
                    if last_sweep.is_none_or(|at| at.elapsed() >= LAPSED_SWEEP_INTERVAL) {
                        last_sweep = last_claim;
                        if let Err(e) = inbox::requeue_lapsed(&self.db).await {
                            tracing::error!(error = %e, "inbox worker could not requeue lapsed events");
                        }
                    }
                    match inbox::claim(&self.db, &self.holder, self.batch_size, LEASE_MS).await {
                        Ok(events) => {
                            backlog = events.len() >= limit;
                            next = events;
                        }
                        Err(e) => {
                            backlog = false;
                            tracing::error!(error = %e, "inbox worker could not reach the database");
                        }
                    }
                }
                next.append(&mut carried);
                if !next.is_empty() {
                    break next;
                }
                tokio::select! {
                    _ = &mut shutdown => break 'batches,
                    batch = next_handed(&mut handed) => match batch {
                        Some(batch) => carried = batch,
                        None => handed = None,
                    },
                    _ = self.wake.notified() => self.wake.notify_one(),
                    _ = tokio::time::sleep(self.poll_interval) => {}
                }
            };
            let worker = self.clone();
            let (reads_started, started) = oneshot::channel();
            previous_reads = Some(started);
            let preparing = tokio::spawn(async move {
                let prepared = worker.prepare_after(next, Some(reads_started)).await;
                drop(slot);
                prepared
            });
            if to_writer.send(preparing).await.is_err() {
                break;
            }
        }
        // Batches being prepared are finished and written before the worker stops.
        drop(to_writer);
        if let Err(e) = writer.await {
            tracing::error!(error = %e, "inbox writer panicked");
        }
        if let Some(mut rx) = handed {
            self.release_handed(&mut rx).await;
        }
    }

    /// On shutdown: stops the handoff and puts events handed over but not started back in the
    /// queue, so the next worker need not wait for their leases to end.
    async fn release_handed(&self, rx: &mut mpsc::Receiver<Vec<InboxEvent>>) {
        rx.close();
        let mut ids = Vec::new();
        while let Some(batch) = rx.recv().await {
            ids.extend(batch.iter().map(|e| e.id));
        }
        if let Err(e) = inbox::release(&self.db, &ids).await {
            tracing::warn!(error = %e, events = ids.len(), "could not release handed-over events; they run when their leases end");
        }
    }
}

/// The next batch handed over, or never if there is no handoff.
async fn next_handed(handed: &mut Option<mpsc::Receiver<Vec<InboxEvent>>>) -> Option<Vec<InboxEvent>> {
    match handed {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// The outcomes expedited runs left for these jobs, by kind.
fn records_by_kind<'a>(
    expedited: &'a Expedited,
    jobs: impl Iterator<Item = &'a crate::feature::PlannedJob>,
) -> BTreeMap<&'static str, Vec<&'a Record>> {
    let mut records: BTreeMap<&'static str, Vec<&'a Record>> = BTreeMap::new();
    for job in jobs {
        if let Some((kind, record)) = expedited.ran.get(&job.idempotency_key) {
            records.entry(*kind).or_default().push(record);
        }
    }
    records
}

/// Writes expedited outcomes through the batch of their kind.
async fn write_records(
    tx: &mut pond_store::Tx,
    corp_id: i64,
    expedited: &Expedited,
    records: BTreeMap<&'static str, Vec<&Record>>,
) -> Result<(), pond_store::StoreError> {
    for (kind, records) in records {
        if let Some(batch) = expedited.batches.get(kind) {
            batch.write(tx, corp_id, records).await?;
        }
    }
    Ok(())
}

/// How a batch's customer events are split into write transactions (indexes into `events`, each
/// part in event order). On SQLite, runs of [`WRITE_PART`] events in arrival order; on PostgreSQL,
/// up to [`CONCURRENT_WRITES`] parts by customer, so parts written at once never share a row.
fn write_parts(backend: Backend, events: &[(InboxEvent, Callback)]) -> Vec<Vec<usize>> {
    let n = events.len();
    match backend {
        Backend::Sqlite => {
            (0..n).step_by(WRITE_PART).map(|start| (start..(start + WRITE_PART).min(n)).collect()).collect()
        }
        Backend::Postgres => {
            let count = n.div_ceil(WRITE_PART).clamp(1, CONCURRENT_WRITES);
            let mut parts = vec![Vec::new(); count];
            for (i, (_, cb)) in events.iter().enumerate() {
                let mut hasher = std::hash::DefaultHasher::new();
                std::hash::Hash::hash(customer_of(cb), &mut hasher);
                let shard = usize::try_from(std::hash::Hasher::finish(&hasher) % count as u64).unwrap_or(0);
                parts[shard].push(i);
            }
            parts.retain(|part| !part.is_empty());
            parts
        }
    }
}

/// The customer a customer event names.
fn customer_of(cb: &Callback) -> &str {
    match &cb.kind {
        EventKind::ExternalContact(e) => &e.external_userid,
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wecom::events::ExternalContactChange;

    fn edit_of(external_userid: &str, id: i64) -> (InboxEvent, Callback) {
        let event = InboxEvent {
            id,
            corp_id: 1,
            dedupe_key: format!("edit:{id}"),
            event_type: "change_external_contact/edit_external_contact".into(),
            payload: String::new(),
            status: "processing".into(),
            attempts: 1,
            last_error: None,
            received_at: 0,
            processed_at: None,
        };
        let callback = Callback {
            corp_id: "corp".into(),
            create_time: 0,
            event: "change_external_contact".into(),
            change_type: "edit_external_contact".into(),
            kind: EventKind::ExternalContact(wecom::events::ExternalContactEvent {
                userid: "staff".into(),
                external_userid: external_userid.into(),
                change: ExternalContactChange::Edit,
            }),
            raw: String::new(),
        };
        (event, callback)
    }

    /// 300 events about 120 customers (some named by several events).
    fn batch() -> Vec<(InboxEvent, Callback)> {
        (0..300).map(|i| edit_of(&format!("wm{}", (i * 7) % 120), i)).collect()
    }

    fn assert_each_event_once_in_order(parts: &[Vec<usize>], n: usize) {
        let mut all: Vec<usize> = parts.iter().flatten().copied().collect();
        assert!(parts.iter().all(|p| !p.is_empty() && p.windows(2).all(|w| w[0] < w[1])), "each part in event order");
        all.sort_unstable();
        assert_eq!(all, (0..n).collect::<Vec<_>>(), "every event in exactly one part");
    }

    #[test]
    fn sqlite_parts_are_runs_in_arrival_order() {
        let events = batch();
        let parts = write_parts(Backend::Sqlite, &events);
        assert_each_event_once_in_order(&parts, events.len());
        assert_eq!(parts.iter().map(Vec::len).collect::<Vec<_>>(), vec![96, 96, 96, 12]);
        assert!(parts.windows(2).all(|w| w[0].last() < w[1].first()), "parts follow each other");
    }

    #[test]
    fn postgres_parts_never_share_a_customer() {
        let events = batch();
        let parts = write_parts(Backend::Postgres, &events);
        assert_each_event_once_in_order(&parts, events.len());
        assert!((2..=CONCURRENT_WRITES).contains(&parts.len()), "{} parts", parts.len());
        let mut owner: HashMap<&str, usize> = HashMap::new();
        for (n, part) in parts.iter().enumerate() {
            for &i in part {
                let customer = customer_of(&events[i].1);
                assert_eq!(*owner.entry(customer).or_insert(n), n, "{customer} in two parts");
            }
        }
        let small = &events[..10];
        assert_eq!(
            write_parts(Backend::Postgres, small),
            vec![(0..10).collect::<Vec<_>>()],
            "a small batch is one part"
        );
    }
}
