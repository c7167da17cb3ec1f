//! Console pages for the acquisition journey: channel live codes (list, create, detail with
//! stats, trend chart, funnel, CSV and QR downloads) and the welcome-message library.

use crate::console::{
    chart::{LineChart, Series},
    prelude::*,
};
use pond_app::{
    LineError,
    acquisition::{
        cards,
        codes::{self, CodeInput},
        import, qr,
        regional::{self, StoreView},
        stats::{self, CodeStats},
        welcome::{self, WelcomeInput},
    },
    imports::{self, ImportView, Upload},
};
use pond_core::acquisition::CodeMode;
use pond_core::{
    Role, ValidationError,
    acquisition::{Rules, Schedule, StaffWeight},
};
use pond_store::{channel_code::ChannelCode, welcome::WelcomeMessage};

use crate::{
    console::{ConfirmPage, Confirmation, actor},
    error::ApiError,
};
use pond_app::pickers::{self, PickerOption};

/// This feature's console pages.
pub fn pages(book: RouteBook) -> RouteBook {
    book.get("/console/staff/{userid}/card", Role::ReadOnly, card_page)
        .post("/console/staff/{userid}/card", Role::Operator, card_save)
        .get("/console/codes", Role::ReadOnly, codes_page)
        .get("/console/codes/new", Role::Operator, code_new)
        .post("/console/codes", Role::Operator, codes_create)
        .get("/console/codes/import", Role::Operator, codes_import_page)
        .post("/console/codes/import", Role::Operator, codes_import)
        .get("/console/imports", Role::ReadOnly, imports_page)
        .get("/console/imports/{id}", Role::ReadOnly, import_page)
        .get("/console/codes/{id}", Role::ReadOnly, code_page)
        .post("/console/codes/{id}", Role::Operator, code_update)
        .get("/console/codes/{id}/edit", Role::Operator, code_edit)
        .post("/console/codes/{id}/delete", Role::Operator, code_delete)
        .get("/console/codes/{id}/stats.csv", Role::ReadOnly, code_csv)
        .get("/console/codes/{id}/{format}", Role::ReadOnly, code_qr)
        .get("/console/stores", Role::ReadOnly, stores_page)
        .post("/console/stores", Role::Operator, stores_import)
        .get("/console/stores/{format}", Role::ReadOnly, regional_qr)
        .post("/console/stores/{id}/delete", Role::Operator, store_delete)
        .get("/console/stores/{id}/edit", Role::Operator, store_edit)
        .post("/console/stores/{id}/edit", Role::Operator, store_update)
        .get("/console/welcome", Role::ReadOnly, welcome_page)
        .post("/console/welcome", Role::Operator, welcome_create)
        .get("/console/welcome/new", Role::Operator, welcome_new)
        .post("/console/welcome/assign", Role::Operator, welcome_assign)
        .get("/console/welcome/{id}/edit", Role::Operator, welcome_edit)
        .post("/console/welcome/{id}", Role::Operator, welcome_update)
        .post("/console/welcome/{id}/delete", Role::Operator, welcome_delete)
}

fn fail(e: impl Into<ApiError>, headers: &HeaderMap) -> ConsoleError {
    ConsoleError::from_api(e.into(), lang_of(headers))
}

/// A code with its last-30-days totals, for the list.
pub struct CodeRow {
    pub code: ChannelCode,
    pub totals: stats::DayStats,
}

#[derive(Template)]
#[template(path = "acquisition/codes.html")]
struct CodesPage {
    c: Chrome,
    rows: Vec<CodeRow>,
    total: i64,
    pager: Pager,
    q: String,
    group: String,
    groups: Vec<String>,
}

#[derive(Template)]
#[template(path = "acquisition/code_form.html")]
struct CodeFormPage {
    c: Chrome,
    /// The code being edited; none when creating.
    editing: Option<i64>,
    form: CodeForm,
    errors: std::collections::HashMap<&'static str, String>,
    error: Option<String>,
    staff: Vec<PickerOption>,
    tags: Vec<PickerOption>,
    welcomes: Vec<WelcomeMessage>,
}

impl CodeFormPage {
    fn picked_staff(&self) -> Vec<String> {
        ids_of(&self.form.staff)
    }
    fn picked_backup(&self) -> Vec<String> {
        ids_of(&self.form.backup)
    }
    fn picked_tags(&self) -> Vec<String> {
        ids_of(&self.form.auto_tags)
    }
    fn strategies(&self) -> [&'static str; 4] {
        ["round_robin", "random", "weighted", "fewest_added_today"]
    }
}

/// The ids in a comma/line separated list, without `:weight`.
fn ids_of(text: &str) -> Vec<String> {
    text.split(['\n', ','])
        .map(|part| part.split(':').next().unwrap_or("").trim().to_owned())
        .filter(|id| !id.is_empty())
        .collect()
}

#[derive(Template)]
#[template(path = "acquisition/codes_import.html")]
struct CodesImportPage {
    c: Chrome,
    report: Vec<LineError>,
    csv: String,
}

/// The create form as posted.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    channel_group: String,
    #[serde(default)]
    mode: String,
    #[serde(default)]
    strategy: String,
    #[serde(default)]
    state: String,
    /// One employee per line: `userid` or `userid:weight`.
    #[serde(default)]
    staff: String,
    #[serde(default)]
    daily_cap: String,
    /// Comma-separated userids.
    #[serde(default)]
    backup: String,
    /// One schedule per line: `1-5 18:00-24:00 userid,userid`.
    #[serde(default)]
    schedules: String,
    /// Comma-separated tag ids.
    #[serde(default)]
    auto_tags: String,
    #[serde(default)]
    welcome_id: String,
    #[serde(default)]
    skip_verify: Option<String>,
    #[serde(default)]
    remark_prefix: String,
    /// `userid:weight` pairs for the weighted strategy (a picker cannot carry weights).
    #[serde(default)]
    weights: String,
}

