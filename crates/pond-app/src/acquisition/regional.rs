//! Regional store codes (区域活码): one printed code for a whole chain. The customer's browser
//! shares its location, Pond finds the nearest store (R-tree on the unit sphere, great-circle
//! distance) and shows the QR of one of that store's employees who can serve (see
//! [`super::routing`]); when location is refused or the nearest store is too far, the page offers
//! a city → store picker.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
};

use pond_core::{ImportKind, ImportStatus, ValidationError, geo::LatLng, state::StateSpace};
use pond_store::{import::Import, store_location::NewStore};
use rstar::{RTree, primitives::GeomWithData};
use serde::Serialize;

use crate::{
    App, AppError, LineError,
    acquisition::routing::{self, Route},
    audit::{self, AuditAction},
    auth::Actor,
    imports::{self, Upload},
    pipeline::jobs::{JobError, job_error, store_error},
};

/// The `state` of a store employee's contact way (≤30 characters).
pub fn store_state(store_id: i64) -> String {
    StateSpace::Regional.state(store_id)
}

/// Parses and validates a store CSV (`name,address,city,latitude,longitude,staff`; staff
/// separated by `|`). Every bad line is reported; nothing is returned unless all are good.
pub fn parse_csv(text: &str, active_staff: &dyn Fn(&str) -> bool) -> Result<Vec<NewStore>, Vec<LineError>> {
    let mut errors = Vec::new();
    let mut stores = Vec::new();
    let expected = ["name", "address", "city", "latitude", "longitude", "staff"];
    let mut reader = crate::error::csv_with_header(text, &expected)?;
    let mut names = BTreeMap::new();
    for (i, record) in reader.records().enumerate() {
        let line = crate::error::csv_line(&record, i);
        let mut err = |field: &str, message: String, message_zh: String| {
            errors.push(LineError::new(line, field, message, message_zh))
        };
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                err("line", e.to_string(), format!("无法读取：{e}"));
                continue;
            }
        };
        if record.len() != 6 {
            err(
                "line",
                format!("has {} fields; 6 are needed", record.len()),
                format!("有 {} 列，应为 6 列", record.len()),
            );
            continue;
        }
        let name = record[0].to_owned();
        let name_ok = !name.is_empty() && name.chars().count() <= 64;
        if let Some(first) = names.insert(name.clone(), line).filter(|_| name_ok) {
            err("name", format!("{name:?} already appears on line {first}"), format!("{name:?} 已在第 {first} 行出现"));
        }
        let mut number = |field: &'static str, text: &str, en: &str, zh: &str| {
            text.parse::<f64>().map_err(|_| err(field, en.into(), zh.into())).ok()
        };
        let lat = number("latitude", &record[3], "must be a number from -90 to 90", "须为 -90 到 90 之间的数字");
        // As before: a bad latitude is reported alone.
        let lng = match lat {
            Some(_) => {
                number("longitude", &record[4], "must be a number from -180 to 180", "须为 -180 到 180 之间的数字")
            }
            None => None,
        };
        let input = StoreInput {
            name,
            address: record[1].to_owned(),
            city: record[2].to_owned(),
            latitude: lat.unwrap_or(f64::NAN),
            longitude: lng.unwrap_or(f64::NAN),
            staff: record[5].split(['|', ' ']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect(),
        };
        if input.staff.is_empty() || input.staff.len() > 100 {
            err("staff", "list 1 to 100 employees separated by |".into(), "请填写 1 到 100 名员工，用 | 分隔".into());
        }
        match check_store(&input, active_staff) {
            // A coordinate that is not a number is already reported above.
            Err(problems) => problems
                .into_iter()
                .filter(|p| lat.is_some() && lng.is_some() || !matches!(p.field, "latitude" | "longitude"))
                .for_each(|p| err(p.field, p.reason, p.reason_zh)),
            Ok(store) => stores.push(store),
        }
    }
    if errors.is_empty() && stores.is_empty() {
        errors.push(LineError::new(2, "line", "the file has no stores", "文件中没有门店"));
    }
    if errors.is_empty() { Ok(stores) } else { Err(errors) }
}

type Point = GeomWithData<[f64; 3], i64>;

/// Nearest-store indexes per corp, rebuilt after an import.
#[derive(Default)]
pub struct StoreIndexes {
    by_corp: Mutex<HashMap<i64, Arc<RTree<Point>>>>,
}

impl StoreIndexes {
    pub fn invalidate(&self, corp_id: i64) {
        self.by_corp.lock().unwrap_or_else(|e| e.into_inner()).remove(&corp_id);
    }

