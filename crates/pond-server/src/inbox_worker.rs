//! Drains the event inbox: claims stored callbacks in arrival order and applies each through
//! [`crate::sync::apply_event`]. Transient failures (WeCom busy or rate-limited, database hiccup)
//! are retried with backoff; others, or too many attempts, mark the event failed with its reason.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, HashSet},
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use pond_core::backoff::Backoff;
use pond_store::{
    Db, customer,
    inbox::{self, InboxEvent, Outcome},
    jobs::{self, NewJob},
    now_ms,
    timeline::{self, NewEntry},
    welcome,
};
use rand::Rng;
use tokio::{
    sync::{Notify, mpsc},
    task::JoinSet,
};
use tracing::Instrument;

use wecom::{Callback, EventKind, events::ExternalContactChange};

use crate::{
    acquisition::{AddRules, Delivered, PlannedJob, WELCOME_JOB, WelcomeLookups, deliver_welcome},
    sync::{CustomerNow, SyncError},
    wecom_link::WecomClients,
    worker::JobError,
};

/// Attempts before an event is given up.
pub const MAX_ATTEMPTS: i64 = 10;
/// How long a claimed event stays with its worker before another may take it.
pub const LEASE_MS: i64 = 120_000;
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
    pub corps: Arc<crate::corp_cache::CorpCache>,
    pub wake: Arc<Notify>,
    /// Rung after an event is applied, so jobs it queued (welcome messages) start at once.
    pub wake_jobs: Arc<Notify>,
    pub poll_interval: Duration,
    pub batch_size: i64,
    pub backoff: Backoff,
    /// Holder name of the welcome jobs this worker queues and sends itself.
    pub name: String,
    /// Batches of welcome messages being sent at once.
    pub sending: Arc<tokio::sync::Semaphore>,
}

/// How long a held welcome job stays with this worker before the job queue may run it instead
/// (longer than WeCom's 20 s window, so it is never sent twice in time to matter).
const WELCOME_LEASE_MS: i64 = 60_000;

/// How often the database's queue is claimed at least while events keep being handed over.
const QUEUE_CLAIM_INTERVAL: Duration = Duration::from_millis(500);

/// Customer reads in flight at once while a batch is fetched.
const FETCH_CONCURRENCY: usize = 64;

/// A claimed batch, parsed, with the customers its events name already read from WeCom.
#[derive(Default)]
pub struct Prepared {
    count: usize,
    customers: Vec<CorpBatch>,
    others: Vec<InboxEvent>,
}

struct CorpBatch {
    corp_id: i64,
    client: Result<wecom::Client, SyncError>,
    events: Vec<(InboxEvent, Callback)>,
    fetched: HashMap<String, Result<CustomerNow, SyncError>>,
}

impl InboxWorker {
    /// Claims and applies one batch; returns how many events it handled.
    ///
    /// Customer events — nearly all of the traffic — go together: each customer they name is read
    /// from WeCom once (concurrently), then every event's changes, the jobs they queue and the
    /// events' `done` marks are written in one transaction. Other events (groups, tags, the
    /// address book) are applied one by one, concurrently when about different things and in
    /// arrival order when about the same thing.
    pub async fn run_batch(&self) -> Result<usize, pond_store::StoreError> {
        let events = inbox::claim(&self.db, self.batch_size, LEASE_MS).await?;
        let prepared = self.prepare(events).await;
        self.write(prepared).await
    }

    /// The reading stage: parses the events and reads the customers they name (no database writes).
    pub async fn prepare(&self, events: Vec<InboxEvent>) -> Prepared {
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
        for (corp_id, events) in by_corp {
            let client = self.client(corp_id).await;
            let fetched = match &client {
                Ok(client) => fetch_customers(client, &events).await,
                Err(_) => HashMap::new(),
            };
            customers.push(CorpBatch { corp_id, client, events, fetched });
        }
        Prepared { count, customers, others }
    }

