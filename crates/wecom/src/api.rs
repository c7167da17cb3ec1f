//! Typed requests and responses for the endpoints Pond uses, as methods on [`Client`].
//! Field names follow WeCom's JSON exactly; unknown fields in answers are ignored.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::client::{Client, WecomError};

type Result<T> = std::result::Result<T, WecomError>;

// ---- address book ----

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Department {
    pub id: i64,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub parentid: i64,
    #[serde(default)]
    pub order: i64,
}

#[derive(Debug, Deserialize)]
struct DepartmentList {
    #[serde(default)]
    department: Vec<Department>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub userid: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub department: Vec<i64>,
    #[serde(default)]
    pub position: String,
    #[serde(default)]
    pub mobile: String,
    /// 1 active, 2 disabled, 4 not activated, 5 resigned.
    #[serde(default = "one")]
    pub status: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_profile: Option<Value>,
}

fn one() -> i64 {
    1
}

#[derive(Debug, Deserialize)]
struct UserList {
    #[serde(default)]
    userlist: Vec<User>,
}

// ---- external contacts ----

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalContact {
    pub external_userid: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub avatar: String,
    /// 1 WeChat user, 2 WeCom user.
    #[serde(default = "one", rename = "type")]
    pub kind: i64,
    #[serde(default)]
    pub gender: i64,
    #[serde(default)]
    pub unionid: String,
    #[serde(default)]
    pub corp_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowTag {
    #[serde(default)]
    pub group_name: String,
    #[serde(default)]
    pub tag_name: String,
    #[serde(default)]
    pub tag_id: String,
    /// 1 corp tag, 2 personal tag, 3 strategy tag.
    #[serde(default = "one", rename = "type")]
    pub kind: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowUser {
    pub userid: String,
    #[serde(default)]
    pub remark: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub createtime: i64,
    #[serde(default)]
    pub tags: Vec<FollowTag>,
    #[serde(default)]
    pub add_way: i64,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub oper_userid: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ExternalContactDetail {
    pub external_contact: ExternalContact,
    #[serde(default)]
    pub follow_user: Vec<FollowUser>,
    #[serde(default)]
    pub next_cursor: String,
}

/// One customer with one employee's view of them (from `batch/get_by_user`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowInfo {
    pub userid: String,
    #[serde(default)]
    pub remark: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub createtime: i64,
    #[serde(default)]
    pub tag_id: Vec<String>,
    #[serde(default)]
    pub add_way: i64,
    #[serde(default)]
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ContactWithFollow {
    pub external_contact: ExternalContact,
    pub follow_info: FollowInfo,
}

#[derive(Debug, Deserialize)]
pub struct BatchByUser {
    #[serde(default)]
    pub external_contact_list: Vec<ContactWithFollow>,
    #[serde(default)]
    pub next_cursor: String,
}

// ---- corp tags ----

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorpTag {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub create_time: i64,
    #[serde(default)]
    pub order: i64,
    #[serde(default)]
    pub deleted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorpTagGroup {
    pub group_id: String,
    pub group_name: String,
    #[serde(default)]
    pub create_time: i64,
    #[serde(default)]
    pub order: i64,
    #[serde(default)]
    pub deleted: bool,
    #[serde(default)]
    pub tag: Vec<CorpTag>,
}

#[derive(Debug, Deserialize)]
struct TagGroups {
    #[serde(default)]
    tag_group: Vec<CorpTagGroup>,
}

#[derive(Debug, Deserialize)]
struct OneTagGroup {
    tag_group: CorpTagGroup,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct NewTag {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct AddCorpTag {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<i64>,
    pub tag: Vec<NewTag>,
}

// ---- contact ways ----

/// A 「联系我」 configuration, as sent to add/update and read from get.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactWay {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub config_id: String,
    /// 1 single, 2 multi.
    #[serde(rename = "type", default)]
    pub kind: i64,
    /// 1 mini-program, 2 QR code.
    #[serde(default)]
    pub scene: i64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub remark: String,
    #[serde(default = "yes")]
    pub skip_verify: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub state: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub party: Vec<i64>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub qr_code: String,
}

fn yes() -> bool {
    true
}

/// The fields `update_contact_way` overwrites; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ContactWayUpdate {
    pub config_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remark: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_verify: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub party: Option<Vec<i64>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ContactWayCreated {
    pub config_id: String,
    #[serde(default)]
    pub qr_code: String,
}

#[derive(Debug, Deserialize)]
struct ContactWayGet {
    contact_way: ContactWay,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ConfigId {
    pub config_id: String,
}

#[derive(Debug, Deserialize)]
pub struct ContactWayList {
    #[serde(default)]
    pub contact_way: Vec<ConfigId>,
    #[serde(default)]
    pub next_cursor: String,
}

// ---- welcome ----

/// Text and up to 9 attachments (`{"msgtype": "image", "image": {...}}` etc.).
#[derive(Debug, Clone, Default, Serialize)]
pub struct WelcomeMsg {
    pub welcome_code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<Text>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Text {
    pub content: String,
}

// ---- customer groups ----

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GroupChatStatus {
    pub chat_id: String,
    #[serde(default)]
    pub status: i64,
}

#[derive(Debug, Deserialize)]
pub struct GroupChatList {
    #[serde(default)]
    pub group_chat_list: Vec<GroupChatStatus>,
    #[serde(default)]
    pub next_cursor: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitor {
    #[serde(default)]
    pub userid: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMember {
    pub userid: String,
    /// 1 employee, 2 external contact.
    #[serde(rename = "type")]
    pub kind: i64,
    #[serde(default)]
    pub join_time: i64,
    #[serde(default)]
    pub join_scene: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invitor: Option<Invitor>,
    #[serde(default)]
    pub group_nickname: String,
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupChat {
    pub chat_id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub owner: String,
    #[serde(default)]
    pub create_time: i64,
    #[serde(default)]
    pub notice: String,
    #[serde(default)]
    pub member_list: Vec<GroupMember>,
}

#[derive(Debug, Deserialize)]
struct GroupChatGet {
    group_chat: GroupChat,
}

#[derive(Debug, Deserialize)]
struct Empty {}

impl Client {
    pub async fn department_list(&self, id: Option<i64>) -> Result<Vec<Department>> {
        let id = id.map(|i| i.to_string());
        let query: Vec<(&str, &str)> = id.as_deref().map(|i| vec![("id", i)]).unwrap_or_default();
        Ok(self.get::<DepartmentList>("department/list", &query).await?.department)
    }

    /// Members of a department and (with `fetch_child`) its sub-departments.
    pub async fn user_list(&self, department_id: i64, fetch_child: bool) -> Result<Vec<User>> {
        let dept = department_id.to_string();
        let child = if fetch_child { "1" } else { "0" };
        Ok(self.get::<UserList>("user/list", &[("department_id", &dept), ("fetch_child", child)]).await?.userlist)
    }

    pub async fn user_get(&self, userid: &str) -> Result<User> {
        self.get("user/get", &[("userid", userid)]).await
    }

    /// Members who have customer contact enabled.
    pub async fn follow_user_list(&self) -> Result<Vec<String>> {
        #[derive(Deserialize)]
        struct R {
            #[serde(default)]
            follow_user: Vec<String>,
        }
        Ok(self.get::<R>("externalcontact/get_follow_user_list", &[]).await?.follow_user)
    }

    pub async fn external_contact_list(&self, userid: &str) -> Result<Vec<String>> {
        #[derive(Deserialize)]
        struct R {
            #[serde(default)]
            external_userid: Vec<String>,
        }
        Ok(self.get::<R>("externalcontact/list", &[("userid", userid)]).await?.external_userid)
    }

    /// One customer with all follow users (pages through `next_cursor`).
    pub async fn external_contact_get(&self, external_userid: &str) -> Result<ExternalContactDetail> {
        let mut detail: ExternalContactDetail =
            self.get("externalcontact/get", &[("external_userid", external_userid)]).await?;
        while !detail.next_cursor.is_empty() {
            let next: ExternalContactDetail = self
                .get("externalcontact/get", &[("external_userid", external_userid), ("cursor", &detail.next_cursor)])
                .await?;
            detail.follow_user.extend(next.follow_user);
            detail.next_cursor = next.next_cursor;
        }
        Ok(detail)
    }

    /// One page of `batch/get_by_user` (≤100 users, ≤100 per page).
    pub async fn batch_get_by_user(&self, userids: &[String], cursor: &str, limit: u32) -> Result<BatchByUser> {
        self.post(
            "externalcontact/batch/get_by_user",
            &serde_json::json!({"userid_list": userids, "cursor": cursor, "limit": limit}),
        )
        .await
    }

    /// All pages of `batch/get_by_user`.
    pub async fn batch_get_by_user_all(&self, userids: &[String]) -> Result<Vec<ContactWithFollow>> {
        let mut out = Vec::new();
        let mut cursor = String::new();
        loop {
            let page = self.batch_get_by_user(userids, &cursor, 100).await?;
            out.extend(page.external_contact_list);
            if page.next_cursor.is_empty() {
                return Ok(out);
            }
            cursor = page.next_cursor;
        }
    }

    pub async fn remark(&self, userid: &str, external_userid: &str, remark: &str, description: &str) -> Result<()> {
        self.post::<_, Empty>(
            "externalcontact/remark",
            &serde_json::json!({"userid": userid, "external_userid": external_userid, "remark": remark, "description": description}),
        )
        .await
        .map(|_| ())
    }

    /// The tag library; filter by tag ids or group ids when given.
    pub async fn corp_tag_list(&self, tag_ids: &[String], group_ids: &[String]) -> Result<Vec<CorpTagGroup>> {
        Ok(self
            .post::<_, TagGroups>(
                "externalcontact/get_corp_tag_list",
                &serde_json::json!({"tag_id": tag_ids, "group_id": group_ids}),
            )
            .await?
            .tag_group)
    }

    pub async fn add_corp_tag(&self, req: &AddCorpTag) -> Result<CorpTagGroup> {
        Ok(self.post::<_, OneTagGroup>("externalcontact/add_corp_tag", req).await?.tag_group)
    }

    pub async fn edit_corp_tag(&self, id: &str, name: Option<&str>, order: Option<i64>) -> Result<()> {
        self.post::<_, Empty>(
            "externalcontact/edit_corp_tag",
            &serde_json::json!({"id": id, "name": name, "order": order}),
        )
        .await
        .map(|_| ())
    }

    pub async fn del_corp_tag(&self, tag_ids: &[String], group_ids: &[String]) -> Result<()> {
        self.post::<_, Empty>(
            "externalcontact/del_corp_tag",
            &serde_json::json!({"tag_id": tag_ids, "group_id": group_ids}),
        )
        .await
        .map(|_| ())
    }

    pub async fn mark_tag(&self, userid: &str, external_userid: &str, add: &[String], remove: &[String]) -> Result<()> {
        self.post::<_, Empty>(
            "externalcontact/mark_tag",
            &serde_json::json!({"userid": userid, "external_userid": external_userid, "add_tag": add, "remove_tag": remove}),
        )
        .await
        .map(|_| ())
    }

    pub async fn add_contact_way(&self, way: &ContactWay) -> Result<ContactWayCreated> {
        self.post("externalcontact/add_contact_way", way).await
    }

    pub async fn get_contact_way(&self, config_id: &str) -> Result<ContactWay> {
        Ok(self
            .post::<_, ContactWayGet>("externalcontact/get_contact_way", &serde_json::json!({"config_id": config_id}))
            .await?
            .contact_way)
    }

    /// Overwrites the given fields of a contact way.
    pub async fn update_contact_way(&self, way: &ContactWayUpdate) -> Result<()> {
        self.post::<_, Empty>("externalcontact/update_contact_way", way).await.map(|_| ())
    }

    pub async fn del_contact_way(&self, config_id: &str) -> Result<()> {
        self.post::<_, Empty>("externalcontact/del_contact_way", &serde_json::json!({"config_id": config_id}))
            .await
            .map(|_| ())
    }

    pub async fn list_contact_way(
        &self,
        start_time: Option<i64>,
        end_time: Option<i64>,
        cursor: &str,
        limit: u32,
    ) -> Result<ContactWayList> {
        self.post(
            "externalcontact/list_contact_way",
            &serde_json::json!({"start_time": start_time, "end_time": end_time, "cursor": cursor, "limit": limit}),
        )
        .await
    }

    pub async fn send_welcome_msg(&self, msg: &WelcomeMsg) -> Result<()> {
        self.post::<_, Empty>("externalcontact/send_welcome_msg", msg).await.map(|_| ())
    }

    pub async fn group_chat_list(&self, status_filter: i64, cursor: &str, limit: u32) -> Result<GroupChatList> {
        self.post(
            "externalcontact/groupchat/list",
            &serde_json::json!({"status_filter": status_filter, "cursor": cursor, "limit": limit}),
        )
        .await
    }

    /// Every customer group's id (all pages).
    pub async fn group_chat_list_all(&self) -> Result<Vec<GroupChatStatus>> {
        let mut out = Vec::new();
        let mut cursor = String::new();
        loop {
            let page = self.group_chat_list(0, &cursor, 1000).await?;
            out.extend(page.group_chat_list);
            if page.next_cursor.is_empty() {
                return Ok(out);
            }
            cursor = page.next_cursor;
        }
    }

    pub async fn group_chat_get(&self, chat_id: &str) -> Result<GroupChat> {
        Ok(self
            .post::<_, GroupChatGet>(
                "externalcontact/groupchat/get",
                &serde_json::json!({"chat_id": chat_id, "need_name": 1}),
            )
            .await?
            .group_chat)
    }

    /// Any other endpoint, untyped: POST `body` to `/cgi-bin/{path}` and return the JSON answer.
    pub async fn post_raw(&self, path: &str, body: &Value) -> Result<Value> {
        self.post(path, body).await
    }
}
