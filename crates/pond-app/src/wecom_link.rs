//! Pond's connection to WeCom: one API client per corp (so its token is cached and reused),
//! rebuilt when the corp's base URL or secret changes.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, atomic::Ordering},
};

use pond_store::corp::Corp;
use wecom::{Client, ClientConfig, client::ClientStats};

/// Why Pond cannot talk to a corp's WeCom.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("the corp's WeCom settings are incomplete: {0}")]
    NotConfigured(&'static str),
    #[error(transparent)]
    Wecom(#[from] wecom::WecomError),
}

pub struct WecomClients {
    clients: Mutex<HashMap<i64, (String, Client)>>,
    retired: Mutex<Vec<Arc<ClientStats>>>,
    calls_per_minute: u32,
}

impl Default for WecomClients {
    fn default() -> Self {
        Self::new(9_000)
    }
}

/// Totals over all clients this process made (for `/metrics`).
#[derive(Debug, Default, Clone, Copy)]
pub struct ClientTotals {
    pub calls: u64,
    pub retries: u64,
    pub token_refreshes: u64,
}

impl WecomClients {
    /// Clients that allow themselves `calls_per_minute` per API.
    pub fn new(calls_per_minute: u32) -> Self {
        WecomClients { clients: Mutex::default(), retired: Mutex::default(), calls_per_minute }
    }

    /// The client for a corp, using the self-built app's secret (or the customer-contact secret).
    pub fn for_corp(&self, corp: &Corp) -> Result<Client, LinkError> {
        let corp_id = corp.wecom_corp_id.as_deref().ok_or(LinkError::NotConfigured("wecom_corp_id"))?;
        let secret = if corp.app_secret.is_empty() { &corp.contact_secret } else { &corp.app_secret };
        if secret.is_empty() {
            return Err(LinkError::NotConfigured("app_secret or contact_secret"));
        }
        let fingerprint = format!("{}|{corp_id}|{}", corp.api_base_url, secret.expose());
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((fp, client)) = clients.get(&corp.id)
            && *fp == fingerprint
        {
            return Ok(client.clone());
        }
        let mut config = ClientConfig::new(&corp.api_base_url, corp_id, secret.expose());
        config.calls_per_minute = self.calls_per_minute;
        let client = Client::new(config)?;
        if let Some((_, old)) = clients.insert(corp.id, (fingerprint, client.clone())) {
            self.retired.lock().unwrap_or_else(|e| e.into_inner()).push(old.stats());
        }
        Ok(client)
    }

    pub fn totals(&self) -> ClientTotals {
        let mut stats: Vec<Arc<ClientStats>> =
            self.clients.lock().unwrap_or_else(|e| e.into_inner()).values().map(|(_, c)| c.stats()).collect();
        stats.extend(self.retired.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned());
        stats.iter().fold(ClientTotals::default(), |t, s| ClientTotals {
            calls: t.calls + s.calls.load(Ordering::Relaxed),
            retries: t.retries + s.retries.load(Ordering::Relaxed),
            token_refreshes: t.token_refreshes + s.token_refreshes.load(Ordering::Relaxed),
        })
    }
}
