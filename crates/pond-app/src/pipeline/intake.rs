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

use std::sync::{
    Arc, OnceLock,
    atomic::{AtomicU64, Ordering},
};

use pond_store::{
    Db,
    inbox::{InboxEvent, Inserted, NewEvent},
};
use tokio::sync::{Notify, mpsc, oneshot};

use crate::App;

/// Batches of new events waiting for the inbox worker at most; beyond that, events wait in the
/// database (pending) instead of in memory.
const HANDOFF_BATCHES: usize = 4;

/// Events stored per transaction at most.
const MAX_BATCH: usize = 512;

struct Pending {
    corp_id: i64,
    received_at: i64,
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
    counts: Arc<Counts>,
}

/// Group commits made and callbacks they stored, since start.
#[derive(Default)]
struct Counts {
    commits: AtomicU64,
    callbacks: AtomicU64,
}

struct Handoff {
    to_worker: mpsc::Sender<Vec<InboxEvent>>,
    lease_ms: i64,
    /// The instance the handed-over events are claimed for.
    holder: Arc<str>,
}

impl InboxWriter {
    pub fn new(db: Db, wake_inbox: Arc<Notify>) -> Self {
        InboxWriter { db, sender: OnceLock::new(), wake_inbox, handoff: Arc::default(), counts: Arc::default() }
    }

    /// Hands new events to the caller (this instance's inbox worker) already claimed for
    /// `lease_ms`, whenever it has room. Returns `None` if a worker already takes them.
    pub fn hand_off(&self, holder: &str, lease_ms: i64) -> Option<mpsc::Receiver<Vec<InboxEvent>>> {
        let (to_worker, from_writer) = mpsc::channel(HANDOFF_BATCHES);
        self.handoff.set(Handoff { to_worker, lease_ms, holder: Arc::from(holder) }).ok()?;
        Some(from_writer)
    }

    /// Stores one event (with whatever else is waiting) and says whether it was new.
    /// `received_at` is when its request arrived (epoch ms).
    pub async fn store(
        &self,
        corp_id: i64,
        received_at: i64,
        dedupe_key: String,
        event_type: String,
        payload: String,
    ) -> Result<Inserted, String> {
        let (reply, answer) = oneshot::channel();
        let pending = Pending { corp_id, received_at, dedupe_key, event_type, payload, reply };
        self.sender().send(pending).await.map_err(|_| "inbox writer stopped".to_owned())?;
        answer.await.map_err(|_| "inbox writer stopped".to_owned())?
    }

    /// Group commits made so far, and the callbacks they stored (new or not).
    pub fn group_commits(&self) -> (u64, u64) {
        (self.counts.commits.load(Ordering::Relaxed), self.counts.callbacks.load(Ordering::Relaxed))
    }

