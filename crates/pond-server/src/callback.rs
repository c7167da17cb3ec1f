//! The WeCom callback endpoint, one per corp: `GET/POST /wecom/callback/{corp_id}`. GET answers
//! WeCom's URL verification; POST hands the event to [`pond_app::pipeline::intake::accept`]
//! (signature, replay window, decryption, the inbox) and answers `success` once it is stored.

use axum::{
    extract::{FromRequestParts, Path, Query, State},
    http::{StatusCode, request::Parts},
    response::{IntoResponse, Response},
};
use pond_app::{
    App,
    pipeline::intake::{self, Refusal, Signed},
};
use serde::Deserialize;

use crate::error::ApiError;

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

/// A refusal in the error shape. An unknown corp and a corp without callback settings answer
/// alike (404), so the endpoint does not tell which corp ids exist; the log tells them apart.
fn refusal(corp_id: i64, r: Refusal) -> Response {
    let error = match &r {
        Refusal::UnknownCorp | Refusal::NotConfigured(_) => {
            tracing::info!(corp_id, reason = %r, "callback for an unknown or unconfigured corp");
            ApiError::NotFound("no callback endpoint here".into())
        }
        Refusal::Malformed(_) => ApiError::BadRequest(r.to_string()),
        Refusal::Forged(_) => ApiError::Forbidden(r.to_string()),
        Refusal::Unavailable => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(crate::error::ErrorBody { code: "unavailable", message: r.to_string(), message_zh: None }),
            )
                .into_response();
        }
    };
    error.into_response()
}

/// GET: URL verification. Answers the decrypted `echostr` as the raw body.
pub async fn verify(State(app): State<App>, Path(corp_id): Path<i64>, Query(q): Query<CallbackQuery>) -> Response {
    match intake::verify_url(&app, corp_id, q.signed(), q.echostr.as_deref()).await {
        Ok(plain) => plain.into_response(),
        Err(r) => refusal(corp_id, r),
    }
}

/// When a request reached the handler (epoch ms): taken first, before the body is read, so an
/// event's receipt time counts everything Pond does with it.
pub struct ReceivedAt(i64);

impl<S: Send + Sync> FromRequestParts<S> for ReceivedAt {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(_: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ReceivedAt(pond_store::now_ms()))
    }
}

/// POST: an event.
pub async fn receive(
    ReceivedAt(received_at): ReceivedAt,
    State(app): State<App>,
    Path(corp_id): Path<i64>,
    Query(q): Query<CallbackQuery>,
    body: String,
) -> Response {
    match intake::accept(&app, corp_id, received_at, q.signed(), &body).await {
        Ok(_) => "success".into_response(),
        Err(r) => refusal(corp_id, r),
    }
}
