//! The simulated corp: its address book, customers, follow relations, tags, groups and contact
//! ways, and the world actions that change them. Each action returns the callback XML WeCom
//! would push for it (API writes do not cause callbacks, as in WeCom).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use rand::{Rng, SeedableRng, rngs::StdRng, seq::IndexedRandom};
use serde::{Deserialize, Serialize};
use wecom::api::{
    ContactWay, CorpTag, CorpTagGroup, Department, ExternalContact, FollowInfo, FollowTag, FollowUser, GroupChat,
    GroupMember, User,
};

/// The fixed credentials of the default scenario (listed in the README).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Credentials {
    pub corp_id: String,
    pub contact_secret: String,
    pub app_secret: String,
    pub agent_id: i64,
    pub callback_token: String,
    pub encoding_aes_key: String,
}

impl Default for Credentials {
    fn default() -> Self {
        Credentials {
            corp_id: "ww5f3c9e2a1b7d4c60".into(),
            contact_secret: "SimContactSecret0123456789abcdefghijklmnopq".into(),
            app_secret: "SimAppSecret0123456789abcdefghijklmnopqrstu".into(),
            agent_id: 1000002,
            callback_token: "PondSimToken2026".into(),
            encoding_aes_key: "PondSimEncodingAESKey0123456789abcdefghijkl".into(),
        }
    }
}

/// One employee's relation with one customer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Follow {
    pub remark: String,
    pub description: String,
    /// Seconds since the epoch.
    pub createtime: i64,
    pub tags: BTreeSet<String>,
    pub add_way: i64,
    pub state: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Member {
    /// 1 employee, 2 customer.
    pub kind: i64,
    pub join_time: i64,
    pub join_scene: i64,
    pub invitor: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub owner: String,
    pub notice: String,
    pub create_time: i64,
    pub members: BTreeMap<String, Member>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TagGroup {
    pub name: String,
    pub order: i64,
    pub create_time: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Tag {
    pub group_id: String,
    pub name: String,
    pub order: i64,
    pub create_time: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WelcomeCode {
    pub userid: String,
    pub external_userid: String,
    /// When the customer added the employee (the simulator's clock, in ms: the callback's
    /// `CreateTime` has whole seconds only).
    pub issued_at_ms: i64,
    pub used: bool,
    /// `send_welcome_msg` calls made with this code, refused ones included (tests count them: a
    /// second call is only right after a crash, when the caller had to ask).
    #[serde(default)]
    pub send_attempts: u32,
    /// When `send_welcome_msg` used the code.
    pub used_at_ms: Option<i64>,
}

/// One add through a contact way, as the simulator made it (see [`crate::Simulator::adds`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AddRecord {
    pub welcome_code: String,
    pub external_userid: String,
    pub userid: String,
    /// When the customer added the employee, in ms.
    pub created_at_ms: i64,
    /// When the welcome message was accepted for this add, if it was.
    pub welcomed_at_ms: Option<i64>,
}

/// A welcome message accepted by `send_welcome_msg`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SentWelcome {
    pub userid: String,
    pub external_userid: String,
    pub body: serde_json::Value,
    pub at_ms: i64,
}

/// The whole simulated state. Everything is ordered so snapshots (and saved worlds, see
/// [`crate::persist`]) are deterministic.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct World {
    pub creds: Credentials,
    pub departments: BTreeMap<i64, Department>,
    pub users: BTreeMap<String, User>,
    pub customers: BTreeMap<String, ExternalContact>,
    /// (external_userid, userid) → the relation; saved as a list of pairs (JSON keys are strings).
    #[serde(with = "pairs")]
    pub follows: BTreeMap<(String, String), Follow>,
    pub tag_groups: BTreeMap<String, TagGroup>,
    pub tags: BTreeMap<String, Tag>,
    pub groups: BTreeMap<String, Group>,
    pub contact_ways: BTreeMap<String, ContactWay>,
    /// When each contact way was created (epoch seconds): `list_contact_way` filters by it.
    pub contact_way_created: BTreeMap<String, i64>,
    pub welcome_codes: BTreeMap<String, WelcomeCode>,
    pub welcomes_sent: Vec<SentWelcome>,
    /// Round-robin position per multi-user contact way.
    pub rotation: BTreeMap<String, usize>,
    pub seq: u64,
    /// Added to the clock (tests move time forward, e.g. to expire welcome codes).
    pub clock_offset_ms: i64,
    /// Where the clock stands when tests stopped it (`None`: it follows the wall clock). Tests stop
    /// it so that deadlines (the welcome code's 20 s) and the times in callbacks do not depend on
    /// how fast the machine runs them; `clock_offset_ms` still moves it.
    pub frozen_at_ms: Option<i64>,
    pub contact_way_quota: usize,
    /// Customers of resigned employees awaiting reassignment: (handover userid, external userid, resigned at s).
    pub unassigned: Vec<(String, String, i64)>,
    pub group_welcome_templates: BTreeMap<String, serde_json::Value>,
    pub mass_messages: BTreeMap<String, MassMessage>,
    pub moments: BTreeMap<String, Moment>,
    /// Moment job id → moment id.
    pub moment_jobs: BTreeMap<String, (String, Vec<String>)>,
    pub transfers: Vec<Transfer>,
}

