//! The `/cgi-bin/...` endpoints, answering as WeCom does: same paths, parameters, JSON shapes and
//! errcodes, token checks, a per-API frequency limit (45009) and injected faults.

use std::collections::{BTreeMap, BTreeSet};

use rand::Rng;
use serde::Deserialize;
use serde_json::{Value, json};
use wecom::api::ContactWay;

use crate::{
    SimState,
    world::{SimError, World},
};

/// Which secret a token was issued for: the customer-contact secret reaches only
/// `externalcontact/*`; the self-built app's secret reaches the address book too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Contact,
    App,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenInfo {
    pub scope: Scope,
    pub expires_at_ms: i64,
}

pub const TOKEN_TTL_S: i64 = 7200;
pub const WELCOME_CODE_TTL_MS: i64 = 20_000;

/// An errcode answer in WeCom's style.
pub fn error_body(e: &SimError) -> Value {
    json!({
        "errcode": e.errcode,
        "errmsg": format!("{}, hint: [sim{:x}], from ip: 127.0.0.1, more info at https://open.work.weixin.qq.com/devtool/query?e={}", e.errmsg, rand::rng().random::<u32>(), e.errcode),
    })
}

fn ok(mut v: Value) -> Value {
    if let Some(map) = v.as_object_mut() {
        map.insert("errcode".into(), json!(0));
        map.insert("errmsg".into(), json!("ok"));
    }
    v
}

fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn body_as<T: for<'de> Deserialize<'de>>(body: &Value) -> Result<T, SimError> {
    serde_json::from_value(body.clone()).map_err(|e| SimError::new(47001, format!("data format error: {e}")))
}

/// `gettoken`: the same token for a secret until it expires.
pub fn gettoken(state: &SimState, query: &[(String, String)]) -> Result<Value, SimError> {
    let corpid =
        param(query, "corpid").filter(|c| !c.is_empty()).ok_or_else(|| SimError::new(41002, "corpid missing"))?;
    let secret = param(query, "corpsecret")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| SimError::new(41004, "corpsecret missing"))?;
    let (creds, now) = {
        let world = state.world();
        (world.creds.clone(), world.now_ms())
    };
    if corpid != creds.corp_id {
        return Err(SimError::new(40013, "invalid corpid"));
    }
    let scope = if secret == creds.app_secret {
        Scope::App
    } else if secret == creds.contact_secret {
        Scope::Contact
    } else {
        return Err(SimError::new(40001, "invalid credential"));
    };
    let mut tokens = state.tokens.lock().unwrap_or_else(|e| e.into_inner());
    let existing = tokens
        .iter()
        .find(|(_, t)| t.scope == scope && t.expires_at_ms > now)
        .map(|(k, t)| (k.clone(), t.expires_at_ms));
    let (token, expires_at_ms) = match existing {
        Some(found) => found,
        None => {
            let token: String = (0..64)
                .map(|_| {
                    char::from(
                        b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
                            [rand::rng().random_range(0..64)],
                    )
                })
                .collect();
            let expires = now + TOKEN_TTL_S * 1000;
            tokens.insert(token.clone(), TokenInfo { scope, expires_at_ms: expires });
            (token, expires)
        }
    };
    Ok(ok(json!({"access_token": token, "expires_in": (expires_at_ms - now) / 1000})))
}