impl CodeForm {
    /// The form from its posted fields; pickers post one value per chosen item.
    fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        let mut form = CodeForm::default();
        let join = |field: &mut String, value: &str| {
            if !field.is_empty() {
                field.push(',');
            }
            field.push_str(value);
        };
        for (key, value) in pairs {
            match key.as_str() {
                "name" => form.name = value,
                "channel_group" => form.channel_group = value,
                "mode" => form.mode = value,
                "strategy" => form.strategy = value,
                "state" => form.state = value,
                "staff" => join(&mut form.staff, &value),
                "daily_cap" => form.daily_cap = value,
                "backup" => join(&mut form.backup, &value),
                "schedules" => form.schedules = value,
                "auto_tags" => join(&mut form.auto_tags, &value),
                "welcome_id" => form.welcome_id = value,
                "skip_verify" => form.skip_verify = Some(value),
                "remark_prefix" => form.remark_prefix = value,
                "weights" => form.weights = value,
                _ => {}
            }
        }
        form
    }

    /// The form showing a saved code.
    fn of_code(code: &ChannelCode, rules: &Rules, auto_tags: &[String]) -> Self {
        let weights: Vec<String> =
            rules.staff.iter().filter(|s| s.weight != 1).map(|s| format!("{}:{}", s.userid, s.weight)).collect();
        let schedules: Vec<String> = rules
            .schedules
            .iter()
            .map(|s| {
                let days: Vec<String> = s.weekdays.iter().map(u8::to_string).collect();
                let staff: Vec<String> = s.staff.iter().map(|w| w.userid.clone()).collect();
                format!("{} {}-{} {}", days.join(","), s.start, s.end, staff.join(","))
            })
            .collect();
        CodeForm {
            name: code.name.clone(),
            channel_group: code.channel_group.clone(),
            mode: code.mode.clone(),
            strategy: code.strategy.clone(),
            state: code.state.clone(),
            staff: rules.staff.iter().map(|s| s.userid.clone()).collect::<Vec<_>>().join(","),
            daily_cap: rules.daily_cap.map(|c| c.to_string()).unwrap_or_default(),
            backup: rules.backup.join(","),
            schedules: schedules.join("\n"),
            auto_tags: auto_tags.join(","),
            welcome_id: code.welcome_id.map(|w| w.to_string()).unwrap_or_default(),
            skip_verify: code.skip_verify.then(|| "on".to_owned()),
            remark_prefix: code.remark_prefix.clone(),
            weights: weights.join(","),
        }
    }
}

fn staff_list(field: &'static str, text: &str) -> Result<Vec<StaffWeight>, ValidationError> {
    text.split(['\n', ','])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| match l.split_once(':') {
            Some((u, w)) => match w.trim().parse::<u32>() {
                Ok(weight) => Ok(StaffWeight { userid: u.trim().to_owned(), weight }),
                Err(_) => Err(ValidationError::new(
                    field,
                    format!("{l:?}: weight must be a whole number"),
                    format!("{l:?}：权重须为整数"),
                )),
            },
            None => Ok(StaffWeight { userid: l.to_owned(), weight: 1 }),
        })
        .collect()
}

fn weekdays(text: &str) -> Result<Vec<u8>, ValidationError> {
    let bad = || {
        ValidationError::new(
            "schedules",
            format!("{text:?}: weekdays look like 1-5 or 6,7"),
            format!("{text:?}：星期应形如 1-5 或 6,7"),
        )
    };
    let mut days = Vec::new();
    for part in text.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u8, u8) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                if a > b {
                    return Err(bad());
                }
                days.extend(a..=b);
            }
            None => days.push(part.parse().map_err(|_| bad())?),
        }
    }
    Ok(days)
}

impl CodeForm {
    fn input(&self) -> Result<CodeInput, ValidationError> {
        let mut schedules = Vec::new();
        for line in self.schedules.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let parts: Vec<&str> = line.split_whitespace().collect();
            let [days, window, staff] = parts[..] else {
                return Err(ValidationError::new(
                    "schedules",
                    format!("{line:?}: write days, time window and staff, e.g. 1-5 18:00-24:00 u1,u2"),
                    format!("{line:?}：请依次填写星期、时间段和员工，如 1-5 18:00-24:00 u1,u2"),
                ));
            };
            let (start, end) = window.split_once('-').ok_or_else(|| {
                ValidationError::new(
                    "schedules",
                    format!("{window:?}: a window looks like 09:00-18:00"),
                    format!("{window:?}：时间段应形如 09:00-18:00"),
                )
            })?;
            schedules.push(Schedule {
                weekdays: weekdays(days)?,
                start: start.into(),
                end: end.into(),
                staff: staff_list("schedules", staff)?,
            });
        }
        let daily_cap = match self.daily_cap.trim() {
            "" => None,
            v => Some(v.parse().map_err(|_| ValidationError::new("daily_cap", "must be a whole number", "须为整数"))?),
        };
        let welcome_id = match self.welcome_id.trim() {
            "" => None,
            v => Some(
                v.parse().map_err(|_| ValidationError::new("welcome_id", "unknown welcome message", "欢迎语不存在"))?,
            ),
        };
        let mut staff = staff_list("staff", &self.staff)?;
        for pair in staff_list("weights", &self.weights)? {
            match staff.iter_mut().find(|s| s.userid == pair.userid) {
                Some(s) => s.weight = pair.weight,
                None => {
                    return Err(ValidationError::new(
                        "weights",
                        format!("{} is not among the code's staff", pair.userid),
                        format!("{} 不在该活码的员工中", pair.userid),
                    ));
                }
            }
        }
        Ok(CodeInput {
            name: self.name.clone(),
            channel_group: self.channel_group.trim().to_owned(),
            mode: self.mode.trim().to_owned(),
            strategy: self.strategy.trim().to_owned(),
            state: self.state.clone(),
            rules: Rules {
                staff,
                daily_cap,
                schedules,
                backup: self.backup.split(',').map(str::trim).filter(|u| !u.is_empty()).map(str::to_owned).collect(),
            },
            auto_tags: self.auto_tags.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect(),
            welcome_id,
            skip_verify: self.skip_verify.is_some(),
            remark_prefix: self.remark_prefix.trim().to_owned(),
        })
    }
}

async fn last_30_days(state: &App, code: &ChannelCode) -> Result<CodeStats, AppError> {
    stats::stats_of(state, code, None, None).await
}

/// The ranges a code's page offers, in days.
const CODE_RANGES: [i64; 3] = [7, 30, 90];

/// A code's figures over the last `days` days (today included), in the corp's time zone.
async fn last_days(state: &App, code: &ChannelCode, days: i64) -> Result<CodeStats, AppError> {
    let zone = pond_app::acquisition::routing::corp_zone(state, code.corp_id).await?;
    let from = stats::date_of(zone, pond_store::now_ms() - (days - 1) * 86_400_000);
    stats::stats_of(state, code, Some(&from), None).await
}

#[derive(Debug, Deserialize, Default)]
pub struct CodesQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    group: String,
    page: Option<u32>,
    saved: Option<String>,
}

pub async fn codes_page(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Query(q): Query<CodesQuery>,
) -> PageResult {
    let c = chrome(&user, &headers, "/console/codes", saved_flash(q.saved.as_deref()));
    let groups = pond_store::channel_code::groups(&state.db, user.corp_id).await.map_err(|e| fail(e, &headers))?;
    let search = Some(q.q.trim()).filter(|s| !s.is_empty());
    let group = Some(q.group.as_str()).filter(|g| !g.is_empty());
    let request = pond_core::PageRequest::new(q.page, Some(50));
    let page = pond_store::channel_code::search(&state.db, user.corp_id, search, group, request)
        .await
        .map_err(|e| fail(e, &headers))?;
    let mut extra = String::new();
    if let Some(s) = search {
        extra.push_str(&format!("&q={}", crate::console::session::encode_component(s)));
    }
    if let Some(g) = group {
        extra.push_str(&format!("&group={}", crate::console::session::encode_component(g)));
    }
    let pager = Pager::new(&page, "/console/codes", &extra);
    let total = page.total;
    let mut rows = Vec::with_capacity(page.items.len());
    for code in page.items {
        let totals = last_30_days(&state, &code).await.map_err(|e| fail(e, &headers))?.totals;
        rows.push(CodeRow { code, totals });
    }
    Ok(render(&CodesPage { c, rows, total, pager, q: q.q, group: q.group, groups }))
}