    async fn get(&self, db: &pond_store::Db, corp_id: i64) -> Result<Arc<RTree<Point>>, pond_store::StoreError> {
        if let Some(tree) = self.by_corp.lock().unwrap_or_else(|e| e.into_inner()).get(&corp_id) {
            return Ok(tree.clone());
        }
        let points: Vec<Point> = pond_store::store_location::list(db, corp_id)
            .await?
            .into_iter()
            .filter_map(|s| LatLng::new(s.latitude, s.longitude).ok().map(|p| GeomWithData::new(p.unit_vector(), s.id)))
            .collect();
        let tree = Arc::new(RTree::bulk_load(points));
        self.by_corp.lock().unwrap_or_else(|e| e.into_inner()).insert(corp_id, tree.clone());
        Ok(tree)
    }

    /// The nearest store to `at`, with its distance in metres.
    pub async fn nearest(
        &self,
        db: &pond_store::Db,
        corp_id: i64,
        at: LatLng,
    ) -> Result<Option<(i64, f64)>, pond_store::StoreError> {
        let tree = self.get(db, corp_id).await?;
        let Some(found) = tree.nearest_neighbor(at.unit_vector()) else { return Ok(None) };
        let store = pond_store::store_location::get(db, corp_id, found.data).await?;
        let distance = at.distance_m(LatLng { lat: store.latitude, lng: store.longitude });
        Ok(Some((store.id, distance)))
    }
}

/// A store with its last-30-days figures.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoreView {
    pub id: i64,
    pub name: String,
    pub address: String,
    pub city: String,
    pub latitude: f64,
    pub longitude: f64,
    pub staff: Vec<String>,
    /// The contact-way state customers added through this store carry.
    pub state: String,
    pub scans: i64,
    pub located_scans: i64,
    pub new_customers: i64,
    pub lost: i64,
}

pub async fn views(db: &pond_store::Db, corp_id: i64) -> Result<Vec<StoreView>, AppError> {
    let stores = pond_store::store_location::list(db, corp_id).await?;
    with_stats(db, corp_id, stores).await
}

/// One page of the stores matching `search` (name, city or address), with their 30-day figures.
pub async fn views_page(
    db: &pond_store::Db,
    corp_id: i64,
    search: Option<&str>,
    req: pond_core::PageRequest,
) -> Result<pond_core::Page<StoreView>, AppError> {
    let page = pond_store::store_location::search(db, corp_id, search, req).await?;
    let (total, page_no, per_page) = (page.total, page.page, page.per_page);
    let items = with_stats(db, corp_id, page.items).await?;
    Ok(pond_core::Page { items, total, page: page_no, per_page })
}

async fn with_stats(
    db: &pond_store::Db,
    corp_id: i64,
    stores: Vec<pond_store::store_location::Store>,
) -> Result<Vec<StoreView>, AppError> {
    let since = pond_store::now_ms() - 30 * 86_400_000;
    let scans: HashMap<i64, (i64, i64)> = pond_store::store_location::scan_counts(db, corp_id, since)
        .await?
        .into_iter()
        .map(|(id, n, l)| (id, (n, l)))
        .collect();
    let adds: HashMap<String, (i64, i64)> =
        pond_store::store_location::adds_by_state_prefix(db, corp_id, StateSpace::Regional.prefix(), since)
            .await?
            .into_iter()
            .map(|(s, n, l)| (s, (n, l)))
            .collect();
    stores
        .into_iter()
        .map(|s| -> Result<StoreView, AppError> {
            let state = store_state(s.id);
            let (scans, located) = scans.get(&s.id).copied().unwrap_or_default();
            let (new_customers, lost) = adds.get(&state).copied().unwrap_or_default();
            let staff = crate::json_column("stores.staff", s.id, &s.staff)?;
            Ok(StoreView {
                id: s.id,
                name: s.name,
                address: s.address,
                city: s.city,
                latitude: s.latitude,
                longitude: s.longitude,
                staff,
                state,
                scans,
                located_scans: located,
                new_customers,
                lost,
            })
        })
        .collect()
}

