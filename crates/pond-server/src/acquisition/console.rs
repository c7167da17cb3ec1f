//! Console pages for the acquisition journey: channel live codes (list, create, detail with
//! stats, trend chart, funnel, CSV and QR downloads) and the welcome-message library.

use crate::console::prelude::*;
use pond_app::{
    Import, LineError,
    acquisition::{
        cards,
        codes::{self, CodeInput},
        import, qr,
        regional::{self, StoreView},
        stats::{self, CodeStats},
        welcome::{self, WelcomeInput},
    },
};
use pond_core::acquisition::CodeMode;
use pond_core::{
    ValidationError,
    acquisition::{Rules, Schedule, StaffWeight},
};
use pond_store::{channel_code::ChannelCode, welcome::WelcomeMessage};

use crate::{console::actor, error::ApiError};

/// This feature's console pages.
pub fn pages(book: RouteBook) -> RouteBook {
    book.get("/console/staff/{userid}/card", card_page)
        .post("/console/staff/{userid}/card", card_save)
        .get("/console/codes", codes_page)
        .post("/console/codes", codes_create)
        .post("/console/codes/import", codes_import)
        .get("/console/codes/{id}", code_page)
        .post("/console/codes/{id}/delete", code_delete)
        .get("/console/codes/{id}/stats.csv", code_csv)
        .get("/console/codes/{id}/{format}", code_qr)
        .get("/console/stores", stores_page)
        .post("/console/stores", stores_import)
        .get("/console/stores/{format}", regional_qr)
        .get("/console/welcome", welcome_page)
        .post("/console/welcome", welcome_create)
}

fn fail(e: impl Into<ApiError>, headers: &HeaderMap) -> ConsoleError {
    ConsoleError::from_api(e.into(), lang_of(headers))
}

fn admin_only(user: &CurrentUser, headers: &HeaderMap) -> Result<(), ConsoleError> {
    require(user, user.role.can_administer(), lang_of(headers))
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
    welcomes: Vec<WelcomeMessage>,
    tags: Vec<(String, String, String)>,
    error: Option<String>,
    form: CodeForm,
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
}

fn staff_list(field: &'static str, text: &str) -> Result<Vec<StaffWeight>, ValidationError> {
    text.split(['\n', ','])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| match l.split_once(':') {
            Some((u, w)) => w
                .trim()
                .parse::<u32>()
                .map(|weight| StaffWeight { userid: u.trim().to_owned(), weight })
                .map_err(|_| ValidationError::new(field, format!("{l:?}: weight must be a whole number"))),
            None => Ok(StaffWeight { userid: l.to_owned(), weight: 1 }),
        })
        .collect()
}