async fn code_form_page(
    state: &App,
    user: &CurrentUser,
    headers: &HeaderMap,
    editing: Option<i64>,
    form: CodeForm,
    failure: Option<AppError>,
) -> PageResult {
    let path = if editing.is_some() { "/console/codes" } else { "/console/codes/new" };
    let c = chrome(user, headers, path, None);
    let (mut errors, mut error) = (std::collections::HashMap::new(), None);
    if let Some(e) = failure {
        match e {
            AppError::Invalid(v) => {
                let field = if v.field.starts_with("schedules") { "schedules" } else { v.field };
                errors.insert(field, crate::console::user_message(&ApiError::Invalid(v.clone()), c.lang));
            }
            other => error = Some(crate::console::user_message(&ApiError::from(other), c.lang)),
        }
    }
    let staff = pickers::staff(state, user.corp_id).await.map_err(|e| fail(e, headers))?;
    let tags = pickers::tags(state, user.corp_id).await.map_err(|e| fail(e, headers))?;
    let welcomes = pond_store::welcome::list(&state.db, user.corp_id).await.map_err(|e| fail(e, headers))?;
    let status = if errors.is_empty() && error.is_none() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok(render_with(status, &CodeFormPage { c, editing, form, errors, error, staff, tags, welcomes }))
}

/// GET /console/codes/new
pub async fn code_new(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
) -> PageResult {
    let form = CodeForm {
        mode: "native".into(),
        strategy: "round_robin".into(),
        skip_verify: Some("on".into()),
        ..Default::default()
    };
    code_form_page(&state, &user, &headers, None, form, None).await
}

fn posted_form(body: &str) -> CodeForm {
    CodeForm::from_pairs(FormPairs::parse(body).0)
}

pub async fn codes_create(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    body: String,
) -> PageResult {
    let form = posted_form(&body);
    let input = match form.input() {
        Ok(i) => i,
        Err(e) => return code_form_page(&state, &user, &headers, None, form, Some(e.into())).await,
    };
    match codes::create(&state, &actor(&user), user.corp_id, input).await {
        Ok(code) => Ok(Redirect::to(&format!("/console/codes/{}?saved=created", code.id)).into_response()),
        Err(
            e @ (AppError::Invalid(_) | AppError::Conflict(_) | AppError::NotConnected(_) | AppError::Wecom { .. }),
        ) => code_form_page(&state, &user, &headers, None, form, Some(e)).await,
        Err(e) => Err(fail(e, &headers)),
    }
}

/// GET /console/codes/{id}/edit
pub async fn code_edit(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    ConsolePath(id): ConsolePath<i64>,
) -> PageResult {
    let code = pond_store::channel_code::get(&state.db, user.corp_id, id).await.map_err(|e| fail(e, &headers))?;
    let rules: Rules =
        pond_app::json_column("channel_codes.rules", code.id, &code.rules).map_err(|e| fail(e, &headers))?;
    let tags: Vec<String> =
        pond_app::json_column("channel_codes.auto_tags", code.id, &code.auto_tags).map_err(|e| fail(e, &headers))?;
    let form = CodeForm::of_code(&code, &rules, &tags);
    code_form_page(&state, &user, &headers, Some(id), form, None).await
}

/// POST /console/codes/{id}: saves the edit form.
pub async fn code_update(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    ConsolePath(id): ConsolePath<i64>,
    body: String,
) -> PageResult {
    let form = posted_form(&body);
    let input = match form.input() {
        Ok(i) => i,
        Err(e) => return code_form_page(&state, &user, &headers, Some(id), form, Some(e.into())).await,
    };
    match codes::update(&state, &actor(&user), user.corp_id, id, input).await {
        Ok(_) => Ok(Redirect::to(&format!("/console/codes/{id}?saved=1")).into_response()),
        Err(
            e @ (AppError::Invalid(_) | AppError::Conflict(_) | AppError::NotConnected(_) | AppError::Wecom { .. }),
        ) => code_form_page(&state, &user, &headers, Some(id), form, Some(e)).await,
        Err(e) => Err(fail(e, &headers)),
    }
}

/// GET /console/codes/import
pub async fn codes_import_page(Extension(user): Extension<CurrentUser>, headers: HeaderMap) -> PageResult {
    let c = chrome(&user, &headers, "/console/codes", None);
    Ok(render(&CodesImportPage { c, report: Vec::new(), csv: String::new() }))
}

#[derive(Template)]
#[template(path = "acquisition/code.html")]
struct CodePage {
    c: Chrome,
    code: ChannelCode,
    rules: Rules,
    stats: CodeStats,
    chart: String,
    landing_url: String,
    staff_names: pickers::Names,
    tag_names: Vec<String>,
    welcome_name: Option<String>,
    current_staff: Vec<String>,
    days: i64,
    ranges: [i64; 3],
}

impl CodePage {
    fn staff_name(&self, userid: &str) -> String {
        self.staff_names.of(userid)
    }
    fn is_native(&self) -> bool {
        self.code.mode == "native"
    }
    fn funnel(&self) -> Vec<(&'static str, i64)> {
        let t = &self.stats.totals;
        let mut rows = Vec::new();
        if !self.is_native() {
            rows.push(("codes.scans", t.scans));
        }
        rows.push(("codes.new", t.new_customers));
        rows.push(("codes.net", t.net));
        rows
    }
    fn funnel_max(&self) -> i64 {
        self.funnel().iter().map(|(_, n)| *n).max().unwrap_or(0).max(1)
    }
}

/// The text key of a weekday (1 = Monday … 7 = Sunday).
fn weekday_key(day: &u8) -> &'static str {
    match *day {
        1 => "weekday.1",
        2 => "weekday.2",
        3 => "weekday.3",
        4 => "weekday.4",
        5 => "weekday.5",
        6 => "weekday.6",
        _ => "weekday.7",
    }
}

#[derive(Debug, Deserialize, Default)]
pub struct SavedQuery {
    saved: Option<String>,
    /// A code page's range: 7, 30 or 90 days.
    days: Option<i64>,
    /// A list's page.
    page: Option<u32>,
}

