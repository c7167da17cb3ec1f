//! Creating, changing and reporting on channel live codes and welcome messages, shared by the
//! API and the console: validation with field-named errors, the WeCom contact way behind native
//! codes, QR images for print, per-day/per-employee stats and their CSV.

use std::collections::{BTreeMap, BTreeSet};

use pond_core::{
    ValidationError,
    acquisition::{self, Rules, Strategy},
    ids,
};
use pond_store::{Db, channel_code::ChannelCode, now_ms};
use serde::{Deserialize, Serialize};

use crate::{acquisition as journey, error::ApiError, state::AppState};

/// A channel code as submitted.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
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
    #[schema(value_type = Object)]
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

/// Validates a code against the corp's staff, tags and welcome messages.
pub async fn validate(db: &Db, corp_id: i64, mut input: CodeInput) -> Result<ValidCode, ApiError> {
    input.name = ids::required_text("name", &input.name, 64)?;
    if input.channel_group.chars().count() > 32 {
        return Err(ValidationError::new("channel_group", "must be at most 32 characters").into());
    }
    if !matches!(input.mode.as_str(), "native" | "landing") {
        return Err(ValidationError::new("mode", "must be native or landing").into());
    }
    Strategy::parse(&input.strategy)?;
    input.state = acquisition::contact_state(&input.state)?;
    if input.remark_prefix.chars().count() > 10 {
        return Err(ValidationError::new("remark_prefix", "must be at most 10 characters").into());
    }
    let active: BTreeSet<String> = pond_store::staff::all(db, corp_id)
        .await?
        .into_iter()
        .filter(|s| s.status == "active")
        .map(|s| s.userid)
        .collect();
    input.rules.validate(|u| active.contains(u))?;
    let live_tags: BTreeSet<String> =
        pond_store::tag::all_live(db, corp_id).await?.into_iter().map(|(id, _, _)| id).collect();
    if let Some(t) = input.auto_tags.iter().find(|t| !live_tags.contains(*t)) {
        return Err(ValidationError::new("auto_tags", format!("unknown tag {t}")).into());
    }
    if let Some(w) = input.welcome_id {
        pond_store::welcome::get(db, corp_id, w)
            .await
            .map_err(|_| ValidationError::new("welcome_id", format!("no welcome message {w}")))?;
    }
    let rules_json = serde_json::to_string(&input.rules).map_err(|e| ApiError::Internal(e.to_string()))?;
    let tags_json = serde_json::to_string(&input.auto_tags).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(ValidCode { input, rules_json, tags_json })
}

fn fields(v: &ValidCode) -> pond_store::channel_code::CodeFields<'_> {
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

fn upstream(e: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(format!("WeCom refused: {e}"))
}

/// Creates a code; a native one gets its WeCom contact way at once.
pub async fn create(state: &AppState, corp_id: i64, input: CodeInput) -> Result<ChannelCode, ApiError> {
    let valid = validate(&state.db, corp_id, input).await?;
    if pond_store::channel_code::find_by_state(&state.db, corp_id, &valid.input.state).await?.is_some() {
        return Err(ApiError::Conflict(format!("state: another code already uses {:?}", valid.input.state)));
    }
    let client = if valid.input.mode == "native" {
        let corp = pond_store::corp::get(&state.db, corp_id).await?;
        Some(state.wecom.for_corp(&corp).map_err(upstream)?)
    } else {
        None
    };
    let code = pond_store::channel_code::create(&state.db, corp_id, &fields(&valid)).await?;
    if let Some(client) = client {
        let users = journey::native_users(&state.db, &code, now_ms()).await?;
        let users = if users.is_empty() { valid.input.rules.all_staff().into_iter().take(1).collect() } else { users };
        match client.add_contact_way(&journey::native_way(&code, users.clone())).await {
            Ok(created) => {
                let json = serde_json::to_string(&users).unwrap_or_default();
                pond_store::channel_code::set_contact_way(
                    &state.db,
                    code.id,
                    &created.config_id,
                    &created.qr_code,
                    &json,
                )
                .await?;
            }
            Err(e) => {
                // Nothing half-made: the code goes away when WeCom refuses its contact way.
                pond_store::channel_code::delete(&state.db, corp_id, code.id).await?;
                return Err(upstream(e));
            }
        }
    }
    Ok(pond_store::channel_code::get(&state.db, corp_id, code.id).await?)
}

