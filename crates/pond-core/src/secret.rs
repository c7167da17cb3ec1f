//! A secret string (WeCom app secrets, AES keys) that never prints in full.

use std::fmt;

/// Holds a secret. `Debug` and [`Secret::masked`] show at most the first and last 3 characters.
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
    /// What may be shown to a person: `abc…xyz` for long secrets, `****` for short ones, empty for none.
    pub fn masked(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        match chars.len() {
            0 => String::new(),
            n if n < 12 => "****".to_owned(),
            n => format!("{}…{}", chars[..3].iter().collect::<String>(), chars[n - 3..].iter().collect::<String>()),
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
        assert_eq!(s.masked(), "abc…xyz");
        assert!(!format!("{s:?}").contains("defg"));
        assert_eq!(Secret::new("short").masked(), "****");
        assert_eq!(Secret::default().masked(), "");
    }
}
