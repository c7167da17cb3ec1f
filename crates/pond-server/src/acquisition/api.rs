//! Acquisition API: welcome messages, channel codes (with stats, QR, CSV import), regional stores,
//! business cards, and the background imports of codes and stores.

use utoipa_axum::{router::OpenApiRouter, routes};

use pond_app::acquisition::{
    cards::{self, Card, CardResult},
    codes::{self, CodeInput},
    import,
    regional::{self, StoreView},
    stats::{self, CodeStats},
    welcome::{self, WelcomeInput},
};
use pond_app::{
    LineError,
    imports::{self, ImportView, Upload},
};

use crate::api::prelude::*;

/// This feature's documented API routes.
pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_welcome, create_welcome))
        .routes(routes!(update_welcome, delete_welcome))
        .routes(routes!(set_staff_welcome))
        .routes(routes!(list_codes, create_code))
        .routes(routes!(get_code, update_code, delete_code))
        .routes(routes!(code_stats))
        .routes(routes!(code_stats_csv))
        .routes(routes!(code_qr_png))
        .routes(routes!(code_qr_svg))
        .routes(routes!(list_stores))
        .routes(routes!(import_stores))
        .routes(routes!(import_codes))
        .routes(routes!(list_imports))
        .routes(routes!(get_import))
        .routes(routes!(get_card))
        .routes(routes!(put_cards))
}

#[utoipa::path(get, path = "/api/v1/welcome-messages", security(("bearer" = ["readonly"])), tag = "acquisition",
    responses((status = 200, body = Vec<WelcomeView>), (status = 401, body = ErrorBody)))]
async fn list_welcome(
    State(state): State<App>,
    Extension(caller): Extension<ApiCaller>,
) -> Result<Json<Vec<WelcomeView>>, ApiError> {
    let messages = welcome::list(&state, caller.corp_id).await?;
    Ok(Json(messages.into_iter().map(WelcomeView::try_from).collect::<Result<_, _>>()?))
}

