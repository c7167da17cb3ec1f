//! Channel live codes: validation with field-named errors, creating, changing and deleting them
//! (with the WeCom contact way behind native codes), each audited. The API, the console and the
//! CLI all call these functions.

use std::collections::BTreeSet;

use pond_core::{
    StaffStatus, ValidationError,
    acquisition::{self, CodeMode, Rules, Strategy},
    ids,
};
use pond_store::{Db, channel_code::ChannelCode, now_ms};
use serde::Deserialize;

use crate::{
    App, AppError,
    acquisition::{jobs::refresh_native, qr, routing},
    audit::{self, AuditAction},
    auth::Actor,
};

/// A channel code as submitted.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CodeInput {
    pub name: String,
    /// e.g. 门店, 包裹卡, 公众号.
    #[serde(default)]
    pub channel_group: String,
    /// `native` (one WeCom contact way whose user list Pond keeps current) or `landing` (Pond's H5 page picks the employee and counts scans).
    pub mode: String,
    /// `random`, `round_robin`, `weighted` or `fewest_added_today`.
    pub strategy: String,
    /// The contact-way `state` (1–30 letters, digits, - or _) identifying the code.
    pub state: String,
    /// Employees, weights, daily cap, schedules, backup staff.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub rules: Rules,
    /// Tag ids put on every customer added through the code.
    #[serde(default)]
    pub auto_tags: Vec<String>,
    /// The code's own welcome message.
    #[serde(default)]
    pub welcome_id: Option<i64>,
    #[serde(default = "yes")]
    pub skip_verify: bool,
    /// Prefix for the customer's remark, e.g. `门店-`.
    #[serde(default)]
    pub remark_prefix: String,
}

fn yes() -> bool {
    true
}

/// A validated code.
pub struct ValidCode {
    pub input: CodeInput,
    pub rules_json: String,
    pub tags_json: String,
}

/// What a code is checked against: the corp's active staff, live tags and welcome messages,
/// read once (an import checks thousands of lines against one catalog).
pub struct Catalog {
    active_staff: BTreeSet<String>,
    live_tags: BTreeSet<String>,
    welcomes: BTreeSet<i64>,
}

impl Catalog {
    pub async fn load(db: &Db, corp_id: i64) -> Result<Catalog, AppError> {
        let active_staff = pond_store::staff::all(db, corp_id)
            .await?
            .into_iter()
            .filter(|s| s.status == StaffStatus::Active.as_str())
            .map(|s| s.userid)
            .collect();
        let live_tags = pond_store::tag::all_live(db, corp_id).await?.into_iter().map(|(id, _, _)| id).collect();
        let welcomes = pond_store::welcome::list(db, corp_id).await?.into_iter().map(|w| w.id).collect();
        Ok(Catalog { active_staff, live_tags, welcomes })
    }

    /// Checks a code's fields and its references (staff, tags, welcome message).
    pub fn validate(&self, mut input: CodeInput) -> Result<ValidCode, AppError> {
        input.name = ids::required_text("name", &input.name, 64)?;
        input.channel_group = ids::optional_text("channel_group", &input.channel_group, 32)?;
        input.mode = CodeMode::parse(&input.mode)?.as_str().to_owned();
        Strategy::parse(&input.strategy)?;
        input.state = acquisition::contact_state(&input.state)?;
        input.remark_prefix = ids::optional_text("remark_prefix", &input.remark_prefix, 10)?;
        input.rules.validate(|u| self.active_staff.contains(u))?;
        if let Some(t) = input.auto_tags.iter().find(|t| !self.live_tags.contains(*t)) {
            return Err(
                ValidationError::new("auto_tags", format!("unknown tag {t}"), format!("标签 {t} 不存在")).into()
            );
        }
        if let Some(w) = input.welcome_id.filter(|w| !self.welcomes.contains(w)) {
            return Err(ValidationError::new(
                "welcome_id",
                format!("no welcome message {w}"),
                format!("欢迎语 {w} 不存在"),
            )
            .into());
        }
        let rules_json = serde_json::to_string(&input.rules).map_err(|e| AppError::Internal(e.to_string()))?;
        let tags_json = serde_json::to_string(&input.auto_tags).map_err(|e| AppError::Internal(e.to_string()))?;
        Ok(ValidCode { input, rules_json, tags_json })
    }
}

