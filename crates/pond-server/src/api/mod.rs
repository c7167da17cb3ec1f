//! JSON API v1 under `/api/v1`, documented by an OpenAPI document generated from these handlers.
//!
//! Every route sits behind [`crate::auth::require_api_token`], applied to the whole nest, so a new
//! route cannot be added without authentication. Errors use [`crate::error::ErrorBody`].

mod views;

use axum::{Extension, Json, Router, extract::State, middleware};
use pond_core::{JobStatus, PageRequest};
use serde::{Deserialize, Serialize};
use utoipa::{
    IntoParams, Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};
use utoipa_axum::{router::OpenApiRouter, routes};

pub use views::*;

use crate::{
    auth::ApiCaller,
    corp_settings::SettingsInput,
    error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody},
    state::AppState,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "Pond API", version = "1", description = "Pond SCRM: corp settings, staff, customers, tags, groups, jobs and audit log."),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(ErrorBody))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The documented routes and the OpenAPI document describing them (plus `openapi.json` itself).
fn documented() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(get_corp, put_corp))
        .routes(routes!(list_staff))
        .routes(routes!(list_customers))
        .routes(routes!(get_customer))
        .routes(routes!(list_tags))
        .routes(routes!(list_groups))
        .routes(routes!(list_jobs))
        .routes(routes!(retry_job))
        .routes(routes!(list_audit))
        .routes(routes!(start_sync, latest_sync))
        .routes(routes!(list_welcome, create_welcome))
        .routes(routes!(delete_welcome))
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
        .routes(routes!(get_card))
        .routes(routes!(put_cards))
        .split_for_parts();
    doc.paths.add_path_operation(
        "/api/v1/openapi.json",
        vec![utoipa::openapi::HttpMethod::Get],
        utoipa::openapi::path::OperationBuilder::new()
            .summary(Some("This OpenAPI document"))
            .response("200", utoipa::openapi::ResponseBuilder::new().description("OpenAPI 3.1 JSON").build())
            .build(),
    );
    (router, doc)
}

/// The OpenAPI document of `/api/v1`, generated from the handlers' annotations.
pub fn openapi() -> utoipa::openapi::OpenApi {
    documented().1
}

/// All `/api/v1` routes, every one behind the API-token check (applied to the whole router).
pub fn router(state: AppState) -> Router<AppState> {
    let (router, doc) = documented();
    router
        .route("/api/v1/openapi.json", axum::routing::get(move || async move { Json(doc) }))
        .layer(middleware::from_fn_with_state(state, crate::auth::require_api_token))
}

/// Search and pagination for list endpoints.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Case-insensitive substring to search for.
    pub q: Option<String>,
    /// Page number, from 1.
    pub page: Option<u32>,
    /// Items per page, 1–200 (default 50).
    pub per_page: Option<u32>,
}

impl ListQuery {
    fn page(&self) -> PageRequest {
        PageRequest::new(self.page, self.per_page)
    }
    fn search(&self) -> Option<&str> {
        self.q.as_deref().filter(|q| !q.trim().is_empty())
    }
}

/// Pagination and status filter for the job list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobsQuery {
    /// `pending`, `running`, `done` or `failed`; all when absent.
    pub status: Option<String>,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/corp", tag = "corp",
    responses((status = 200, body = CorpView), (status = 401, body = ErrorBody)))]
async fn get_corp(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
) -> Result<Json<CorpView>, ApiError> {
    let corp = pond_store::corp::get(&state.db, caller.corp_id).await?;
    Ok(Json(CorpView::new(&corp)))
}

/// Replaces the corp's WeCom settings. Secret fields left empty keep their stored values.
#[utoipa::path(put, path = "/api/v1/corp", tag = "corp", request_body = SettingsInput,
    responses((status = 200, body = CorpView), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn put_corp(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    ApiJson(input): ApiJson<SettingsInput>,
) -> Result<Json<CorpView>, ApiError> {
    let settings = input.validate()?;
    let corp = pond_store::corp::update_settings(&state.db, caller.corp_id, &settings).await?;
    state.corps.invalidate(caller.corp_id);
    pond_store::audit::record(
        &state.db,
        corp.id,
        &caller.actor,
        "corp.update",
        &format!("corp:{}", corp.id),
        "WeCom settings",
    )
    .await?;
    Ok(Json(CorpView::new(&corp)))
}

#[utoipa::path(get, path = "/api/v1/staff", tag = "staff", params(ListQuery),
    responses((status = 200, body = PageOf<StaffView>), (status = 401, body = ErrorBody)))]
