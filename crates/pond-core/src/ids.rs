//! Identifiers that arrive from outside (WeCom, forms, the API) and are validated once, at the edge.

use std::fmt;

/// Why a value from outside was refused. The message names the field and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ValidationError {
    pub field: &'static str,
    /// English reason (API clients, logs).
    pub reason: String,
    /// The same reason in Chinese (the console in zh-CN).
    pub reason_zh: String,
}

impl ValidationError {
    pub fn new(field: &'static str, reason: impl Into<String>, reason_zh: impl Into<String>) -> Self {
        Self { field, reason: reason.into(), reason_zh: reason_zh.into() }
    }
}

/// Checks a free-text field: trimmed, non-empty, at most `max` characters.
pub fn required_text(field: &'static str, value: &str, max: usize) -> Result<String, ValidationError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ValidationError::new(field, "must not be empty", "不能为空"));
    }
    if trimmed.chars().count() > max {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max} characters"),
            format!("最多 {max} 个字符"),
        ));
    }
    if trimmed.chars().any(crate::text::is_forbidden_in_name) {
        return Err(ValidationError::new(
            field,
            "must not contain line breaks, tabs or other control characters",
            "不能包含换行、制表符或其他控制字符",
        ));
    }
    Ok(trimmed.to_owned())
}

/// Optional one-line text (trimmed; empty allowed): at most `max` characters, no control or
/// bidirectional-override characters.
pub fn optional_text(field: &'static str, value: &str, max: usize) -> Result<String, ValidationError> {
    let trimmed = value.trim();
    if trimmed.is_empty() { Ok(String::new()) } else { required_text(field, trimmed, max) }
}

/// Message text (line breaks allowed, CR dropped): at most `max` characters, no other control or
/// bidirectional-override characters.
pub fn message_text(field: &'static str, value: &str, max: usize) -> Result<String, ValidationError> {
    let text = value.replace("\r\n", "\n").trim().to_owned();
    if text.chars().count() > max {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max} characters"),
            format!("最多 {max} 个字符"),
        ));
    }
    if text.chars().any(crate::text::is_forbidden_in_text) {
        return Err(ValidationError::new(
            field,
            "must not contain control characters other than line breaks",
            "除换行外不能包含控制字符",
        ));
    }
    Ok(text)
}

/// A WeCom corp id (企业ID), e.g. `ww1234567890abcdef`: ASCII letters and digits, 1–64 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WecomCorpId(String);

impl WecomCorpId {
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let v = value.trim();
        if v.is_empty() || v.len() > 64 || !v.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(ValidationError::new(
                "wecom_corp_id",
                "must be 1–64 ASCII letters or digits (e.g. ww1234567890abcdef)",
                "须为 1–64 位英文字母或数字（如 ww1234567890abcdef）",
            ));
        }
        Ok(Self(v.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for WecomCorpId {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<WecomCorpId> for String {
    fn from(value: WecomCorpId) -> Self {
        value.0
    }
}

impl fmt::Display for WecomCorpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A WeCom callback token: 1–32 ASCII letters or digits, as the WeCom admin console allows.
pub fn callback_token(value: &str) -> Result<String, ValidationError> {
    let v = value.trim();
    if v.is_empty() || v.len() > 32 || !v.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(ValidationError::new(
            "callback_token",
            "must be 1–32 ASCII letters or digits",
            "须为 1–32 位英文字母或数字",
        ));
    }
    Ok(v.to_owned())
}

/// A WeCom EncodingAESKey: exactly 43 characters of base64 alphabet (no padding).
pub fn encoding_aes_key(value: &str) -> Result<String, ValidationError> {
    let v = value.trim();
    if v.len() != 43 || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/') {
        return Err(ValidationError::new(
            "encoding_aes_key",
            "must be exactly 43 characters of A–Z, a–z, 0–9, + or /",
            "须为 43 个字符，只能包含 A–Z、a–z、0–9、+ 或 /",
        ));
    }
    Ok(v.to_owned())
}

/// An http(s) base URL without a trailing slash, e.g. `https://qyapi.weixin.qq.com`.
pub fn base_url(field: &'static str, value: &str) -> Result<String, ValidationError> {
    let v = value.trim().trim_end_matches('/');
    let rest = v.strip_prefix("https://").or_else(|| v.strip_prefix("http://")).ok_or_else(|| {
        ValidationError::new(field, "must start with http:// or https://", "须以 http:// 或 https:// 开头")
    })?;
    if rest.is_empty() || rest.contains(char::is_whitespace) {
        return Err(ValidationError::new(
            field,
            "must name a host, e.g. https://qyapi.weixin.qq.com",
            "须包含主机名，如 https://qyapi.weixin.qq.com",
        ));
    }
    Ok(v.to_owned())
}

/// A console login: an e-mail-like name, lower-cased.
pub fn login_email(value: &str) -> Result<String, ValidationError> {
    let v = value.trim().to_lowercase();
    let ok = v.len() <= 254
        && v.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty())
        && !v.contains(char::is_whitespace);
    if !ok {
        return Err(ValidationError::new(
            "email",
            "must be an e-mail address such as ops@example.com",
            "须为邮箱地址，如 ops@example.com",
        ));
    }
    Ok(v)
}

