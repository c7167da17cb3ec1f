//! Channel live codes (渠道活码): routing rules, the WeCom contact way behind a native code,
//! landing-page scans, per-employee contact ways of landing codes, and the raw rows for stats.
//!
//! The codes a background import makes carry its id (`import_id`) until it commits: every read
//! here but the import's own leaves them out, so an unfinished import shows nothing, and a failed
//! one is removed without a trace ([`create_for_import`], [`reveal_import`], [`remove_import`]).

use crate::{
    Conn, Db, Result, StoreError, Tx,
    db::{Params, rows_per_statement},
    now_ms, on_conn, read_db, write_db,
};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct ChannelCode {
    pub id: i64,
    pub corp_id: i64,
    pub name: String,
    pub channel_group: String,
    /// `native` (one multi-person contact way) or `landing` (Pond's H5 page picks the employee).
    pub mode: String,
    pub strategy: String,
    /// The contact-way `state` identifying this code in add events.
    pub state: String,
    /// JSON of `pond_core::acquisition::Rules`.
    pub rules: String,
    /// JSON array of tag ids put on customers added through the code.
    pub auto_tags: String,
    pub welcome_id: Option<i64>,
    pub skip_verify: bool,
    pub remark_prefix: String,
    pub config_id: String,
    pub qr_code: String,
    /// JSON array of the userids the native contact way currently holds.
    pub current_users: String,
    pub rr_position: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, corp_id, name, channel_group, mode, strategy, state, rules, auto_tags, welcome_id, skip_verify, \
                       remark_prefix, config_id, qr_code, current_users, rr_position, created_at, updated_at";

/// The editable fields of a code.
#[derive(Debug, Clone)]
pub struct CodeFields<'a> {
    pub name: &'a str,
    pub channel_group: &'a str,
    pub mode: &'a str,
    pub strategy: &'a str,
    pub state: &'a str,
    pub rules: &'a str,
    pub auto_tags: &'a str,
    pub welcome_id: Option<i64>,
    pub skip_verify: bool,
    pub remark_prefix: &'a str,
}

pub async fn create<'c>(conn: impl Into<Conn<'c>>, corp_id: i64, f: &CodeFields<'_>) -> Result<ChannelCode> {
    let sql = format!(
        "INSERT INTO channel_codes (corp_id, name, channel_group, mode, strategy, state, rules, auto_tags, welcome_id,
                                    skip_verify, remark_prefix, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) RETURNING {COLUMNS}"
    );
    Ok(on_conn!(conn.into(), |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(corp_id)
        .bind(f.name)
        .bind(f.channel_group)
        .bind(f.mode)
        .bind(f.strategy)
        .bind(f.state)
        .bind(f.rules)
        .bind(f.auto_tags)
        .bind(f.welcome_id)
        .bind(f.skip_verify)
        .bind(f.remark_prefix)
        .bind(now_ms())
        .fetch_one(pool)
        .await)?)
}

pub async fn update<'c>(conn: impl Into<Conn<'c>>, corp_id: i64, id: i64, f: &CodeFields<'_>) -> Result<ChannelCode> {
    let sql = format!(
        "UPDATE channel_codes SET name = $3, channel_group = $4, strategy = $5, rules = $6, auto_tags = $7, welcome_id = $8,
            skip_verify = $9, remark_prefix = $10, updated_at = $11
         WHERE corp_id = $1 AND id = $2 AND deleted_at IS NULL AND import_id IS NULL RETURNING {COLUMNS}"
    );
    let row: Option<ChannelCode> = on_conn!(conn.into(), |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(corp_id)
        .bind(id)
        .bind(f.name)
        .bind(f.channel_group)
        .bind(f.strategy)
        .bind(f.rules)
        .bind(f.auto_tags)
        .bind(f.welcome_id)
        .bind(f.skip_verify)
        .bind(f.remark_prefix)
        .bind(now_ms())
        .fetch_optional(pool)
        .await)?;
    row.ok_or_else(|| StoreError::NotFound(format!("channel code {id}")))
}

pub async fn get(db: &Db, corp_id: i64, id: i64) -> Result<ChannelCode> {
    let sql = format!(
        "SELECT {COLUMNS} FROM channel_codes WHERE corp_id = $1 AND id = $2 AND deleted_at IS NULL AND import_id IS NULL"
    );
    let row: Option<ChannelCode> = read_db!(db, |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(corp_id)
        .bind(id)
        .fetch_optional(pool)
        .await)?;
    row.ok_or_else(|| StoreError::NotFound(format!("channel code {id}")))
}

