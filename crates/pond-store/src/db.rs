//! The database handle: SQLite (WAL, one writer connection plus readers) or PostgreSQL (one pool).

use std::{str::FromStr, time::Duration};

use sqlx::{
    ConnectOptions,
    postgres::{PgConnectOptions, PgPool, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous},
};

use crate::{Result, StoreError};

/// Which database a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A connected database. Cheap to clone (pools are reference-counted).
///
/// On SQLite all writes go through a single-connection `writer` pool, so writers queue in Pond
/// rather than fail with `SQLITE_BUSY`; reads use a separate pool and, thanks to WAL, never block it.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite {
        reader: SqlitePool,
        writer: SqlitePool,
        /// Copies the write-ahead log back into the database file ([`Db::checkpoint_wal`]), so
        /// the writer's commits do not.
        checkpointer: SqlitePool,
    },
    Postgres(PgPool),
}

/// How SQLite makes a commit durable (`PRAGMA synchronous`, in WAL mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SqliteSync {
    /// Every commit syncs the write-ahead log before it returns (`FULL`): a callback answered
    /// `success` survives a power failure or an operating-system crash. The default.
    #[default]
    Full,
    /// Commits reach the operating system but are synced only at checkpoints (`NORMAL`): a power
    /// failure or an operating-system crash can lose the last commits — callbacks WeCom was told
    /// were stored, and does not send again. Survives Pond's own crash.
    Normal,
}

impl SqliteSync {
    /// The pragma's value, as configured (`full` or `normal`).
    pub fn as_str(self) -> &'static str {
        match self {
            SqliteSync::Full => "full",
            SqliteSync::Normal => "normal",
        }
    }
}

/// How [`Db::connect_with`] opens a database.
#[derive(Debug, Clone, Copy, Default)]
pub struct DbOptions {
    /// SQLite only; PostgreSQL's durability is the server's `synchronous_commit`.
    pub sqlite_synchronous: SqliteSync,
}

/// WAL pages after which a commit checkpoints by itself: a safety net, far above what
/// [`Db::checkpoint_wal`] lets the log reach when it runs.
const WRITER_AUTOCHECKPOINT_PAGES: &str = "131072";

/// Prepared statements kept per SQLite connection. Batch statements are built per row count, so
/// the few hot ones come in dozens of sizes; sqlx's default of 100 kept evicting and preparing
/// them again.
const STATEMENT_CACHE: usize = 1024;

/// When [`Db::checkpoint_wal`] restarts SQLite's write-ahead log (sizes in pages).
#[derive(Debug, Clone, Copy)]
pub struct WalLimits {
    /// Log size from which a restart is tried. A restart holds off the writer while it copies the
    /// last frames and syncs the file (2–30 ms); at 4,096 pages it ran five times a second under
    /// the pipeline benchmark and stalled the writer 10% of the time, hence 128 MB.
    pub restart_from: i64,
    /// Frames a restart may still have to copy while the writer waits.
    pub restart_tail: i64,
    /// Log size from which a restart waits (up to a second) for readers and the writer instead
    /// of giving up, so a log that busy readers kept from restarting cannot grow without end.
    pub insist_from: i64,
}

impl WalLimits {
    pub const DEFAULT: WalLimits = WalLimits { restart_from: 32_768, restart_tail: 1_024, insist_from: 65_536 };
}

/// Runs a read-only query expression once per backend: `read_db!(db, |pool| sqlx::query(..).fetch_all(pool))`.
#[macro_export]
macro_rules! read_db {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::Db::Sqlite { reader: $pool, .. } => $body,
            $crate::Db::Postgres($pool) => $body,
        }
    };
}

/// Runs a writing query expression once per backend, on SQLite through the single writer.
#[macro_export]
macro_rules! write_db {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::Db::Sqlite { writer: $pool, .. } => $body,
            $crate::Db::Postgres($pool) => $body,
        }
    };
}

/// An open write transaction on either backend (see [`Db::begin`]). Dropped without
/// [`Tx::commit`], it rolls back.
///
/// On SQLite it holds the single writer connection until it ends, so nothing run while it is
/// open may write through the [`Db`] itself — pass the transaction (as a [`Conn`]) instead.
pub enum Tx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl Tx {
    pub fn backend(&self) -> Backend {
        match self {
            Tx::Sqlite(_) => Backend::Sqlite,
            Tx::Postgres(_) => Backend::Postgres,
        }
    }

