//! A short-lived, per-instance cache of corp settings, read on every callback and event.
//!
//! Corp rows change rarely (an admin saving WeCom settings) but are needed for every callback
//! (to check its signature) and every applied event (for the API client). Entries live for
//! [`CorpCache::TTL`]; secrets are opened (`crate::secrets`) as rows are read; the instance that saves settings drops its entry at once, other instances
//! see the change when theirs expires.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use pond_store::{Db, StoreError, corp::Corp};

use crate::secrets::Keyring;

pub struct CorpCache {
    entries: Mutex<HashMap<i64, (Instant, Arc<Corp>)>>,
    /// Opens the sealed secrets of rows read from the database.
    keys: Arc<Keyring>,
}

impl CorpCache {
    pub const TTL: Duration = Duration::from_secs(2);

    pub fn new(keys: Arc<Keyring>) -> Self {
        CorpCache { entries: Mutex::default(), keys }
    }

    /// The corp, from the cache while fresh, else from the database.
    pub async fn get(&self, db: &Db, corp_id: i64) -> Result<Arc<Corp>, StoreError> {
        if let Some((at, corp)) = self.lock().get(&corp_id)
            && at.elapsed() < Self::TTL
        {
            return Ok(corp.clone());
        }
        let corp = Arc::new(crate::secrets::open_corp(&self.keys, pond_store::corp::get(db, corp_id).await?));
        self.lock().insert(corp_id, (Instant::now(), corp.clone()));
        Ok(corp)
    }

    /// Forgets a corp (its settings were just changed).
    pub fn invalidate(&self, corp_id: i64) {
        self.lock().remove(&corp_id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, (Instant, Arc<Corp>)>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}
