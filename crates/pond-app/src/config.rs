//! Pond's configuration: defaults, then `pond.toml`, then `POND_*` environment variables
//! (`__` separates sections: `POND_HTTP__BODY_LIMIT_BYTES`). Zero configuration works: SQLite under
//! `./pond-data/`. Invalid values stop start-up with the key and what is allowed; unknown keys warn.

use std::{net::SocketAddr, path::PathBuf};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
    value::{Dict, Value},
};
use serde::{Deserialize, Serialize};

/// Everything Pond reads at start-up.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    /// Address the HTTP server binds.
    pub listen: SocketAddr,
    /// Folder for the SQLite database and other local files.
    pub data_dir: PathBuf,
    /// `sqlite:PATH` or `postgres://…`; empty means `sqlite:<data_dir>/pond.db`.
    pub database_url: String,
    /// The URL people and WeCom use to reach this server (links, callback URLs).
    pub public_url: String,
    /// Log filter, e.g. `info` or `pond_server=debug,info`.
    pub log: String,
    /// This instance's stable name (with the port it listens on, what its workers record on the
    /// events and jobs they hold, so that after a crash it takes them back at once). Empty: the
    /// CLI uses the one it keeps in `<data_dir>/instance-id`; instances sharing one database
    /// need different data folders or different ids.
    pub instance_id: String,
    pub storage: StorageConfig,
    pub http: HttpConfig,
    pub jobs: JobsConfig,
    pub session: SessionConfig,
    pub callback: CallbackConfig,
    pub sync: SyncConfig,
    pub wecom: WecomConfig,
    pub regional: RegionalConfig,
    pub security: SecurityConfig,
}

/// Logins, secrets at rest and the metrics endpoint. `Debug` leaves the key and token out.
#[derive(Clone, Serialize, Deserialize)]
pub struct SecurityConfig {
    /// Failed logins for one account within `login_window_secs` before it is locked.
    pub login_failures_per_account: u32,
    /// Failed logins from one client address within the window before it is locked.
    pub login_failures_per_address: u32,
    /// The window failures are counted in, in seconds.
    pub login_window_secs: u64,
    /// The first lockout, in seconds; each further failure doubles it, up to `login_lockout_max_secs`.
    pub login_lockout_secs: u64,
    pub login_lockout_max_secs: u64,
    /// Password checks run at once (argon2 takes ~19 MiB and a core each); more wait in line.
    pub password_hash_slots: usize,
    /// Password checks that may wait for a slot; beyond that a login is answered 429 at once.
    pub password_hash_queue: usize,
    /// Hits of the public phone pages (landing and regional codes) one client address may make
    /// per minute (IPv6: per /64); more are answered 429 with a page saying when to try again.
    pub h5_hits_per_minute: u32,
    /// Take the client address from `X-Forwarded-For` (only behind a proxy that sets it).
    pub trust_forwarded_for: bool,
    /// Pages may show images from this machine (`http://127.0.0.1:*`): the demo's simulator.
    pub loopback_images: bool,
    /// Bearer token for `GET /metrics`; empty: `/metrics` answers only clients on this machine.
    pub metrics_token: String,
    /// The key sealing WeCom secrets in the database: base64 of 32 bytes, several separated by
    /// commas (the first seals, all open). Empty: the key file.
    pub secret_key: String,
    /// The key file (created with mode 0600 on first start); empty: `<data_dir>/secret.key`.
    pub secret_key_file: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StorageConfig {
    /// How SQLite makes a commit durable: `full` (the default) syncs the write-ahead log at every
    /// commit, so a callback answered `success` survives a power failure; `normal` syncs only at
    /// checkpoints — faster commits, but a power failure or an operating-system crash can lose the
    /// last callbacks acknowledged to WeCom, which WeCom does not send again (Pond's own crash
    /// loses nothing either way). Ignored on PostgreSQL (see its `synchronous_commit`).
    pub sqlite_synchronous: SqliteSynchronous,
}

/// [`StorageConfig::sqlite_synchronous`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    Full,
    Normal,
}

