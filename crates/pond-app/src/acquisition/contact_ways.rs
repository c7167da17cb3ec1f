//! The one owner of "a WeCom contact way for this employee with this `state`": a single-person
//! contact way, created on first need, stored against what it belongs to and reused. Landing-mode
//! channel codes and regional stores use it today; fission and group codes will next.
//!
//! What WeCom answered is remembered ([`ContactWayMemory`], in memory on each instance): the
//! ways made (in front of the `contact_ways` table), an employee WeCom refused a way for (left
//! the corp, disabled, outside the app's visible range, no customer-contact permission — for
//! [`REFUSED_FOR`]), and a corp whose contact ways WeCom cannot make at all just now (credentials,
//! permissions, WeCom busy — for [`PAUSED_FOR`]). So repeated scans never repeat a failing call,
//! and one way per employee and owner is created at a time. Each instance asks WeCom at most once
//! per refused employee per [`REFUSED_FOR`].

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use pond_store::{channel_code::ChannelCode, contact_way, store_location::Store};
use wecom::api::ContactWay;

use crate::{App, AppError, acquisition::regional::store_state};

/// How long an employee WeCom refused a contact way for is left out of routing before WeCom is
/// asked again (Pond usually learns sooner why, from the address-book callback).
pub const REFUSED_FOR: Duration = Duration::from_secs(10 * 60);
/// How long a corp whose contact ways WeCom cannot make is not asked again.
pub const PAUSED_FOR: Duration = Duration::from_secs(60);

/// What a per-employee contact way belongs to.
#[derive(Debug, Clone, Copy)]
pub enum WayOwner<'a> {
    ChannelCode(&'a ChannelCode),
    Store(&'a Store),
}

impl WayOwner<'_> {
    pub fn corp_id(&self) -> i64 {
        match self {
            WayOwner::ChannelCode(c) => c.corp_id,
            WayOwner::Store(s) => s.corp_id,
        }
    }

    /// The contact way WeCom should create for `userid`.
    fn way(&self, userid: &str) -> ContactWay {
        let (remark, skip_verify, state) = match self {
            WayOwner::ChannelCode(c) => (&c.name, c.skip_verify, c.state.clone()),
            WayOwner::Store(s) => (&s.name, true, store_state(s.id)),
        };
        ContactWay {
            kind: 1,
            scene: 2,
            remark: remark.chars().take(30).collect(),
            skip_verify,
            state,
            user: vec![userid.to_owned()],
            ..Default::default()
        }
    }

    fn stored_as(&self) -> contact_way::Owner {
        match self {
            WayOwner::ChannelCode(c) => contact_way::Owner { kind: "channel_code", id: c.id },
            WayOwner::Store(s) => contact_way::Owner { kind: "store", id: s.id },
        }
    }

    fn key(&self, userid: &str) -> WayKey {
        let owner = self.stored_as();
        (self.corp_id(), owner.kind, owner.id, userid.to_owned())
    }
}

