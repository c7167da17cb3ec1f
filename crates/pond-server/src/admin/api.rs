//! Admin API: corp settings, jobs, audit log, sync runs.

use utoipa_axum::{router::OpenApiRouter, routes};

use pond_app::corp::settings::SettingsInput;
use pond_core::{JobStatus, PageRequest};

use crate::api::prelude::*;

/// This feature's documented API routes.
pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(get_corp, put_corp))
        .routes(routes!(list_jobs))
        .routes(routes!(retry_job))
        .routes(routes!(retry_jobs_of_kind))
        .routes(routes!(list_events))
        .routes(routes!(retry_event))
        .routes(routes!(retry_events))
        .routes(routes!(pipeline_troubles))
        .routes(routes!(list_audit))
        .routes(routes!(start_sync, latest_sync))
        .routes(routes!(list_sync_runs))
}

#[utoipa::path(get, path = "/api/v1/corp", security(("bearer" = ["admin"])), tag = "corp",
    responses((status = 200, body = CorpView), (status = 401, body = ErrorBody)))]
async fn get_corp(
    State(state): State<App>,
    Extension(caller): Extension<ApiCaller>,
) -> Result<Json<CorpView>, ApiError> {
    let corp = state.corps.get(&state.db, caller.corp_id).await?;
    Ok(Json(CorpView::new(&corp)))
}