impl StorageConfig {
    /// How the database is opened.
    pub fn db_options(&self) -> pond_store::DbOptions {
        pond_store::DbOptions {
            sqlite_synchronous: match self.sqlite_synchronous {
                SqliteSynchronous::Full => pond_store::SqliteSync::Full,
                SqliteSynchronous::Normal => pond_store::SqliteSync::Normal,
            },
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegionalConfig {
    /// Farther than this from the nearest store, the regional page offers the city picker instead, in km.
    pub max_distance_km: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WecomConfig {
    /// Calls per minute Pond allows itself per WeCom API and corp (WeCom refuses more than 10,000 with 45009).
    pub calls_per_minute: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CallbackConfig {
    /// Callbacks whose timestamp is further than this from now are refused as replays, in seconds.
    pub max_clock_skew_secs: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SyncConfig {
    /// Incremental reconcile of every configured corp this often, in seconds (0 = never): reads
    /// every customer relation, the tag library, staff and the group list, writes what differs.
    pub reconcile_interval_secs: u64,
    /// Full sync of every configured corp this often, in seconds (0 = never): also re-reads every
    /// group with its members, and rewrites every row.
    pub full_sync_interval_secs: u64,
    /// A callback arriving this much later than it was created (WeCom held it back), or an
    /// instance starting after no instance was alive this long, calls for a catch-up, in seconds
    /// (0 = late callbacks never do).
    pub catch_up_lag_secs: u64,
    /// Catch-ups for late or refused callbacks start at most this often per corp, in seconds.
    pub catch_up_debounce_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HttpConfig {
    /// Largest request body accepted, in bytes.
    pub body_limit_bytes: usize,
    /// Longest a request may take, in seconds.
    pub request_timeout_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobsConfig {
    /// Run the job worker in this process.
    pub enabled: bool,
    /// Jobs claimed (and run concurrently) per batch.
    pub batch_size: u32,
    /// Attempts before a job is marked failed.
    pub max_attempts: u32,
    /// How often an idle worker looks for due jobs, in milliseconds.
    pub poll_interval_ms: u64,
    /// How long a claimed job is held before another worker may take it over, in seconds, should
    /// its worker stop renewing it (a live worker renews every 3 s, however long the job runs).
    pub lease_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionConfig {
    /// Console session lifetime, in hours.
    pub ttl_hours: u32,
    /// Mark cookies `Secure` (set when serving over HTTPS).
    pub secure_cookie: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("pond-data"),
            database_url: String::new(),
            public_url: String::new(),
            log: "info".into(),
            instance_id: String::new(),
            storage: StorageConfig { sqlite_synchronous: SqliteSynchronous::Full },
            http: HttpConfig { body_limit_bytes: 1024 * 1024, request_timeout_secs: 30 },
            jobs: JobsConfig {
                enabled: true,
                batch_size: 32,
                max_attempts: 8,
                poll_interval_ms: 1_000,
                lease_secs: 30,
            },
            session: SessionConfig { ttl_hours: 12, secure_cookie: false },
            callback: CallbackConfig { max_clock_skew_secs: 300 },
            sync: SyncConfig {
                reconcile_interval_secs: 30 * 60,
                full_sync_interval_secs: 24 * 3600,
                catch_up_lag_secs: 30,
                catch_up_debounce_secs: 300,
            },
            wecom: WecomConfig { calls_per_minute: 9_000 },
            regional: RegionalConfig { max_distance_km: 50.0 },
            security: SecurityConfig {
                login_failures_per_account: 5,
                login_failures_per_address: 20,
                login_window_secs: 900,
                login_lockout_secs: 30,
                login_lockout_max_secs: 900,
                password_hash_slots: 2,
                password_hash_queue: 16,
                h5_hits_per_minute: 30,
                trust_forwarded_for: false,
                loopback_images: false,
                metrics_token: String::new(),
                secret_key: String::new(),
                secret_key_file: PathBuf::new(),
            },
        }
    }
}

impl std::fmt::Debug for SecurityConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |v: &str| if v.trim().is_empty() { "(empty)" } else { "(set)" };
        f.debug_struct("SecurityConfig")
            .field("login_failures_per_account", &self.login_failures_per_account)
            .field("login_failures_per_address", &self.login_failures_per_address)
            .field("login_window_secs", &self.login_window_secs)
            .field("login_lockout_secs", &self.login_lockout_secs)
            .field("login_lockout_max_secs", &self.login_lockout_max_secs)
            .field("password_hash_slots", &self.password_hash_slots)
            .field("password_hash_queue", &self.password_hash_queue)
            .field("h5_hits_per_minute", &self.h5_hits_per_minute)
            .field("trust_forwarded_for", &self.trust_forwarded_for)
            .field("loopback_images", &self.loopback_images)
            .field("metrics_token", &set(&self.metrics_token))
            .field("secret_key", &set(&self.secret_key))
            .field("secret_key_file", &self.secret_key_file)
            .finish()
    }
}

/// Why the configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Parse(String),
    #[error("configuration key `{key}`: {allowed}")]
    Invalid { key: &'static str, allowed: String },
}

/// Where configuration comes from: an optional TOML file and the environment.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub file: Option<PathBuf>,
}

impl Config {
    /// Loads defaults ← file (if it exists; `pond.toml` by default) ← `POND_*` env. Returns the
    /// config and warnings about unknown keys.
    pub fn load(sources: &Sources) -> Result<(Config, Vec<String>), ConfigError> {
        let file = sources.file.clone().unwrap_or_else(|| PathBuf::from("pond.toml"));
        if sources.file.is_some() && !file.exists() {
            return Err(ConfigError::Parse(format!("config file {} does not exist", file.display())));
        }
        let env = Env::prefixed("POND_").split("__").filter(|k| !is_cli_only_variable(k.as_str()));
        let raw = Figment::new().merge(Toml::file(&file)).merge(env.clone());
        let mut warnings = Vec::new();
        if let Ok(dict) = raw.extract::<Dict>() {
            let known = Figment::from(Serialized::defaults(Config::default())).extract::<Dict>().unwrap_or_default();
            unknown_keys(&dict, &known, "", &mut warnings);
        }
        let figment = Figment::from(Serialized::defaults(Config::default())).merge(Toml::file(&file)).merge(env);
        let config: Config = figment.extract().map_err(|e| ConfigError::Parse(describe(&e)))?;
        config.validate()?;
        Ok((config, warnings))
    }

    /// Checks values a type alone cannot: ranges and URL shapes.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let url = self.database_url.trim();
        if !url.is_empty()
            && !url.starts_with("sqlite:")
            && !url.starts_with("postgres://")
            && !url.starts_with("postgresql://")
        {
            return Err(ConfigError::Invalid {
                key: "database_url",
                allowed: "must start with sqlite: or postgres:// (or be empty for SQLite under data_dir)".into(),
            });
        }
        if !(1024..=64 * 1024 * 1024).contains(&self.http.body_limit_bytes) {
            return Err(ConfigError::Invalid {
                key: "http.body_limit_bytes",
                allowed: "must be 1024..=67108864".into(),
            });
        }
        if !(1..=600).contains(&self.http.request_timeout_secs) {
            return Err(ConfigError::Invalid { key: "http.request_timeout_secs", allowed: "must be 1..=600".into() });
        }
        if !(1..=1000).contains(&self.jobs.batch_size) {
            return Err(ConfigError::Invalid { key: "jobs.batch_size", allowed: "must be 1..=1000".into() });
        }
        if !(1..=100).contains(&self.jobs.max_attempts) {
            return Err(ConfigError::Invalid { key: "jobs.max_attempts", allowed: "must be 1..=100".into() });
        }
        if !(10..=60_000).contains(&self.jobs.poll_interval_ms) {
            return Err(ConfigError::Invalid { key: "jobs.poll_interval_ms", allowed: "must be 10..=60000".into() });
        }
        if !(10..=86_400).contains(&self.jobs.lease_secs) {
            return Err(ConfigError::Invalid { key: "jobs.lease_secs", allowed: "must be 10..=86400".into() });
        }
        if !(self.regional.max_distance_km > 0.0 && self.regional.max_distance_km <= 20_000.0) {
            return Err(ConfigError::Invalid {
                key: "regional.max_distance_km",
                allowed: "must be more than 0 and at most 20000".into(),
            });
        }
        if self.wecom.calls_per_minute == 0 {
            return Err(ConfigError::Invalid { key: "wecom.calls_per_minute", allowed: "must be at least 1".into() });
        }
        if !(10..=86_400).contains(&self.callback.max_clock_skew_secs) {
            return Err(ConfigError::Invalid {
                key: "callback.max_clock_skew_secs",
                allowed: "must be 10..=86400".into(),
            });
        }
        if self.sync.reconcile_interval_secs != 0 && self.sync.reconcile_interval_secs < 60 {
            return Err(ConfigError::Invalid {
                key: "sync.reconcile_interval_secs",
                allowed: "must be 0 (off) or at least 60".into(),
            });
        }
        if self.sync.full_sync_interval_secs != 0 && self.sync.full_sync_interval_secs < 600 {
            return Err(ConfigError::Invalid {
                key: "sync.full_sync_interval_secs",
                allowed: "must be 0 (off) or at least 600".into(),
            });
        }
        // Below WeCom's own retries (3 × 5 s), every retried callback would look late.
        if self.sync.catch_up_lag_secs != 0 && !(20..=86_400).contains(&self.sync.catch_up_lag_secs) {
            return Err(ConfigError::Invalid {
                key: "sync.catch_up_lag_secs",
                allowed: "must be 0 (off) or 20..=86400".into(),
            });
        }
        if self.sync.catch_up_debounce_secs > 86_400 {
            return Err(ConfigError::Invalid {
                key: "sync.catch_up_debounce_secs",
                allowed: "must be at most 86400".into(),
            });
        }
        if !(1..=24 * 30).contains(&self.session.ttl_hours) {
            return Err(ConfigError::Invalid { key: "session.ttl_hours", allowed: "must be 1..=720".into() });
        }
        let sec = &self.security;
        if sec.login_failures_per_account == 0 || sec.login_failures_per_address == 0 {
            return Err(ConfigError::Invalid {
                key: "security.login_failures_per_account",
                allowed: "login failure limits must be at least 1".into(),
            });
        }
        if !(1..=86_400).contains(&sec.login_window_secs)
            || !(1..=86_400).contains(&sec.login_lockout_secs)
            || sec.login_lockout_max_secs < sec.login_lockout_secs
        {
            return Err(ConfigError::Invalid {
                key: "security.login_window_secs",
                allowed: "window and lockout must be 1..=86400 s, the maximum lockout at least the first".into(),
            });
        }
        if !(1..=64).contains(&sec.password_hash_slots) || sec.password_hash_queue > 10_000 {
            return Err(ConfigError::Invalid {
                key: "security.password_hash_slots",
                allowed: "slots must be 1..=64 and the queue at most 10000".into(),
            });
        }
        if !(1..=100_000).contains(&sec.h5_hits_per_minute) {
            return Err(ConfigError::Invalid {
                key: "security.h5_hits_per_minute",
                allowed: "must be 1..=100000".into(),
            });
        }
        if !self.public_url.is_empty() {
            pond_core::ids::base_url("public_url", &self.public_url)
                .map_err(|e| ConfigError::Invalid { key: "public_url", allowed: e.reason })?;
        }
        Ok(())
    }

    /// The database URL in effect (SQLite under `data_dir` unless set).
    pub fn effective_database_url(&self) -> String {
        if self.database_url.trim().is_empty() {
            format!("sqlite:{}", self.data_dir.join("pond.db").display())
        } else {
            self.database_url.trim().to_owned()
        }
    }

    /// The key file in effect (`<data_dir>/secret.key` unless set).
    pub fn effective_secret_key_file(&self) -> PathBuf {
        if self.security.secret_key_file.as_os_str().is_empty() {
            self.data_dir.join("secret.key")
        } else {
            self.security.secret_key_file.clone()
        }
    }

    /// Whether cookies must be `Secure`: set, or the public URL is HTTPS.
    pub fn secure_cookies(&self) -> bool {
        self.session.secure_cookie || self.public_url.trim().to_ascii_lowercase().starts_with("https://")
    }

    /// The public URL in effect (derived from `listen` unless set).
    pub fn effective_public_url(&self) -> String {
        if self.public_url.is_empty() {
            let host =
                if self.listen.ip().is_unspecified() { "127.0.0.1".to_owned() } else { self.listen.ip().to_string() };
            format!("http://{host}:{}", self.listen.port())
        } else {
            self.public_url.trim_end_matches('/').to_owned()
        }
    }
}

/// `POND_*` variables read by the CLI or the tests rather than the configuration.
fn is_cli_only_variable(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key.starts_with("test_") || key == "config" || key == "new_user_password"
}

/// Figment's error with the key path and source spelled out.
fn describe(e: &figment::Error) -> String {
    e.clone()
        .into_iter()
        .map(|err| {
            let key = err.path.join(".");
            let source = err.metadata.as_ref().map(|m| m.name.to_string()).unwrap_or_default();
            if key.is_empty() {
                format!("{} ({source})", err.kind)
            } else {
                format!("key `{key}`: {} ({source})", err.kind)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn unknown_keys(given: &Dict, known: &Dict, prefix: &str, out: &mut Vec<String>) {
    for (key, value) in given {
        let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        match (known.get(key), value) {
            (None, _) => out.push(format!("unknown configuration key `{path}` is ignored")),
            (Some(Value::Dict(_, known_sub)), Value::Dict(_, given_sub)) => {
                unknown_keys(given_sub, known_sub, &path, out)
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_use_sqlite_under_data_dir() {
        let c = Config::default();
        c.validate().unwrap();
        assert_eq!(c.effective_database_url(), "sqlite:pond-data/pond.db");
        assert_eq!(c.effective_public_url(), "http://127.0.0.1:8080");
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closure must return figment::Error.
    fn file_and_env_layering_and_errors_name_the_key() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("pond.toml", "listen = \"0.0.0.0:9000\"\n[http]\nrequest_timeout_secs = 5\nbogus = 1\n")?;
            jail.set_env("POND_HTTP__BODY_LIMIT_BYTES", "2048");
            let (c, warnings) = Config::load(&Sources::default()).map_err(|e| e.to_string())?;
            assert_eq!(c.listen.port(), 9000);
            assert_eq!(c.http.request_timeout_secs, 5);
            assert_eq!(c.http.body_limit_bytes, 2048);
            assert_eq!(warnings, vec!["unknown configuration key `http.bogus` is ignored".to_owned()]);

            jail.set_env("POND_LISTEN", "not-an-address");
            let err = Config::load(&Sources::default()).unwrap_err().to_string();
            assert!(err.contains("listen"), "{err}");

            jail.set_env("POND_LISTEN", "127.0.0.1:1");
            jail.set_env("POND_DATABASE_URL", "mysql://x");
            let err = Config::load(&Sources::default()).unwrap_err().to_string();
            assert!(err.contains("database_url") && err.contains("sqlite:"), "{err}");

            jail.set_env("POND_DATABASE_URL", "");
            assert_eq!(
                Config::load(&Sources::default()).map_err(|e| e.to_string())?.0.storage.sqlite_synchronous,
                SqliteSynchronous::Full
            );
            jail.set_env("POND_STORAGE__SQLITE_SYNCHRONOUS", "normal");
            let relaxed = Config::load(&Sources::default()).map_err(|e| e.to_string())?.0;
            assert_eq!(relaxed.storage.db_options().sqlite_synchronous, pond_store::SqliteSync::Normal);
            jail.set_env("POND_STORAGE__SQLITE_SYNCHRONOUS", "off");
            let err = Config::load(&Sources::default()).unwrap_err().to_string();
            assert!(err.contains("storage.sqlite_synchronous") && err.contains("full"), "{err}");
            jail.set_env("POND_STORAGE__SQLITE_SYNCHRONOUS", "full");
            jail.set_env("POND_JOBS__MAX_ATTEMPTS", "0");
            let err = Config::load(&Sources::default()).unwrap_err().to_string();
            assert!(err.contains("jobs.max_attempts") && err.contains("1..=100"), "{err}");
            Ok(())
        });
    }
}
