//! Stores (门店) for regional codes: where they are and who serves there, their scans, and the
//! contact way of each store employee.

use crate::{Conn, Db, Result, StoreError, Tx, now_ms, on_conn, read_db, write_db};

#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow)]
pub struct Store {
    pub id: i64,
    pub corp_id: i64,
    pub name: String,
    pub address: String,
    pub city: String,
    pub latitude: f64,
    pub longitude: f64,
    /// JSON array of userids.
    pub staff: String,
}

/// A store as imported (validated by the caller).
#[derive(Debug, Clone, PartialEq)]
pub struct NewStore {
    pub name: String,
    pub address: String,
    pub city: String,
    pub latitude: f64,
    pub longitude: f64,
    pub staff_json: String,
}

const COLUMNS: &str = "id, corp_id, name, address, city, latitude, longitude, staff";

/// Inserts or updates (by name) every store in one transaction: all or nothing.
pub async fn upsert_all(db: &Db, corp_id: i64, stores: &[NewStore]) -> Result<usize> {
    let mut tx = db.begin().await?;
    let n = upsert_all_in(&mut tx, corp_id, stores).await?;
    tx.commit().await?;
    Ok(n)
}

/// [`upsert_all`] inside the caller's transaction (so its audit entry commits with it).
pub async fn upsert_all_in(tx: &mut Tx, corp_id: i64, stores: &[NewStore]) -> Result<usize> {
    let now = now_ms();
    for s in stores {
        on_conn!(Conn::Tx(&mut *tx), |c| {
            sqlx::query(
            "INSERT INTO stores (corp_id, name, address, city, latitude, longitude, staff, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
             ON CONFLICT (corp_id, name) DO UPDATE SET address = excluded.address, city = excluded.city,
                latitude = excluded.latitude, longitude = excluded.longitude, staff = excluded.staff, updated_at = excluded.updated_at",
        )
        .bind(corp_id)
        .bind(&s.name)
        .bind(&s.address)
        .bind(&s.city)
        .bind(s.latitude)
        .bind(s.longitude)
        .bind(&s.staff_json)
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
        })?;
    }
    Ok(stores.len())
}

/// Changes one store inside the caller's transaction; a name another store has is a conflict.
pub async fn update_in(tx: &mut Tx, corp_id: i64, id: i64, s: &NewStore) -> Result<()> {
    let result = on_conn!(Conn::Tx(&mut *tx), |c| {
        sqlx::query(
        "UPDATE stores SET name = $3, address = $4, city = $5, latitude = $6, longitude = $7, staff = $8, updated_at = $9
         WHERE corp_id = $1 AND id = $2"
    )
    .bind(corp_id)
    .bind(id)
    .bind(&s.name)
    .bind(&s.address)
    .bind(&s.city)
    .bind(s.latitude)
    .bind(s.longitude)
    .bind(&s.staff_json)
    .bind(now_ms())
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    });
    match result {
        Ok(0) => Err(crate::StoreError::NotFound(format!("store {id}"))),
        Ok(_) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Deletes one store inside the caller's transaction.
pub async fn delete_in(tx: &mut Tx, corp_id: i64, id: i64) -> Result<()> {
    let n = on_conn!(Conn::Tx(&mut *tx), |c| sqlx::query("DELETE FROM stores WHERE corp_id = $1 AND id = $2")
        .bind(corp_id)
        .bind(id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    if n == 0 {
        return Err(crate::StoreError::NotFound(format!("store {id}")));
    }
    Ok(())
}

pub async fn list(db: &Db, corp_id: i64) -> Result<Vec<Store>> {
    let sql = format!("SELECT {COLUMNS} FROM stores WHERE corp_id = $1 ORDER BY city, name");
    Ok(read_db!(db, |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(corp_id).fetch_all(pool).await)?)
}

/// One page of a corp's stores whose name, city or address contains `search` (case-insensitive,
/// wildcards literal), in the order of [`list`].
pub async fn search(
    db: &Db,
    corp_id: i64,
    search: Option<&str>,
    req: pond_core::PageRequest,
) -> Result<pond_core::Page<Store>> {
    crate::db::Listing {
        columns: COLUMNS,
        from: "stores",
        filter: "corp_id = $1 AND (LOWER(name) LIKE $2 ESCAPE '\\' OR LOWER(city) LIKE $2 ESCAPE '\\'
                 OR LOWER(address) LIKE $2 ESCAPE '\\')",
        order_by: "city, name, id",
    }
    .fetch(db, corp_id, search, req)
    .await
}

pub async fn get(db: &Db, corp_id: i64, id: i64) -> Result<Store> {
    let sql = format!("SELECT {COLUMNS} FROM stores WHERE corp_id = $1 AND id = $2");
    let row: Option<Store> = read_db!(db, |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(corp_id)
        .bind(id)
        .fetch_optional(pool)
        .await)?;
    row.ok_or_else(|| StoreError::NotFound(format!("store {id}")))
}

pub async fn record_scan(
    db: &Db,
    corp_id: i64,
    store_id: i64,
    userid: &str,
    located: bool,
    distance_m: Option<i64>,
) -> Result<()> {
    write_db!(db, |pool| {
        sqlx::query(
        "INSERT INTO store_scans (corp_id, store_id, userid, located, distance_m, scanned_at) VALUES ($1, $2, $3, $4, $5, $6)"
    )
    .bind(corp_id)
    .bind(store_id)
    .bind(userid)
    .bind(located)
    .bind(distance_m)
    .bind(now_ms())
    .execute(pool)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Per store: (store_id, scans, scans found by location).
pub async fn scan_counts(db: &Db, corp_id: i64, since: i64) -> Result<Vec<(i64, i64, i64)>> {
    Ok(read_db!(db, |pool| sqlx::query_as(
        "SELECT store_id, COUNT(*), SUM(CASE WHEN located THEN 1 ELSE 0 END) FROM store_scans
         WHERE corp_id = $1 AND scanned_at >= $2 GROUP BY store_id"
    )
    .bind(corp_id)
    .bind(since)
    .fetch_all(pool)
    .await)?)
}

/// Per contact-way state: (state, new follow relations, of them ended) since `since`.
pub async fn adds_by_state_prefix(db: &Db, corp_id: i64, prefix: &str, since: i64) -> Result<Vec<(String, i64, i64)>> {
    Ok(read_db!(db, |pool| sqlx::query_as(
        "SELECT state, COUNT(*), SUM(CASE WHEN removed_at IS NULL THEN 0 ELSE 1 END) FROM follow_relations
         WHERE corp_id = $1 AND state LIKE $2 AND added_at >= $3 GROUP BY state"
    )
    .bind(corp_id)
    .bind(format!("{prefix}%"))
    .bind(since)
    .fetch_all(pool)
    .await)?)
}