async fn list_staff(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<PageOf<StaffView>>, ApiError> {
    let page = pond_store::staff::list(&state.db, caller.corp_id, q.search(), q.page()).await?;
    Ok(Json(PageOf::from_page(page)))
}

#[utoipa::path(get, path = "/api/v1/customers", tag = "customers", params(ListQuery),
    responses((status = 200, body = PageOf<CustomerView>), (status = 401, body = ErrorBody)))]
async fn list_customers(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<PageOf<CustomerView>>, ApiError> {
    let page = pond_store::customer::list(&state.db, caller.corp_id, q.search(), q.page()).await?;
    Ok(Json(PageOf::from_page(page)))
}

/// One customer with the employees who follow them and the tags each put on them.
#[utoipa::path(get, path = "/api/v1/customers/{external_userid}", tag = "customers",
    params(("external_userid" = String, Path, description = "WeCom external_userid")),
    responses((status = 200, body = CustomerDetail), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_customer(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    ApiPath(external_userid): ApiPath<String>,
) -> Result<Json<CustomerDetail>, ApiError> {
    let customer = pond_store::customer::get(&state.db, caller.corp_id, &external_userid).await?;
    let mut follows = Vec::new();
    for f in pond_store::customer::follows_of(&state.db, caller.corp_id, &external_userid).await? {
        let tags = pond_store::customer::follow_tags(&state.db, caller.corp_id, &external_userid, &f.userid).await?;
        follows.push(FollowView::new(f, tags));
    }
    let welcome_results =
        pond_store::welcome::results_for_customer(&state.db, caller.corp_id, &external_userid).await?;
    Ok(Json(CustomerDetail {
        customer: customer.into(),
        follows,
        welcome_results: welcome_results.into_iter().map(Into::into).collect(),
    }))
}

#[utoipa::path(get, path = "/api/v1/tags", tag = "tags", params(ListQuery),
    responses((status = 200, body = PageOf<TagView>), (status = 401, body = ErrorBody)))]
async fn list_tags(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<PageOf<TagView>>, ApiError> {
    let page = pond_store::tag::list(&state.db, caller.corp_id, q.search(), q.page()).await?;
    Ok(Json(PageOf::from_page(page)))
}

#[utoipa::path(get, path = "/api/v1/groups", tag = "groups", params(ListQuery),
    responses((status = 200, body = PageOf<GroupView>), (status = 401, body = ErrorBody)))]
