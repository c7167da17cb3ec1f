//! A channel code's figures per day (in the corp's time zone) and per employee, their CSV and a
//! small trend chart.

use std::collections::BTreeMap;

use pond_core::{CorpZone, ValidationError};
use pond_store::{Db, channel_code::ChannelCode};
use serde::Serialize;

use crate::{App, AppError};

/// One day of a code's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DayStats {
    /// Local date, `YYYY-MM-DD`.
    pub date: String,
    /// Landing-page scans (landing codes only).
    pub scans: i64,
    pub new_customers: i64,
    /// Relations added this day that have since ended (either side deleted).
    pub lost: i64,
    pub net: i64,
    /// Added this day and still connected 7 days later (only for days at least 7 days ago).
    pub retained_7d: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StaffStats {
    pub userid: String,
    pub scans: i64,
    pub new_customers: i64,
    pub lost: i64,
    pub net: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CodeStats {
    pub days: Vec<DayStats>,
    pub staff: Vec<StaffStats>,
    pub totals: DayStats,
}

const DAY_MS: i64 = 86_400_000;
const SEVEN_DAYS_MS: i64 = 7 * DAY_MS;

/// Parses `YYYY-MM-DD` (a local date of the corp) into the epoch ms of its start.
pub fn parse_date(zone: CorpZone, field: &'static str, s: &str) -> Result<i64, ValidationError> {
    let d = chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| ValidationError::new(field, "must be a date such as 2026-11-25", "须为日期，如 2026-11-25"))?;
    let days = d.signed_duration_since(chrono::NaiveDate::default()).num_days();
    Ok(zone.start_of_day_number(days))
}

/// The local date of `ms` in `zone`, `YYYY-MM-DD`.
pub fn date_of(zone: CorpZone, ms: i64) -> String {
    let day = chrono::NaiveDate::default() + chrono::Days::new(zone.day_number(ms).max(0) as u64);
    day.format("%Y-%m-%d").to_string()
}

/// The stats window: `from` and `to` (local dates, inclusive) as `[from, to)` epoch ms; the last
/// 30 days (today included) by default; 1 to 366 days.
pub fn window(zone: CorpZone, from: Option<&str>, to: Option<&str>, now: i64) -> Result<(i64, i64), ValidationError> {
    let to = match to.map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => parse_date(zone, "to", t)? + DAY_MS,
        None => zone.day_start(now) + DAY_MS,
    };
    let from = match from.map(str::trim).filter(|f| !f.is_empty()) {
        Some(f) => parse_date(zone, "from", f)?,
        None => to - 30 * DAY_MS,
    };
    if from >= to || to - from > 366 * DAY_MS {
        return Err(ValidationError::new(
            "from",
            "range must be 1 to 366 days with from before to",
            "日期范围须为 1 到 366 天，且开始日期早于结束日期",
        ));
    }
    Ok((from, to))
}

/// A code and its figures over [`window`].
pub async fn code_stats(
    app: &App,
    corp_id: i64,
    id: i64,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<(ChannelCode, CodeStats), AppError> {
    let code = pond_store::channel_code::get(&app.db, corp_id, id).await?;
    let stats = stats_of(app, &code, from, to).await?;
    Ok((code, stats))
}

/// A code's figures over [`window`], for a code already read.
pub async fn stats_of(
    app: &App,
    code: &ChannelCode,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<CodeStats, AppError> {
    let zone = crate::acquisition::routing::corp_zone(app, code.corp_id).await?;
    let now = pond_store::now_ms();
    let (from, to) = window(zone, from, to, now)?;
    stats(&app.db, zone, code, from, to, now).await
}

/// Figures for `[from, to)` (epoch ms, day-aligned), per day and per employee.
pub async fn stats(
    db: &Db,
    zone: CorpZone,
    code: &ChannelCode,
    from: i64,
    to: i64,
    now: i64,
) -> Result<CodeStats, AppError> {
    let follows = pond_store::channel_code::follows_through(db, code.corp_id, &code.state, from, to).await?;
    let scans = pond_store::channel_code::scans(db, code.corp_id, code.id, from, to).await?;
    let mut days: BTreeMap<i64, DayStats> = BTreeMap::new();
    let mut day = zone.day_start(from);
    while day < to {
        let complete = day + DAY_MS + SEVEN_DAYS_MS <= now;
        days.insert(
            day,
            DayStats { date: date_of(zone, day), retained_7d: complete.then_some(0), ..Default::default() },
        );
        day += DAY_MS;
    }
    let mut staff: BTreeMap<String, StaffStats> = BTreeMap::new();
    for (userid, at) in &scans {
        if let Some(d) = days.get_mut(&zone.day_start(*at)) {
            d.scans += 1;
        }
        staff
            .entry(userid.clone())
            .or_insert_with(|| StaffStats { userid: userid.clone(), ..Default::default() })
            .scans += 1;
    }
    for (userid, _, added_at, removed_at) in &follows {
        let s =
            staff.entry(userid.clone()).or_insert_with(|| StaffStats { userid: userid.clone(), ..Default::default() });
        s.new_customers += 1;
        if removed_at.is_some() {
            s.lost += 1;
        }
        if let Some(d) = days.get_mut(&zone.day_start(*added_at)) {
            d.new_customers += 1;
            if removed_at.is_some() {
                d.lost += 1;
            }
            if let Some(r) = d.retained_7d.as_mut()
                && removed_at.is_none_or(|gone| gone >= added_at + SEVEN_DAYS_MS)
            {
                *r += 1;
            }
        }
    }
    let mut totals = DayStats { date: "total".into(), ..Default::default() };
    for d in days.values_mut() {
        d.net = d.new_customers - d.lost;
        totals.scans += d.scans;
        totals.new_customers += d.new_customers;
        totals.lost += d.lost;
        if let Some(r) = d.retained_7d {
            *totals.retained_7d.get_or_insert(0) += r;
        }
    }
    totals.net = totals.new_customers - totals.lost;
    let staff = staff
        .into_values()
        .map(|mut s| {
            s.net = s.new_customers - s.lost;
            s
        })
        .collect();
    Ok(CodeStats { days: days.into_values().collect(), staff, totals })
}

/// The stats as CSV (one row per day, then one per employee).
pub fn stats_csv(code: &ChannelCode, s: &CodeStats) -> String {
    use crate::export::{Cell, CsvOut};
    let mut out = CsvOut::new(&["code", "date", "userid", "scans", "new_customers", "lost", "net", "retained_7d"]);
    let n = |v: i64| Cell::Number(v);
    for d in &s.days {
        let retained = d.retained_7d.map(|r| r.to_string()).unwrap_or_default();
        out.row(&[
            Cell::Text(&code.name),
            Cell::Text(&d.date),
            Cell::Text(""),
            n(d.scans),
            n(d.new_customers),
            n(d.lost),
            n(d.net),
            Cell::Text(&retained),
        ]);
    }
    for st in &s.staff {
        out.row(&[
            Cell::Text(&code.name),
            Cell::Text("all"),
            Cell::Text(&st.userid),
            n(st.scans),
            n(st.new_customers),
            n(st.lost),
            n(st.net),
            Cell::Text(""),
        ]);
    }
    out.finish()
}
