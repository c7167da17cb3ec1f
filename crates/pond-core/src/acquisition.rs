//! Acquisition rules: which employee a channel live code hands the next customer to, and which
//! welcome message greets them. Pure functions over plain data, so the properties (weights
//! respected, caps never exceeded, schedules honoured, backup only when needed) can be tested
//! exhaustively without I/O.

use std::collections::HashMap;

use crate::ValidationError;

/// How a code spreads customers over its employees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    Random,
    RoundRobin,
    Weighted,
    FewestAddedToday,
}

impl Strategy {
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        match s.trim() {
            "random" => Ok(Strategy::Random),
            "round_robin" => Ok(Strategy::RoundRobin),
            "weighted" => Ok(Strategy::Weighted),
            "fewest_added_today" => Ok(Strategy::FewestAddedToday),
            _ => Err(ValidationError::new(
                "strategy",
                "must be one of random, round_robin, weighted, fewest_added_today",
                "须为 random、round_robin、weighted、fewest_added_today 之一",
            )),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Random => "random",
            Strategy::RoundRobin => "round_robin",
            Strategy::Weighted => "weighted",
            Strategy::FewestAddedToday => "fewest_added_today",
        }
    }
}

/// An employee on a code, with a weight for the weighted strategy (ignored by the others).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StaffWeight {
    pub userid: String,
    #[serde(default = "one")]
    pub weight: u32,
}

fn one() -> u32 {
    1
}

/// A time window with its own staff: on these weekdays (1 = Monday … 7 = Sunday), from `start`
/// to `end` (minutes after local midnight, end exclusive), only `staff` receive customers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Schedule {
    pub weekdays: Vec<u8>,
    pub start: String,
    pub end: String,
    pub staff: Vec<StaffWeight>,
}

/// Parses `HH:MM` into minutes after midnight (`24:00` allowed as an end).
pub fn parse_hhmm(field: &'static str, s: &str) -> Result<u16, ValidationError> {
    let bad = || {
        ValidationError::new(
            field,
            format!("{s:?} is not a time such as 09:30"),
            format!("{s:?} 不是有效时间，应形如 09:30"),
        )
    };
    let (h, m) = s.trim().split_once(':').ok_or_else(bad)?;
    let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

impl Schedule {
    fn covers(&self, now: LocalTime) -> bool {
        let (Ok(start), Ok(end)) = (parse_hhmm("start", &self.start), parse_hhmm("end", &self.end)) else {
            return false;
        };
        self.weekdays.contains(&now.weekday) && start <= now.minute && now.minute < end
    }
}

/// The routing rules of a code.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rules {
    /// Employees outside any schedule.
    pub staff: Vec<StaffWeight>,
    /// At most this many new customers per employee per day (local time).
    #[serde(default)]
    pub daily_cap: Option<u32>,
    #[serde(default)]
    pub schedules: Vec<Schedule>,
    /// Used only when every regular employee is capped or off schedule.
    #[serde(default)]
    pub backup: Vec<String>,
}

/// Most employees a WeCom contact way can hold.
pub const MAX_CODE_STAFF: usize = 100;