    /// The writing stage: stores what [`Self::prepare`] read, records outcomes, starts the
    /// welcome messages. Returns how many events it handled.
    pub async fn write(&self, prepared: Prepared) -> Result<usize, pond_store::StoreError> {
        let mut queued = false;
        for batch in prepared.customers {
            queued |= self.apply_customer_events(batch).await?;
        }
        if !prepared.others.is_empty() {
            self.apply_one_by_one(prepared.others).await;
            queued = true;
        }
        // Jobs for the queue (not the welcome messages this worker sends itself): start them now.
        if queued {
            self.wake_jobs.notify_one();
        }
        Ok(prepared.count)
    }

    /// Returns whether jobs were queued for the job worker.
    async fn apply_customer_events(&self, batch: CorpBatch) -> Result<bool, pond_store::StoreError> {
        let CorpBatch { corp_id, client, events, fetched } = batch;
        let client = match client {
            Ok(c) => c,
            Err(e) => {
                for (event, _) in &events {
                    self.record_outcome(event, Err(&e)).await?;
                }
                return Ok(false);
            }
        };
        match self.write_customer_events(corp_id, &events, &fetched).await {
            Ok((held, queued)) => {
                for (event, cb) in &events {
                    if let Some(Err(e)) = fetched.get(customer_of(cb)) {
                        self.record_outcome(event, Err(e)).await?;
                    }
                }
                if !held.is_empty() {
                    self.spawn_welcomes(corp_id, client, held).await;
                }
                Ok(queued)
            }
            Err(e) => {
                // Something in the batch could not be written: nothing was. Apply each event on its
                // own, so one bad event cannot hold back the others.
                tracing::warn!(corp_id, error = %e, events = events.len(), "batch not written; applying one by one");
                for (event, _) in &events {
                    self.handle(event).await?;
                }
                Ok(true)
            }
        }
    }

    /// Writes every event whose customer was read — customers, timeline entries, the jobs the
    /// events queue, and their `done` marks — in one transaction. Welcome jobs are queued held by
    /// this worker, which sends them at once (returned as `(job id, payload)`, with whether other
    /// jobs were queued).
    async fn write_customer_events(
        &self,
        corp_id: i64,
        events: &[(InboxEvent, Callback)],
        fetched: &HashMap<String, Result<CustomerNow, SyncError>>,
    ) -> Result<(Vec<(i64, String)>, bool), SyncError> {
        let mut rules = AddRules::new(&self.db, corp_id);
        let mut states = BTreeSet::new();
        let mut userids = BTreeSet::new();
        for (_, cb) in events {
            if let EventKind::ExternalContact(e) = &cb.kind
                && let ExternalContactChange::Add { state, .. } | ExternalContactChange::AddHalf { state, .. } =
                    &e.change
            {
                states.insert(state.as_str());
                userids.insert(e.userid.as_str());
            }
        }
        if !userids.is_empty() {
            let (states, userids): (Vec<&str>, Vec<&str>) =
                (states.into_iter().collect(), userids.into_iter().collect());
            rules.preload(&states, &userids).await?;
        }
        let mut snapshots = Vec::new();
        let mut seen = HashSet::new();
        let mut applied = Vec::with_capacity(events.len());
        for (event, cb) in events {
            let external_userid = customer_of(cb);
            let Some(Ok(now)) = fetched.get(external_userid) else { continue };
            if seen.insert(external_userid) {
                snapshots.push(crate::sync::snapshot(corp_id, external_userid, now));
            }
            let effects = crate::sync::customer_event_effects(&mut rules, event, cb, now).await?;
            applied.push((event, cb, effects));
        }
        let entries: Vec<NewEntry<'_>> = applied
            .iter()
            .filter_map(|(event, cb, effects)| crate::sync::timeline_entry(corp_id, event, cb, effects))
            .collect();
        let (welcomes, others): (Vec<&PlannedJob>, Vec<&PlannedJob>) =
            applied.iter().flat_map(|(_, _, fx)| fx.jobs.iter()).partition(|j| j.kind == WELCOME_JOB);
        let welcomes: Vec<NewJob<'_>> = welcomes.iter().map(|j| j.as_new(corp_id)).collect();
        let others: Vec<NewJob<'_>> = others.iter().map(|j| j.as_new(corp_id)).collect();
        let done: Vec<i64> = applied.iter().map(|(event, _, _)| event.id).collect();

        let mut tx = self.db.begin().await?;
        customer::store_snapshots(&mut tx, corp_id, &snapshots).await?;
        timeline::record_many(&mut tx, &entries).await?;
        let queued = !jobs::enqueue_in(&mut tx, &others, None).await?.is_empty();
        let holder = jobs::Holder { worker: &self.name, lease_ms: WELCOME_LEASE_MS };
        let held = jobs::enqueue_in(&mut tx, &welcomes, Some(holder)).await?;
        inbox::finish_done(&mut tx, &done).await?;
        tx.commit().await?;

        let payloads: HashMap<&str, &str> = welcomes.iter().map(|j| (j.idempotency_key, j.payload)).collect();
        let held = held
            .into_iter()
            .filter_map(|(key, id)| payloads.get(key.as_str()).map(|p| (id, (*p).to_owned())))
            .collect();
        Ok((held, queued))
    }

