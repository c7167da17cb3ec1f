//! Customer-center API: staff, customers with their follow relations, tags, groups.

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::api::prelude::*;

/// This feature's documented API routes.
pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_staff))
        .routes(routes!(list_customers))
        .routes(routes!(get_customer))
        .routes(routes!(list_tags, create_tag))
        .routes(routes!(rename_tag, delete_tag))
        .routes(routes!(edit_follow))
        .routes(routes!(bulk_tag))
        .routes(routes!(list_groups))
}

#[utoipa::path(get, path = "/api/v1/staff", security(("bearer" = ["readonly"])), tag = "staff", params(ListQuery),
    responses((status = 200, body = PageOf<StaffView>), (status = 401, body = ErrorBody)))]
async fn list_staff(
    State(state): State<App>,
    Extension(caller): Extension<ApiCaller>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<PageOf<StaffView>>, ApiError> {
    let page = pond_store::staff::list(&state.db, caller.corp_id, q.search(), q.page()).await?;
    Ok(Json(PageOf::from_page(page)))
}

/// The customer list's filters (all optional), as in the console.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CustomerQuery {
    /// Part of the name, the external id or a remark.
    pub q: Option<String>,
    /// Followed by this employee (userid).
    pub userid: Option<String>,
    /// Carrying this tag (tag id).
    pub tag: Option<String>,
    /// Added through this contact-way `state`.
    pub state: Option<String>,
    /// First added on or after this local date, `YYYY-MM-DD`.
    pub from: Option<String>,
    /// First added on or before this local date, `YYYY-MM-DD`.
    pub to: Option<String>,
    /// `live` (still connected) or `lost`.
    pub status: Option<String>,
    /// `newest` (default), `oldest` or `name`.
    pub sort: Option<String>,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/customers", security(("bearer" = ["readonly"])), tag = "customers", params(CustomerQuery),
    responses((status = 200, body = PageOf<CustomerView>), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_customers(
    State(state): State<App>,
    Extension(caller): Extension<ApiCaller>,
    ApiQuery(q): ApiQuery<CustomerQuery>,
) -> Result<Json<PageOf<CustomerView>>, ApiError> {
    let zone = pond_app::acquisition::routing::corp_zone(&state, caller.corp_id).await?;
    let some = |v: &Option<String>| v.clone().unwrap_or_default();
    let filter = pond_app::customers::listing::FilterInput {
        search: some(&q.q),
        userid: some(&q.userid),
        tag_id: some(&q.tag),
        state: some(&q.state),
        from: some(&q.from),
        to: some(&q.to),
        status: some(&q.status),
    }
    .parse(zone)?;
    let order = match q.sort.as_deref() {
        Some("oldest") => pond_store::customer::CustomerOrder::OldestFirst,
        Some("name") => pond_store::customer::CustomerOrder::Name,
        _ => pond_store::customer::CustomerOrder::NewestFirst,
    };
    let req = pond_core::PageRequest::new(q.page, q.per_page);
    let page = pond_app::customers::listing::customers(&state, caller.corp_id, &filter, order, req).await?;
    Ok(Json(PageOf::from_page(page)))
}

/// One customer with the employees who follow them and the tags each put on them.
#[utoipa::path(get, path = "/api/v1/customers/{external_userid}", security(("bearer" = ["readonly"])), tag = "customers",
    params(("external_userid" = String, Path, description = "WeCom external_userid")),
    responses((status = 200, body = CustomerDetail), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_customer(
    State(state): State<App>,
    Extension(caller): Extension<ApiCaller>,
    ApiPath(external_userid): ApiPath<String>,
) -> Result<Json<CustomerDetail>, ApiError> {
    let detail = pond_app::customers::customer(&state, caller.corp_id, &external_userid).await?;
    Ok(Json(CustomerDetail {
        customer: detail.customer.into(),
        follows: detail.follows.into_iter().map(|f| FollowView::new(f.relation, f.tag_ids)).collect(),
        welcome_results: detail.welcome_results.into_iter().map(Into::into).collect(),
    }))
}

#[utoipa::path(get, path = "/api/v1/tags", security(("bearer" = ["readonly"])), tag = "tags", params(ListQuery),
    responses((status = 200, body = PageOf<TagView>), (status = 401, body = ErrorBody)))]
async fn list_tags(
    State(state): State<App>,
    Extension(caller): Extension<ApiCaller>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<PageOf<TagView>>, ApiError> {
    let page = pond_store::tag::list(&state.db, caller.corp_id, q.search(), q.page()).await?;
    Ok(Json(PageOf::from_page(page)))
}

#[utoipa::path(get, path = "/api/v1/groups", security(("bearer" = ["readonly"])), tag = "groups", params(ListQuery),
    responses((status = 200, body = PageOf<GroupView>), (status = 401, body = ErrorBody)))]
