//! [`App`]: the one handle the server, the CLI, the benchmark and the tests use. It holds the
//! database, the configuration, the WeCom clients, the shared caches and bells, and the feature
//! list; every service function takes it.

use std::sync::Arc;

use pond_store::Db;
use tokio::sync::Notify;

use crate::{
    acquisition::regional::StoreIndexes, config::Config, corp::cache::CorpCache, feature::Features, metrics::Metrics,
    pipeline::intake::InboxWriter, wecom_link::WecomClients,
};

#[derive(Clone)]
pub struct App {
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
    pub store_indexes: Arc<StoreIndexes>,
    /// Corp settings, cached briefly (read for every callback and event).
    pub corps: Arc<CorpCache>,
    /// Stores accepted callbacks in group commits.
    pub inbox_writer: Arc<InboxWriter>,
    /// The feature areas, assembled from [`crate::features`].
    pub features: Arc<Features>,
}

impl App {
    /// An app over `db` with every feature of [`crate::features`].
    pub fn new(db: Db, config: Config) -> Self {
        Self::with_features(db, config, crate::features())
    }

    /// An app over `db` with these feature areas (tests plug in features of their own).
    pub fn with_features(db: Db, config: Config, features: Vec<Arc<dyn crate::feature::Feature>>) -> Self {
        let wecom = Arc::new(WecomClients::new(config.wecom.calls_per_minute));
        let wake_inbox: Arc<Notify> = Arc::default();
        App {
            inbox_writer: Arc::new(InboxWriter::new(db.clone(), wake_inbox.clone())),
            corps: Arc::default(),
            db,
            config: Arc::new(config),
            metrics: Arc::default(),
            wake_worker: Arc::default(),
            wake_inbox,
            wecom,
            store_indexes: Arc::default(),
            features: Arc::new(Features::new(features)),
        }
    }

    /// The WeCom client of a corp (settings read through the cache).
    pub async fn client(&self, corp_id: i64) -> Result<wecom::Client, crate::AppError> {
        let corp = self.corps.get(&self.db, corp_id).await?;
        Ok(self.wecom.for_corp(&corp)?)
    }
}