pub async fn code_page(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    ConsolePath(id): ConsolePath<i64>,
    Query(q): Query<SavedQuery>,
) -> PageResult {
    let c = chrome(&user, &headers, "/console/codes", saved_flash(q.saved.as_deref()));
    let code = pond_store::channel_code::get(&state.db, user.corp_id, id).await.map_err(|e| fail(e, &headers))?;
    let days = q.days.filter(|d| CODE_RANGES.contains(d)).unwrap_or(30);
    let stats = last_days(&state, &code, days).await.map_err(|e| fail(e, &headers))?;
    let rules: Rules =
        pond_app::json_column("channel_codes.rules", code.id, &code.rules).map_err(|e| fail(e, &headers))?;
    let tag_ids: Vec<String> =
        pond_app::json_column("channel_codes.auto_tags", code.id, &code.auto_tags).map_err(|e| fail(e, &headers))?;
    let current: Vec<String> = if code.current_users.trim().is_empty() {
        Vec::new()
    } else {
        pond_app::json_column("channel_codes.current_users", code.id, &code.current_users)
            .map_err(|e| fail(e, &headers))?
    };
    let staff_names = pickers::staff_names(&state, user.corp_id).await.map_err(|e| fail(e, &headers))?;
    let tags = pickers::tags(&state, user.corp_id).await.map_err(|e| fail(e, &headers))?;
    let tag_names = tag_ids
        .iter()
        .map(|id| tags.iter().find(|t| &t.value == id).map(|t| format!("{}/{}", t.meta, t.label)).unwrap_or(id.clone()))
        .collect();
    let welcome_name = match code.welcome_id {
        Some(w) => pond_store::welcome::get(&state.db, user.corp_id, w).await.ok().map(|m| m.name),
        None => None,
    };
    let current_staff = current.iter().map(|u| staff_names.of(u)).collect();
    let chart = LineChart {
        labels: stats.days.iter().map(|d| d.date.get(5..).unwrap_or(&d.date).to_owned()).collect(),
        series: {
            let mut series = Vec::new();
            if code.mode != "native" {
                series.push(Series {
                    name: c.t("codes.scans").into(),
                    values: stats.days.iter().map(|d| d.scans).collect(),
                });
            }
            series.push(Series {
                name: c.t("codes.new").into(),
                values: stats.days.iter().map(|d| d.new_customers).collect(),
            });
            series.push(Series { name: c.t("codes.lost").into(), values: stats.days.iter().map(|d| d.lost).collect() });
            series
        },
    }
    .html(c.t("codes.trend"));
    let landing_url = codes::landing_url(&state, &code);
    Ok(render(&CodePage {
        c,
        code,
        rules,
        stats,
        chart,
        landing_url,
        staff_names,
        tag_names,
        welcome_name,
        current_staff,
        days,
        ranges: CODE_RANGES,
    }))
}

pub async fn code_delete(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    ConsolePath(id): ConsolePath<i64>,
    Form(confirm): Form<Confirmation>,
) -> PageResult {
    if !confirm.given() {
        let code = pond_store::channel_code::get(&state.db, user.corp_id, id).await.map_err(|e| fail(e, &headers))?;
        let c = chrome(&user, &headers, "/console/codes", None);
        let page = ConfirmPage::delete(
            c,
            &code.name,
            "codes.delete_consequence",
            format!("/console/codes/{id}/delete"),
            format!("/console/codes/{id}"),
        );
        return Ok(render(&page));
    }
    codes::delete(&state, &actor(&user), user.corp_id, id).await.map_err(|e| fail(e, &headers))?;
    Ok(Redirect::to("/console/codes?saved=deleted").into_response())
}