    fn sender(&self) -> &mpsc::Sender<Pending> {
        self.sender.get_or_init(|| {
            let (tx, rx) = mpsc::channel(MAX_BATCH * 4);
            crate::pipeline::writer_thread::spawn(
                &self.db,
                write_batches(self.db.clone(), rx, self.handoff.clone(), self.wake_inbox.clone(), self.counts.clone()),
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
    counts: Arc<Counts>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let events: Vec<NewEvent<'_>> = batch
            .iter()
            .map(|p| NewEvent {
                corp_id: p.corp_id,
                received_at: p.received_at,
                dedupe_key: &p.dedupe_key,
                event_type: &p.event_type,
                payload: &p.payload,
            })
            .collect();
        // A place in the worker's queue is reserved before storing, so held events always reach it.
        let room = handoff.get().and_then(|h| h.to_worker.try_reserve().ok().map(|permit| (permit, h)));
        let result = match room {
            Some((permit, h)) => pond_store::inbox::insert_many_held(&db, &events, &h.holder, h.lease_ms)
                .await
                .map(|(stored, held)| (stored, Some((permit, held)))),
            None => pond_store::inbox::insert_many(&db, &events).await.map(|stored| (stored, None)),
        };
        drop(events);
        match result {
            Ok((stored, handed)) => {
                counts.commits.fetch_add(1, Ordering::Relaxed);
                counts.callbacks.fetch_add(stored.len() as u64, Ordering::Relaxed);
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

/// Why a callback (or a URL verification) was refused. WeCom gets no `success`, so it retries
/// what Pond could not store; forgeries and replays are only counted and logged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("unknown corp")]
    UnknownCorp,
    /// The corp's callback settings are incomplete.
    #[error("{0}")]
    NotConfigured(&'static str),
    /// Parameters missing or malformed, or a body that does not decrypt or parse.
    #[error("{0}")]
    Malformed(String),
    /// A wrong signature, or a timestamp too far from now (a replay or a skewed clock).
    #[error("{0}")]
    Forged(String),
    /// Pond could not store it (WeCom will retry).
    #[error("storage unavailable")]
    Unavailable,
}

/// The signature parameters of a callback request.
#[derive(Debug, Clone, Copy)]
pub struct Signed<'a> {
    pub msg_signature: &'a str,
    pub timestamp: &'a str,
    pub nonce: &'a str,
}

/// How a stored callback was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    New,
    /// WeCom's retry (or a duplicate delivery) of one already stored.
    Duplicate,
}

async fn crypt_for(app: &App, corp_id: i64) -> Result<wecom::MsgCrypt, Refusal> {
    let corp = app.corps.get(&app.db, corp_id).await.map_err(|_| Refusal::UnknownCorp)?;
    let receive_id =
        corp.wecom_corp_id.as_deref().ok_or(Refusal::NotConfigured("corp has no WeCom corp id configured"))?;
    wecom::MsgCrypt::new(corp.callback_token.expose(), corp.encoding_aes_key.expose(), receive_id)
        .map_err(|_| Refusal::NotConfigured("corp's callback token or EncodingAESKey is not configured"))
}

fn refused(app: &App, corp_id: i64, refusal: Refusal) -> Refusal {
    app.metrics.callbacks_rejected.fetch_add(1, Ordering::Relaxed);
    tracing::warn!(corp_id, reason = %refusal, "callback refused");
    refusal
}

/// WeCom's URL verification: the decrypted `echostr`.
/// `signed` and `echostr` are `None` when the request lacks them.
pub async fn verify_url(
    app: &App,
    corp_id: i64,
    signed: Option<Signed<'_>>,
    echostr: Option<&str>,
) -> Result<String, Refusal> {
    let crypt = crypt_for(app, corp_id).await.map_err(|r| refused(app, corp_id, r))?;
    let (Some(signed), Some(echostr)) = (signed, echostr) else {
        let missing = Refusal::Malformed("msg_signature, timestamp, nonce and echostr are required".into());
        return Err(refused(app, corp_id, missing));
    };
    crypt
        .verify_url(signed.msg_signature, signed.timestamp, signed.nonce, echostr)
        .map_err(|e| refused(app, corp_id, Refusal::Forged(format!("URL verification failed: {e}"))))
}

/// Takes one callback: checks its timestamp (replays) and signature, decrypts and parses it,
/// and stores it in the inbox under its dedupe key — all before it is applied, so WeCom gets its
/// answer well within 5 seconds.
/// `signed` is `None` when the request lacks its signature parameters; `received_at` is when the
/// request arrived (epoch ms), stored as the event's receipt time.
pub async fn accept(
    app: &App,
    corp_id: i64,
    received_at: i64,
    signed: Option<Signed<'_>>,
    body: &str,
) -> Result<Accepted, Refusal> {
    let result = accept_checked(app, corp_id, received_at, signed, body).await;
    result.map_err(|r| if r == Refusal::Unavailable { r } else { refused(app, corp_id, r) })
}

async fn accept_checked(
    app: &App,
    corp_id: i64,
    received_at: i64,
    signed: Option<Signed<'_>>,
    body: &str,
) -> Result<Accepted, Refusal> {
    let crypt = crypt_for(app, corp_id).await?;
    let signed = signed.ok_or_else(|| Refusal::Malformed("msg_signature, timestamp and nonce are required".into()))?;
    let ts_secs: i64 = signed.timestamp.parse().map_err(|_| Refusal::Malformed("timestamp is not a number".into()))?;
    if (pond_store::now_ms() / 1000 - ts_secs).abs() > app.config.callback.max_clock_skew_secs {
        return Err(Refusal::Forged("timestamp too far from now (replayed or clock skew)".into()));
    }
    let xml = match crypt.open_callback(signed.msg_signature, signed.timestamp, signed.nonce, body) {
        Ok(x) => x,
        Err(e @ wecom::CryptoError::SignatureMismatch) => return Err(Refusal::Forged(e.to_string())),
        Err(e) => return Err(Refusal::Malformed(e.to_string())),
    };
    let event = wecom::Callback::parse(&xml).map_err(|e| Refusal::Malformed(e.to_string()))?;
    let event_type = if event.change_type.is_empty() {
        event.event.clone()
    } else {
        format!("{}/{}", event.event, event.change_type)
    };
    // The end of the second WeCom created it in (`CreateTime` counts whole seconds).
    let created_ms = event.create_time.saturating_add(1).saturating_mul(1000);
    match app.inbox_writer.store(corp_id, received_at, event.dedupe_key(), event_type, xml).await {
        Ok(Inserted::New(_)) => {
            app.metrics.callbacks_accepted.fetch_add(1, Ordering::Relaxed);
            app.catch_up.callback_stored(corp_id, created_ms, app.clock.now_ms());
            Ok(Accepted::New)
        }
        Ok(Inserted::Duplicate) => {
            app.metrics.callbacks_duplicate.fetch_add(1, Ordering::Relaxed);
            Ok(Accepted::Duplicate)
        }
        Err(e) => {
            tracing::error!(corp_id, error = %e, "could not store callback");
            // WeCom may not send it again (it retries failed connections and timeouts only).
            app.catch_up.callback_refused(corp_id, app.clock.now_ms());
            Err(Refusal::Unavailable)
        }
    }
}
