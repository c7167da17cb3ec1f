//! Customer-center API: staff, customers with their follow relations, tags, groups.

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::api::prelude::*;

/// This feature's documented API routes.
pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_staff))
        .routes(routes!(list_customers))
        .routes(routes!(get_customer))
        .routes(routes!(list_tags))
        .routes(routes!(list_groups))
}

#[utoipa::path(get, path = "/api/v1/staff", tag = "staff", params(ListQuery),
    responses((status = 200, body = PageOf<StaffView>), (status = 401, body = ErrorBody)))]
async fn list_staff(
    State(state): State<App>,
    Extension(caller): Extension<ApiCaller>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<PageOf<StaffView>>, ApiError> {
    let page = pond_store::staff::list(&state.db, caller.corp_id, q.search(), q.page()).await?;
    Ok(Json(PageOf::from_page(page)))
}

#[utoipa::path(get, path = "/api/v1/customers", tag = "customers", params(ListQuery),
    responses((status = 200, body = PageOf<CustomerView>), (status = 401, body = ErrorBody)))]
async fn list_customers(
    State(state): State<App>,
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

#[utoipa::path(get, path = "/api/v1/tags", tag = "tags", params(ListQuery),
    responses((status = 200, body = PageOf<TagView>), (status = 401, body = ErrorBody)))]
async fn list_tags(
    State(state): State<App>,
    Extension(caller): Extension<ApiCaller>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<PageOf<TagView>>, ApiError> {
    let page = pond_store::tag::list(&state.db, caller.corp_id, q.search(), q.page()).await?;
    Ok(Json(PageOf::from_page(page)))
}

#[utoipa::path(get, path = "/api/v1/groups", tag = "groups", params(ListQuery),
    responses((status = 200, body = PageOf<GroupView>), (status = 401, body = ErrorBody)))]
async fn list_groups(
    State(state): State<App>,
    Extension(caller): Extension<ApiCaller>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<PageOf<GroupView>>, ApiError> {
    let page = pond_store::group::list(&state.db, caller.corp_id, q.search(), q.page()).await?;
    Ok(Json(PageOf::from_page(page)))
}