pub async fn find_by_state(db: &Db, corp_id: i64, state: &str) -> Result<Option<ChannelCode>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM channel_codes WHERE corp_id = $1 AND state = $2 AND deleted_at IS NULL AND import_id IS NULL"
    );
    Ok(read_db!(db, |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(corp_id)
        .bind(state)
        .fetch_optional(pool)
        .await)?)
}

/// The live codes with any of these states (for a batch of events), in as few queries as the
/// database allows.
pub async fn find_by_states(db: &Db, corp_id: i64, states: &[&str]) -> Result<Vec<ChannelCode>> {
    crate::db::select_in(db, corp_id, states, |corp, list| {
        format!(
            "SELECT {COLUMNS} FROM channel_codes WHERE corp_id = {corp} AND deleted_at IS NULL AND import_id IS NULL AND state IN ({list})"
        )
    })
    .await
}

pub async fn list(db: &Db, corp_id: i64) -> Result<Vec<ChannelCode>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM channel_codes WHERE corp_id = $1 AND deleted_at IS NULL AND import_id IS NULL ORDER BY channel_group, id"
    );
    Ok(read_db!(db, |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(corp_id).fetch_all(pool).await)?)
}

/// Every live native code across corps (the refresher keeps their user lists right).
pub async fn all_native(db: &Db) -> Result<Vec<ChannelCode>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM channel_codes WHERE mode = 'native' AND deleted_at IS NULL AND import_id IS NULL AND config_id <> '' ORDER BY id"
    );
    Ok(read_db!(db, |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await)?)
}

pub async fn delete<'c>(conn: impl Into<Conn<'c>>, corp_id: i64, id: i64) -> Result<()> {
    let n = on_conn!(conn.into(), |pool| {
        sqlx::query(
        "UPDATE channel_codes SET deleted_at = $3, state = state || ':deleted:' || id WHERE corp_id = $1 AND id = $2 AND deleted_at IS NULL AND import_id IS NULL"
    )
    .bind(corp_id)
    .bind(id)
    .bind(now_ms())
    .execute(pool)
    .await
    .map(|r| r.rows_affected())
    })?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("channel code {id}")));
    }
    Ok(())
}

