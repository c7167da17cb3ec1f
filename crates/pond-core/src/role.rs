//! Console roles and what each may do.

use std::{fmt, str::FromStr};

/// A console user's or API token's role, lowest first. Read-only sees; operators run day-to-day
/// work (codes, welcome messages, stores, exports); admins change settings, tags and customers,
/// retry jobs and read the audit log; owners manage users and API tokens. Every console and API
/// route names the lowest role allowed (`pond_server::access`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    #[serde(rename = "readonly")]
    ReadOnly,
    Operator,
    Admin,
    Owner,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Owner, Role::Admin, Role::Operator, Role::ReadOnly];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::ReadOnly => "readonly",
        }
    }
    /// Change corp settings, retry jobs, read the audit log.
    pub fn can_administer(self) -> bool {
        self >= Role::Admin
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = crate::ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "owner" => Ok(Role::Owner),
            "admin" => Ok(Role::Admin),
            "operator" => Ok(Role::Operator),
            "readonly" => Ok(Role::ReadOnly),
            _ => Err(crate::ValidationError::new(
                "role",
                "must be one of owner, admin, operator, readonly",
                "须为 owner、admin、operator、readonly 之一",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Role;

    #[test]
    fn roles_parse_round_trip_and_rank() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert!("root".parse::<Role>().is_err());
        assert!(Role::Owner.can_administer() && Role::Admin.can_administer());
        assert!(!Role::Operator.can_administer());
        assert!(Role::ReadOnly < Role::Operator && Role::Operator < Role::Admin && Role::Admin < Role::Owner);
    }
}