pub async fn code_csv(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    ConsolePath(id): ConsolePath<i64>,
    Query(q): Query<SavedQuery>,
) -> PageResult {
    let code = pond_store::channel_code::get(&state.db, user.corp_id, id).await.map_err(|e| fail(e, &headers))?;
    let days = q.days.filter(|d| CODE_RANGES.contains(d)).unwrap_or(30);
    let stats = last_days(&state, &code, days).await.map_err(|e| fail(e, &headers))?;
    let disposition = format!("attachment; filename=\"channel-code-{id}.csv\"");
    Ok((
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, disposition)],
        stats::stats_csv(&code, &stats),
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
pub struct QrParams {
    size: Option<u32>,
    /// Shown in the page (the preview) rather than downloaded.
    inline: Option<u8>,
}

pub async fn code_qr(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    ConsolePath((id, format)): ConsolePath<(i64, String)>,
    Query(q): Query<QrParams>,
) -> PageResult {
    let code = pond_store::channel_code::get(&state.db, user.corp_id, id).await.map_err(|e| fail(e, &headers))?;
    if CodeMode::parse(&code.mode) == Ok(CodeMode::Native) {
        // WeCom's QR image URL, and only if it is a web URL.
        return match pond_core::text::safe_link(&code.qr_code) {
            Some(url) => Ok(Redirect::to(url).into_response()),
            None => Err(ConsoleError::not_found(lang_of(&headers))),
        };
    }
    qr_download(&codes::landing_url(&state, &code), &code.name, &format, &q, &headers)
}

/// A QR image of `url` as PNG or SVG at exactly `size` pixels (128–4096, default 1024; refused
/// outside that range, as in the API), downloaded as `<name>-<size>.png`.
fn qr_download(url: &str, name: &str, format: &str, q: &QrParams, headers: &HeaderMap) -> PageResult {
    let size = q.size.unwrap_or(1024);
    let (content_type, ext, body) = match format {
        "qr.png" => ("image/png", "png", qr::qr_png(url, size).map_err(|e| fail(e, headers))?),
        "qr.svg" => ("image/svg+xml", "svg", qr::qr_svg(url, size).map_err(|e| fail(e, headers))?.into_bytes()),
        _ => return Err(ConsoleError::not_found(lang_of(headers))),
    };
    let file = format!("{name}-{size}.{ext}");
    let disposition = if q.inline.is_some() {
        "inline".to_owned()
    } else {
        format!(
            "attachment; filename=\"qr-{size}.{ext}\"; filename*=UTF-8''{}",
            crate::console::session::encode_component(&file)
        )
    };
    Ok(([(header::CONTENT_TYPE, content_type.to_owned()), (header::CONTENT_DISPOSITION, disposition)], body)
        .into_response())
}

#[derive(Template)]
#[template(path = "acquisition/welcome.html")]
struct WelcomePage {
    c: Chrome,
    /// Every message (the assignment picker, names of assigned messages).
    messages: Vec<WelcomeMessage>,
    /// This page of the list.
    shown: Vec<WelcomeMessage>,
    pager: Pager,
    /// welcome_id → (sent, skipped, failed)
    stats: std::collections::HashMap<i64, (i64, i64, i64)>,
    /// (employee name, userid, message id)
    assignments: Vec<(String, String, i64)>,
    staff: Vec<PickerOption>,
    error: Option<String>,
}

impl WelcomePage {
    fn stats_of(&self, id: &i64) -> (i64, i64, i64) {
        self.stats.get(id).copied().unwrap_or_default()
    }
    fn attachment_count(&self, m: &WelcomeMessage) -> usize {
        serde_json::from_str::<Vec<serde_json::Value>>(&m.attachments).map(|a| a.len()).unwrap_or(0)
    }
    fn preview(&self, text: &str) -> String {
        let short: String = text.chars().take(60).collect();
        if text.chars().count() > 60 { format!("{short}…") } else { short }
    }
    fn message_name(&self, id: &i64) -> String {
        self.messages.iter().find(|m| m.id == *id).map(|m| m.name.clone()).unwrap_or_default()
    }
}

async fn welcome_page_with(
    state: &App,
    user: &CurrentUser,
    headers: &HeaderMap,
    flash: Option<&'static str>,
    error: Option<String>,
    page: Option<u32>,
) -> PageResult {
    let c = chrome(user, headers, "/console/welcome", flash);
    let messages = welcome::list(state, user.corp_id).await.map_err(|e| fail(e, headers))?;
    // A corp has tens of messages, all needed for the picker; the list shows them a page at a time.
    let request = pond_core::PageRequest::new(page, Some(50));
    let total = i64::try_from(messages.len()).unwrap_or(i64::MAX);
    let from = usize::try_from(request.offset()).unwrap_or(usize::MAX);
    let shown_items: Vec<WelcomeMessage> = messages.iter().skip(from).take(50).cloned().collect();
    let shown_page = pond_core::Page::new(shown_items, total, request);
    let pager = Pager::new(&shown_page, "/console/welcome", "");
    let shown = shown_page.items;
    let stats = welcome::send_stats(state, user.corp_id)
        .await
        .map_err(|e| fail(e, headers))?
        .into_iter()
        .map(|(id, sent, skipped, failed)| (id, (sent, skipped, failed)))
        .collect();
    let names = pickers::staff_names(state, user.corp_id).await.map_err(|e| fail(e, headers))?;
    let assignments = pond_store::welcome::staff_assignments(&state.db, user.corp_id)
        .await
        .map_err(|e| fail(e, headers))?
        .into_iter()
        .map(|(userid, id)| (names.of(&userid), userid, id))
        .collect();
    let staff = pickers::staff(state, user.corp_id).await.map_err(|e| fail(e, headers))?;
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    Ok(render_with(status, &WelcomePage { c, messages, shown, pager, stats, assignments, staff, error }))
}

pub async fn welcome_page(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Query(q): Query<SavedQuery>,
) -> PageResult {
    welcome_page_with(&state, &user, &headers, saved_flash(q.saved.as_deref()), None, q.page).await
}

/// The welcome form as posted (URL-encoded, or multipart when an image is attached).
#[derive(Debug, Default, Clone)]
pub struct WelcomeForm {
    name: String,
    text: String,
    is_default: bool,
    /// Indexes of the saved attachments to keep.
    keep: Vec<usize>,
    link_title: String,
    link_url: String,
    link_desc: String,
    /// (bytes, file name) of an uploaded image.
    image: Option<(Vec<u8>, String)>,
}

impl WelcomeForm {
    async fn read(headers: &HeaderMap, body: axum::body::Bytes) -> Result<Self, ValidationError> {
        let mut form = WelcomeForm::default();
        let set = |form: &mut WelcomeForm, key: &str, value: String| match key {
            "name" => form.name = value,
            "text" => form.text = value,
            "is_default" => form.is_default = true,
            "keep" => form.keep.extend(value.parse::<usize>().ok()),
            "link_title" => form.link_title = value,
            "link_url" => form.link_url = value,
            "link_desc" => form.link_desc = value,
            _ => {}
        };
        let Some(boundary) = crate::console::session::multipart_boundary(headers) else {
            let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
            for (k, v) in pairs {
                set(&mut form, &k, v);
            }
            return Ok(form);
        };
        let bad = || ValidationError::new("image", "the upload could not be read", "上传的内容无法读取");
        let mut multipart = crate::console::session::multipart_reader(body, boundary);
        while let Some(field) = multipart.next_field().await.map_err(|_| bad())? {
            let name = field.name().unwrap_or_default().to_owned();
            if name == "image" {
                let file_name = field.file_name().unwrap_or_default().to_owned();
                let bytes = field.bytes().await.map_err(|_| bad())?;
                if !bytes.is_empty() {
                    form.image = Some((bytes.to_vec(), file_name));
                }
            } else {
                let value = field.text().await.map_err(|_| bad())?;
                set(&mut form, &name, value);
            }
        }
        Ok(form)
    }

    /// The service input: kept attachments, then the link, if any (the image is added after upload).
    fn input(&self, saved: &[serde_json::Value]) -> Result<WelcomeInput, ValidationError> {
        let mut attachments: Vec<serde_json::Value> =
            saved.iter().enumerate().filter(|(i, _)| self.keep.contains(i)).map(|(_, a)| a.clone()).collect();
        let (title, url) = (self.link_title.trim(), self.link_url.trim());
        if !title.is_empty() || !url.is_empty() {
            if title.is_empty() || !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(ValidationError::new(
                    "link_url",
                    "a link needs a title and an http(s) address",
                    "链接需要标题和 http(s) 开头的地址",
                ));
            }
            attachments.push(serde_json::json!({"msgtype": "link", "link": {"title": title, "url": url, "desc": self.link_desc.trim()}}));
        }
        Ok(WelcomeInput { name: self.name.clone(), text: self.text.clone(), attachments, is_default: self.is_default })
    }

    fn of_message(m: &WelcomeMessage) -> Self {
        let saved: Vec<serde_json::Value> = serde_json::from_str(&m.attachments).unwrap_or_default();
        WelcomeForm {
            name: m.name.clone(),
            text: m.text.clone(),
            is_default: m.is_default,
            keep: (0..saved.len()).collect(),
            ..Default::default()
        }
    }
}

#[derive(Template)]
#[template(path = "acquisition/welcome_form.html")]
struct WelcomeFormPage {
    c: Chrome,
    editing: Option<i64>,
    form: WelcomeForm,
    /// The saved attachments, described: (index, kind key, text, image URL).
    saved: Vec<(usize, &'static str, String, String)>,
    errors: std::collections::HashMap<&'static str, String>,
    error: Option<String>,
}

impl WelcomeFormPage {
    /// The variables' buttons: (token to insert, label).
    fn variables(&self) -> Vec<(&'static str, &'static str)> {
        pond_core::acquisition::WELCOME_VARIABLES
            .iter()
            .map(|(en, zh)| match self.c.lang {
                crate::console::i18n::Lang::Zh => (*zh, *zh),
                crate::console::i18n::Lang::En => (*en, *en),
            })
            .collect()
    }
    /// A sample for the live preview, as JSON for the script: every variable → an example.
    fn sample(&self) -> String {
        serde_json::json!({
            "{customer_name}": "王小明", "{客户昵称}": "王小明", "{staff_name}": "店长李", "{员工姓名}": "店长李"
        })
        .to_string()
    }
    fn keeps(&self, i: &usize) -> bool {
        self.form.keep.contains(i)
    }
}

fn describe_attachments(saved: &[serde_json::Value]) -> Vec<(usize, &'static str, String, String)> {
    saved
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let kind = a.get("msgtype").and_then(|k| k.as_str()).unwrap_or("");
            let body = a.get(kind).cloned().unwrap_or_default();
            let text = |k: &str| body.get(k).and_then(|v| v.as_str()).unwrap_or("").to_owned();
            match kind {
                "image" => (i, "welcome.kind_image", text("media_id"), text("pic_url")),
                "link" => (i, "welcome.kind_link", format!("{} · {}", text("title"), text("url")), String::new()),
                "miniprogram" => (i, "welcome.kind_miniprogram", text("title"), String::new()),
                "video" => (i, "welcome.kind_video", text("media_id"), String::new()),
                _ => (i, "welcome.kind_file", text("media_id"), String::new()),
            }
        })
        .collect()
}

