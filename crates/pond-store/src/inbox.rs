//! The event inbox: every accepted WeCom callback, stored once under its dedupe key before it is
//! acknowledged, so WeCom's retries are absorbed and a crash cannot lose an acknowledged event.

use std::collections::BTreeSet;

use pond_core::{Page, PageRequest};

use crate::{
    Conn, Db, Result,
    db::{Listing, Params, rows_per_statement},
    now_ms, on_conn, read_db, write_db,
};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct InboxEvent {
    pub id: i64,
    pub corp_id: i64,
    pub dedupe_key: String,
    pub event_type: String,
    pub payload: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub received_at: i64,
    pub processed_at: Option<i64>,
}

/// Whether an insert stored a new event or met one already stored under the same key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    New(i64),
    Duplicate,
}

const COLUMNS: &str =
    "id, corp_id, dedupe_key, event_type, payload, status, attempts, last_error, received_at, processed_at";

/// A callback to store.
#[derive(Debug, Clone, Copy)]
pub struct NewEvent<'a> {
    pub corp_id: i64,
    /// When its request arrived (epoch ms).
    pub received_at: i64,
    pub dedupe_key: &'a str,
    pub event_type: &'a str,
    pub payload: &'a str,
}

/// Stores an event unless one with the same `(corp_id, dedupe_key)` exists.
///
/// A duplicate of an event already applied puts that event back in the queue: WeCom's retries
/// and distinct events that look identical (same ids within the same second) cannot be told
/// apart, and applying is an idempotent refresh, so re-applying is harmless while skipping could
/// leave Pond behind.
pub async fn insert(db: &Db, corp_id: i64, dedupe_key: &str, event_type: &str, payload: &str) -> Result<Inserted> {
    let stored =
        insert_many(db, &[NewEvent { corp_id, received_at: now_ms(), dedupe_key, event_type, payload }]).await?;
    Ok(stored.into_iter().next().unwrap_or(Inserted::Duplicate))
}