impl Rules {
    /// Checks the rules; `known` says whether a userid exists (and is active).
    pub fn validate(&self, known: impl Fn(&str) -> bool) -> Result<(), ValidationError> {
        if self.staff.is_empty() && self.schedules.is_empty() {
            return Err(ValidationError::new("staff", "a code needs at least one employee", "活码至少需要一名员工"));
        }
        let mut all: Vec<&str> = self.staff.iter().map(|s| s.userid.as_str()).collect();
        for s in &self.schedules {
            if s.weekdays.is_empty() || s.weekdays.iter().any(|d| !(1..=7).contains(d)) {
                return Err(ValidationError::new(
                    "schedules.weekdays",
                    "must list days 1 (Monday) to 7 (Sunday)",
                    "星期须为 1（周一）到 7（周日）",
                ));
            }
            if parse_hhmm("schedules.start", &s.start)? >= parse_hhmm("schedules.end", &s.end)? {
                return Err(ValidationError::new("schedules", "start must be before end", "开始时间须早于结束时间"));
            }
            if s.staff.is_empty() {
                return Err(ValidationError::new(
                    "schedules.staff",
                    "each schedule needs at least one employee",
                    "每个排班至少需要一名员工",
                ));
            }
            all.extend(s.staff.iter().map(|x| x.userid.as_str()));
        }
        all.extend(self.backup.iter().map(String::as_str));
        all.sort_unstable();
        all.dedup();
        if all.len() > MAX_CODE_STAFF {
            return Err(ValidationError::new(
                "staff",
                format!("at most {MAX_CODE_STAFF} employees per code (WeCom's limit); got {}", all.len()),
                format!("每个活码最多 {MAX_CODE_STAFF} 名员工（企业微信的限制），当前 {} 名", all.len()),
            ));
        }
        if let Some(unknown) = all.iter().find(|u| !known(u)) {
            return Err(ValidationError::new(
                "staff",
                format!("unknown or resigned employee {unknown}"),
                format!("员工 {unknown} 不存在或已离职"),
            ));
        }
        if self
            .staff
            .iter()
            .chain(self.schedules.iter().flat_map(|s| &s.staff))
            .any(|s| s.weight == 0 || s.weight > 1000)
        {
            return Err(ValidationError::new("staff.weight", "weights must be 1..=1000", "权重须为 1 到 1000"));
        }
        if self.daily_cap == Some(0) {
            return Err(ValidationError::new(
                "daily_cap",
                "must be at least 1 (or absent for no cap)",
                "至少为 1（留空表示不限）",
            ));
        }
        Ok(())
    }

    /// Every employee the code can ever route to.
    pub fn all_staff(&self) -> Vec<String> {
        let mut all: Vec<String> = self.staff.iter().map(|s| s.userid.clone()).collect();
        all.extend(self.schedules.iter().flat_map(|s| s.staff.iter().map(|x| x.userid.clone())));
        all.extend(self.backup.iter().cloned());
        all.sort_unstable();
        all.dedup();
        all
    }
}

pub use crate::time::LocalTime;

/// Who may receive the next customer now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Eligible {
    pub staff: Vec<StaffWeight>,
    pub used_backup: bool,
}

/// The employees who may take the next customer now: those on duty (the schedule covering `now`,
/// else the regular staff) who are under their daily cap and able to serve; the backup staff
/// (under cap and able) only when no one on duty is.
///
/// `can_serve` carries what the caller knows of each employee: not resigned, disabled or
/// inactive in WeCom, and not refused a contact way by WeCom lately. An employee who cannot
/// serve is never chosen, on duty or as backup.
pub fn eligible(
    rules: &Rules,
    now: LocalTime,
    added_today: &HashMap<String, u32>,
    can_serve: impl Fn(&str) -> bool,
) -> Eligible {
    let available =
        |u: &str| rules.daily_cap.is_none_or(|cap| added_today.get(u).copied().unwrap_or(0) < cap) && can_serve(u);
    let on_duty: &[StaffWeight] = match rules.schedules.iter().find(|s| s.covers(now)) {
        Some(s) => &s.staff,
        None => &rules.staff,
    };
    let staff: Vec<StaffWeight> = on_duty.iter().filter(|s| available(&s.userid)).cloned().collect();
    if !staff.is_empty() {
        return Eligible { staff, used_backup: false };
    }
    let backup =
        rules.backup.iter().filter(|u| available(u)).map(|u| StaffWeight { userid: u.clone(), weight: 1 }).collect();
    Eligible { staff: backup, used_backup: true }
}

