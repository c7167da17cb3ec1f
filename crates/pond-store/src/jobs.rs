//! The job queue (outbox): work Pond must do outside its database, such as WeCom API calls.
//!
//! Jobs are inserted in the same transaction as the state change that causes them, keyed by an
//! idempotency key so the same cause never queues the same work twice. Workers *claim* jobs with
//! a lease: on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so several Pond instances share one queue
//! without running a job twice; on SQLite through the single writer connection. A job whose worker
//! died is claimable again once its lease expires. Failures are retried with backoff until
//! `max_attempts`, then the job is `failed` with its last error, visible and retryable.

use pond_core::{JobStatus, Page, PageRequest};

use crate::{
    Conn, Db, Result, StoreError,
    db::{Params, rows_per_statement},
    now_ms, on_conn, read_db, write_db,
};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct Job {
    pub id: i64,
    pub corp_id: i64,
    pub kind: String,
    pub payload: String,
    pub idempotency_key: String,
    pub status: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub next_run_at: i64,
    pub locked_by: Option<String>,
    pub locked_until: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
}

impl Job {
    pub fn status(&self) -> JobStatus {
        self.status.parse().unwrap_or(JobStatus::Pending)
    }
}

/// Work to queue.
#[derive(Debug, Clone)]
pub struct NewJob<'a> {
    pub corp_id: i64,
    pub kind: &'a str,
    pub payload: &'a str,
    pub idempotency_key: &'a str,
    pub max_attempts: i64,
    /// Earliest start, epoch ms; `None` = now.
    pub run_at: Option<i64>,
}

const COLUMNS: &str = "id, corp_id, kind, payload, idempotency_key, status, attempts, max_attempts, next_run_at, \
                       locked_by, locked_until, last_error, created_at, updated_at, finished_at";

/// Queues a job. Returns its id, or `None` when a job with the same idempotency key exists already.
pub async fn enqueue<'c>(conn: impl Into<Conn<'c>>, job: &NewJob<'_>) -> Result<Option<i64>> {
    Ok(insert(conn.into(), std::slice::from_ref(job)).await?.into_iter().next().map(|(_, id)| id))
}

/// Puts jobs whose lease ended (their worker died) back in the queue; returns how many. Run every
/// second or so rather than before each claim, for the reason given at
/// [`crate::inbox::requeue_lapsed`].
pub async fn requeue_lapsed(db: &Db) -> Result<u64> {
    Ok(write_db!(db, |pool| sqlx::query(
        "UPDATE jobs SET status = 'pending', locked_by = NULL, locked_until = NULL, updated_at = $1
         WHERE status = 'running' AND locked_until < $1"
    )
    .bind(now_ms())
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?)
}

/// Claims up to `limit` due jobs for `worker`, holding each for `lease_ms`. Each claim counts as an
/// attempt. Jobs whose lease ended are due again once [`requeue_lapsed`] has put them back.
pub async fn claim(db: &Db, worker: &str, limit: i64, lease_ms: i64) -> Result<Vec<Job>> {
    let now = now_ms();
    let lock = match db {
        Db::Postgres(_) => "FOR UPDATE SKIP LOCKED", // PostgreSQL only; SQLite serialises via the writer.
        Db::Sqlite { .. } => "",
    };
    let sql = format!(
        "UPDATE jobs SET status = 'running', attempts = attempts + 1, locked_by = $1, locked_until = $2, updated_at = $3
         WHERE id IN (
            SELECT id FROM jobs WHERE status = 'pending' AND next_run_at <= $3
            ORDER BY next_run_at, id LIMIT $4 {lock})
         RETURNING {COLUMNS}"
    );
    let mut jobs: Vec<Job> = write_db!(db, |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(worker)
        .bind(now + lease_ms)
        .bind(now)
        .bind(limit)
        .fetch_all(pool)
        .await)?;
    jobs.sort_by_key(|j| (j.next_run_at, j.id));
    Ok(jobs)
}

/// Which of these idempotency keys already name a job of the corp (queued, running or finished).
pub async fn existing_keys(db: &Db, corp_id: i64, keys: &[&str]) -> Result<Vec<String>> {
    let rows: Vec<(String,)> = crate::db::select_in(db, corp_id, keys, |corp, list| {
        format!("SELECT idempotency_key FROM jobs WHERE corp_id = {corp} AND idempotency_key IN ({list})")
    })
    .await?;
    Ok(rows.into_iter().map(|(key,)| key).collect())
}

/// Marks jobs done, but only those still held by `worker` (a job whose lease expired and was
/// re-claimed elsewhere belongs to its new holder). Returns how many were marked.
pub async fn complete<'c>(conn: impl Into<Conn<'c>>, worker: &str, ids: &[i64]) -> Result<u64> {
    let mut conn = conn.into();
    let now = now_ms();
    let mut completed = 0;
    for chunk in ids.chunks(rows_per_statement(conn.backend())) {
        let mut p = Params::new(conn.backend());
        let sql = format!(
            "UPDATE jobs SET status = 'done', locked_by = NULL, locked_until = NULL, last_error = NULL,
                finished_at = {}, updated_at = {}
             WHERE locked_by = {} AND status = 'running' AND id IN ({})",
            p.one(),
            p.one(),
            p.one(),
            p.list(chunk.len())
        );
        completed += on_conn!(conn.reborrow(), |c| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now).bind(now).bind(worker);
            for id in chunk {
                q = q.bind(*id);
            }
            q.execute(c).await.map(|r| r.rows_affected())
        })?;
    }
    Ok(completed)
}

