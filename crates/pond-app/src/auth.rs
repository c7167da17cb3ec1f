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

/// Constant-time comparison of two secrets (tokens), so they cannot be guessed byte by byte.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// SHA-256 of raw bytes, lowercase hex.
pub fn sha256_hex_bytes(value: &[u8]) -> String {
    hex(&Sha256::digest(value))
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
    /// An actor as the audit log recorded it (a background import acts for whoever uploaded it).
    pub fn recorded(name: &str) -> Self {
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
    /// The role the token acts as.
    pub role: pond_core::Role,
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
    let role = found.role.parse().unwrap_or(pond_core::Role::ReadOnly);
    Ok(Some(ApiCaller { corp_id: found.corp_id, token_id: found.id, role, actor: Actor::api_token(&found.prefix) }))
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

/// Runs password checks (argon2: ~19 MiB and a core for a fraction of a second each) a few at a
/// time, with a bounded line: a login flood waits or is refused instead of growing memory.
pub struct PasswordGate {
    slots: std::sync::Arc<tokio::sync::Semaphore>,
    /// Checks running or waiting.
    admitted: std::sync::atomic::AtomicUsize,
    limit: usize,
}

impl PasswordGate {
    pub fn new(slots: usize, queue: usize) -> Self {
        PasswordGate {
            slots: std::sync::Arc::new(tokio::sync::Semaphore::new(slots.max(1))),
            admitted: std::sync::atomic::AtomicUsize::new(0),
            limit: slots.max(1) + queue,
        }
    }

    /// Runs `check` on a blocking thread once a slot is free; `None` when the line is full.
    /// A caller that goes away while waiting (a timeout, a closed connection) leaves the line.
    pub async fn run<T: Send + 'static>(&self, check: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        use std::sync::atomic::Ordering;
        /// Leaves the line when dropped, however the wait ends.
        struct InLine<'a>(&'a std::sync::atomic::AtomicUsize);
        impl Drop for InLine<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        let _in_line = InLine(&self.admitted);
        if self.admitted.fetch_add(1, Ordering::SeqCst) >= self.limit {
            return None;
        }
        // The slot is held by the check itself: it stays taken until the hash is done, even if
        // the caller stops waiting for it.
        let permit = self.slots.clone().acquire_owned().await.ok()?;
        tokio::task::spawn_blocking(move || {
            let _slot = permit;
            check()
        })
        .await
        .ok()
    }
}

/// How a console login ended.
#[derive(Debug)]
pub enum LoginOutcome {
    /// Signed in.
    Success(NewSession),
    /// Wrong e-mail or password, or a disabled user (indistinguishable to the caller).
    Refused,
    /// Too many failures for this account or address: no password is checked until then.
    Throttled { retry_after_secs: u64 },
    /// Too many password checks at once; try again shortly.
    Busy,
}

/// A throttle key (`account:<e-mail>` or `address:<ip>`) and the failures it may have in the window.
struct ThrottleKey {
    key: String,
    limit: i64,
}

/// The keys a password check from `client` for `email` counts against. IPv6 clients are counted
/// per /64 (one subscriber's prefix), not per address.
fn throttle_keys(app: &App, email: &str, client: Option<std::net::IpAddr>) -> Vec<ThrottleKey> {
    let sec = &app.config.security;
    let mut keys =
        vec![ThrottleKey { key: format!("account:{email}"), limit: i64::from(sec.login_failures_per_account) }];
    if let Some(ip) = client {
        let address = crate::rate_limit::client_key(ip);
        keys.push(ThrottleKey { key: format!("address:{address}"), limit: i64::from(sec.login_failures_per_address) });
    }
    keys
}

/// How the audit log and the log name a client address.
fn address_of(client: Option<std::net::IpAddr>) -> String {
    client.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
}

/// What a throttled password check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Right,
    Wrong,
    Throttled { retry_after_secs: u64 },
    Busy,
}

