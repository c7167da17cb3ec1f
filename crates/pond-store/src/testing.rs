//! Throwaway databases for tests: a fresh SQLite file, or a fresh PostgreSQL database created on the
//! server named by `POND_TEST_DATABASE_URL` and dropped by [`TestDb::cleanup`].
//!
//! Without that variable the PostgreSQL half of each test reports itself skipped on stderr; under
//! `CI` a missing PostgreSQL is a failure, so CI cannot pass by skipping.

use std::{io::Write, path::PathBuf};

use rand::Rng;
use sqlx::{Connection, Executor, PgConnection};

use crate::Db;

/// The environment variable naming the PostgreSQL server for tests (a database URL; its database
/// is only used to create and drop the per-test databases).
pub const PG_URL_VAR: &str = "POND_TEST_DATABASE_URL";

/// A migrated database that exists for one test.
pub struct TestDb {
    pub db: Db,
    /// The URL of this database, for tests that open a second connection (a second server).
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    SqliteDir(PathBuf),
    Postgres { admin_url: String, name: String },
}

fn unique_name() -> String {
    format!("pond_test_{}_{:08x}", std::process::id(), rand::rng().random::<u32>())
}

impl TestDb {
    /// A new SQLite database in a fresh temporary directory.
    pub async fn sqlite() -> TestDb {
        let dir = std::env::temp_dir().join(unique_name());
        std::fs::create_dir_all(&dir).expect("create temp dir for test database");
        let url = format!("sqlite:{}", dir.join("pond.db").display());
        let db = Db::open(&url).await.expect("open test SQLite database");
        TestDb { db, url, cleanup: Cleanup::SqliteDir(dir) }
    }

    /// A new PostgreSQL database, or `None` (reported as skipped) when no server is configured.
    pub async fn postgres() -> Option<TestDb> {
        let Ok(admin_url) = std::env::var(PG_URL_VAR) else {
            if std::env::var_os("CI").is_some() {
                panic!("{PG_URL_VAR} is not set but CI is: PostgreSQL tests must run in CI");
            }
            // Written to the raw stderr handle so the test harness does not swallow it.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED PostgreSQL test ({}): set {PG_URL_VAR}=postgres://postgres@127.0.0.1:5432/postgres to run it",
                std::thread::current().name().unwrap_or("?")
            );
            return None;
        };
        let name = unique_name();
        let mut admin = PgConnection::connect(&admin_url).await.expect("connect to the PostgreSQL test server");
        admin.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).await.expect("create test database");
        admin.close().await.ok();
        let url = with_database(&admin_url, &name);
        let db = Db::open(&url).await.expect("open test PostgreSQL database");
        Some(TestDb { db, url, cleanup: Cleanup::Postgres { admin_url, name } })
    }

    /// Closes the pools and removes the database.
    pub async fn cleanup(self) {
        self.db.close().await;
        match self.cleanup {
            Cleanup::SqliteDir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Postgres { admin_url, name } => {
                if let Ok(mut admin) = PgConnection::connect(&admin_url).await {
                    let _ = admin
                        .execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                        .await;
                    let _ = admin.close().await;
                }
            }
        }
    }
}

/// Refuses, from now until [`allow_timeline_writes`], every timeline entry written for this
/// customer: a database failure in the middle of applying events, where tests want one.
pub async fn refuse_timeline_writes_for(db: &Db, external_userid: &str) {
    let quoted = external_userid.replace('\'', "''");
    let statements = match db {
        Db::Sqlite { .. } => vec![format!(
            "CREATE TRIGGER refuse_timeline BEFORE INSERT ON customer_events
             WHEN NEW.external_userid = '{quoted}' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        )],
        Db::Postgres(_) => vec![
            format!(
                "CREATE FUNCTION refuse_timeline() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN IF NEW.external_userid = '{quoted}' THEN RAISE EXCEPTION 'refused by the test'; END IF;
                 RETURN NEW; END $$"
            ),
            "CREATE TRIGGER refuse_timeline BEFORE INSERT ON customer_events
             FOR EACH ROW EXECUTE FUNCTION refuse_timeline()"
                .to_owned(),
        ],
    };
    for statement in statements {
        execute(db, statement).await;
    }
}

/// Ends [`refuse_timeline_writes_for`].
pub async fn allow_timeline_writes(db: &Db) {
    let statement = match db {
        Db::Sqlite { .. } => "DROP TRIGGER refuse_timeline",
        Db::Postgres(_) => "DROP TRIGGER refuse_timeline ON customer_events",
    };
    execute(db, statement.to_owned()).await;
}

/// Ends every lease on inbox events at once, as their running out would: the events a crashed
/// instance held become free for the others to take.
pub async fn end_inbox_leases(db: &Db) {
    execute(db, "UPDATE inbox_events SET locked_until = 0 WHERE status = 'processing'".to_owned()).await;
}

async fn execute(db: &Db, statement: String) {
    crate::write_db!(db, |pool| pool.execute(sqlx::AssertSqlSafe(statement)).await.map(|_| ()))
        .expect("test statement");
}

/// `postgres://u@h:p/olddb?x` → `postgres://u@h:p/NAME?x`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let root = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

/// Generates, for each async fn `name(db: Db)`, a module `name` with tests `sqlite` and `postgres`.
#[macro_export]
macro_rules! test_on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let t = $crate::testing::TestDb::sqlite().await;
                super::$name(t.db.clone()).await;
                t.cleanup().await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(t) = $crate::testing::TestDb::postgres().await {
                    super::$name(t.db.clone()).await;
                    t.cleanup().await;
                }
            }
        }
    )*};
}

/// A read transaction kept open on one of SQLite's reader connections, so the write-ahead log
/// frames it reads cannot be discarded until [`ReadSnapshot::end`].
pub struct ReadSnapshot(sqlx::pool::PoolConnection<sqlx::Sqlite>);

impl ReadSnapshot {
    /// Opens one on SQLite (`None` on PostgreSQL, which has no such log).
    pub async fn hold(db: &Db) -> Option<ReadSnapshot> {
        let Db::Sqlite { reader, .. } = db else { return None };
        let mut conn = reader.acquire().await.expect("a reader connection");
        conn.execute("BEGIN").await.expect("begin a read");
        conn.execute("SELECT COUNT(*) FROM inbox_events").await.expect("read in the snapshot");
        Some(ReadSnapshot(conn))
    }

    pub async fn end(mut self) {
        self.0.execute("COMMIT").await.expect("end the read");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn swaps_the_database_name() {
        assert_eq!(super::with_database("postgres://p@h:5432/test", "x"), "postgres://p@h:5432/x");
        assert_eq!(
            super::with_database("postgres://p@h/test?sslmode=disable", "x"),
            "postgres://p@h/x?sslmode=disable"
        );
        assert_eq!(super::with_database("postgres://p@h", "x"), "postgres://p@h/x");
    }
}