/// Changes a code (mode and state cannot change: printed QR codes carry them).
pub async fn update(state: &AppState, corp_id: i64, id: i64, input: CodeInput) -> Result<ChannelCode, ApiError> {
    let old = pond_store::channel_code::get(&state.db, corp_id, id).await?;
    if input.mode != old.mode || input.state.trim() != old.state {
        return Err(ValidationError::new(
            "state",
            "mode and state cannot change once a code exists (its QR codes are printed)",
        )
        .into());
    }
    let valid = validate(&state.db, corp_id, input).await?;
    let code = pond_store::channel_code::update(&state.db, corp_id, id, &fields(&valid)).await?;
    if code.mode == "native" && !code.config_id.is_empty() {
        let corp = pond_store::corp::get(&state.db, corp_id).await?;
        let client = state.wecom.for_corp(&corp).map_err(upstream)?;
        journey::refresh_native(&state.db, &client, &code).await.map_err(upstream)?;
    }
    Ok(pond_store::channel_code::get(&state.db, corp_id, id).await?)
}

/// Deletes a code and, for a native one, its WeCom contact way.
pub async fn delete(state: &AppState, corp_id: i64, id: i64) -> Result<(), ApiError> {
    let code = pond_store::channel_code::get(&state.db, corp_id, id).await?;
    if code.mode == "native" && !code.config_id.is_empty() {
        let corp = pond_store::corp::get(&state.db, corp_id).await?;
        let client = state.wecom.for_corp(&corp).map_err(upstream)?;
        match client.del_contact_way(&code.config_id).await {
            Ok(()) => {}
            Err(e) if e.errcode() == Some(40058) => {} // already gone upstream
            Err(e) => return Err(upstream(e)),
        }
    }
    Ok(pond_store::channel_code::delete(&state.db, corp_id, id).await?)
}

/// The URL printed in a landing code's QR.
pub fn landing_url(state: &AppState, code: &ChannelCode) -> String {
    format!("{}/c/{}/{}", state.config.effective_public_url(), code.corp_id, code.id)
}

/// A QR code as SVG.
pub fn qr_svg(text: &str, size: u32) -> Result<String, ApiError> {
    let code = qrcode::QrCode::new(text.as_bytes()).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(code.render::<qrcode::render::svg::Color>().min_dimensions(size, size).quiet_zone(true).build())
}

/// A QR code as PNG, at least `size` pixels square.
pub fn qr_png(text: &str, size: u32) -> Result<Vec<u8>, ApiError> {
    let code = qrcode::QrCode::new(text.as_bytes()).map_err(|e| ApiError::Internal(e.to_string()))?;
    let img = code.render::<image::Luma<u8>>().min_dimensions(size, size).quiet_zone(true).build();
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(out.into_inner())
}

/// One day of a code's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DayStats {
    /// Local date, `YYYY-MM-DD`.
    pub date: String,
    /// Landing-page scans (landing codes only).
    pub scans: i64,
    pub new_customers: i64,
    /// Relations added this day that have since ended (either side deleted).
    pub lost: i64,
    pub net: i64,
    /// Added this day and still connected 7 days later (only for days at least 7 days ago).
    pub retained_7d: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct StaffStats {
    pub userid: String,
    pub scans: i64,
    pub new_customers: i64,
    pub lost: i64,
    pub net: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CodeStats {
    pub days: Vec<DayStats>,
    pub staff: Vec<StaffStats>,
    pub totals: DayStats,
}

const DAY_MS: i64 = 86_400_000;
const SEVEN_DAYS_MS: i64 = 7 * DAY_MS;

/// Parses `YYYY-MM-DD` (China time) into the epoch ms of its start.
pub fn parse_date(field: &'static str, s: &str) -> Result<i64, ValidationError> {
    let d = chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| ValidationError::new(field, "must be a date such as 2026-11-25"))?;
    let midnight = d.and_hms_opt(0, 0, 0).ok_or_else(|| ValidationError::new(field, "invalid date"))?;
    Ok(midnight.and_utc().timestamp_millis() - 8 * 3_600_000)
}

