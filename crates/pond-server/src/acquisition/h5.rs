//! The customer-facing H5 pages of acquisition: a landing code's page (`/c/{corp}/{code}`) and
//! the regional store code's page (`/r/{corp}`). Mobile-first; they show no internal names.

use askama::Template;
use axum::{
    Router,
    extract::{Path, Query, State},
    http::StatusCode,
    response::Response,
    routing::get,
};
use pond_app::{
    App,
    acquisition::{
        landing::{LandingView, landing_page},
        regional::{RegionalRequest, RegionalView, StoreChoice, regional_page},
    },
};
use serde::Deserialize;

use crate::{assets, console::render_with};

impl LandingPage {
    fn asset(&self, name: &str) -> String {
        assets::url(name)
    }
}

impl RegionalPage {
    fn asset(&self, name: &str) -> String {
        assets::url(name)
    }
}

/// This feature's public pages.
pub fn routes() -> Router<App> {
    Router::new().route("/c/{corp_id}/{code_id}", get(landing)).route("/r/{corp_id}", get(regional))
}

#[derive(Template)]
#[template(path = "acquisition/landing.html")]
struct LandingPage {
    title: String,
    brand: String,
    staff_name: Option<String>,
    qr_code: String,
    message: String,
}

/// GET /c/{corp_id}/{code_id}
async fn landing(State(app): State<App>, Path((corp_id, code_id)): Path<(i64, i64)>) -> Response {
    let (status, title, staff_name, qr_code, message) = match landing_page(&app, corp_id, code_id).await {
        LandingView::Gone => (
            StatusCode::NOT_FOUND,
            "二维码已失效".into(),
            None,
            String::new(),
            "这个二维码已失效，请联系门店工作人员。",
        ),
        LandingView::NobodyFree { title } => {
            (StatusCode::SERVICE_UNAVAILABLE, title, None, String::new(), "现在暂时无人接待，请稍后再扫。")
        }
        LandingView::Busy { title } => {
            (StatusCode::SERVICE_UNAVAILABLE, title, None, String::new(), "系统繁忙，请稍后再试。")
        }
        LandingView::Staff { title, staff_name, qr_code } => {
            (StatusCode::OK, title, Some(staff_name), qr_code, "长按识别二维码，添加专属顾问")
        }
    };
    render_with(status, &LandingPage { brand: String::new(), title, staff_name, qr_code, message: message.to_owned() })
}

#[derive(Template)]
#[template(path = "acquisition/regional.html")]
struct RegionalPage {
    corp_id: i64,
    brand: String,
    message: String,
    /// city → its stores
    cities: Vec<(String, Vec<StoreChoice>)>,
    ask_location: bool,
    store_name: Option<String>,
    staff_name: String,
    qr_code: String,
}

#[derive(Debug, Deserialize)]
struct RegionalQuery {
    lat: Option<f64>,
    lng: Option<f64>,
    store: Option<i64>,
    /// Set by the page when the browser refused or failed to give a location.
    denied: Option<u8>,
}

/// GET /r/{corp_id}: the regional landing page.
async fn regional(State(app): State<App>, Path(corp_id): Path<i64>, Query(q): Query<RegionalQuery>) -> Response {
    let request = RegionalRequest { lat: q.lat, lng: q.lng, store: q.store, denied: q.denied.is_some() };
    let view = regional_page(&app, corp_id, request).await.unwrap_or_else(|e| {
        tracing::error!(corp_id, error = %e, cause = e.cause(), "regional page failed");
        RegionalView::Gone
    });
    let page = RegionalPage {
        corp_id,
        brand: String::new(),
        message: String::new(),
        cities: Vec::new(),
        ask_location: false,
        store_name: None,
        staff_name: String::new(),
        qr_code: String::new(),
    };
    let (status, page) = match view {
        RegionalView::Gone => {
            (StatusCode::NOT_FOUND, RegionalPage { message: "这个二维码已失效，请联系门店工作人员。".into(), ..page })
        }
        RegionalView::Picker { cities, message, ask_location, unavailable } => {
            let status = if unavailable { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
            (status, RegionalPage { message: message.into(), cities, ask_location, ..page })
        }
        RegionalView::Store { store_name, staff_name, qr_code, message } => {
            (StatusCode::OK, RegionalPage { message, store_name: Some(store_name), staff_name, qr_code, ..page })
        }
    };
    render_with(status, &page)
}
