//! Drains the event inbox: claims stored callbacks in arrival order and applies each through
//! [`crate::sync::apply_event`]. Transient failures (WeCom busy or rate-limited, database hiccup)
//! are retried with backoff; others, or too many attempts, mark the event failed with its reason.

use std::{future::Future, sync::Arc, time::Duration};

use pond_core::backoff::Backoff;
use pond_store::{
    Db,
    inbox::{self, InboxEvent, Outcome},
    now_ms,
};
use rand::Rng;
use tokio::sync::Notify;
use tracing::Instrument;

use crate::{sync::SyncError, wecom_link::WecomClients};

/// Attempts before an event is given up.
pub const MAX_ATTEMPTS: i64 = 10;
const LEASE_MS: i64 = 120_000;

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
    /// Claims and applies one batch; returns how many events it handled.
    pub async fn run_batch(&self) -> Result<usize, pond_store::StoreError> {
        let events = inbox::claim(&self.db, self.batch_size, LEASE_MS).await?;
        for event in &events {
            let span = tracing::info_span!("inbox_event", inbox_id = event.id, corp_id = event.corp_id, event = %event.event_type);
            let result = self.apply(event).instrument(span).await;
            let outcome = match &result {
                Ok(()) => Outcome::Done,
                Err(e) if e.is_transient() && event.attempts < MAX_ATTEMPTS => {
                    let delay =
                        self.backoff.delay_ms(u32::try_from(event.attempts).unwrap_or(1), rand::rng().random::<f64>());
                    tracing::info!(inbox_id = event.id, error = %e, "event will be retried");
                    inbox::finish(&self.db, event.id, Outcome::Retry { error: &e.to_string(), at: now_ms() + delay })
                        .await?;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(inbox_id = event.id, error = %e, "event failed");
                    inbox::finish(&self.db, event.id, Outcome::Failed { error: &e.to_string() }).await?;
                    continue;
                }
            };
            inbox::finish(&self.db, event.id, outcome).await?;
            self.wake_jobs.notify_one();
        }
        Ok(events.len())
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