/// Checks a store CSV and, when every line is good, imports it in the background ([`crate::imports`]):
/// one step writes every store in one transaction. A file with any bad line is refused at once
/// with a report naming each line and field.
pub async fn start_import(app: &App, actor: &Actor, corp_id: i64, csv_text: &str) -> Result<Upload, AppError> {
    let active = active_staff(app, corp_id).await?;
    match parse_csv(csv_text, &|u| active.contains(u)) {
        Err(report) => Ok(Upload::Refused(report)),
        Ok(stores) => {
            let mut tx = app.db.begin().await?;
            let import = imports::start(&mut tx, corp_id, actor, ImportKind::Stores, stores.len(), csv_text).await?;
            tx.commit().await?;
            app.wake_worker.notify_one();
            Ok(Upload::Started(import.try_into()?))
        }
    }
}

/// The one step of a store import: checks the file again (an employee may have left since it was
/// uploaded) and writes every store in one transaction with the import's end — or fails it with
/// the report, nothing written.
pub(crate) async fn import_step(app: &App, import: &Import) -> Result<(), JobError> {
    let mut tx = app.db.begin().await.map_err(store_error)?;
    match import.status() {
        ImportStatus::Done | ImportStatus::Failed => return Ok(()),
        // Stores are written only with the import's end: nothing to remove.
        ImportStatus::Undoing => {}
        ImportStatus::Queued | ImportStatus::Running => {
            let csv = pond_store::import::payload(&app.db, import.corp_id, import.id).await.map_err(store_error)?;
            let active = active_staff(app, import.corp_id).await.map_err(job_error)?;
            match parse_csv(&csv, &|u| active.contains(u)) {
                Ok(stores) => {
                    let n = pond_store::store_location::upsert_all_in(&mut tx, import.corp_id, &stores)
                        .await
                        .map_err(store_error)?;
                    if imports::finish_done(&mut tx, import, &format!("stores: {n} stores")).await.map_err(job_error)? {
                        tx.commit().await.map_err(store_error)?;
                        app.store_indexes.invalidate(import.corp_id);
                    }
                    return Ok(());
                }
                Err(report) => {
                    let report = serde_json::to_string(&report).map_err(|e| JobError::Permanent(e.to_string()))?;
                    let why = pond_store::import::Failure { report: &report, ..Default::default() };
                    pond_store::import::begin_undo(&mut tx, import.id, &why).await.map_err(store_error)?;
                    let failed = Import { report, ..import.clone() };
                    if imports::finish_failed(&mut tx, &failed).await.map_err(job_error)? {
                        tx.commit().await.map_err(store_error)?;
                    }
                    return Ok(());
                }
            }
        }
    }
    if imports::finish_failed(&mut tx, import).await.map_err(job_error)? {
        tx.commit().await.map_err(store_error)?;
    }
    Ok(())
}

/// One store as edited in the console or the API.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StoreInput {
    pub name: String,
    #[serde(default)]
    pub address: String,
    pub city: String,
    /// GCJ-02 (as Amap / Tencent Maps give it).
    pub latitude: f64,
    pub longitude: f64,
    /// Userids of active employees, 1 to 100.
    pub staff: Vec<String>,
}

/// The problems with one store that an import line and the edit form share (name, city,
/// coordinates, active staff), or the store to write. How many employees a store may list is
/// checked by each caller, in its own words (a CSV separates them with `|`).
fn check_store(input: &StoreInput, active_staff: &dyn Fn(&str) -> bool) -> Result<NewStore, Vec<ValidationError>> {
    let mut problems = Vec::new();
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        problems.push(ValidationError::new("name", "must be 1 to 64 characters", "须为 1 到 64 个字符"));
    }
    if name.chars().any(pond_core::text::is_forbidden_in_name) {
        problems.push(ValidationError::new("name", "no line breaks or control characters", "不能包含换行或控制字符"));
    }
    let city = input.city.trim();
    if city.is_empty() || city.chars().count() > 32 {
        problems.push(ValidationError::new("city", "must be 1 to 32 characters", "须为 1 到 32 个字符"));
    }
    if city.chars().any(pond_core::text::is_forbidden_in_name) {
        problems.push(ValidationError::new("city", "no line breaks or control characters", "不能包含换行或控制字符"));
    }
    if let Err(e) = pond_core::ids::optional_text("address", &input.address, 128) {
        problems.push(e);
    }
    let at = LatLng::new(input.latitude, input.longitude).map_err(|e| problems.push(e)).ok();
    if let Some(unknown) = input.staff.iter().find(|u| !active_staff(u)) {
        problems.push(ValidationError::new(
            "staff",
            format!("unknown or resigned employee {unknown}"),
            format!("员工 {unknown} 不存在或已离职"),
        ));
    }
    match at {
        Some(at) if problems.is_empty() => Ok(NewStore {
            name: name.to_owned(),
            address: input.address.trim().to_owned(),
            city: city.to_owned(),
            latitude: at.lat,
            longitude: at.lng,
            staff_json: serde_json::to_string(&input.staff).unwrap_or_else(|_| "[]".into()),
        }),
        _ => Err(problems),
    }
}

