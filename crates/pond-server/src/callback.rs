//! The WeCom callback endpoint, one per corp: `GET/POST /wecom/callback/{corp_id}`. GET answers
//! WeCom's URL verification; POST hands the event to [`pond_app::pipeline::intake::accept`]
//! (signature, replay window, decryption, the inbox) and answers `success` once it is stored.

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use pond_app::{
    App,
    pipeline::intake::{self, Refusal, Signed},
};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    msg_signature: Option<String>,
    timestamp: Option<String>,
    nonce: Option<String>,
    echostr: Option<String>,
}

impl CallbackQuery {
    fn signed(&self) -> Option<Signed<'_>> {
        Some(Signed {
            msg_signature: self.msg_signature.as_deref()?,
            timestamp: self.timestamp.as_deref()?,
            nonce: self.nonce.as_deref()?,
        })
    }
}

fn refusal(r: Refusal) -> Response {
    let status = match r {
        Refusal::UnknownCorp => StatusCode::NOT_FOUND,
        Refusal::NotConfigured(_) => StatusCode::CONFLICT,
        Refusal::Malformed(_) => StatusCode::BAD_REQUEST,
        Refusal::Forged(_) => StatusCode::FORBIDDEN,
        Refusal::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    };
    (status, r.to_string()).into_response()
}

/// GET: URL verification. Answers the decrypted `echostr` as the raw body.
pub async fn verify(State(app): State<App>, Path(corp_id): Path<i64>, Query(q): Query<CallbackQuery>) -> Response {
    match intake::verify_url(&app, corp_id, q.signed(), q.echostr.as_deref()).await {
        Ok(plain) => plain.into_response(),
        Err(r) => refusal(r),
    }
}

/// POST: an event.
pub async fn receive(
    State(app): State<App>,
    Path(corp_id): Path<i64>,
    Query(q): Query<CallbackQuery>,
    body: String,
) -> Response {
    match intake::accept(&app, corp_id, q.signed(), &body).await {
        Ok(_) => "success".into_response(),
        Err(r) => refusal(r),
    }
}