/// A map with composite keys, serialized as a list of `[key, value]` pairs.
mod pairs {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, K: Serialize, V: Serialize>(map: &BTreeMap<K, V>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.iter())
    }

    pub fn deserialize<'de, D, K, V>(d: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        D: Deserializer<'de>,
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}

/// A mass message: who sends what to whom, and who has confirmed sending.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MassMessage {
    pub creator: String,
    pub chat_type: String,
    pub create_time: i64,
    pub body: serde_json::Value,
    /// (sender userid, external_userid or chat_id)
    pub targets: Vec<(String, String)>,
    /// sender → send time (s)
    pub sent: BTreeMap<String, i64>,
}

/// A moments task and who has published it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Moment {
    pub create_time: i64,
    pub body: serde_json::Value,
    pub senders: Vec<String>,
    pub published: BTreeMap<String, i64>,
}

/// A customer being handed from one employee to another.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Transfer {
    pub resigned: bool,
    pub handover: String,
    pub takeover: String,
    pub external_userid: String,
    /// 1 done, 2 waiting.
    pub status: i64,
    pub start_time: i64,
    pub takeover_time: i64,
}

/// A snapshot of what Pond should mirror after a sync.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Picture {
    pub departments: BTreeMap<i64, String>,
    /// userid → (name, active)
    pub staff: BTreeMap<String, (String, bool)>,
    /// external_userid → name, for customers with at least one follow relation
    pub customers: BTreeMap<String, String>,
    /// (external_userid, userid) → (remark, state, tag ids)
    pub follows: BTreeMap<String, (String, String, Vec<String>)>,
    /// tag_id → (group name, tag name)
    pub tags: BTreeMap<String, (String, String)>,
    /// chat_id → (name, owner, sorted member ids)
    pub groups: BTreeMap<String, (String, String, Vec<String>)>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何", "林", "罗",
    "高",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛", "明", "超", "秀英", "霞",
    "平", "刚", "桂英", "晨", "悦", "欣", "浩", "宇", "婷",
];
const CITIES: &[&str] = &["上海", "北京", "杭州", "深圳", "成都", "广州", "南京", "武汉", "苏州", "西安"];

/// Parameters of a seeded scenario: a chain of stores with staff, customers, tags and groups.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scenario {
    pub seed: u64,
    pub stores: usize,
    pub staff_per_store: usize,
    pub customers: usize,
    pub groups: usize,
    /// When more than 0, customers were added over this many days up to now (a demo with
    /// history); otherwise at fixed times in 2023 (repeatable worlds for tests).
    pub history_days: u32,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario { seed: 42, stores: 10, staff_per_store: 5, customers: 2_000, groups: 20, history_days: 0 }
    }
}

impl World {
    pub fn new(creds: Credentials) -> Self {
        World { creds, contact_way_quota: 500_000, ..Default::default() }
    }

    pub fn now_ms(&self) -> i64 {
        self.frozen_at_ms.unwrap_or_else(now_ms) + self.clock_offset_ms
    }

    pub fn now_s(&self) -> i64 {
        self.now_ms() / 1000
    }

    fn next_id(&mut self, prefix: &str, rng: &mut impl Rng) -> String {
        self.seq += 1;
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let tail: String = (0..24).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect();
        format!("{prefix}{:06}{tail}", self.seq)
    }

    fn person_name(rng: &mut impl Rng) -> String {
        format!("{}{}", SURNAMES.choose(rng).unwrap_or(&"王"), GIVEN.choose(rng).unwrap_or(&"伟"))
    }

