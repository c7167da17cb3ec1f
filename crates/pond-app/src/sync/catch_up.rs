//! Catch-up after missed callbacks.
//!
//! WeCom pushes each callback once and, when the push fails (no connection, or no answer within
//! 5 s), retries it three times, then gives it up: "企业微信服务器在五秒内收不到响应会断掉连接，并且
//! 重新发起请求，总共重试三次" (回调配置 / 接收消息与事件, developer.work.weixin.qq.com/document/path/90930
//! and 90238; the interval between retries is not documented, and 90930 adds that only failed
//! connections and timeouts are retried). A callback WeCom gave up is never sent again, and Pond
//! cannot ask which ones those were. So it reconciles incrementally whenever it has reason to
//! believe some were missed:
//!
//! * **at start** — each instance records a heartbeat in the database, and when it stops. If
//!   another instance is beating, it took the callbacks: a run in the last
//!   `sync.catch_up_debounce_secs` will do. Otherwise the callbacks since the last instance was
//!   seen were lost, and a catch-up runs unless one started since (by an instance starting at the
//!   same moment: the one-at-a-time rule of sync runs lets one run) — `downtime` with the gap when
//!   it is longer than `sync.catch_up_lag_secs`, `start` otherwise;
//! * **when callbacks resume after a gap** — a callback arriving more than `sync.catch_up_lag_secs`
//!   after it was created (`CreateTime`) was held back by WeCom longer than its own retries
//!   explain (four attempts of at most 5 s each), so others before it may have been given up
//!   (`callback_lag`);
//! * **when Pond refused a callback** it could not store (`callback_refused`): WeCom may not send
//!   it again.
//!
//! Reasons are collected here per corp (cheaply: the callback path only compares two numbers)
//! and one task per instance turns them into runs, spaced by `sync.catch_up_debounce_secs`.

use std::{collections::BTreeMap, sync::Mutex, time::Duration};

use pond_core::sync::{Decision, SyncKind, SyncReason};
use tokio::{
    sync::{Notify, watch},
    task::JoinHandle,
};

use super::runs::{Request, execute, try_start};
use crate::{App, config::SyncConfig, pipeline::until_stopped};

/// How often an instance records that it is alive.
const HEARTBEAT: Duration = Duration::from_secs(10);
/// Instances not seen for this long are forgotten.
const FORGET_INSTANCES_MS: i64 = 7 * 24 * 3_600_000;
/// When a run could not start (another is running, or storage failed), ask again after this.
const RETRY: Duration = Duration::from_secs(10);
/// When a catch-up failed (WeCom unreachable, say), try again after this.
const FAILED_RETRY: Duration = Duration::from_secs(60);

/// Why a corp needs a catch-up, and which run would cover it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Want {
    /// A run started at or after this time covers it.
    since: i64,
    reason: SyncReason,
    gap_ms: Option<i64>,
    not_within_ms: i64,
}

/// The reasons for a catch-up noticed by this instance, per corp, and the bell that wakes the
/// task acting on them.
#[derive(Debug)]
pub struct Signals {
    state: Mutex<State>,
    wake: Notify,
    lag_ms: i64,
    debounce_ms: i64,
}

#[derive(Debug, Default)]
struct State {
    /// Per corp: the reason waiting for a run.
    wants: BTreeMap<i64, Want>,
    /// Per corp: runs this instance knows of cover reasons from before this time (so the late
    /// callbacks of one stretch, arriving one after another, ask once).
    covered_to: BTreeMap<i64, i64>,
}

impl Signals {
    pub fn new(config: &SyncConfig) -> Self {
        Signals {
            state: Mutex::default(),
            wake: Notify::new(),
            lag_ms: secs_to_ms(config.catch_up_lag_secs),
            debounce_ms: secs_to_ms(config.catch_up_debounce_secs),
        }
    }

    /// A callback created at `created_ms` (at the latest: `CreateTime` counts whole seconds) was
    /// stored at `now_ms`: if it is later than WeCom's retries explain, callbacks before it may
    /// have been given up, and only a run started after it was created covers them.
    pub fn callback_stored(&self, corp_id: i64, created_ms: i64, now_ms: i64) {
        let lag = now_ms - created_ms;
        if self.lag_ms > 0 && lag > self.lag_ms {
            let want = Want {
                since: created_ms,
                reason: SyncReason::CallbackLag,
                gap_ms: Some(lag),
                not_within_ms: self.debounce_ms,
            };
            if self.want(corp_id, want) {
                tracing::info!(corp_id, lag_ms = lag, "late callback: callbacks may have been missed; catching up");
            }
        }
    }