async fn welcome_form_page(
    user: &CurrentUser,
    headers: &HeaderMap,
    editing: Option<(i64, Vec<serde_json::Value>)>,
    form: WelcomeForm,
    failure: Option<AppError>,
) -> PageResult {
    let path = if editing.is_some() { "/console/welcome" } else { "/console/welcome/new" };
    let c = chrome(user, headers, path, None);
    let (mut errors, mut error) = (std::collections::HashMap::new(), None);
    match failure {
        Some(AppError::Invalid(v)) => {
            errors.insert(v.field, crate::console::user_message(&ApiError::Invalid(v.clone()), c.lang));
        }
        Some(other) => error = Some(crate::console::user_message(&ApiError::from(other), c.lang)),
        None => {}
    }
    let status = if errors.is_empty() && error.is_none() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let (editing, saved) = match editing {
        Some((id, saved)) => (Some(id), describe_attachments(&saved)),
        None => (None, Vec::new()),
    };
    Ok(render_with(status, &WelcomeFormPage { c, editing, form, saved, errors, error }))
}

/// GET /console/welcome/new
pub async fn welcome_new(Extension(user): Extension<CurrentUser>, headers: HeaderMap) -> PageResult {
    welcome_form_page(&user, &headers, None, WelcomeForm::default(), None).await
}

/// GET /console/welcome/{id}/edit
pub async fn welcome_edit(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    ConsolePath(id): ConsolePath<i64>,
) -> PageResult {
    let m = pond_store::welcome::get(&state.db, user.corp_id, id).await.map_err(|e| fail(e, &headers))?;
    let saved: Vec<serde_json::Value> = serde_json::from_str(&m.attachments).unwrap_or_default();
    welcome_form_page(&user, &headers, Some((id, saved)), WelcomeForm::of_message(&m), None).await
}

/// Validates, uploads the image (if any) through WeCom, then creates or updates.
async fn welcome_save(
    state: &App,
    user: &CurrentUser,
    headers: &HeaderMap,
    id: Option<i64>,
    body: axum::body::Bytes,
) -> PageResult {
    let saved: Vec<serde_json::Value> = match id {
        Some(id) => {
            let m = pond_store::welcome::get(&state.db, user.corp_id, id).await.map_err(|e| fail(e, headers))?;
            serde_json::from_str(&m.attachments).unwrap_or_default()
        }
        None => Vec::new(),
    };
    let editing = id.map(|id| (id, saved.clone()));
    let form = match WelcomeForm::read(headers, body).await {
        Ok(f) => f,
        Err(e) => return welcome_form_page(user, headers, editing, WelcomeForm::default(), Some(e.into())).await,
    };
    let mut input = match form.input(&saved) {
        Ok(i) => i,
        Err(e) => return welcome_form_page(user, headers, editing, form, Some(e.into())).await,
    };
    let has_image = form.image.is_some();
    if has_image && input.attachments.len() >= pond_core::acquisition::MAX_WELCOME_ATTACHMENTS {
        let e =
            ValidationError::new("image", "at most 9 attachments (WeCom's limit)", "最多 9 个附件（企业微信的限制）");
        return welcome_form_page(user, headers, editing, form, Some(e.into())).await;
    }
    // Check everything else before spending an upload (WeCom allows 1,000 a day).
    if let Err(e) = (WelcomeInput {
        text: if has_image && input.text.trim().is_empty() { "x".into() } else { input.text.clone() },
        ..input.clone()
    })
    .validate()
    {
        return welcome_form_page(user, headers, editing, form, Some(e.into())).await;
    }
    if let Some((bytes, file_name)) = &form.image {
        match welcome::upload_image(state, user.corp_id, bytes, file_name).await {
            Ok(attachment) => input.attachments.push(attachment),
            Err(e @ (AppError::Invalid(_) | AppError::Wecom { .. } | AppError::NotConnected(_))) => {
                return welcome_form_page(user, headers, editing, form, Some(e)).await;
            }
            Err(e) => return Err(fail(e, headers)),
        }
    }
    let result = match id {
        Some(id) => welcome::update(state, &actor(user), user.corp_id, id, &input).await,
        None => welcome::create(state, &actor(user), user.corp_id, &input).await,
    };
    match result {
        Ok(_) => {
            Ok(Redirect::to(if id.is_some() { "/console/welcome?saved=1" } else { "/console/welcome?saved=created" })
                .into_response())
        }
        Err(e @ AppError::Invalid(_)) => welcome_form_page(user, headers, editing, form, Some(e)).await,
        Err(e) => Err(fail(e, headers)),
    }
}

