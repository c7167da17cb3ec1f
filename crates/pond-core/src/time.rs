//! Time in a corp's time zone: day boundaries (caps, "added today", stats by day), schedules'
//! weekday and minute, and times shown to operators. Storage is UTC epoch milliseconds.
//!
//! The zones offered are those of WeCom's corps without daylight saving (China's, and the
//! region's), so a zone is a fixed offset; a zone name outside the table is refused when the corp
//! is saved rather than guessed at.

use crate::ValidationError;

const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;

/// Zones Pond knows, with their UTC offsets in hours (none observes daylight saving).
const ZONES: &[(&str, i64)] = &[
    ("Asia/Shanghai", 8),
    ("Asia/Chongqing", 8),
    ("Asia/Urumqi", 6),
    ("Asia/Hong_Kong", 8),
    ("Asia/Macau", 8),
    ("Asia/Taipei", 8),
    ("Asia/Singapore", 8),
    ("Asia/Kuala_Lumpur", 8),
    ("Asia/Manila", 8),
    ("Asia/Tokyo", 9),
    ("Asia/Seoul", 9),
    ("Asia/Bangkok", 7),
    ("Asia/Jakarta", 7),
    ("Asia/Ho_Chi_Minh", 7),
    ("Asia/Dubai", 4),
    ("UTC", 0),
];

/// A corp's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CorpZone {
    name: &'static str,
    offset_ms: i64,
}

/// A local weekday (1 = Monday … 7 = Sunday) and minute of the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    pub weekday: u8,
    pub minute: u16,
}

impl Default for CorpZone {
    fn default() -> Self {
        CorpZone::SHANGHAI
    }
}

impl CorpZone {
    pub const SHANGHAI: CorpZone = CorpZone { name: "Asia/Shanghai", offset_ms: 8 * HOUR_MS };

    /// The zone of this IANA name, if Pond knows it.
    pub fn parse(name: &str) -> Result<CorpZone, ValidationError> {
        ZONES
            .iter()
            .find(|(n, _)| *n == name.trim())
            .map(|&(name, hours)| CorpZone { name, offset_ms: hours * HOUR_MS })
            .ok_or_else(|| {
                let names = ZONES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ");
                ValidationError::new("timezone", format!("must be one of {names}"), format!("须为以下之一：{names}"))
            })
    }

    /// The zone of a stored name; an unknown one (never saved by Pond) falls back to Shanghai.
    pub fn from_stored(name: &str) -> CorpZone {
        CorpZone::parse(name).unwrap_or_default()
    }

    /// Every zone Pond knows, by IANA name.
    pub fn names() -> impl Iterator<Item = &'static str> {
        ZONES.iter().map(|(n, _)| *n)
    }

    pub fn name(self) -> &'static str {
        self.name
    }

    /// `+08:00`.
    pub fn offset_label(self) -> String {
        let (sign, ms) = if self.offset_ms < 0 { ('-', -self.offset_ms) } else { ('+', self.offset_ms) };
        format!("{sign}{:02}:{:02}", ms / HOUR_MS, ms % HOUR_MS / 60_000)
    }

    pub fn offset_secs(self) -> i32 {
        (self.offset_ms / 1000) as i32
    }

    /// Local weekday and minute at `ms`.
    pub fn local_time(self, ms: i64) -> LocalTime {
        let local = ms + self.offset_ms;
        let day = local.div_euclid(DAY_MS);
        // 1970-01-01 was a Thursday (weekday 4).
        LocalTime { weekday: ((day + 3).rem_euclid(7) + 1) as u8, minute: (local.rem_euclid(DAY_MS) / 60_000) as u16 }
    }

    /// Start of the local day containing `ms`, as epoch ms.
    pub fn day_start(self, ms: i64) -> i64 {
        (ms + self.offset_ms).div_euclid(DAY_MS) * DAY_MS - self.offset_ms
    }

    /// The local day containing `ms`, as days since 1970-01-01 (local).
    pub fn day_number(self, ms: i64) -> i64 {
        (ms + self.offset_ms).div_euclid(DAY_MS)
    }

    /// Start of local day number `day` (see [`Self::day_number`]), as epoch ms.
    pub fn start_of_day_number(self, day: i64) -> i64 {
        day * DAY_MS - self.offset_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shanghai_days_start_at_16_utc() {
        let z = CorpZone::SHANGHAI;
        // 2026-11-30T15:59:59Z is 23:59:59 in Shanghai; one second later is the next day.
        let before = 1_795_967_999_000;
        assert_eq!(z.day_start(before + 1000), before + 1000);
        assert_eq!(z.day_start(before), before + 1000 - DAY_MS);
        assert_eq!(z.local_time(before).minute, 23 * 60 + 59);
        assert_eq!(z.offset_label(), "+08:00");
    }

    #[test]
    fn weekdays_follow_the_zone() {
        // 1970-01-01T00:00Z: Thursday in UTC and in Shanghai (08:00); Wednesday nowhere near.
        assert_eq!(CorpZone::parse("UTC").unwrap().local_time(0).weekday, 4);
        assert_eq!(CorpZone::SHANGHAI.local_time(0), LocalTime { weekday: 4, minute: 8 * 60 });
        // 1970-01-01T20:00Z is already Friday in Tokyo.
        assert_eq!(CorpZone::parse("Asia/Tokyo").unwrap().local_time(20 * HOUR_MS).weekday, 5);
    }

    #[test]
    fn unknown_zones_are_refused_with_the_list() {
        let e = CorpZone::parse("Mars/Olympus").unwrap_err();
        assert_eq!(e.field, "timezone");
        assert!(e.reason.contains("Asia/Shanghai"));
        assert_eq!(CorpZone::from_stored("Mars/Olympus"), CorpZone::SHANGHAI);
    }
}
