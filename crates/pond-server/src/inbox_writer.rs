//! Group commit for accepted callbacks.
//!
//! A callback may be acknowledged only once it is stored. Storing each in its own transaction
//! caps acceptance at one commit per callback; instead, handlers hand their event to one writer
//! task, which stores everything waiting in a single transaction and then answers each handler.
//! Under load batches grow by themselves; when idle a batch is one event and waits for nobody.

use std::sync::OnceLock;

use pond_store::{
    Db,
    inbox::{Inserted, NewEvent},
};
use tokio::sync::{mpsc, oneshot};

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
}

impl InboxWriter {
    pub fn new(db: Db) -> Self {
        InboxWriter { db, sender: OnceLock::new() }
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
            tokio::spawn(write_batches(self.db.clone(), rx));
            tx
        })
    }
}

async fn write_batches(db: Db, mut rx: mpsc::Receiver<Pending>) {
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
        let result = pond_store::inbox::insert_many(&db, &events).await;
        drop(events);
        match result {
            Ok(stored) => {
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
