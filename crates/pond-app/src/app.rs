//! [`App`]: the one handle the server, the CLI, the benchmark and the tests use. It holds the
//! database, the configuration, the WeCom clients, the shared caches and bells, and the feature
//! list; every service function takes it.

use std::sync::Arc;

use pond_store::Db;
use tokio::sync::Notify;

use crate::{
    acquisition::{contact_ways::ContactWayMemory, regional::StoreIndexes},
    clock::Clock,
    config::Config,
    corp::cache::CorpCache,
    feature::Features,
    metrics::Metrics,
    pipeline::intake::InboxWriter,
    rate_limit::ClientBudget,
    secrets::Keyring,
    wecom_link::WecomClients,
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
    /// What WeCom answered about per-employee contact ways (made, refused), on this instance.
    pub contact_ways: Arc<ContactWayMemory>,
    /// Hits of the public phone pages per client address (`security.h5_hits_per_minute`).
    pub h5_budget: Arc<ClientBudget>,
    /// Corp settings, cached briefly (read for every callback and event).
    pub corps: Arc<CorpCache>,
    /// Stores accepted callbacks in group commits.
    pub inbox_writer: Arc<InboxWriter>,
    /// The feature areas, assembled from [`crate::features`].
    pub features: Arc<Features>,
    /// The keys sealing WeCom secrets in the database.
    pub secrets: Arc<Keyring>,
    /// The time as Pond's rules see it (tests move it).
    pub clock: Clock,
    /// Password checks running or waiting (argon2 is slow and takes memory on purpose).
    pub password_checks: Arc<crate::auth::PasswordGate>,
    /// Reasons to believe callbacks were missed, per corp (acted on by the catch-up task).
    pub catch_up: Arc<crate::sync::catch_up::Signals>,
}

impl App {
    /// An app over `db` with every feature of [`crate::features`].
    pub fn new(db: Db, config: Config) -> Self {
        Self::with_features(db, config, crate::features())
    }

    /// An app over `db` with these feature areas (tests plug in features of their own).
    ///
    /// Secrets are sealed with `config.security.secret_key`; without one (tests), with a key that
    /// lives as long as the process. The CLI puts the key file's keys there before it starts.
    pub fn with_features(db: Db, config: Config, features: Vec<Arc<dyn crate::feature::Feature>>) -> Self {
        let wecom = Arc::new(WecomClients::new(config.wecom.calls_per_minute));
        let wake_inbox: Arc<Notify> = Arc::default();
        let h5_budget = Arc::new(ClientBudget::new(config.security.h5_hits_per_minute));
        let secrets = Arc::new(match Keyring::parse(&config.security.secret_key) {
            Ok(keys) => keys,
            Err(_) => Keyring::ephemeral(),
        });
        App {
            inbox_writer: Arc::new(InboxWriter::new(db.clone(), wake_inbox.clone())),
            corps: Arc::new(CorpCache::new(secrets.clone())),
            password_checks: Arc::new(crate::auth::PasswordGate::new(
                config.security.password_hash_slots,
                config.security.password_hash_queue,
            )),
            secrets,
            catch_up: Arc::new(crate::sync::catch_up::Signals::new(&config.sync)),
            clock: Clock::default(),
            db,
            config: Arc::new(config),
            metrics: Arc::default(),
            wake_worker: Arc::default(),
            wake_inbox,
            wecom,
            store_indexes: Arc::default(),
            contact_ways: Arc::default(),
            h5_budget,
            features: Arc::new(Features::new(features)),
        }
    }

    /// The WeCom client of a corp (settings read through the cache).
    pub async fn client(&self, corp_id: i64) -> Result<wecom::Client, crate::AppError> {
        let corp = self.corps.get(&self.db, corp_id).await?;
        Ok(self.wecom.for_corp(&corp)?)
    }
}