    /// Replaces the world with the scenario's, deterministically from its seed. The clock is not
    /// part of the world: it is kept.
    pub fn seed(&mut self, s: &Scenario) {
        let (creds, offset, frozen) = (self.creds.clone(), self.clock_offset_ms, self.frozen_at_ms);
        *self = World::new(creds);
        (self.clock_offset_ms, self.frozen_at_ms) = (offset, frozen);
        let mut rng = StdRng::seed_from_u64(s.seed);
        let t0 = 1_700_000_000;
        let now = self.now_s();
        self.departments.insert(1, Department { id: 1, name: "总部".into(), parentid: 0, order: 0 });
        let mut managers = Vec::new();
        for store in 0..s.stores {
            let dept = store as i64 + 2;
            let city = CITIES[store % CITIES.len()];
            self.departments.insert(
                dept,
                Department { id: dept, name: format!("{city}{}号店", store + 1), parentid: 1, order: dept },
            );
            let mut store_staff = Vec::new();
            for e in 0..s.staff_per_store {
                let userid = format!("s{:03}e{:02}", store + 1, e + 1);
                let position = if e == 0 { "店长" } else { "店员" };
                self.users.insert(
                    userid.clone(),
                    User {
                        userid: userid.clone(),
                        name: Self::person_name(&mut rng),
                        department: vec![dept],
                        position: position.into(),
                        mobile: String::new(),
                        status: 1,
                        external_profile: None,
                    },
                );
                store_staff.push(userid);
            }
            if let Some(m) = store_staff.first() {
                managers.push(m.clone());
            }
            let config_id = format!("{:032x}", rng.random::<u128>());
            self.contact_way_created.insert(config_id.clone(), self.now_s());
            self.contact_ways.insert(
                config_id.clone(),
                ContactWay {
                    config_id,
                    kind: 2,
                    scene: 2,
                    remark: format!("{city}门店码"),
                    skip_verify: true,
                    state: format!("store-{:03}", store + 1),
                    user: store_staff,
                    party: vec![],
                    qr_code: String::new(),
                },
            );
        }
        for (gi, (group, tags)) in [
            ("渠道", &["门店", "包裹卡", "公众号", "朋友推荐"][..]),
            ("会员等级", &["普通会员", "银卡", "金卡"][..]),
            ("兴趣", &["咖啡", "甜点", "轻食", "茶饮"][..]),
        ]
        .into_iter()
        .enumerate()
        {
            let group_id = format!("etGROUP{:02}{}", gi + 1, "A".repeat(10));
            self.tag_groups
                .insert(group_id.clone(), TagGroup { name: group.into(), order: gi as i64, create_time: t0 });
            for (ti, name) in tags.iter().enumerate() {
                let tag_id = format!("etTAG{:02}{:02}{}", gi + 1, ti + 1, "B".repeat(10));
                self.tags.insert(
                    tag_id,
                    Tag { group_id: group_id.clone(), name: (*name).into(), order: ti as i64, create_time: t0 },
                );
            }
        }
        let userids: Vec<String> = self.users.keys().cloned().collect();
        let tag_ids: Vec<String> = self.tags.keys().cloned().collect();
        for c in 0..s.customers {
            let external_userid = self.next_id("wm", &mut rng);
            let customer = ExternalContact {
                external_userid: external_userid.clone(),
                name: Self::person_name(&mut rng),
                avatar: String::new(),
                kind: 1,
                gender: rng.random_range(0..=2),
                unionid: String::new(),
                corp_name: String::new(),
            };
            self.customers.insert(external_userid.clone(), customer);
            let follow_count = if rng.random_bool(0.2) { 2 } else { 1 };
            for _ in 0..follow_count {
                let Some(userid) = userids.choose(&mut rng).cloned() else {
                    continue;
                };
                let tags: BTreeSet<String> =
                    (0..rng.random_range(0..=3)).filter_map(|_| tag_ids.choose(&mut rng).cloned()).collect();
                let store = userid.get(1..4).unwrap_or("001").to_owned();
                self.follows.insert(
                    (external_userid.clone(), userid),
                    Follow {
                        remark: String::new(),
                        description: String::new(),
                        createtime: if s.history_days > 0 {
                            now - rng.random_range(0..i64::from(s.history_days) * 86_400)
                        } else {
                            t0 + c as i64 * 60
                        },
                        tags,
                        add_way: 1,
                        state: format!("store-{store}"),
                    },
                );
            }
        }
        let customer_ids: Vec<String> = self.customers.keys().cloned().collect();
        for g in 0..s.groups {
            let Some(owner) = managers.get(g % managers.len().max(1)).cloned() else {
                break;
            };
            let chat_id = self.next_id("wr", &mut rng);
            let mut members = BTreeMap::new();
            members.insert(owner.clone(), Member { kind: 1, join_time: t0, join_scene: 1, invitor: String::new() });
            for _ in 0..rng.random_range(3..30) {
                if let Some(c) = customer_ids.choose(&mut rng) {
                    members.insert(
                        c.clone(),
                        Member { kind: 2, join_time: t0 + 100, join_scene: 3, invitor: owner.clone() },
                    );
                }
            }
            self.groups.insert(
                chat_id,
                Group {
                    name: format!("会员福利群{}", g + 1),
                    owner,
                    notice: String::new(),
                    create_time: t0 + g as i64,
                    members,
                },
            );
        }
    }

    // ---- views in WeCom's shapes ----

    pub fn follow_user_ids(&self) -> Vec<String> {
        self.users.values().filter(|u| u.status == 1).map(|u| u.userid.clone()).collect()
    }

    pub fn follow_users_of(&self, external_userid: &str) -> Vec<FollowUser> {
        self.follows
            .range((external_userid.to_owned(), String::new())..)
            .take_while(|((e, _), _)| e == external_userid)
            .map(|((_, userid), f)| FollowUser {
                userid: userid.clone(),
                remark: f.remark.clone(),
                description: f.description.clone(),
                createtime: f.createtime,
                tags: f
                    .tags
                    .iter()
                    .filter_map(|id| {
                        let tag = self.tags.get(id)?;
                        let group = self.tag_groups.get(&tag.group_id)?;
                        Some(FollowTag {
                            group_name: group.name.clone(),
                            tag_name: tag.name.clone(),
                            tag_id: id.clone(),
                            kind: 1,
                        })
                    })
                    .collect(),
                add_way: f.add_way,
                state: f.state.clone(),
                oper_userid: userid.clone(),
            })
            .collect()
    }

