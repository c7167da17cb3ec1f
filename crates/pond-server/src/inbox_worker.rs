//! Drains the event inbox: claims stored callbacks in arrival order and applies each through
//! [`crate::sync::apply_event`]. Transient failures (WeCom busy or rate-limited, database hiccup)
//! are retried with backoff; others, or too many attempts, mark the event failed with its reason.

use std::{collections::BTreeMap, future::Future, sync::Arc, time::Duration};

use pond_core::backoff::Backoff;
use pond_store::{
    Db,
    inbox::{self, InboxEvent, Outcome},
    now_ms,
};
use rand::Rng;
use tokio::{sync::Notify, task::JoinSet};
use tracing::Instrument;

use crate::{sync::SyncError, wecom_link::WecomClients};

/// Attempts before an event is given up.
pub const MAX_ATTEMPTS: i64 = 10;
const LEASE_MS: i64 = 120_000;
/// Groups of events applied at the same time.
const CONCURRENT_LANES: usize = 16;

/// What an event is about: events with the same lane are applied in order.
fn lane_of(event: &InboxEvent) -> String {
    use wecom::{Callback, EventKind};
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
    pub wake: Arc<Notify>,
    /// Rung after an event is applied, so jobs it queued (welcome messages) start at once.
    pub wake_jobs: Arc<Notify>,
    pub poll_interval: Duration,
    pub batch_size: i64,
    pub backoff: Backoff,
}

impl InboxWorker {
    /// Claims and applies one batch; returns how many events it handled. Events about different
    /// things (customers, groups…) are applied concurrently; events about the same thing keep
    /// their arrival order.
    pub async fn run_batch(&self) -> Result<usize, pond_store::StoreError> {
        let events = inbox::claim(&self.db, self.batch_size, LEASE_MS).await?;
        let count = events.len();
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
        Ok(count)
    }

    async fn handle(&self, event: &InboxEvent) -> Result<(), pond_store::StoreError> {
        let span =
            tracing::info_span!("inbox_event", inbox_id = event.id, corp_id = event.corp_id, event = %event.event_type);
        let result = self.apply(event).instrument(span).await;
        match &result {
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
        self.wake_jobs.notify_one();
        Ok(())
    }

    async fn apply(&self, event: &InboxEvent) -> Result<(), SyncError> {
        let corp = pond_store::corp::get(&self.db, event.corp_id).await?;
        let client = self.clients.for_corp(&corp)?;
        crate::sync::apply_event(&self.db, &client, corp.id, event).await
    }

    /// Runs until `shutdown` resolves.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let handled = match self.run_batch().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(error = %e, "inbox worker could not reach the database");
                    0
                }
            };
            if handled > 0 {
                continue;
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.poll_interval) => {}
            }
        }
    }
}
