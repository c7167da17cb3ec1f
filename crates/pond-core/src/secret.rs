//! A secret string (WeCom app secrets, AES keys) that never prints in full.

use std::fmt;

/// Holds a secret. `Debug` and [`Secret::masked`] show at most its last 4 characters.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The real value, for the few places that must use it (signing, API calls).
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// What may be shown to a person: `●●●●wxyz` (the last 4 characters) for secrets of 16 characters
    /// or more, `●●●●` for shorter ones, empty for none. Never more than 4 characters of the value,
    /// and never more than a quarter of it.
    pub fn masked(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        match chars.len() {
            0 => String::new(),
            n if n < 16 => "●●●●".to_owned(),
            n => format!("●●●●{}", chars[n - 4..].iter().collect::<String>()),
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn masking_never_reveals_the_middle() {
        let s = Secret::new("abcdefghijklmnopqrstuvwxyz");
        assert_eq!(s.masked(), "●●●●wxyz");
        assert!(!format!("{s:?}").contains("abc"));
        assert_eq!(Secret::new("sixteen-chars-ok").masked(), "●●●●s-ok");
        assert_eq!(Secret::new("fifteen-chars-x").masked(), "●●●●");
        assert_eq!(Secret::default().masked(), "");
    }
}