/// Picks one employee. `position` is the code's round-robin counter; `unit` a random draw in [0, 1).
pub fn pick(
    strategy: Strategy,
    staff: &[StaffWeight],
    position: u64,
    added_today: &HashMap<String, u32>,
    unit: f64,
) -> Option<String> {
    if staff.is_empty() {
        return None;
    }
    let unit = if unit.is_finite() { unit.clamp(0.0, 0.999_999_999) } else { 0.0 };
    let chosen = match strategy {
        Strategy::Random => &staff[((unit * staff.len() as f64) as usize).min(staff.len() - 1)],
        Strategy::RoundRobin => &staff[(position % staff.len() as u64) as usize],
        Strategy::Weighted => {
            let total: u64 = staff.iter().map(|s| u64::from(s.weight.max(1))).sum();
            let mut target = (unit * total as f64) as u64;
            staff
                .iter()
                .find(|s| {
                    let w = u64::from(s.weight.max(1));
                    if target < w {
                        true
                    } else {
                        target -= w;
                        false
                    }
                })
                .unwrap_or(&staff[staff.len() - 1])
        }
        Strategy::FewestAddedToday => staff
            .iter()
            .enumerate()
            .min_by_key(|(i, s)| {
                (
                    added_today.get(&s.userid).copied().unwrap_or(0),
                    (*i as u64 + staff.len() as u64 - position % staff.len() as u64) % staff.len() as u64,
                )
            })
            .map(|(_, s)| s)
            .unwrap_or(&staff[0]),
    };
    Some(chosen.userid.clone())
}

/// A channel code's `state` (see [`crate::state`]: other features' prefixes are refused).
pub fn contact_state(value: &str) -> Result<String, ValidationError> {
    crate::state::channel_code_state(value)
}

/// How a channel code reaches WeCom: one contact way of its own (`native`), or Pond's landing
/// page handing out employees' own contact ways (`landing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CodeMode {
    Native,
    Landing,
}

impl CodeMode {
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        match s.trim() {
            "native" => Ok(CodeMode::Native),
            "landing" => Ok(CodeMode::Landing),
            _ => Err(ValidationError::new("mode", "must be native or landing", "须为 native 或 landing")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CodeMode::Native => "native",
            CodeMode::Landing => "landing",
        }
    }
}

/// Which welcome message greets a customer: the code's, else the employee's, else the corp default.
pub fn choose_welcome(code: Option<i64>, staff: Option<i64>, corp_default: Option<i64>) -> Option<i64> {
    code.or(staff).or(corp_default)
}

/// Fills `{customer_name}` and `{staff_name}` (also `{客户昵称}` and `{员工姓名}`) in a welcome text.
pub fn render_welcome(text: &str, customer_name: &str, staff_name: &str) -> String {
    text.replace("{customer_name}", customer_name)
        .replace("{客户昵称}", customer_name)
        .replace("{staff_name}", staff_name)
        .replace("{员工姓名}", staff_name)
}

/// The variables a welcome text may use: (token, Chinese token, what it becomes). Anything else in
/// braces would be sent literally, so it is refused when the message is saved.
pub const WELCOME_VARIABLES: &[(&str, &str)] = &[("{customer_name}", "{客户昵称}"), ("{staff_name}", "{员工姓名}")];

/// The first `{…}` in a welcome text that is not a known variable, if any.
pub fn unknown_placeholder(text: &str) -> Option<String> {
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after.find('}')?;
        let inner = &after[..close];
        if !inner.contains('{') && !inner.is_empty() && inner.chars().count() <= 20 {
            let token = format!("{{{inner}}}");
            if !WELCOME_VARIABLES.iter().any(|(en, zh)| *en == token || *zh == token) {
                return Some(token);
            }
        }
        rest = &after[close + 1..];
    }
    None
}

/// WeCom's limit on welcome-message attachments.
pub const MAX_WELCOME_ATTACHMENTS: usize = 9;

#[cfg(test)]
mod tests {
    use super::*;

