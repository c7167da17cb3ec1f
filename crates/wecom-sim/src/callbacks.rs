//! Pushes callbacks to the configured URL as WeCom does: encrypted and signed, one at a time in
//! the order they happened, retried up to 3 times when the answer is not `success` (or empty)
//! within 5 seconds. Every delivery is recorded.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use serde::Serialize;
use tokio::sync::mpsc;
use wecom::MsgCrypt;

/// One callback's delivery record.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub seq: u64,
    pub event: String,
    pub attempts: u32,
    pub delivered: bool,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct DeliveryStats {
    pub queued: usize,
    pub delivered: u64,
    pub failed: u64,
    pub attempts: u64,
    pub recent: std::collections::VecDeque<Delivery>,
}

/// Where and how callbacks go.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallbackConfig {
    /// Callback URL; `None` keeps callbacks queued until one is set.
    pub url: Option<String>,
    /// Deliver every callback twice (as WeCom does when an ack is late), to test deduplication.
    #[serde(default)]
    pub duplicate: bool,
    /// Pause between retries, in milliseconds (WeCom: a few seconds).
    #[serde(default = "default_retry_ms")]
    pub retry_delay_ms: u64,
    /// Deliveries in flight at once. 1 (the default) keeps callbacks in order; more is for load tests.
    #[serde(default = "one_at_a_time")]
    pub concurrency: usize,
}

fn one_at_a_time() -> usize {
    1
}

fn default_retry_ms() -> u64 {
    1_000
}

pub struct Pusher {
    tx: mpsc::UnboundedSender<String>,
    pub config: Arc<Mutex<CallbackConfig>>,
    queued: Arc<AtomicUsize>,
    stats: Arc<Mutex<DeliveryStats>>,
    wake: Arc<tokio::sync::Notify>,
}

const RETRIES: u32 = 3;
const ACK_TIMEOUT: Duration = Duration::from_secs(5);

impl Pusher {
    pub fn start(crypt: MsgCrypt, config: CallbackConfig) -> Pusher {
        let (tx, mut rx) = mpsc::unbounded_channel::<String>();
        let config = Arc::new(Mutex::new(config));
        let queued = Arc::new(AtomicUsize::new(0));
        let stats = Arc::new(Mutex::new(DeliveryStats::default()));
        let wake = Arc::new(tokio::sync::Notify::new());
        let (cfg, q, st, wk) = (config.clone(), queued.clone(), stats.clone(), wake.clone());
        tokio::spawn(async move {
            let http = reqwest::Client::builder().timeout(ACK_TIMEOUT).build().unwrap_or_default();
            let mut seq = 0u64;
            let mut in_flight = tokio::task::JoinSet::new();
            while let Some(xml) = rx.recv().await {
                seq += 1;
                let (url, duplicate, retry_ms, concurrency) = loop {
                    let c = cfg.lock().map(|c| c.clone()).unwrap_or_default();
                    match c.url {
                        Some(url) => break (url, c.duplicate, c.retry_delay_ms, c.concurrency.max(1)),
                        None => wk.notified().await,
                    }
                };
                while in_flight.len() >= concurrency {
                    in_flight.join_next().await;
                }
                let (http, crypt, st, q) = (http.clone(), crypt.clone(), st.clone(), q.clone());
                let job = async move {
                    let event = summary(&xml);
                    let copies = if duplicate { 2 } else { 1 };
                    for _ in 0..copies {
                        let record = deliver(&http, &crypt, &url, &xml, seq, &event, retry_ms).await;
                        if let Ok(mut s) = st.lock() {
                            s.attempts += u64::from(record.attempts);
                            if record.delivered {
                                s.delivered += 1;
                            } else {
                                s.failed += 1;
                            }
                            s.recent.push_back(record);
                            if s.recent.len() > 200 {
                                s.recent.pop_front();
                            }
                        }
                    }
                    q.fetch_sub(1, Ordering::SeqCst);
                };
                if concurrency == 1 {
                    job.await;
                } else {
                    in_flight.spawn(job);
                }
            }
        });
        Pusher { tx, config, queued, stats, wake }
    }

    pub fn push(&self, xml: String) {
        self.queued.fetch_add(1, Ordering::SeqCst);
        if self.tx.send(xml).is_err() {
            self.queued.fetch_sub(1, Ordering::SeqCst);
        }
    }

    pub fn configure(&self, config: CallbackConfig) {
        if let Ok(mut c) = self.config.lock() {
            *c = config;
        }
        self.wake.notify_one();
    }

    /// Callbacks not yet delivered (or given up).
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::SeqCst)
    }

    pub fn stats(&self) -> DeliveryStats {
        let mut s = self.stats.lock().map(|s| s.clone()).unwrap_or_default();
        s.queued = self.queued();
        s
    }

    /// Waits until every queued callback has been delivered or given up.
    pub async fn idle(&self) {
        while self.queued() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn summary(xml: &str) -> String {
    let pick = |tag: &str| {
        xml.split(&format!("<{tag}><![CDATA["))
            .nth(1)
            .and_then(|r| r.split("]]>").next())
            .unwrap_or_default()
            .to_owned()
    };
    format!("{}/{}", pick("Event"), pick("ChangeType"))
}

async fn deliver(
    http: &reqwest::Client,
    crypt: &MsgCrypt,
    url: &str,
    xml: &str,
    seq: u64,
    event: &str,
    retry_ms: u64,
) -> Delivery {
    let mut last_error = None;
    for attempt in 1..=RETRIES + 1 {
        let timestamp =
            (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0))
                .to_string();
        let nonce = format!("{:010}", rand::random::<u32>());
        let sealed = crypt.seal_callback(xml, &timestamp, &nonce, None);
        let result = http
            .post(url)
            .query(&[
                ("msg_signature", &sealed.msg_signature),
                ("timestamp", &sealed.timestamp),
                ("nonce", &sealed.nonce),
            ])
            .header("content-type", "text/xml")
            .body(sealed.body)
            .send()
            .await;
        match result {
            Ok(resp) if resp.status().is_success() => {
                let body = resp.text().await.unwrap_or_default();
                if body.trim().is_empty() || body.trim() == "success" {
                    return Delivery {
                        seq,
                        event: event.to_owned(),
                        attempts: attempt,
                        delivered: true,
                        last_error: None,
                    };
                }
                last_error = Some(format!("answer was not success: {}", body.chars().take(100).collect::<String>()));
            }
            Ok(resp) => last_error = Some(format!("HTTP {}", resp.status())),
            Err(e) => last_error = Some(e.to_string()),
        }
        if attempt <= RETRIES {
            tokio::time::sleep(Duration::from_millis(retry_ms)).await;
        }
    }
    tracing::warn!(seq, event, error = ?last_error, "callback not acknowledged after retries");
    Delivery { seq, event: event.to_owned(), attempts: RETRIES + 1, delivered: false, last_error }
}
