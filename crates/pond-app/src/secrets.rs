//! WeCom secrets at rest: the app and contact secrets, the callback token and the EncodingAESKey
//! are sealed with AES-256-GCM before they reach the database, so a copy of `pond.db` (or a
//! PostgreSQL dump) holds nothing usable without the key.
//!
//! The key comes from `security.secret_key` (`POND_SECURITY__SECRET_KEY`, base64 of 32 bytes;
//! several separated by commas while rotating, the first sealing) or else from the key file
//! (`<data_dir>/secret.key`, created with mode 0600 on first start; one key per line, the first
//! sealing). A sealed value reads `pond:v1:<key id>:<base64 nonce ‖ ciphertext>`; the key id (the
//! first 8 hex digits of the key's SHA-256) picks the key that opens it, and the associated data
//! binds it to its corp and field, so a sealed value cannot be moved to another field or corp.
//! Values stored before sealing existed read as they are, and [`seal_stored`] seals them.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use aes_gcm::{
    Aes256Gcm, KeyInit,
    aead::{Aead, Payload},
};
use base64::{Engine, engine::general_purpose::STANDARD, engine::general_purpose::URL_SAFE_NO_PAD};
use pond_core::Secret;
use pond_store::corp::{Corp, WecomSettings};
use rand::RngCore;

use crate::{App, AppError};

const PREFIX: &str = "pond:v1:";

/// Why secrets could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("secret key: {0}")]
    BadKey(String),
    #[error("key file {path}: {reason}")]
    KeyFile { path: PathBuf, reason: String },
    #[error("a stored secret was sealed with key {0}, which is not configured")]
    UnknownKey(String),
    #[error("a stored secret does not open with its key (damaged, or moved from another field)")]
    Damaged,
}

/// The keys that seal and open secrets. The first seals; every one opens.
#[derive(Clone)]
pub struct Keyring {
    keys: Vec<(String, Aes256Gcm)>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        write!(f, "Keyring({ids:?})")
    }
}

/// A fresh random key, base64.
pub fn new_key() -> String {
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    STANDARD.encode(key)
}

impl Keyring {
    /// Keys from base64 text: comma- or line-separated, the first sealing.
    pub fn parse(text: &str) -> Result<Self, SecretsError> {
        let keys = text
            .split([',', '\n'])
            .map(str::trim)
            .filter(|k| !k.is_empty() && !k.starts_with('#'))
            .map(|k| {
                let bytes = STANDARD.decode(k).map_err(|_| SecretsError::BadKey("not base64".into()))?;
                if bytes.len() != 32 {
                    return Err(SecretsError::BadKey(format!("{} bytes; a key is 32 bytes", bytes.len())));
                }
                let id = crate::auth::sha256_hex_bytes(&bytes)[..8].to_owned();
                let cipher = Aes256Gcm::new_from_slice(&bytes).map_err(|_| SecretsError::BadKey("length".into()))?;
                Ok((id, cipher))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err(SecretsError::BadKey("no key given".into()));
        }
        Ok(Keyring { keys })
    }

    /// A key that lives as long as this process (tests, and an `App` built without a key).
    pub fn ephemeral() -> Self {
        Self::parse(&new_key()).unwrap_or_else(|_| Keyring { keys: Vec::new() })
    }

    /// The id of the sealing key.
    pub fn current_id(&self) -> &str {
        self.keys.first().map_or("", |(id, _)| id.as_str())
    }

    /// `plain` sealed for `(corp, field)`; empty stays empty.
    pub fn seal(&self, context: &str, plain: &str) -> String {
        let Some((id, cipher)) = self.keys.first() else { return plain.to_owned() };
        if plain.is_empty() {
            return String::new();
        }
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = cipher
            .encrypt(&nonce.into(), Payload { msg: plain.as_bytes(), aad: context.as_bytes() })
            .unwrap_or_default();
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        format!("{PREFIX}{id}:{}", URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The plain value of a stored one: sealed values are opened, values stored before sealing
    /// existed are returned as they are.
    pub fn open(&self, context: &str, stored: &str) -> Result<String, SecretsError> {
        let Some(rest) = stored.strip_prefix(PREFIX) else { return Ok(stored.to_owned()) };
        let (id, data) = rest.split_once(':').ok_or(SecretsError::Damaged)?;
        let (_, cipher) =
            self.keys.iter().find(|(k, _)| k == id).ok_or_else(|| SecretsError::UnknownKey(id.to_owned()))?;
        let bytes = URL_SAFE_NO_PAD.decode(data).map_err(|_| SecretsError::Damaged)?;
        if bytes.len() < 12 + 16 {
            return Err(SecretsError::Damaged);
        }
        let (nonce, sealed) = bytes.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| SecretsError::Damaged)?;
        let plain = cipher
            .decrypt(&nonce.into(), Payload { msg: sealed, aad: context.as_bytes() })
            .map_err(|_| SecretsError::Damaged)?;
        String::from_utf8(plain).map_err(|_| SecretsError::Damaged)
    }

    /// True when a key with this id is configured.
    pub fn has_key(&self, id: &str) -> bool {
        self.keys.iter().any(|(k, _)| k == id)
    }

    /// True when `stored` is sealed with the current key (nothing to do for it on rotation).
    pub fn is_current(&self, stored: &str) -> bool {
        stored.is_empty() || stored.starts_with(&format!("{PREFIX}{}:", self.current_id()))
    }
}

/// Where the keys in effect came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `security.secret_key` (`POND_SECURITY__SECRET_KEY`).
    Setting,
    /// A key file.
    File(PathBuf),
}

/// The keys in effect for `config`, as text for `security.secret_key`: that setting if given, else
/// the key file, created (mode 0600, its folder 0700) when missing.
pub fn load_or_create(config: &crate::Config) -> Result<(String, KeySource), SecretsError> {
    if !config.security.secret_key.trim().is_empty() {
        Keyring::parse(&config.security.secret_key)?;
        return Ok((config.security.secret_key.clone(), KeySource::Setting));
    }
    let path = config.effective_secret_key_file();
    let file_error = |reason: String| SecretsError::KeyFile { path: path.clone(), reason };
    if !path.exists() {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::files::private_dir(dir).map_err(|e| file_error(e.to_string()))?;
        }
        write_key_file(&path, &[new_key()]).map_err(|e| file_error(e.to_string()))?;
        tracing::info!(path = %path.display(), "created the key that seals WeCom secrets; back it up with the database");
    }
    let text = std::fs::read_to_string(&path).map_err(|e| file_error(e.to_string()))?;
    Keyring::parse(&text)?;
    let keys: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    Ok((keys.join(","), KeySource::File(path)))
}