/// Checks `password` against `hash` (`None`: no such user, or a disabled one — hashed anyway, so
/// it costs the same) under the throttle of `keys`:
///
/// - a locked key refuses at once, without a password check (its first refusal in each lockout is
///   audited, so a flood cannot fill the audit log);
/// - the try is counted before the password is checked, so parallel guesses all count; a try
///   beyond the limit (plus one per lockout that has ended) is refused;
/// - a wrong password that reaches the limit locks the key for `login_lockout_secs`, doubled for
///   each failure past the limit, at most `login_lockout_max_secs`;
/// - the right password clears the account's failures and takes back its own count on the address.
///
/// Failures and refusals are audited in `audit_corp` when the account is known. The check runs
/// as a task of its own, so a caller that goes away (a timeout, a closed connection) cannot leave
/// a try counted and never settled.
async fn throttled_check(
    app: &App,
    email: &str,
    audit_corp: Option<i64>,
    client: Option<std::net::IpAddr>,
    password: &str,
    hash: Option<String>,
) -> Result<Verdict, AppError> {
    let keys = throttle_keys(app, email, client);
    let (app, email, address, password) = (app.clone(), email.to_owned(), address_of(client), password.to_owned());
    tokio::spawn(async move { settle_try(&app, &email, audit_corp, &keys, &address, &password, hash).await })
        .await
        .map_err(|e| AppError::Internal(format!("login check stopped: {e}")))?
}