/// Userids of the corp's active employees.
async fn active_staff(state: &App, corp_id: i64) -> Result<std::collections::BTreeSet<String>, AppError> {
    Ok(pond_store::staff::all(&state.db, corp_id)
        .await?
        .into_iter()
        .filter(|s| s.status == pond_core::StaffStatus::Active.as_str())
        .map(|s| s.userid)
        .collect())
}

/// Changes one store (checked as an import line is); audited with what changed.
pub async fn update_store(
    state: &App,
    actor: &Actor,
    corp_id: i64,
    id: i64,
    input: &StoreInput,
) -> Result<(), AppError> {
    let before = pond_store::store_location::get(&state.db, corp_id, id).await?;
    if input.staff.is_empty() || input.staff.len() > 100 {
        return Err(ValidationError::new("staff", "choose 1 to 100 employees", "请选择 1 到 100 名员工").into());
    }
    let active = active_staff(state, corp_id).await?;
    let store = match check_store(input, &|u| active.contains(u)) {
        Ok(store) => store,
        Err(problems) => {
            let first = problems.into_iter().next();
            return Err(first
                .map(AppError::from)
                .unwrap_or_else(|| AppError::Internal("store refused without a reason".into())));
        }
    };
    let mut tx = state.db.begin().await?;
    match pond_store::store_location::update_in(&mut tx, corp_id, id, &store).await {
        Ok(()) => {}
        Err(pond_store::StoreError::Conflict(_)) => {
            return Err(ValidationError::new("name", "another store has this name", "已有同名门店").into());
        }
        Err(e) => return Err(e.into()),
    }
    let mut changes = Vec::new();
    for (field, b, a) in [
        ("name", before.name.clone(), store.name.clone()),
        ("address", before.address.clone(), store.address.clone()),
        ("city", before.city.clone(), store.city.clone()),
        ("staff", before.staff.clone(), store.staff_json.clone()),
    ] {
        if b != a {
            changes.push(format!("{field}: {b:?} → {a:?}"));
        }
    }
    if (before.latitude, before.longitude) != (store.latitude, store.longitude) {
        changes.push(format!(
            "location: {},{} → {},{}",
            before.latitude, before.longitude, store.latitude, store.longitude
        ));
    }
    let detail = if changes.is_empty() { "no change".to_owned() } else { changes.join("; ") };
    audit::record(&mut tx, corp_id, actor, AuditAction::StoreUpdate, &format!("store:{id}"), &detail).await?;
    tx.commit().await?;
    state.store_indexes.invalidate(corp_id);
    Ok(())
}

/// Deletes a store (its scans and contact ways stay for the figures); audited.
pub async fn delete_store(state: &App, actor: &Actor, corp_id: i64, id: i64) -> Result<(), AppError> {
    let store = pond_store::store_location::get(&state.db, corp_id, id).await?;
    let mut tx = state.db.begin().await?;
    pond_store::store_location::delete_in(&mut tx, corp_id, id).await?;
    audit::record(&mut tx, corp_id, actor, AuditAction::StoreDelete, &format!("store:{id}"), &store.name).await?;
    tx.commit().await?;
    state.store_indexes.invalidate(corp_id);
    Ok(())
}

/// The URL printed in the regional code's QR.
pub fn regional_url(app: &App, corp_id: i64) -> String {
    format!("{}/r/{corp_id}", app.config.effective_public_url())
}

/// Browsers report WGS-84 (GPS); store coordinates are GCJ-02, the datum of every map app in
/// mainland China (Amap, Tencent Maps), which is what operators copy. Points outside mainland
/// China are the same in both.
fn browser_to_store_datum(lat: f64, lng: f64) -> Result<LatLng, ValidationError> {
    LatLng::new(lat, lng)?;
    let (lng, lat) = coordtransform::wgs84_to_gcj02(lng, lat);
    LatLng::new(lat, lng)
}

/// A store in the city picker: (id, name, address).
pub type StoreChoice = (i64, String, String);

