//! Admission to `/api/v1`: a valid bearer token or nothing (401 in the error shape).

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