async fn list_groups(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<PageOf<GroupView>>, ApiError> {
    let page = pond_store::group::list(&state.db, caller.corp_id, q.search(), q.page()).await?;
    Ok(Json(PageOf::from_page(page)))
}

#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs", params(JobsQuery),
    responses((status = 200, body = PageOf<JobView>), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_jobs(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    ApiQuery(q): ApiQuery<JobsQuery>,
) -> Result<Json<PageOf<JobView>>, ApiError> {
    let status =
        match q.status.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(s) => Some(s.parse::<JobStatus>().map_err(|_| {
                pond_core::ValidationError::new("status", "must be one of pending, running, done, failed")
            })?),
        };
    let page = pond_store::jobs::list(&state.db, caller.corp_id, status, PageRequest::new(q.page, q.per_page)).await?;
    Ok(Json(PageOf::from_page(page)))
}

/// Puts a failed job back in the queue with a fresh set of attempts.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/retry", tag = "jobs",
    params(("id" = i64, Path, description = "Job id")),
    responses((status = 200, body = JobView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn retry_job(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<JobView>, ApiError> {
    pond_store::jobs::retry(&state.db, caller.corp_id, id).await?;
    pond_store::audit::record(&state.db, caller.corp_id, &caller.actor, "job.retry", &format!("job:{id}"), "").await?;
    state.wake_worker.notify_one();
    Ok(Json(pond_store::jobs::get(&state.db, caller.corp_id, id).await?.into()))
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(ListQuery),
    responses((status = 200, body = PageOf<AuditView>), (status = 401, body = ErrorBody)))]
async fn list_audit(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<PageOf<AuditView>>, ApiError> {
    let page = pond_store::audit::list(&state.db, caller.corp_id, q.search(), q.page()).await?;
    Ok(Json(PageOf::from_page(page)))
}

/// Starts a full sync of the corp with WeCom in the background (202); poll `GET /api/v1/sync`.
#[utoipa::path(post, path = "/api/v1/sync", tag = "sync",
    responses((status = 202, body = SyncRunView), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn start_sync(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
) -> Result<(axum::http::StatusCode, Json<SyncRunView>), ApiError> {
    let run = crate::sync::spawn_full_sync(&state, caller.corp_id, &caller.actor).await.map_err(|e| match e {
        crate::sync::StartError::Store(s) => ApiError::from(s),
        other => ApiError::Conflict(other.to_string()),
    })?;
    pond_store::audit::record(&state.db, caller.corp_id, &caller.actor, "sync.start", &format!("sync:{}", run.id), "")
        .await?;
    Ok((axum::http::StatusCode::ACCEPTED, Json(run.into())))
}

/// The latest sync run with its progress.
#[utoipa::path(get, path = "/api/v1/sync", tag = "sync",
    responses((status = 200, body = SyncRunView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn latest_sync(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
) -> Result<Json<SyncRunView>, ApiError> {
    let run = pond_store::sync_run::latest(&state.db, caller.corp_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no sync has run yet".into()))?;
    Ok(Json(run.into()))
}

use crate::channel_codes::{self, CodeInput, CodeStats, WelcomeInput};

#[utoipa::path(get, path = "/api/v1/welcome-messages", tag = "acquisition",
    responses((status = 200, body = Vec<WelcomeView>), (status = 401, body = ErrorBody)))]
async fn list_welcome(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
) -> Result<Json<Vec<WelcomeView>>, ApiError> {
    Ok(Json(pond_store::welcome::list(&state.db, caller.corp_id).await?.into_iter().map(Into::into).collect()))
}

/// Adds a welcome message (text with `{customer_name}` / `{staff_name}`, up to 9 attachments).
#[utoipa::path(post, path = "/api/v1/welcome-messages", tag = "acquisition", request_body = WelcomeInput,
    responses((status = 201, body = WelcomeView), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_welcome(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    ApiJson(input): ApiJson<WelcomeInput>,
) -> Result<(axum::http::StatusCode, Json<WelcomeView>), ApiError> {
    let (name, attachments) = input.validate()?;
    let m = pond_store::welcome::create(
        &state.db,
        caller.corp_id,
        &name,
        input.text.trim(),
        &attachments,
        input.is_default,
    )
    .await?;
    pond_store::audit::record(
        &state.db,
        caller.corp_id,
        &caller.actor,
        "welcome.create",
        &format!("welcome:{}", m.id),
        &m.name,
    )
    .await?;
    Ok((axum::http::StatusCode::CREATED, Json(m.into())))
}

#[utoipa::path(delete, path = "/api/v1/welcome-messages/{id}", tag = "acquisition", params(("id" = i64, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_welcome(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    ApiPath(id): ApiPath<i64>,
) -> Result<axum::http::StatusCode, ApiError> {
    pond_store::welcome::delete(&state.db, caller.corp_id, id).await?;
    pond_store::audit::record(&state.db, caller.corp_id, &caller.actor, "welcome.delete", &format!("welcome:{id}"), "")
        .await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffWelcomeInput {
    /// The message this employee greets with; `null` to use the corp default.
    pub welcome_id: Option<i64>,
}

/// Sets the welcome message an employee greets new customers with (when the code has none).
#[utoipa::path(put, path = "/api/v1/staff/{userid}/welcome", tag = "acquisition", params(("userid" = String, Path)), request_body = StaffWelcomeInput,
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn set_staff_welcome(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    ApiPath(userid): ApiPath<String>,
    ApiJson(input): ApiJson<StaffWelcomeInput>,
) -> Result<axum::http::StatusCode, ApiError> {
    pond_store::staff::get(&state.db, caller.corp_id, &userid).await?;
    if let Some(id) = input.welcome_id {
        pond_store::welcome::get(&state.db, caller.corp_id, id).await?;
    }
    pond_store::welcome::set_for_staff(&state.db, caller.corp_id, &userid, input.welcome_id).await?;
    pond_store::audit::record(
        &state.db,
        caller.corp_id,
        &caller.actor,
        "staff.welcome",
        &userid,
        &format!("{:?}", input.welcome_id),
    )
    .await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/channel-codes", tag = "acquisition",
    responses((status = 200, body = Vec<CodeView>), (status = 401, body = ErrorBody)))]
async fn list_codes(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
) -> Result<Json<Vec<CodeView>>, ApiError> {
    let codes = pond_store::channel_code::list(&state.db, caller.corp_id).await?;
    Ok(Json(codes.iter().map(|c| CodeView::new(c, &channel_codes::landing_url(&state, c))).collect()))
}

/// Creates a channel live code; a native code gets its WeCom contact way (and QR) at once.
#[utoipa::path(post, path = "/api/v1/channel-codes", tag = "acquisition", request_body = CodeInput,
    responses((status = 201, body = CodeView), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_code(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    ApiJson(input): ApiJson<CodeInput>,
) -> Result<(axum::http::StatusCode, Json<CodeView>), ApiError> {
    let code = channel_codes::create(&state, caller.corp_id, input).await?;
    pond_store::audit::record(
        &state.db,
        caller.corp_id,
        &caller.actor,
        "channel_code.create",
        &format!("code:{}", code.id),
        &code.name,
    )
    .await?;
    Ok((axum::http::StatusCode::CREATED, Json(CodeView::new(&code, &channel_codes::landing_url(&state, &code)))))
}

#[utoipa::path(get, path = "/api/v1/channel-codes/{id}", tag = "acquisition", params(("id" = i64, Path)),
    responses((status = 200, body = CodeView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_code(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<CodeView>, ApiError> {
    let code = pond_store::channel_code::get(&state.db, caller.corp_id, id).await?;
    Ok(Json(CodeView::new(&code, &channel_codes::landing_url(&state, &code))))
}

/// Changes a code's routing, tags, welcome and remark (mode and state stay).
#[utoipa::path(put, path = "/api/v1/channel-codes/{id}", tag = "acquisition", params(("id" = i64, Path)), request_body = CodeInput,
    responses((status = 200, body = CodeView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_code(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<CodeInput>,
) -> Result<Json<CodeView>, ApiError> {
    let code = channel_codes::update(&state, caller.corp_id, id, input).await?;
    pond_store::audit::record(
        &state.db,
        caller.corp_id,
        &caller.actor,
        "channel_code.update",
        &format!("code:{id}"),
        &code.name,
    )
    .await?;
    Ok(Json(CodeView::new(&code, &channel_codes::landing_url(&state, &code))))
}

#[utoipa::path(delete, path = "/api/v1/channel-codes/{id}", tag = "acquisition", params(("id" = i64, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_code(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    ApiPath(id): ApiPath<i64>,
) -> Result<axum::http::StatusCode, ApiError> {
    channel_codes::delete(&state, caller.corp_id, id).await?;
    pond_store::audit::record(
        &state.db,
        caller.corp_id,
        &caller.actor,
        "channel_code.delete",
        &format!("code:{id}"),
        "",
    )
    .await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// Date range for stats (China dates, inclusive); defaults to the last 30 days.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// `YYYY-MM-DD`
    pub from: Option<String>,
    /// `YYYY-MM-DD`, inclusive
    pub to: Option<String>,
}

async fn load_stats(
    state: &AppState,
    corp_id: i64,
    id: i64,
    q: &StatsQuery,
) -> Result<(pond_store::channel_code::ChannelCode, CodeStats), ApiError> {
    let code = pond_store::channel_code::get(&state.db, corp_id, id).await?;
    let now = pond_store::now_ms();
    let today = crate::acquisition::local_day_start(now);
    let to = match &q.to {
        Some(t) => channel_codes::parse_date("to", t)? + 86_400_000,
        None => today + 86_400_000,
    };
    let from = match &q.from {
        Some(f) => channel_codes::parse_date("from", f)?,
        None => to - 30 * 86_400_000,
    };
    if from >= to || to - from > 366 * 86_400_000 {
        return Err(pond_core::ValidationError::new("from", "range must be 1 to 366 days with from before to").into());
    }
    let stats = channel_codes::stats(&state.db, &code, from, to, now).await?;
    Ok((code, stats))
}

/// Per-day and per-employee figures: scans (landing codes), new customers, lost, net, still connected after 7 days.
#[utoipa::path(get, path = "/api/v1/channel-codes/{id}/stats", tag = "acquisition", params(("id" = i64, Path), StatsQuery),
    responses((status = 200, body = CodeStats), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn code_stats(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<StatsQuery>,
) -> Result<Json<CodeStats>, ApiError> {
    Ok(Json(load_stats(&state, caller.corp_id, id, &q).await?.1))
}

/// The same figures as CSV (UTF-8 with BOM, opens in Excel).
#[utoipa::path(get, path = "/api/v1/channel-codes/{id}/stats.csv", tag = "acquisition", params(("id" = i64, Path), StatsQuery),
    responses((status = 200, content_type = "text/csv"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn code_stats_csv(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<StatsQuery>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let (code, stats) = load_stats(&state, caller.corp_id, id, &q).await?;
    let disposition = format!("attachment; filename=\"channel-code-{id}.csv\"");
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (axum::http::header::CONTENT_DISPOSITION, disposition),
        ],
        channel_codes::stats_csv(&code, &stats),
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

async fn qr_target(state: &AppState, corp_id: i64, id: i64) -> Result<String, ApiError> {
    let code = pond_store::channel_code::get(&state.db, corp_id, id).await?;
    if code.mode == "native" {
        // WeCom draws native codes; its image URL is what gets printed.
        return Err(ApiError::Conflict(format!("native codes print WeCom's own QR image: {}", code.qr_code)));
    }
    Ok(channel_codes::landing_url(state, &code))
}

fn qr_size(q: &QrQuery) -> Result<u32, ApiError> {
    let size = q.size.unwrap_or(1024);
    if !(128..=4096).contains(&size) {
        return Err(pond_core::ValidationError::new("size", "must be 128..=4096").into());
    }
    Ok(size)
}

#[utoipa::path(get, path = "/api/v1/channel-codes/{id}/qr.png", tag = "acquisition", params(("id" = i64, Path), QrQuery),
    responses((status = 200, content_type = "image/png"), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn code_qr_png(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<QrQuery>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let png = channel_codes::qr_png(&qr_target(&state, caller.corp_id, id).await?, qr_size(&q)?)?;
    Ok(([(axum::http::header::CONTENT_TYPE, "image/png")], png).into_response())
}

#[utoipa::path(get, path = "/api/v1/channel-codes/{id}/qr.svg", tag = "acquisition", params(("id" = i64, Path), QrQuery),
    responses((status = 200, content_type = "image/svg+xml"), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn code_qr_svg(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<QrQuery>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let svg = channel_codes::qr_svg(&qr_target(&state, caller.corp_id, id).await?, qr_size(&q)?)?;
    Ok(([(axum::http::header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}

/// Stores of the regional code with their last-30-days figures (scans, found by location, new, lost).
#[utoipa::path(get, path = "/api/v1/stores", tag = "acquisition",
    responses((status = 200, body = Vec<crate::regional::StoreView>), (status = 401, body = ErrorBody)))]
async fn list_stores(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
) -> Result<Json<Vec<crate::regional::StoreView>>, ApiError> {
    Ok(Json(crate::regional::views(&state.db, caller.corp_id).await?))
}

/// The outcome of a store import.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    /// Stores created or updated (0 when any line was refused: nothing is half-imported).
    pub imported: usize,
    pub errors: Vec<crate::regional::LineError>,
}

/// Imports stores from CSV (`name,address,city,latitude,longitude,staff`, staff separated by `|`),
/// creating or updating by name. Any bad line refuses the whole file with a per-line report (422).
#[utoipa::path(post, path = "/api/v1/stores/import", tag = "acquisition", request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = ImportReport), (status = 401, body = ErrorBody), (status = 422, body = ImportReport)))]
async fn import_stores(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    body: axum::body::Bytes,
) -> Result<(axum::http::StatusCode, Json<ImportReport>), ApiError> {
    let text = String::from_utf8(body.to_vec()).map_err(|_| ApiError::BadRequest("the CSV must be UTF-8".into()))?;
    match crate::regional::import(&state, caller.corp_id, &text).await? {
        Ok(n) => {
            pond_store::audit::record(
                &state.db,
                caller.corp_id,
                &caller.actor,
                "stores.import",
                "stores",
                &format!("{n} stores"),
            )
            .await?;
            Ok((axum::http::StatusCode::OK, Json(ImportReport { imported: n, errors: vec![] })))
        }
        Err(errors) => Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, Json(ImportReport { imported: 0, errors }))),
    }
}

/// An employee's external business card, as WeCom has it.
#[utoipa::path(get, path = "/api/v1/staff/{userid}/card", tag = "staff", params(("userid" = String, Path)),
    responses((status = 200, body = crate::business_card::Card), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_card(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    ApiPath(userid): ApiPath<String>,
) -> Result<Json<crate::business_card::Card>, ApiError> {
    Ok(Json(crate::business_card::read(&state, caller.corp_id, &userid).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardsInput {
    /// Employees to give this card (1–100).
    pub userids: Vec<String>,
    pub card: crate::business_card::Card,
}

/// Writes one business card to many employees through WeCom; each gets its own result.
#[utoipa::path(put, path = "/api/v1/staff/cards", tag = "staff", request_body = CardsInput,
    responses((status = 200, body = Vec<crate::business_card::CardResult>), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn put_cards(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    ApiJson(input): ApiJson<CardsInput>,
) -> Result<Json<Vec<crate::business_card::CardResult>>, ApiError> {
    let results = crate::business_card::write_many(&state, caller.corp_id, &input.userids, &input.card).await?;
    let ok = results.iter().filter(|r| r.ok).count();
    pond_store::audit::record(
        &state.db,
        caller.corp_id,
        &caller.actor,
        "staff.card",
        &input.userids.join(","),
        &format!("{ok}/{} updated", results.len()),
    )
    .await?;
    Ok(Json(results))
}

/// The outcome of a code import.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CodeImportReport {
    /// Codes created (none when any line was refused).
    pub created: Vec<CodeView>,
    pub errors: Vec<crate::regional::LineError>,
}

/// Creates channel codes in bulk from CSV:
/// `name,channel_group,mode,strategy,state,staff,daily_cap,auto_tags,welcome_id,remark_prefix`
/// (staff `userid[:weight]` and tags separated by `|`). All or nothing, with a per-line report.
#[utoipa::path(post, path = "/api/v1/channel-codes/import", tag = "acquisition", request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = CodeImportReport), (status = 401, body = ErrorBody), (status = 422, body = CodeImportReport)))]
async fn import_codes(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    body: axum::body::Bytes,
) -> Result<(axum::http::StatusCode, Json<CodeImportReport>), ApiError> {
    let text = String::from_utf8(body.to_vec()).map_err(|_| ApiError::BadRequest("the CSV must be UTF-8".into()))?;
    match channel_codes::import_csv(&state, caller.corp_id, &text).await? {
        Ok(codes) => {
            pond_store::audit::record(
                &state.db,
                caller.corp_id,
                &caller.actor,
                "channel_code.import",
                "codes",
                &format!("{} codes", codes.len()),
            )
            .await?;
            let created = codes.iter().map(|c| CodeView::new(c, &channel_codes::landing_url(&state, c))).collect();
            Ok((axum::http::StatusCode::OK, Json(CodeImportReport { created, errors: vec![] })))
        }
        Err(errors) => {
            Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, Json(CodeImportReport { created: vec![], errors })))
        }
    }
}