/// What a customer asked the regional page for.
#[derive(Debug, Default, Clone)]
pub struct RegionalRequest {
    pub lat: Option<f64>,
    pub lng: Option<f64>,
    pub store: Option<i64>,
    /// The browser refused or failed to give a location.
    pub denied: bool,
    /// The city opened in the picker.
    pub city: Option<String>,
    /// A store searched for by name, address or city.
    pub search: Option<String>,
    /// The page of the picker's store list, from 1.
    pub page: u32,
}

/// Stores per page of the picker (a phone page; a chain can have tens of thousands).
pub const PICKER_PAGE: usize = 30;

/// The picker's content: the cities, or one city's (or a search's) stores, a page at a time.
#[derive(Debug, Clone, Default)]
pub struct Picker {
    /// Every city with its number of stores, in pinyin order (shown when no city is open).
    pub cities: Vec<(String, usize)>,
    /// The open city, if any.
    pub city: Option<String>,
    /// The search, if any.
    pub search: String,
    /// This page's stores.
    pub stores: Vec<StoreChoice>,
    pub page: u32,
    pub pages: u32,
}

impl Picker {
    fn build(stores: &[pond_store::store_location::Store], q: &RegionalRequest) -> Self {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for s in stores {
            *counts.entry(s.city.clone()).or_default() += 1;
        }
        // Cities in pinyin order (上海 after 北京 and 杭州), as Chinese city pickers list them.
        let mut cities: Vec<(String, usize)> = counts.into_iter().collect();
        cities.sort_by_cached_key(|(city, _)| {
            crate::pickers::pinyin_keys(city).split(' ').nth(1).unwrap_or("").to_owned()
        });
        let search = q.search.as_deref().map(str::trim).unwrap_or("").to_lowercase();
        let city = q
            .city
            .clone()
            .filter(|c| cities.iter().any(|(name, _)| name == c))
            .or_else(|| (cities.len() == 1 && search.is_empty()).then(|| cities[0].0.clone()));
        let matching: Vec<StoreChoice> = if !search.is_empty() {
            stores
                .iter()
                .filter(|s| {
                    s.name.to_lowercase().contains(&search)
                        || s.address.to_lowercase().contains(&search)
                        || s.city.to_lowercase().contains(&search)
                })
                .map(|s| (s.id, s.name.clone(), s.address.clone()))
                .collect()
        } else if let Some(city) = &city {
            stores.iter().filter(|s| &s.city == city).map(|s| (s.id, s.name.clone(), s.address.clone())).collect()
        } else {
            Vec::new()
        };
        let pages = u32::try_from(matching.len().div_ceil(PICKER_PAGE)).unwrap_or(u32::MAX).max(1);
        let page = q.page.clamp(1, pages);
        let from = (page as usize - 1) * PICKER_PAGE;
        let stores = matching.into_iter().skip(from).take(PICKER_PAGE).collect();
        Picker { cities, city, search: q.search.clone().unwrap_or_default(), stores, page, pages }
    }
}

/// What the regional page shows.
#[derive(Debug, Clone)]
pub enum RegionalView {
    /// The code is unknown (no stores).
    Gone,
    /// The city → store picker, with a message; `ask_location` asks the browser first.
    Picker { picker: Picker, message: &'static str, ask_location: bool, unavailable: bool },
    /// This client opened the phone pages too often; the next hit is allowed in this many seconds.
    Limited { retry_after_secs: u64 },
    /// The chosen store's employee and their QR.
    Store { store_name: String, staff_name: String, qr_code: String, message: String },
}

/// Decides the regional page for a scan from `client`: the nearest store (within the configured
/// distance), the store picked, or the picker; counts the scan and hands out the contact way of
/// a store employee who can serve. Each hit spends one of the client's budget first.
pub async fn regional_page(
    app: &App,
    corp_id: i64,
    q: RegionalRequest,
    client: Option<std::net::IpAddr>,
) -> Result<RegionalView, AppError> {
    if let Err(retry_after_secs) = app.h5_budget.spend(client, app.clock.now_ms()) {
        return Ok(RegionalView::Limited { retry_after_secs });
    }
    let stores = pond_store::store_location::list(&app.db, corp_id).await?;
    if stores.is_empty() {
        return Ok(RegionalView::Gone);
    }
    let picker = |message: &'static str, ask_location: bool, unavailable: bool| {
        Ok(RegionalView::Picker { picker: Picker::build(&stores, &q), message, ask_location, unavailable })
    };
    if q.city.is_some() || q.search.as_deref().is_some_and(|s| !s.trim().is_empty()) {
        return picker("请选择门店。", false, false);
    }
    let chosen: Option<(i64, bool, Option<i64>)> = match (q.store, q.lat, q.lng) {
        (Some(id), _, _) => stores.iter().any(|s| s.id == id).then_some((id, false, None)),
        (None, Some(lat), Some(lng)) => match browser_to_store_datum(lat, lng) {
            Err(_) => None,
            Ok(at) => match app.store_indexes.nearest(&app.db, corp_id, at).await {
                Ok(Some((id, d))) if d <= app.config.regional.max_distance_km * 1000.0 => {
                    Some((id, true, Some(d as i64)))
                }
                Ok(Some(_)) => return picker("附近没有门店，请选择城市和门店。", false, false),
                _ => None,
            },
        },
        _ if q.denied => return picker("无法获取位置，请选择城市和门店。", false, false),
        _ => return picker("正在获取您的位置，为您匹配最近的门店…", true, false),
    };
    let Some((store_id, located, distance)) = chosen else {
        return picker("请选择城市和门店。", false, false);
    };
    match serve_store(app, corp_id, store_id, located, distance).await {
        Ok(view) => Ok(view),
        Err(e) => {
            tracing::warn!(corp_id, store_id, error = %e, "regional page could not serve the store");
            picker("门店暂时无人接待，请选择其他门店或稍后再试。", false, true)
        }
    }
}