/// Checks `access_token` and returns its scope.
pub fn check_token(state: &SimState, query: &[(String, String)]) -> Result<Scope, SimError> {
    let token = param(query, "access_token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| SimError::new(41001, "access_token missing"))?;
    let now = state.world().now_ms();
    let tokens = state.tokens.lock().unwrap_or_else(|e| e.into_inner());
    let info = tokens.get(token).ok_or_else(|| SimError::new(40014, "invalid access_token"))?;
    if info.expires_at_ms <= now {
        return Err(SimError::new(42001, "access_token expired"));
    }
    Ok(info.scope)
}

/// Runs one business endpoint against the world.
pub fn dispatch(
    state: &SimState,
    path: &str,
    scope: Scope,
    query: &[(String, String)],
    body: &Value,
) -> Result<Value, SimError> {
    if (path.starts_with("user/") || path.starts_with("department/")) && scope != Scope::App {
        return Err(SimError::new(48002, "api forbidden: this secret may not read the address book"));
    }
    let mut world = state.world();
    let w: &mut World = &mut world;
    match path {
        "department/list" => {
            let root = param(query, "id").and_then(|v| v.parse::<i64>().ok());
            let mut ids: BTreeSet<i64> = match root {
                None => w.departments.keys().copied().collect(),
                Some(r) if w.departments.contains_key(&r) => descendants(w, r),
                Some(_) => return Err(SimError::new(60123, "invalid party id")),
            };
            ids.retain(|id| w.departments.contains_key(id));
            Ok(ok(json!({"department": ids.iter().filter_map(|id| w.departments.get(id)).collect::<Vec<_>>()})))
        }
        "user/list" | "user/simplelist" => {
            let dept = param(query, "department_id")
                .and_then(|v| v.parse::<i64>().ok())
                .ok_or_else(|| SimError::new(40058, "department_id required"))?;
            if !w.departments.contains_key(&dept) {
                return Err(SimError::new(60123, "invalid party id"));
            }
            let depts =
                if param(query, "fetch_child") == Some("1") { descendants(w, dept) } else { BTreeSet::from([dept]) };
            let users: Vec<_> =
                w.users.values().filter(|u| u.status == 1 && u.department.iter().any(|d| depts.contains(d))).collect();
            Ok(ok(json!({"userlist": users})))
        }
        "user/get" => {
            let userid = param(query, "userid").unwrap_or_default();
            let user = w
                .users
                .get(userid)
                .filter(|u| u.status == 1)
                .ok_or_else(|| SimError::new(60111, "userid not found"))?;
            Ok(ok(serde_json::to_value(user).unwrap_or_default()))
        }
        "user/update" => {
            let userid = body.get("userid").and_then(Value::as_str).unwrap_or_default().to_owned();
            active_user(w, &userid)?;
            if let Some(profile) = body.get("external_profile") {
                let attrs = profile.get("external_attr").and_then(Value::as_array).cloned().unwrap_or_default();
                for a in &attrs {
                    let kind = a.get("type").and_then(Value::as_i64).unwrap_or(-1);
                    let key = match kind {
                        0 => "text",
                        1 => "web",
                        2 => "miniprogram",
                        _ => {
                            return Err(SimError::new(
                                40058,
                                "external_attr type must be 0 (text), 1 (web) or 2 (miniprogram)",
                            ));
                        }
                    };
                    let name_ok =
                        a.get("name").and_then(Value::as_str).is_some_and(|n| !n.is_empty() && n.chars().count() <= 32);
                    if !name_ok || !a.get(key).is_some_and(Value::is_object) {
                        return Err(SimError::new(
                            40058,
                            format!("each external_attr needs a name (1-32 characters) and a {key} object"),
                        ));
                    }
                }
                if let Some(u) = w.users.get_mut(&userid) {
                    u.external_profile = Some(profile.clone());
                }
            }
            if let Some(p) = body.get("external_position").and_then(Value::as_str) {
                if p.chars().count() > 12 {
                    return Err(SimError::new(40058, "external_position is at most 12 characters"));
                }
                if let Some(u) = w.users.get_mut(&userid) {
                    let mut profile = u.external_profile.clone().unwrap_or_else(|| json!({}));
                    profile["external_position"] = json!(p);
                    u.external_profile = Some(profile);
                }
            }
            Ok(ok(json!({})))
        }
        "externalcontact/get_follow_user_list" => Ok(ok(json!({"follow_user": w.follow_user_ids()}))),
        "externalcontact/list" => {
            let userid = param(query, "userid").unwrap_or_default();
            active_user(w, userid)?;
            let ids: Vec<&String> = w.follows.keys().filter(|(_, u)| u == userid).map(|(e, _)| e).collect();
            if ids.is_empty() {
                return Err(SimError::new(84061, "not external contact"));
            }
            Ok(ok(json!({"external_userid": ids})))
        }
        "externalcontact/get" => {
            let id = param(query, "external_userid").unwrap_or_default();
            let contact = w.customers.get(id).ok_or_else(|| SimError::new(40096, "invalid external userid"))?;
            let follows = w.follow_users_of(id);
            if follows.is_empty() {
                return Err(SimError::new(84061, "not external contact"));
            }
            let start: usize = param(query, "cursor").and_then(|c| c.parse().ok()).unwrap_or(0);
            let page: Vec<_> = follows.iter().skip(start).take(500).collect();
            let next = if start + 500 < follows.len() { (start + 500).to_string() } else { String::new() };
            Ok(ok(json!({"external_contact": contact, "follow_user": page, "next_cursor": next})))
        }
        "externalcontact/batch/get_by_user" => {
            #[derive(Deserialize)]
            struct Req {
                #[serde(default)]
                userid_list: Vec<String>,
                #[serde(default)]
                cursor: String,
                #[serde(default)]
                limit: Option<usize>,
            }
            let req: Req = body_as(body)?;
            if req.userid_list.is_empty() || req.userid_list.len() > 100 {
                return Err(SimError::new(40058, "userid_list must hold 1 to 100 userids"));
            }
            let limit = req.limit.unwrap_or(50);
            if !(1..=100).contains(&limit) {
                return Err(SimError::new(40058, "limit must be 1..100"));
            }
            let wanted: BTreeSet<&String> = req.userid_list.iter().collect();
            let all: Vec<(&String, &String)> =
                w.follows.keys().filter(|(_, u)| wanted.contains(u)).map(|(e, u)| (e, u)).collect();
            let start: usize = if req.cursor.is_empty() {
                0
            } else {
                req.cursor.parse().map_err(|_| SimError::new(40058, "invalid cursor"))?
            };
            let list: Vec<Value> = all
                .iter()
                .skip(start)
                .take(limit)
                .filter_map(|(e, u)| {
                    Some(json!({"external_contact": w.customers.get(*e)?, "follow_info": w.follow_info(e, u)?}))
                })
                .collect();
            let next = if start + limit < all.len() { (start + limit).to_string() } else { String::new() };
            Ok(ok(json!({"external_contact_list": list, "next_cursor": next})))
        }
        "externalcontact/remark" => {
            #[derive(Deserialize)]
            struct Req {
                userid: String,
                external_userid: String,
                remark: Option<String>,
                description: Option<String>,
            }
            let req: Req = body_as(body)?;
            let f = w
                .follows
                .get_mut(&(req.external_userid, req.userid))
                .ok_or_else(|| SimError::new(84061, "not external contact"))?;
            if let Some(r) = req.remark {
                if r.chars().count() > 20 {
                    return Err(SimError::new(40058, "remark longer than 20 characters"));
                }
                f.remark = r;
            }
            if let Some(d) = req.description {
                f.description = d;
            }
            Ok(ok(json!({})))
        }
        "externalcontact/get_corp_tag_list" => {
            #[derive(Deserialize, Default)]
            struct Req {
                #[serde(default)]
                tag_id: Vec<String>,
                #[serde(default)]
                group_id: Vec<String>,
            }
            let req: Req = if body.is_null() { Req::default() } else { body_as(body)? };
            Ok(ok(json!({"tag_group": w.tag_library(&req.tag_id, &req.group_id)})))
        }
        "externalcontact/add_corp_tag" => {
            #[derive(Deserialize)]
            struct NewTag {
                name: String,
                #[serde(default)]
                order: Option<i64>,
            }
            #[derive(Deserialize)]
            struct Req {
                group_id: Option<String>,
                group_name: Option<String>,
                #[serde(default)]
                order: Option<i64>,
                #[serde(default)]
                tag: Vec<NewTag>,
            }
            let req: Req = body_as(body)?;
            if req.tag.is_empty() {
                return Err(SimError::new(40058, "tag list must not be empty"));
            }
            let mut rng = state.rng();
            let now = w.now_s();
            let group_id = match (req.group_id, req.group_name) {
                (Some(id), _) if !id.is_empty() => {
                    if !w.tag_groups.contains_key(&id) {
                        return Err(SimError::new(40068, "invalid tag group id"));
                    }
                    id
                }
                (_, Some(name)) if !name.is_empty() => match w.tag_groups.iter().find(|(_, g)| g.name == name) {
                    Some((id, _)) => id.clone(),
                    None => {
                        let id = format!("et{:030x}", rng.random::<u128>() >> 8);
                        w.tag_groups.insert(
                            id.clone(),
                            crate::world::TagGroup { name, order: req.order.unwrap_or(0), create_time: now },
                        );
                        id
                    }
                },
                _ => return Err(SimError::new(40058, "group_id or group_name required")),
            };
            for t in &req.tag {
                if t.name.trim().is_empty() || t.name.chars().count() > 30 {
                    return Err(SimError::new(40058, "tag name must be 1 to 30 characters"));
                }
                if w.tags.values().any(|x| x.group_id == group_id && x.name == t.name) {
                    return Err(SimError::new(40071, "tag name already exists"));
                }
            }
            for t in req.tag {
                let id = format!("et{:030x}", rng.random::<u128>() >> 8);
                w.tags.insert(
                    id,
                    crate::world::Tag {
                        group_id: group_id.clone(),
                        name: t.name,
                        order: t.order.unwrap_or(0),
                        create_time: now,
                    },
                );
            }
            let group = w.tag_library(&[], std::slice::from_ref(&group_id)).into_iter().next();
            Ok(ok(json!({"tag_group": group})))
        }
        "externalcontact/edit_corp_tag" => {
            #[derive(Deserialize)]
            struct Req {
                id: String,
                name: Option<String>,
                order: Option<i64>,
            }
            let req: Req = body_as(body)?;
            if let Some(t) = w.tags.get_mut(&req.id) {
                if let Some(n) = req.name {
                    t.name = n;
                }
                if let Some(o) = req.order {
                    t.order = o;
                }
            } else if let Some(g) = w.tag_groups.get_mut(&req.id) {
                if let Some(n) = req.name {
                    g.name = n;
                }
                if let Some(o) = req.order {
                    g.order = o;
                }
            } else {
                return Err(SimError::new(40068, "invalid tagid"));
            }
            Ok(ok(json!({})))
        }
        "externalcontact/del_corp_tag" => {
            #[derive(Deserialize)]
            struct Req {
                #[serde(default)]
                tag_id: Vec<String>,
                #[serde(default)]
                group_id: Vec<String>,
            }
            let req: Req = body_as(body)?;
            if req.tag_id.is_empty() && req.group_id.is_empty() {
                return Err(SimError::new(40058, "tag_id or group_id required"));
            }
            for id in req.tag_id.iter().chain(&req.group_id) {
                if !w.tags.contains_key(id) && !w.tag_groups.contains_key(id) {
                    return Err(SimError::new(40068, "invalid tagid"));
                }
            }
            let mut doomed: BTreeSet<String> = req.tag_id.into_iter().collect();
            for g in &req.group_id {
                doomed.extend(w.tags.iter().filter(|(_, t)| &t.group_id == g).map(|(id, _)| id.clone()));
                w.tag_groups.remove(g);
            }
            for id in &doomed {
                if let Some(t) = w.tags.remove(id)
                    && !w.tags.values().any(|x| x.group_id == t.group_id)
                {
                    w.tag_groups.remove(&t.group_id);
                }
            }
            for f in w.follows.values_mut() {
                f.tags.retain(|t| !doomed.contains(t));
            }
            Ok(ok(json!({})))
        }
        "externalcontact/mark_tag" => {
            #[derive(Deserialize)]
            struct Req {
                userid: String,
                external_userid: String,
                #[serde(default)]
                add_tag: Vec<String>,
                #[serde(default)]
                remove_tag: Vec<String>,
            }
            let req: Req = body_as(body)?;
            if req.add_tag.is_empty() && req.remove_tag.is_empty() {
                return Err(SimError::new(40058, "add_tag or remove_tag required"));
            }
            for t in req.add_tag.iter().chain(&req.remove_tag) {
                if !w.tags.contains_key(t) {
                    return Err(SimError::new(40068, "invalid tagid"));
                }
            }
            let f = w
                .follows
                .get_mut(&(req.external_userid, req.userid))
                .ok_or_else(|| SimError::new(84061, "not external contact"))?;
            f.tags.extend(req.add_tag);
            for t in &req.remove_tag {
                f.tags.remove(t);
            }
            Ok(ok(json!({})))
        }
        "externalcontact/add_contact_way" => {
            let way: ContactWay = body_as(body)?;
            if body.get("type").is_none() {
                return Err(SimError::new(41037, "missing contact way type"));
            }
            validate_way(w, &way, true)?;
            if w.contact_ways.len() >= w.contact_way_quota {
                // 41045 API添加「联系我」达到数量上限 (errcode table, document 90313).
                return Err(SimError::new(41045, "contact way quota exhausted"));
            }
            let config_id = format!("{:032x}", state.rng().random::<u128>());
            let qr = if way.scene == 2 { state.qr_url(&config_id) } else { String::new() };
            w.contact_way_created.insert(config_id.clone(), w.now_s());
            w.contact_ways
                .insert(config_id.clone(), ContactWay { config_id: config_id.clone(), qr_code: qr.clone(), ..way });
            Ok(ok(json!({"config_id": config_id, "qr_code": qr})))
        }
        "externalcontact/get_contact_way" => {
            let id = body.get("config_id").and_then(Value::as_str).unwrap_or_default();
            let way = w.contact_ways.get(id).ok_or_else(|| SimError::new(41044, "invalid config_id"))?;
            Ok(ok(json!({"contact_way": way})))
        }
        "externalcontact/update_contact_way" => {
            let id = body.get("config_id").and_then(Value::as_str).unwrap_or_default().to_owned();
            let mut way = w.contact_ways.get(&id).cloned().ok_or_else(|| SimError::new(41044, "invalid config_id"))?;
            let obj = body.as_object().cloned().unwrap_or_default();
            if let Some(v) = obj.get("remark").and_then(Value::as_str) {
                way.remark = v.to_owned();
            }
            if let Some(v) = obj.get("skip_verify").and_then(Value::as_bool) {
                way.skip_verify = v;
            }
            if let Some(v) = obj.get("state").and_then(Value::as_str) {
                way.state = v.to_owned();
            }
            if let Some(v) = obj.get("user") {
                way.user = serde_json::from_value(v.clone())
                    .map_err(|_| SimError::new(40058, "user must be a list of userids"))?;
            }
            if let Some(v) = obj.get("party") {
                way.party = serde_json::from_value(v.clone())
                    .map_err(|_| SimError::new(40058, "party must be a list of ids"))?;
            }
            validate_way(w, &way, false)?;
            w.contact_ways.insert(id, way);
            Ok(ok(json!({})))
        }
        "externalcontact/del_contact_way" => {
            let id = body.get("config_id").and_then(Value::as_str).unwrap_or_default();
            w.contact_ways.remove(id).ok_or_else(|| SimError::new(41044, "invalid config_id"))?;
            w.contact_way_created.remove(id);
            Ok(ok(json!({})))
        }
        "externalcontact/list_contact_way" => {
            let limit = body.get("limit").and_then(Value::as_u64).unwrap_or(100) as usize;
            if !(1..=1000).contains(&limit) {
                return Err(SimError::new(40058, "limit must be 1..1000"));
            }
            // Created in [start_time, end_time] (seconds; by default the last 90 days).
            let now = w.now_s();
            let from = body.get("start_time").and_then(Value::as_i64).unwrap_or(now - 90 * 86_400);
            let to = body.get("end_time").and_then(Value::as_i64).unwrap_or(now);
            let within: Vec<&String> = w
                .contact_ways
                .keys()
                .filter(|id| w.contact_way_created.get(*id).is_some_and(|t| (from..=to).contains(t)))
                .collect();
            let start = cursor_start(body);
            let ids: Vec<Value> = within.iter().skip(start).take(limit).map(|id| json!({"config_id": id})).collect();
            let next =
                if start.saturating_add(limit) < within.len() { (start + limit).to_string() } else { String::new() };
            Ok(ok(json!({"contact_way": ids, "next_cursor": next})))
        }
        "externalcontact/send_welcome_msg" => {
            // Errcodes from WeCom's global table (document 90313, as generated into xen0n/go-workwx
            // errcodes/mod.go): 41049 缺少欢迎语code参数; 41050 无效的欢迎语code — "welcome_code具有
            // 时效性，须在添加好友后20秒内使用", so an unknown and an expired code answer the same.
            let code = body.get("welcome_code").and_then(Value::as_str).unwrap_or_default().to_owned();
            if code.is_empty() {
                return Err(SimError::new(41049, "missing welcome_code"));
            }
            let has_text = body.pointer("/text/content").and_then(Value::as_str).is_some_and(|t| !t.is_empty());
            let attachments = body.get("attachments").and_then(Value::as_array).map_or(0, Vec::len);
            if !has_text && attachments == 0 {
                return Err(SimError::new(40058, "text and attachments cannot both be empty"));
            }
            if attachments > 9 {
                return Err(SimError::new(40058, "at most 9 attachments"));
            }
            let now = w.now_ms();
            let entry = w.welcome_codes.get_mut(&code).ok_or_else(|| SimError::new(41050, "invalid welcome_code"))?;
            entry.send_attempts += 1;
            if entry.used {
                return Err(SimError::new(41051, "externaluser has started chatting"));
            }
            if now - entry.issued_at_ms > WELCOME_CODE_TTL_MS {
                return Err(SimError::new(41050, "invalid welcome_code: expired (valid 20 s after the add)"));
            }
            entry.used = true;
            entry.used_at_ms = Some(now);
            let sent = crate::world::SentWelcome {
                userid: entry.userid.clone(),
                external_userid: entry.external_userid.clone(),
                body: body.clone(),
                at_ms: now,
            };
            w.welcomes_sent.push(sent);
            Ok(ok(json!({})))
        }
        "externalcontact/groupchat/list" => {
            let limit = body.get("limit").and_then(Value::as_u64).unwrap_or(0) as usize;
            if !(1..=1000).contains(&limit) {
                return Err(SimError::new(40058, "limit must be 1..1000"));
            }
            let owners: Vec<String> = body
                .pointer("/owner_filter/userid_list")
                .and_then(|v| serde_json::from_value(v.clone()).ok())
                .unwrap_or_default();
            let all: Vec<&String> = w
                .groups
                .iter()
                .filter(|(_, g)| owners.is_empty() || owners.contains(&g.owner))
                .map(|(id, _)| id)
                .collect();
            let start = cursor_start(body);
            let list: Vec<Value> =
                all.iter().skip(start).take(limit).map(|id| json!({"chat_id": id, "status": 0})).collect();
            let next =
                if start.saturating_add(limit) < all.len() { (start + limit).to_string() } else { String::new() };
            Ok(ok(json!({"group_chat_list": list, "next_cursor": next})))
        }
        "externalcontact/groupchat/get" => {
            let id = body.get("chat_id").and_then(Value::as_str).unwrap_or_default();
            let chat = w.group_chat(id).ok_or_else(|| SimError::new(40050, "chatid not exist"))?;
            Ok(ok(json!({"group_chat": chat})))
        }
        "externalcontact/group_welcome_template/add" => {
            let t = welcome_template(body)?;
            if w.group_welcome_templates.len() >= 100 {
                return Err(SimError::new(40058, "at most 100 group welcome templates per corp"));
            }
            let id = format!("msg{:024x}", state.rng().random::<u128>() >> 32);
            w.group_welcome_templates.insert(id.clone(), t);
            Ok(ok(json!({"template_id": id})))
        }
        "externalcontact/group_welcome_template/edit" => {
            let id = body.get("template_id").and_then(Value::as_str).unwrap_or_default().to_owned();
            if !w.group_welcome_templates.contains_key(&id) {
                return Err(SimError::new(40058, "invalid template_id"));
            }
            let t = welcome_template(body)?;
            w.group_welcome_templates.insert(id, t);
            Ok(ok(json!({})))
        }
        "externalcontact/group_welcome_template/get" => {
            let id = body.get("template_id").and_then(Value::as_str).unwrap_or_default();
            let t = w
                .group_welcome_templates
                .get(id)
                .cloned()
                .ok_or_else(|| SimError::new(40058, "invalid template_id"))?;
            Ok(ok(t))
        }
        "externalcontact/group_welcome_template/del" => {
            let id = body.get("template_id").and_then(Value::as_str).unwrap_or_default();
            w.group_welcome_templates.remove(id).ok_or_else(|| SimError::new(40058, "invalid template_id"))?;
            Ok(ok(json!({})))
        }
        "externalcontact/add_msg_template" => {
            let chat_type = body.get("chat_type").and_then(Value::as_str).unwrap_or("single").to_owned();
            let has_text = body.pointer("/text/content").and_then(Value::as_str).is_some_and(|t| !t.is_empty());
            let attachments = body.get("attachments").and_then(Value::as_array).map_or(0, Vec::len);
            if !has_text && attachments == 0 {
                return Err(SimError::new(40058, "text and attachments cannot both be empty"));
            }
            if attachments > 9 {
                return Err(SimError::new(40058, "at most 9 attachments"));
            }
            let sender = body.get("sender").and_then(Value::as_str).map(str::to_owned);
            let list = |k: &str| -> Vec<String> {
                body.get(k).and_then(|v| serde_json::from_value(v.clone()).ok()).unwrap_or_default()
            };
            let mut targets = Vec::new();
            let mut fail_list = Vec::new();
            match chat_type.as_str() {
                "single" => {
                    let ids = list("external_userid");
                    if ids.is_empty() || ids.len() > 10_000 {
                        return Err(SimError::new(40058, "external_userid must list 1 to 10000 customers"));
                    }
                    for e in ids {
                        let follower = w
                            .follows
                            .keys()
                            .find(|(c, u)| *c == e && sender.as_ref().is_none_or(|s| s == u))
                            .map(|(_, u)| u.clone());
                        match follower {
                            Some(u) => targets.push((u, e)),
                            None => fail_list.push(e),
                        }
                    }
                }
                "group" => {
                    let owner =
                        sender.clone().ok_or_else(|| SimError::new(40058, "sender is required for group messages"))?;
                    let ids = list("chat_id_list");
                    if ids.is_empty() || ids.len() > 2000 {
                        return Err(SimError::new(40058, "chat_id_list must list 1 to 2000 groups"));
                    }
                    for c in ids {
                        if w.groups.get(&c).is_some_and(|g| g.owner == owner) {
                            targets.push((owner.clone(), c));
                        } else {
                            fail_list.push(c);
                        }
                    }
                }
                _ => return Err(SimError::new(40058, "chat_type must be single or group")),
            }
            let msgid = format!("msg{:024x}", state.rng().random::<u128>() >> 32);
            let now = w.now_s();
            w.mass_messages.insert(
                msgid.clone(),
                crate::world::MassMessage {
                    creator: sender.unwrap_or_default(),
                    chat_type,
                    create_time: now,
                    body: body.clone(),
                    targets,
                    sent: Default::default(),
                },
            );
            Ok(ok(json!({"msgid": msgid, "fail_list": fail_list})))
        }
        "externalcontact/get_groupmsg_list_v2" => {
            let chat_type = body.get("chat_type").and_then(Value::as_str).unwrap_or("single");
            let start = body.get("start_time").and_then(Value::as_i64).unwrap_or(0);
            let end = body.get("end_time").and_then(Value::as_i64).unwrap_or(i64::MAX);
            if end < start || end - start > 31 * 86_400 {
                return Err(SimError::new(40058, "the time range must be at most one month"));
            }
            let limit = body.get("limit").and_then(Value::as_u64).unwrap_or(50) as usize;
            if !(1..=100).contains(&limit) {
                return Err(SimError::new(40058, "limit must be 1..100"));
            }
            let creator = body.get("creator").and_then(Value::as_str);
            let all: Vec<Value> = w
                .mass_messages
                .iter()
                .filter(|(_, m)| m.chat_type == chat_type && m.create_time >= start && m.create_time <= end && creator.is_none_or(|c| c == m.creator))
                .map(|(id, m)| json!({"msgid": id, "creator": m.creator, "create_time": m.create_time, "create_type": 0, "text": m.body.get("text"), "attachments": m.body.get("attachments")}))
                .collect();
            Ok(ok(page(all, body, limit, "group_msg_list")))
        }
        "externalcontact/get_groupmsg_task" => {
            let id = body.get("msgid").and_then(Value::as_str).unwrap_or_default();
            let m = w.mass_messages.get(id).ok_or_else(|| SimError::new(40058, "invalid msgid"))?;
            let senders: BTreeSet<&String> = m.targets.iter().map(|(u, _)| u).collect();
            let tasks: Vec<Value> = senders
                .into_iter()
                .map(|u| match m.sent.get(u) {
                    Some(t) => json!({"userid": u, "status": 2, "send_time": t}),
                    None => json!({"userid": u, "status": 0}),
                })
                .collect();
            Ok(ok(page(tasks, body, 1000, "task_list")))
        }
        "externalcontact/get_groupmsg_send_result" => {
            let id = body.get("msgid").and_then(Value::as_str).unwrap_or_default();
            let userid = body.get("userid").and_then(Value::as_str).unwrap_or_default();
            let m = w.mass_messages.get(id).ok_or_else(|| SimError::new(40058, "invalid msgid"))?;
            let sent = m.sent.get(userid);
            let key = if m.chat_type == "group" { "chat_id" } else { "external_userid" };
            let results: Vec<Value> = m
                .targets
                .iter()
                .filter(|(u, _)| u == userid)
                .map(|(u, t)| match sent {
                    Some(at) => json!({key: t, "userid": u, "status": 1, "send_time": at}),
                    None => json!({key: t, "userid": u, "status": 0}),
                })
                .collect();
            Ok(ok(page(results, body, 1000, "send_list")))
        }
        "externalcontact/add_moment_task" => {
            let has_text = body.pointer("/text/content").and_then(Value::as_str).is_some_and(|t| !t.is_empty());
            let attachments = body.get("attachments").and_then(Value::as_array).cloned().unwrap_or_default();
            if !has_text && attachments.is_empty() {
                return Err(SimError::new(40058, "text and attachments cannot both be empty"));
            }
            let kinds: Vec<&str> =
                attachments.iter().filter_map(|a| a.get("msgtype").and_then(Value::as_str)).collect();
            let images = kinds.iter().filter(|k| **k == "image").count();
            let ok_mix =
                (images == kinds.len() && images <= 9) || (kinds.len() == 1 && matches!(kinds[0], "video" | "link"));
            if !ok_mix {
                return Err(SimError::new(40058, "attachments must be up to 9 images, or one video, or one link"));
            }
            let wanted: Vec<String> = body
                .pointer("/visible_range/sender_list/user_list")
                .and_then(|v| serde_json::from_value(v.clone()).ok())
                .unwrap_or_default();
            let (senders, invalid): (Vec<String>, Vec<String>) = if wanted.is_empty() {
                (w.follow_user_ids(), vec![])
            } else {
                wanted.into_iter().partition(|u| w.users.get(u).is_some_and(|x| x.status == 1))
            };
            let moment_id = format!("mom{:024x}", state.rng().random::<u128>() >> 32);
            let jobid = format!("job{:024x}", state.rng().random::<u128>() >> 32);
            let now = w.now_s();
            w.moments.insert(
                moment_id.clone(),
                crate::world::Moment { create_time: now, body: body.clone(), senders, published: Default::default() },
            );
            w.moment_jobs.insert(jobid.clone(), (moment_id, invalid));
            Ok(ok(json!({"jobid": jobid})))
        }
        "externalcontact/get_moment_task_result" => {
            let jobid = param(query, "jobid").unwrap_or_default();
            let (moment_id, invalid) =
                w.moment_jobs.get(jobid).cloned().ok_or_else(|| SimError::new(40058, "invalid jobid"))?;
            Ok(ok(
                json!({"status": 3, "type": "add_moment_task", "result": {"errcode": 0, "errmsg": "ok", "moment_id": moment_id,
                "invalid_sender_list": {"user_list": invalid, "department_list": []}, "invalid_external_contact_list": {"tag_list": []}}}),
            ))
        }
        "externalcontact/get_moment_task" => {
            let id = body.get("moment_id").and_then(Value::as_str).unwrap_or_default();
            let m = w.moments.get(id).ok_or_else(|| SimError::new(40058, "invalid moment_id"))?;
            let tasks: Vec<Value> = m
                .senders
                .iter()
                .map(|u| json!({"userid": u, "publish_status": i64::from(m.published.contains_key(u))}))
                .collect();
            Ok(ok(page(tasks, body, 1000, "task_list")))
        }
        "externalcontact/transfer_customer" | "externalcontact/resigned/transfer_customer" => {
            let resigned = path.contains("resigned");
            let handover = body.get("handover_userid").and_then(Value::as_str).unwrap_or_default().to_owned();
            let takeover = body.get("takeover_userid").and_then(Value::as_str).unwrap_or_default().to_owned();
            let ids: Vec<String> =
                body.get("external_userid").and_then(|v| serde_json::from_value(v.clone()).ok()).unwrap_or_default();
            if ids.is_empty() || ids.len() > 100 {
                return Err(SimError::new(40058, "external_userid must list 1 to 100 customers"));
            }
            let handover_status = w
                .users
                .get(&handover)
                .map(|u| u.status)
                .ok_or_else(|| SimError::new(60111, "handover userid not found"))?;
            if resigned != (handover_status == 5) {
                return Err(SimError::new(
                    40058,
                    if resigned {
                        "handover_userid has not resigned"
                    } else {
                        "handover_userid has resigned: use resigned/transfer_customer"
                    },
                ));
            }
            active_user(w, &takeover)?;
            let now = w.now_s();
            let mut results = Vec::new();
            for e in ids {
                let code = if !w.customers.contains_key(&e) {
                    40096
                } else if (resigned && !w.unassigned.iter().any(|(h, x, _)| *h == handover && *x == e))
                    || (!resigned && !w.follows.contains_key(&(e.clone(), handover.clone())))
                {
                    84061
                } else if w.transfers.iter().any(|t| t.external_userid == e && t.status == 2) {
                    40058
                } else {
                    w.transfers.push(crate::world::Transfer {
                        resigned,
                        handover: handover.clone(),
                        takeover: takeover.clone(),
                        external_userid: e.clone(),
                        status: 2,
                        start_time: now,
                        takeover_time: 0,
                    });
                    0
                };
                results.push(json!({"external_userid": e, "errcode": code}));
            }
            Ok(ok(json!({"customer": results})))
        }
        "externalcontact/transfer_result" | "externalcontact/resigned/transfer_result" => {
            let resigned = path.contains("resigned");
            let handover = body.get("handover_userid").and_then(Value::as_str).unwrap_or_default();
            let takeover = body.get("takeover_userid").and_then(Value::as_str).unwrap_or_default();
            let list: Vec<Value> = w
                .transfers
                .iter()
                .filter(|t| t.resigned == resigned && t.handover == handover && t.takeover == takeover)
                .map(|t| json!({"external_userid": t.external_userid, "status": t.status, "takeover_time": t.takeover_time}))
                .collect();
            Ok(ok(page(list, body, 1000, "customer")))
        }
        "externalcontact/groupchat/transfer" | "externalcontact/groupchat/onjob_transfer" => {
            let onjob = path.ends_with("onjob_transfer");
            let ids: Vec<String> =
                body.get("chat_id_list").and_then(|v| serde_json::from_value(v.clone()).ok()).unwrap_or_default();
            if ids.is_empty() || ids.len() > 100 {
                return Err(SimError::new(40058, "chat_id_list must list 1 to 100 groups"));
            }
            let new_owner = body.get("new_owner").and_then(Value::as_str).unwrap_or_default().to_owned();
            active_user(w, &new_owner)?;
            let now = w.now_s();
            let mut failed = Vec::new();
            for c in ids {
                let owner_active = w.groups.get(&c).and_then(|g| w.users.get(&g.owner)).map(|u| u.status == 1);
                let problem = match owner_active {
                    None => Some((40050, "chatid not exist")),
                    Some(active) if active != onjob => Some((
                        40058,
                        if onjob { "owner has resigned: use groupchat/transfer" } else { "owner has not resigned" },
                    )),
                    _ => None,
                };
                match problem {
                    Some((code, msg)) => failed.push(json!({"chat_id": c, "errcode": code, "errmsg": msg})),
                    None => {
                        if let Some(g) = w.groups.get_mut(&c) {
                            g.owner = new_owner.clone();
                            g.members.entry(new_owner.clone()).or_insert(crate::world::Member {
                                kind: 1,
                                join_time: now,
                                join_scene: 1,
                                invitor: String::new(),
                            });
                        }
                    }
                }
            }
            Ok(ok(json!({"failed_chat_list": failed})))
        }
        "externalcontact/get_user_behavior_data" => {
            let users: Vec<String> =
                body.get("userid").and_then(|v| serde_json::from_value(v.clone()).ok()).unwrap_or_default();
            let start = body.get("start_time").and_then(Value::as_i64).unwrap_or(0);
            let end = body.get("end_time").and_then(Value::as_i64).unwrap_or(0);
            if users.is_empty() || end < start || end - start > 30 * 86_400 {
                return Err(SimError::new(40058, "userid required and the range must be at most 30 days"));
            }
            let day = |t: i64| (t + 8 * 3600).div_euclid(86_400) * 86_400 - 8 * 3600;
            let mut data = Vec::new();
            let mut d = day(start);
            while d <= end {
                let added = w
                    .follows
                    .iter()
                    .filter(|((_, u), f)| users.contains(u) && f.createtime >= d && f.createtime < d + 86_400)
                    .count();
                data.push(json!({"stat_time": d, "chat_cnt": 0, "message_cnt": 0, "reply_percentage": 0.0, "avg_reply_time": 0,
                                 "negative_feedback_cnt": 0, "new_apply_cnt": added, "new_contact_cnt": added}));
                d += 86_400;
            }
            Ok(ok(json!({"behavior_data": data})))
        }
        "externalcontact/groupchat/statistic" => {
            let begin = body
                .get("day_begin_time")
                .and_then(Value::as_i64)
                .ok_or_else(|| SimError::new(40058, "day_begin_time required"))?;
            let owners: Vec<String> = body
                .pointer("/owner_filter/userid_list")
                .and_then(|v| serde_json::from_value(v.clone()).ok())
                .unwrap_or_default();
            let limit = body.get("limit").and_then(Value::as_u64).unwrap_or(500) as usize;
            if !(1..=1000).contains(&limit) {
                return Err(SimError::new(40058, "limit must be 1..1000"));
            }
            let offset = body.get("offset").and_then(Value::as_u64).unwrap_or(0) as usize;
            let mut by_owner: BTreeMap<String, (i64, i64, i64, i64)> = BTreeMap::new();
            for g in w.groups.values().filter(|g| owners.is_empty() || owners.contains(&g.owner)) {
                let e = by_owner.entry(g.owner.clone()).or_default();
                e.0 += 1;
                e.1 += g.members.len() as i64;
                e.2 += i64::from(g.create_time >= begin && g.create_time < begin + 86_400);
                e.3 +=
                    g.members.values().filter(|m| m.join_time >= begin && m.join_time < begin + 86_400).count() as i64;
            }
            let total = by_owner.len();
            let items: Vec<Value> = by_owner
                .into_iter()
                .skip(offset)
                .take(limit)
                .map(|(owner, (chats, members, new_chats, new_members))| json!({"owner": owner, "data": {"chat_total": chats, "member_total": members,
                    "new_chat_cnt": new_chats, "new_member_cnt": new_members, "chat_has_msg": 0, "member_has_msg": 0, "msg_total": 0, "migrate_trainee_chat_cnt": 0}}))
                .collect();
            let next = if offset + limit < total { (offset + limit) as i64 } else { 0 };
            Ok(ok(json!({"total": total, "next_offset": next, "items": items})))
        }
        "externalcontact/get_unassigned_list" => {
            let size = body.get("page_size").and_then(Value::as_u64).unwrap_or(1000) as usize;
            if !(1..=1000).contains(&size) {
                return Err(SimError::new(40058, "page_size must be 1..1000"));
            }
            let start = cursor_start(body);
            let info: Vec<Value> = w
                .unassigned
                .iter()
                .skip(start)
                .take(size)
                .map(|(h, e, t)| json!({"handover_userid": h, "external_userid": e, "dimission_time": t}))
                .collect();
            let end = start.saturating_add(size) >= w.unassigned.len();
            Ok(ok(
                json!({"info": info, "is_last": end, "next_cursor": if end { String::new() } else { (start + size).to_string() }}),
            ))
        }
        _ => Err(SimError::new(48001, format!("api {path} is not served by the Pond WeCom simulator"))),
    }
}

/// A group welcome template: text and/or exactly one attachment kind.
fn welcome_template(body: &Value) -> Result<Value, SimError> {
    let kinds = ["image", "link", "miniprogram", "file", "video"];
    let attached: Vec<&str> = kinds.iter().copied().filter(|k| body.get(*k).is_some_and(Value::is_object)).collect();
    let has_text = body.pointer("/text/content").and_then(Value::as_str).is_some_and(|t| !t.is_empty());
    if !has_text && attached.is_empty() {
        return Err(SimError::new(40058, "text and attachment cannot both be empty"));
    }
    if attached.len() > 1 {
        return Err(SimError::new(40058, "at most one of image, link, miniprogram, file, video"));
    }
    let mut t = serde_json::Map::new();
    for k in ["text"].iter().chain(kinds.iter()) {
        if let Some(v) = body.get(*k).filter(|v| v.is_object()) {
            t.insert((*k).to_owned(), v.clone());
        }
    }
    Ok(Value::Object(t))
}

/// Where a `cursor` (an offset this simulator issued) resumes; an unreadable cursor reads past the end.
fn cursor_start(body: &Value) -> usize {
    body.get("cursor")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .map(|c| c.parse().unwrap_or(usize::MAX))
        .unwrap_or(0)
}

/// Cursor pagination over a prepared list: `{key: page, "next_cursor": ...}`.
fn page(all: Vec<Value>, body: &Value, limit: usize, key: &str) -> Value {
    let limit = body.get("limit").and_then(Value::as_u64).map_or(limit, |l| (l as usize).clamp(1, limit.max(1)));
    let start = cursor_start(body);
    let next = if start.saturating_add(limit) < all.len() { (start + limit).to_string() } else { String::new() };
    let items: Vec<Value> = all.into_iter().skip(start).take(limit).collect();
    json!({key: items, "next_cursor": next})
}

fn descendants(w: &World, root: i64) -> BTreeSet<i64> {
    let mut out = BTreeSet::from([root]);
    loop {
        let more: Vec<i64> = w
            .departments
            .values()
            .filter(|d| out.contains(&d.parentid) && !out.contains(&d.id))
            .map(|d| d.id)
            .collect();
        if more.is_empty() {
            return out;
        }
        out.extend(more);
    }
}

fn active_user(w: &World, userid: &str) -> Result<(), SimError> {
    w.users.get(userid).filter(|u| u.status == 1).map(|_| ()).ok_or_else(|| SimError::new(60111, "userid not found"))
}

/// Contact-way limits: type 1 has exactly one user, at most 100 users, `state` and `remark` ≤ 30 characters.
fn validate_way(w: &World, way: &ContactWay, new: bool) -> Result<(), SimError> {
    if new && !matches!(way.kind, 1 | 2) {
        return Err(SimError::new(40058, "type must be 1 (single) or 2 (multi)"));
    }
    if new && !matches!(way.scene, 1 | 2) {
        return Err(SimError::new(40058, "scene must be 1 (mini program) or 2 (QR code)"));
    }
    if way.state.chars().count() > 30 {
        return Err(SimError::new(40058, "state longer than 30 characters"));
    }
    if way.remark.chars().count() > 30 {
        return Err(SimError::new(40058, "remark longer than 30 characters"));
    }
    if way.user.len() > 100 {
        return Err(SimError::new(40058, "at most 100 users per contact way"));
    }
    if way.kind == 1 && (way.user.len() != 1 || !way.party.is_empty()) {
        return Err(SimError::new(40058, "a single contact way has exactly one user"));
    }
    if way.user.is_empty() && way.party.is_empty() {
        return Err(SimError::new(40058, "user or party required"));
    }
    for u in &way.user {
        active_user(w, u)?;
    }
    Ok(())
}
