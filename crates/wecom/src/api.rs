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

    /// Sets an employee's external profile (the business card customers see).
    pub async fn user_update_external_profile(&self, userid: &str, external_profile: &Value) -> Result<()> {
        self.post::<_, Empty>(
            "user/update",
            &serde_json::json!({"userid": userid, "external_profile": external_profile}),
        )
        .await
        .map(|_| ())
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

    /// Uploads an image for use in messages (`media/uploadimg`): JPG or PNG, 5 B to 2 MB. The URL
    /// it returns never expires (unlike `media/upload`'s media_id, valid 3 days), so welcome
    /// messages keep it as `image.pic_url`. WeCom allows 1,000 a day and 3,000 a month.
    pub async fn upload_image(&self, file: &crate::client::Upload<'_>) -> Result<String> {
        #[derive(Deserialize)]
        struct Uploaded {
            url: String,
        }
        Ok(self.upload::<Uploaded>("media/uploadimg", file).await?.url)
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

// ---- group welcome templates, mass messages, moments, transfers, statistics ----

/// A customer-group welcome template (text plus at most one attachment kind).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupWelcomeTemplate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub miniprogram: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video: Option<Value>,
}

/// A mass message to customers (`chat_type` single) or customer groups (`group`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct MsgTemplate {
    pub chat_type: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub external_userid: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub chat_id_list: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<Text>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct MsgTemplateCreated {
    #[serde(default)]
    pub msgid: String,
    #[serde(default)]
    pub fail_list: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GroupMsg {
    pub msgid: String,
    #[serde(default)]
    pub creator: String,
    #[serde(default)]
    pub create_time: i64,
    #[serde(default)]
    pub create_type: i64,
}

#[derive(Debug, Deserialize)]
pub struct GroupMsgList {
    #[serde(default)]
    pub group_msg_list: Vec<GroupMsg>,
    #[serde(default)]
    pub next_cursor: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GroupMsgTask {
    pub userid: String,
    /// 0 not sent yet, 2 sent.
    pub status: i64,
    #[serde(default)]
    pub send_time: i64,
}

#[derive(Debug, Deserialize)]
pub struct GroupMsgTasks {
    #[serde(default)]
    pub task_list: Vec<GroupMsgTask>,
    #[serde(default)]
    pub next_cursor: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GroupMsgSendResult {
    #[serde(default)]
    pub external_userid: String,
    #[serde(default)]
    pub chat_id: String,
    pub userid: String,
    /// 0 not sent, 1 sent, 2 not a friend, 3 over the receive limit.
    pub status: i64,
    #[serde(default)]
    pub send_time: i64,
}

#[derive(Debug, Deserialize)]
pub struct GroupMsgSendResults {
    #[serde(default)]
    pub send_list: Vec<GroupMsgSendResult>,
    #[serde(default)]
    pub next_cursor: String,
}

/// A moments (朋友圈) task.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MomentTask {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<Text>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Value>,
    /// `{"sender_list": {"user_list": [...], "department_list": [...]}, "external_contact_list": {"tag_list": [...]}}`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visible_range: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MomentTaskResult {
    /// 1 started, 2 running, 3 done.
    pub status: i64,
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub result: Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MomentPublishStatus {
    pub userid: String,
    /// 0 not published, 1 published.
    pub publish_status: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TransferOutcome {
    pub external_userid: String,
    pub errcode: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TransferStatus {
    pub external_userid: String,
    /// 1 taken over, 2 waiting, 3 refused by the customer, 4 takeover member over the limit.
    pub status: i64,
    #[serde(default)]
    pub takeover_time: i64,
}

#[derive(Debug, Deserialize)]
pub struct TransferResults {
    #[serde(default)]
    pub customer: Vec<TransferStatus>,
    #[serde(default)]
    pub next_cursor: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Unassigned {
    pub handover_userid: String,
    pub external_userid: String,
    #[serde(default)]
    pub dimission_time: i64,
}

#[derive(Debug, Deserialize)]
pub struct UnassignedPage {
    #[serde(default)]
    pub info: Vec<Unassigned>,
    #[serde(default)]
    pub is_last: bool,
    #[serde(default)]
    pub next_cursor: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BehaviorData {
    pub stat_time: i64,
    #[serde(default)]
    pub chat_cnt: i64,
    #[serde(default)]
    pub message_cnt: i64,
    #[serde(default)]
    pub new_apply_cnt: i64,
    #[serde(default)]
    pub new_contact_cnt: i64,
    #[serde(default)]
    pub negative_feedback_cnt: i64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GroupStatItem {
    pub owner: String,
    pub data: Value,
}

#[derive(Debug, Deserialize)]
pub struct GroupStats {
    #[serde(default)]
    pub total: i64,
    #[serde(default)]
    pub next_offset: i64,
    #[serde(default)]
    pub items: Vec<GroupStatItem>,
}

#[derive(Debug, Deserialize)]
struct FailedChats {
    #[serde(default)]
    failed_chat_list: Vec<Value>,
}

impl Client {
    pub async fn add_group_welcome_template(&self, t: &GroupWelcomeTemplate) -> Result<String> {
        #[derive(Deserialize)]
        struct R {
            template_id: String,
        }
        Ok(self.post::<_, R>("externalcontact/group_welcome_template/add", t).await?.template_id)
    }

    pub async fn edit_group_welcome_template(&self, template_id: &str, t: &GroupWelcomeTemplate) -> Result<()> {
        let mut body = serde_json::to_value(t).map_err(|e| WecomError::Decode(e.to_string()))?;
        body["template_id"] = Value::String(template_id.to_owned());
        self.post::<_, Empty>("externalcontact/group_welcome_template/edit", &body).await.map(|_| ())
    }

    pub async fn get_group_welcome_template(&self, template_id: &str) -> Result<GroupWelcomeTemplate> {
        self.post("externalcontact/group_welcome_template/get", &serde_json::json!({"template_id": template_id})).await
    }

    pub async fn del_group_welcome_template(&self, template_id: &str) -> Result<()> {
        self.post::<_, Empty>(
            "externalcontact/group_welcome_template/del",
            &serde_json::json!({"template_id": template_id}),
        )
        .await
        .map(|_| ())
    }

    /// Creates a mass-message task; employees still confirm sending in their client.
    pub async fn add_msg_template(&self, m: &MsgTemplate) -> Result<MsgTemplateCreated> {
        self.post("externalcontact/add_msg_template", m).await
    }

    pub async fn get_groupmsg_list_v2(
        &self,
        chat_type: &str,
        start_time: i64,
        end_time: i64,
        cursor: &str,
        limit: u32,
    ) -> Result<GroupMsgList> {
        self.post(
            "externalcontact/get_groupmsg_list_v2",
            &serde_json::json!({"chat_type": chat_type, "start_time": start_time, "end_time": end_time, "filter_type": 2, "cursor": cursor, "limit": limit}),
        )
        .await
    }

    pub async fn get_groupmsg_task(&self, msgid: &str, cursor: &str, limit: u32) -> Result<GroupMsgTasks> {
        self.post(
            "externalcontact/get_groupmsg_task",
            &serde_json::json!({"msgid": msgid, "cursor": cursor, "limit": limit}),
        )
        .await
    }

    pub async fn get_groupmsg_send_result(
        &self,
        msgid: &str,
        userid: &str,
        cursor: &str,
        limit: u32,
    ) -> Result<GroupMsgSendResults> {
        self.post(
            "externalcontact/get_groupmsg_send_result",
            &serde_json::json!({"msgid": msgid, "userid": userid, "cursor": cursor, "limit": limit}),
        )
        .await
    }

    /// Starts a moments task; returns the async job id.
    pub async fn add_moment_task(&self, t: &MomentTask) -> Result<String> {
        #[derive(Deserialize)]
        struct R {
            jobid: String,
        }
        Ok(self.post::<_, R>("externalcontact/add_moment_task", t).await?.jobid)
    }

    pub async fn get_moment_task_result(&self, jobid: &str) -> Result<MomentTaskResult> {
        self.get("externalcontact/get_moment_task_result", &[("jobid", jobid)]).await
    }

    /// Which employees have published a moment.
    pub async fn get_moment_task(&self, moment_id: &str) -> Result<Vec<MomentPublishStatus>> {
        #[derive(Deserialize)]
        struct R {
            #[serde(default)]
            task_list: Vec<MomentPublishStatus>,
        }
        Ok(self
            .post::<_, R>(
                "externalcontact/get_moment_task",
                &serde_json::json!({"moment_id": moment_id, "limit": 1000}),
            )
            .await?
            .task_list)
    }

    /// Hands customers from one employee to another (≤100 per call); `resigned` for a departed one.
    pub async fn transfer_customer(
        &self,
        resigned: bool,
        handover: &str,
        takeover: &str,
        external_userids: &[String],
    ) -> Result<Vec<TransferOutcome>> {
        #[derive(Deserialize)]
        struct R {
            #[serde(default)]
            customer: Vec<TransferOutcome>,
        }
        let path =
            if resigned { "externalcontact/resigned/transfer_customer" } else { "externalcontact/transfer_customer" };
        let body = serde_json::json!({"handover_userid": handover, "takeover_userid": takeover, "external_userid": external_userids});
        Ok(self.post::<_, R>(path, &body).await?.customer)
    }

    pub async fn transfer_result(
        &self,
        resigned: bool,
        handover: &str,
        takeover: &str,
        cursor: &str,
    ) -> Result<TransferResults> {
        let path =
            if resigned { "externalcontact/resigned/transfer_result" } else { "externalcontact/transfer_result" };
        self.post(
            path,
            &serde_json::json!({"handover_userid": handover, "takeover_userid": takeover, "cursor": cursor}),
        )
        .await
    }

    /// Customers of departed employees awaiting reassignment.
    pub async fn get_unassigned_list(&self, cursor: &str, page_size: u32) -> Result<UnassignedPage> {
        self.post("externalcontact/get_unassigned_list", &serde_json::json!({"cursor": cursor, "page_size": page_size}))
            .await
    }

    /// Moves customer groups to a new owner (`onjob` for a current owner). Returns the groups that failed.
    pub async fn transfer_group_chats(&self, onjob: bool, chat_ids: &[String], new_owner: &str) -> Result<Vec<Value>> {
        let path =
            if onjob { "externalcontact/groupchat/onjob_transfer" } else { "externalcontact/groupchat/transfer" };
        Ok(self
            .post::<_, FailedChats>(path, &serde_json::json!({"chat_id_list": chat_ids, "new_owner": new_owner}))
            .await?
            .failed_chat_list)
    }

    pub async fn get_user_behavior_data(
        &self,
        userids: &[String],
        start_time: i64,
        end_time: i64,
    ) -> Result<Vec<BehaviorData>> {
        #[derive(Deserialize)]
        struct R {
            #[serde(default)]
            behavior_data: Vec<BehaviorData>,
        }
        let body = serde_json::json!({"userid": userids, "start_time": start_time, "end_time": end_time});
        Ok(self.post::<_, R>("externalcontact/get_user_behavior_data", &body).await?.behavior_data)
    }

    pub async fn group_chat_statistic(
        &self,
        day_begin_time: i64,
        owners: &[String],
        offset: i64,
        limit: u32,
    ) -> Result<GroupStats> {
        self.post(
            "externalcontact/groupchat/statistic",
            &serde_json::json!({"day_begin_time": day_begin_time, "owner_filter": {"userid_list": owners}, "offset": offset, "limit": limit}),
        )
        .await
    }
}