/// Records a failed attempt. With `retry_at` and attempts left, the job waits until then;
/// otherwise it is `failed` for good, keeping `error` as its reason.
pub async fn fail(db: &Db, worker: &str, id: i64, error: &str, retry_at: Option<i64>) -> Result<JobStatus> {
    let now = now_ms();
    let retry_at = retry_at.unwrap_or(-1);
    let status: Option<String> = write_db!(db, |pool| sqlx::query_scalar(
        "UPDATE jobs SET
            status = CASE WHEN $4 >= 0 AND attempts < max_attempts THEN 'pending' ELSE 'failed' END,
            next_run_at = CASE WHEN $4 >= 0 THEN $4 ELSE next_run_at END,
            finished_at = CASE WHEN $4 >= 0 AND attempts < max_attempts THEN NULL ELSE $5 END,
            locked_by = NULL, locked_until = NULL, last_error = $3, updated_at = $5
         WHERE id = $1 AND locked_by = $2 AND status = 'running'
         RETURNING status"
    )
    .bind(id)
    .bind(worker)
    .bind(error)
    .bind(retry_at)
    .bind(now)
    .fetch_optional(pool)
    .await)?;
    let status = status.ok_or_else(|| StoreError::NotFound(format!("job {id} held by {worker}")))?;
    status.parse().map_err(|e: pond_core::ValidationError| StoreError::NotFound(e.to_string()))
}

/// Puts a failed job back in the queue with a fresh set of attempts (the console's retry button).
pub async fn retry<'c>(conn: impl Into<Conn<'c>>, corp_id: i64, id: i64) -> Result<()> {
    let now = now_ms();
    let n = on_conn!(conn.into(), |pool| {
        sqlx::query(
            "UPDATE jobs SET status = 'pending', attempts = 0, next_run_at = $3, finished_at = NULL, updated_at = $3
         WHERE corp_id = $1 AND id = $2 AND status = 'failed'",
        )
        .bind(corp_id)
        .bind(id)
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
    })?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("failed job {id}")));
    }
    Ok(())
}

/// Puts every failed job of one kind back in the queue with a fresh set of attempts. Returns how
/// many.
pub async fn retry_kind<'c>(conn: impl Into<Conn<'c>>, corp_id: i64, kind: &str) -> Result<u64> {
    let now = now_ms();
    Ok(on_conn!(conn.into(), |pool| {
        sqlx::query(
            "UPDATE jobs SET status = 'pending', attempts = 0, next_run_at = $3, finished_at = NULL, updated_at = $3
             WHERE corp_id = $1 AND kind = $2 AND status = 'failed'",
        )
        .bind(corp_id)
        .bind(kind)
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
    })?)
}