    pub fn follow_info(&self, external_userid: &str, userid: &str) -> Option<FollowInfo> {
        let f = self.follows.get(&(external_userid.to_owned(), userid.to_owned()))?;
        Some(FollowInfo {
            userid: userid.to_owned(),
            remark: f.remark.clone(),
            description: f.description.clone(),
            createtime: f.createtime,
            tag_id: f.tags.iter().filter(|t| self.tags.contains_key(*t)).cloned().collect(),
            add_way: f.add_way,
            state: f.state.clone(),
        })
    }

    pub fn tag_library(&self, tag_ids: &[String], group_ids: &[String]) -> Vec<CorpTagGroup> {
        let mut out = Vec::new();
        for (group_id, g) in &self.tag_groups {
            let tags: Vec<CorpTag> = self
                .tags
                .iter()
                .filter(|(id, t)| t.group_id == *group_id && (tag_ids.is_empty() || tag_ids.contains(id)))
                .map(|(id, t)| CorpTag {
                    id: id.clone(),
                    name: t.name.clone(),
                    create_time: t.create_time,
                    order: t.order,
                    deleted: false,
                })
                .collect();
            let wanted = if !tag_ids.is_empty() {
                !tags.is_empty()
            } else {
                group_ids.is_empty() || group_ids.contains(group_id)
            };
            if wanted {
                out.push(CorpTagGroup {
                    group_id: group_id.clone(),
                    group_name: g.name.clone(),
                    create_time: g.create_time,
                    order: g.order,
                    deleted: false,
                    tag: tags,
                });
            }
        }
        out
    }

    pub fn group_chat(&self, chat_id: &str) -> Option<GroupChat> {
        let g = self.groups.get(chat_id)?;
        Some(GroupChat {
            chat_id: chat_id.to_owned(),
            name: g.name.clone(),
            owner: g.owner.clone(),
            create_time: g.create_time,
            notice: g.notice.clone(),
            member_list: g
                .members
                .iter()
                .map(|(id, m)| GroupMember {
                    userid: id.clone(),
                    kind: m.kind,
                    join_time: m.join_time,
                    join_scene: m.join_scene,
                    invitor: (!m.invitor.is_empty()).then(|| wecom::api::Invitor { userid: m.invitor.clone() }),
                    group_nickname: String::new(),
                    name: if m.kind == 2 {
                        self.customers.get(id).map(|c| c.name.clone()).unwrap_or_default()
                    } else {
                        String::new()
                    },
                })
                .collect(),
        })
    }

    /// What Pond should hold after syncing this world.
    pub fn picture(&self) -> Picture {
        let followed: BTreeSet<&String> = self.follows.keys().map(|(e, _)| e).collect();
        Picture {
            departments: self.departments.iter().map(|(id, d)| (*id, d.name.clone())).collect(),
            staff: self.users.iter().map(|(id, u)| (id.clone(), (u.name.clone(), u.status == 1))).collect(),
            customers: self
                .customers
                .iter()
                .filter(|(id, _)| followed.contains(id))
                .map(|(id, c)| (id.clone(), c.name.clone()))
                .collect(),
            follows: self
                .follows
                .iter()
                .map(|((e, u), f)| {
                    let tags: Vec<String> = f.tags.iter().filter(|t| self.tags.contains_key(*t)).cloned().collect();
                    (format!("{e}|{u}"), (f.remark.clone(), f.state.clone(), tags))
                })
                .collect(),
            tags: self
                .tags
                .iter()
                .map(|(id, t)| {
                    (
                        id.clone(),
                        (self.tag_groups.get(&t.group_id).map(|g| g.name.clone()).unwrap_or_default(), t.name.clone()),
                    )
                })
                .collect(),
            groups: self
                .groups
                .iter()
                .map(|(id, g)| (id.clone(), (g.name.clone(), g.owner.clone(), g.members.keys().cloned().collect())))
                .collect(),
        }
    }

    // ---- callback XML ----

    fn event_xml(&self, event: &str, change: &str, fields: &[(&str, &str)]) -> String {
        let mut xml = format!(
            "<xml><ToUserName><![CDATA[{}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>{}</CreateTime>\
             <MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{event}]]></Event><ChangeType><![CDATA[{change}]]></ChangeType>",
            self.creds.corp_id,
            self.now_s()
        );
        for (k, v) in fields {
            if k.starts_with('#') {
                xml.push_str(v); // pre-built XML fragment
            } else {
                xml.push_str(&format!("<{k}><![CDATA[{v}]]></{k}>"));
            }
        }
        xml.push_str("</xml>");
        xml
    }
}