async fn settle_try(
    app: &App,
    email: &str,
    audit_corp: Option<i64>,
    keys: &[ThrottleKey],
    address: &str,
    password: &str,
    hash: Option<String>,
) -> Result<Verdict, AppError> {
    use crate::audit::{AuditAction, record};
    use pond_store::login_throttle;
    let sec = &app.config.security;
    let now = app.clock.now_ms();
    let actor = Actor::user(email);
    let throttled = |until: i64| Verdict::Throttled {
        retry_after_secs: u64::try_from((until - now + 999) / 1000).unwrap_or(1).max(1),
    };

    let mut locked_until = 0;
    let mut locked_key = None;
    for k in keys {
        if let Some(t) = login_throttle::get(&app.db, &k.key).await?
            && t.locked_until > now
            && t.locked_until > locked_until
        {
            locked_until = t.locked_until;
            locked_key = Some(k.key.as_str());
        }
    }
    if let Some(key) = locked_key {
        let refusals = login_throttle::note_refusal(&app.db, key).await?;
        tracing::warn!(email = %email, address = %address, key, refusals, "console login refused: locked");
        if refusals == 1
            && let Some(corp) = audit_corp
        {
            let detail = format!("address={address}; {key} locked for {}s", (locked_until - now + 999) / 1000);
            record(&app.db, corp, &actor, AuditAction::LoginThrottled, email, &detail).await?;
        }
        return Ok(throttled(locked_until));
    }

    let window_from = now - i64::try_from(sec.login_window_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let mut counted = Vec::with_capacity(keys.len());
    for k in keys {
        counted.push((k, login_throttle::record_failure(&app.db, &k.key, now, window_from).await?));
    }
    let lock_for = |failures: i64, limit: i64| {
        let doublings = u32::try_from((failures - limit).clamp(0, 20)).unwrap_or(20);
        let secs = sec.login_lockout_secs.saturating_mul(1u64 << doublings).min(sec.login_lockout_max_secs);
        (secs, now + i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX))
    };
    // Tries past what the key may have checked — the limit, and one more after each lockout
    // ends — or made while another try's lockout landed are parallel guesses: refused without a
    // password check and not counted (the tries being checked decide the lockout).
    if let Some((k, _)) = counted.iter().find(|(k, t)| t.failures > k.limit + t.lockouts || t.locked_until > now) {
        tracing::warn!(email = %email, address = %address, key = %k.key, "console login refused: over the limit");
        let until = counted.iter().map(|(_, t)| t.locked_until).max().unwrap_or(0);
        for (k, _) in &counted {
            login_throttle::forgive(&app.db, &k.key).await?;
        }
        let fallback = now + i64::try_from(sec.login_lockout_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        return Ok(throttled(if until > now { until } else { fallback }));
    }

    let password = password.to_owned();
    let checked = app
        .password_checks
        .run(move || match hash {
            Some(h) => verify_password(&password, &h),
            None => {
                let _ = hash_password(&password);
                false
            }
        })
        .await;
    let Some(right) = checked else {
        // Not checked: not counted either.
        for (k, _) in &counted {
            login_throttle::forgive(&app.db, &k.key).await?;
        }
        tracing::warn!(email = %email, address = %address, "console login refused: too many password checks at once");
        return Ok(Verdict::Busy);
    };
    if right {
        for (i, (k, _)) in counted.iter().enumerate() {
            if i == 0 {
                login_throttle::clear(&app.db, &k.key).await?;
            } else {
                login_throttle::forgive(&app.db, &k.key).await?;
            }
        }
        return Ok(Verdict::Right);
    }
    let mut notes = Vec::new();
    for (k, t) in &counted {
        if t.failures >= k.limit {
            let (secs, until) = lock_for(t.failures, k.limit);
            login_throttle::lock(&app.db, &k.key, until).await?;
            notes.push(format!("{} failures={} locked={secs}s", k.key, t.failures));
        } else {
            notes.push(format!("{} failures={}", k.key, t.failures));
        }
    }
    tracing::info!(email = %email, address = %address, "console login refused");
    if let Some(corp) = audit_corp {
        let detail = format!("address={address}; {}", notes.join("; "));
        record(&app.db, corp, &actor, AuditAction::LoginFailed, email, &detail).await?;
    }
    Ok(Verdict::Wrong)
}

/// Checks a console login (see [`throttled_check`] for the throttle, [`PasswordGate`] for the
/// bound on password checks). Wrong e-mail, wrong password and disabled user all answer
/// `Refused` and cost the same. Success starts a session, stamps the login and records it.
pub async fn login(
    app: &App,
    email: &str,
    password: &str,
    client: Option<std::net::IpAddr>,
) -> Result<LoginOutcome, AppError> {
    let email = pond_core::ids::login_email(email).unwrap_or_default();
    let user = pond_store::user::find_by_email(&app.db, &email).await?;
    let hash = user.as_ref().filter(|u| !u.disabled).map(|u| u.password_hash.clone());
    let corp = user.as_ref().map(|u| u.corp_id);
    let user = match throttled_check(app, &email, corp, client, password, hash).await? {
        Verdict::Right => match user {
            Some(user) => user,
            None => return Ok(LoginOutcome::Refused),
        },
        Verdict::Wrong => return Ok(LoginOutcome::Refused),
        Verdict::Throttled { retry_after_secs } => return Ok(LoginOutcome::Throttled { retry_after_secs }),
        Verdict::Busy => return Ok(LoginOutcome::Busy),
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
        &format!("address={}", address_of(client)),
    )
    .await?;
    tx.commit().await?;
    if let Err(e) = pond_store::user::touch_login(&app.db, user.id).await {
        tracing::warn!(user_id = user.id, error = %e, "could not stamp the login time");
    }
    Ok(LoginOutcome::Success(NewSession { token, ttl_ms }))
}

/// Checks a signed-in user's current password (before they change it) under the same per-account
/// throttle as logins: a stolen session cannot guess the password faster than the login form.
pub async fn check_current_password(
    app: &App,
    user: &SessionUser,
    password: &str,
    client: Option<std::net::IpAddr>,
) -> Result<bool, AppError> {
    let stored = pond_store::user::get(&app.db, user.user_id).await?;
    match throttled_check(app, &user.email, Some(user.corp_id), client, password, Some(stored.password_hash)).await? {
        Verdict::Right => Ok(true),
        Verdict::Wrong => Ok(false),
        Verdict::Throttled { retry_after_secs } => Err(AppError::Throttled { retry_after_secs }),
        Verdict::Busy => Err(AppError::Throttled { retry_after_secs: 1 }),
    }
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn password_checks_wait_in_a_bounded_line() {
        let gate = std::sync::Arc::new(PasswordGate::new(1, 1));
        let (release, held) = std::sync::mpsc::channel::<()>();
        let held = std::sync::Arc::new(std::sync::Mutex::new(held));
        // One check runs (and blocks), one waits for the slot: the line is full.
        let running = {
            let (gate, held) = (gate.clone(), held.clone());
            tokio::spawn(
                async move { gate.run(move || held.lock().map(|rx| rx.recv().is_ok()).unwrap_or(false)).await },
            )
        };
        let waiting = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.run(|| true).await })
        };
        while gate.admitted.load(std::sync::atomic::Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
        assert_eq!(gate.run(|| true).await, None, "a third check is refused at once, not queued");
        // A waiting caller that goes away (a timeout, a closed connection) leaves the line.
        waiting.abort();
        let _ = waiting.await;
        assert_eq!(gate.admitted.load(std::sync::atomic::Ordering::SeqCst), 1, "only the running check is left");
        let again = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.run(|| true).await })
        };
        while gate.admitted.load(std::sync::atomic::Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
        release.send(()).unwrap();
        assert_eq!(running.await.unwrap(), Some(true));
        assert_eq!(again.await.unwrap(), Some(true), "the next one ran once the slot was free");
        assert_eq!(gate.run(|| 7).await, Some(7), "the line is free again");
        assert_eq!(gate.admitted.load(std::sync::atomic::Ordering::SeqCst), 0);
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
