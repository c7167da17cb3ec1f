//! Who serves the next customer: the employees a native code's contact way should hold now, the
//! employee a landing-page scan goes to (by strategy, caps and schedules in the corp's time zone)
//! and the store employee a regional scan goes to. Only employees who can serve are chosen (not
//! resigned, disabled or refused a contact way by WeCom lately); the code's backup staff when no
//! one else can. The rules themselves are pure, in `pond_core::acquisition`; this module gathers
//! the facts they need.

use std::collections::{HashMap, HashSet};

use pond_core::{
    CorpZone,
    acquisition::{self, LocalTime, Rules, StaffWeight, Strategy},
};
use pond_store::{channel_code::ChannelCode, store_location::Store};
use wecom::api::ContactWay;

use crate::{
    App, AppError,
    acquisition::contact_ways::{self, StaffWay, WayOwner},
};

/// The corp's time zone.
pub async fn corp_zone(app: &App, corp_id: i64) -> Result<CorpZone, AppError> {
    Ok(CorpZone::from_stored(&app.corps.get(&app.db, corp_id).await?.timezone))
}

/// New customers today (in the corp's time zone) per employee through a code.
pub async fn added_today(
    app: &App,
    code: &ChannelCode,
    zone: CorpZone,
    now: i64,
) -> Result<HashMap<String, u32>, AppError> {
    Ok(pond_store::channel_code::added_since(&app.db, code.corp_id, &code.state, zone.day_start(now))
        .await?
        .into_iter()
        .map(|(u, n)| (u, u32::try_from(n).unwrap_or(u32::MAX)))
        .collect())
}

/// The employees of `userids` who can take customers now, with their names: active as Pond knows
/// them (the address-book callbacks and syncs tell it who resigned or was disabled), and not
/// refused a contact way by WeCom lately.
pub async fn able_staff(
    app: &App,
    corp_id: i64,
    userids: &[String],
    now: i64,
) -> Result<HashMap<String, String>, AppError> {
    let ids: Vec<&str> = userids.iter().map(String::as_str).collect();
    Ok(pond_store::staff::of_userids(&app.db, corp_id, &ids)
        .await?
        .into_iter()
        .filter(|s| {
            s.status().can_serve() && s.removed_at.is_none() && !app.contact_ways.refused(corp_id, &s.userid, now)
        })
        .map(|s| (s.userid, s.name))
        .collect())
}

/// What routing reads for one decision about a code.
struct Facts {
    rules: Rules,
    zone: CorpZone,
    added: HashMap<String, u32>,
    able: HashMap<String, String>,
}

async fn facts(app: &App, code: &ChannelCode, now: i64) -> Result<Facts, AppError> {
    let rules: Rules = crate::json_column("channel_codes.rules", code.id, &code.rules)?;
    let zone = corp_zone(app, code.corp_id).await?;
    let added = added_today(app, code, zone, now).await?;
    let able = able_staff(app, code.corp_id, &rules.all_staff(), now).await?;
    Ok(Facts { rules, zone, added, able })
}

/// Employees a native code's contact way should hold right now (never empty while anyone can serve).
pub async fn native_users(app: &App, code: &ChannelCode, now: i64) -> Result<Vec<String>, AppError> {
    let f = facts(app, code, now).await?;
    let eligible = acquisition::eligible(&f.rules, f.zone.local_time(now), &f.added, |u| f.able.contains_key(u));
    let mut users: Vec<String> = eligible.staff.into_iter().map(|s| s.userid).collect();
    users.sort();
    users.dedup();
    Ok(users)
}

/// Most `add_contact_way` calls one scan may make (each refused employee is remembered, so later
/// scans do not ask again).
pub const MAX_CALLS_PER_SCAN: u32 = 3;

/// The employee a scan was handed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    pub userid: String,
    pub staff_name: String,
    pub qr_code: String,
    pub used_backup: bool,
}