/// A change to the world, as a person or the admin console would make it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// A customer scans a contact way (by `config_id` or `state`). A new customer unless `external_userid` is given.
    Scan {
        config_id: Option<String>,
        state: Option<String>,
        external_userid: Option<String>,
        name: Option<String>,
    },
    /// The customer deletes the employee.
    CustomerDeletesStaff {
        external_userid: String,
        userid: String,
    },
    /// The employee deletes the customer.
    StaffDeletesCustomer {
        userid: String,
        external_userid: String,
    },
    /// An employee edits a customer's remark and tags in the client.
    StaffEditsCustomer {
        userid: String,
        external_userid: String,
        remark: Option<String>,
        add_tags: Vec<String>,
        remove_tags: Vec<String>,
    },
    JoinGroup {
        chat_id: String,
        external_userid: String,
    },
    LeaveGroup {
        chat_id: String,
        member_id: String,
    },
    CreateGroup {
        owner: String,
        name: String,
    },
    RenameGroup {
        chat_id: String,
        name: String,
    },
    DismissGroup {
        chat_id: String,
    },
    /// The employee leaves the company (removed from the address book).
    StaffResigns {
        userid: String,
    },
    /// An employee confirms sending a mass message in their client.
    StaffSendsMassMessage {
        msgid: String,
        userid: String,
    },
    /// An employee publishes a moments task.
    StaffPublishesMoment {
        moment_id: String,
        userid: String,
    },
    /// Completes waiting customer transfers (WeCom does so 24 h after the request); `force` ignores the 24 h.
    FinishTransfers {
        #[serde(default)]
        force: bool,
    },
    /// The admin adds a tag (to an existing group by id, else a new group by name).
    CreateTag {
        group_id: Option<String>,
        group_name: Option<String>,
        name: String,
    },
    RenameTag {
        tag_id: String,
        name: String,
    },
    DeleteTag {
        tag_id: String,
    },
}

/// Why an action or API request was refused: WeCom's errcode and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("errcode {errcode}: {errmsg}")]
pub struct SimError {
    pub errcode: i64,
    pub errmsg: String,
}

impl SimError {
    pub fn new(errcode: i64, errmsg: impl Into<String>) -> Self {
        SimError { errcode, errmsg: errmsg.into() }
    }
}

/// The outcome of an action: callbacks to push, and what the action created (for chaining).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Outcome {
    #[serde(skip)]
    pub callbacks: Vec<String>,
    pub created: Option<String>,
    pub userid: Option<String>,
    pub welcome_code: Option<String>,
}