fn weekdays(text: &str) -> Result<Vec<u8>, ValidationError> {
    let bad = || ValidationError::new("schedules", format!("{text:?}: weekdays look like 1-5 or 6,7"));
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
                ));
            };
            let (start, end) = window.split_once('-').ok_or_else(|| {
                ValidationError::new("schedules", format!("{window:?}: a window looks like 09:00-18:00"))
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
            v => Some(v.parse().map_err(|_| ValidationError::new("daily_cap", "must be a whole number"))?),
        };
        let welcome_id = match self.welcome_id.trim() {
            "" => None,
            v => Some(v.parse().map_err(|_| ValidationError::new("welcome_id", "unknown welcome message"))?),
        };
        Ok(CodeInput {
            name: self.name.clone(),
            channel_group: self.channel_group.trim().to_owned(),
            mode: self.mode.trim().to_owned(),
            strategy: self.strategy.trim().to_owned(),
            state: self.state.clone(),
            rules: Rules {
                staff: staff_list("staff", &self.staff)?,
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

async fn codes_page_with(
    state: &App,
    user: &CurrentUser,
    headers: &HeaderMap,
    error: Option<String>,
    form: CodeForm,
) -> PageResult {
    codes_page_full(state, user, headers, error, form, vec![], String::new()).await
}

async fn codes_page_full(
    state: &App,
    user: &CurrentUser,
    headers: &HeaderMap,
    error: Option<String>,
    form: CodeForm,
    report: Vec<LineError>,
    csv: String,
) -> PageResult {
    let c = chrome(user, headers, "/console/codes", None);
    let mut rows = Vec::new();
    for code in pond_store::channel_code::list(&state.db, user.corp_id).await.map_err(|e| fail(e, headers))? {
        let totals = last_30_days(state, &code).await.map_err(|e| fail(e, headers))?.totals;
        rows.push(CodeRow { code, totals });
    }
    let welcomes = pond_store::welcome::list(&state.db, user.corp_id).await.map_err(|e| fail(e, headers))?;
    let tags = pond_store::tag::all_live(&state.db, user.corp_id).await.map_err(|e| fail(e, headers))?;
    let status = if error.is_some() || !report.is_empty() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    Ok(render_with(status, &CodesPage { c, rows, welcomes, tags, error, form, report, csv }))
}

pub async fn codes_page(
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
    codes_page_with(&state, &user, &headers, None, form).await
}

pub async fn codes_create(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> PageResult {
    admin_only(&user, &headers)?;
    let input = match form.input() {
        Ok(i) => i,
        Err(e) => return codes_page_with(&state, &user, &headers, Some(e.to_string()), form).await,
    };
    match codes::create(&state, &actor(&user), user.corp_id, input).await {
        Ok(code) => Ok(Redirect::to(&format!("/console/codes/{}", code.id)).into_response()),
        Err(
            e @ (AppError::Invalid(_) | AppError::Conflict(_) | AppError::NotConnected(_) | AppError::Wecom { .. }),
        ) => codes_page_with(&state, &user, &headers, Some(e.to_string()), form).await,
        Err(e) => Err(fail(e, &headers)),
    }
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
}

impl CodePage {
    /// Width (percent) of a funnel bar relative to the first stage.
    fn bar(&self, n: &i64) -> i64 {
        let top = if self.code.mode == "landing" { self.stats.totals.scans } else { self.stats.totals.new_customers };
        if top <= 0 { 0 } else { (n * 100 / top).clamp(0, 100) }
    }
}

pub async fn code_page(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> PageResult {
    let c = chrome(&user, &headers, "/console/codes", None);
    let code = pond_store::channel_code::get(&state.db, user.corp_id, id).await.map_err(|e| fail(e, &headers))?;
    let stats = last_30_days(&state, &code).await.map_err(|e| fail(e, &headers))?;
    let rules: Rules =
        pond_app::json_column("channel_codes.rules", code.id, &code.rules).map_err(|e| fail(e, &headers))?;
    let chart = stats::trend_svg(&stats);
    let landing_url = codes::landing_url(&state, &code);
    Ok(render(&CodePage { c, code, rules, stats, chart, landing_url }))
}

pub async fn code_delete(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> PageResult {
    admin_only(&user, &headers)?;
    codes::delete(&state, &actor(&user), user.corp_id, id).await.map_err(|e| fail(e, &headers))?;
    Ok(Redirect::to("/console/codes").into_response())
}

pub async fn code_csv(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> PageResult {
    let code = pond_store::channel_code::get(&state.db, user.corp_id, id).await.map_err(|e| fail(e, &headers))?;
    let stats = last_30_days(&state, &code).await.map_err(|e| fail(e, &headers))?;
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
}

pub async fn code_qr(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Path((id, format)): Path<(i64, String)>,
    Query(q): Query<QrParams>,
) -> PageResult {
    let code = pond_store::channel_code::get(&state.db, user.corp_id, id).await.map_err(|e| fail(e, &headers))?;
    if CodeMode::parse(&code.mode) == Ok(CodeMode::Native) {
        return Ok(Redirect::to(&code.qr_code).into_response());
    }
    qr_download(&codes::landing_url(&state, &code), &format, &q, &headers)
}

/// A QR image of `url` as `qr.png` or `qr.svg`, at `size` (128–4096, default 1024; refused
/// outside that range, as in the API).
fn qr_download(url: &str, format: &str, q: &QrParams, headers: &HeaderMap) -> PageResult {
    let size = q.size.unwrap_or(1024);
    match format {
        "qr.png" => Ok(([(header::CONTENT_TYPE, "image/png")], qr::qr_png(url, size).map_err(|e| fail(e, headers))?)
            .into_response()),
        "qr.svg" => {
            Ok(([(header::CONTENT_TYPE, "image/svg+xml")], qr::qr_svg(url, size).map_err(|e| fail(e, headers))?)
                .into_response())
        }
        _ => Err(ConsoleError {
            status: StatusCode::NOT_FOUND,
            message: "qr.png or qr.svg".into(),
            lang: lang_of(headers),
        }),
    }
}

#[derive(Template)]
#[template(path = "acquisition/welcome.html")]
struct WelcomePage {
    c: Chrome,
    messages: Vec<WelcomeMessage>,
    error: Option<String>,
}

pub async fn welcome_page(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
) -> PageResult {
    let c = chrome(&user, &headers, "/console/welcome", None);
    let messages = welcome::list(&state, user.corp_id).await.map_err(|e| fail(e, &headers))?;
    Ok(render(&WelcomePage { c, messages, error: None }))
}

#[derive(Debug, Deserialize)]
pub struct WelcomeForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    is_default: Option<String>,
}

pub async fn welcome_create(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Form(form): Form<WelcomeForm>,
) -> PageResult {
    admin_only(&user, &headers)?;
    let input =
        WelcomeInput { name: form.name, text: form.text, attachments: vec![], is_default: form.is_default.is_some() };
    match welcome::create(&state, &actor(&user), user.corp_id, &input).await {
        Ok(_) => Ok(Redirect::to("/console/welcome").into_response()),
        Err(e @ AppError::Invalid(_)) => {
            let c = chrome(&user, &headers, "/console/welcome", None);
            let messages = welcome::list(&state, user.corp_id).await.map_err(|e| fail(e, &headers))?;
            Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &WelcomePage { c, messages, error: Some(e.to_string()) }))
        }
        Err(e) => Err(fail(e, &headers)),
    }
}

#[derive(Template)]
#[template(path = "acquisition/stores.html")]
struct StoresPage {
    c: Chrome,
    stores: Vec<StoreView>,
    regional_url: String,
    report: Vec<LineError>,
    imported: Option<usize>,
    csv: String,
}

async fn stores_page_with(
    state: &App,
    user: &CurrentUser,
    headers: &HeaderMap,
    report: Vec<LineError>,
    imported: Option<usize>,
    csv: String,
) -> PageResult {
    let c = chrome(user, headers, "/console/stores", None);
    let stores = regional::views(&state.db, user.corp_id).await.map_err(|e| fail(e, headers))?;
    let regional_url = regional::regional_url(state, user.corp_id);
    let status = if report.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok(render_with(status, &StoresPage { c, stores, regional_url, report, imported, csv }))
}

pub async fn stores_page(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
) -> PageResult {
    stores_page_with(&state, &user, &headers, vec![], None, String::new()).await
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
    admin_only(&user, &headers)?;
    match regional::import(&state, &actor(&user), user.corp_id, &form.csv).await.map_err(|e| fail(e, &headers))? {
        Import::Done(n) => stores_page_with(&state, &user, &headers, vec![], Some(n), String::new()).await,
        Import::Refused(report) => stores_page_with(&state, &user, &headers, report, None, form.csv).await,
    }
}

pub async fn regional_qr(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Path(format): Path<String>,
    Query(q): Query<QrParams>,
) -> PageResult {
    qr_download(&regional::regional_url(&state, user.corp_id), &format, &q, &headers)
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
    Path(userid): Path<String>,
) -> PageResult {
    let c = chrome(&user, &headers, "/console/staff", None);
    let staff = pond_store::staff::get(&state.db, user.corp_id, &userid).await.map_err(|e| fail(e, &headers))?;
    let (card, error) = match cards::read(&state, user.corp_id, &userid).await {
        Ok(card) => (card, None),
        Err(e) => (Default::default(), Some(e.to_string())),
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
                )),
            }
        })
        .collect()
}

pub async fn card_save(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Path(userid): Path<String>,
    Form(form): Form<CardForm>,
) -> PageResult {
    admin_only(&user, &headers)?;
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
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
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
    admin_only(&user, &headers)?;
    match import::import_csv(&state, &actor(&user), user.corp_id, &form.csv).await.map_err(|e| fail(e, &headers))? {
        Import::Done(_) => Ok(Redirect::to("/console/codes").into_response()),
        Import::Refused(report) => {
            codes_page_full(&state, &user, &headers, None, CodeForm::default(), report, form.csv).await
        }
    }
}
