//! What every handler shares: the database, configuration, metrics, and the worker's wake-up bell.

use std::sync::Arc;

use pond_store::Db;
use tokio::sync::Notify;

use crate::{config::Config, metrics::Metrics, wecom_link::WecomClients};

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    pub metrics: Arc<Metrics>,
    /// Rung after queuing work so the local worker starts at once instead of at its next poll.
    pub wake_worker: Arc<Notify>,
    /// Rung when a callback is stored for the inbox worker to claim, so it applies it at once.
    pub wake_inbox: Arc<Notify>,
    /// WeCom API clients per corp.
    pub wecom: Arc<WecomClients>,
    /// Nearest-store indexes per corp.
    pub store_indexes: Arc<crate::regional::StoreIndexes>,
    /// Corp settings, cached briefly (read for every callback and event).
    pub corps: Arc<crate::corp_cache::CorpCache>,
    /// Stores accepted callbacks in group commits.
    pub inbox_writer: Arc<crate::inbox_writer::InboxWriter>,
}

impl AppState {
    pub fn new(db: Db, config: Config) -> Self {
        let wecom = Arc::new(WecomClients::new(config.wecom.calls_per_minute));
        let wake_inbox: Arc<Notify> = Arc::default();
        AppState {
            inbox_writer: Arc::new(crate::inbox_writer::InboxWriter::new(db.clone(), wake_inbox.clone())),
            corps: Arc::default(),
            db,
            config: Arc::new(config),
            metrics: Arc::default(),
            wake_worker: Arc::default(),
            wake_inbox,
            wecom,
            store_indexes: Arc::default(),
        }
    }
}