    pub async fn commit(self) -> Result<()> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }
}

/// Where a storage function runs its statements: straight on the database (each statement its
/// own transaction) or inside a caller's [`Tx`], so several aggregates change together.
pub enum Conn<'a> {
    Db(&'a Db),
    Tx(&'a mut Tx),
}

impl Conn<'_> {
    pub fn backend(&self) -> Backend {
        match self {
            Conn::Db(db) => db.backend(),
            Conn::Tx(tx) => tx.backend(),
        }
    }

    /// The same connection for one more statement.
    pub fn reborrow(&mut self) -> Conn<'_> {
        match self {
            Conn::Db(db) => Conn::Db(db),
            Conn::Tx(tx) => Conn::Tx(tx),
        }
    }
}

impl<'a> From<&'a Db> for Conn<'a> {
    fn from(db: &'a Db) -> Self {
        Conn::Db(db)
    }
}

impl<'a> From<&'a mut Tx> for Conn<'a> {
    fn from(tx: &'a mut Tx) -> Self {
        Conn::Tx(tx)
    }
}

/// Runs a writing query expression on a [`Conn`], once per backend:
/// `on_conn!(conn.reborrow(), |c| sqlx::query(..).execute(c))`. On SQLite a bare [`Db`] writes
/// through its single writer.
#[macro_export]
macro_rules! on_conn {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::Conn::Db($crate::Db::Sqlite { writer: $c, .. }) => $body,
            $crate::Conn::Db($crate::Db::Postgres($c)) => $body,
            $crate::Conn::Tx($crate::Tx::Sqlite(tx)) => {
                let $c = &mut **tx;
                $body
            }
            $crate::Conn::Tx($crate::Tx::Postgres(tx)) => {
                let $c = &mut **tx;
                $body
            }
        }
    };
}

/// Write transactions begun through [`Db::begin`] in this process (both backends), for the
/// pipeline benchmark: on SQLite with `synchronous = full` each commit syncs the log once.
static TRANSACTIONS_BEGUN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many write transactions [`Db::begin`] has begun in this process.
pub fn transactions_begun() -> u64 {
    TRANSACTIONS_BEGUN.load(std::sync::atomic::Ordering::Relaxed)
}