/// Writes keys to a key file atomically (a new file with mode 0600, then renamed over the old).
pub fn write_key_file(path: &Path, keys: &[String]) -> std::io::Result<()> {
    let tmp = path.with_extension("key.new");
    let mut file = crate::files::create_private(&tmp)?;
    writeln!(file, "# Pond's key for the WeCom secrets in its database. Keep it with your backups.")?;
    for key in keys {
        writeln!(file, "{key}")?;
    }
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    // The rename itself is durable only once the folder is.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

fn context(corp_id: i64, field: &str) -> String {
    format!("corp:{corp_id}:{field}")
}

/// The four secret fields of a corp row, by name.
const FIELDS: [&str; 4] = ["contact_secret", "app_secret", "callback_token", "encoding_aes_key"];

/// A corp row's stored secrets, in the order of [`FIELDS`].
fn stored_secrets(corp: &Corp) -> [&Secret; 4] {
    [&corp.contact_secret, &corp.app_secret, &corp.callback_token, &corp.encoding_aes_key]
}

/// A corp as read from the database, with its secrets opened. A secret that does not open (a
/// missing key) is left empty and logged: the corp then reads as not configured.
pub fn open_corp(keys: &Keyring, mut corp: Corp) -> Corp {
    let id = corp.id;
    for (field, value) in FIELDS.into_iter().zip([
        &mut corp.contact_secret,
        &mut corp.app_secret,
        &mut corp.callback_token,
        &mut corp.encoding_aes_key,
    ]) {
        match keys.open(&context(id, field), value.expose()) {
            Ok(plain) => *value = Secret::new(plain),
            Err(e) => {
                tracing::error!(corp_id = id, field, error = %e, "a WeCom secret cannot be opened; configure the key it was sealed with");
                *value = Secret::default();
            }
        }
    }
    corp
}

/// Settings with their secrets sealed for storage.
pub fn seal_settings(keys: &Keyring, corp_id: i64, mut settings: WecomSettings) -> WecomSettings {
    for (field, value) in FIELDS.into_iter().zip([
        &mut settings.contact_secret,
        &mut settings.app_secret,
        &mut settings.callback_token,
        &mut settings.encoding_aes_key,
    ]) {
        if let Some(secret) = value {
            *secret = Secret::new(keys.seal(&context(corp_id, field), secret.expose()));
        }
    }
    settings
}

/// Saves a corp's WeCom settings with the secrets sealed (blank ones keep the stored values).
pub async fn store_settings<'c>(
    app: &App,
    conn: impl Into<pond_store::Conn<'c>>,
    corp_id: i64,
    settings: &WecomSettings,
) -> Result<Corp, AppError> {
    let sealed = seal_settings(&app.secrets, corp_id, settings.clone());
    let corp = pond_store::corp::update_settings(conn, corp_id, &sealed).await?;
    app.corps.invalidate(corp_id);
    Ok(open_corp(&app.secrets, corp))
}