    fn sw(u: &str, w: u32) -> StaffWeight {
        StaffWeight { userid: u.into(), weight: w }
    }

    const MONDAY_10: LocalTime = LocalTime { weekday: 1, minute: 600 };

    #[test]
    fn weighted_picks_follow_weights_over_10000_draws() {
        let staff = vec![sw("a", 1), sw("b", 3), sw("c", 6)];
        let mut counts: HashMap<String, u32> = HashMap::new();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..10_000 {
            // xorshift for a deterministic uniform draw
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let unit = (x >> 11) as f64 / (1u64 << 53) as f64;
            let u = pick(Strategy::Weighted, &staff, 0, &HashMap::new(), unit).unwrap();
            *counts.entry(u).or_default() += 1;
        }
        for (u, expected) in [("a", 1_000.0), ("b", 3_000.0), ("c", 6_000.0)] {
            let got = f64::from(counts[u]);
            // 4 standard deviations of a binomial(10000, p)
            let p: f64 = expected / 10_000.0;
            let tolerance = 4.0 * (10_000.0 * p * (1.0 - p)).sqrt();
            assert!((got - expected).abs() < tolerance, "{u}: {got} vs {expected} ± {tolerance}");
        }
    }

    #[test]
    fn caps_are_never_exceeded_and_backup_only_when_needed() {
        let rules = Rules {
            staff: vec![sw("a", 1), sw("b", 5)],
            daily_cap: Some(30),
            schedules: vec![],
            backup: vec!["z".into()],
        };
        let mut added: HashMap<String, u32> = HashMap::new();
        for strategy in [Strategy::Random, Strategy::RoundRobin, Strategy::Weighted, Strategy::FewestAddedToday] {
            added.clear();
            let mut backups = 0;
            for i in 0..100u64 {
                let e = eligible(&rules, MONDAY_10, &added, |_| true);
                if e.used_backup {
                    backups += 1;
                    assert!(added["a"] >= 30 && added["b"] >= 30, "backup used while a regular had room");
                }
                match pick(strategy, &e.staff, i, &added, (i as f64 * 0.618) % 1.0) {
                    Some(u) => *added.entry(u).or_default() += 1,
                    None => {
                        assert!(added.values().all(|n| *n >= 30), "nobody picked while someone had room");
                    }
                }
            }
            assert!(added.values().all(|n| *n <= 30), "{strategy:?}: {added:?}");
            assert_eq!(added["a"] + added["b"], 60, "{strategy:?}: regulars filled first");
            assert_eq!(
                added.get("z").copied().unwrap_or(0),
                30,
                "{strategy:?}: backup took the overflow up to its cap"
            );
            assert_eq!(backups, 40, "{strategy:?}");
        }
    }

    #[test]
    fn schedules_replace_the_regular_staff_inside_their_window() {
        let night = Schedule {
            weekdays: vec![1, 2, 3, 4, 5],
            start: "18:00".into(),
            end: "24:00".into(),
            staff: vec![sw("night", 1)],
        };
        let rules = Rules { staff: vec![sw("day", 1)], daily_cap: None, schedules: vec![night], backup: vec![] };
        let at = |weekday, minute| eligible(&rules, LocalTime { weekday, minute }, &HashMap::new(), |_| true).staff;
        assert_eq!(at(1, 17 * 60 + 59), vec![sw("day", 1)]);
        assert_eq!(at(1, 18 * 60), vec![sw("night", 1)]);
        assert_eq!(at(5, 23 * 60 + 59), vec![sw("night", 1)]);
        assert_eq!(at(6, 20 * 60), vec![sw("day", 1)], "weekends are outside the schedule");
    }

