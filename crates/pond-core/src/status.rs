//! Lifecycle states stored as text.

use std::str::FromStr;

macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl FromStr for $name {
            type Err = crate::ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(crate::ValidationError::new(
                        stringify!($name),
                        format!("must be one of {}", [$($text),+].join(", ")),
                        format!("须为以下之一：{}", [$($text),+].join(", ")),
                    )),
                }
            }
        }
    };
}

text_enum!(
    /// Whether an employee still works for the corp (resigned staff keep their history), and
    /// whether WeCom lets them work: a disabled or not yet activated account cannot be added by
    /// customers.
    StaffStatus { Active => "active", Disabled => "disabled", Inactive => "inactive", Resigned => "resigned" }
);

impl StaffStatus {
    /// Whether the employee can take new customers (routing hands them out only if so).
    pub fn can_serve(self) -> bool {
        self == StaffStatus::Active
    }
}

text_enum!(
    /// A job's place in the queue. `Running` rows whose lease expired are claimable again.
    JobStatus { Pending => "pending", Running => "running", Done => "done", Failed => "failed" }
);

text_enum!(
    /// What became of one welcome message: sent, skipped for a reason that makes retrying
    /// pointless (code used or expired, nothing configured), or failed for good.
    WelcomeStatus { Sent => "sent", Skipped => "skipped", Failed => "failed" }
);

text_enum!(
    /// A sync run's state.
    SyncStatus { Running => "running", Done => "done", Failed => "failed" }
);

text_enum!(
    /// A background import's state: queued, making what its lines ask for, undoing it after a
    /// failure, and finished — everything made (`done`) or nothing left (`failed`).
    ImportStatus { Queued => "queued", Running => "running", Undoing => "undoing", Done => "done", Failed => "failed" }
);

impl ImportStatus {
    /// Still queued, running or undoing.
    pub fn unfinished(self) -> bool {
        !matches!(self, ImportStatus::Done | ImportStatus::Failed)
    }
}

text_enum!(
    /// What an import makes from its CSV lines.
    ImportKind { ChannelCodes => "channel_codes", Stores => "stores" }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip() {
        for s in JobStatus::ALL {
            assert_eq!(s.as_str().parse::<JobStatus>(), Ok(*s));
        }
        for s in StaffStatus::ALL {
            assert_eq!(s.as_str().parse::<StaffStatus>(), Ok(*s));
        }
        assert!("gone".parse::<JobStatus>().is_err());
        let serving: Vec<StaffStatus> = StaffStatus::ALL.iter().copied().filter(|s| s.can_serve()).collect();
        assert_eq!(serving, [StaffStatus::Active], "only active employees take customers");
        for s in WelcomeStatus::ALL {
            assert_eq!(s.as_str().parse::<WelcomeStatus>(), Ok(*s));
        }
        for s in ImportStatus::ALL {
            assert_eq!(s.as_str().parse::<ImportStatus>(), Ok(*s));
        }
        for k in ImportKind::ALL {
            assert_eq!(k.as_str().parse::<ImportKind>(), Ok(*k));
        }
    }
}