/// Adds a welcome message (text with `{customer_name}` / `{staff_name}`, up to 9 attachments).
#[utoipa::path(post, path = "/api/v1/welcome-messages", security(("bearer" = ["operator"])), tag = "acquisition", request_body = WelcomeInput,
    responses((status = 201, body = WelcomeView), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_welcome(
    State(state): State<App>,
    Extension(caller): Extension<ApiCaller>,
    ApiJson(input): ApiJson<WelcomeInput>,
) -> Result<(axum::http::StatusCode, Json<WelcomeView>), ApiError> {
    let m = welcome::create(&state, &caller.actor, caller.corp_id, &input).await?;
    Ok((axum::http::StatusCode::CREATED, Json(WelcomeView::try_from(m)?)))
}

/// Changes a welcome message (unknown `{placeholders}` are refused).
#[utoipa::path(put, path = "/api/v1/welcome-messages/{id}", security(("bearer" = ["operator"])), tag = "acquisition", params(("id" = i64, Path)), request_body = WelcomeInput,
    responses((status = 200, body = WelcomeView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_welcome(
    State(state): State<App>,
    Extension(caller): Extension<ApiCaller>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<WelcomeInput>,
) -> Result<Json<WelcomeView>, ApiError> {
    let m = welcome::update(&state, &caller.actor, caller.corp_id, id, &input).await?;
    Ok(Json(WelcomeView::try_from(m)?))
}

#[utoipa::path(delete, path = "/api/v1/welcome-messages/{id}", security(("bearer" = ["operator"])), tag = "acquisition", params(("id" = i64, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_welcome(
    State(state): State<App>,
    Extension(caller): Extension<ApiCaller>,
    ApiPath(id): ApiPath<i64>,
) -> Result<axum::http::StatusCode, ApiError> {
    welcome::delete(&state, &caller.actor, caller.corp_id, id).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffWelcomeInput {
    /// The message this employee greets with; `null` to use the corp default.
    pub welcome_id: Option<i64>,
}

/// Sets the welcome message an employee greets new customers with (when the code has none).
#[utoipa::path(put, path = "/api/v1/staff/{userid}/welcome", security(("bearer" = ["operator"])), tag = "acquisition", params(("userid" = String, Path)), request_body = StaffWelcomeInput,
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn set_staff_welcome(
    State(state): State<App>,
    Extension(caller): Extension<ApiCaller>,
    ApiPath(userid): ApiPath<String>,
    ApiJson(input): ApiJson<StaffWelcomeInput>,
) -> Result<axum::http::StatusCode, ApiError> {
    welcome::set_for_staff(&state, &caller.actor, caller.corp_id, &userid, input.welcome_id).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/channel-codes", security(("bearer" = ["readonly"])), tag = "acquisition",
    responses((status = 200, body = Vec<CodeView>), (status = 401, body = ErrorBody)))]
async fn list_codes(
    State(state): State<App>,
    Extension(caller): Extension<ApiCaller>,
) -> Result<Json<Vec<CodeView>>, ApiError> {
    let codes = pond_store::channel_code::list(&state.db, caller.corp_id).await?;
    Ok(Json(codes.iter().map(|c| CodeView::new(c, &codes::landing_url(&state, c))).collect::<Result<_, _>>()?))
}

/// Creates a channel live code; a native code gets its WeCom contact way (and QR) at once.
#[utoipa::path(post, path = "/api/v1/channel-codes", security(("bearer" = ["operator"])), tag = "acquisition", request_body = CodeInput,
    responses((status = 201, body = CodeView), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_code(
    State(state): State<App>,
    Extension(caller): Extension<ApiCaller>,
    ApiJson(input): ApiJson<CodeInput>,
) -> Result<(axum::http::StatusCode, Json<CodeView>), ApiError> {
    let code = codes::create(&state, &caller.actor, caller.corp_id, input).await?;
    Ok((axum::http::StatusCode::CREATED, Json(CodeView::new(&code, &codes::landing_url(&state, &code))?)))
}

#[utoipa::path(get, path = "/api/v1/channel-codes/{id}", security(("bearer" = ["readonly"])), tag = "acquisition", params(("id" = i64, Path)),
    responses((status = 200, body = CodeView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_code(
    State(state): State<App>,
    Extension(caller): Extension<ApiCaller>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<CodeView>, ApiError> {
    let code = pond_store::channel_code::get(&state.db, caller.corp_id, id).await?;
    Ok(Json(CodeView::new(&code, &codes::landing_url(&state, &code))?))
}

/// Changes a code's routing, tags, welcome and remark (mode and state stay).
#[utoipa::path(put, path = "/api/v1/channel-codes/{id}", security(("bearer" = ["operator"])), tag = "acquisition", params(("id" = i64, Path)), request_body = CodeInput,
    responses((status = 200, body = CodeView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_code(
    State(state): State<App>,
    Extension(caller): Extension<ApiCaller>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<CodeInput>,
) -> Result<Json<CodeView>, ApiError> {
    let code = codes::update(&state, &caller.actor, caller.corp_id, id, input).await?;
    Ok(Json(CodeView::new(&code, &codes::landing_url(&state, &code))?))
}

#[utoipa::path(delete, path = "/api/v1/channel-codes/{id}", security(("bearer" = ["operator"])), tag = "acquisition", params(("id" = i64, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_code(
    State(state): State<App>,
    Extension(caller): Extension<ApiCaller>,
    ApiPath(id): ApiPath<i64>,
) -> Result<axum::http::StatusCode, ApiError> {
    codes::delete(&state, &caller.actor, caller.corp_id, id).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// Date range for stats (the corp's local dates, inclusive); defaults to the last 30 days.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// `YYYY-MM-DD`
    pub from: Option<String>,
    /// `YYYY-MM-DD`, inclusive
    pub to: Option<String>,
}

/// Per-day and per-employee figures: scans (landing codes), new customers, lost, net, still connected after 7 days.
#[utoipa::path(get, path = "/api/v1/channel-codes/{id}/stats", security(("bearer" = ["readonly"])), tag = "acquisition", params(("id" = i64, Path), StatsQuery),
    responses((status = 200, body = CodeStats), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn code_stats(
    State(state): State<App>,
    Extension(caller): Extension<ApiCaller>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<StatsQuery>,
) -> Result<Json<CodeStats>, ApiError> {
    Ok(Json(stats::code_stats(&state, caller.corp_id, id, q.from.as_deref(), q.to.as_deref()).await?.1))
}

/// The same figures as CSV (UTF-8 with BOM, opens in Excel).
#[utoipa::path(get, path = "/api/v1/channel-codes/{id}/stats.csv", security(("bearer" = ["readonly"])), tag = "acquisition", params(("id" = i64, Path), StatsQuery),
    responses((status = 200, content_type = "text/csv"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn code_stats_csv(
    State(state): State<App>,
    Extension(caller): Extension<ApiCaller>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<StatsQuery>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let (code, stats) = stats::code_stats(&state, caller.corp_id, id, q.from.as_deref(), q.to.as_deref()).await?;
    let disposition = format!("attachment; filename=\"channel-code-{id}.csv\"");
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (axum::http::header::CONTENT_DISPOSITION, disposition),
        ],
        stats::stats_csv(&code, &stats),
    )
        .into_response())
}

/// Print size for QR downloads, in pixels (PNG) or points (SVG).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QrQuery {
    /// 128–4096, default 1024 (about 8.7 cm at 300 dpi).
    pub size: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/channel-codes/{id}/qr.png", security(("bearer" = ["readonly"])), tag = "acquisition", params(("id" = i64, Path), QrQuery),
    responses((status = 200, content_type = "image/png"), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn code_qr_png(
    State(state): State<App>,
    Extension(caller): Extension<ApiCaller>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<QrQuery>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let png = codes::qr_png(&state, caller.corp_id, id, q.size.unwrap_or(1024)).await?;
    Ok(([(axum::http::header::CONTENT_TYPE, "image/png")], png).into_response())
}

#[utoipa::path(get, path = "/api/v1/channel-codes/{id}/qr.svg", security(("bearer" = ["readonly"])), tag = "acquisition", params(("id" = i64, Path), QrQuery),
    responses((status = 200, content_type = "image/svg+xml"), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn code_qr_svg(
    State(state): State<App>,
    Extension(caller): Extension<ApiCaller>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<QrQuery>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let svg = codes::qr_svg(&state, caller.corp_id, id, q.size.unwrap_or(1024)).await?;
    Ok(([(axum::http::header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}

/// Stores of the regional code with their last-30-days figures (scans, found by location, new, lost).
#[utoipa::path(get, path = "/api/v1/stores", security(("bearer" = ["readonly"])), tag = "acquisition",
    responses((status = 200, body = Vec<StoreView>), (status = 401, body = ErrorBody)))]
async fn list_stores(
    State(state): State<App>,
    Extension(caller): Extension<ApiCaller>,
) -> Result<Json<Vec<StoreView>>, ApiError> {
    Ok(Json(regional::views(&state.db, caller.corp_id).await?))
}

/// A CSV refused at once: every bad line with its field and reason. Nothing was stored.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ImportRefused {
    pub errors: Vec<LineError>,
}

/// 202 with the import started in the background (and where to follow it), or 422 with the report.
fn upload_answer(upload: Upload) -> axum::response::Response {
    use axum::response::IntoResponse;
    match upload {
        Upload::Started(view) => {
            let location = format!("/api/v1/imports/{}", view.id);
            (axum::http::StatusCode::ACCEPTED, [(axum::http::header::LOCATION, location)], Json(view)).into_response()
        }
        Upload::Refused(errors) => {
            (axum::http::StatusCode::UNPROCESSABLE_ENTITY, Json(ImportRefused { errors })).into_response()
        }
    }
}

fn csv_body(body: &axum::body::Bytes) -> Result<String, ApiError> {
    String::from_utf8(body.to_vec()).map_err(|_| ApiError::BadRequest("the CSV must be UTF-8".into()))
}

/// Imports stores from CSV (`name,address,city,latitude,longitude,staff`, staff separated by `|`),
/// creating or updating by name, in the background: every line is checked first (any bad line
/// refuses the file, 422, with a per-line report); a good file answers 202 with the import, whose
/// progress `GET /api/v1/imports/{id}` shows. All stores are written together, or none.
#[utoipa::path(post, path = "/api/v1/stores/import", security(("bearer" = ["operator"])), tag = "acquisition", request_body(content = String, content_type = "text/csv"),
    responses((status = 202, body = ImportView), (status = 401, body = ErrorBody), (status = 422, body = ImportRefused)))]
async fn import_stores(
    State(state): State<App>,
    Extension(caller): Extension<ApiCaller>,
    body: axum::body::Bytes,
) -> Result<axum::response::Response, ApiError> {
    let text = csv_body(&body)?;
    Ok(upload_answer(regional::start_import(&state, &caller.actor, caller.corp_id, &text).await?))
}

/// The corp's imports (codes and stores), newest first, with their progress.
#[utoipa::path(get, path = "/api/v1/imports", security(("bearer" = ["readonly"])), tag = "acquisition", params(ListQuery),
    responses((status = 200, body = PageOf<ImportView>), (status = 401, body = ErrorBody)))]
async fn list_imports(
    State(state): State<App>,
    Extension(caller): Extension<ApiCaller>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<PageOf<ImportView>>, ApiError> {
    Ok(Json(PageOf::from_page(imports::list(&state, caller.corp_id, q.page()).await?)))
}

/// One import: `queued`, `running` (`done` of `total` lines made), `undoing` (it failed; what it
/// made is being removed), `done` (everything made, shown at once) or `failed` (nothing left;
/// `errors` names the refused line, or `error` the reason).
#[utoipa::path(get, path = "/api/v1/imports/{id}", security(("bearer" = ["readonly"])), tag = "acquisition", params(("id" = i64, Path)),
    responses((status = 200, body = ImportView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_import(
    State(state): State<App>,
    Extension(caller): Extension<ApiCaller>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ImportView>, ApiError> {
    Ok(Json(imports::get(&state, caller.corp_id, id).await?))
}

/// An employee's external business card, as WeCom has it.
#[utoipa::path(get, path = "/api/v1/staff/{userid}/card", security(("bearer" = ["readonly"])), tag = "staff", params(("userid" = String, Path)),
    responses((status = 200, body = Card), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_card(
    State(state): State<App>,
    Extension(caller): Extension<ApiCaller>,
    ApiPath(userid): ApiPath<String>,
) -> Result<Json<Card>, ApiError> {
    Ok(Json(cards::read(&state, caller.corp_id, &userid).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardsInput {
    /// Employees to give this card (1–100).
    pub userids: Vec<String>,
    pub card: Card,
}

/// Writes one business card to many employees through WeCom; each gets its own result.
#[utoipa::path(put, path = "/api/v1/staff/cards", security(("bearer" = ["operator"])), tag = "staff", request_body = CardsInput,
    responses((status = 200, body = Vec<CardResult>), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn put_cards(
    State(state): State<App>,
    Extension(caller): Extension<ApiCaller>,
    ApiJson(input): ApiJson<CardsInput>,
) -> Result<Json<Vec<CardResult>>, ApiError> {
    Ok(Json(cards::write_many(&state, &caller.actor, caller.corp_id, &input.userids, &input.card).await?))
}

/// Creates channel codes in bulk from CSV, in the background:
/// `name,channel_group,mode,strategy,state,staff,daily_cap,auto_tags,welcome_id,remark_prefix`
/// (staff `userid[:weight]` and tags separated by `|`). Every line is checked first (any bad line
/// refuses the file, 422, with a per-line report); a good file answers 202 with the import. The
/// codes appear together once every native code has its WeCom contact way — or, if WeCom refuses
/// one, none do and every contact way made is deleted again (`failed`, with the line).
#[utoipa::path(post, path = "/api/v1/channel-codes/import", security(("bearer" = ["operator"])), tag = "acquisition", request_body(content = String, content_type = "text/csv"),
    responses((status = 202, body = ImportView), (status = 401, body = ErrorBody), (status = 422, body = ImportRefused)))]
async fn import_codes(
    State(state): State<App>,
    Extension(caller): Extension<ApiCaller>,
    body: axum::body::Bytes,
) -> Result<axum::response::Response, ApiError> {
    let text = csv_body(&body)?;
    Ok(upload_answer(import::start_csv(&state, &caller.actor, caller.corp_id, &text).await?))
}