fn date_of(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(journey::local_day_start(ms) + 8 * 3_600_000)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// Figures for `[from, to)` (epoch ms, day-aligned), per day and per employee.
pub async fn stats(db: &Db, code: &ChannelCode, from: i64, to: i64, now: i64) -> Result<CodeStats, ApiError> {
    let follows = pond_store::channel_code::follows_through(db, code.corp_id, &code.state, from, to).await?;
    let scans = pond_store::channel_code::scans(db, code.corp_id, code.id, from, to).await?;
    let mut days: BTreeMap<i64, DayStats> = BTreeMap::new();
    let mut day = journey::local_day_start(from);
    while day < to {
        let complete = day + DAY_MS + SEVEN_DAYS_MS <= now;
        days.insert(day, DayStats { date: date_of(day), retained_7d: complete.then_some(0), ..Default::default() });
        day += DAY_MS;
    }
    let mut staff: BTreeMap<String, StaffStats> = BTreeMap::new();
    for (userid, at) in &scans {
        if let Some(d) = days.get_mut(&journey::local_day_start(*at)) {
            d.scans += 1;
        }
        staff
            .entry(userid.clone())
            .or_insert_with(|| StaffStats { userid: userid.clone(), ..Default::default() })
            .scans += 1;
    }
    for (userid, _, added_at, removed_at) in &follows {
        let s =
            staff.entry(userid.clone()).or_insert_with(|| StaffStats { userid: userid.clone(), ..Default::default() });
        s.new_customers += 1;
        if removed_at.is_some() {
            s.lost += 1;
        }
        if let Some(d) = days.get_mut(&journey::local_day_start(*added_at)) {
            d.new_customers += 1;
            if removed_at.is_some() {
                d.lost += 1;
            }
            if let Some(r) = d.retained_7d.as_mut()
                && removed_at.is_none_or(|gone| gone >= added_at + SEVEN_DAYS_MS)
            {
                *r += 1;
            }
        }
    }
    let mut totals = DayStats { date: "total".into(), ..Default::default() };
    for d in days.values_mut() {
        d.net = d.new_customers - d.lost;
        totals.scans += d.scans;
        totals.new_customers += d.new_customers;
        totals.lost += d.lost;
        if let Some(r) = d.retained_7d {
            *totals.retained_7d.get_or_insert(0) += r;
        }
    }
    totals.net = totals.new_customers - totals.lost;
    let staff = staff
        .into_values()
        .map(|mut s| {
            s.net = s.new_customers - s.lost;
            s
        })
        .collect();
    Ok(CodeStats { days: days.into_values().collect(), staff, totals })
}

/// The stats as CSV (one row per day, then one per employee).
pub fn stats_csv(code: &ChannelCode, s: &CodeStats) -> String {
    let mut out = String::from("\u{feff}code,date,userid,scans,new_customers,lost,net,retained_7d\n");
    let name = code.name.replace(['"', ','], " ");
    for d in &s.days {
        let r = d.retained_7d.map(|r| r.to_string()).unwrap_or_default();
        out.push_str(&format!("{name},{},,{},{},{},{},{r}\n", d.date, d.scans, d.new_customers, d.lost, d.net));
    }
    for st in &s.staff {
        out.push_str(&format!("{name},all,{},{},{},{},{},\n", st.userid, st.scans, st.new_customers, st.lost, st.net));
    }
    out
}

/// A trend chart (new customers and lost per day) as a small server-rendered SVG.
pub fn trend_svg(s: &CodeStats) -> String {
    let (w, h, pad) = (640.0_f64, 200.0_f64, 30.0_f64);
    let max = s.days.iter().map(|d| d.new_customers.max(d.lost)).max().unwrap_or(0).max(1) as f64;
    let n = s.days.len().max(2) as f64;
    let point = |i: usize, v: i64| {
        let x = pad + (w - 2.0 * pad) * i as f64 / (n - 1.0);
        let y = h - pad - (h - 2.0 * pad) * v as f64 / max;
        format!("{x:.1},{y:.1}")
    };
    let line =
        |f: fn(&DayStats) -> i64| s.days.iter().enumerate().map(|(i, d)| point(i, f(d))).collect::<Vec<_>>().join(" ");
    let first = s.days.first().map(|d| d.date.as_str()).unwrap_or("");
    let last = s.days.last().map(|d| d.date.as_str()).unwrap_or("");
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\">\
         <rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\
         <line x1=\"{pad}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"#ccc\"/>\
         <polyline fill=\"none\" stroke=\"#0f5132\" stroke-width=\"2\" points=\"{new}\"/>\
         <polyline fill=\"none\" stroke=\"#b91c1c\" stroke-width=\"2\" stroke-dasharray=\"4 3\" points=\"{lost}\"/>\
         <text x=\"{pad}\" y=\"{t}\" font-size=\"11\" fill=\"#555\">{first}</text>\
         <text x=\"{r}\" y=\"{t}\" font-size=\"11\" fill=\"#555\" text-anchor=\"end\">{last}</text>\
         <text x=\"{pad}\" y=\"16\" font-size=\"11\" fill=\"#555\">max {max}</text></svg>",
        b = h - pad,
        r = w - pad,
        t = h - 8.0,
        new = line(|d| d.new_customers),
        lost = line(|d| d.lost),
    )
}

