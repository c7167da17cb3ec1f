//! Versioned schema migrations, embedded in the binary, one SQL file per backend per version.
//!
//! The two trees (`migrations/sqlite`, `migrations/postgres`) carry the same version numbers; a test
//! checks that both produce the same tables and columns. Applied migrations are never edited.

use sqlx::Executor;

use crate::{Db, Result, StoreError, now_ms, read_db, write_db};

/// One schema version with its SQL for each backend.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

/// Every migration, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sqlite: include_str!("../migrations/sqlite/0001_init.sql"),
        postgres: include_str!("../migrations/postgres/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "sync",
        sqlite: include_str!("../migrations/sqlite/0002_sync.sql"),
        postgres: include_str!("../migrations/postgres/0002_sync.sql"),
    },
    Migration {
        version: 3,
        name: "acquisition",
        sqlite: include_str!("../migrations/sqlite/0003_acquisition.sql"),
        postgres: include_str!("../migrations/postgres/0003_acquisition.sql"),
    },
    Migration {
        version: 4,
        name: "stores",
        sqlite: include_str!("../migrations/sqlite/0004_stores.sql"),
        postgres: include_str!("../migrations/postgres/0004_stores.sql"),
    },
    Migration {
        version: 5,
        name: "hot_tables_without_corp_fk",
        sqlite: include_str!("../migrations/sqlite/0005_hot_tables_without_corp_fk.sql"),
        postgres: include_str!("../migrations/postgres/0005_hot_tables_without_corp_fk.sql"),
    },
    Migration {
        version: 6,
        name: "contact_ways",
        sqlite: include_str!("../migrations/sqlite/0006_contact_ways.sql"),
        postgres: include_str!("../migrations/postgres/0006_contact_ways.sql"),
    },
    Migration {
        version: 7,
        name: "corp_brand",
        sqlite: include_str!("../migrations/sqlite/0007_corp_brand.sql"),
        postgres: include_str!("../migrations/postgres/0007_corp_brand.sql"),
    },
    Migration {
        version: 8,
        name: "security",
        sqlite: include_str!("../migrations/sqlite/0008_security.sql"),
        postgres: include_str!("../migrations/postgres/0008_security.sql"),
    },
    Migration {
        version: 9,
        name: "imports",
        sqlite: include_str!("../migrations/sqlite/0009_imports.sql"),
        postgres: include_str!("../migrations/postgres/0009_imports.sql"),
    },
    Migration {
        version: 10,
        name: "leases",
        sqlite: include_str!("../migrations/sqlite/0010_leases.sql"),
        postgres: include_str!("../migrations/postgres/0010_leases.sql"),
    },
    Migration {
        version: 11,
        name: "catch_up",
        sqlite: include_str!("../migrations/sqlite/0011_catch_up.sql"),
        postgres: include_str!("../migrations/postgres/0011_catch_up.sql"),
    },
];

const CREATE_LEDGER: &str = "CREATE TABLE IF NOT EXISTS pond_migrations (
    version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)";

/// Arbitrary key for PostgreSQL's advisory lock, so instances starting together migrate one at a time.
const PG_MIGRATION_LOCK: i64 = 0x504f_4e44; // "POND"

impl Db {
    /// Applies every migration not yet recorded, each in its own transaction. Returns the versions applied.
    pub async fn migrate(&self) -> Result<Vec<i64>> {
        let mut applied = Vec::new();
        for m in MIGRATIONS {
            let done = write_db!(self, |pool| {
                async {
                    let mut tx = pool.begin().await?;
                    if matches!(self, Db::Postgres(_)) {
                        // PostgreSQL only: serialise concurrent migrators across instances.
                        tx.execute(sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(PG_MIGRATION_LOCK)).await?;
                    }
                    tx.execute(CREATE_LEDGER).await?;
                    let exists: Option<i64> =
                        sqlx::query_scalar("SELECT version FROM pond_migrations WHERE version = $1")
                            .bind(m.version)
                            .fetch_optional(&mut *tx)
                            .await?;
                    if exists.is_some() {
                        return Ok::<bool, StoreError>(false);
                    }
                    let sql = match self {
                        Db::Sqlite { .. } => m.sqlite,
                        Db::Postgres(_) => m.postgres,
                    };
                    tx.execute(sqlx::raw_sql(sql))
                        .await
                        .map_err(|e| StoreError::Migration { version: m.version, reason: e.to_string() })?;
                    tx.execute(
                        sqlx::query("INSERT INTO pond_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
                            .bind(m.version)
                            .bind(m.name)
                            .bind(now_ms()),
                    )
                    .await?;
                    tx.commit().await?;
                    Ok(true)
                }
                .await
            })?;
            if done {
                tracing::info!(version = m.version, name = m.name, "applied migration");
                applied.push(m.version);
            }
        }
        Ok(applied)
    }

    /// The versions recorded as applied.
    pub async fn applied_migrations(&self) -> Result<Vec<i64>> {
        Ok(read_db!(self, |pool| sqlx::query_scalar("SELECT version FROM pond_migrations ORDER BY version")
            .fetch_all(pool)
            .await)?)
    }
}
