//! What every response carries, whatever answered it: the security headers (a strict
//! Content-Security-Policy with no inline script or style, no framing, `nosniff`, a same-origin
//! referrer, HSTS when Pond is served over HTTPS), and the error shape — a bare 408, 413 or other
//! error from a layer (timeout, body limit) becomes `{"code", "message"}` like every API error.

use axum::{
    extract::{Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use pond_app::App;

use crate::{console::content_security_policy, error::ApiError};

/// The middleware over the whole application.
pub async fn every_response(State(app): State<App>, req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let mut resp = error_shape(resp);
    let h = resp.headers_mut();
    if !h.contains_key(header::CONTENT_SECURITY_POLICY)
        && let Ok(csp) = HeaderValue::from_str(&content_security_policy(app.config.security.loopback_images))
    {
        h.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if app.config.public_url.trim().to_ascii_lowercase().starts_with("https://") {
        h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
    }
    resp
}

/// An error answer without a body of ours (from a layer, not a handler) in the error shape.
fn error_shape(resp: Response) -> Response {
    let status = resp.status();
    let has_body_type = resp.headers().contains_key(header::CONTENT_TYPE)
        && !resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("text/plain"));
    if !(status.is_client_error() || status.is_server_error()) || has_body_type {
        return resp;
    }
    let error = match status {
        StatusCode::REQUEST_TIMEOUT => ApiError::Timeout,
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
        StatusCode::NOT_FOUND => ApiError::NotFound("not found".into()),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
        s if s.is_server_error() => ApiError::Internal(format!("status {s} without a body")),
        s => ApiError::BadRequest(s.canonical_reason().unwrap_or("bad request").to_owned()),
    };
    let (mut parts, _) = resp.into_parts();
    let fresh = error.into_response();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    // The status stays the one answered (a 503 from /readyz stays 503).
    let (_, body) = fresh.into_parts();
    Response::from_parts(parts, body)
}