/// Stores several events in one transaction (group commit: many callbacks acknowledged for one
/// commit), each as [`insert`] would. Answers in the order given.
pub async fn insert_many(db: &Db, events: &[NewEvent<'_>]) -> Result<Vec<Inserted>> {
    Ok(insert_batch(db, events, None).await?.0)
}

/// As [`insert_many`], but the new events are stored already claimed by `holder` — `processing`,
/// first attempt, leased for `lease_ms` — and returned, so the caller can apply them without a
/// claim round trip. Should the caller die, its instance takes them back when it starts again
/// ([`requeue_held_by`]), or their leases end and [`claim`] hands them to another worker.
/// Duplicates are handled as [`insert`] does (an applied one goes back in the queue, unclaimed).
pub async fn insert_many_held(
    db: &Db,
    events: &[NewEvent<'_>],
    holder: &str,
    lease_ms: i64,
) -> Result<(Vec<Inserted>, Vec<InboxEvent>)> {
    insert_batch(db, events, Some((holder, lease_ms))).await
}

async fn insert_batch(
    db: &Db,
    events: &[NewEvent<'_>],
    held: Option<(&str, i64)>,
) -> Result<(Vec<Inserted>, Vec<InboxEvent>)> {
    let lease_ms = held.map(|(_, lease)| lease);
    let holder = held.map(|(holder, _)| holder);
    let now = now_ms();
    // Keys in one order, so two instances storing overlapping batches on PostgreSQL cannot deadlock.
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by_key(|&i| (events[i].corp_id, events[i].dedupe_key));
    order.dedup_by_key(|i| (events[*i].corp_id, events[*i].dedupe_key));
    let index: std::collections::HashMap<(i64, &str), usize> =
        order.iter().map(|&i| ((events[i].corp_id, events[i].dedupe_key), i)).collect();
    let (status, attempts, locked_until) = match lease_ms {
        Some(lease) => ("processing", 1_i64, Some(now + lease)),
        None => ("pending", 0, None),
    };
    let mut tx = db.begin().await?;
    let mut new_ids: std::collections::HashMap<(i64, &str), i64> = std::collections::HashMap::new();
    let per_statement = rows_per_statement(db.backend());
    for chunk in order.chunks(per_statement) {
        let sql = format!(
            "INSERT INTO inbox_events (corp_id, dedupe_key, event_type, payload, received_at, status, attempts, locked_until, locked_by)
             VALUES {} ON CONFLICT (corp_id, dedupe_key) DO NOTHING RETURNING id, corp_id, dedupe_key",
            Params::new(db.backend()).rows(chunk.len(), 9)
        );
        let rows: Vec<(i64, i64, String)> = on_conn!(Conn::Tx(&mut tx), |c| {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
            for &i in chunk {
                let e = &events[i];
                q = q
                    .bind(e.corp_id)
                    .bind(e.dedupe_key)
                    .bind(e.event_type)
                    .bind(e.payload)
                    .bind(e.received_at)
                    .bind(status)
                    .bind(attempts)
                    .bind(locked_until)
                    .bind(holder);
            }
            q.fetch_all(c).await
        })?;
        for (id, corp_id, key) in rows {
            if let Some(&i) = index.get(&(corp_id, key.as_str())) {
                new_ids.insert((corp_id, events[i].dedupe_key), id);
            }
        }
    }
    // Already stored: an applied one goes back in the queue (see `insert`).
    let duplicates: Vec<usize> =
        order.iter().copied().filter(|&i| !new_ids.contains_key(&(events[i].corp_id, events[i].dedupe_key))).collect();
    for chunk in duplicates.chunks(per_statement) {
        let corps: BTreeSet<i64> = chunk.iter().map(|&i| events[i].corp_id).collect();
        let keys: BTreeSet<&str> = chunk.iter().map(|&i| events[i].dedupe_key).collect();
        let mut p = Params::new(db.backend());
        // Looked up by key: the two `IN` lists lead SQLite to the (corp_id, dedupe_key) index, and
        // `status || ''` keeps it off the status index, which would scan every event ever done.
        let sql = format!(
            "UPDATE inbox_events SET status = 'pending', next_attempt_at = 0
             WHERE corp_id IN ({}) AND dedupe_key IN ({}) AND (corp_id, dedupe_key) IN (VALUES {})
               AND status || '' = 'done'",
            p.list(corps.len()),
            p.list(keys.len()),
            p.rows(chunk.len(), 2)
        );
        on_conn!(Conn::Tx(&mut tx), |c| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for corp in &corps {
                q = q.bind(*corp);
            }
            for key in &keys {
                q = q.bind(*key);
            }
            for &i in chunk {
                q = q.bind(events[i].corp_id).bind(events[i].dedupe_key);
            }
            q.execute(c).await.map(|r| r.rows_affected())
        })?;
    }
    tx.commit().await?;
    // The first of several copies in one batch counts as new, the rest as duplicates.
    let mut seen = std::collections::HashSet::new();
    let mut held = Vec::new();
    let inserted = events
        .iter()
        .map(|e| match new_ids.get(&(e.corp_id, e.dedupe_key)) {
            Some(&id) if seen.insert(id) => {
                if lease_ms.is_some() {
                    held.push(InboxEvent {
                        id,
                        corp_id: e.corp_id,
                        dedupe_key: e.dedupe_key.to_owned(),
                        event_type: e.event_type.to_owned(),
                        payload: e.payload.to_owned(),
                        status: status.to_owned(),
                        attempts,
                        last_error: None,
                        received_at: e.received_at,
                        processed_at: None,
                    });
                }
                Inserted::New(id)
            }
            _ => Inserted::Duplicate,
        })
        .collect();
    held.sort_by_key(|e| e.id);
    Ok((inserted, held))
}

/// Puts events whose lease ended (their worker died) back in the queue; returns how many.
///
/// Kept apart from [`claim`] and run by workers every second or so rather than before every claim:
/// it walks every `processing` entry of the status index, dead ones included, and on PostgreSQL
/// between two vacuums those are most of the events handled since the last one (run before every
/// claim, it was the statement PostgreSQL spent most time on under load).
pub async fn requeue_lapsed(db: &Db) -> Result<u64> {
    Ok(write_db!(db, |pool| sqlx::query(
        "UPDATE inbox_events SET status = 'pending', next_attempt_at = 0, locked_until = NULL, locked_by = NULL
         WHERE status = 'processing' AND locked_until < $1"
    )
    .bind(now_ms())
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?)
}

/// Puts back in the queue, at once, every event `holder` claimed: run when an instance starts, so
/// what it held when it died is applied again within seconds rather than when the leases end.
/// Their attempts stay counted, so the application that follows knows an earlier one may have
/// called WeCom already. Returns how many.
pub async fn requeue_held_by(db: &Db, holder: &str) -> Result<u64> {
    Ok(write_db!(db, |pool| sqlx::query(
        "UPDATE inbox_events SET status = 'pending', next_attempt_at = 0, locked_until = NULL, locked_by = NULL
         WHERE status = 'processing' AND locked_by = $1"
    )
    .bind(holder)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?)
}

/// Extends the leases of every event `holder` still holds (its heartbeat: a live worker keeps
/// its events however long WeCom takes, while a dead one's end soon). Returns how many.
pub async fn extend_leases(db: &Db, holder: &str, lease_ms: i64) -> Result<u64> {
    Ok(write_db!(db, |pool| sqlx::query(
        "UPDATE inbox_events SET locked_until = $2 WHERE status = 'processing' AND locked_by = $1"
    )
    .bind(holder)
    .bind(now_ms() + lease_ms)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?)
}

/// Takes up to `limit` due events in arrival order for `holder`, holding each for `lease_ms`.
/// Claimed through the single writer on SQLite and with `SKIP LOCKED` on PostgreSQL. Events whose
/// lease ended are due again once [`requeue_lapsed`] has put them back.
pub async fn claim(db: &Db, holder: &str, limit: i64, lease_ms: i64) -> Result<Vec<InboxEvent>> {
    let now = now_ms();
    let lock = match db {
        Db::Postgres(_) => "FOR UPDATE SKIP LOCKED", // PostgreSQL only
        Db::Sqlite { .. } => "",
    };
    let sql = format!(
        "UPDATE inbox_events SET status = 'processing', attempts = attempts + 1, locked_until = $2, locked_by = $4
         WHERE id IN (SELECT id FROM inbox_events WHERE status = 'pending' AND next_attempt_at <= $3
                      ORDER BY id LIMIT $1 {lock})
         RETURNING {COLUMNS}"
    );
    let mut rows: Vec<InboxEvent> = write_db!(db, |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(limit)
        .bind(now + lease_ms)
        .bind(now)
        .bind(holder)
        .fetch_all(pool)
        .await)?;
    rows.sort_by_key(|e| e.id);
    Ok(rows)
}

/// How applying an event ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<'a> {
    Done,
    /// Try again at this time (epoch ms), keeping the error.
    Retry {
        error: &'a str,
        at: i64,
    },
    /// Give up, keeping the error.
    Failed {
        error: &'a str,
    },
}

/// Records the outcome of applying an event.
pub async fn finish<'c>(conn: impl Into<Conn<'c>>, id: i64, outcome: Outcome<'_>) -> Result<()> {
    let (status, error, next) = match outcome {
        Outcome::Done => ("done", None, 0),
        Outcome::Retry { error, at } => ("pending", Some(error), at),
        Outcome::Failed { error } => ("failed", Some(error), 0),
    };
    on_conn!(conn.into(), |pool| {
        sqlx::query(
        "UPDATE inbox_events SET status = $2, last_error = $3, processed_at = $4, next_attempt_at = $5, locked_until = NULL, locked_by = NULL
         WHERE id = $1"
    )
    .bind(id)
    .bind(status)
    .bind(error)
    .bind(now_ms())
    .bind(next)
    .execute(pool)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Marks applied events done, in as few statements as the database allows.
pub async fn finish_done<'c>(conn: impl Into<Conn<'c>>, ids: &[i64]) -> Result<()> {
    let mut conn = conn.into();
    let now = now_ms();
    for chunk in ids.chunks(rows_per_statement(conn.backend())) {
        let mut p = Params::new(conn.backend());
        let sql = format!(
            "UPDATE inbox_events SET status = 'done', last_error = NULL, processed_at = {}, next_attempt_at = 0,
                locked_until = NULL, locked_by = NULL WHERE id IN ({})",
            p.one(),
            p.list(chunk.len())
        );
        on_conn!(conn.reborrow(), |c| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now);
            for id in chunk {
                q = q.bind(*id);
            }
            q.execute(c).await.map(|r| r.rows_affected())
        })?;
    }
    Ok(())
}

/// Puts claimed events back in the queue as if never claimed (their worker is stopping before
/// starting them).
pub async fn release(db: &Db, ids: &[i64]) -> Result<()> {
    for chunk in ids.chunks(rows_per_statement(db.backend())) {
        let sql = format!(
            "UPDATE inbox_events SET status = 'pending', attempts = attempts - 1, next_attempt_at = 0, locked_until = NULL,
                locked_by = NULL
             WHERE status = 'processing' AND id IN ({})",
            Params::new(db.backend()).list(chunk.len())
        );
        write_db!(db, |pool| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(*id);
            }
            q.execute(pool).await.map(|r| r.rows_affected())
        })?;
    }
    Ok(())
}

/// Events not yet done or failed, across corps (for tests and metrics).
pub async fn unfinished(db: &Db) -> Result<i64> {
    Ok(read_db!(db, |pool| sqlx::query_scalar(
        "SELECT COUNT(*) FROM inbox_events WHERE status IN ('pending', 'processing')"
    )
    .fetch_one(pool)
    .await)?)
}

/// Number of events per status across corps (for `/metrics`).
pub async fn counts_by_status(db: &Db) -> Result<Vec<(String, i64)>> {
    Ok(read_db!(db, |pool| sqlx::query_as(
        "SELECT status, COUNT(*) FROM inbox_events GROUP BY status ORDER BY status"
    )
    .fetch_all(pool)
    .await)?)
}

/// Lists a corp's events, newest first; `search` matches the event type, `status` (when not
/// empty) keeps one status.
pub async fn list(
    db: &Db,
    corp_id: i64,
    search: Option<&str>,
    status: &str,
    req: PageRequest,
) -> Result<Page<InboxEvent>> {
    Listing {
        columns: COLUMNS,
        from: "inbox_events",
        filter: "corp_id = $1 AND LOWER(event_type) LIKE $2 ESCAPE '\\' AND ($3 = '' OR status = $3)",
        order_by: "id DESC",
    }
    .fetch_with(db, corp_id, search, status, req)
    .await
}

/// One event of a corp.
pub async fn get(db: &Db, corp_id: i64, id: i64) -> Result<InboxEvent> {
    let sql = format!("SELECT {COLUMNS} FROM inbox_events WHERE corp_id = $1 AND id = $2");
    let event: Option<InboxEvent> = read_db!(db, |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(corp_id)
        .bind(id)
        .fetch_optional(pool)
        .await)?;
    event.ok_or_else(|| crate::StoreError::NotFound(format!("inbox event {id}")))
}

/// Puts failed events of a corp back in the queue with a fresh set of attempts: one (`id`), or
/// every failed event of one type (`event_type`), or every failed one (neither). Returns how many.
pub async fn retry_failed<'c>(
    conn: impl Into<Conn<'c>>,
    corp_id: i64,
    id: Option<i64>,
    event_type: Option<&str>,
) -> Result<u64> {
    Ok(on_conn!(conn.into(), |pool| {
        sqlx::query(
            "UPDATE inbox_events SET status = 'pending', attempts = 0, next_attempt_at = 0, processed_at = NULL
             WHERE corp_id = $1 AND status = 'failed' AND ($2 < 0 OR id = $2) AND ($3 = '' OR event_type = $3)",
        )
        .bind(corp_id)
        .bind(id.unwrap_or(-1))
        .bind(event_type.unwrap_or(""))
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
    })?)
}

/// Per event type, how many of a corp's events failed and how many wait for a retry after an
/// error, with one of their errors (the console's alert and its "retry all" buttons).
pub async fn troubles(db: &Db, corp_id: i64) -> Result<Vec<Trouble>> {
    Ok(read_db!(db, |pool| sqlx::query_as(
        "SELECT event_type,
                SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS failed,
                SUM(CASE WHEN status <> 'failed' THEN 1 ELSE 0 END) AS retrying,
                MAX(last_error) AS last_error
         FROM inbox_events
         WHERE corp_id = $1 AND (status = 'failed' OR (status IN ('pending', 'processing') AND last_error IS NOT NULL))
         GROUP BY event_type ORDER BY event_type"
    )
    .bind(corp_id)
    .fetch_all(pool)
    .await)?)
}

/// Events of one type in trouble (see [`troubles`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct Trouble {
    pub event_type: String,
    pub failed: i64,
    /// Waiting for another attempt after an error.
    pub retrying: i64,
    pub last_error: Option<String>,
}