/// Puts back in the queue, at once, every job `worker` was running: run when an instance starts
/// again under the same name, so what it held when it died is not kept waiting for its lease.
/// Returns how many.
pub async fn requeue_held_by(db: &Db, worker: &str) -> Result<u64> {
    Ok(write_db!(db, |pool| sqlx::query(
        "UPDATE jobs SET status = 'pending', locked_by = NULL, locked_until = NULL, updated_at = $2
         WHERE status = 'running' AND locked_by = $1"
    )
    .bind(worker)
    .bind(now_ms())
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?)
}

/// Extends the leases of every job `worker` is running (its heartbeat). Returns how many.
pub async fn extend_leases(db: &Db, worker: &str, lease_ms: i64) -> Result<u64> {
    Ok(write_db!(db, |pool| sqlx::query(
        "UPDATE jobs SET locked_until = $2 WHERE status = 'running' AND locked_by = $1"
    )
    .bind(worker)
    .bind(now_ms() + lease_ms)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?)
}

/// Records that jobs just queued (by idempotency key) had a first attempt already, outside the
/// queue (an expedited run that failed, or one an interrupted application may have made): their
/// next run knows it is not the first. Only jobs not yet claimed are marked.
pub async fn note_tried(tx: &mut crate::Tx, corp_id: i64, keys: &[&str], reason: &str) -> Result<u64> {
    let mut marked = 0;
    let mut conn = Conn::Tx(tx);
    for chunk in keys.chunks(rows_per_statement(conn.backend())) {
        let mut p = Params::new(conn.backend());
        let sql = format!(
            "UPDATE jobs SET attempts = 1, last_error = {} WHERE corp_id = {} AND status = 'pending' AND attempts = 0
               AND idempotency_key IN ({})",
            p.one(),
            p.one(),
            p.list(chunk.len())
        );
        marked += on_conn!(conn.reborrow(), |c| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(reason).bind(corp_id);
            for key in chunk {
                q = q.bind(*key);
            }
            q.execute(c).await.map(|r| r.rows_affected())
        })?;
    }
    Ok(marked)
}

/// Failed jobs of a corp per kind, with one of their errors (the console's "retry all" buttons).
pub async fn failed_by_kind(db: &Db, corp_id: i64) -> Result<Vec<(String, i64, Option<String>)>> {
    Ok(read_db!(db, |pool| sqlx::query_as(
        "SELECT kind, COUNT(*), MAX(last_error) FROM jobs WHERE corp_id = $1 AND status = 'failed'
         GROUP BY kind ORDER BY kind"
    )
    .bind(corp_id)
    .fetch_all(pool)
    .await)?)
}

pub async fn get(db: &Db, corp_id: i64, id: i64) -> Result<Job> {
    let sql = format!("SELECT {COLUMNS} FROM jobs WHERE corp_id = $1 AND id = $2");
    let job: Option<Job> = read_db!(db, |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(corp_id)
        .bind(id)
        .fetch_optional(pool)
        .await)?;
    job.ok_or_else(|| StoreError::NotFound(format!("job {id}")))
}

/// Lists a corp's jobs in one status (newest first), or all when `status` is `None`.
pub async fn list(db: &Db, corp_id: i64, status: Option<JobStatus>, req: PageRequest) -> Result<Page<Job>> {
    let status = status.map(|s| s.as_str()).unwrap_or("");
    let count_sql = "SELECT COUNT(*) FROM jobs WHERE corp_id = $1 AND ($2 = '' OR status = $2)";
    let list_sql = format!(
        "SELECT {COLUMNS} FROM jobs WHERE corp_id = $1 AND ($2 = '' OR status = $2) ORDER BY id DESC LIMIT $3 OFFSET $4"
    );
    let total: i64 =
        read_db!(db, |pool| sqlx::query_scalar(count_sql).bind(corp_id).bind(status).fetch_one(pool).await)?;
    let items: Vec<Job> = read_db!(db, |pool| sqlx::query_as(sqlx::AssertSqlSafe(list_sql))
        .bind(corp_id)
        .bind(status)
        .bind(req.limit())
        .bind(req.offset())
        .fetch_all(pool)
        .await)?;
    Ok(Page::new(items, total, req))
}

/// Number of jobs per status across all corps (for `/metrics`).
pub async fn counts_by_status(db: &Db) -> Result<Vec<(String, i64)>> {
    Ok(read_db!(db, |pool| sqlx::query_as("SELECT status, COUNT(*) FROM jobs GROUP BY status ORDER BY status")
        .fetch_all(pool)
        .await)?)
}

/// Queues many jobs in one transaction (all or none). Returns how many were new.
pub async fn enqueue_many(db: &Db, jobs: &[NewJob<'_>]) -> Result<u64> {
    let mut tx = db.begin().await?;
    let queued = enqueue_in(&mut tx, jobs).await?;
    tx.commit().await?;
    Ok(queued.len() as u64)
}

/// Queues jobs inside the caller's transaction (with the state change that causes them),
/// skipping those whose idempotency key exists. Returns `(idempotency_key, id)` of the jobs
/// queued now.
pub async fn enqueue_in(tx: &mut crate::Tx, jobs: &[NewJob<'_>]) -> Result<Vec<(String, i64)>> {
    insert(Conn::Tx(tx), jobs).await
}

async fn insert(mut conn: Conn<'_>, jobs: &[NewJob<'_>]) -> Result<Vec<(String, i64)>> {
    let now = now_ms();
    let mut queued = Vec::with_capacity(jobs.len());
    for chunk in jobs.chunks(rows_per_statement(conn.backend())) {
        let sql = format!(
            "INSERT INTO jobs (corp_id, kind, payload, idempotency_key, max_attempts, next_run_at, created_at, updated_at)
             VALUES {} ON CONFLICT (corp_id, idempotency_key) DO NOTHING RETURNING idempotency_key, id",
            Params::new(conn.backend()).rows(chunk.len(), 8)
        );
        let rows: Vec<(String, i64)> = on_conn!(conn.reborrow(), |c| {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
            for job in chunk {
                q = q
                    .bind(job.corp_id)
                    .bind(job.kind)
                    .bind(job.payload)
                    .bind(job.idempotency_key)
                    .bind(job.max_attempts.max(1))
                    .bind(job.run_at.unwrap_or(now))
                    .bind(now)
                    .bind(now);
            }
            q.fetch_all(c).await
        })?;
        queued.extend(rows);
    }
    Ok(queued)
}