async fn list_groups(
    State(state): State<App>,
    Extension(caller): Extension<ApiCaller>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<PageOf<GroupView>>, ApiError> {
    let page = pond_store::group::list(&state.db, caller.corp_id, q.search(), q.page()).await?;
    Ok(Json(PageOf::from_page(page)))
}

/// A follow relation's new tags (the whole set) and remark.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FollowEdit {
    #[serde(default)]
    pub tag_ids: Vec<String>,
    #[serde(default)]
    pub remark: String,
}

/// Sets the tags and remark one employee keeps on one customer, in WeCom and in Pond.
#[utoipa::path(put, path = "/api/v1/customers/{external_userid}/follows/{userid}", security(("bearer" = ["admin"])), tag = "customers",
    params(("external_userid" = String, Path), ("userid" = String, Path)), request_body = FollowEdit,
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn edit_follow(
    State(state): State<App>,
    Extension(caller): Extension<ApiCaller>,
    ApiPath((external_userid, userid)): ApiPath<(String, String)>,
    ApiJson(input): ApiJson<FollowEdit>,
) -> Result<axum::http::StatusCode, ApiError> {
    let follow = pond_core::ids::Follow { external_userid: &external_userid, userid: &userid };
    pond_app::customers::listing::edit_follow(
        &state,
        &caller.actor,
        caller.corp_id,
        follow,
        &input.tag_ids,
        &input.remark,
    )
    .await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkTag {
    pub external_userids: Vec<String>,
    pub tag_ids: Vec<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Queued {
    /// Jobs queued: one per live follow relation of the chosen customers.
    pub queued: usize,
}

/// Tags many customers at once (through every employee still connected to each); queued as jobs.
#[utoipa::path(post, path = "/api/v1/customers/bulk-tag", security(("bearer" = ["admin"])), tag = "customers", request_body = BulkTag,
    responses((status = 202, body = Queued), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn bulk_tag(
    State(state): State<App>,
    Extension(caller): Extension<ApiCaller>,
    ApiJson(input): ApiJson<BulkTag>,
) -> Result<(axum::http::StatusCode, Json<Queued>), ApiError> {
    let queued = pond_app::customers::listing::bulk_tag(
        &state,
        &caller.actor,
        caller.corp_id,
        &input.external_userids,
        &input.tag_ids,
    )
    .await?;
    Ok((axum::http::StatusCode::ACCEPTED, Json(Queued { queued })))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTagInput {
    /// The group's name (created when no group has it).
    pub group: String,
    pub name: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedTag {
    pub tag_id: String,
}

/// Adds a tag to the corp's library in WeCom.
#[utoipa::path(post, path = "/api/v1/tags", security(("bearer" = ["admin"])), tag = "tags", request_body = NewTagInput,
    responses((status = 201, body = CreatedTag), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn create_tag(
    State(state): State<App>,
    Extension(caller): Extension<ApiCaller>,
    ApiJson(input): ApiJson<NewTagInput>,
) -> Result<(axum::http::StatusCode, Json<CreatedTag>), ApiError> {
    let tag_id =
        pond_app::customers::tags::create(&state, &caller.actor, caller.corp_id, &input.group, &input.name).await?;
    Ok((axum::http::StatusCode::CREATED, Json(CreatedTag { tag_id })))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagRename {
    pub name: String,
}

/// Renames a tag in WeCom.
#[utoipa::path(put, path = "/api/v1/tags/{tag_id}", security(("bearer" = ["admin"])), tag = "tags", params(("tag_id" = String, Path)), request_body = TagRename,
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn rename_tag(
    State(state): State<App>,
    Extension(caller): Extension<ApiCaller>,
    ApiPath(tag_id): ApiPath<String>,
    ApiJson(input): ApiJson<TagRename>,
) -> Result<axum::http::StatusCode, ApiError> {
    pond_app::customers::tags::rename(&state, &caller.actor, caller.corp_id, &tag_id, &input.name).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// Deletes a tag in WeCom (which removes it from every customer).
#[utoipa::path(delete, path = "/api/v1/tags/{tag_id}", security(("bearer" = ["admin"])), tag = "tags", params(("tag_id" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_tag(
    State(state): State<App>,
    Extension(caller): Extension<ApiCaller>,
    ApiPath(tag_id): ApiPath<String>,
) -> Result<axum::http::StatusCode, ApiError> {
    pond_app::customers::tags::delete(&state, &caller.actor, caller.corp_id, &tag_id).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}