    /// A callback could not be stored and was refused at `now_ms`.
    pub fn callback_refused(&self, corp_id: i64, now_ms: i64) {
        let want =
            Want { since: now_ms, reason: SyncReason::CallbackRefused, gap_ms: None, not_within_ms: self.debounce_ms };
        self.want(corp_id, want);
    }

    /// Corps with a reason pending (for metrics and tests).
    pub fn pending(&self) -> usize {
        self.state.lock().map(|s| s.wants.len()).unwrap_or(0)
    }

    /// Records a reason unless a known run covers it; returns whether it is a new one for the corp.
    fn want(&self, corp_id: i64, want: Want) -> bool {
        let fresh = {
            let Ok(mut state) = self.state.lock() else { return false };
            if state.covered_to.get(&corp_id).is_some_and(|to| want.since <= *to) {
                return false;
            }
            // The later `since` asks more (a run covering it covers the earlier one too).
            let (merged, fresh) = match state.wants.get(&corp_id) {
                Some(old) if old.since >= want.since => (Want { gap_ms: old.gap_ms.max(want.gap_ms), ..*old }, false),
                Some(old) => (Want { gap_ms: old.gap_ms.max(want.gap_ms), ..want }, false),
                None => (want, true),
            };
            state.wants.insert(corp_id, merged);
            fresh
        };
        self.wake.notify_one();
        fresh
    }

    /// A run started at `started_at` (or one this instance was told of) covers reasons from
    /// before it: forgets the corp's reason if it is one of those.
    fn covered(&self, corp_id: i64, started_at: i64) {
        if let Ok(mut state) = self.state.lock() {
            let to = state.covered_to.entry(corp_id).or_insert(started_at);
            *to = (*to).max(started_at);
            if state.wants.get(&corp_id).is_some_and(|w| w.since <= started_at) {
                state.wants.remove(&corp_id);
            }
        }
    }

    /// Drops the corp's reason if it is still `want` (no catch-up is possible for it).
    fn forget(&self, corp_id: i64, want: &Want) {
        if let Ok(mut state) = self.state.lock()
            && state.wants.get(&corp_id) == Some(want)
        {
            state.wants.remove(&corp_id);
        }
    }

    fn snapshot(&self) -> Vec<(i64, Want)> {
        self.state.lock().map(|s| s.wants.iter().map(|(c, w)| (*c, *w)).collect()).unwrap_or_default()
    }
}

fn secs_to_ms(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}

/// Starts this instance's heartbeat and, with `catch_ups`, the task running catch-ups (its first
/// reason: this start), until `stopped` turns true. `instance` names this instance uniquely.
pub fn start(app: &App, instance: String, catch_ups: bool, stopped: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    let mut tasks = Vec::new();
    let started_at = app.clock.now_ms();
    if catch_ups {
        let (app, instance, stopped) = (app.clone(), instance.clone(), stopped.clone());
        tasks.push(tokio::spawn(async move {
            let shutdown = until_stopped(stopped);
            tokio::pin!(shutdown);
            tokio::select! {
                _ = &mut shutdown => return,
                _ = want_at_start(&app, &instance, started_at) => {}
            }
            run(app, shutdown).await;
        }));
    }
    let app = app.clone();
    tasks.push(tokio::spawn(async move {
        let shutdown = until_stopped(stopped);
        tokio::pin!(shutdown);
        loop {
            let now = app.clock.now_ms();
            if let Err(e) = pond_store::instance::beat(&app.db, &instance, started_at, now).await {
                tracing::warn!(error = %e, "could not record this instance's heartbeat");
            }
            let _ = pond_store::instance::forget_before(&app.db, now - FORGET_INSTANCES_MS).await;
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(HEARTBEAT) => {}
            }
        }
        if let Err(e) = pond_store::instance::stopped(&app.db, &instance, app.clock.now_ms()).await {
            tracing::warn!(error = %e, "could not record that this instance stopped");
        }
    }));
    tasks
}

