//! Liveness and readiness (unauthenticated, as probes expect) and metrics (a token, or loopback).

use axum::{
    extract::{MatchedPath, Request, State},
    http::{StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

use pond_app::App;

/// GET /healthz: the process is up.
pub async fn healthz() -> &'static str {
    "ok"
}

/// GET /readyz: the database answers.
pub async fn readyz(State(state): State<App>) -> Response {
    if state.db.ping().await {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
    }
}

/// GET /metrics: Prometheus text format. With `security.metrics_token` set, only for
/// `Authorization: Bearer <token>`; without it, only for requests made on this machine and not
/// relayed by a proxy, since the figures tell how busy the corp's callbacks and customers are.
pub async fn metrics(State(state): State<App>, req: Request) -> Response {
    let headers = req.headers();
    let token = state.config.security.metrics_token.trim();
    let allowed = if token.is_empty() {
        crate::console::session::is_local_request(headers, req.extensions())
    } else {
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|given| pond_app::auth::same_secret(given.trim(), token))
    };
    if !allowed {
        return crate::error::ApiError::Unauthorized.into_response();
    }
    let gauges = pond_app::metrics::Gauges {
        jobs: pond_store::jobs::counts_by_status(&state.db).await.unwrap_or_default(),
        inbox: pond_store::inbox::counts_by_status(&state.db).await.unwrap_or_default(),
        wecom: state.wecom.totals(),
    };
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render(&gauges)).into_response()
}

/// Middleware counting every request by method, matched route pattern and status.
pub async fn track(State(state): State<App>, req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let route = req.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let resp = next.run(req).await;
    state.metrics.record_request(&method, &route, resp.status().as_u16());
    resp
}
