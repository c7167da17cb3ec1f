//! Credentials: argon2 password hashes, random tokens, API-token and session-token hashing, and the
//! middleware that admits `/api/v1` callers by `Authorization: Bearer <token>`.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use axum::{
    extract::{Request, State},
    middleware::Next,
    response::Response,
};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::{error::ApiError, state::AppState};

/// Hashes a password with argon2id (default parameters, random salt) in PHC string form.
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| ApiError::Internal(format!("password hashing failed: {e}")))
}

/// True when `password` matches the stored PHC hash.
pub fn verify_password(password: &str, hash: &str) -> bool {
    Argon2::default().verify_password(password.as_bytes(), hash).is_ok()
}

/// `bytes` random bytes as lowercase hex.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    hex(&buf)
}

/// SHA-256 of `value`, lowercase hex. Used to store tokens without storing the tokens.
pub fn sha256_hex(value: &str) -> String {
    hex(&Sha256::digest(value.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A fresh API token: `(token shown once, hash to store, prefix to recognise it by)`.
pub fn new_api_token() -> (String, String, String) {
    let token = format!("pond_{}", random_hex(24));
    let hash = sha256_hex(&token);
    let prefix = token[..13].to_owned();
    (token, hash, prefix)
}

/// Who is calling the API: set by [`require_api_token`] for every `/api/v1` handler.
#[derive(Debug, Clone)]
pub struct ApiCaller {
    pub corp_id: i64,
    pub token_id: i64,
    /// How the audit log names this caller: `api-token:<prefix>`.
    pub actor: String,
}

/// Middleware over all of `/api/v1`: no valid bearer token, no entry (401 in the error shape).
pub async fn require_api_token(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let token = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(ApiError::Unauthorized)?;
    let found = pond_store::token::find_active(&state.db, &sha256_hex(token)).await?.ok_or(ApiError::Unauthorized)?;
    // Best effort: a failed "last used" stamp must not refuse the call.
    let _ = pond_store::token::touch(&state.db, found.id).await;
    req.extensions_mut().insert(ApiCaller {
        corp_id: found.corp_id,
        token_id: found.id,
        actor: format!("api-token:{}", found.prefix),
    });
    Ok(next.run(req).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_with_the_right_password() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("wrong horse battery", &hash));
        assert!(!verify_password("anything", "not a phc string"));
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, hash_a, prefix) = new_api_token();
        let (b, _, _) = new_api_token();
        assert_ne!(a, b);
        assert!(a.starts_with(&prefix) && prefix.starts_with("pond_"));
        assert_eq!(hash_a, sha256_hex(&a));
        assert_eq!(hash_a.len(), 64);
    }
}