type WayKey = (i64, &'static str, i64, String);

/// Ways remembered at most (past that the memory starts over; the table still has them).
const MAX_WAYS: usize = 200_000;

/// What this instance remembers of WeCom's answers about contact ways (see the module docs).
#[derive(Default)]
pub struct ContactWayMemory {
    /// QR codes of the ways made.
    ways: Mutex<HashMap<WayKey, String>>,
    /// `(corp, userid)` → until when WeCom is not asked for a way for that employee.
    refused: Mutex<HashMap<(i64, String), i64>>,
    /// corp → until when WeCom is not asked for new ways at all.
    paused: Mutex<HashMap<i64, i64>>,
    /// One creation at a time per way.
    creating: Mutex<HashMap<WayKey, Arc<tokio::sync::Mutex<()>>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn later(now_ms: i64, by: Duration) -> i64 {
    now_ms.saturating_add(i64::try_from(by.as_millis()).unwrap_or(i64::MAX))
}

impl ContactWayMemory {
    /// Whether WeCom refused `userid` a contact way lately.
    pub fn refused(&self, corp_id: i64, userid: &str, now_ms: i64) -> bool {
        lock(&self.refused).get(&(corp_id, userid.to_owned())).is_some_and(|until| *until > now_ms)
    }

    /// Whether new contact ways for the corp are not asked for now.
    pub fn paused(&self, corp_id: i64, now_ms: i64) -> bool {
        lock(&self.paused).get(&corp_id).is_some_and(|until| *until > now_ms)
    }

    fn refuse(&self, corp_id: i64, userid: &str, now_ms: i64) {
        let mut refused = lock(&self.refused);
        refused.retain(|_, until| *until > now_ms);
        refused.insert((corp_id, userid.to_owned()), later(now_ms, REFUSED_FOR));
    }

    fn pause(&self, corp_id: i64, now_ms: i64) {
        lock(&self.paused).insert(corp_id, later(now_ms, PAUSED_FOR));
    }

    fn remembered(&self, key: &WayKey) -> Option<String> {
        lock(&self.ways).get(key).cloned()
    }

    fn remember(&self, key: WayKey, qr_code: String) {
        let mut ways = lock(&self.ways);
        if ways.len() >= MAX_WAYS {
            ways.clear();
        }
        ways.insert(key, qr_code);
    }

    fn creation_lock(&self, key: &WayKey) -> Arc<tokio::sync::Mutex<()>> {
        let mut creating = lock(&self.creating);
        // Locks nobody holds or waits for are dropped as others are taken.
        creating.retain(|_, l| Arc::strong_count(l) > 1);
        creating.entry(key.clone()).or_default().clone()
    }
}

/// An employee's contact way for an owner, as far as WeCom lets Pond have it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaffWay {
    /// The QR code to show.
    Ready(String),
    /// WeCom refused a way for this employee (now or lately): route to someone else.
    Refused,
    /// No way now and none may be asked for (the corp is paused, or the scan's calls are spent).
    Unavailable,
}

/// How a failed `add_contact_way` is remembered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// Something about this employee (resigned, disabled, not in the app's visible range, no
    /// customer-contact permission or real-name check): ask again after [`REFUSED_FOR`].
    Employee,
    /// Nothing about the employee: credentials, the app's permissions or allowed IPs, WeCom busy
    /// or unreachable: no new ways for the corp for [`PAUSED_FOR`].
    Corp,
}

/// WeCom's errcodes that say nothing about the employee asked for: 40001/40013/40014/41001/42001
/// credentials and token, 48002 API not allowed for the app, 60020 IP not allowed, 45009/45033/-1
/// busy or rate limited (and any answer that is not an errcode: network, timeout).
fn refusal(error: &AppError) -> Refusal {
    match error {
        AppError::Wecom { errcode: Some(code), transient: false, .. }
            if !matches!(code, 40001 | 40013 | 40014 | 41001 | 42001 | 48002 | 60020) =>
        {
            Refusal::Employee
        }
        _ => Refusal::Corp,
    }
}

