//! Who serves the next customer of a channel code: the employees a native code's contact way
//! should hold now, and the employee a landing-page scan goes to (by strategy, caps and schedules
//! in the corp's time zone). The rules themselves are pure, in `pond_core::acquisition`.

use std::collections::HashMap;

use pond_core::{
    CorpZone,
    acquisition::{self, Eligible, Rules, Strategy},
};
use pond_store::channel_code::ChannelCode;
use wecom::api::ContactWay;

use crate::{App, AppError};

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

/// Who may receive a code's next customer now (caps and schedules in the corp's time zone), with
/// each employee's new customers today.
async fn eligible_now(app: &App, code: &ChannelCode, now: i64) -> Result<(Eligible, HashMap<String, u32>), AppError> {
    let rules: Rules = crate::json_column("channel_codes.rules", code.id, &code.rules)?;
    let zone = corp_zone(app, code.corp_id).await?;
    let added = added_today(app, code, zone, now).await?;
    Ok((acquisition::eligible(&rules, zone.local_time(now), &added), added))
}

/// Employees a native code's contact way should hold right now (never empty while anyone can serve).
pub async fn native_users(app: &App, code: &ChannelCode, now: i64) -> Result<Vec<String>, AppError> {
    let (eligible, _) = eligible_now(app, code, now).await?;
    let mut users: Vec<String> = eligible.staff.into_iter().map(|s| s.userid).collect();
    users.sort();
    users.dedup();
    Ok(users)
}

/// Picks the employee for one landing-page scan and advances the round-robin counter.
pub async fn route_scan(app: &App, code: &ChannelCode, now: i64) -> Result<Option<String>, AppError> {
    let strategy = Strategy::parse(&code.strategy)?;
    let (eligible, added) = eligible_now(app, code, now).await?;
    let position = pond_store::channel_code::next_position(&app.db, code.id).await?;
    let unit: f64 = rand::Rng::random(&mut rand::rng());
    Ok(acquisition::pick(strategy, &eligible.staff, u64::try_from(position).unwrap_or(0), &added, unit))
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
