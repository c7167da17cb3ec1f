//! Assembles the HTTP application from its feature folders and runs it with this instance's
//! workers (from `pond-app`).

use std::{net::SocketAddr, time::Duration};

use axum::{
    Router,
    extract::{DefaultBodyLimit, Request},
    http::StatusCode,
    middleware,
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use pond_app::{App, pipeline::jobs::Registry};
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};
use tower_http::{timeout::TimeoutLayer, trace::TraceLayer};
use utoipa_axum::router::OpenApiRouter;

use crate::{api, console, console::RouteBook, error::ApiError, health};

/// What a feature folder gives the HTTP application.
pub struct FeatureRoutes {
    /// Its `/api/v1` routes, documented (they all sit behind the API-token check).
    pub api: fn() -> OpenApiRouter<App>,
    /// Its console pages (they all sit behind the session and CSRF checks).
    pub console: fn(RouteBook) -> RouteBook,
    /// Its public pages (customer-facing H5), if any.
    pub public: fn() -> Router<App>,
    /// Its entries in the console's navigation, in order.
    pub nav: &'static [NavItem],
    /// Its console text (see `console::i18n`).
    pub text: &'static [crate::console::i18n::Text],
}

/// One entry of the console's navigation.
#[derive(Debug, Clone, Copy)]
pub struct NavItem {
    /// The menu group it appears under.
    pub group: NavGroup,
    /// Its text key.
    pub key: &'static str,
    pub href: &'static str,
    /// Who sees it.
    pub shown_to: ShownTo,
}

/// The console menu's groups, in the order operators know from other SCRMs. A feature puts its
/// entries under one of these; a group with no visible entries is not shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NavGroup {
    /// The dashboard, above every group.
    Home,
    /// 客户中心: customers, staff, tags.
    Customers,
    /// 引流获客: channel codes, regional codes, fission.
    Acquisition,
    /// 客群运营: customer groups and their operations.
    Groups,
    /// 内容中心: welcome messages, materials, quick replies.
    Content,
    /// 风控管理: archive, sensitive words, inheritance.
    Risk,
    /// 系统设置: corp, users, tokens, sync, jobs, audit.
    System,
}

impl NavGroup {
    pub const ALL: [NavGroup; 7] = [
        NavGroup::Home,
        NavGroup::Customers,
        NavGroup::Acquisition,
        NavGroup::Groups,
        NavGroup::Content,
        NavGroup::Risk,
        NavGroup::System,
    ];
    /// The group's text key (none for Home, which has no heading).
    pub fn key(self) -> Option<&'static str> {
        match self {
            NavGroup::Home => None,
            NavGroup::Customers => Some("navgroup.customers"),
            NavGroup::Acquisition => Some("navgroup.acquisition"),
            NavGroup::Groups => Some("navgroup.groups"),
            NavGroup::Content => Some("navgroup.content"),
            NavGroup::Risk => Some("navgroup.risk"),
            NavGroup::System => Some("navgroup.system"),
        }
    }
}

/// Which roles see a navigation entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShownTo {
    Everyone,
    Admins,
    Owners,
}

/// The feature folders of the HTTP application. Adding a feature area is one line here.
pub static FEATURES: &[FeatureRoutes] =
    &[crate::home::ROUTES, crate::customers::ROUTES, crate::acquisition::ROUTES, crate::admin::ROUTES];

/// The whole HTTP application for `app`.
pub fn router(app: App) -> Router {
    let http = &app.config.http;
    let public = FEATURES.iter().fold(Router::new(), |router, feature| router.merge((feature.public)()));
    Router::new()
        .route("/", get(|| async { Redirect::to("/console") }))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/wecom/callback/{corp_id}", get(crate::callback::verify).post(crate::callback::receive))
        .merge(public)
        .merge(crate::assets::router())
        .merge(console::router(app.clone()))
        .merge(api::router(app.clone()))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(app.clone(), health::track))
        .layer(DefaultBodyLimit::max(http.body_limit_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(http.request_timeout_secs),
        ))
        // Outside the timeout, so that its 408 gets the error shape and the headers too.
        .layer(middleware::from_fn_with_state(app.clone(), crate::headers::every_response))
        .layer(TraceLayer::new_for_http())
        .with_state(app)
}

async fn not_found(req: Request) -> Response {
    if req.uri().path().starts_with("/api/") {
        ApiError::NotFound("no such API route".into()).into_response()
    } else {
        ApiError::NotFound("not found".into()).into_response()
    }
}

/// A started server: its address, and the means to stop it.
pub struct Running {
    pub addr: SocketAddr,
    pub app: App,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops accepting requests, lets the workers finish their batches, and waits for them.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }

    /// Stops everything at once, as if the process died: requests, batches and jobs in flight are
    /// dropped where they are (their transactions roll back, their leases run out). For tests of
    /// what another instance makes of the work left behind.
    pub fn kill(self) {
        for task in &self.tasks {
            task.abort();
        }
    }

    /// Waits until the server stops (after Ctrl-C when started with `stop_on_ctrl_c`).
    pub async fn wait(self) {
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// The one entry point: binds `listener`, serves the app and (if enabled) runs this instance's
/// workers with `registry`'s job handlers, until shut down.
pub async fn start(
    app: App,
    listener: TcpListener,
    registry: Registry,
    stop_on_ctrl_c: bool,
) -> std::io::Result<Running> {
    let addr = listener.local_addr()?;
    let (stop, stopped) = watch::channel(false);
    if stop_on_ctrl_c {
        let stop = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                tracing::info!("Ctrl-C received, shutting down");
                let _ = stop.send(true);
            }
        });
    }
    let mut tasks = Vec::new();
    let http = router(app.clone());
    let server_stop = pond_app::pipeline::until_stopped(stopped.clone());
    tasks.push(tokio::spawn(async move {
        let http = http.into_make_service_with_connect_info::<SocketAddr>();
        if let Err(e) = axum::serve(listener, http).with_graceful_shutdown(server_stop).await {
            tracing::error!(error = %e, "HTTP server stopped with an error");
        }
    }));
    let name = pond_app::pipeline::instance_name(&app, addr.port());
    // Every instance records that it is alive (it takes callbacks); those with workers catch up.
    tasks.extend(pond_app::sync::catch_up::start(&app, name.clone(), app.config.jobs.enabled, stopped.clone()));
    if app.config.jobs.enabled {
        if let Err(e) = pond_app::pipeline::reclaim_own(&app, &name).await {
            tracing::error!(error = %e, "could not take back this instance's events; they come back when their leases end");
        }
        tasks.extend(pond_app::pipeline::start_workers(&app, registry, name, stopped));
    }
    Ok(Running { addr, app, stop, tasks })
}