/// POST /console/welcome: a new message.
pub async fn welcome_create(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> PageResult {
    welcome_save(&state, &user, &headers, None, body).await
}

/// POST /console/welcome/{id}: saves the edit form.
pub async fn welcome_update(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    ConsolePath(id): ConsolePath<i64>,
    body: axum::body::Bytes,
) -> PageResult {
    welcome_save(&state, &user, &headers, Some(id), body).await
}

/// POST /console/welcome/{id}/delete (asks first without JavaScript).
pub async fn welcome_delete(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    ConsolePath(id): ConsolePath<i64>,
    Form(confirm): Form<Confirmation>,
) -> PageResult {
    if !confirm.given() {
        let m = pond_store::welcome::get(&state.db, user.corp_id, id).await.map_err(|e| fail(e, &headers))?;
        let c = chrome(&user, &headers, "/console/welcome", None);
        let page = ConfirmPage::delete(
            c,
            &m.name,
            "welcome.delete_consequence",
            format!("/console/welcome/{id}/delete"),
            "/console/welcome".to_owned(),
        );
        return Ok(render(&page));
    }
    welcome::delete(&state, &actor(&user), user.corp_id, id).await.map_err(|e| fail(e, &headers))?;
    Ok(Redirect::to("/console/welcome?saved=deleted").into_response())
}

/// POST /console/welcome/assign: `staff` (one or more, from the picker) greet with `welcome_id`
/// (empty: back to the corp default).
pub async fn welcome_assign(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    body: String,
) -> PageResult {
    let form = FormPairs::parse(&body);
    let staff = form.all("staff");
    let welcome_id = form.one("welcome_id").and_then(|v| v.parse::<i64>().ok());
    if staff.is_empty() {
        let msg = crate::console::user_message(
            &ApiError::Invalid(ValidationError::new("staff", "choose at least one employee", "请至少选择一名员工")),
            lang_of(&headers),
        );
        return welcome_page_with(&state, &user, &headers, None, Some(msg), None).await;
    }
    for userid in staff {
        welcome::set_for_staff(&state, &actor(&user), user.corp_id, &userid, welcome_id)
            .await
            .map_err(|e| fail(e, &headers))?;
    }
    Ok(Redirect::to("/console/welcome?saved=1").into_response())
}

#[derive(Template)]
#[template(path = "acquisition/stores.html")]
struct StoresPage {
    c: Chrome,
    stores: Vec<StoreView>,
    total: i64,
    pager: Pager,
    q: String,
    regional_url: String,
    report: Vec<LineError>,
    csv: String,
    staff_names: pickers::Names,
}

impl StoresPage {
    fn staff_name(&self, userid: &str) -> String {
        self.staff_names.of(userid)
    }
}

#[derive(Template)]
#[template(path = "acquisition/store_form.html")]
struct StoreFormPage {
    c: Chrome,
    id: i64,
    form: StoreFormFields,
    staff: Vec<PickerOption>,
    errors: std::collections::HashMap<&'static str, String>,
}

/// The store form as shown and posted (numbers kept as typed, so a bad one is shown back).
#[derive(Debug, Clone, Default)]
struct StoreFormFields {
    name: String,
    address: String,
    city: String,
    latitude: String,
    longitude: String,
    staff: Vec<String>,
}

impl StoreFormFields {
    fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        let mut f = StoreFormFields::default();
        for (k, v) in pairs {
            match k.as_str() {
                "name" => f.name = v,
                "address" => f.address = v,
                "city" => f.city = v,
                "latitude" => f.latitude = v,
                "longitude" => f.longitude = v,
                "staff" => f.staff.push(v),
                _ => {}
            }
        }
        f
    }
    fn input(&self) -> Result<regional::StoreInput, ValidationError> {
        let number = |field: &'static str, v: &str| {
            v.trim().parse::<f64>().map_err(|_| ValidationError::new(field, "must be a number", "须为数字"))
        };
        Ok(regional::StoreInput {
            name: self.name.clone(),
            address: self.address.clone(),
            city: self.city.clone(),
            latitude: number("latitude", &self.latitude)?,
            longitude: number("longitude", &self.longitude)?,
            staff: self.staff.clone(),
        })
    }
}

async fn store_form_page(
    state: &App,
    user: &CurrentUser,
    headers: &HeaderMap,
    id: i64,
    form: StoreFormFields,
    failure: Option<AppError>,
) -> PageResult {
    let c = chrome(user, headers, "/console/stores", None);
    let mut errors = std::collections::HashMap::new();
    match failure {
        Some(AppError::Invalid(v)) => {
            errors.insert(v.field, crate::console::user_message(&ApiError::Invalid(v.clone()), c.lang));
        }
        Some(e) => return Err(fail(e, headers)),
        None => {}
    }
    let staff = pickers::staff(state, user.corp_id).await.map_err(|e| fail(e, headers))?;
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok(render_with(status, &StoreFormPage { c, id, form, staff, errors }))
}

/// GET /console/stores/{id}/edit
pub async fn store_edit(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    ConsolePath(id): ConsolePath<i64>,
) -> PageResult {
    let s = pond_store::store_location::get(&state.db, user.corp_id, id).await.map_err(|e| fail(e, &headers))?;
    let staff: Vec<String> = pond_app::json_column("stores.staff", s.id, &s.staff).map_err(|e| fail(e, &headers))?;
    let form = StoreFormFields {
        name: s.name,
        address: s.address,
        city: s.city,
        latitude: s.latitude.to_string(),
        longitude: s.longitude.to_string(),
        staff,
    };
    store_form_page(&state, &user, &headers, id, form, None).await
}

/// POST /console/stores/{id}/edit: saves the edit form.
pub async fn store_update(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    ConsolePath(id): ConsolePath<i64>,
    body: String,
) -> PageResult {
    let form = StoreFormFields::from_pairs(FormPairs::parse(&body).0);
    let result = match form.input() {
        Ok(input) => regional::update_store(&state, &actor(&user), user.corp_id, id, &input).await,
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(()) => Ok(Redirect::to("/console/stores?saved=1").into_response()),
        Err(e) => store_form_page(&state, &user, &headers, id, form, Some(e)).await,
    }
}

/// POST /console/stores/{id}/delete (asks first without JavaScript).
pub async fn store_delete(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    ConsolePath(id): ConsolePath<i64>,
    Form(confirm): Form<Confirmation>,
) -> PageResult {
    if !confirm.given() {
        let store =
            pond_store::store_location::get(&state.db, user.corp_id, id).await.map_err(|e| fail(e, &headers))?;
        let c = chrome(&user, &headers, "/console/stores", None);
        let page = ConfirmPage::delete(
            c,
            &store.name,
            "stores.delete_consequence",
            format!("/console/stores/{id}/delete"),
            "/console/stores".to_owned(),
        );
        return Ok(render(&page));
    }
    regional::delete_store(&state, &actor(&user), user.corp_id, id).await.map_err(|e| fail(e, &headers))?;
    Ok(Redirect::to("/console/stores?saved=deleted").into_response())
}

#[allow(clippy::too_many_arguments)]
async fn stores_page_with(
    state: &App,
    user: &CurrentUser,
    headers: &HeaderMap,
    flash: Option<&'static str>,
    report: Vec<LineError>,
    csv: String,
    list: &ListParams,
) -> PageResult {
    let c = chrome(user, headers, "/console/stores", flash);
    let search = Some(list.q.trim()).filter(|q| !q.is_empty());
    let page =
        regional::views_page(&state.db, user.corp_id, search, list.request()).await.map_err(|e| fail(e, headers))?;
    let pager = Pager::new(&page, "/console/stores", &list.extra());
    let total = page.total;
    let stores = page.items;
    let q = list.q.clone();
    let regional_url = regional::regional_url(state, user.corp_id);
    let staff_names = pickers::staff_names(state, user.corp_id).await.map_err(|e| fail(e, headers))?;
    let status = if report.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok(render_with(status, &StoresPage { c, stores, total, pager, q, regional_url, report, csv, staff_names }))
}

pub async fn stores_page(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Query(list): Query<ListParams>,
) -> PageResult {
    stores_page_with(&state, &user, &headers, list.flash(), vec![], String::new(), &list).await
}

#[derive(Debug, Deserialize)]
pub struct StoresForm {
    #[serde(default)]
    csv: String,
}

pub async fn stores_import(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Form(form): Form<StoresForm>,
) -> PageResult {
    match regional::start_import(&state, &actor(&user), user.corp_id, &form.csv).await.map_err(|e| fail(e, &headers))? {
        Upload::Started(import) => Ok(Redirect::to(&format!("/console/imports/{}", import.id)).into_response()),
        Upload::Refused(report) => {
            stores_page_with(&state, &user, &headers, None, report, form.csv, &ListParams::default()).await
        }
    }
}

