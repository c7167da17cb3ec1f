//! Validation of a corp's WeCom settings, shared by the API and the console form so both refuse
//! the same input with the same messages. Blank secret fields mean "keep the stored value".

use pond_core::{Secret, ValidationError, ids};
use pond_store::corp::WecomSettings;

/// Settings as submitted, before validation.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SettingsInput {
    /// Display name of the corp (1–64 characters).
    pub name: String,
    /// WeCom corp id (企业ID), e.g. `ww1234567890abcdef`; empty to leave unset.
    #[serde(default)]
    pub wecom_corp_id: String,
    /// Agent id of the self-built app (a positive number); absent to leave unset.
    #[serde(default)]
    pub agent_id: Option<i64>,
    /// Customer-contact secret (客户联系 Secret); empty keeps the stored one.
    #[serde(default)]
    pub contact_secret: String,
    /// Self-built app secret; empty keeps the stored one.
    #[serde(default)]
    pub app_secret: String,
    /// Callback Token (1–32 letters or digits); empty keeps the stored one.
    #[serde(default)]
    pub callback_token: String,
    /// Callback EncodingAESKey (43 characters); empty keeps the stored one.
    #[serde(default)]
    pub encoding_aes_key: String,
    /// WeCom API base URL; empty means `https://qyapi.weixin.qq.com`.
    #[serde(default)]
    pub api_base_url: String,
    /// The corp's time zone (IANA name, e.g. `Asia/Shanghai`): day boundaries and times shown.
    /// Empty keeps the stored one.
    #[serde(default)]
    pub timezone: String,
    /// Phone pages' accent colour, `#rrggbb`; empty keeps the stored one.
    #[serde(default)]
    pub brand_color: String,
    /// Phone pages' logo, an `https://` image URL; empty keeps the stored one, `-` removes it.
    #[serde(default)]
    pub brand_logo_url: String,
}

/// `#rrggbb`: the only form a brand colour is stored in (it is written into a stylesheet).
pub fn is_brand_color(color: &str) -> bool {
    color.len() == 7 && color.starts_with('#') && color[1..].chars().all(|ch| ch.is_ascii_hexdigit())
}

/// A brand change: (colour, logo URL), each `None` when unchanged.
pub type BrandInput = (Option<String>, Option<String>);

/// The message for a bad agent id, shared with the console form's text parsing.
pub fn agent_id_error() -> ValidationError {
    ValidationError::new("agent_id", "must be a positive whole number such as 1000002", "须为正整数，如 1000002")
}

pub const DEFAULT_API_BASE_URL: &str = "https://qyapi.weixin.qq.com";

fn optional_secret(field: &'static str, value: &str, max: usize) -> Result<Option<Secret>, ValidationError> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(None);
    }
    if v.len() > max || v.chars().any(char::is_whitespace) {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max} characters without spaces"),
            format!("最多 {max} 个字符，且不能含空格"),
        ));
    }
    Ok(Some(Secret::new(v)))
}

impl SettingsInput {
    /// The brand colour and logo to store, validated.
    pub fn brand(&self) -> Result<BrandInput, ValidationError> {
        let color = match self.brand_color.trim() {
            "" => None,
            c if is_brand_color(c) => Some(c.to_ascii_lowercase()),
            _ => {
                return Err(ValidationError::new(
                    "brand_color",
                    "must be a colour such as #14784a",
                    "须为颜色值，如 #14784a",
                ));
            }
        };
        let logo = match self.brand_logo_url.trim() {
            "" => None,
            "-" => Some(String::new()),
            url if url.to_ascii_lowercase().starts_with("https://")
                && url.len() <= 512
                && pond_core::text::safe_link(url).is_some() =>
            {
                Some(url.to_owned())
            }
            _ => {
                return Err(ValidationError::new(
                    "brand_logo_url",
                    "must be an https:// image address of at most 512 characters",
                    "须为 https:// 开头的图片地址，最多 512 个字符",
                ));
            }
        };
        Ok((color, logo))
    }

    /// The time zone to store, if one was given.
    pub fn zone(&self) -> Result<Option<pond_core::CorpZone>, ValidationError> {
        match self.timezone.trim() {
            "" => Ok(None),
            name => pond_core::CorpZone::parse(name).map(Some),
        }
    }

    pub fn validate(&self) -> Result<WecomSettings, ValidationError> {
        let name = ids::required_text("name", &self.name, 64)?;
        let wecom_corp_id = match self.wecom_corp_id.trim() {
            "" => None,
            v => Some(ids::WecomCorpId::parse(v)?.as_str().to_owned()),
        };
        let agent_id = match self.agent_id {
            None => None,
            Some(n) if n > 0 => Some(n),
            Some(_) => return Err(agent_id_error()),
        };
        let callback_token = match self.callback_token.trim() {
            "" => None,
            v => Some(Secret::new(ids::callback_token(v)?)),
        };
        let encoding_aes_key = match self.encoding_aes_key.trim() {
            "" => None,
            v => Some(Secret::new(ids::encoding_aes_key(v)?)),
        };
        let api_base_url = match self.api_base_url.trim() {
            "" => DEFAULT_API_BASE_URL.to_owned(),
            v => ids::base_url("api_base_url", v)?,
        };
        Ok(WecomSettings {
            name,
            wecom_corp_id,
            agent_id,
            contact_secret: optional_secret("contact_secret", &self.contact_secret, 128)?,
            app_secret: optional_secret("app_secret", &self.app_secret, 128)?,
            callback_token,
            encoding_aes_key,
            api_base_url,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> SettingsInput {
        SettingsInput { name: "咖啡".into(), ..Default::default() }
    }

    #[test]
    fn blank_optional_fields_are_kept_or_defaulted() {
        let s = input().validate().unwrap();
        assert_eq!(s.api_base_url, DEFAULT_API_BASE_URL);
        assert!(s.contact_secret.is_none() && s.wecom_corp_id.is_none() && s.agent_id.is_none());
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases: Vec<(SettingsInput, &str)> = vec![
            (SettingsInput { name: " ".into(), ..input() }, "name"),
            (SettingsInput { wecom_corp_id: "ww-1".into(), ..input() }, "wecom_corp_id"),
            (SettingsInput { agent_id: Some(-3), ..input() }, "agent_id"),
            (SettingsInput { callback_token: "有中文".into(), ..input() }, "callback_token"),
            (SettingsInput { encoding_aes_key: "short".into(), ..input() }, "encoding_aes_key"),
            (SettingsInput { api_base_url: "qyapi.weixin.qq.com".into(), ..input() }, "api_base_url"),
            (SettingsInput { app_secret: "a b".into(), ..input() }, "app_secret"),
        ];
        for (bad, field) in cases {
            assert_eq!(bad.validate().unwrap_err().field, field);
        }
    }
}