/// A console password: at least 10 characters.
pub fn new_password(value: &str) -> Result<&str, ValidationError> {
    if value.chars().count() < 10 {
        return Err(ValidationError::new("password", "must be at least 10 characters", "至少 10 个字符"));
    }
    if value.len() > 1024 {
        return Err(ValidationError::new("password", "must be at most 1024 bytes", "最多 1024 字节"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corp_id_accepts_wecom_shape_and_refuses_others() {
        assert_eq!(WecomCorpId::parse(" ww12ab ").map(String::from), Ok("ww12ab".to_owned()));
        for bad in ["", "ww 12", "ww-12", &"a".repeat(65)] {
            let err = WecomCorpId::parse(bad).unwrap_err();
            assert_eq!(err.field, "wecom_corp_id", "{bad}");
        }
    }

    #[test]
    fn aes_key_must_be_43_base64_chars() {
        let good = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
        assert!(encoding_aes_key(good).is_ok());
        assert!(encoding_aes_key(&good[1..]).is_err());
        assert!(encoding_aes_key(&format!("{}=", &good[1..])).is_err());
    }

    #[test]
    fn base_url_strips_trailing_slash_and_needs_scheme() {
        assert_eq!(base_url("u", "http://127.0.0.1:9/").as_deref(), Ok("http://127.0.0.1:9"));
        assert!(base_url("u", "ftp://x").is_err());
        assert!(base_url("u", "https://").is_err());
    }

    #[test]
    fn email_and_password_rules() {
        assert_eq!(login_email(" Ops@Example.com ").as_deref(), Ok("ops@example.com"));
        assert!(login_email("no-at-sign").is_err());
        assert!(new_password("short").is_err());
        assert!(new_password("long enough pw").is_ok());
    }

    #[test]
    fn required_text_counts_characters_not_bytes() {
        assert!(required_text("name", "咖啡连锁", 4).is_ok());
        assert!(required_text("name", "咖啡连锁店", 4).is_err());
        assert!(required_text("name", "   ", 4).is_err());
        for hostile in ["a\nb", "a\rb", "a\0b", "a\u{202E}b", "a\tb"] {
            assert!(required_text("name", hostile, 10).is_err(), "{hostile:?}");
        }
    }
}

/// One follow relation's key: a customer (WeCom's `external_userid`) and an employee who added
/// them (`userid`). Both are plain strings from WeCom; naming them here keeps them from being
/// passed the wrong way round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Follow<'a> {
    pub external_userid: &'a str,
    pub userid: &'a str,
}
