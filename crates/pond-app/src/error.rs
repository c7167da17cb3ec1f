//! The one error type of the service layer. Every service returns [`AppError`]; the server maps
//! it once to HTTP (`pond_server::error`), the CLI once to a message (`pond::commands`).
//! Storage failures keep their cause for the log and never reach a user as raw database text.

use pond_core::ValidationError;
use pond_store::StoreError;
use wecom::WecomError;

use crate::wecom_link::LinkError;

/// Why a service could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The input is wrong: which field, and why.
    #[error("{0}")]
    Invalid(#[from] ValidationError),
    /// The thing named does not exist (in this corp).
    #[error("{0}")]
    NotFound(String),
    /// The action conflicts with what exists (a duplicate, a run already going).
    #[error("{0}")]
    Conflict(String),
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// Too many tries (logins, password checks): try again after this many seconds.
    #[error("too many tries; try again in {retry_after_secs} s")]
    Throttled { retry_after_secs: u64 },
    /// The corp has no usable WeCom settings yet.
    #[error("{0}")]
    NotConnected(String),
    /// WeCom answered with an error code (or could not be reached: `errcode` is then `None`).
    #[error("WeCom refused: {message}")]
    Wecom { errcode: Option<i64>, message: String, transient: bool },
    /// The database failed; the cause is logged, not shown.
    #[error("internal error")]
    Storage(StoreError),
    /// Anything else that is Pond's fault; the cause is logged, not shown.
    #[error("internal error")]
    Internal(String),
}

impl AppError {
    /// The cause to log for errors whose message hides it.
    pub fn cause(&self) -> Option<String> {
        match self {
            AppError::Storage(e) => Some(e.to_string()),
            AppError::Internal(cause) => Some(cause.clone()),
            _ => None,
        }
    }

    /// Worth another attempt later (WeCom busy or rate-limited, database hiccup).
    pub fn is_transient(&self) -> bool {
        match self {
            AppError::Wecom { transient, .. } => *transient,
            AppError::Storage(StoreError::Database(_)) => true,
            _ => false,
        }
    }
}

impl From<StoreError> for AppError {
    fn from(err: StoreError) -> Self {
        match err {
            // The database's own words (table and column names, and different on SQLite and
            // PostgreSQL) go to the log only; services that expect a duplicate name it themselves.
            StoreError::Conflict(raw) => {
                tracing::info!(constraint = %raw, "write refused as a duplicate");
                AppError::Conflict("this already exists (a duplicate of a stored value)".into())
            }
            StoreError::NotFound(m) => AppError::NotFound(m),
            other => AppError::Storage(other),
        }
    }
}

impl From<WecomError> for AppError {
    fn from(err: WecomError) -> Self {
        AppError::Wecom { errcode: err.errcode(), message: err.to_string(), transient: err.is_retryable_later() }
    }
}

impl From<LinkError> for AppError {
    fn from(err: LinkError) -> Self {
        match err {
            LinkError::Wecom(e) => e.into(),
            other => AppError::NotConnected(other.to_string()),
        }
    }
}

/// A problem on one line of an import.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LineError {
    /// 1-based line number in the file (the header is line 1).
    pub line: usize,
    pub field: String,
    pub message: String,
    /// The same in Chinese (the console in zh-CN).
    pub message_zh: String,
}

impl LineError {
    pub fn new(line: usize, field: &str, message: impl Into<String>, message_zh: impl Into<String>) -> Self {
        LineError { line, field: field.into(), message: message.into(), message_zh: message_zh.into() }
    }
    /// From a field's validation error.
    pub fn invalid(line: usize, e: ValidationError) -> Self {
        LineError { line, field: e.field.into(), message: e.reason, message_zh: e.reason_zh }
    }
}

/// A CSV import's reader, once its header is exactly `expected` (any case; a UTF-8 BOM is
/// allowed); otherwise the report for line 1. Fields are trimmed; lines may have any number of
/// fields (each importer reports wrong counts per line).
/// The file line a CSV record starts on (a quoted field may span lines, so it is not always the
/// record's index + 2).
pub(crate) fn csv_line(record: &Result<csv::StringRecord, csv::Error>, index: usize) -> usize {
    let position = match record {
        Ok(r) => r.position(),
        Err(e) => e.position(),
    };
    position.and_then(|p| usize::try_from(p.line()).ok()).unwrap_or(index + 2)
}

pub(crate) fn csv_with_header<'a>(text: &'a str, expected: &[&str]) -> Result<csv::Reader<&'a [u8]>, Vec<LineError>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    match reader.headers() {
        Ok(h) if h.iter().map(str::to_lowercase).eq(expected.iter().map(|s| s.to_string())) => Ok(reader),
        _ => Err(vec![LineError::new(
            1,
            "header",
            format!("the first line must be: {}", expected.join(",")),
            format!("第一行须为：{}", expected.join(",")),
        )]),
    }
}

pub type Result<T, E = AppError> = std::result::Result<T, E>;