    /// Sends held welcome messages in the background (a few batches at a time), then records
    /// their outcomes and finishes their jobs in one transaction.
    async fn spawn_welcomes(&self, corp_id: i64, client: wecom::Client, held: Vec<(i64, String)>) {
        let Ok(permit) = self.sending.clone().acquire_owned().await else { return };
        let worker = self.clone();
        tokio::spawn(async move {
            if let Err(e) = worker.send_welcomes(corp_id, client, held).await {
                tracing::error!(corp_id, error = %e, "could not record welcome outcomes; their jobs retry when leases end");
            }
            drop(permit);
        });
    }

    async fn send_welcomes(
        &self,
        corp_id: i64,
        client: wecom::Client,
        held: Vec<(i64, String)>,
    ) -> Result<(), pond_store::StoreError> {
        let lookups = Arc::new(WelcomeLookups::default());
        let mut set = JoinSet::new();
        let mut outcomes = Vec::with_capacity(held.len());
        for (id, payload) in held {
            while set.len() >= FETCH_CONCURRENCY {
                if let Some(Ok(outcome)) = set.join_next().await {
                    outcomes.push(outcome);
                }
            }
            let (db, client, lookups) = (self.db.clone(), client.clone(), lookups.clone());
            set.spawn(async move { (id, deliver_welcome(&db, &client, corp_id, &payload, &lookups).await) });
        }
        while let Some(joined) = set.join_next().await {
            if let Ok(outcome) = joined {
                outcomes.push(outcome);
            }
        }
        let mut results = Vec::with_capacity(outcomes.len());
        let mut finished = Vec::with_capacity(outcomes.len());
        let mut failures = Vec::new();
        for (id, outcome) in outcomes {
            match outcome {
                Ok(Delivered::Done(r)) => {
                    results.push(r);
                    finished.push(id);
                }
                Ok(Delivered::Failed(r, reason)) => {
                    results.push(r);
                    failures.push((id, reason, None));
                }
                Err(JobError::Retryable(reason)) => {
                    failures.push((id, reason, Some(now_ms() + self.backoff.delay_ms(1, rand::rng().random::<f64>()))))
                }
                Err(JobError::Permanent(reason)) => failures.push((id, reason, None)),
            }
        }
        let mut tx = self.db.begin().await?;
        welcome::record_results(&mut tx, corp_id, &results).await?;
        jobs::complete(&mut tx, &self.name, &finished).await?;
        tx.commit().await?;
        for (id, reason, retry_at) in failures {
            jobs::fail(&self.db, &self.name, id, &reason, retry_at).await?;
        }
        Ok(())
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
        result: Result<(), &SyncError>,
    ) -> Result<(), pond_store::StoreError> {
        match result {
            Ok(()) => inbox::finish(&self.db, event.id, Outcome::Done).await?,
            Err(e) if e.is_transient() && event.attempts < MAX_ATTEMPTS => {
                let delay =
                    self.backoff.delay_ms(u32::try_from(event.attempts).unwrap_or(1), rand::rng().random::<f64>());
                tracing::info!(inbox_id = event.id, error = %e, "event will be retried");
                inbox::finish(&self.db, event.id, Outcome::Retry { error: &e.to_string(), at: now_ms() + delay })
                    .await?;
            }
            Err(e) => {
                tracing::warn!(inbox_id = event.id, error = %e, "event failed");
                inbox::finish(&self.db, event.id, Outcome::Failed { error: &e.to_string() }).await?;
            }
        }
        Ok(())
    }

