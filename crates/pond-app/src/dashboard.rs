//! The console's home page: new, lost and net customers for today, yesterday, 7 and 30 days (in
//! the corp's time zone), the daily trend, the channel codes and stores that brought the most
//! customers, the welcome success rate, group members, and the health of sync and jobs.

use std::collections::HashMap;

use pond_core::{CorpZone, JobStatus, PageRequest};
use pond_store::{customer::FollowEdge, sync_run::SyncRun};

use crate::{
    App, AppError,
    acquisition::channels::{Channel, ChannelNames},
};

/// New, lost and net follow relations over a span of days.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flow {
    pub new: i64,
    pub lost: i64,
}

impl Flow {
    pub fn net(&self) -> i64 {
        self.new - self.lost
    }
}

/// One day of the trend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Day {
    /// `MM-DD`, local.
    pub label: String,
    pub flow: Flow,
}

/// A channel (code or store) with what it brought in the last 30 days.
#[derive(Debug, Clone)]
pub struct TopChannel {
    pub channel: Channel,
    pub added: i64,
    pub still_connected: i64,
}

/// Everything the home page shows.
#[derive(Debug, Clone)]
pub struct Dashboard {
    pub corp_name: String,
    pub today: Flow,
    pub yesterday: Flow,
    pub last_7_days: Flow,
    pub last_30_days: Flow,
    /// Oldest first, `range_days` long, today last.
    pub trend: Vec<Day>,
    pub range_days: i64,
    pub customers: i64,
    pub staff: i64,
    pub groups: i64,
    pub group_customers: i64,
    pub top_codes: Vec<TopChannel>,
    pub top_stores: Vec<TopChannel>,
    /// (sent, skipped, failed) welcome outcomes, all time.
    pub welcome: (i64, i64, i64),
    pub last_sync: Option<SyncRun>,
    pub pending_jobs: i64,
    pub failed_jobs: i64,
    /// WeCom events failed, or waiting for a retry after an error.
    pub event_troubles: i64,
}

impl Dashboard {
    /// Sent ÷ (sent + failed), as a percentage; none before the first outcome.
    pub fn welcome_rate(&self) -> Option<f64> {
        let (sent, _, failed) = self.welcome;
        (sent + failed > 0).then(|| 100.0 * sent as f64 / (sent + failed) as f64)
    }
}

/// The ranges the trend offers.
pub const RANGES: [i64; 3] = [7, 30, 90];

pub async fn dashboard(app: &App, corp_id: i64, range_days: Option<i64>, now: i64) -> Result<Dashboard, AppError> {
    let range_days = range_days.filter(|d| RANGES.contains(d)).unwrap_or(30);
    let zone = crate::acquisition::routing::corp_zone(app, corp_id).await?;
    let offset = i64::from(zone.offset_secs()) * 1000;
    let today = zone.day_number(now);
    let span = range_days.max(30);
    let from = zone.start_of_day_number(today - span + 1);
    let to = zone.start_of_day_number(today + 1);
    let db = &app.db;
    let one = PageRequest::new(Some(1), Some(1));
    let (
        adds,
        losses,
        customers,
        staff,
        groups,
        members,
        by_state,
        welcome,
        last_sync,
        pending,
        failed,
        troubles,
        corp,
    ) = tokio::try_join!(
        pond_store::customer::per_day(db, corp_id, FollowEdge::Added, offset, from, to),
        pond_store::customer::per_day(db, corp_id, FollowEdge::Ended, offset, from, to),
        pond_store::customer::count_live(db, corp_id),
        pond_store::staff::list(db, corp_id, None, one),
        pond_store::group::list(db, corp_id, None, one),
        pond_store::group::member_counts(db, corp_id),
        pond_store::customer::adds_by_state(db, corp_id, zone.start_of_day_number(today - 29)),
        pond_store::welcome::result_counts(db, corp_id),
        pond_store::sync_run::latest(db, corp_id),
        pond_store::jobs::list(db, corp_id, Some(JobStatus::Pending), one),
        pond_store::jobs::list(db, corp_id, Some(JobStatus::Failed), one),
        pond_store::inbox::troubles(db, corp_id),
        pond_store::corp::get(db, corp_id),
    )?;
    let event_troubles = troubles.iter().map(|t| t.failed + t.retrying).sum();
    let adds: HashMap<i64, i64> = adds.into_iter().collect();
    let losses: HashMap<i64, i64> = losses.into_iter().collect();
    let flow_of =
        |day: i64| Flow { new: adds.get(&day).copied().unwrap_or(0), lost: losses.get(&day).copied().unwrap_or(0) };
    let sum = |days: i64| {
        (0..days)
            .map(|back| flow_of(today - back))
            .fold(Flow::default(), |a, b| Flow { new: a.new + b.new, lost: a.lost + b.lost })
    };
    let trend = (0..range_days)
        .rev()
        .map(|back| Day { label: month_day(zone, today - back), flow: flow_of(today - back) })
        .collect();
    let names = ChannelNames::load(app, corp_id).await?;
    let (mut top_codes, mut top_stores) = (Vec::new(), Vec::new());
    for (state, added, live) in by_state {
        let channel = names.resolve(&state);
        let row = TopChannel { channel, added, still_connected: live };
        match row.channel {
            Channel::Code { .. } => top_codes.push(row),
            Channel::Store { .. } => top_stores.push(row),
            _ => {}
        }
    }
    for list in [&mut top_codes, &mut top_stores] {
        list.sort_by(|a, b| b.added.cmp(&a.added).then_with(|| a.channel.name().cmp(b.channel.name())));
        list.truncate(5);
    }
    let count = |status: &str| welcome.iter().find(|(s, _)| s == status).map(|(_, n)| *n).unwrap_or(0);
    Ok(Dashboard {
        corp_name: corp.name,
        today: flow_of(today),
        yesterday: flow_of(today - 1),
        last_7_days: sum(7),
        last_30_days: sum(30),
        trend,
        range_days,
        customers,
        staff: staff.total,
        groups: groups.total,
        group_customers: members.0,
        top_codes,
        top_stores,
        welcome: (count("sent"), count("skipped"), count("failed")),
        last_sync,
        pending_jobs: pending.total,
        failed_jobs: failed.total,
        event_troubles,
    })
}

fn month_day(zone: CorpZone, day: i64) -> String {
    let date = crate::acquisition::stats::date_of(zone, zone.start_of_day_number(day));
    date.get(5..).unwrap_or(&date).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_is_new_minus_lost() {
        assert_eq!(Flow { new: 3, lost: 5 }.net(), -2);
    }

    #[test]
    fn month_day_is_local() {
        let zone = CorpZone::from_stored("Asia/Shanghai");
        // 2026-11-30 17:00 UTC is 12-01 01:00 in Shanghai.
        let ms = 1_796_058_000_000;
        assert_eq!(month_day(zone, zone.day_number(ms)), "12-01");
    }
}
