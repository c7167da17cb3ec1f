//! The WeCom callback endpoint, one per corp: `GET/POST /wecom/callback/{corp_id}`.
//!
//! GET answers WeCom's URL verification. POST verifies the signature, refuses stale timestamps
//! (replays), decrypts and parses the event, stores it in the inbox under its dedupe key (so
//! WeCom's retries are absorbed; see [`pond_app::pipeline::intake`]) and answers `success` — all before the
//! event is applied, so the answer comes well within WeCom's 5 seconds.

use std::sync::atomic::Ordering;

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use wecom::{Callback, MsgCrypt};

use pond_app::App;

#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    msg_signature: Option<String>,
    timestamp: Option<String>,
    nonce: Option<String>,
    echostr: Option<String>,
}

fn refuse(state: &App, corp_id: i64, status: StatusCode, reason: &str) -> Response {
    state.metrics.callbacks_rejected.fetch_add(1, Ordering::Relaxed);
    tracing::warn!(corp_id, %status, reason, "callback refused");
    (status, reason.to_owned()).into_response()
}

async fn crypt_for(state: &App, corp_id: i64) -> Result<MsgCrypt, Response> {
    let corp = match state.corps.get(&state.db, corp_id).await {
        Ok(c) => c,
        Err(_) => return Err(refuse(state, corp_id, StatusCode::NOT_FOUND, "unknown corp")),
    };
    let Some(receive_id) = corp.wecom_corp_id.as_deref() else {
        return Err(refuse(state, corp_id, StatusCode::CONFLICT, "corp has no WeCom corp id configured"));
    };
    MsgCrypt::new(corp.callback_token.expose(), corp.encoding_aes_key.expose(), receive_id).map_err(|_| {
        refuse(state, corp_id, StatusCode::CONFLICT, "corp's callback token or EncodingAESKey is not configured")
    })
}

fn params(q: &CallbackQuery) -> Option<(&str, &str, &str)> {
    Some((q.msg_signature.as_deref()?, q.timestamp.as_deref()?, q.nonce.as_deref()?))
}

/// GET: URL verification. Answers the decrypted `echostr` as the raw body.
pub async fn verify(State(state): State<App>, Path(corp_id): Path<i64>, Query(q): Query<CallbackQuery>) -> Response {
    let crypt = match crypt_for(&state, corp_id).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (Some((sig, ts, nonce)), Some(echostr)) = (params(&q), q.echostr.as_deref()) else {
        return refuse(
            &state,
            corp_id,
            StatusCode::BAD_REQUEST,
            "msg_signature, timestamp, nonce and echostr are required",
        );
    };
    match crypt.verify_url(sig, ts, nonce, echostr) {
        Ok(plain) => plain.into_response(),
        Err(e) => refuse(&state, corp_id, StatusCode::FORBIDDEN, &format!("URL verification failed: {e}")),
    }
}

/// POST: an event.
pub async fn receive(
    State(state): State<App>,
    Path(corp_id): Path<i64>,
    Query(q): Query<CallbackQuery>,
    body: String,
) -> Response {
    let crypt = match crypt_for(&state, corp_id).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Some((sig, ts, nonce)) = params(&q) else {
        return refuse(&state, corp_id, StatusCode::BAD_REQUEST, "msg_signature, timestamp and nonce are required");
    };
    let Ok(ts_secs) = ts.parse::<i64>() else {
        return refuse(&state, corp_id, StatusCode::BAD_REQUEST, "timestamp is not a number");
    };
    let skew = (pond_store::now_ms() / 1000 - ts_secs).abs();
    if skew > state.config.callback.max_clock_skew_secs {
        return refuse(&state, corp_id, StatusCode::FORBIDDEN, "timestamp too far from now (replayed or clock skew)");
    }
    let xml = match crypt.open_callback(sig, ts, nonce, &body) {
        Ok(x) => x,
        Err(e @ wecom::CryptoError::SignatureMismatch) => {
            return refuse(&state, corp_id, StatusCode::FORBIDDEN, &e.to_string());
        }
        Err(e) => return refuse(&state, corp_id, StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let event = match Callback::parse(&xml) {
        Ok(ev) => ev,
        Err(e) => return refuse(&state, corp_id, StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let event_type = if event.change_type.is_empty() {
        event.event.clone()
    } else {
        format!("{}/{}", event.event, event.change_type)
    };
    match state.inbox_writer.store(corp_id, event.dedupe_key(), event_type, xml).await {
        Ok(pond_store::inbox::Inserted::New(_)) => {
            state.metrics.callbacks_accepted.fetch_add(1, Ordering::Relaxed);
        }
        Ok(pond_store::inbox::Inserted::Duplicate) => {
            state.metrics.callbacks_duplicate.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => {
            tracing::error!(corp_id, error = %e, "could not store callback");
            // Not acknowledged: WeCom will retry.
            return (StatusCode::SERVICE_UNAVAILABLE, "storage unavailable").into_response();
        }
    }
    "success".into_response()
}
