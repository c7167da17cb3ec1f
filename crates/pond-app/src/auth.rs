//! Credentials: argon2 password hashes, random tokens, API-token and session-token hashing, and
//! who is calling ([`Actor`], [`find_api_caller`]).

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::{App, AppError};

/// Hashes a password with argon2id (default parameters, random salt) in PHC string form.
pub fn hash_password(password: &str) -> Result<String, AppError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| AppError::Internal(format!("password hashing failed: {e}")))
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

/// Who did something, as the audit log names them: a login e-mail, `cli`, `api-token:<prefix>`,
/// or a background task (`reconcile`, `demo`, `bench`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(String);

impl Actor {
    pub fn user(email: &str) -> Self {
        Actor(email.to_owned())
    }
    pub fn api_token(prefix: &str) -> Self {
        Actor(format!("api-token:{prefix}"))
    }
    pub fn cli() -> Self {
        Actor("cli".to_owned())
    }
    /// A task Pond runs by itself (`reconcile`, `demo`, `bench`).
    pub fn system(name: &str) -> Self {
        Actor(name.to_owned())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who is calling the API: found by [`find_api_caller`] for every `/api/v1` request.
#[derive(Debug, Clone)]
pub struct ApiCaller {
    pub corp_id: i64,
    pub token_id: i64,
    /// How the audit log names this caller: `api-token:<prefix>`.
    pub actor: Actor,
}

/// The caller a bearer token belongs to, if it is a valid, unrevoked token.
pub async fn find_api_caller(app: &App, token: &str) -> Result<Option<ApiCaller>, AppError> {
    let Some(found) = pond_store::token::find_active(&app.db, &sha256_hex(token)).await? else {
        return Ok(None);
    };
    // Best effort: a failed "last used" stamp must not refuse the call.
    let _ = pond_store::token::touch(&app.db, found.id).await;
    Ok(Some(ApiCaller { corp_id: found.corp_id, token_id: found.id, actor: Actor::api_token(&found.prefix) }))
}

/// A signed-in console user, as a live session names them.
#[derive(Debug, Clone)]
pub struct SessionUser {
    pub user_id: i64,
    pub corp_id: i64,
    pub role: pond_core::Role,
    pub email: String,
    /// The session's CSRF token, expected on every form.
    pub csrf: String,
    /// The hash the session is stored under (to end it).
    pub session_hash: String,
    /// The corp's time zone, in which times are shown to this user.
    pub zone: pond_core::CorpZone,
}

/// A new console session: the token for the cookie (shown once), and how long it lives.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub token: String,
    pub ttl_ms: i64,
}

/// Checks a console login. Wrong e-mail, wrong password and disabled user all answer `None`,
/// and cost the same (argon2 runs either way, off the async threads). Success starts a session,
/// stamps the login and records it in the audit log.
pub async fn login(app: &App, email: &str, password: &str) -> Result<Option<NewSession>, AppError> {
    let email = pond_core::ids::login_email(email).unwrap_or_default();
    let user = pond_store::user::find_by_email(&app.db, &email).await?;
    let password = password.to_owned();
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let ok = tokio::task::spawn_blocking(move || match hash {
        Some(h) => verify_password(&password, &h),
        None => {
            let _ = hash_password(&password);
            false
        }
    })
    .await
    .unwrap_or(false);
    let user = match user {
        Some(u) if ok && !u.disabled => u,
        _ => {
            tracing::info!(email = %email, "console login refused");
            return Ok(None);
        }
    };
    let token = random_hex(32);
    let ttl_ms = i64::from(app.config.session.ttl_hours) * 3_600_000;
    let mut tx = app.db.begin().await?;
    pond_store::session::create(&mut tx, &sha256_hex(&token), user.corp_id, user.id, &random_hex(16), ttl_ms).await?;
    crate::audit::record(
        &mut tx,
        user.corp_id,
        &Actor::user(&user.email),
        crate::audit::AuditAction::Login,
        &user.email,
        "",
    )
    .await?;
    tx.commit().await?;
    if let Err(e) = pond_store::user::touch_login(&app.db, user.id).await {
        tracing::warn!(user_id = user.id, error = %e, "could not stamp the login time");
    }
    Ok(Some(NewSession { token, ttl_ms }))
}

/// The user a session cookie's token belongs to, if the session is live and the user enabled.
pub async fn session_user(app: &App, token: &str) -> Result<Option<SessionUser>, AppError> {
    let hash = sha256_hex(token);
    let Some(session) = pond_store::session::get_live(&app.db, &hash).await? else { return Ok(None) };
    let user = match pond_store::user::get(&app.db, session.user_id).await {
        Ok(user) if !user.disabled => user,
        Ok(_) | Err(pond_store::StoreError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let zone = pond_core::CorpZone::from_stored(&app.corps.get(&app.db, user.corp_id).await?.timezone);
    Ok(Some(SessionUser {
        zone,
        user_id: user.id,
        corp_id: user.corp_id,
        role: user.role(),
        email: user.email,
        csrf: session.csrf_token,
        session_hash: hash,
    }))
}

/// Ends a session and records the logout.
pub async fn logout(app: &App, user: &SessionUser) -> Result<(), AppError> {
    let mut tx = app.db.begin().await?;
    pond_store::session::delete(&mut tx, &user.session_hash).await?;
    crate::audit::record(
        &mut tx,
        user.corp_id,
        &Actor::user(&user.email),
        crate::audit::AuditAction::Logout,
        &user.email,
        "",
    )
    .await?;
    Ok(tx.commit().await?)
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