/// The current time as UTC epoch milliseconds, the unit of every time column.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Db {
    /// Connects to `sqlite:PATH` (file created if missing) or `postgres://…` with the default
    /// options (SQLite durable: `synchronous = FULL`). Does not migrate.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, DbOptions::default()).await
    }

    /// [`Self::connect`] with `options`.
    pub async fn connect_with(url: &str, options: DbOptions) -> Result<Self> {
        let bad = |reason: String| StoreError::BadUrl { url: redact_url(url), reason };
        if url.starts_with("sqlite:") {
            let synchronous = match options.sqlite_synchronous {
                SqliteSync::Full => SqliteSynchronous::Full,
                SqliteSync::Normal => SqliteSynchronous::Normal,
            };
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|e| bad(e.to_string()))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(synchronous)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                // Statement journals and sorts in memory: a multi-row statement inside a
                // transaction journals every page it touches, and past 64 KB SQLite otherwise
                // spills that to a temporary file it creates, writes and deletes (dozens a second
                // under load).
                .pragma("temp_store", "memory")
                .statement_cache_capacity(STATEMENT_CACHE)
                .disable_statement_logging();
            let writer = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(options.clone().pragma("wal_autocheckpoint", WRITER_AUTOCHECKPOINT_PAGES))
                .await
                .map_err(StoreError::Database)?;
            let checkpointer = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_lazy_with(options.clone().busy_timeout(Duration::ZERO));
            let reader = SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(options.read_only(true))
                .await
                .map_err(StoreError::Database)?;
            Ok(Db::Sqlite { reader, writer, checkpointer })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            // Custom plans for every execution: Pond's tables grow from empty while its prepared
            // statements live on, and PostgreSQL's cached generic plans, chosen while a table was
            // small, kept scanning it whole once it had grown (a lookup by unique key went from
            // 0.1 ms to tens of ms, and throughput to a fifth).
            let options = PgConnectOptions::from_str(url)
                .map_err(|e| bad(e.to_string()))?
                .options([("plan_cache_mode", "force_custom_plan")])
                .disable_statement_logging();
            let pool = PgPoolOptions::new()
                .max_connections(10)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await
                .map_err(StoreError::Database)?;
            Ok(Db::Postgres(pool))
        } else {
            Err(bad("must start with sqlite: or postgres://".into()))
        }
    }

    /// Connects and applies pending migrations.
    pub async fn open(url: &str) -> Result<Self> {
        Self::open_with(url, DbOptions::default()).await
    }

    /// [`Self::open`] with `options`.
    pub async fn open_with(url: &str, options: DbOptions) -> Result<Self> {
        let db = Self::connect_with(url, options).await?;
        db.migrate().await?;
        Ok(db)
    }

    /// On SQLite, the writer's journal mode and `synchronous` setting as SQLite reports them
    /// (e.g. `("wal", "full")`); `None` on PostgreSQL.
    pub async fn sqlite_durability(&self) -> Result<Option<(String, String)>> {
        let Db::Sqlite { writer, .. } = self else { return Ok(None) };
        let mut conn = writer.acquire().await?;
        let journal: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&mut *conn).await?;
        let level: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(&mut *conn).await?;
        let level = match level {
            0 => "off",
            1 => "normal",
            2 => "full",
            3 => "extra",
            _ => "unknown",
        };
        Ok(Some((journal, level.to_owned())))
    }

    /// Starts a write transaction (on SQLite, on the single writer connection).
    pub async fn begin(&self) -> Result<Tx> {
        TRANSACTIONS_BEGUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(match self {
            Db::Sqlite { writer, .. } => Tx::Sqlite(writer.begin().await?),
            Db::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite { .. } => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Refreshes the query planner's statistics after a bulk load (a full sync). Tables that grew
    /// from empty otherwise keep "tiny table" estimates until autovacuum gets to them, and
    /// PostgreSQL's cached generic plans built on those estimates scan whole tables (seen in the
    /// pipeline benchmark: the follow-relation lookup took 48 ms instead of 0.1 ms). ANALYZE also
    /// invalidates those cached plans. Only the tables a sync fills: queues (inbox, jobs) analysed
    /// while momentarily empty would get the opposite problem. On SQLite, `PRAGMA optimize`.
    pub async fn refresh_statistics(&self) -> Result<()> {
        match self {
            Db::Postgres(pool) => {
                sqlx::query(
                    "ANALYZE departments, staff, customers, follow_relations, follow_relation_tags, tag_groups, tags,
                             customer_groups, group_members",
                )
                .execute(pool)
                .await?;
            }
            Db::Sqlite { writer, .. } => {
                sqlx::query("PRAGMA optimize").execute(writer).await?;
            }
        }
        Ok(())
    }

    /// On PostgreSQL, gathers statistics for the tables that hold at least `min_pages` pages of
    /// rows but have none yet, and returns their names. Nothing to do on SQLite.
    ///
    /// A new database's tables have no statistics until autovacuum's first visit (up to a minute
    /// away), and meanwhile the planner takes the default selectivity for every condition: a
    /// lookup like `corp_id = $1 AND welcome_code IN (…50 codes…)` then looks cheaper through the
    /// `(corp_id, external_userid)` index than through the `(corp_id, welcome_code)` key, and
    /// reads every row of the corp (10 ms at 16,000 rows, under the pipeline benchmark's first
    /// seconds). Once a table has statistics, autovacuum keeps them.
    pub async fn analyze_new_tables(&self, min_pages: i64) -> Result<Vec<String>> {
        let Db::Postgres(pool) = self else { return Ok(Vec::new()) };
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname)
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind = 'r' AND n.nspname = current_schema()
               AND pg_relation_size(c.oid) >= $1 * current_setting('block_size')::bigint
               AND NOT EXISTS (SELECT 1 FROM pg_stats s WHERE s.schemaname = n.nspname AND s.tablename = c.relname)
             ORDER BY 1",
        )
        .bind(min_pages)
        .fetch_all(pool)
        .await?;
        for table in &tables {
            // The name comes from the catalog, quoted by quote_ident.
            sqlx::query(sqlx::AssertSqlSafe(format!("ANALYZE {table}"))).execute(pool).await?;
        }
        Ok(tables)
    }

    /// On SQLite, copies what the write-ahead log holds back into the database file (a passive
    /// checkpoint: it waits for nobody, and the writer goes on appending meanwhile) and returns the
    /// log's size in pages. Run periodically off the writer, it keeps the writer's commits from
    /// checkpointing (file writes and an fsync inside a commit everyone waits for). Nothing to do
    /// on PostgreSQL.
    pub async fn checkpoint_wal(&self) -> Result<Option<i64>> {
        self.checkpoint_wal_within(WalLimits::DEFAULT).await
    }

    /// [`Self::checkpoint_wal`] with the given limits; returns the log's size in pages after it
    /// (0 once restarted).
    pub async fn checkpoint_wal_within(&self, limits: WalLimits) -> Result<Option<i64>> {
        let Db::Sqlite { checkpointer, .. } = self else { return Ok(None) };
        let mut conn = checkpointer.acquire().await?;
        let (_busy, log, done): (i64, i64, i64) =
            sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(&mut *conn).await?;
        // Under constant writes a passive checkpoint never sees the whole log copied at an idle
        // moment, so the log is never restarted and keeps growing. Once it is long, restart it:
        // nearly everything is copied already, so the writer waits briefly. The checkpointer has
        // no busy timeout: should the writer or a reader be busy, the restart gives up at once (it
        // is tried again next time) rather than hold off the writer while it waits for readers —
        // unless the log has grown past `insist_from`.
        if log < limits.restart_from || done < log - limits.restart_tail {
            return Ok(Some(log));
        }
        let insist = log >= limits.insist_from;
        if insist {
            sqlx::query("PRAGMA busy_timeout = 1000").execute(&mut *conn).await?;
        }
        let restarted: std::result::Result<(i64, i64, i64), sqlx::Error> =
            sqlx::query_as("PRAGMA wal_checkpoint(RESTART)").fetch_one(&mut *conn).await;
        if insist {
            sqlx::query("PRAGMA busy_timeout = 0").execute(&mut *conn).await?;
        }
        let (busy, log, _done) = restarted?;
        Ok(Some(if busy == 0 { 0 } else { log }))
    }

    /// True when the database answers a trivial query (used by `/readyz`).
    pub async fn ping(&self) -> bool {
        read_db!(self, |pool| sqlx::query("SELECT 1").execute(pool).await.map(|r| r.rows_affected())).is_ok()
    }

    pub async fn close(&self) {
        match self {
            Db::Sqlite { reader, writer, checkpointer } => {
                reader.close().await;
                checkpointer.close().await;
                writer.close().await;
            }
            Db::Postgres(pool) => pool.close().await,
        }
    }
}