/// Validates a code against the corp's staff, tags and welcome messages.
pub async fn validate(db: &Db, corp_id: i64, input: CodeInput) -> Result<ValidCode, AppError> {
    Catalog::load(db, corp_id).await?.validate(input)
}

pub(crate) fn fields(v: &ValidCode) -> pond_store::channel_code::CodeFields<'_> {
    pond_store::channel_code::CodeFields {
        name: &v.input.name,
        channel_group: &v.input.channel_group,
        mode: &v.input.mode,
        strategy: &v.input.strategy,
        state: &v.input.state,
        rules: &v.rules_json,
        auto_tags: &v.tags_json,
        welcome_id: v.input.welcome_id,
        skip_verify: v.input.skip_verify,
        remark_prefix: &v.input.remark_prefix,
    }
}

/// Creates a code; a native one gets its WeCom contact way at once (or is not created at all).
pub async fn create(app: &App, actor: &Actor, corp_id: i64, input: CodeInput) -> Result<ChannelCode, AppError> {
    let valid = validate(&app.db, corp_id, input).await?;
    if !pond_store::channel_code::states_in_use(&app.db, corp_id, &[&valid.input.state]).await?.is_empty() {
        return Err(AppError::Conflict(format!("state: another code already uses {:?}", valid.input.state)));
    }
    let client = match CodeMode::parse(&valid.input.mode)? {
        CodeMode::Native => Some(app.client(corp_id).await?),
        CodeMode::Landing => None,
    };
    let Some(client) = client else {
        // A landing code is one row: it commits with its audit entry.
        let mut tx = app.db.begin().await?;
        let code = pond_store::channel_code::create(&mut tx, corp_id, &fields(&valid)).await?;
        let target = format!("code:{}", code.id);
        audit::record(&mut tx, corp_id, actor, AuditAction::ChannelCodeCreate, &target, &code.name).await?;
        tx.commit().await?;
        return Ok(code);
    };
    // A native code's row exists before its contact way (routing reads it); it is deleted again
    // if WeCom refuses the contact way, and audited with the contact way's write.
    let code = pond_store::channel_code::create(&app.db, corp_id, &fields(&valid)).await?;
    {
        let users = routing::native_users(app, &code, now_ms()).await?;
        let users = if users.is_empty() { valid.input.rules.all_staff().into_iter().take(1).collect() } else { users };
        match client.add_contact_way(&routing::native_way(&code, users.clone())).await {
            Ok(created) => {
                let json = serde_json::to_string(&users).map_err(|e| AppError::Internal(e.to_string()))?;
                let mut tx = app.db.begin().await?;
                let way = (created.config_id.as_str(), created.qr_code.as_str());
                pond_store::channel_code::set_contact_way(&mut tx, code.id, way.0, way.1, &json).await?;
                let target = format!("code:{}", code.id);
                audit::record(&mut tx, corp_id, actor, AuditAction::ChannelCodeCreate, &target, &code.name).await?;
                tx.commit().await?;
            }
            Err(e) => {
                // Nothing half-made: the code goes away when WeCom refuses its contact way.
                pond_store::channel_code::delete(&app.db, corp_id, code.id).await?;
                return Err(e.into());
            }
        }
    }
    Ok(pond_store::channel_code::get(&app.db, corp_id, code.id).await?)
}