/// The QR of `userid`'s contact way for `owner`: remembered, stored, or made now — unless WeCom
/// refused this employee or cannot make ways for the corp lately. A call to WeCom spends one of
/// `calls_left`; with none left, a way not made yet is [`StaffWay::Unavailable`].
pub async fn staff_way(
    app: &App,
    owner: WayOwner<'_>,
    userid: &str,
    calls_left: &mut u32,
) -> Result<StaffWay, AppError> {
    let memory = &app.contact_ways;
    let (corp_id, stored_as, key) = (owner.corp_id(), owner.stored_as(), owner.key(userid));
    if let Some(qr) = memory.remembered(&key) {
        return Ok(StaffWay::Ready(qr));
    }
    if let Some(way) = contact_way::get(&app.db, corp_id, stored_as, userid).await? {
        memory.remember(key, way.qr_code.clone());
        return Ok(StaffWay::Ready(way.qr_code));
    }
    let unavailable = |now: i64| {
        if memory.refused(corp_id, userid, now) {
            Some(StaffWay::Refused)
        } else if memory.paused(corp_id, now) || *calls_left == 0 {
            Some(StaffWay::Unavailable)
        } else {
            None
        }
    };
    if let Some(answer) = unavailable(app.clock.now_ms()) {
        return Ok(answer);
    }
    let creation = memory.creation_lock(&key);
    let _one_at_a_time = creation.lock().await;
    // Whoever held the lock before may have made it, or been refused.
    if let Some(qr) = memory.remembered(&key) {
        return Ok(StaffWay::Ready(qr));
    }
    if let Some(answer) = unavailable(app.clock.now_ms()) {
        return Ok(answer);
    }
    *calls_left -= 1;
    let way = owner.way(userid);
    let created = match app.client(corp_id).await {
        Ok(client) => client.add_contact_way(&way).await.map_err(AppError::from),
        Err(e) => Err(e),
    };
    let created = match created {
        Ok(created) => created,
        Err(AppError::Storage(e)) => return Err(AppError::Storage(e)),
        Err(e) => {
            let (now, how) = (app.clock.now_ms(), refusal(&e));
            tracing::warn!(corp_id, userid, ?how, error = %e, "WeCom made no contact way; not asked again for a while");
            return Ok(match how {
                Refusal::Employee => {
                    memory.refuse(corp_id, userid, now);
                    StaffWay::Refused
                }
                Refusal::Corp => {
                    memory.pause(corp_id, now);
                    StaffWay::Unavailable
                }
            });
        }
    };
    let stored = contact_way::ContactWay {
        userid: userid.to_owned(),
        state: way.state,
        config_id: created.config_id,
        qr_code: created.qr_code,
    };
    contact_way::put(&app.db, corp_id, stored_as, &stored).await?;
    memory.remember(key, stored.qr_code.clone());
    Ok(StaffWay::Ready(stored.qr_code))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wecom(errcode: i64, transient: bool) -> AppError {
        AppError::Wecom { errcode: Some(errcode), message: String::new(), transient }
    }

    #[test]
    fn refusals_about_the_employee_are_told_from_the_corps() {
        // 60111 userid not found (left), 60011 outside the visible range, 40098 not verified,
        // 84074 no customer-contact permission.
        for code in [60111, 60011, 40098, 84074] {
            assert_eq!(refusal(&wecom(code, false)), Refusal::Employee, "{code}");
        }
        for code in [40001, 40013, 40014, 42001, 48002, 60020] {
            assert_eq!(refusal(&wecom(code, false)), Refusal::Corp, "{code}");
        }
        assert_eq!(refusal(&wecom(-1, true)), Refusal::Corp);
        assert_eq!(refusal(&wecom(45009, true)), Refusal::Corp);
        let network = AppError::Wecom { errcode: None, message: "timeout".into(), transient: true };
        assert_eq!(refusal(&network), Refusal::Corp);
        assert_eq!(refusal(&AppError::NotConnected("no secret".into())), Refusal::Corp);
    }

    #[test]
    fn refusals_and_pauses_end_after_their_time() {
        let memory = ContactWayMemory::default();
        memory.refuse(1, "u1", 0);
        memory.pause(2, 0);
        assert!(memory.refused(1, "u1", 1) && !memory.refused(1, "u2", 1) && !memory.refused(3, "u1", 1));
        assert!(memory.paused(2, 1) && !memory.paused(1, 1));
        let refused_for = REFUSED_FOR.as_millis() as i64;
        assert!(memory.refused(1, "u1", refused_for - 1) && !memory.refused(1, "u1", refused_for));
        assert!(!memory.paused(2, PAUSED_FOR.as_millis() as i64));
    }
}
