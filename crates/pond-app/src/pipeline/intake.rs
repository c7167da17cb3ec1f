//! Group commit for accepted callbacks.
//!
//! A callback may be acknowledged only once it is stored. Storing each in its own transaction
//! caps acceptance at one commit per callback; instead, handlers hand their event to one writer
//! task, which stores everything waiting in a single transaction and then answers each handler.
//! Under load batches grow by themselves; when idle a batch is one event and waits for nobody.
//!
//! When this instance's inbox worker has room, the new events are stored already claimed by it and
//! handed over in memory ([`InboxWriter::hand_off`]), so applying them needs no claim round trip
//! and no wake-up; otherwise they are stored pending and the worker is woken to claim them.

use std::sync::{Arc, OnceLock};

use pond_store::{
    Db,
    inbox::{InboxEvent, Inserted, NewEvent},
};
use tokio::sync::{Notify, mpsc, oneshot};

/// Batches of new events waiting for the inbox worker at most; beyond that, events wait in the
/// database (pending) instead of in memory.
const HANDOFF_BATCHES: usize = 4;

/// Events stored per transaction at most.
const MAX_BATCH: usize = 512;

struct Pending {
    corp_id: i64,
    dedupe_key: String,
    event_type: String,
    payload: String,
    reply: oneshot::Sender<Result<Inserted, String>>,
}

/// Hands callbacks to the writer task (started on first use, inside the runtime).
pub struct InboxWriter {
    db: Db,
    sender: OnceLock<mpsc::Sender<Pending>>,
    /// Rung when events were stored pending (not handed over), so the inbox worker claims them.
    wake_inbox: Arc<Notify>,
    handoff: Arc<OnceLock<Handoff>>,
}

struct Handoff {
    to_worker: mpsc::Sender<Vec<InboxEvent>>,
    lease_ms: i64,
}

impl InboxWriter {
    pub fn new(db: Db, wake_inbox: Arc<Notify>) -> Self {
        InboxWriter { db, sender: OnceLock::new(), wake_inbox, handoff: Arc::default() }
    }

    /// Hands new events to the caller (this instance's inbox worker) already claimed for
    /// `lease_ms`, whenever it has room. Returns `None` if a worker already takes them.
    pub fn hand_off(&self, lease_ms: i64) -> Option<mpsc::Receiver<Vec<InboxEvent>>> {
        let (to_worker, from_writer) = mpsc::channel(HANDOFF_BATCHES);
        self.handoff.set(Handoff { to_worker, lease_ms }).ok()?;
        Some(from_writer)
    }

    /// Stores one event (with whatever else is waiting) and says whether it was new.
    pub async fn store(
        &self,
        corp_id: i64,
        dedupe_key: String,
        event_type: String,
        payload: String,
    ) -> Result<Inserted, String> {
        let (reply, answer) = oneshot::channel();
        let pending = Pending { corp_id, dedupe_key, event_type, payload, reply };
        self.sender().send(pending).await.map_err(|_| "inbox writer stopped".to_owned())?;
        answer.await.map_err(|_| "inbox writer stopped".to_owned())?
    }

    fn sender(&self) -> &mpsc::Sender<Pending> {
        self.sender.get_or_init(|| {
            let (tx, rx) = mpsc::channel(MAX_BATCH * 4);
            crate::pipeline::writer_thread::spawn(
                &self.db,
                write_batches(self.db.clone(), rx, self.handoff.clone(), self.wake_inbox.clone()),
            );
            tx
        })
    }
}

async fn write_batches(
    db: Db,
    mut rx: mpsc::Receiver<Pending>,
    handoff: Arc<OnceLock<Handoff>>,
    wake_inbox: Arc<Notify>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let events: Vec<NewEvent<'_>> = batch
            .iter()
            .map(|p| NewEvent {
                corp_id: p.corp_id,
                dedupe_key: &p.dedupe_key,
                event_type: &p.event_type,
                payload: &p.payload,
            })
            .collect();
        // A place in the worker's queue is reserved before storing, so held events always reach it.
        let room = handoff.get().and_then(|h| h.to_worker.try_reserve().ok().map(|permit| (permit, h.lease_ms)));
        let result = match room {
            Some((permit, lease_ms)) => pond_store::inbox::insert_many_held(&db, &events, lease_ms)
                .await
                .map(|(stored, held)| (stored, Some((permit, held)))),
            None => pond_store::inbox::insert_many(&db, &events).await.map(|stored| (stored, None)),
        };
        drop(events);
        match result {
            Ok((stored, handed)) => {
                let held = match handed {
                    Some((permit, held)) => {
                        let count = held.len();
                        if count > 0 {
                            permit.send(held);
                        }
                        count
                    }
                    None => 0,
                };
                // Anything not handed over (new events without room, re-queued duplicates) waits
                // in the database for a claim.
                if held < stored.len() {
                    wake_inbox.notify_one();
                }
                for (p, inserted) in batch.drain(..).zip(stored) {
                    let _ = p.reply.send(Ok(inserted));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, events = batch.len(), "could not store callbacks");
                for p in batch.drain(..) {
                    let _ = p.reply.send(Err(e.to_string()));
                }
            }
        }
    }
}