/// The id of the key a stored value was sealed with (`None` for plain or empty values).
fn sealed_with(stored: &str) -> Option<&str> {
    stored.strip_prefix(PREFIX).and_then(|rest| rest.split_once(':')).map(|(id, _)| id)
}

/// Refuses to go on when the database holds secrets sealed with a key that is not configured (a
/// lost key file, or instances with different keys on one database): started anyway, those corps
/// would silently read as not configured.
pub async fn check_keys(app: &App) -> Result<(), AppError> {
    for corp in pond_store::corp::list(&app.db).await? {
        for value in stored_secrets(&corp) {
            if let Some(id) = sealed_with(value.expose())
                && !app.secrets.has_key(id)
            {
                return Err(AppError::NotConnected(format!(
                    "corp {} has WeCom secrets sealed with key {id}, which is not configured: set \
                     POND_SECURITY__SECRET_KEY or restore the key file (this instance has key {})",
                    corp.id,
                    app.secrets.current_id()
                )));
            }
        }
    }
    Ok(())
}

/// Seals every stored secret that is plain or sealed with an older key, with the current key.
/// Run at start-up (for values stored before sealing existed) and by `pond secrets rotate-key`.
/// Returns how many corps changed.
pub async fn seal_stored(app: &App) -> Result<usize, AppError> {
    let mut changed = 0;
    for corp in pond_store::corp::list(&app.db).await? {
        if stored_secrets(&corp).iter().all(|s| app.secrets.is_current(s.expose())) {
            continue;
        }
        let open = open_corp(&app.secrets, corp.clone());
        let keep = |before: &Secret, after: &Secret| {
            // A secret that did not open stays as stored rather than being wiped.
            if after.is_empty() && !before.is_empty() { None } else { Some(after.clone()) }
        };
        let settings = WecomSettings {
            name: corp.name.clone(),
            wecom_corp_id: corp.wecom_corp_id.clone(),
            agent_id: corp.agent_id,
            contact_secret: keep(&corp.contact_secret, &open.contact_secret),
            app_secret: keep(&corp.app_secret, &open.app_secret),
            callback_token: keep(&corp.callback_token, &open.callback_token),
            encoding_aes_key: keep(&corp.encoding_aes_key, &open.encoding_aes_key),
            api_base_url: corp.api_base_url.clone(),
        };
        store_settings(app, &app.db, corp.id, &settings).await?;
        changed += 1;
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_context() {
        let keys = Keyring::ephemeral();
        let sealed = keys.seal("corp:1:app_secret", "s3cret-value");
        assert!(sealed.starts_with("pond:v1:") && !sealed.contains("s3cret"));
        assert_ne!(sealed, keys.seal("corp:1:app_secret", "s3cret-value"), "a fresh nonce each time");
        assert_eq!(keys.open("corp:1:app_secret", &sealed).unwrap(), "s3cret-value");
        assert!(matches!(keys.open("corp:2:app_secret", &sealed), Err(SecretsError::Damaged)));
        assert!(matches!(Keyring::ephemeral().open("corp:1:app_secret", &sealed), Err(SecretsError::UnknownKey(_))));
        assert_eq!(keys.open("corp:1:app_secret", "legacy-plain").unwrap(), "legacy-plain");
        assert_eq!(keys.seal("x", ""), "");
    }

    #[test]
    fn rotation_keeps_old_values_readable() {
        let old = new_key();
        let new = new_key();
        let before = Keyring::parse(&old).unwrap();
        let sealed = before.seal("c", "v");
        let during = Keyring::parse(&format!("{new},{old}")).unwrap();
        assert_eq!(during.open("c", &sealed).unwrap(), "v");
        assert!(!during.is_current(&sealed));
        assert!(during.is_current(&during.seal("c", "v")));
        assert!(Keyring::parse("not-base64!").is_err());
        assert!(Keyring::parse(&STANDARD.encode([0u8; 16])).is_err());
    }
}