    async fn client(&self, corp_id: i64) -> Result<wecom::Client, SyncError> {
        let corp = self.corps.get(&self.db, corp_id).await?;
        Ok(self.clients.for_corp(&corp)?)
    }

    async fn apply(&self, event: &InboxEvent) -> Result<(), SyncError> {
        let client = self.client(event.corp_id).await?;
        crate::sync::apply_event(&self.db, &client, event.corp_id, event).await
    }

    /// Runs until `shutdown` resolves, as a two-stage pipeline: while one batch is being written,
    /// the next is read from WeCom. Writes stay in batch order and each batch's reads start after
    /// the previous batch's, so the last state read is the last written.
    ///
    /// Batches come from `handed` (events the callback writer stored already claimed for this
    /// worker, see [`crate::inbox_writer`]) and from the database's queue: events stored while
    /// this worker had no room, retries that are due, leases that ended. The queue is claimed
    /// whenever nothing was handed over, and at least every [`QUEUE_CLAIM_INTERVAL`].
    pub async fn run(self, mut handed: Option<mpsc::Receiver<Vec<InboxEvent>>>, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let limit = usize::try_from(self.batch_size).unwrap_or(1).max(1);
        let mut prepared: Option<Prepared> = None;
        let mut carried: Vec<InboxEvent> = Vec::new();
        let mut last_claim: Option<Instant> = None;
        loop {
            if let Some(rx) = handed.as_mut() {
                while carried.len() < limit {
                    match rx.try_recv() {
                        Ok(batch) => carried.extend(batch),
                        Err(_) => break,
                    }
                }
            }
            let claim_due = carried.is_empty() || last_claim.is_none_or(|at| at.elapsed() >= QUEUE_CLAIM_INTERVAL);
            // Claimed before the previous batch's write starts: on SQLite the write holds the only
            // writer connection, and the claim would wait for it.
            let mut next = Vec::new();
            if claim_due {
                last_claim = Some(Instant::now());
                match inbox::claim(&self.db, self.batch_size, LEASE_MS).await {
                    Ok(events) => next = events,
                    Err(e) => tracing::error!(error = %e, "inbox worker could not reach the database"),
                }
            }
            next.append(&mut carried);
            let writing = prepared.take().map(|batch| {
                let worker = self.clone();
                tokio::spawn(async move { worker.write(batch).await })
            });
            let next = if next.is_empty() { None } else { Some(self.prepare(next).await) };
            if let Some(writing) = writing {
                match writing.await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::error!(error = %e, "inbox worker could not record outcomes"),
                    Err(e) => tracing::error!(error = %e, "inbox batch panicked"),
                }
            }
            if next.is_some() {
                prepared = next;
                continue;
            }
            tokio::select! {
                _ = &mut shutdown => break,
                batch = next_handed(&mut handed) => match batch {
                    Some(batch) => carried = batch,
                    None => handed = None,
                },
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.poll_interval) => {}
            }
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

/// The customer a customer event names.
fn customer_of(cb: &Callback) -> &str {
    match &cb.kind {
        EventKind::ExternalContact(e) => &e.external_userid,
        _ => "",
    }
}

/// Reads each customer the events name once, [`FETCH_CONCURRENCY`] at a time.
async fn fetch_customers(
    client: &wecom::Client,
    events: &[(InboxEvent, Callback)],
) -> HashMap<String, Result<CustomerNow, SyncError>> {
    let ids: BTreeSet<&str> = events.iter().map(|(_, cb)| customer_of(cb)).collect();
    let mut fetched = HashMap::with_capacity(ids.len());
    let mut set = JoinSet::new();
    for id in ids {
        while set.len() >= FETCH_CONCURRENCY {
            if let Some(Ok((id, now))) = set.join_next().await {
                fetched.insert(id, now);
            }
        }
        let (client, id) = (client.clone(), id.to_owned());
        set.spawn(async move {
            let now = crate::sync::fetch_customer(&client, &id).await;
            (id, now)
        });
    }
    while let Some(joined) = set.join_next().await {
        if let Ok((id, now)) = joined {
            fetched.insert(id, now);
        }
    }
    fetched
}
