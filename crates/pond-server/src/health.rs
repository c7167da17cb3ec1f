//! Liveness, readiness and metrics endpoints (unauthenticated, as probes and scrapers expect).

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

/// GET /metrics: Prometheus text format.
pub async fn metrics(State(state): State<App>) -> Response {
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