    #[test]
    fn staff_who_cannot_serve_are_never_chosen_and_the_backup_steps_in() {
        let rules = Rules {
            staff: vec![sw("a", 1), sw("b", 5), sw("c", 1)],
            daily_cap: Some(2),
            schedules: vec![],
            backup: vec!["y".into(), "z".into()],
        };
        let none = HashMap::new();
        let users = |e: &Eligible| e.staff.iter().map(|s| s.userid.clone()).collect::<Vec<_>>();
        let resigned_b = eligible(&rules, MONDAY_10, &none, |u| u != "b");
        assert_eq!((users(&resigned_b), resigned_b.used_backup), (vec!["a".into(), "c".into()], false));
        for strategy in [Strategy::Random, Strategy::RoundRobin, Strategy::Weighted, Strategy::FewestAddedToday] {
            for i in 0..50u64 {
                let u = pick(strategy, &resigned_b.staff, i, &none, (i as f64 * 0.377) % 1.0);
                assert_ne!(u.as_deref(), Some("b"), "{strategy:?}");
            }
        }
        // a capped, b resigned, c refused by WeCom: the backup serves, but not a backup who cannot.
        let added: HashMap<String, u32> = [("a".into(), 2)].into();
        let e = eligible(&rules, MONDAY_10, &added, |u| !matches!(u, "b" | "c" | "y"));
        assert_eq!((users(&e), e.used_backup), (vec!["z".into()], true));
        let nobody = eligible(&rules, MONDAY_10, &added, |u| !matches!(u, "b" | "c" | "y" | "z"));
        assert!(nobody.staff.is_empty() && pick(Strategy::Random, &nobody.staff, 0, &added, 0.5).is_none());
    }

    #[test]
    fn off_schedule_staff_do_not_stand_in_for_the_schedule_the_backup_does() {
        let evening = Schedule {
            weekdays: vec![1, 2, 3, 4, 5, 6, 7],
            start: "18:00".into(),
            end: "22:00".into(),
            staff: vec![sw("night", 1)],
        };
        // Only a schedule: outside it, nobody regular is on duty.
        let rules = Rules { staff: vec![], daily_cap: None, schedules: vec![evening], backup: vec!["z".into()] };
        let at = |minute, can: &dyn Fn(&str) -> bool| {
            let e = eligible(&rules, LocalTime { weekday: 3, minute }, &HashMap::new(), can);
            (e.staff.into_iter().map(|s| s.userid).collect::<Vec<_>>(), e.used_backup)
        };
        assert_eq!(at(10 * 60, &|_| true), (vec!["z".to_owned()], true), "off schedule: backup");
        assert_eq!(at(19 * 60, &|_| true), (vec!["night".to_owned()], false), "on schedule");
        assert_eq!(at(19 * 60, &|u| u != "night"), (vec!["z".to_owned()], true), "on schedule but resigned");
    }

    /// Over many random situations: whoever is picked is on duty (or backup), under the cap and
    /// able to serve, and the backup is used only when no one on duty is available.
    #[test]
    fn a_pick_is_always_on_duty_under_cap_and_able() {
        let night = Schedule {
            weekdays: vec![6, 7],
            start: "00:00".into(),
            end: "12:00".into(),
            staff: vec![sw("n1", 1), sw("n2", 2)],
        };
        let rules = Rules {
            staff: vec![sw("a", 1), sw("b", 2), sw("c", 3)],
            daily_cap: Some(3),
            schedules: vec![night],
            backup: vec!["y".into(), "z".into()],
        };
        let everyone = ["a", "b", "c", "n1", "n2", "y", "z"];
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..5_000u64 {
            let bits = next();
            // Each employee able with probability 3/4.
            let able: Vec<&str> =
                everyone.iter().enumerate().filter(|(i, _)| (bits >> (2 * i)) & 3 != 0).map(|(_, u)| *u).collect();
            let added: HashMap<String, u32> = everyone.iter().map(|u| ((*u).to_owned(), (next() % 5) as u32)).collect();
            let now = LocalTime { weekday: (next() % 7 + 1) as u8, minute: (next() % 1440) as u16 };
            let e = eligible(&rules, now, &added, |u| able.contains(&u));
            let on_duty: Vec<&str> =
                if now.weekday >= 6 && now.minute < 720 { vec!["n1", "n2"] } else { vec!["a", "b", "c"] };
            let ok = |u: &str| able.contains(&u) && added[u] < 3;
            let strategy = [Strategy::Random, Strategy::RoundRobin, Strategy::Weighted, Strategy::FewestAddedToday]
                [(round % 4) as usize];
            match pick(strategy, &e.staff, round, &added, (next() >> 11) as f64 / (1u64 << 53) as f64) {
                Some(u) => {
                    assert!(ok(&u), "{u} picked: able {able:?}, added {added:?}");
                    if e.used_backup {
                        assert!(["y", "z"].contains(&u.as_str()) && !on_duty.iter().any(|d| ok(d)));
                    } else {
                        assert!(on_duty.contains(&u.as_str()));
                    }
                }
                None => assert!(!on_duty.iter().chain(&["y", "z"]).any(|d| ok(d)), "nobody picked while {able:?} able"),
            }
        }
    }