/// A database URL with its password replaced, safe for logs and error messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Rows written or looked up per statement at most. SQLite (anonymous parameters, no network)
/// takes a whole batch in one statement; PostgreSQL keeps statements small enough that the
/// distinct shapes fit its prepared-statement cache.
pub(crate) fn rows_per_statement(backend: Backend) -> usize {
    match backend {
        Backend::Sqlite => 500,
        Backend::Postgres => 50,
    }
}

/// Placeholders for a statement built at run time, written in bind order: `$1, $2, …` on
/// PostgreSQL, anonymous `?` on SQLite. SQLite binds `?` by position; `$N` names are looked up
/// one by one (through sqlx, a scan of every name per bind), which with hundreds of parameters
/// costs more than the statement. Call the methods in the order the placeholders appear in the
/// SQL text, and bind values in that order.
pub(crate) struct Params {
    backend: Backend,
    next: usize,
}

impl Params {
    pub(crate) fn new(backend: Backend) -> Self {
        Params { backend, next: 1 }
    }

    /// One placeholder.
    pub(crate) fn one(&mut self) -> String {
        match self.backend {
            Backend::Sqlite => "?".to_owned(),
            Backend::Postgres => {
                self.next += 1;
                format!("${}", self.next - 1)
            }
        }
    }

    /// `n` placeholders separated by commas, for `IN (…)`.
    pub(crate) fn list(&mut self, n: usize) -> String {
        (0..n).map(|_| self.one()).collect::<Vec<_>>().join(", ")
    }

    /// `(…), (…)`: `rows` rows of `cols` placeholders, for `VALUES`.
    pub(crate) fn rows(&mut self, rows: usize, cols: usize) -> String {
        (0..rows).map(|_| format!("({})", self.list(cols))).collect::<Vec<_>>().join(", ")
    }
}

