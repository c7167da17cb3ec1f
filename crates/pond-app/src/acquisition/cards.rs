//! Employees' external business cards (对外名片): the external profile customers see, read from
//! and written to WeCom through the address-book API, with a preview and a bulk edit.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{
    App, AppError,
    audit::{self, AuditAction},
    auth::Actor,
};

/// One entry on a card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CardEntry {
    Text { name: String, value: String },
    Web { name: String, title: String, url: String },
    Miniprogram { name: String, title: String, appid: String, pagepath: String },
}

/// A business card as Pond edits it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Card {
    /// Company name shown on the card (empty: the corp's short name).
    #[serde(default)]
    pub external_corp_name: String,
    /// Position shown to customers (≤12 characters).
    #[serde(default)]
    pub external_position: String,
    #[serde(default)]
    pub entries: Vec<CardEntry>,
}

impl Card {
    pub fn validate(&self) -> Result<(), pond_core::ValidationError> {
        use pond_core::ValidationError as V;
        pond_core::ids::optional_text("external_position", &self.external_position, 12)?;
        pond_core::ids::optional_text("external_corp_name", &self.external_corp_name, 32)?;
        if self.entries.len() > 10 {
            return Err(V::new("entries", "at most 10 entries", "最多 10 项"));
        }
        for (i, e) in self.entries.iter().enumerate() {
            let (name, ok) = match e {
                CardEntry::Text { name, value } => (name, !value.is_empty() && value.chars().count() <= 128),
                CardEntry::Web { name, title, url } => {
                    (name, !title.is_empty() && pond_core::text::safe_link(url).is_some())
                }
                CardEntry::Miniprogram { name, title, appid, pagepath } => {
                    (name, !title.is_empty() && !appid.is_empty() && !pagepath.is_empty())
                }
            };
            let texts = match e {
                CardEntry::Text { name, value } => vec![name, value],
                CardEntry::Web { name, title, url } => vec![name, title, url],
                CardEntry::Miniprogram { name, title, appid, pagepath } => vec![name, title, appid, pagepath],
            };
            if texts.iter().any(|t| t.chars().any(pond_core::text::is_forbidden_in_name)) {
                return Err(V::new(
                    "entries",
                    format!("entry {}: no line breaks or control characters", i + 1),
                    format!("第 {} 项：不能包含换行或控制字符", i + 1),
                ));
            }
            if name.is_empty() || name.chars().count() > 32 {
                return Err(V::new(
                    "entries",
                    format!("entry {}: name must be 1 to 32 characters", i + 1),
                    format!("第 {} 项：名称须为 1 到 32 个字符", i + 1),
                ));
            }
            if !ok {
                return Err(V::new(
                    "entries",
                    format!("entry {}: fill every field (web entries need an http(s) URL)", i + 1),
                    format!("第 {} 项：请填写所有字段（web 项需要 http(s) 网址）", i + 1),
                ));
            }
        }
        Ok(())
    }

    /// WeCom's `external_profile` object.
    pub fn to_wecom(&self) -> Value {
        let attrs: Vec<Value> = self
            .entries
            .iter()
            .map(|e| match e {
                CardEntry::Text { name, value } => json!({"type": 0, "name": name, "text": {"value": value}}),
                CardEntry::Web { name, title, url } => json!({"type": 1, "name": name, "web": {"url": url, "title": title}}),
                CardEntry::Miniprogram { name, title, appid, pagepath } => {
                    json!({"type": 2, "name": name, "miniprogram": {"appid": appid, "pagepath": pagepath, "title": title}})
                }
            })
            .collect();
        json!({"external_corp_name": self.external_corp_name, "external_position": self.external_position, "external_attr": attrs})
    }

    /// Reads WeCom's `external_profile` (unknown entry kinds are skipped).
    pub fn from_wecom(v: Option<&Value>) -> Card {
        let Some(v) = v else { return Card::default() };
        let s = |x: &Value, k: &str| x.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
        let entries = v
            .get("external_attr")
            .and_then(Value::as_array)
            .map(|attrs| {
                attrs
                    .iter()
                    .filter_map(|a| {
                        let name = s(a, "name");
                        match a.get("type").and_then(Value::as_i64)? {
                            0 => Some(CardEntry::Text { name, value: s(a.get("text")?, "value") }),
                            1 => Some(CardEntry::Web {
                                name,
                                title: s(a.get("web")?, "title"),
                                url: s(a.get("web")?, "url"),
                            }),
                            2 => {
                                let m = a.get("miniprogram")?;
                                Some(CardEntry::Miniprogram {
                                    name,
                                    title: s(m, "title"),
                                    appid: s(m, "appid"),
                                    pagepath: s(m, "pagepath"),
                                })
                            }
                            _ => None,
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        Card { external_corp_name: s(v, "external_corp_name"), external_position: s(v, "external_position"), entries }
    }
}

/// An employee's card as WeCom has it.
pub async fn read(state: &App, corp_id: i64, userid: &str) -> Result<Card, AppError> {
    pond_store::staff::get(&state.db, corp_id, userid).await?;
    let user = state.client(corp_id).await?.user_get(userid).await?;
    Ok(Card::from_wecom(user.external_profile.as_ref()))
}

/// The outcome for one employee of a bulk edit.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CardResult {
    pub userid: String,
    pub ok: bool,
    pub error: Option<String>,
}

/// Writes the same card to many employees (≤100); each gets its own result.
pub async fn write_many(
    state: &App,
    actor: &Actor,
    corp_id: i64,
    userids: &[String],
    card: &Card,
) -> Result<Vec<CardResult>, AppError> {
    card.validate()?;
    if userids.is_empty() || userids.len() > 100 {
        return Err(
            pond_core::ValidationError::new("userids", "list 1 to 100 employees", "请选择 1 到 100 名员工").into()
        );
    }
    for u in userids {
        pond_store::staff::get(&state.db, corp_id, u).await.map_err(|_| {
            pond_core::ValidationError::new("userids", format!("unknown employee {u}"), format!("员工 {u} 不存在"))
        })?;
    }
    let client = state.client(corp_id).await?;
    let profile = card.to_wecom();
    let mut out = Vec::new();
    for u in userids {
        let r = client.user_update_external_profile(u, &profile).await;
        out.push(CardResult { userid: u.clone(), ok: r.is_ok(), error: r.err().map(|e| e.to_string()) });
    }
    let ok = out.iter().filter(|r| r.ok).count();
    let detail = format!("updated={ok}/{}", out.len());
    audit::record(&state.db, corp_id, actor, AuditAction::CardsUpdate, &userids.join(","), &detail).await?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cards_round_trip_through_wecom_shape_and_validate() {
        let card = Card {
            external_corp_name: "示例咖啡".into(),
            external_position: "店长".into(),
            entries: vec![
                CardEntry::Text { name: "门店".into(), value: "静安店".into() },
                CardEntry::Web {
                    name: "官网".into(), title: "会员中心".into(), url: "https://example.com".into()
                },
            ],
        };
        card.validate().unwrap();
        assert_eq!(Card::from_wecom(Some(&card.to_wecom())), card);
        let bad = Card {
            entries: vec![CardEntry::Web { name: "x".into(), title: "t".into(), url: "ftp://x".into() }],
            ..Default::default()
        };
        assert_eq!(bad.validate().unwrap_err().field, "entries");
        assert_eq!(
            Card { external_position: "很长很长很长很长很长很长很长".into(), ..Default::default() }
                .validate()
                .unwrap_err()
                .field,
            "external_position"
        );
    }
}
