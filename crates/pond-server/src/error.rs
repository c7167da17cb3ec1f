//! The one mapping from failures to HTTP: every `/api/v1` error is `{"code": ..., "message": ...}`
//! (plus `message_zh`, the same in Chinese, for invalid input) with a fitting status. Internal errors
//! are logged with their cause and shown only as "internal".

use axum::{
    Json,
    extract::rejection::{FormRejection, JsonRejection, PathRejection, QueryRejection},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use pond_app::AppError;
use pond_core::ValidationError;
use pond_store::StoreError;
use serde::Serialize;

/// An error answered to an API caller (and, rendered differently, to the console).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Invalid(#[from] ValidationError),
    #[error("{0}")]
    BadRequest(String),
    #[error("missing or invalid API token")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("the request took too long")]
    Timeout,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{message}")]
    TooManyRequests { message: String, retry_after_secs: u64 },
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// WeCom refused or could not be reached.
    #[error("{0}")]
    Upstream(String),
    #[error("internal error")]
    Internal(String),
}

/// The JSON error body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `invalid_input`, `unauthorized`, `not_found`.
    pub code: &'static str,
    /// Human-readable explanation; for `invalid_input` it names the field.
    pub message: String,
    /// The same explanation in Chinese; only for `invalid_input`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_zh: Option<String>,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Timeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Upstream(_) => StatusCode::BAD_GATEWAY,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Invalid(_) => "invalid_input",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::Timeout => "timeout",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::TooManyRequests { .. } => "too_many_requests",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Upstream(_) => "wecom_error",
            ApiError::Internal(_) => "internal",
        }
    }

    pub fn body(&self) -> ErrorBody {
        let message_zh = match self {
            ApiError::Invalid(e) => Some(format!("{}: {}", e.field, e.reason_zh)),
            _ => None,
        };
        ErrorBody { code: self.code(), message: self.to_string(), message_zh }
    }

    /// Maps an extractor rejection by its status, keeping axum's explanation.
    fn from_rejection(status: StatusCode, text: String) -> Self {
        match status {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType(text),
            StatusCode::UNPROCESSABLE_ENTITY => {
                let detail = text.trim_start_matches("Failed to deserialize the JSON body into the target type: ");
                ApiError::Invalid(ValidationError::new("body", detail, format!("请求内容格式不正确：{detail}")))
            }
            _ => ApiError::BadRequest(text),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        AppError::from(err).into()
    }
}

/// The one mapping from the service layer's errors to HTTP.
impl From<AppError> for ApiError {
    fn from(err: AppError) -> Self {
        match err {
            AppError::Invalid(e) => ApiError::Invalid(e),
            AppError::NotFound(m) => ApiError::NotFound(m),
            AppError::Conflict(m) | AppError::NotConnected(m) => ApiError::Conflict(m),
            AppError::Forbidden(m) => ApiError::Forbidden(m),
            AppError::Throttled { retry_after_secs } => {
                ApiError::TooManyRequests { message: err.to_string(), retry_after_secs }
            }
            AppError::Wecom { .. } => ApiError::Upstream(err.to_string()),
            AppError::Storage(_) | AppError::Internal(_) => ApiError::Internal(err.cause().unwrap_or_default()),
        }
    }
}

macro_rules! from_rejection {
    ($($t:ty),*) => {$(
        impl From<$t> for ApiError {
            fn from(r: $t) -> Self {
                ApiError::from_rejection(r.status(), r.body_text())
            }
        }
    )*};
}
from_rejection!(JsonRejection, QueryRejection, PathRejection, FormRejection);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(cause) = &self {
            tracing::error!(%cause, "internal error");
        }
        let mut resp = (self.status(), Json(self.body())).into_response();
        if let ApiError::TooManyRequests { retry_after_secs, .. } = &self
            && let Ok(v) = axum::http::HeaderValue::from_str(&retry_after_secs.to_string())
        {
            resp.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
        }
        resp
    }
}

/// `Json<T>` whose rejections use the error shape.
#[derive(Debug, axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// `Query<T>` whose rejections use the error shape.
#[derive(Debug, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// `Path<T>` whose rejections use the error shape.
#[derive(Debug, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);