/// Replaces the corp's WeCom settings: `name`, `wecom_corp_id`, `agent_id` and `api_base_url` must
/// all be sent (a body without one is refused rather than clearing it). Secret fields left empty
/// keep their stored values; changing `api_base_url` requires `app_secret` and `contact_secret`
/// (those set) again.
#[utoipa::path(put, path = "/api/v1/corp", security(("bearer" = ["admin"])), tag = "corp", request_body = SettingsInput,
    responses((status = 200, body = CorpView), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn put_corp(
    State(state): State<App>,
    Extension(caller): Extension<ApiCaller>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<Json<CorpView>, ApiError> {
    const REQUIRED: [&str; 4] = ["name", "wecom_corp_id", "agent_id", "api_base_url"];
    if let Some(missing) = REQUIRED.iter().find(|k| body.get(**k).is_none()) {
        return Err(pond_core::ValidationError::new(
            missing,
            "is required: PUT replaces the settings, so send every field (null agent_id and empty texts clear them)",
            "必填：PUT 会替换全部设置，请提交所有字段（agent_id 为 null、文本为空表示清空）",
        )
        .into());
    }
    let input: SettingsInput = serde_json::from_value(body)
        .map_err(|e| pond_core::ValidationError::new("body", e.to_string(), format!("请求内容格式不正确：{e}")))?;
    let corp = pond_app::admin::update_corp(&state, &caller.actor, caller.corp_id, &input).await?;
    Ok(Json(CorpView::new(&corp)))
}

#[utoipa::path(get, path = "/api/v1/jobs", security(("bearer" = ["readonly"])), tag = "jobs", params(JobsQuery),
    responses((status = 200, body = PageOf<JobView>), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_jobs(
    State(state): State<App>,
    Extension(caller): Extension<ApiCaller>,
    ApiQuery(q): ApiQuery<JobsQuery>,
) -> Result<Json<PageOf<JobView>>, ApiError> {
    let status = match q.status.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => Some(s.parse::<JobStatus>().map_err(|_| {
            pond_core::ValidationError::new(
                "status",
                "must be one of pending, running, done, failed",
                "须为 pending、running、done、failed 之一",
            )
        })?),
    };
    let page = pond_store::jobs::list(&state.db, caller.corp_id, status, PageRequest::new(q.page, q.per_page)).await?;
    Ok(Json(PageOf::from_page(page)))
}

/// Puts a failed job back in the queue with a fresh set of attempts.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/retry", security(("bearer" = ["admin"])), tag = "jobs",
    params(("id" = i64, Path, description = "Job id")),
    responses((status = 200, body = JobView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn retry_job(
    State(state): State<App>,
    Extension(caller): Extension<ApiCaller>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<JobView>, ApiError> {
    Ok(Json(pond_app::admin::retry_job(&state, &caller.actor, caller.corp_id, id).await?.into()))
}

/// What to retry in bulk.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryKind {
    /// A job kind (`welcome.send`, …).
    pub kind: String,
}

/// Puts every failed job of one kind back in the queue with a fresh set of attempts.
#[utoipa::path(post, path = "/api/v1/jobs/retry", security(("bearer" = ["admin"])), tag = "jobs",
    request_body = RetryKind,
    responses((status = 200, body = RetriedView), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn retry_jobs_of_kind(
    State(state): State<App>,
    Extension(caller): Extension<ApiCaller>,
    ApiJson(body): ApiJson<RetryKind>,
) -> Result<Json<RetriedView>, ApiError> {
    let retried = pond_app::admin::retry_failed_jobs(&state, &caller.actor, caller.corp_id, &body.kind).await?;
    Ok(Json(RetriedView { retried }))
}

/// The stored WeCom callbacks (newest first) and how applying each went.
#[utoipa::path(get, path = "/api/v1/events", security(("bearer" = ["readonly"])), tag = "events", params(EventsQuery),
    responses((status = 200, body = PageOf<EventView>), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_events(
    State(state): State<App>,
    Extension(caller): Extension<ApiCaller>,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> Result<Json<PageOf<EventView>>, ApiError> {
    let status = q.status.as_deref().map(str::trim).unwrap_or("");
    if !["", "pending", "processing", "done", "failed"].contains(&status) {
        return Err(pond_core::ValidationError::new(
            "status",
            "must be one of pending, processing, done, failed",
            "须为 pending、processing、done、failed 之一",
        )
        .into());
    }
    let search = q.q.as_deref().filter(|s| !s.trim().is_empty());
    let page = pond_store::inbox::list(&state.db, caller.corp_id, search, status, PageRequest::new(q.page, q.per_page))
        .await?;
    Ok(Json(PageOf::from_page(page)))
}

/// Puts a failed event back in the queue with a fresh set of attempts.
#[utoipa::path(post, path = "/api/v1/events/{id}/retry", security(("bearer" = ["admin"])), tag = "events",
    params(("id" = i64, Path, description = "Event id")),
    responses((status = 200, body = EventView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn retry_event(
    State(state): State<App>,
    Extension(caller): Extension<ApiCaller>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<EventView>, ApiError> {
    use pond_app::admin::EventsToRetry;
    pond_app::admin::retry_failed_events(&state, &caller.actor, caller.corp_id, EventsToRetry::One(id)).await?;
    Ok(Json(pond_store::inbox::get(&state.db, caller.corp_id, id).await?.into()))
}

/// Which failed events to retry in bulk.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryEvents {
    /// Only events of this type; every failed event when absent.
    pub event_type: Option<String>,
}

/// Puts failed events (of one type, or all) back in the queue with a fresh set of attempts.
#[utoipa::path(post, path = "/api/v1/events/retry", security(("bearer" = ["admin"])), tag = "events",
    request_body = RetryEvents,
    responses((status = 200, body = RetriedView), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn retry_events(
    State(state): State<App>,
    Extension(caller): Extension<ApiCaller>,
    ApiJson(body): ApiJson<RetryEvents>,
) -> Result<Json<RetriedView>, ApiError> {
    use pond_app::admin::EventsToRetry;
    let which = match body.event_type.as_deref() {
        Some(t) => EventsToRetry::OfType(t),
        None => EventsToRetry::All,
    };
    let retried = pond_app::admin::retry_failed_events(&state, &caller.actor, caller.corp_id, which).await?;
    Ok(Json(RetriedView { retried }))
}

/// Events failed or waiting for a retry after an error (by type), and failed jobs (by kind).
#[utoipa::path(get, path = "/api/v1/pipeline/troubles", security(("bearer" = ["readonly"])), tag = "events",
    responses((status = 200, body = pond_app::admin::PipelineTroubles), (status = 401, body = ErrorBody)))]
async fn pipeline_troubles(
    State(state): State<App>,
    Extension(caller): Extension<ApiCaller>,
) -> Result<Json<pond_app::admin::PipelineTroubles>, ApiError> {
    Ok(Json(pond_app::admin::pipeline_troubles(&state, caller.corp_id).await?))
}

#[utoipa::path(get, path = "/api/v1/audit", security(("bearer" = ["admin"])), tag = "audit", params(ListQuery),
    responses((status = 200, body = PageOf<AuditView>), (status = 401, body = ErrorBody)))]
async fn list_audit(
    State(state): State<App>,
    Extension(caller): Extension<ApiCaller>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<PageOf<AuditView>>, ApiError> {
    let page = pond_store::audit::list(&state.db, caller.corp_id, q.search(), q.page()).await?;
    Ok(Json(PageOf::from_page(page)))
}

/// Which sync to start.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SyncStartQuery {
    /// `full` (default: everything, every row rewritten) or `incremental` (what may have changed,
    /// only differing rows written; group members left to full syncs).
    pub kind: Option<String>,
}

/// Starts a sync of the corp with WeCom in the background (202); poll `GET /api/v1/sync`.
#[utoipa::path(post, path = "/api/v1/sync", security(("bearer" = ["admin"])), tag = "sync", params(SyncStartQuery),
    responses((status = 202, body = SyncRunView), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn start_sync(
    State(state): State<App>,
    Extension(caller): Extension<ApiCaller>,
    ApiQuery(q): ApiQuery<SyncStartQuery>,
) -> Result<(axum::http::StatusCode, Json<SyncRunView>), ApiError> {
    let kind = pond_app::admin::sync_kind(q.kind.as_deref())?;
    let run = pond_app::admin::start_sync(&state, &caller.actor, caller.corp_id, kind).await?;
    Ok((axum::http::StatusCode::ACCEPTED, Json(run.into())))
}

/// The corp's sync runs, newest first: why each ran and what it cost.
#[utoipa::path(get, path = "/api/v1/sync/runs", security(("bearer" = ["readonly"])), tag = "sync", params(ListQuery),
    responses((status = 200, body = PageOf<SyncRunView>), (status = 401, body = ErrorBody)))]
async fn list_sync_runs(
    State(state): State<App>,
    Extension(caller): Extension<ApiCaller>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<PageOf<SyncRunView>>, ApiError> {
    let page = pond_store::sync_run::list(&state.db, caller.corp_id, q.page()).await?;
    Ok(Json(PageOf::from_page(page)))
}

/// The latest sync run with its progress.
#[utoipa::path(get, path = "/api/v1/sync", security(("bearer" = ["readonly"])), tag = "sync",
    responses((status = 200, body = SyncRunView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn latest_sync(
    State(state): State<App>,
    Extension(caller): Extension<ApiCaller>,
) -> Result<Json<SyncRunView>, ApiError> {
    let run = pond_store::sync_run::latest(&state.db, caller.corp_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no sync has run yet".into()))?;
    Ok(Json(run.into()))
}