/// Reads the rows of a corp whose column is one of `values`, in as few statements as the
/// database allows. `sql` writes the statement from the corp's placeholder and the list's, in
/// that order of appearance: `|corp, list| format!("SELECT … WHERE corp_id = {corp} AND x IN ({list})")`.
pub(crate) async fn select_in<T>(
    db: &Db,
    corp_id: i64,
    values: &[&str],
    sql: impl Fn(&str, &str) -> String,
) -> Result<Vec<T>>
where
    T: Send
        + Unpin
        + for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
        + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>,
{
    let mut found = Vec::new();
    for chunk in values.chunks(rows_per_statement(db.backend())) {
        let mut p = Params::new(db.backend());
        let corp = p.one();
        let statement = sql(&corp, &p.list(chunk.len()));
        let rows: Vec<T> = crate::read_db!(db, |pool| {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(statement)).bind(corp_id);
            for value in chunk {
                q = q.bind(*value);
            }
            q.fetch_all(pool).await
        })?;
        found.extend(rows);
    }
    Ok(found)
}

/// Escapes `%`, `_` and `\` and wraps the lower-cased needle for `LOWER(col) LIKE $n ESCAPE '\'`.
pub(crate) fn like_pattern(needle: &str) -> String {
    let mut out = String::with_capacity(needle.len() + 2);
    out.push('%');
    for c in needle.trim().to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// A searchable, paginated listing: `SELECT {columns} FROM {from} WHERE {filter}` where `filter`
/// uses `$1` for the corp id, `$2` for a `LIKE` pattern built from `search`, and (with
/// [`Listing::fetch_with`]) `$3` for one more text filter.
pub(crate) struct Listing<'a> {
    pub columns: &'a str,
    pub from: &'a str,
    pub filter: &'a str,
    pub order_by: &'a str,
}

impl Listing<'_> {
    pub(crate) async fn fetch<T>(
        &self,
        db: &Db,
        corp_id: i64,
        search: Option<&str>,
        req: pond_core::PageRequest,
    ) -> Result<pond_core::Page<T>>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
            + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
            + Send
            + Unpin,
    {
        self.fetch_inner(db, corp_id, search, None, req).await
    }

    /// [`Listing::fetch`] with a filter that uses `$3` for `extra`.
    pub(crate) async fn fetch_with<T>(
        &self,
        db: &Db,
        corp_id: i64,
        search: Option<&str>,
        extra: &str,
        req: pond_core::PageRequest,
    ) -> Result<pond_core::Page<T>>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
            + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
            + Send
            + Unpin,
    {
        self.fetch_inner(db, corp_id, search, Some(extra), req).await
    }

    async fn fetch_inner<T>(
        &self,
        db: &Db,
        corp_id: i64,
        search: Option<&str>,
        extra: Option<&str>,
        req: pond_core::PageRequest,
    ) -> Result<pond_core::Page<T>>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
            + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
            + Send
            + Unpin,
    {
        let pattern = like_pattern(search.unwrap_or(""));
        // PostgreSQL refuses a bound parameter the statement does not use: `$3` only with `extra`.
        let (limit, offset) = if extra.is_some() { ("$4", "$5") } else { ("$3", "$4") };
        let count_sql = format!("SELECT COUNT(*) FROM {} WHERE {}", self.from, self.filter);
        let list_sql = format!(
            "SELECT {} FROM {} WHERE {} ORDER BY {} LIMIT {limit} OFFSET {offset}",
            self.columns, self.from, self.filter, self.order_by
        );
        let total: i64 = read_db!(db, |pool| {
            let q = sqlx::query_scalar(sqlx::AssertSqlSafe(count_sql)).bind(corp_id).bind(&pattern);
            match extra {
                Some(extra) => q.bind(extra),
                None => q,
            }
            .fetch_one(pool)
            .await
        })?;
        let items: Vec<T> = read_db!(db, |pool| {
            let q = sqlx::query_as(sqlx::AssertSqlSafe(list_sql)).bind(corp_id).bind(&pattern);
            match extra {
                Some(extra) => q.bind(extra),
                None => q,
            }
            .bind(req.limit())
            .bind(req.offset())
            .fetch_all(pool)
            .await
        })?;
        Ok(pond_core::Page::new(items, total, req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_only() {
        assert_eq!(redact_url("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite:./x.db"), "sqlite:./x.db");
    }

    #[test]
    fn like_pattern_escapes_wildcards() {
        assert_eq!(like_pattern(" A_b%C\\ "), "%a\\_b\\%c\\\\%");
    }
}
