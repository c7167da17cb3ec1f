//! The `state` namespace of WeCom contact ways.
//!
//! WeCom gives back the `state` of the contact way a customer used to add an employee (on the
//! follow relation and in the add event); it is how Pond attributes a customer to what brought
//! them. Several features hand out contact ways, so the namespace is split: each feature that
//! makes `state` values itself owns a prefix, and a channel code's freely chosen `state` may not
//! start with any of them — so two features can never claim the same customer.

use crate::ValidationError;

/// A feature's part of the `state` namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StateSpace {
    /// Channel live codes: any value not starting with another space's prefix.
    ChannelCode,
    /// Regional store codes: `rg-{store id}`.
    Regional,
    /// Fission campaigns (to come): `fx-{campaign}-{inviter}`.
    Fission,
    /// Customer-group live codes (to come): `gc-{code id}`.
    GroupCode,
}

impl StateSpace {
    /// Spaces whose values Pond makes itself, each under its own prefix.
    pub const PREFIXED: &'static [StateSpace] = &[StateSpace::Regional, StateSpace::Fission, StateSpace::GroupCode];

    /// The prefix this space's values start with (`""` for channel codes).
    pub fn prefix(self) -> &'static str {
        match self {
            StateSpace::ChannelCode => "",
            StateSpace::Regional => "rg-",
            StateSpace::Fission => "fx-",
            StateSpace::GroupCode => "gc-",
        }
    }

    /// This space's `state` for one of its things.
    pub fn state(self, id: impl std::fmt::Display) -> String {
        format!("{}{id}", self.prefix())
    }

    /// Which space a `state` belongs to.
    pub fn of(state: &str) -> StateSpace {
        Self::PREFIXED
            .iter()
            .copied()
            .find(|space| has_prefix(state, space.prefix()))
            .unwrap_or(StateSpace::ChannelCode)
    }
}

/// Prefixes are compared without regard to case: WeCom keeps `state` as given, but operators
/// reading reports should not see `RG-1` and `rg-1` as different owners.
fn has_prefix(state: &str, prefix: &str) -> bool {
    state.len() >= prefix.len() && state.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// A channel code's `state`: 1–30 characters of letters, digits, `-` and `_`, not starting with a
/// prefix another feature owns.
pub fn channel_code_state(value: &str) -> Result<String, ValidationError> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > 30 {
        return Err(ValidationError::new(
            "state",
            "must be 1 to 30 characters (WeCom's limit)",
            "须为 1 到 30 个字符（企业微信的限制）",
        ));
    }
    if !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(ValidationError::new(
            "state",
            "may contain only letters, digits, - and _",
            "只能包含字母、数字、- 和 _",
        ));
    }
    if let space @ (StateSpace::Regional | StateSpace::Fission | StateSpace::GroupCode) = StateSpace::of(v) {
        return Err(ValidationError::new(
            "state",
            format!("may not start with {:?}: that prefix belongs to {}", space.prefix(), space.owner()),
            format!("不能以 {:?} 开头：该前缀归{}使用", space.prefix(), space.owner_zh()),
        ));
    }
    Ok(v.to_owned())
}

impl StateSpace {
    fn owner(self) -> &'static str {
        match self {
            StateSpace::ChannelCode => "channel codes",
            StateSpace::Regional => "regional store codes",
            StateSpace::Fission => "fission campaigns",
            StateSpace::GroupCode => "group codes",
        }
    }
    fn owner_zh(self) -> &'static str {
        match self {
            StateSpace::ChannelCode => "渠道活码",
            StateSpace::Regional => "区域活码",
            StateSpace::Fission => "裂变活动",
            StateSpace::GroupCode => "群活码",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_prefixed_space_owns_its_values() {
        for &space in StateSpace::PREFIXED {
            assert_eq!(StateSpace::of(&space.state(42)), space);
            assert!(channel_code_state(&space.state(42)).is_err(), "{space:?}");
            assert!(channel_code_state(&space.state(42).to_uppercase()).is_err(), "{space:?} upper case");
        }
        assert_eq!(StateSpace::of("store-004"), StateSpace::ChannelCode);
        assert_eq!(channel_code_state(" store-004 ").as_deref(), Ok("store-004"));
        // Sharing letters with a prefix is fine; starting with it is not.
        assert!(channel_code_state("rgb-1").is_ok());
        assert!(channel_code_state("x-rg-1").is_ok());
    }

    #[test]
    fn prefixes_do_not_overlap() {
        for a in StateSpace::PREFIXED {
            for b in StateSpace::PREFIXED {
                if a != b {
                    assert!(!a.prefix().starts_with(b.prefix()), "{a:?} / {b:?}");
                }
            }
        }
    }
}
