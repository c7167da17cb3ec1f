//! Assembles the HTTP application and runs it with its job worker.

use std::{net::SocketAddr, time::Duration};

use axum::{
    Router,
    extract::{DefaultBodyLimit, Request},
    http::StatusCode,
    middleware,
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use pond_core::backoff::Backoff;
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};
use tower_http::{timeout::TimeoutLayer, trace::TraceLayer};

use crate::{
    api, console,
    error::ApiError,
    health,
    state::AppState,
    worker::{Registry, Worker, WorkerSettings},
};

/// The whole HTTP application for `state`.
pub fn router(state: AppState) -> Router {
    let api = api::router(state.clone());
    let http = &state.config.http;
    Router::new()
        .route("/", get(|| async { Redirect::to("/console") }))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/wecom/callback/{corp_id}", get(crate::callback::verify).post(crate::callback::receive))
        .route("/c/{corp_id}/{code_id}", get(crate::landing::landing))
        .route("/r/{corp_id}", get(crate::regional::landing))
        .merge(console::router(state.clone()))
        .merge(api)
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), health::track))
        .layer(DefaultBodyLimit::max(http.body_limit_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(http.request_timeout_secs),
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn not_found(req: Request) -> Response {
    if req.uri().path().starts_with("/api/") {
        ApiError::NotFound("no such API route".into()).into_response()
    } else {
        (StatusCode::NOT_FOUND, "not found").into_response()
    }
}

/// A worker for this server's configuration.
pub fn worker(state: &AppState, registry: Registry, name: String) -> Worker {
    let jobs = &state.config.jobs;
    Worker::new(
        state.db.clone(),
        registry,
        WorkerSettings {
            name,
            batch_size: i64::from(jobs.batch_size),
            lease_ms: i64::try_from(jobs.lease_secs).unwrap_or(300) * 1000,
            poll_interval: Duration::from_millis(jobs.poll_interval_ms),
            backoff: Backoff::default(),
        },
        state.metrics.clone(),
        state.wake_worker.clone(),
    )
}

/// The job handlers Pond runs: the acquisition journey's (welcome messages, tags, remarks,
/// channel-code refresh).
pub fn default_registry(state: &AppState) -> Registry {
    crate::acquisition::register(Registry::default(), state.db.clone(), state.wecom.clone(), state.corps.clone())
}

/// The inbox worker for this server's configuration.
pub fn inbox_worker(state: &AppState) -> crate::inbox_worker::InboxWorker {
    crate::inbox_worker::InboxWorker {
        db: state.db.clone(),
        clients: state.wecom.clone(),
        corps: state.corps.clone(),
        wake: state.wake_inbox.clone(),
        wake_jobs: state.wake_worker.clone(),
        poll_interval: Duration::from_millis(state.config.jobs.poll_interval_ms),
        batch_size: 200,
        backoff: Backoff { base_ms: 500, max_ms: 5 * 60 * 1000 },
    }
}

/// A started server: its address, and the means to stop it.
pub struct Running {
    pub addr: SocketAddr,
    pub state: AppState,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops accepting requests, lets the worker finish its batch, and waits for both.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }

    /// Waits until the server stops (after Ctrl-C when started with [`start`] and `ctrl_c`).
    pub async fn wait(self) {
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Binds `listener`, serves the app and (if enabled) runs a job worker, until shut down.
pub async fn start(
    state: AppState,
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
    let until_stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let mut tasks = Vec::new();
    let app = router(state.clone());
    let server_stop = until_stopped(stopped.clone());
    tasks.push(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(server_stop).await {
            tracing::error!(error = %e, "HTTP server stopped with an error");
        }
    }));
    if state.config.jobs.enabled {
        let name = format!("{}-{}-{}", hostname(), std::process::id(), addr.port());
        let w = worker(&state, registry, name);
        tasks.push(tokio::spawn(w.run(until_stopped(stopped.clone()))));
        let handed = state.inbox_writer.hand_off(crate::inbox_worker::LEASE_MS);
        tasks.push(tokio::spawn(inbox_worker(&state).run(handed, until_stopped(stopped.clone()))));
        match state.db.backend() {
            pond_store::Backend::Sqlite => {
                tasks.push(tokio::spawn(checkpoint_periodically(state.db.clone(), until_stopped(stopped.clone()))));
            }
            pond_store::Backend::Postgres => {
                tasks.push(tokio::spawn(analyze_new_tables_periodically(
                    state.db.clone(),
                    until_stopped(stopped.clone()),
                )));
            }
        }
        let refresher =
            crate::acquisition::refresh_native_codes_periodically(state.clone(), until_stopped(stopped.clone()));
        tasks.push(tokio::spawn(refresher));
        let every = state.config.sync.reconcile_interval_secs;
        if every > 0 {
            let reconcile =
                crate::sync::reconcile_periodically(state.clone(), Duration::from_secs(every), until_stopped(stopped));
            tasks.push(tokio::spawn(reconcile));
        }
    }
    Ok(Running { addr, state, stop, tasks })
}

/// Runs `step` every `interval` (the first time one interval after the start) until `shutdown`
/// resolves.
async fn repeat_every<F: std::future::Future<Output = ()>>(
    interval: Duration,
    shutdown: impl std::future::Future<Output = ()>,
    mut step: impl FnMut() -> F,
) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tokio::time::sleep(interval) => {}
        }
        step().await;
    }
}

/// Checkpoints SQLite's write-ahead log every 200 ms off the writer (see [`Db::checkpoint_wal`]).
async fn checkpoint_periodically(db: pond_store::Db, shutdown: impl std::future::Future<Output = ()>) {
    let db = &db;
    repeat_every(Duration::from_millis(200), shutdown, || async move {
        if let Err(e) = db.checkpoint_wal().await {
            tracing::warn!(error = %e, "WAL checkpoint failed; commits will checkpoint by themselves");
        }
    })
    .await;
}

/// Tables with at least this many pages (of 8 KB) and no statistics get them at once.
const ANALYZE_FROM_PAGES: i64 = 16;

/// Gives PostgreSQL's new tables their first statistics as soon as they hold rows, every 2 s (see
/// [`pond_store::Db::analyze_new_tables`]); autovacuum keeps them after that.
async fn analyze_new_tables_periodically(db: pond_store::Db, shutdown: impl std::future::Future<Output = ()>) {
    let db = &db;
    repeat_every(Duration::from_secs(2), shutdown, || async move {
        match db.analyze_new_tables(ANALYZE_FROM_PAGES).await {
            Ok(tables) if !tables.is_empty() => tracing::info!(?tables, "gathered first statistics"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not gather statistics of new tables"),
        }
    })
    .await;
}

fn hostname() -> String {
    std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "pond".to_owned())
}