/// A welcome message as submitted.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WelcomeInput {
    pub name: String,
    /// Text with `{customer_name}` and `{staff_name}` variables.
    #[serde(default)]
    pub text: String,
    /// Up to 9 WeCom attachments: `{"msgtype": "image"|"link"|"miniprogram"|"video"|"file", "<msgtype>": {...}}`.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub attachments: Vec<serde_json::Value>,
    #[serde(default)]
    pub is_default: bool,
}

impl WelcomeInput {
    pub fn validate(&self) -> Result<(String, String), ValidationError> {
        let name = ids::required_text("name", &self.name, 64)?;
        if self.text.trim().is_empty() && self.attachments.is_empty() {
            return Err(ValidationError::new("text", "text and attachments cannot both be empty"));
        }
        if self.text.chars().count() > 4000 {
            return Err(ValidationError::new("text", "must be at most 4000 characters"));
        }
        if self.attachments.len() > acquisition::MAX_WELCOME_ATTACHMENTS {
            return Err(ValidationError::new("attachments", "at most 9 attachments (WeCom's limit)"));
        }
        for (i, a) in self.attachments.iter().enumerate() {
            let kind = a.get("msgtype").and_then(|k| k.as_str()).unwrap_or("");
            if !matches!(kind, "image" | "link" | "miniprogram" | "video" | "file")
                || !a.get(kind).is_some_and(|v| v.is_object())
            {
                return Err(ValidationError::new(
                    "attachments",
                    format!(
                        "attachment {} must be {{\"msgtype\": image|link|miniprogram|video|file, \"<msgtype>\": {{...}}}}",
                        i + 1
                    ),
                ));
            }
        }
        let attachments = serde_json::to_string(&self.attachments).unwrap_or_else(|_| "[]".into());
        Ok((name, attachments))
    }
}

/// Lines that parsed (with their line numbers) and the problems of the others.
pub type ParsedCodes = (Vec<(usize, CodeInput)>, Vec<crate::regional::LineError>);