/// How routing one scan ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Served(Served),
    /// Nobody can serve: everyone capped, off schedule, resigned or refused by WeCom.
    NobodyFree,
    /// Someone could, but WeCom cannot make their contact way now.
    Busy,
}

/// One scan to route: the rule and the facts it is applied to.
struct Scan<'a> {
    strategy: Strategy,
    rules: &'a Rules,
    now: LocalTime,
    /// The round-robin counter.
    position: u64,
    added: &'a HashMap<String, u32>,
    /// Who can serve, with their names.
    able: &'a HashMap<String, String>,
}

/// Hands one scan to an employee of `owner` and gets their contact way. Whom routing may choose
/// is the pure rule ([`acquisition::eligible`], [`acquisition::pick`]) over what Pond knows:
/// caps, schedules, who can serve. An employee WeCom refuses a contact way is remembered and the
/// next one chosen instead; at most [`MAX_CALLS_PER_SCAN`] calls are made.
async fn serve(app: &App, owner: WayOwner<'_>, scan: Scan<'_>) -> Result<Route, AppError> {
    let unit: f64 = rand::Rng::random(&mut rand::rng());
    let mut left_out: HashSet<String> = HashSet::new();
    let mut calls_left = MAX_CALLS_PER_SCAN;
    let mut unavailable = false;
    loop {
        let can_serve = |u: &str| scan.able.contains_key(u) && !left_out.contains(u);
        let eligible = acquisition::eligible(scan.rules, scan.now, scan.added, can_serve);
        let Some(userid) = acquisition::pick(scan.strategy, &eligible.staff, scan.position, scan.added, unit) else {
            return Ok(if unavailable { Route::Busy } else { Route::NobodyFree });
        };
        match contact_ways::staff_way(app, owner, &userid, &mut calls_left).await? {
            StaffWay::Ready(qr_code) => {
                let staff_name = scan.able.get(&userid).cloned().unwrap_or_else(|| userid.clone());
                return Ok(Route::Served(Served { userid, staff_name, qr_code, used_backup: eligible.used_backup }));
            }
            StaffWay::Refused => {}
            StaffWay::Unavailable => unavailable = true,
        }
        left_out.insert(userid);
    }
}

/// Routes one landing-page scan (advancing the round-robin counter) to an employee with their QR.
pub async fn route_scan(app: &App, code: &ChannelCode, now: i64) -> Result<Route, AppError> {
    let strategy = Strategy::parse(&code.strategy)?;
    let f = facts(app, code, now).await?;
    let position = u64::try_from(pond_store::channel_code::next_position(&app.db, code.id).await?).unwrap_or(0);
    let scan =
        Scan { strategy, rules: &f.rules, now: f.zone.local_time(now), position, added: &f.added, able: &f.able };
    serve(app, WayOwner::ChannelCode(code), scan).await
}

/// Routes one regional scan to one of the store's employees (at random) with their QR.
pub async fn route_store_scan(app: &App, store: &Store, staff: &[String], now: i64) -> Result<Route, AppError> {
    let rules = Rules {
        staff: staff.iter().map(|u| StaffWeight { userid: u.clone(), weight: 1 }).collect(),
        ..Rules::default()
    };
    let able = able_staff(app, store.corp_id, staff, now).await?;
    let local = corp_zone(app, store.corp_id).await?.local_time(now);
    let none = HashMap::new();
    let scan = Scan { strategy: Strategy::Random, rules: &rules, now: local, position: 0, added: &none, able: &able };
    serve(app, WayOwner::Store(store), scan).await
}

/// The contact way a native code uses, for `users` (single when one employee, multi otherwise).
pub fn native_way(code: &ChannelCode, users: Vec<String>) -> ContactWay {
    ContactWay {
        kind: if users.len() == 1 { 1 } else { 2 },
        scene: 2,
        remark: code.name.chars().take(30).collect(),
        skip_verify: code.skip_verify,
        state: code.state.clone(),
        user: users,
        ..Default::default()
    }
}
