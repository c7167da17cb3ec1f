//! Pushes callbacks to the configured URL as WeCom does: encrypted and signed, one at a time in
//! the order they happened, retried up to 3 times when the answer is not `success` (or empty)
//! within 5 seconds, then given up for good. Every delivery is recorded. Callbacks not yet
//! acknowledged stay pending, so a saved world can keep them ([`Pusher::pending`]).
//!
//! WeCom's rule (回调配置 and 接收消息与事件, developer.work.weixin.qq.com/document/path/90930 and
//! 90238): "企业微信服务器在五秒内收不到响应会断掉连接，并且重新发起请求，总共重试三次" — no answer
//! within 5 s ends the attempt and the request is sent again, three retries in all; a callback
//! still not acknowledged is never sent again (nor can it be fetched later). The interval between
//! retries is not documented: here `retry_delay_ms` (1 s by default; tests shorten it). 90238 says
//! any answer but HTTP 200 counts as a failure and is retried; 90930 that only failed connections
//! and timeouts are — this simulator retries both, so Pond must also act on callbacks it refused
//! itself (it does: a refused callback calls for a catch-up).

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use serde::Serialize;
use tokio::sync::{mpsc, watch};
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
    /// Deliveries stopped by [`Pusher::hold`] before an acknowledgement (made again later).
    pub interrupted: u64,
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

/// What the delivery loop obeys: where to deliver, and whether it is held.
#[derive(Debug, Clone, Default)]
struct Control {
    config: CallbackConfig,
    held: bool,
}

impl Control {
    fn ready(&self) -> bool {
        self.config.url.is_some() && !self.held
    }
}

/// Delivers callbacks in the background. Every callback is *pending* from [`Pusher::push`] until
/// it is acknowledged or given up (after WeCom's retries); the pending ones can be read back
/// ([`Pusher::pending`]) so a saved world keeps them, and [`Pusher::hold`] stops deliveries
/// without dropping any (a delivery interrupted by the hold stays pending).
pub struct Pusher {
    tx: mpsc::UnboundedSender<(u64, String)>,
    control: watch::Sender<Control>,
    /// seq → callback XML, in push order.
    pending: Arc<Mutex<BTreeMap<u64, String>>>,
    next_seq: AtomicU64,
    /// Bumped whenever `pending` changes (for savers that write only when something changed).
    changes: Arc<AtomicU64>,
    stats: Arc<Mutex<DeliveryStats>>,
}

/// Retries after the first attempt ("总共重试三次"), then the callback is given up.
const RETRIES: u32 = 3;
/// WeCom drops the connection when no answer came within five seconds ("五秒内收不到响应").
const ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// How one delivery (one copy of a callback) ended.
enum Ended {
    Done(Delivery),
    /// Stopped by [`Pusher::hold`] before an acknowledgement: to be delivered again.
    Held,
}

impl Pusher {
    pub fn start(crypt: MsgCrypt, config: CallbackConfig) -> Pusher {
        let (tx, mut rx) = mpsc::unbounded_channel::<(u64, String)>();
        let (control, _) = watch::channel(Control { config, held: false });
        let pending = Arc::new(Mutex::new(BTreeMap::new()));
        let changes = Arc::new(AtomicU64::new(0));
        let stats = Arc::new(Mutex::new(DeliveryStats::default()));
        let (ctl, pend, chg, st) = (control.subscribe(), pending.clone(), changes.clone(), stats.clone());
        tokio::spawn(async move {
            let http = reqwest::Client::builder().timeout(ACK_TIMEOUT).build().unwrap_or_default();
            let mut in_flight = tokio::task::JoinSet::new();
            while let Some((seq, xml)) = rx.recv().await {
                let concurrency = match ctl.clone().wait_for(Control::ready).await {
                    Ok(c) => c.config.concurrency.max(1),
                    Err(_) => return,
                };
                while in_flight.len() >= concurrency {
                    in_flight.join_next().await;
                }
                let (http, crypt, ctl, pend, chg, st) =
                    (http.clone(), crypt.clone(), ctl.clone(), pend.clone(), chg.clone(), st.clone());
                let job = async move {
                    let event = summary(&xml);
                    let mut copies_left = if ctl.borrow().config.duplicate { 2 } else { 1 };
                    while copies_left > 0 {
                        let Ok(config) = ctl.clone().wait_for(Control::ready).await.map(|c| c.config.clone()) else {
                            return;
                        };
                        match deliver(&http, &crypt, &config, &ctl, &xml, seq, &event).await {
                            Ended::Held => {
                                if let Ok(mut s) = st.lock() {
                                    s.interrupted += 1;
                                }
                            }
                            Ended::Done(record) => {
                                copies_left -= 1;
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
                        }
                    }
                    pend.lock().unwrap_or_else(|e| e.into_inner()).remove(&seq);
                    chg.fetch_add(1, Ordering::SeqCst);
                };
                if concurrency == 1 {
                    job.await;
                } else {
                    in_flight.spawn(job);
                }
            }
        });
        Pusher { tx, control, pending, next_seq: AtomicU64::new(1), changes, stats }
    }

    /// Queues a callback for delivery, after every one queued before it.
    pub fn push(&self, xml: String) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let seq = self.next_seq.fetch_add(1, Ordering::SeqCst);
        if self.tx.send((seq, xml.clone())).is_ok() {
            pending.insert(seq, xml);
            self.changes.fetch_add(1, Ordering::SeqCst);
        }
    }

    pub fn configure(&self, config: CallbackConfig) {
        self.control.send_modify(|c| c.config = config);
    }

    /// Where and how callbacks go now.
    pub fn config(&self) -> CallbackConfig {
        self.control.borrow().config.clone()
    }

    /// Stops delivering: no new delivery starts, and one that fails while held is kept pending
    /// instead of being retried or given up. For a clean stop before the world is saved.
    pub fn hold(&self) {
        self.control.send_modify(|c| c.held = true);
    }

    /// Delivers again after [`Pusher::hold`].
    pub fn resume(&self) {
        self.control.send_modify(|c| c.held = false);
    }

    /// The callbacks not yet acknowledged or given up (queued or in flight), in order.
    pub fn pending(&self) -> Vec<String> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect()
    }

    /// A counter that moves whenever the pending callbacks change.
    pub fn changes(&self) -> u64 {
        self.changes.load(Ordering::SeqCst)
    }

    /// Callbacks not yet delivered (or given up).
    pub fn queued(&self) -> usize {
        self.pending.lock().map(|p| p.len()).unwrap_or(0)
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
    config: &CallbackConfig,
    control: &watch::Receiver<Control>,
    xml: &str,
    seq: u64,
    event: &str,
) -> Ended {
    let Some(url) = config.url.as_deref() else { return Ended::Held };
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
                    return Ended::Done(Delivery {
                        seq,
                        event: event.to_owned(),
                        attempts: attempt,
                        delivered: true,
                        last_error: None,
                    });
                }
                last_error = Some(format!("answer was not success: {}", body.chars().take(100).collect::<String>()));
            }
            Ok(resp) => last_error = Some(format!("HTTP {}", resp.status())),
            Err(e) => last_error = Some(e.to_string()),
        }
        if control.borrow().held {
            return Ended::Held;
        }
        if attempt <= RETRIES {
            tokio::time::sleep(Duration::from_millis(config.retry_delay_ms)).await;
            if control.borrow().held {
                return Ended::Held;
            }
        }
    }
    tracing::warn!(seq, event, error = ?last_error, "callback not acknowledged after retries");
    Ended::Done(Delivery { seq, event: event.to_owned(), attempts: RETRIES + 1, delivered: false, last_error })
}