/// Changes a code (mode and state cannot change: printed QR codes carry them).
/// What an update changed, field by field: `field: before → after`.
fn code_changes(before: &ChannelCode, after: &ChannelCode) -> String {
    let fields = [
        ("name", &before.name, &after.name),
        ("channel_group", &before.channel_group, &after.channel_group),
        ("strategy", &before.strategy, &after.strategy),
        ("rules", &before.rules, &after.rules),
        ("auto_tags", &before.auto_tags, &after.auto_tags),
        ("remark_prefix", &before.remark_prefix, &after.remark_prefix),
    ];
    let mut changes: Vec<String> =
        fields.iter().filter(|(_, b, a)| b != a).map(|(f, b, a)| format!("{f}: {b:?} → {a:?}")).collect();
    if before.welcome_id != after.welcome_id {
        changes.push(format!("welcome_id: {:?} → {:?}", before.welcome_id, after.welcome_id));
    }
    if before.skip_verify != after.skip_verify {
        changes.push(format!("skip_verify: {} → {}", before.skip_verify, after.skip_verify));
    }
    if changes.is_empty() {
        format!("{}: no change", after.name)
    } else {
        format!("{}: {}", after.name, changes.join("; "))
    }
}

pub async fn update(
    app: &App,
    actor: &Actor,
    corp_id: i64,
    id: i64,
    input: CodeInput,
) -> Result<ChannelCode, AppError> {
    let old = pond_store::channel_code::get(&app.db, corp_id, id).await?;
    if input.mode.trim() != old.mode || input.state.trim() != old.state {
        return Err(ValidationError::new(
            "state",
            "mode and state cannot change once a code exists (its QR codes are printed)",
            "活码创建后不能再修改模式和 state（二维码可能已印刷）",
        )
        .into());
    }
    let valid = validate(&app.db, corp_id, input).await?;
    let mut tx = app.db.begin().await?;
    let code = pond_store::channel_code::update(&mut tx, corp_id, id, &fields(&valid)).await?;
    audit::record(
        &mut tx,
        corp_id,
        actor,
        AuditAction::ChannelCodeUpdate,
        &format!("code:{id}"),
        &code_changes(&old, &code),
    )
    .await?;
    tx.commit().await?;
    if CodeMode::parse(&code.mode)? == CodeMode::Native && !code.config_id.is_empty() {
        let client = app.client(corp_id).await?;
        refresh_native(app, &client, &code).await?;
    }
    Ok(pond_store::channel_code::get(&app.db, corp_id, id).await?)
}

/// Deletes a code and, for a native one, its WeCom contact way.
pub async fn delete(app: &App, actor: &Actor, corp_id: i64, id: i64) -> Result<(), AppError> {
    let code = pond_store::channel_code::get(&app.db, corp_id, id).await?;
    if CodeMode::parse(&code.mode)? == CodeMode::Native && !code.config_id.is_empty() {
        let client = app.client(corp_id).await?;
        match client.del_contact_way(&code.config_id).await {
            Ok(()) => {}
            Err(e) if e.errcode() == Some(super::NO_SUCH_WAY) => {} // already gone upstream
            Err(e) => return Err(e.into()),
        }
    }
    let mut tx = app.db.begin().await?;
    pond_store::channel_code::delete(&mut tx, corp_id, id).await?;
    audit::record(&mut tx, corp_id, actor, AuditAction::ChannelCodeDelete, &format!("code:{id}"), &code.name).await?;
    Ok(tx.commit().await?)
}

/// The URL printed in a landing code's QR.
pub fn landing_url(app: &App, code: &ChannelCode) -> String {
    format!("{}/c/{}/{}", app.config.effective_public_url(), code.corp_id, code.id)
}

/// What a code's printed QR encodes: a landing code's URL. Native codes print WeCom's own image.
pub async fn qr_target(app: &App, corp_id: i64, id: i64) -> Result<String, AppError> {
    let code = pond_store::channel_code::get(&app.db, corp_id, id).await?;
    if CodeMode::parse(&code.mode)? == CodeMode::Native {
        return Err(AppError::Conflict(format!("native codes print WeCom's own QR image: {}", code.qr_code)));
    }
    Ok(landing_url(app, &code))
}

/// A landing code's QR as PNG, `size` pixels square.
pub async fn qr_png(app: &App, corp_id: i64, id: i64, size: u32) -> Result<Vec<u8>, AppError> {
    qr::qr_png(&qr_target(app, corp_id, id).await?, size)
}

/// A landing code's QR as SVG.
pub async fn qr_svg(app: &App, corp_id: i64, id: i64, size: u32) -> Result<String, AppError> {
    qr::qr_svg(&qr_target(app, corp_id, id).await?, size)
}
