//! Admission to `/api/v1`: a valid bearer token or nothing (401 in the error shape), then the
//! token's role against the route's rule (403).

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::Response,
};
use pond_app::App;
pub use pond_app::auth::ApiCaller;

use crate::error::ApiError;

/// Middleware over all of `/api/v1`: no valid bearer token, no entry.
pub async fn require_api_token(State(app): State<App>, mut req: Request, next: Next) -> Result<Response, ApiError> {
    let token = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(ApiError::Unauthorized)?;
    let caller = pond_app::auth::find_api_caller(&app, token).await?.ok_or(ApiError::Unauthorized)?;
    req.extensions_mut().insert(caller);
    Ok(next.run(req).await)
}

/// Route middleware: the caller's role must reach the route's rule (see `crate::api`). A route
/// without a rule refuses everyone, so a new route cannot be open by omission.
pub async fn require_role(
    rules: std::sync::Arc<std::collections::HashMap<(String, String), pond_core::Role>>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let path = req.extensions().get::<axum::extract::MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_default();
    // HEAD is answered by the GET route, under its rule.
    let method = if req.method() == axum::http::Method::HEAD { "GET" } else { req.method().as_str() };
    let rule = rules.get(&(method.to_owned(), path.clone())).copied();
    let caller = req.extensions().get::<ApiCaller>().ok_or(ApiError::Unauthorized)?;
    match rule {
        Some(lowest) if caller.role >= lowest => Ok(next.run(req).await),
        Some(lowest) => {
            tracing::info!(token = %caller.actor, role = %caller.role, %path, "API call refused for role");
            Err(ApiError::Forbidden(format!(
                "this API token's role ({}) may not do this; it needs {lowest}",
                caller.role
            )))
        }
        None => {
            tracing::error!(%path, method = %req.method(), "API route without an access rule refused");
            Err(ApiError::Forbidden("this route has no access rule".into()))
        }
    }
}
