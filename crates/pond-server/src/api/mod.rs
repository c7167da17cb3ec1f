//! JSON API v1 under `/api/v1`, documented by an OpenAPI document generated from these handlers.
//!
//! Every route sits behind [`crate::auth::require_api_token`], applied to the whole nest, so a new
//! route cannot be added without authentication. Each operation names the lowest role allowed in
//! its documented security requirement (`security(("bearer" = ["operator"]))`); the token's role
//! is checked against the rule read from this same document, and a route without a rule refuses
//! every token. Errors use [`crate::error::ErrorBody`].

mod views;

/// What API files share.
pub(crate) mod prelude {
    pub use axum::{Extension, Json, extract::State};
    pub use pond_app::App;
    pub use serde::{Deserialize, Serialize};
    pub use utoipa::IntoParams;

    pub use super::{EventsQuery, JobsQuery, ListQuery, views::*};
    pub use crate::{
        auth::ApiCaller,
        error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody},
    };
}

use axum::{Json, Router, middleware};
use pond_core::PageRequest;
use serde::Deserialize;
use utoipa::{
    IntoParams, Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};
use utoipa_axum::router::OpenApiRouter;

pub use views::*;

use pond_app::App;

use crate::error::ErrorBody;

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

/// The documented routes of every feature and the OpenAPI document describing them (plus
/// `openapi.json` itself).
fn documented() -> (Router<App>, utoipa::openapi::OpenApi) {
    let routes = crate::app::FEATURES
        .iter()
        .fold(OpenApiRouter::with_openapi(ApiDoc::openapi()), |routes, feature| routes.merge((feature.api)()));
    let (router, mut doc) = routes.split_for_parts();
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

/// The lowest role allowed per `(method, path pattern)`, read from the operations' documented
/// security requirements. `openapi.json` itself is readable by every token.
pub fn access_rules() -> std::collections::HashMap<(String, String), pond_core::Role> {
    let doc = serde_json::to_value(openapi()).unwrap_or_default();
    let mut rules = std::collections::HashMap::new();
    rules.insert(("GET".to_owned(), "/api/v1/openapi.json".to_owned()), pond_core::Role::ReadOnly);
    for (path, ops) in doc.get("paths").and_then(|p| p.as_object()).into_iter().flatten() {
        for (method, op) in ops.as_object().into_iter().flatten() {
            let role = op
                .pointer("/security/0/bearer/0")
                .and_then(|r| r.as_str())
                .and_then(|r| r.parse::<pond_core::Role>().ok());
            if let Some(role) = role {
                rules.insert((method.to_ascii_uppercase(), path.clone()), role);
            }
        }
    }
    rules
}

/// All `/api/v1` routes, every one behind the API-token check and the role check (applied to the
/// whole router).
pub fn router(state: App) -> Router<App> {
    let (router, doc) = documented();
    let rules = std::sync::Arc::new(access_rules());
    router
        .route("/api/v1/openapi.json", axum::routing::get(move || async move { Json(doc) }))
        .route_layer(middleware::from_fn(move |req, next| crate::auth::require_role(rules.clone(), req, next)))
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
    pub fn page(&self) -> PageRequest {
        PageRequest::new(self.page, self.per_page)
    }
    pub fn search(&self) -> Option<&str> {
        self.q.as_deref().filter(|q| !q.trim().is_empty())
    }
}

/// Search, status filter and pagination for the inbox event list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// `pending`, `processing`, `done` or `failed`; all when absent.
    pub status: Option<String>,
    /// Case-insensitive substring of the event type, e.g. `add_external_contact`.
    pub q: Option<String>,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
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