/// The reason this start gives every synced corp: was anybody listening for callbacks before it?
///
/// Another instance that beats (seen within three heartbeats, not stopped, and beating again a
/// moment later — one that crashed just now does not) took them: a run in the last
/// `sync.catch_up_debounce_secs` will do. Otherwise callbacks since the last instance was seen
/// were lost: only a run started after that covers them (one by an instance starting at the same
/// time), and when that gap is longer than `sync.catch_up_lag_secs` the run says `downtime`.
async fn want_at_start(app: &App, instance: &str, started_at: i64) {
    let signals = &app.catch_up;
    let heartbeat_ms = HEARTBEAT.as_millis() as i64;
    let others = match pond_store::instance::others(&app.db, instance).await {
        Ok(others) => others,
        Err(e) => {
            tracing::warn!(error = %e, "could not read when Pond was last alive");
            Vec::new()
        }
    };
    let maybe_alive: Vec<_> =
        others.iter().filter(|h| h.stopped_at.is_none() && h.seen_at > started_at - 3 * heartbeat_ms).collect();
    let mut alive = false;
    if !maybe_alive.is_empty() {
        tokio::time::sleep(HEARTBEAT * 3 / 2).await;
        let again = pond_store::instance::others(&app.db, instance).await.unwrap_or_default();
        alive = again.iter().any(|h| {
            h.stopped_at.is_none() && maybe_alive.iter().any(|m| m.instance == h.instance && h.seen_at > m.seen_at)
        });
    }
    let now = app.clock.now_ms();
    // Until when somebody may have listened: an instance that crashed may have done so until its
    // next beat was due.
    let last_seen = others.iter().map(|h| h.stopped_at.unwrap_or(h.seen_at + heartbeat_ms)).max();
    let gap = if alive { None } else { last_seen.map(|seen| (started_at - seen).max(0)) };
    let (reason, since) = match (alive, last_seen) {
        (false, Some(seen)) => {
            let down = gap.is_some_and(|g| g > signals.lag_ms.max(3 * heartbeat_ms));
            (if down { SyncReason::Downtime } else { SyncReason::Start }, seen)
        }
        _ => (SyncReason::Start, now - signals.debounce_ms),
    };
    let corps = match pond_store::corp::list(&app.db).await {
        Ok(corps) => corps,
        Err(e) => {
            tracing::warn!(error = %e, "could not list corps for the catch-up at start");
            return;
        }
    };
    for corp in corps.into_iter().filter(|c| c.wecom_corp_id.is_some()) {
        match pond_store::sync_run::has_full_sync(&app.db, corp.id).await {
            Ok(true) => {
                signals.want(corp.id, Want { since, reason, gap_ms: gap, not_within_ms: 0 });
            }
            Ok(false) => tracing::info!(corp_id = corp.id, "never synced: nothing to catch up at start"),
            Err(e) => tracing::warn!(corp_id = corp.id, error = %e, "could not check the corp's sync runs"),
        }
    }
}

/// Turns reasons into runs until `shutdown` resolves.
async fn run(app: App, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        let retry = catch_up_pending(&app).await;
        tokio::select! {
            _ = &mut shutdown => break,
            _ = app.catch_up.wake.notified() => {}
            _ = tokio::time::sleep(retry.unwrap_or(Duration::from_secs(3600))) => {}
        }
    }
}

/// Runs a catch-up for each corp with a reason, where allowed. Returns when to look again for
/// those that had to wait.
async fn catch_up_pending(app: &App) -> Option<Duration> {
    let mut retry: Option<Duration> = None;
    let mut later = |d: Duration| retry = Some(retry.map_or(d, |r| r.min(d)));
    for (corp_id, want) in app.catch_up.snapshot() {
        match pond_store::sync_run::has_full_sync(&app.db, corp_id).await {
            Ok(true) => {}
            Ok(false) => {
                app.catch_up.forget(corp_id, &want);
                continue;
            }
            Err(_) => {
                later(RETRY);
                continue;
            }
        }
        let client = match app.client(corp_id).await {
            Ok(client) => client,
            Err(e) => {
                tracing::info!(corp_id, error = %e, "no catch-up: the corp's WeCom client is not available");
                app.catch_up.forget(corp_id, &want);
                continue;
            }
        };
        let req = Request {
            corp_id,
            started_by: "catch-up",
            kind: SyncKind::Incremental,
            reason: want.reason,
            gap_ms: want.gap_ms,
            covered_since: Some(want.since),
            not_within_ms: want.not_within_ms,
        };
        match try_start(app, &req).await {
            Ok(Ok(run)) => {
                tracing::info!(corp_id, run_id = run.id, reason = want.reason.as_str(), gap_ms = ?want.gap_ms, "catch-up started");
                if execute(app, &run, &client).await {
                    app.catch_up.covered(corp_id, run.started_at);
                } else {
                    later(FAILED_RETRY);
                }
            }
            // Some run started at or after `since` (which one this instance does not know).
            Ok(Err(Decision::Covered)) => app.catch_up.covered(corp_id, want.since),
            Ok(Err(Decision::TooSoon { retry_at })) => {
                let wait = u64::try_from(retry_at - app.clock.now_ms()).unwrap_or(0);
                later(Duration::from_millis(wait).max(Duration::from_secs(1)));
            }
            Ok(Err(Decision::Running | Decision::Start)) => later(RETRY),
            Err(e) => {
                tracing::warn!(corp_id, error = %e, "could not start a catch-up");
                later(RETRY);
            }
        }
    }
    retry
}
