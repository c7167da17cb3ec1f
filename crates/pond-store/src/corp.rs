//! Corps (tenants): one row per WeCom corp Pond serves, with its credentials.

use pond_core::Secret;

use crate::{Conn, Db, Result, StoreError, now_ms, on_conn, read_db, write_db};

/// A corp as stored. Secrets are wrapped so they never print in full.
#[derive(Debug, Clone)]
pub struct Corp {
    pub id: i64,
    pub name: String,
    pub wecom_corp_id: Option<String>,
    pub agent_id: Option<i64>,
    pub contact_secret: Secret,
    pub app_secret: Secret,
    pub callback_token: Secret,
    pub encoding_aes_key: Secret,
    pub api_base_url: String,
    pub timezone: String,
    /// `#rrggbb`, the phone pages' accent colour.
    pub brand_color: String,
    /// An image URL for the phone pages' header (empty: none).
    pub brand_logo_url: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(sqlx::FromRow)]
struct CorpRow {
    id: i64,
    name: String,
    wecom_corp_id: Option<String>,
    agent_id: Option<i64>,
    contact_secret: String,
    app_secret: String,
    callback_token: String,
    encoding_aes_key: String,
    api_base_url: String,
    timezone: String,
    brand_color: String,
    brand_logo_url: String,
    created_at: i64,
    updated_at: i64,
}

impl From<CorpRow> for Corp {
    fn from(r: CorpRow) -> Self {
        Corp {
            id: r.id,
            name: r.name,
            wecom_corp_id: r.wecom_corp_id,
            agent_id: r.agent_id,
            contact_secret: Secret::new(r.contact_secret),
            app_secret: Secret::new(r.app_secret),
            callback_token: Secret::new(r.callback_token),
            encoding_aes_key: Secret::new(r.encoding_aes_key),
            api_base_url: r.api_base_url,
            timezone: r.timezone,
            brand_color: r.brand_color,
            brand_logo_url: r.brand_logo_url,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// WeCom settings as validated by the caller. `None` secrets keep the stored value (forms leave
/// secret fields blank to mean "unchanged", since they are never shown back).
#[derive(Debug, Clone, Default)]
pub struct WecomSettings {
    pub name: String,
    pub wecom_corp_id: Option<String>,
    pub agent_id: Option<i64>,
    pub contact_secret: Option<Secret>,
    pub app_secret: Option<Secret>,
    pub callback_token: Option<Secret>,
    pub encoding_aes_key: Option<Secret>,
    pub api_base_url: String,
}

const COLUMNS: &str = "id, name, wecom_corp_id, agent_id, contact_secret, app_secret, callback_token, \
                       encoding_aes_key, api_base_url, timezone, brand_color, brand_logo_url, created_at, updated_at";

/// Creates a corp with only a name; WeCom credentials are filled in later.
pub async fn create(db: &Db, name: &str) -> Result<Corp> {
    let now = now_ms();
    let sql = format!("INSERT INTO corps (name, created_at, updated_at) VALUES ($1, $2, $2) RETURNING {COLUMNS}");
    let row: CorpRow =
        write_db!(db, |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(name).bind(now).fetch_one(pool).await)?;
    Ok(row.into())
}

pub async fn get(db: &Db, id: i64) -> Result<Corp> {
    let sql = format!("SELECT {COLUMNS} FROM corps WHERE id = $1");
    let row: Option<CorpRow> =
        read_db!(db, |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await)?;
    row.map(Corp::from).ok_or_else(|| StoreError::NotFound(format!("corp {id}")))
}

pub async fn find_by_wecom_corp_id(db: &Db, wecom_corp_id: &str) -> Result<Option<Corp>> {
    let sql = format!("SELECT {COLUMNS} FROM corps WHERE wecom_corp_id = $1");
    let row: Option<CorpRow> =
        read_db!(db, |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(wecom_corp_id).fetch_optional(pool).await)?;
    Ok(row.map(Corp::from))
}

pub async fn list(db: &Db) -> Result<Vec<Corp>> {
    let sql = format!("SELECT {COLUMNS} FROM corps ORDER BY id");
    let rows: Vec<CorpRow> = read_db!(db, |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await)?;
    Ok(rows.into_iter().map(Corp::from).collect())
}

/// Sets the corp's time zone (an IANA name the caller validated).
pub async fn set_timezone<'c>(conn: impl Into<Conn<'c>>, id: i64, timezone: &str) -> Result<Corp> {
    let sql = format!("UPDATE corps SET timezone = $2, updated_at = $3 WHERE id = $1 RETURNING {COLUMNS}");
    let row: Option<CorpRow> = on_conn!(conn.into(), |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(timezone)
        .bind(now_ms())
        .fetch_optional(pool)
        .await)?;
    row.map(Corp::from).ok_or_else(|| StoreError::NotFound(format!("corp {id}")))
}

/// Sets the phone pages' brand colour and logo (validated by the caller).
pub async fn set_brand<'c>(conn: impl Into<Conn<'c>>, id: i64, color: &str, logo_url: &str) -> Result<Corp> {
    let sql = format!(
        "UPDATE corps SET brand_color = $2, brand_logo_url = $3, updated_at = $4 WHERE id = $1 RETURNING {COLUMNS}"
    );
    let row: Option<CorpRow> = on_conn!(conn.into(), |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(color)
        .bind(logo_url)
        .bind(now_ms())
        .fetch_optional(pool)
        .await)?;
    row.map(Corp::from).ok_or_else(|| StoreError::NotFound(format!("corp {id}")))
}

/// Saves the WeCom settings. Secrets given as `None` are left as stored.
pub async fn update_settings<'c>(conn: impl Into<Conn<'c>>, id: i64, s: &WecomSettings) -> Result<Corp> {
    let sql = format!(
        "UPDATE corps SET name = $2, wecom_corp_id = $3, agent_id = $4,
            contact_secret = COALESCE($5, contact_secret), app_secret = COALESCE($6, app_secret),
            callback_token = COALESCE($7, callback_token), encoding_aes_key = COALESCE($8, encoding_aes_key),
            api_base_url = $9, updated_at = $10
         WHERE id = $1 RETURNING {COLUMNS}"
    );
    let expose = |s: &Option<Secret>| s.as_ref().map(|v| v.expose().to_owned());
    let row: Option<CorpRow> = on_conn!(conn.into(), |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(&s.name)
        .bind(&s.wecom_corp_id)
        .bind(s.agent_id)
        .bind(expose(&s.contact_secret))
        .bind(expose(&s.app_secret))
        .bind(expose(&s.callback_token))
        .bind(expose(&s.encoding_aes_key))
        .bind(&s.api_base_url)
        .bind(now_ms())
        .fetch_optional(pool)
        .await)?;
    row.map(Corp::from).ok_or_else(|| StoreError::NotFound(format!("corp {id}")))
}
