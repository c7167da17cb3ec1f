//! Sync runs: their kinds, why they run, and the rule deciding whether one starts now.
//!
//! Pond cannot ask WeCom which callbacks it failed to deliver, so it reconciles when it has reason
//! to believe some were missed (at start, after a gap, when a callback arrives late or could not
//! be stored) and periodically. Several instances share one database and may all have the same
//! reason at once; [`decide`] lets one run and the others see that it covers them.

use std::str::FromStr;

use crate::ValidationError;

/// What a sync run reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncKind {
    /// Everything, rewritten: departments, staff, tags, every customer and follow relation, every
    /// customer group with its members.
    Full,
    /// What may have changed, written only where it differs: departments, staff, the tag library,
    /// every customer and follow relation (WeCom has no "changed since"), and the list of groups
    /// (new groups read, vanished ones dismissed; members of known groups are left to full syncs).
    Incremental,
}

/// Why a sync run started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncReason {
    /// Started by a person (console, API, command line).
    Manual,
    /// The reconcile interval (`sync.reconcile_interval_secs`, `sync.full_sync_interval_secs`).
    Periodic,
    /// An instance started while another was alive (or none had ever recorded itself).
    Start,
    /// An instance started after no instance was alive for a while (the run's `gap_ms`):
    /// callbacks WeCom sent meanwhile were lost.
    Downtime,
    /// A callback arrived later than WeCom's own retries explain (its lag is the run's `gap_ms`):
    /// WeCom was holding callbacks it could not deliver, and may have given some up.
    CallbackLag,
    /// Pond could not store a callback and refused it; WeCom may not send it again.
    CallbackRefused,
}

macro_rules! text_names {
    ($name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl FromStr for $name {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(ValidationError::new(
                        stringify!($name),
                        format!("must be one of {}", [$($text),+].join(", ")),
                        format!("须为以下之一：{}", [$($text),+].join(", ")),
                    )),
                }
            }
        }
    };
}

text_names!(SyncKind { Full => "full", Incremental => "incremental" });
text_names!(SyncReason {
    Manual => "manual",
    Periodic => "periodic",
    Start => "start",
    Downtime => "downtime",
    CallbackLag => "callback_lag",
    CallbackRefused => "callback_refused",
});

/// What the database says about a corp's runs when a new one is asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunsSeen {
    /// A run is in progress (and showed progress recently).
    pub running: bool,
    /// The latest start of a run that is running or finished well, of a kind that covers the one
    /// asked for (any kind for an incremental run, a full one for a full run).
    pub last_covering_start: Option<i64>,
    /// The latest start of any run, failed ones included.
    pub last_start: Option<i64>,
}

/// When a run asked for is not needed, or not yet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ask {
    pub now: i64,
    /// A run started at or after this time already does what is asked (it read WeCom after the
    /// changes that may have been missed).
    pub covered_since: Option<i64>,
    /// No run starts within this long of the previous one's start (a storm of reasons, e.g. a
    /// flapping connection, makes one run every so often, not one per reason).
    pub not_within_ms: i64,
}

/// Whether a run starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Start,
    /// Another run is in progress; ask again later.
    Running,
    /// A run since `covered_since` did (or is doing) it.
    Covered,
    /// Too soon after the previous run; ask again at `retry_at`.
    TooSoon {
        retry_at: i64,
    },
}

/// Decides whether a run asked for starts now.
pub fn decide(ask: &Ask, seen: &RunsSeen) -> Decision {
    if let (Some(since), Some(last)) = (ask.covered_since, seen.last_covering_start)
        && last >= since
    {
        return Decision::Covered;
    }
    if seen.running {
        return Decision::Running;
    }
    if let Some(last) = seen.last_start
        && ask.not_within_ms > 0
        && ask.now < last.saturating_add(ask.not_within_ms)
    {
        return Decision::TooSoon { retry_at: last.saturating_add(ask.not_within_ms) };
    }
    Decision::Start
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in SyncKind::ALL {
            assert_eq!(k.as_str().parse::<SyncKind>(), Ok(*k));
        }
        for r in SyncReason::ALL {
            assert_eq!(r.as_str().parse::<SyncReason>(), Ok(*r));
        }
        assert!("sometimes".parse::<SyncReason>().is_err());
    }

    #[test]
    fn a_run_since_the_gap_covers_it_even_while_running() {
        let seen = RunsSeen { running: true, last_covering_start: Some(1_000), last_start: Some(1_000) };
        let ask = Ask { now: 2_000, covered_since: Some(900), not_within_ms: 0 };
        assert_eq!(decide(&ask, &seen), Decision::Covered);
        let later = Ask { covered_since: Some(1_001), ..ask };
        assert_eq!(decide(&later, &seen), Decision::Running, "a run that began before the gap does not cover it");
    }

    #[test]
    fn nothing_seen_starts() {
        let ask = Ask { now: 5, covered_since: Some(0), not_within_ms: 300_000 };
        assert_eq!(decide(&ask, &RunsSeen::default()), Decision::Start);
    }

    #[test]
    fn runs_are_spaced_by_the_debounce_window() {
        // The last run failed (it does not cover), but it started 100 s ago: wait out the window.
        let seen = RunsSeen { running: false, last_covering_start: Some(0), last_start: Some(900_000) };
        let ask = Ask { now: 1_000_000, covered_since: Some(950_000), not_within_ms: 300_000 };
        assert_eq!(decide(&ask, &seen), Decision::TooSoon { retry_at: 1_200_000 });
        assert_eq!(decide(&Ask { now: 1_200_000, ..ask }, &seen), Decision::Start);
        assert_eq!(decide(&Ask { not_within_ms: 0, ..ask }, &seen), Decision::Start, "no window, no wait");
    }
}