impl World {
    pub fn apply(&mut self, action: Action, rng: &mut impl Rng) -> Result<Outcome, SimError> {
        let mut out = Outcome::default();
        match action {
            Action::Scan { config_id, state, external_userid, name } => {
                let way = match (&config_id, &state) {
                    (Some(id), _) => self.contact_ways.get(id),
                    (None, Some(s)) => self.contact_ways.values().find(|w| &w.state == s),
                    _ => None,
                }
                .cloned()
                .ok_or_else(|| SimError::new(40058, "no such contact way"))?;
                let candidates: Vec<&String> =
                    way.user.iter().filter(|u| self.users.get(*u).is_some_and(|u| u.status == 1)).collect();
                if candidates.is_empty() {
                    return Err(SimError::new(40058, "contact way has no active user"));
                }
                let pos = self.rotation.entry(way.config_id.clone()).or_insert(0);
                let userid = candidates[*pos % candidates.len()].clone();
                *pos += 1;
                let external_userid = match external_userid {
                    Some(e) if self.customers.contains_key(&e) => e,
                    Some(e) => {
                        return Err(SimError::new(40096, format!("invalid external userid {e}")));
                    }
                    None => {
                        let id = self.next_id("wm", rng);
                        let name = name.unwrap_or_else(|| Self::person_name(rng));
                        self.customers.insert(
                            id.clone(),
                            ExternalContact {
                                external_userid: id.clone(),
                                name,
                                avatar: String::new(),
                                kind: 1,
                                gender: 0,
                                unionid: String::new(),
                                corp_name: String::new(),
                            },
                        );
                        id
                    }
                };
                let key = (external_userid.clone(), userid.clone());
                if self.follows.contains_key(&key) {
                    return Err(SimError::new(40058, "already a contact of this employee"));
                }
                self.follows.insert(
                    key,
                    Follow {
                        remark: String::new(),
                        description: String::new(),
                        createtime: self.now_s(),
                        tags: BTreeSet::new(),
                        add_way: 1,
                        state: way.state.clone(),
                    },
                );
                let code = format!("{:032x}", rng.random::<u128>());
                self.welcome_codes.insert(
                    code.clone(),
                    WelcomeCode {
                        userid: userid.clone(),
                        external_userid: external_userid.clone(),
                        issued_at_ms: self.now_ms(),
                        used: false,
                        send_attempts: 0,
                        used_at_ms: None,
                    },
                );
                out.callbacks.push(self.event_xml(
                    "change_external_contact",
                    "add_external_contact",
                    &[
                        ("UserID", &userid),
                        ("ExternalUserID", &external_userid),
                        ("State", &way.state),
                        ("WelcomeCode", &code),
                    ],
                ));
                out.created = Some(external_userid);
                out.userid = Some(userid);
                out.welcome_code = Some(code);
            }
            Action::CustomerDeletesStaff { external_userid, userid } => {
                self.follows
                    .remove(&(external_userid.clone(), userid.clone()))
                    .ok_or_else(|| SimError::new(84061, "not external contact"))?;
                out.callbacks.push(self.event_xml(
                    "change_external_contact",
                    "del_follow_user",
                    &[("UserID", &userid), ("ExternalUserID", &external_userid)],
                ));
            }
            Action::StaffDeletesCustomer { userid, external_userid } => {
                self.follows
                    .remove(&(external_userid.clone(), userid.clone()))
                    .ok_or_else(|| SimError::new(84061, "not external contact"))?;
                out.callbacks.push(self.event_xml(
                    "change_external_contact",
                    "del_external_contact",
                    &[("UserID", &userid), ("ExternalUserID", &external_userid), ("Source", "DELETE_BY_USER")],
                ));
            }
            Action::StaffEditsCustomer { userid, external_userid, remark, add_tags, remove_tags } => {
                for t in &add_tags {
                    if !self.tags.contains_key(t) {
                        return Err(SimError::new(40068, format!("invalid tagid {t}")));
                    }
                }
                let f = self
                    .follows
                    .get_mut(&(external_userid.clone(), userid.clone()))
                    .ok_or_else(|| SimError::new(84061, "not external contact"))?;
                if let Some(r) = remark {
                    f.remark = r;
                }
                f.tags.extend(add_tags);
                for t in &remove_tags {
                    f.tags.remove(t);
                }
                out.callbacks.push(self.event_xml(
                    "change_external_contact",
                    "edit_external_contact",
                    &[("UserID", &userid), ("ExternalUserID", &external_userid)],
                ));
            }
            Action::JoinGroup { chat_id, external_userid } => {
                if !self.customers.contains_key(&external_userid) {
                    return Err(SimError::new(40096, "invalid external userid"));
                }
                let now = self.now_s();
                let g = self.groups.get_mut(&chat_id).ok_or_else(|| SimError::new(40050, "chatid not exist"))?;
                if g.members.contains_key(&external_userid) {
                    return Err(SimError::new(40058, "already a member"));
                }
                if g.members.len() >= 500 {
                    return Err(SimError::new(40058, "group is full"));
                }
                g.members.insert(
                    external_userid.clone(),
                    Member { kind: 2, join_time: now, join_scene: 3, invitor: String::new() },
                );
                let list = format!(
                    "<JoinScene>3</JoinScene><MemChangeCnt>1</MemChangeCnt><MemChangeList><Item><![CDATA[{external_userid}]]></Item></MemChangeList>"
                );
                out.callbacks.push(self.event_xml(
                    "change_external_chat",
                    "update",
                    &[("ChatId", &chat_id), ("UpdateDetail", "add_member"), ("#", &list)],
                ));
            }
            Action::LeaveGroup { chat_id, member_id } => {
                let g = self.groups.get_mut(&chat_id).ok_or_else(|| SimError::new(40050, "chatid not exist"))?;
                if g.owner == member_id {
                    return Err(SimError::new(40058, "the owner cannot leave"));
                }
                g.members.remove(&member_id).ok_or_else(|| SimError::new(40058, "not a member"))?;
                let list = format!(
                    "<QuitScene>0</QuitScene><MemChangeCnt>1</MemChangeCnt><MemChangeList><Item><![CDATA[{member_id}]]></Item></MemChangeList>"
                );
                out.callbacks.push(self.event_xml(
                    "change_external_chat",
                    "update",
                    &[("ChatId", &chat_id), ("UpdateDetail", "del_member"), ("#", &list)],
                ));
            }
            Action::CreateGroup { owner, name } => {
                if self.users.get(&owner).is_none_or(|u| u.status != 1) {
                    return Err(SimError::new(60111, "userid not found"));
                }
                let chat_id = self.next_id("wr", rng);
                let now = self.now_s();
                let mut members = BTreeMap::new();
                members
                    .insert(owner.clone(), Member { kind: 1, join_time: now, join_scene: 1, invitor: String::new() });
                self.groups
                    .insert(chat_id.clone(), Group { name, owner, notice: String::new(), create_time: now, members });
                out.callbacks.push(self.event_xml("change_external_chat", "create", &[("ChatId", &chat_id)]));
                out.created = Some(chat_id);
            }
            Action::RenameGroup { chat_id, name } => {
                let g = self.groups.get_mut(&chat_id).ok_or_else(|| SimError::new(40050, "chatid not exist"))?;
                g.name = name;
                out.callbacks.push(self.event_xml(
                    "change_external_chat",
                    "update",
                    &[("ChatId", &chat_id), ("UpdateDetail", "change_name")],
                ));
            }
            Action::DismissGroup { chat_id } => {
                self.groups.remove(&chat_id).ok_or_else(|| SimError::new(40050, "chatid not exist"))?;
                out.callbacks.push(self.event_xml("change_external_chat", "dismiss", &[("ChatId", &chat_id)]));
            }
            Action::StaffResigns { userid } => {
                let u = self
                    .users
                    .get_mut(&userid)
                    .filter(|u| u.status == 1)
                    .ok_or_else(|| SimError::new(60111, "userid not found"))?;
                u.status = 5;
                let now = self.now_s();
                let keys: Vec<(String, String)> = self.follows.keys().filter(|(_, u)| *u == userid).cloned().collect();
                for key in keys {
                    self.follows.remove(&key);
                    self.unassigned.push((userid.clone(), key.0, now));
                }
                out.callbacks.push(self.event_xml("change_contact", "delete_user", &[("UserID", &userid)]));
            }
            Action::CreateTag { group_id, group_name, name } => {
                let group_id = match (group_id, group_name) {
                    (Some(id), _) if self.tag_groups.contains_key(&id) => id,
                    (Some(_), _) => return Err(SimError::new(40068, "invalid tag group id")),
                    (None, Some(gname)) => {
                        let id = self.next_id("et", rng);
                        let order = self.tag_groups.len() as i64;
                        self.tag_groups.insert(id.clone(), TagGroup { name: gname, order, create_time: self.now_s() });
                        id
                    }
                    (None, None) => {
                        return Err(SimError::new(40058, "group_id or group_name required"));
                    }
                };
                if self.tags.values().any(|t| t.group_id == group_id && t.name == name) {
                    return Err(SimError::new(40071, "tag name already exists"));
                }
                let tag_id = self.next_id("et", rng);
                let order = self.tags.values().filter(|t| t.group_id == group_id).count() as i64;
                self.tags.insert(tag_id.clone(), Tag { group_id, name, order, create_time: self.now_s() });
                out.callbacks.push(self.event_xml(
                    "change_external_tag",
                    "create",
                    &[("Id", &tag_id), ("TagType", "tag")],
                ));
                out.created = Some(tag_id);
            }
            Action::StaffSendsMassMessage { msgid, userid } => {
                let now = self.now_s();
                let m = self.mass_messages.get_mut(&msgid).ok_or_else(|| SimError::new(40058, "invalid msgid"))?;
                if !m.targets.iter().any(|(u, _)| *u == userid) {
                    return Err(SimError::new(40058, "this employee has nothing to send in this message"));
                }
                m.sent.insert(userid, now);
            }
            Action::StaffPublishesMoment { moment_id, userid } => {
                let now = self.now_s();
                let m = self.moments.get_mut(&moment_id).ok_or_else(|| SimError::new(40058, "invalid moment_id"))?;
                if !m.senders.contains(&userid) {
                    return Err(SimError::new(40058, "this employee is not a sender of the moment"));
                }
                m.published.insert(userid, now);
            }
            Action::FinishTransfers { force } => {
                let now = self.now_s();
                let due: Vec<usize> = (0..self.transfers.len())
                    .filter(|i| {
                        self.transfers[*i].status == 2 && (force || self.transfers[*i].start_time + 86_400 <= now)
                    })
                    .collect();
                for i in due {
                    let t = self.transfers[i].clone();
                    let old = if t.resigned {
                        self.unassigned.retain(|(h, e, _)| !(h == &t.handover && e == &t.external_userid));
                        None
                    } else {
                        self.follows.remove(&(t.external_userid.clone(), t.handover.clone()))
                    };
                    let follow = Follow {
                        remark: String::new(),
                        description: String::new(),
                        createtime: now,
                        tags: old.as_ref().map(|f| f.tags.clone()).unwrap_or_default(),
                        add_way: 202,
                        state: old.map(|f| f.state).unwrap_or_default(),
                    };
                    if !t.resigned {
                        out.callbacks.push(self.event_xml(
                            "change_external_contact",
                            "del_external_contact",
                            &[
                                ("UserID", &t.handover),
                                ("ExternalUserID", &t.external_userid),
                                ("Source", "DELETE_BY_TRANSFER"),
                            ],
                        ));
                    }
                    let fresh = !self.follows.contains_key(&(t.external_userid.clone(), t.takeover.clone()));
                    self.follows.insert((t.external_userid.clone(), t.takeover.clone()), follow);
                    if fresh {
                        out.callbacks.push(self.event_xml(
                            "change_external_contact",
                            "add_external_contact",
                            &[("UserID", &t.takeover), ("ExternalUserID", &t.external_userid)],
                        ));
                    }
                    self.transfers[i].status = 1;
                    self.transfers[i].takeover_time = now;
                }
            }
            Action::RenameTag { tag_id, name } => {
                let t = self.tags.get_mut(&tag_id).ok_or_else(|| SimError::new(40068, "invalid tagid"))?;
                t.name = name;
                out.callbacks.push(self.event_xml(
                    "change_external_tag",
                    "update",
                    &[("Id", &tag_id), ("TagType", "tag")],
                ));
            }
            Action::DeleteTag { tag_id } => {
                let tag = self.tags.remove(&tag_id).ok_or_else(|| SimError::new(40068, "invalid tagid"))?;
                for f in self.follows.values_mut() {
                    f.tags.remove(&tag_id);
                }
                out.callbacks.push(self.event_xml(
                    "change_external_tag",
                    "delete",
                    &[("Id", &tag_id), ("TagType", "tag")],
                ));
                if !self.tags.values().any(|t| t.group_id == tag.group_id) {
                    self.tag_groups.remove(&tag.group_id);
                }
            }
        }
        Ok(out)
    }