pub async fn regional_qr(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    ConsolePath(format): ConsolePath<String>,
    Query(q): Query<QrParams>,
) -> PageResult {
    qr_download(&regional::regional_url(&state, user.corp_id), "regional-code", &format, &q, &headers)
}

#[derive(Template)]
#[template(path = "acquisition/card.html")]
struct CardPage {
    c: Chrome,
    staff: pond_store::staff::Staff,
    card: cards::Card,
    entries_text: String,
    results: Vec<cards::CardResult>,
    error: Option<String>,
}

fn entries_text(card: &cards::Card) -> String {
    use cards::CardEntry;
    card.entries
        .iter()
        .map(|e| match e {
            CardEntry::Text { name, value } => format!("text|{name}|{value}"),
            CardEntry::Web { name, title, url } => format!("web|{name}|{title}|{url}"),
            CardEntry::Miniprogram { name, title, appid, pagepath } => {
                format!("miniprogram|{name}|{title}|{appid}|{pagepath}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub async fn card_page(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    ConsolePath(userid): ConsolePath<String>,
) -> PageResult {
    let c = chrome(&user, &headers, "/console/staff", None);
    let staff = pond_store::staff::get(&state.db, user.corp_id, &userid).await.map_err(|e| fail(e, &headers))?;
    let (card, error) = match cards::read(&state, user.corp_id, &userid).await {
        Ok(card) => (card, None),
        Err(e) => (Default::default(), Some(crate::console::user_message(&e.into(), lang_of(&headers)))),
    };
    let entries_text = entries_text(&card);
    Ok(render(&CardPage { c, staff, card, entries_text, results: vec![], error }))
}

#[derive(Debug, Deserialize)]
pub struct CardForm {
    #[serde(default)]
    external_corp_name: String,
    #[serde(default)]
    external_position: String,
    /// One entry per line: `text|name|value`, `web|name|title|url`, `miniprogram|name|title|appid|pagepath`.
    #[serde(default)]
    entries: String,
    /// More employees to give the same card (comma-separated).
    #[serde(default)]
    also: String,
}

fn parse_entries(text: &str) -> Result<Vec<cards::CardEntry>, ValidationError> {
    use cards::CardEntry;
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let p: Vec<String> = l.split('|').map(|x| x.trim().to_owned()).collect();
            match (p.first().map(String::as_str), p.len()) {
                (Some("text"), 3) => Ok(CardEntry::Text { name: p[1].clone(), value: p[2].clone() }),
                (Some("web"), 4) => Ok(CardEntry::Web { name: p[1].clone(), title: p[2].clone(), url: p[3].clone() }),
                (Some("miniprogram"), 5) => Ok(CardEntry::Miniprogram {
                    name: p[1].clone(),
                    title: p[2].clone(),
                    appid: p[3].clone(),
                    pagepath: p[4].clone(),
                }),
                _ => Err(ValidationError::new(
                    "entries",
                    format!(
                        "{l:?}: write text|name|value, web|name|title|url or miniprogram|name|title|appid|pagepath"
                    ),
                    format!("{l:?}：请按 text|名称|内容、web|名称|标题|网址 或 miniprogram|名称|标题|appid|页面 填写"),
                )),
            }
        })
        .collect()
}

pub async fn card_save(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    ConsolePath(userid): ConsolePath<String>,
    Form(form): Form<CardForm>,
) -> PageResult {
    let c = chrome(&user, &headers, "/console/staff", None);
    let staff = pond_store::staff::get(&state.db, user.corp_id, &userid).await.map_err(|e| fail(e, &headers))?;
    let parsed = parse_entries(&form.entries).map(|entries| cards::Card {
        external_corp_name: form.external_corp_name.trim().to_owned(),
        external_position: form.external_position.trim().to_owned(),
        entries,
    });
    let mut userids = vec![userid.clone()];
    userids.extend(form.also.split(',').map(str::trim).filter(|u| !u.is_empty() && *u != userid).map(str::to_owned));
    let outcome = match parsed {
        Ok(card) => cards::write_many(&state, &actor(&user), user.corp_id, &userids, &card)
            .await
            .map(|r| (card, r))
            .map_err(|e| crate::console::user_message(&e.into(), lang_of(&headers))),
        Err(e) => Err(crate::console::user_message(&ApiError::Invalid(e), lang_of(&headers))),
    };
    match outcome {
        Ok((card, results)) => {
            let entries_text = entries_text(&card);
            Ok(render(&CardPage { c, staff, card, entries_text, results, error: None }))
        }
        Err(e) => {
            let card = cards::Card {
                external_corp_name: form.external_corp_name,
                external_position: form.external_position,
                entries: vec![],
            };
            Ok(render_with(
                StatusCode::UNPROCESSABLE_ENTITY,
                &CardPage { c, staff, card, entries_text: form.entries, results: vec![], error: Some(e) },
            ))
        }
    }
}

pub async fn codes_import(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Form(form): Form<StoresForm>,
) -> PageResult {
    match import::start_csv(&state, &actor(&user), user.corp_id, &form.csv).await.map_err(|e| fail(e, &headers))? {
        Upload::Started(import) => Ok(Redirect::to(&format!("/console/imports/{}", import.id)).into_response()),
        Upload::Refused(report) => {
            let c = chrome(&user, &headers, "/console/codes", None);
            Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &CodesImportPage { c, report, csv: form.csv }))
        }
    }
}

#[derive(Template)]
#[template(path = "acquisition/imports.html")]
struct ImportsPage {
    c: Chrome,
    items: Vec<ImportView>,
    pager: Pager,
}

/// GET /console/imports — the corp's imports, newest first.
pub async fn imports_page(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Query(list): Query<ListParams>,
) -> PageResult {
    let c = chrome(&user, &headers, "/console/imports", None);
    let page = imports::list(&state, user.corp_id, list.request()).await.map_err(|e| fail(e, &headers))?;
    let pager = Pager::new(&page, "/console/imports", &list.extra());
    Ok(render(&ImportsPage { c, items: page.items, pager }))
}

#[derive(Template)]
#[template(path = "acquisition/import.html")]
struct ImportPage {
    c: Chrome,
    import: ImportView,
}

impl ImportPage {
    fn unfinished(&self) -> bool {
        self.import.status().unfinished()
    }
    /// Where what it made is listed.
    fn made_href(&self) -> &'static str {
        if self.import.kind == pond_core::ImportKind::Stores.as_str() { "/console/stores" } else { "/console/codes" }
    }
    fn made_key(&self) -> &'static str {
        if self.import.kind == pond_core::ImportKind::Stores.as_str() {
            "imports.view_stores"
        } else {
            "imports.view_codes"
        }
    }
}

/// GET /console/imports/{id} — one import's progress (the page refreshes itself until it ends).
pub async fn import_page(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    ConsolePath(id): ConsolePath<i64>,
) -> PageResult {
    let c = chrome(&user, &headers, "/console/imports", None);
    let import = imports::get(&state, user.corp_id, id).await.map_err(|e| fail(e, &headers))?;
    Ok(render(&ImportPage { c, import }))
}
