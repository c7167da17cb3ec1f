//! Pond's persistence: one code path for SQLite and PostgreSQL.
//!
//! [`Db`] holds either backend's pools. Every query is written once, in the SQL dialect both accept
//! (`$1` binds, `RETURNING`, `ON CONFLICT … DO UPDATE SET x = excluded.x`, `LIMIT/OFFSET`), and the
//! [`read_db!`]/[`write_db!`] macros expand it for each pool. Dialect-specific SQL appears only in branches
//! marked as such (the job claim's `FOR UPDATE SKIP LOCKED`, the migration lock).
//!
//! Each aggregate has its own module; callers never see SQL. Times are UTC epoch milliseconds.
#![forbid(unsafe_code)]

mod db;
mod error;
mod migrate;

pub mod audit;
pub mod channel_code;
pub mod contact_way;
pub mod corp;
pub mod customer;
pub mod department;
pub mod group;
pub mod import;
pub mod inbox;
pub mod instance;
pub mod jobs;
pub mod login_throttle;
pub mod session;
pub mod staff;
pub mod store_location;
pub mod sync_run;
pub mod tag;
pub mod timeline;
pub mod token;
pub mod user;
pub mod welcome;

#[cfg(feature = "testing")]
pub mod testing;

pub use db::{Backend, Conn, Db, DbOptions, SqliteSync, Tx, WalLimits, now_ms, transactions_begun};
pub use error::StoreError;
pub use migrate::{MIGRATIONS, Migration};

/// Result of the store's operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