    /// A realistic random action (the traffic generator's mix), or `None` if the world is too empty.
    pub fn random_action(&self, rng: &mut impl Rng) -> Option<Action> {
        let roll = rng.random_range(0..100);
        let follows: Vec<&(String, String)> = if roll >= 40 { self.follows.keys().collect() } else { Vec::new() };
        let pick_follow = |rng: &mut dyn rand::RngCore| follows.choose(rng).map(|k| (k.0.clone(), k.1.clone()));
        Some(match roll {
            0..40 => {
                let way = self
                    .contact_ways
                    .values()
                    .filter(|w| w.user.iter().any(|u| self.users.get(u).is_some_and(|u| u.status == 1)))
                    .collect::<Vec<_>>();
                let way = way.choose(rng)?;
                Action::Scan { config_id: Some(way.config_id.clone()), state: None, external_userid: None, name: None }
            }
            40..50 => {
                let (e, u) = pick_follow(rng)?;
                Action::CustomerDeletesStaff { external_userid: e, userid: u }
            }
            50..55 => {
                let (e, u) = pick_follow(rng)?;
                Action::StaffDeletesCustomer { userid: u, external_userid: e }
            }
            55..70 => {
                let (e, u) = pick_follow(rng)?;
                let tag = self.tags.keys().collect::<Vec<_>>().choose(rng).map(|t| (*t).clone());
                Action::StaffEditsCustomer {
                    userid: u,
                    external_userid: e,
                    remark: Some(format!("备注{}", rng.random_range(0..100))),
                    add_tags: tag.into_iter().collect(),
                    remove_tags: vec![],
                }
            }
            70..85 => {
                let chat = self.groups.keys().collect::<Vec<_>>().choose(rng).map(|c| (*c).clone())?;
                let customer = self.customers.keys().collect::<Vec<_>>().choose(rng).map(|c| (*c).clone())?;
                if self.groups.get(&chat).is_some_and(|g| g.members.contains_key(&customer)) {
                    Action::LeaveGroup { chat_id: chat, member_id: customer }
                } else {
                    Action::JoinGroup { chat_id: chat, external_userid: customer }
                }
            }
            85..88 => {
                let owner = self
                    .users
                    .values()
                    .filter(|u| u.status == 1)
                    .collect::<Vec<_>>()
                    .choose(rng)
                    .map(|u| u.userid.clone())?;
                Action::CreateGroup { owner, name: format!("新品试饮群{}", rng.random_range(1..1000)) }
            }
            88..91 => {
                let chat = self.groups.keys().collect::<Vec<_>>().choose(rng).map(|c| (*c).clone())?;
                Action::RenameGroup { chat_id: chat, name: format!("会员群{}", rng.random_range(1..1000)) }
            }
            91..92 => {
                let chat = self.groups.keys().collect::<Vec<_>>().choose(rng).map(|c| (*c).clone())?;
                Action::DismissGroup { chat_id: chat }
            }
            92..96 => {
                let group = self.tag_groups.keys().collect::<Vec<_>>().choose(rng).map(|g| (*g).clone());
                Action::CreateTag {
                    group_name: group.is_none().then(|| "活动".to_owned()),
                    group_id: group,
                    name: format!("活动标签{}", rng.random_range(1..100_000)),
                }
            }
            96..98 => {
                let tag = self.tags.keys().collect::<Vec<_>>().choose(rng).map(|t| (*t).clone())?;
                Action::RenameTag { tag_id: tag, name: format!("改名标签{}", rng.random_range(1..100_000)) }
            }
            98 => {
                let tag = self.tags.keys().collect::<Vec<_>>().choose(rng).map(|t| (*t).clone())?;
                Action::DeleteTag { tag_id: tag }
            }
            _ => {
                let active: Vec<&User> = self.users.values().filter(|u| u.status == 1).collect();
                if active.len() < 5 {
                    return None;
                }
                Action::StaffResigns { userid: active.choose(rng)?.userid.clone() }
            }
        })
    }
}