async fn serve_store(
    app: &App,
    corp_id: i64,
    store_id: i64,
    located: bool,
    distance: Option<i64>,
) -> Result<RegionalView, AppError> {
    let store = pond_store::store_location::get(&app.db, corp_id, store_id).await?;
    let staff: Vec<String> = crate::json_column("stores.staff", store.id, &store.staff)?;
    let served = match routing::route_store_scan(app, &store, &staff, app.clock.now_ms()).await? {
        Route::Served(served) => served,
        Route::NobodyFree => return Err(AppError::Conflict("nobody at the store can serve now".into())),
        Route::Busy => return Err(AppError::Conflict("WeCom made no contact way for the store now".into())),
    };
    pond_store::store_location::record_scan(&app.db, corp_id, store_id, &served.userid, located, distance).await?;
    let message = match distance {
        Some(d) if d >= 1000 => format!("距您约 {:.1} 公里 · {}", d as f64 / 1000.0, store.address),
        Some(d) => format!("距您约 {d} 米 · {}", store.address),
        None => store.address.clone(),
    };
    Ok(RegionalView::Store { store_name: store.name, staff_name: served.staff_name, qr_code: served.qr_code, message })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_positions_are_converted_to_the_map_apps_datum() {
        // Beijing railway station: WGS-84 (39.90105, 116.42079) is GCJ-02 (39.90245, 116.42703).
        let p = browser_to_store_datum(39.90105, 116.42079).unwrap();
        assert!((p.lat - 39.90245).abs() < 0.0002 && (p.lng - 116.42703).abs() < 0.0002, "{p:?}");
        // Outside mainland China nothing moves.
        let tokyo = browser_to_store_datum(35.6812, 139.7671).unwrap();
        assert_eq!((tokyo.lat, tokyo.lng), (35.6812, 139.7671));
    }

    #[test]
    fn csv_reports_every_bad_line_and_returns_nothing() {
        let csv = "name,address,city,latitude,longitude,staff\n\
                   静安店,南京西路1号,上海,31.2286,121.4547,s001e01|s001e02\n\
                   ,无名,上海,31.2,121.4,s001e01\n\
                   徐汇店,漕溪北路,上海,95,121.4,s001e01\n\
                   静安店,重复,上海,31.2,121.4,s001e01\n\
                   朝阳店,建国路,北京,39.9,116.4,ghost\n\
                   海淀店,中关村,北京,39.98,abc,s001e01\n";
        let known = |u: &str| u.starts_with("s00");
        let report = parse_csv(csv, &known).unwrap_err();
        let lines: Vec<(usize, &str)> = report.iter().map(|e| (e.line, e.field.as_str())).collect();
        assert_eq!(lines, vec![(3, "name"), (4, "latitude"), (5, "name"), (6, "staff"), (7, "longitude")]);
        let good =
            "name,address,city,latitude,longitude,staff\n静安店,南京西路1号,上海,31.2286,121.4547,s001e01|s001e02\n";
        let stores = parse_csv(good, &known).unwrap();
        assert_eq!(stores[0].staff_json, "[\"s001e01\",\"s001e02\"]");
        assert_eq!(parse_csv("a,b\n", &known).unwrap_err()[0].field, "header");
    }
}