/// Parses a code CSV: `name,channel_group,mode,strategy,state,staff,daily_cap,auto_tags,welcome_id,remark_prefix`
/// (staff as `userid[:weight]` separated by `|`, tags separated by `|`).
/// Returns the lines that parsed and the problems of the others (a bad header is the only error).
pub fn parse_codes_csv(text: &str) -> Result<ParsedCodes, Vec<crate::regional::LineError>> {
    use crate::regional::LineError;
    let expected = [
        "name",
        "channel_group",
        "mode",
        "strategy",
        "state",
        "staff",
        "daily_cap",
        "auto_tags",
        "welcome_id",
        "remark_prefix",
    ];
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    match reader.headers() {
        Ok(h) if h.iter().map(str::to_lowercase).eq(expected.iter().map(|s| s.to_string())) => {}
        _ => {
            return Err(vec![LineError {
                line: 1,
                field: "header".into(),
                message: format!("the first line must be: {}", expected.join(",")),
            }]);
        }
    }
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = match record {
            Ok(r) if r.len() == expected.len() => r,
            Ok(r) => {
                errors.push(LineError {
                    line,
                    field: "line".into(),
                    message: format!("has {} fields; {} are needed", r.len(), expected.len()),
                });
                continue;
            }
            Err(e) => {
                errors.push(LineError { line, field: "line".into(), message: e.to_string() });
                continue;
            }
        };
        let staff: Result<Vec<acquisition::StaffWeight>, String> = record[5]
            .split('|')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| match s.split_once(':') {
                Some((u, w)) => w
                    .parse()
                    .map(|weight| acquisition::StaffWeight { userid: u.into(), weight })
                    .map_err(|_| format!("{s:?}: weight must be a whole number")),
                None => Ok(acquisition::StaffWeight { userid: s.into(), weight: 1 }),
            })
            .collect();
        let cap = match record[6].trim() {
            "" => Ok(None),
            v => v.parse::<u32>().map(Some).map_err(|_| "must be a whole number".to_owned()),
        };
        let welcome = match record[8].trim() {
            "" => Ok(None),
            v => v.parse::<i64>().map(Some).map_err(|_| "must be a welcome message id".to_owned()),
        };
        match (staff, cap, welcome) {
            (Ok(staff), Ok(daily_cap), Ok(welcome_id)) => out.push((
                line,
                CodeInput {
                    name: record[0].into(),
                    channel_group: record[1].into(),
                    mode: record[2].into(),
                    strategy: record[3].into(),
                    state: record[4].into(),
                    rules: Rules { staff, daily_cap, schedules: vec![], backup: vec![] },
                    auto_tags: record[7]
                        .split('|')
                        .map(str::trim)
                        .filter(|t| !t.is_empty())
                        .map(str::to_owned)
                        .collect(),
                    welcome_id,
                    skip_verify: true,
                    remark_prefix: record[9].into(),
                },
            )),
            (Err(e), _, _) => errors.push(LineError { line, field: "staff".into(), message: e }),
            (_, Err(e), _) => errors.push(LineError { line, field: "daily_cap".into(), message: e }),
            (_, _, Err(e)) => errors.push(LineError { line, field: "welcome_id".into(), message: e }),
        }
    }
    if errors.is_empty() && out.is_empty() {
        errors.push(LineError { line: 2, field: "line".into(), message: "the file has no codes".into() });
    }
    Ok((out, errors))
}

/// Creates every code of a CSV, or none: all lines are validated first, and if WeCom refuses a
/// contact way midway, the codes already created are deleted again.
pub async fn import_csv(
    state: &AppState,
    corp_id: i64,
    text: &str,
) -> Result<Result<Vec<ChannelCode>, Vec<crate::regional::LineError>>, ApiError> {
    use crate::regional::LineError;
    let (rows, mut errors) = match parse_codes_csv(text) {
        Ok(parsed) => parsed,
        Err(report) => return Ok(Err(report)),
    };
    let mut states = BTreeMap::new();
    for (line, input) in &rows {
        match validate(&state.db, corp_id, input.clone()).await {
            Ok(v) => {
                if let Some(first) = states.insert(v.input.state.clone(), *line) {
                    errors.push(LineError {
                        line: *line,
                        field: "state".into(),
                        message: format!("{:?} already appears on line {first}", v.input.state),
                    });
                } else if pond_store::channel_code::find_by_state(&state.db, corp_id, &v.input.state).await?.is_some() {
                    errors.push(LineError {
                        line: *line,
                        field: "state".into(),
                        message: format!("another code already uses {:?}", v.input.state),
                    });
                }
            }
            Err(ApiError::Invalid(e)) => {
                errors.push(LineError { line: *line, field: e.field.into(), message: e.reason })
            }
            Err(e) => return Err(e),
        }
    }
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.line);
        return Ok(Err(errors));
    }
    let mut created = Vec::new();
    for (line, input) in rows {
        match create(state, corp_id, input).await {
            Ok(code) => created.push(code),
            Err(e) => {
                for code in &created {
                    let _ = delete(state, corp_id, code.id).await;
                }
                return Ok(Err(vec![LineError { line, field: "line".into(), message: e.to_string() }]));
            }
        }
    }
    Ok(Ok(created))
}