/// Injected failures for one API path.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// e.g. `externalcontact/batch/get_by_user` (without `/cgi-bin/`).
    pub path: String,
    /// Answer this errcode (0 = only delay).
    #[serde(default)]
    pub errcode: i64,
    /// For this many calls.
    #[serde(default = "one_call")]
    pub count: u32,
    /// Delay each affected call by this long.
    #[serde(default)]
    pub delay_ms: u64,
    /// Carry the call out first, then delay and answer (with `errcode` when set): WeCom did the
    /// work but its answer came late or said otherwise — the caller cannot know it was done.
    #[serde(default)]
    pub applied: bool,
}

/// Calls that take effect but whose answer is held back: an answer late or lost on its way back,
/// so the caller cannot tell whether the call happened.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LateAnswer {
    /// e.g. `externalcontact/send_welcome_msg` (without `/cgi-bin/`).
    pub path: String,
    /// For this many calls.
    #[serde(default = "one_call")]
    pub count: u32,
    /// How long each answer waits after its call took effect.
    pub delay_ms: u64,
}

fn one_call() -> u32 {
    1
}

impl Default for Fault {
    /// One call to no path, answered normally: fill in what to inject.
    fn default() -> Self {
        Fault { path: String::new(), errcode: 0, count: one_call(), delay_ms: 0, applied: false }
    }
}

/// Pending faults per path, consumed in order.
pub type Faults = HashMap<String, VecDeque<Fault>>;