/// Records the WeCom contact way behind a code.
pub async fn set_contact_way<'c>(
    conn: impl Into<Conn<'c>>,
    id: i64,
    config_id: &str,
    qr_code: &str,
    users_json: &str,
) -> Result<()> {
    on_conn!(conn.into(), |pool| sqlx::query(
        "UPDATE channel_codes SET config_id = $2, qr_code = $3, current_users = $4 WHERE id = $1"
    )
    .bind(id)
    .bind(config_id)
    .bind(qr_code)
    .bind(users_json)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Advances the round-robin counter; returns the position to use now.
pub async fn next_position(db: &Db, id: i64) -> Result<i64> {
    let pos: i64 = write_db!(db, |pool| sqlx::query_scalar(
        "UPDATE channel_codes SET rr_position = rr_position + 1 WHERE id = $1 RETURNING rr_position"
    )
    .bind(id)
    .fetch_one(pool)
    .await)?;
    Ok(pos - 1)
}

/// New follow relations through `state` since `since` (epoch ms), per employee.
pub async fn added_since(db: &Db, corp_id: i64, state: &str, since: i64) -> Result<Vec<(String, i64)>> {
    Ok(read_db!(db, |pool| {
        sqlx::query_as(
        "SELECT userid, COUNT(*) FROM follow_relations WHERE corp_id = $1 AND state = $2 AND added_at >= $3 GROUP BY userid ORDER BY userid"
    )
    .bind(corp_id)
    .bind(state)
    .bind(since)
    .fetch_all(pool)
    .await
    })?)
}

pub async fn record_scan(db: &Db, corp_id: i64, code_id: i64, userid: &str) -> Result<()> {
    write_db!(db, |pool| sqlx::query(
        "INSERT INTO channel_code_scans (corp_id, code_id, userid, scanned_at) VALUES ($1, $2, $3, $4)"
    )
    .bind(corp_id)
    .bind(code_id)
    .bind(userid)
    .bind(now_ms())
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// (userid, scanned_at) of a code's landing-page scans in `[from, to)`.
pub async fn scans(db: &Db, corp_id: i64, code_id: i64, from: i64, to: i64) -> Result<Vec<(String, i64)>> {
    Ok(read_db!(db, |pool| {
        sqlx::query_as(
        "SELECT userid, scanned_at FROM channel_code_scans WHERE corp_id = $1 AND code_id = $2 AND scanned_at >= $3 AND scanned_at < $4"
    )
    .bind(corp_id)
    .bind(code_id)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
    })?)
}

/// (userid, external_userid, added_at, removed_at) of follow relations through `state` added in `[from, to)`.
pub async fn follows_through(
    db: &Db,
    corp_id: i64,
    state: &str,
    from: i64,
    to: i64,
) -> Result<Vec<(String, String, i64, Option<i64>)>> {
    Ok(read_db!(db, |pool| sqlx::query_as(
        "SELECT userid, external_userid, added_at, removed_at FROM follow_relations
         WHERE corp_id = $1 AND state = $2 AND added_at >= $3 AND added_at < $4 ORDER BY added_at"
    )
    .bind(corp_id)
    .bind(state)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await)?)
}

/// Names of the live codes that greet with this welcome message.
pub async fn names_using_welcome(db: &Db, corp_id: i64, welcome_id: i64) -> Result<Vec<String>> {
    Ok(read_db!(db, |pool| {
        sqlx::query_scalar(
        "SELECT name FROM channel_codes WHERE corp_id = $1 AND welcome_id = $2 AND deleted_at IS NULL AND import_id IS NULL ORDER BY id"
    )
    .bind(corp_id)
    .bind(welcome_id)
    .fetch_all(pool)
    .await
    })?)
}

/// One page of a corp's live codes whose name or `state` contains `search` (case-insensitive,
/// wildcards literal), in `group` when given; ordered as [`list`].
pub async fn search(
    db: &Db,
    corp_id: i64,
    search: Option<&str>,
    group: Option<&str>,
    req: pond_core::PageRequest,
) -> Result<pond_core::Page<ChannelCode>> {
    crate::db::Listing {
        columns: COLUMNS,
        from: "channel_codes",
        filter: "corp_id = $1 AND deleted_at IS NULL AND import_id IS NULL
                 AND (LOWER(name) LIKE $2 ESCAPE '\\' OR LOWER(state) LIKE $2 ESCAPE '\\')
                 AND ($3 = '' OR channel_group = $3)",
        order_by: "channel_group, id",
    }
    .fetch_with(db, corp_id, search, group.unwrap_or(""), req)
    .await
}

/// The channel groups a corp's live codes use, sorted.
pub async fn groups(db: &Db, corp_id: i64) -> Result<Vec<String>> {
    Ok(read_db!(db, |pool| {
        sqlx::query_scalar(
        "SELECT DISTINCT channel_group FROM channel_codes WHERE corp_id = $1 AND deleted_at IS NULL AND import_id IS NULL AND channel_group <> ''
         ORDER BY channel_group"
    )
    .bind(corp_id)
    .fetch_all(pool)
    .await
    })?)
}

/// Which of these states a code of the corp holds: a live one, or one an unfinished import is
/// making.
pub async fn states_in_use(db: &Db, corp_id: i64, states: &[&str]) -> Result<Vec<String>> {
    let rows: Vec<(String,)> = crate::db::select_in(db, corp_id, states, |corp, list| {
        format!("SELECT state FROM channel_codes WHERE corp_id = {corp} AND deleted_at IS NULL AND state IN ({list})")
    })
    .await?;
    Ok(rows.into_iter().map(|(s,)| s).collect())
}

/// Creates an import's codes, hidden until [`reveal_import`]. Returns how many.
pub async fn create_for_import(tx: &mut Tx, corp_id: i64, import_id: i64, codes: &[CodeFields<'_>]) -> Result<u64> {
    let now = now_ms();
    let mut created = 0;
    let mut conn = Conn::Tx(tx);
    for chunk in codes.chunks(rows_per_statement(conn.backend())) {
        let sql = format!(
            "INSERT INTO channel_codes (corp_id, name, channel_group, mode, strategy, state, rules, auto_tags, welcome_id,
                                        skip_verify, remark_prefix, created_at, updated_at, import_id)
             VALUES {}",
            Params::new(conn.backend()).rows(chunk.len(), 14)
        );
        created += on_conn!(conn.reborrow(), |c| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for f in chunk {
                q = q
                    .bind(corp_id)
                    .bind(f.name)
                    .bind(f.channel_group)
                    .bind(f.mode)
                    .bind(f.strategy)
                    .bind(f.state)
                    .bind(f.rules)
                    .bind(f.auto_tags)
                    .bind(f.welcome_id)
                    .bind(f.skip_verify)
                    .bind(f.remark_prefix)
                    .bind(now)
                    .bind(now)
                    .bind(import_id);
            }
            q.execute(c).await.map(|r| r.rows_affected())
        })?;
    }
    Ok(created)
}

/// An import's native codes still without their contact way, oldest first.
pub async fn import_codes_without_way(db: &Db, import_id: i64, limit: i64) -> Result<Vec<ChannelCode>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM channel_codes WHERE import_id = $1 AND mode = 'native' AND config_id = '' ORDER BY id LIMIT $2"
    );
    Ok(read_db!(db, |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(import_id).bind(limit).fetch_all(pool).await)?)
}

/// An import's codes that hold a WeCom contact way, oldest first.
pub async fn import_codes_with_way(db: &Db, import_id: i64, limit: i64) -> Result<Vec<ChannelCode>> {
    let sql =
        format!("SELECT {COLUMNS} FROM channel_codes WHERE import_id = $1 AND config_id <> '' ORDER BY id LIMIT $2");
    Ok(read_db!(db, |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(import_id).bind(limit).fetch_all(pool).await)?)
}

/// The import's code with this state, if it has one.
pub async fn import_code_by_state(db: &Db, import_id: i64, state: &str) -> Result<Option<ChannelCode>> {
    let sql = format!("SELECT {COLUMNS} FROM channel_codes WHERE import_id = $1 AND state = $2");
    Ok(read_db!(db, |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(import_id)
        .bind(state)
        .fetch_optional(pool)
        .await)?)
}

/// How many of an import's codes are made: landing codes, and native ones with their contact way.
pub async fn import_made(db: &Db, import_id: i64) -> Result<i64> {
    Ok(read_db!(db, |pool| sqlx::query_scalar(
        "SELECT COUNT(*) FROM channel_codes WHERE import_id = $1 AND (mode <> 'native' OR config_id <> '')"
    )
    .bind(import_id)
    .fetch_one(pool)
    .await)?)
}

/// How many of an import's codes hold a contact way (left to undo).
pub async fn import_ways(db: &Db, import_id: i64) -> Result<i64> {
    Ok(read_db!(db, |pool| sqlx::query_scalar(
        "SELECT COUNT(*) FROM channel_codes WHERE import_id = $1 AND config_id <> ''"
    )
    .bind(import_id)
    .fetch_one(pool)
    .await)?)
}

/// Records the contact way WeCom made for one of an import's codes — unless the import stopped
/// running meanwhile (it is being undone): then nothing is recorded and `false` returned, and the
/// caller deletes the contact way again.
pub async fn set_import_way(
    db: &Db,
    import_id: i64,
    id: i64,
    config_id: &str,
    qr_code: &str,
    users_json: &str,
) -> Result<bool> {
    let n = write_db!(db, |pool| sqlx::query(
        "UPDATE channel_codes SET config_id = $3, qr_code = $4, current_users = $5
         WHERE id = $2 AND import_id = $1 AND EXISTS (SELECT 1 FROM imports WHERE id = $1 AND status = 'running')"
    )
    .bind(import_id)
    .bind(id)
    .bind(config_id)
    .bind(qr_code)
    .bind(users_json)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

/// Forgets the contact way of one of an import's codes, once WeCom has deleted it.
pub async fn clear_import_way(db: &Db, import_id: i64, id: i64) -> Result<()> {
    write_db!(db, |pool| sqlx::query(
        "UPDATE channel_codes SET config_id = '', qr_code = '', current_users = '[]' WHERE id = $2 AND import_id = $1"
    )
    .bind(import_id)
    .bind(id)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Makes an import's codes live. Returns how many.
pub async fn reveal_import(tx: &mut Tx, import_id: i64) -> Result<u64> {
    Ok(on_conn!(Conn::Tx(tx), |c| sqlx::query(
        "UPDATE channel_codes SET import_id = NULL, updated_at = $2 WHERE import_id = $1"
    )
    .bind(import_id)
    .bind(now_ms())
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?)
}

/// Removes an import's codes for good (they were never shown). Returns how many.
pub async fn remove_import(tx: &mut Tx, import_id: i64) -> Result<u64> {
    Ok(on_conn!(Conn::Tx(tx), |c| sqlx::query("DELETE FROM channel_codes WHERE import_id = $1")
        .bind(import_id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?)
}

/// Which of these WeCom contact ways Pond holds on a channel code (live, deleted, or being
/// imported — except by `except_import`'s codes).
pub async fn config_ids_held(
    db: &Db,
    corp_id: i64,
    config_ids: &[&str],
    except_import: Option<i64>,
) -> Result<Vec<String>> {
    let except = except_import.unwrap_or(0);
    let rows: Vec<(String,)> = crate::db::select_in(db, corp_id, config_ids, |corp, list| {
        format!(
            "SELECT config_id FROM channel_codes WHERE corp_id = {corp} AND config_id IN ({list})
             AND (import_id IS NULL OR import_id <> {except})"
        )
    })
    .await?;
    Ok(rows.into_iter().map(|(s,)| s).collect())
}
