//! Callback XML (after decryption) → typed events.
//!
//! Covers `change_external_contact`, `change_external_chat`, `change_external_tag` and
//! `change_contact`. Anything else — or a change type this crate does not know — is kept as
//! [`EventKind::Unknown`] with the raw XML, never dropped.

use serde::Deserialize;

/// A decrypted callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callback {
    /// `ToUserName`: the corp id.
    pub corp_id: String,
    /// `CreateTime`, seconds since the epoch.
    pub create_time: i64,
    /// `Event`, e.g. `change_external_contact`.
    pub event: String,
    /// `ChangeType`, e.g. `add_external_contact` (empty when absent).
    pub change_type: String,
    pub kind: EventKind,
    /// The decrypted XML as received.
    pub raw: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    ExternalContact(ExternalContactEvent),
    ExternalChat(ExternalChatEvent),
    ExternalTag(ExternalTagEvent),
    Contact(ContactEvent),
    /// An event Pond does not interpret (kept raw in the inbox).
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalContactEvent {
    pub userid: String,
    pub external_userid: String,
    pub change: ExternalContactChange,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExternalContactChange {
    /// A customer added an employee. `welcome_code` is absent in the cases WeCom documents.
    Add {
        state: String,
        welcome_code: Option<String>,
    },
    /// Added without verification, not yet accepted.
    AddHalf {
        state: String,
        welcome_code: Option<String>,
    },
    /// Remark or corp tags edited.
    Edit,
    /// The employee deleted the customer. `source` is e.g. `DELETE_BY_TRANSFER`.
    DeletedByStaff {
        source: String,
    },
    /// The customer deleted the employee.
    DeletedByCustomer,
    TransferFail {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalChatEvent {
    pub chat_id: String,
    pub change: ExternalChatChange,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExternalChatChange {
    Create,
    Update {
        /// `add_member`, `del_member`, `change_owner`, `change_name`, `change_notice`.
        detail: String,
        join_scene: Option<i64>,
        quit_scene: Option<i64>,
        members: Vec<String>,
    },
    Dismiss,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalTagEvent {
    /// Tag id or tag-group id (empty for a whole-library shuffle).
    pub id: String,
    /// `tag` or `tag_group`.
    pub tag_type: String,
    pub strategy_id: Option<String>,
    /// `create`, `update`, `delete` or `shuffle`.
    pub change: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactEvent {
    UserCreated { userid: String },
    UserUpdated { userid: String, new_userid: Option<String> },
    UserDeleted { userid: String },
    PartyCreated { id: i64 },
    PartyUpdated { id: i64 },
    PartyDeleted { id: i64 },
}

#[derive(Debug, Default, Deserialize)]
struct Items {
    #[serde(rename = "Item", default)]
    items: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Raw {
    #[serde(rename = "ToUserName", default)]
    to_user_name: String,
    #[serde(rename = "CreateTime", default)]
    create_time: Option<String>,
    #[serde(rename = "Event", default)]
    event: String,
    #[serde(rename = "ChangeType", default)]
    change_type: String,
    #[serde(rename = "UserID", default)]
    user_id: Option<String>,
    #[serde(rename = "NewUserID", default)]
    new_user_id: Option<String>,
    #[serde(rename = "ExternalUserID", default)]
    external_user_id: Option<String>,
    #[serde(rename = "State", default)]
    state: Option<String>,
    #[serde(rename = "WelcomeCode", default)]
    welcome_code: Option<String>,
    #[serde(rename = "Source", default)]
    source: Option<String>,
    #[serde(rename = "FailReason", default)]
    fail_reason: Option<String>,
    #[serde(rename = "ChatId", default)]
    chat_id: Option<String>,
    #[serde(rename = "UpdateDetail", default)]
    update_detail: Option<String>,
    #[serde(rename = "JoinScene", default)]
    join_scene: Option<String>,
    #[serde(rename = "QuitScene", default)]
    quit_scene: Option<String>,
    #[serde(rename = "MemChangeList", default)]
    mem_change_list: Option<Items>,
    #[serde(rename = "Id", default)]
    id: Option<String>,
    #[serde(rename = "TagType", default)]
    tag_type: Option<String>,
    #[serde(rename = "StrategyId", default)]
    strategy_id: Option<String>,
}

/// Why a decrypted callback could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("callback XML is malformed: {0}")]
    Xml(String),
    #[error("callback lacks {0}")]
    Missing(&'static str),
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

fn need(v: Option<String>, what: &'static str) -> Result<String, EventError> {
    non_empty(v).ok_or(EventError::Missing(what))
}

fn number(v: Option<String>) -> Option<i64> {
    v.and_then(|s| s.trim().parse().ok())
}

impl Callback {
    /// Parses the decrypted XML. Malformed XML or missing required ids are errors; unknown
    /// events and change types are [`EventKind::Unknown`].
    pub fn parse(xml: &str) -> Result<Callback, EventError> {
        let raw: Raw = quick_xml::de::from_str(xml).map_err(|e| EventError::Xml(e.to_string()))?;
        let create_time = number(raw.create_time.clone()).ok_or(EventError::Missing("CreateTime"))?;
        if raw.to_user_name.trim().is_empty() {
            return Err(EventError::Missing("ToUserName"));
        }
        let corp_id = raw.to_user_name.trim().to_owned();
        let event = raw.event.trim().to_owned();
        let change_type = raw.change_type.trim().to_owned();
        let kind = Self::kind(&event, &change_type, raw)?;
        Ok(Callback { corp_id, create_time, event, change_type, kind, raw: xml.to_owned() })
    }

    fn kind(event: &str, change_type: &str, r: Raw) -> Result<EventKind, EventError> {
        Ok(match (event, change_type) {
            ("change_external_contact", ct) => {
                let change = match ct {
                    "add_external_contact" => ExternalContactChange::Add {
                        state: r.state.clone().unwrap_or_default(),
                        welcome_code: non_empty(r.welcome_code.clone()),
                    },
                    "add_half_external_contact" => ExternalContactChange::AddHalf {
                        state: r.state.clone().unwrap_or_default(),
                        welcome_code: non_empty(r.welcome_code.clone()),
                    },
                    "edit_external_contact" => ExternalContactChange::Edit,
                    "del_external_contact" => {
                        ExternalContactChange::DeletedByStaff { source: r.source.clone().unwrap_or_default() }
                    }
                    "del_follow_user" => ExternalContactChange::DeletedByCustomer,
                    "transfer_fail" => {
                        ExternalContactChange::TransferFail { reason: r.fail_reason.clone().unwrap_or_default() }
                    }
                    _ => return Ok(EventKind::Unknown),
                };
                EventKind::ExternalContact(ExternalContactEvent {
                    userid: need(r.user_id, "UserID")?,
                    external_userid: need(r.external_user_id, "ExternalUserID")?,
                    change,
                })
            }
            ("change_external_chat", ct) => {
                let change = match ct {
                    "create" => ExternalChatChange::Create,
                    "dismiss" => ExternalChatChange::Dismiss,
                    "update" => ExternalChatChange::Update {
                        detail: r.update_detail.clone().unwrap_or_default(),
                        join_scene: number(r.join_scene.clone()),
                        quit_scene: number(r.quit_scene.clone()),
                        members: r.mem_change_list.map(|m| m.items).unwrap_or_default(),
                    },
                    _ => return Ok(EventKind::Unknown),
                };
                EventKind::ExternalChat(ExternalChatEvent { chat_id: need(r.chat_id, "ChatId")?, change })
            }
            ("change_external_tag", ct @ ("create" | "update" | "delete" | "shuffle")) => {
                EventKind::ExternalTag(ExternalTagEvent {
                    id: r.id.clone().unwrap_or_default().trim().to_owned(),
                    tag_type: r.tag_type.clone().unwrap_or_default(),
                    strategy_id: non_empty(r.strategy_id.clone()),
                    change: ct.to_owned(),
                })
            }
            ("change_contact", ct) => {
                let party = |r: &Raw| number(r.id.clone()).ok_or(EventError::Missing("Id"));
                EventKind::Contact(match ct {
                    "create_user" => ContactEvent::UserCreated { userid: need(r.user_id, "UserID")? },
                    "update_user" => ContactEvent::UserUpdated {
                        new_userid: non_empty(r.new_user_id.clone()),
                        userid: need(r.user_id, "UserID")?,
                    },
                    "delete_user" => ContactEvent::UserDeleted { userid: need(r.user_id, "UserID")? },
                    "create_party" => ContactEvent::PartyCreated { id: party(&r)? },
                    "update_party" => ContactEvent::PartyUpdated { id: party(&r)? },
                    "delete_party" => ContactEvent::PartyDeleted { id: party(&r)? },
                    _ => return Ok(EventKind::Unknown),
                })
            }
            _ => EventKind::Unknown,
        })
    }

    /// The inbox dedupe key: corp, event, change, the ids involved and CreateTime. WeCom's
    /// retries of one event share it; distinct events do not.
    pub fn dedupe_key(&self) -> String {
        let ids = match &self.kind {
            EventKind::ExternalContact(e) => format!("{}:{}", e.userid, e.external_userid),
            EventKind::ExternalChat(e) => match &e.change {
                ExternalChatChange::Update { detail, members, .. } => {
                    format!("{}:{detail}:{}", e.chat_id, members.join(","))
                }
                _ => e.chat_id.clone(),
            },
            EventKind::ExternalTag(e) => format!("{}:{}", e.tag_type, e.id),
            EventKind::Contact(c) => format!("{c:?}"),
            EventKind::Unknown => format!("{:016x}", fnv1a(self.raw.as_bytes())),
        };
        format!("{}:{}:{}:{}:{}", self.corp_id, self.event, self.change_type, ids, self.create_time)
    }
}

/// A small stable hash for raw unknown events (not security relevant).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xml(event: &str, change: &str, extra: &str) -> String {
        format!(
            "<xml><ToUserName><![CDATA[ww123]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>\
             <CreateTime>1403610513</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{event}]]></Event>\
             <ChangeType><![CDATA[{change}]]></ChangeType>{extra}</xml>"
        )
    }

    #[test]
    fn add_external_contact_with_state_and_welcome_code() {
        let cb = Callback::parse(&xml(
            "change_external_contact",
            "add_external_contact",
            "<UserID><![CDATA[zhangsan]]></UserID><ExternalUserID><![CDATA[woAJ2GCAAAXtWyujaWJHDDGi0mACH71w]]></ExternalUserID>\
             <State><![CDATA[shop-001]]></State><WelcomeCode><![CDATA[WELCOMECODE]]></WelcomeCode>",
        ))
        .unwrap();
        assert_eq!(cb.corp_id, "ww123");
        assert_eq!(cb.create_time, 1403610513);
        assert_eq!(
            cb.kind,
            EventKind::ExternalContact(ExternalContactEvent {
                userid: "zhangsan".into(),
                external_userid: "woAJ2GCAAAXtWyujaWJHDDGi0mACH71w".into(),
                change: ExternalContactChange::Add {
                    state: "shop-001".into(),
                    welcome_code: Some("WELCOMECODE".into())
                },
            })
        );
        assert_eq!(
            cb.dedupe_key(),
            "ww123:change_external_contact:add_external_contact:zhangsan:woAJ2GCAAAXtWyujaWJHDDGi0mACH71w:1403610513"
        );
    }

    #[test]
    fn external_contact_changes() {
        let ids = "<UserID>u</UserID><ExternalUserID>wm</ExternalUserID>";
        let cases = [
            ("edit_external_contact", ExternalContactChange::Edit),
            ("del_follow_user", ExternalContactChange::DeletedByCustomer),
            ("add_half_external_contact", ExternalContactChange::AddHalf { state: String::new(), welcome_code: None }),
        ];
        for (ct, change) in cases {
            let cb = Callback::parse(&xml("change_external_contact", ct, ids)).unwrap();
            assert!(matches!(cb.kind, EventKind::ExternalContact(ref e) if e.change == change), "{ct}");
        }
        let del = Callback::parse(&xml(
            "change_external_contact",
            "del_external_contact",
            &format!("{ids}<Source><![CDATA[DELETE_BY_TRANSFER]]></Source>"),
        ))
        .unwrap();
        assert!(
            matches!(del.kind, EventKind::ExternalContact(ExternalContactEvent { change: ExternalContactChange::DeletedByStaff { ref source }, .. }) if source == "DELETE_BY_TRANSFER")
        );
        let fail = Callback::parse(&xml(
            "change_external_contact",
            "transfer_fail",
            &format!("{ids}<FailReason>customer_refused</FailReason>"),
        ))
        .unwrap();
        assert!(
            matches!(fail.kind, EventKind::ExternalContact(ExternalContactEvent { change: ExternalContactChange::TransferFail { ref reason }, .. }) if reason == "customer_refused")
        );
        assert_eq!(
            Callback::parse(&xml("change_external_contact", "add_external_contact", "<UserID>u</UserID>")).unwrap_err(),
            EventError::Missing("ExternalUserID")
        );
    }

    #[test]
    fn external_chat_update_with_member_list() {
        let cb = Callback::parse(&xml(
            "change_external_chat",
            "update",
            "<ChatId><![CDATA[wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA]]></ChatId><UpdateDetail><![CDATA[add_member]]></UpdateDetail>\
             <JoinScene>1</JoinScene><MemChangeCnt>2</MemChangeCnt><MemChangeList><Item>Jack</Item><Item>Rose</Item></MemChangeList>",
        ))
        .unwrap();
        assert_eq!(
            cb.kind,
            EventKind::ExternalChat(ExternalChatEvent {
                chat_id: "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA".into(),
                change: ExternalChatChange::Update {
                    detail: "add_member".into(),
                    join_scene: Some(1),
                    quit_scene: None,
                    members: vec!["Jack".into(), "Rose".into()]
                },
            })
        );
        let dismiss = Callback::parse(&xml("change_external_chat", "dismiss", "<ChatId>wr1</ChatId>")).unwrap();
        assert!(matches!(
            dismiss.kind,
            EventKind::ExternalChat(ExternalChatEvent { change: ExternalChatChange::Dismiss, .. })
        ));
    }

    #[test]
    fn tags_contacts_and_unknown_events() {
        let tag = Callback::parse(&xml(
            "change_external_tag",
            "delete",
            "<Id><![CDATA[etXXX]]></Id><TagType><![CDATA[tag]]></TagType>",
        ))
        .unwrap();
        assert!(
            matches!(tag.kind, EventKind::ExternalTag(ref t) if t.id == "etXXX" && t.change == "delete" && t.tag_type == "tag")
        );
        let user =
            Callback::parse(&xml("change_contact", "update_user", "<UserID>old</UserID><NewUserID>new</NewUserID>"))
                .unwrap();
        assert_eq!(
            user.kind,
            EventKind::Contact(ContactEvent::UserUpdated { userid: "old".into(), new_userid: Some("new".into()) })
        );
        let party = Callback::parse(&xml(
            "change_contact",
            "create_party",
            "<Id>2</Id><Name>华东</Name><ParentId>1</ParentId>",
        ))
        .unwrap();
        assert_eq!(party.kind, EventKind::Contact(ContactEvent::PartyCreated { id: 2 }));
        let unknown = Callback::parse(&xml("msgaudit_notify", "", "<AgentID>1</AgentID>")).unwrap();
        assert_eq!(unknown.kind, EventKind::Unknown);
        assert!(unknown.raw.contains("msgaudit_notify"), "kept raw");
        let odd = Callback::parse(&xml("change_external_contact", "something_new", "")).unwrap();
        assert_eq!(odd.kind, EventKind::Unknown);
    }

    #[test]
    fn malformed_xml_is_an_error() {
        assert!(matches!(
            Callback::parse("<xml><ToUserName>ww</ToUserName>"),
            Err(EventError::Xml(_) | EventError::Missing(_))
        ));
        assert!(Callback::parse("not xml at all").is_err());
        assert_eq!(
            Callback::parse("<xml><ToUserName>ww</ToUserName></xml>").unwrap_err(),
            EventError::Missing("CreateTime")
        );
    }
}