    #[test]
    fn round_robin_and_fewest_added_spread_evenly() {
        let staff = vec![sw("a", 1), sw("b", 1), sw("c", 1)];
        let picks: Vec<String> =
            (0..6).map(|i| pick(Strategy::RoundRobin, &staff, i, &HashMap::new(), 0.0).unwrap()).collect();
        assert_eq!(picks, ["a", "b", "c", "a", "b", "c"]);
        let added: HashMap<String, u32> = [("a".into(), 5), ("b".into(), 2), ("c".into(), 2)].into();
        let p = pick(Strategy::FewestAddedToday, &staff, 0, &added, 0.0).unwrap();
        assert!(p == "b" || p == "c");
    }

    #[test]
    fn validation_names_the_problem() {
        let known = |u: &str| u != "ghost";
        let ok = Rules { staff: vec![sw("a", 1)], ..Default::default() };
        assert!(ok.validate(known).is_ok());
        let many = Rules { staff: (0..101).map(|i| sw(&format!("u{i}"), 1)).collect(), ..Default::default() };
        assert!(many.validate(known).unwrap_err().reason.contains("at most 100"));
        assert_eq!(
            Rules { staff: vec![sw("ghost", 1)], ..Default::default() }.validate(known).unwrap_err().field,
            "staff"
        );
        assert_eq!(Rules::default().validate(known).unwrap_err().field, "staff");
        let bad_time = Rules {
            schedules: vec![Schedule {
                weekdays: vec![1],
                start: "25:00".into(),
                end: "26:00".into(),
                staff: vec![sw("a", 1)],
            }],
            ..Default::default()
        };
        assert_eq!(bad_time.validate(known).unwrap_err().field, "schedules.start");
        assert_eq!(Rules { daily_cap: Some(0), ..ok.clone() }.validate(known).unwrap_err().field, "daily_cap");
        assert!(contact_state(&"x".repeat(31)).is_err());
        assert!(contact_state("store-001").is_ok());
        assert!(contact_state("有中文").is_err());
    }

    #[test]
    fn welcome_selection_and_variables() {
        assert_eq!(choose_welcome(Some(1), Some(2), Some(3)), Some(1));
        assert_eq!(choose_welcome(None, Some(2), Some(3)), Some(2));
        assert_eq!(choose_welcome(None, None, Some(3)), Some(3));
        assert_eq!(render_welcome("{customer_name}您好，我是{员工姓名}", "小王", "店长李"), "小王您好，我是店长李");
        assert_eq!(unknown_placeholder("{customer_name}您好，我是{员工姓名}"), None);
        assert_eq!(unknown_placeholder("{客户名称}您好"), Some("{客户名称}".into()));
        assert_eq!(unknown_placeholder("价格 {"), None);
    }
}
