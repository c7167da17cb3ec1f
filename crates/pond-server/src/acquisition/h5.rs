//! The customer-facing H5 pages of acquisition: a landing code's page (`/c/{corp}/{code}`) and
//! the regional store code's page (`/r/{corp}`). Mobile-first; they show no internal names. A
//! client over its budget of hits gets a 429 page with `Retry-After`.

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
        regional::{Picker, RegionalRequest, RegionalView, regional_page},
    },
};
use serde::Deserialize;

use crate::{
    assets,
    console::{render_with, session::ClientAddress},
};

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

impl LimitedPage {
    fn asset(&self, name: &str) -> String {
        assets::url(name)
    }
}

/// The page for a client over its budget of phone-page hits (nothing about the corp is read).
#[derive(Template)]
#[template(path = "acquisition/limited.html")]
struct LimitedPage {
    retry_after_secs: u64,
}

/// 429 with `Retry-After`: this client opened the phone pages too often.
fn limited(retry_after_secs: u64) -> Response {
    let mut resp = render_with(StatusCode::TOO_MANY_REQUESTS, &LimitedPage { retry_after_secs });
    resp.headers_mut().insert(axum::http::header::RETRY_AFTER, retry_after_secs.into());
    resp
}

/// This feature's public pages.
pub fn routes() -> Router<App> {
    Router::new()
        .route("/c/{corp_id}/{code_id}", get(landing))
        .route("/r/{corp_id}", get(regional))
        .route("/h5/brand/{file}", get(brand_css))
}

/// The corp's brand on a phone page: its name, logo and colour.
#[derive(Debug, Clone, Default)]
struct Brand {
    name: String,
    logo_url: String,
    /// The stylesheet setting the colour (a file, so the page needs no inline style).
    css: String,
}

async fn brand_of(app: &App, corp_id: i64) -> Brand {
    match app.corps.get(&app.db, corp_id).await {
        Ok(corp) => Brand {
            name: corp.name.clone(),
            logo_url: corp.brand_logo_url.clone(),
            css: format!("/h5/brand/{corp_id}.css?c={}", corp.brand_color.trim_start_matches('#')),
        },
        Err(_) => Brand::default(),
    }
}

/// GET /h5/brand/{corp_id}.css: `:root{--brand:#rrggbb}` for the corp (validated when saved).
async fn brand_css(State(app): State<App>, Path(file): Path<String>) -> Response {
    use axum::{http::header, response::IntoResponse};
    let Some(corp_id) = file.strip_suffix(".css").and_then(|id| id.parse::<i64>().ok()) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let color = match app.corps.get(&app.db, corp_id).await {
        Ok(corp) if pond_app::corp::settings::is_brand_color(&corp.brand_color) => corp.brand_color.clone(),
        _ => "#14784a".to_owned(),
    };
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=300")],
        format!(":root{{--brand:{color}}}\n"),
    )
        .into_response()
}

#[derive(Template)]
#[template(path = "acquisition/landing.html")]
struct LandingPage {
    title: String,
    brand: Brand,
    staff_name: Option<String>,
    qr_code: String,
    message: String,
}

/// GET /c/{corp_id}/{code_id}
async fn landing(
    State(app): State<App>,
    ClientAddress(client): ClientAddress,
    Path((corp_id, code_id)): Path<(i64, i64)>,
) -> Response {
    let (status, title, staff_name, qr_code, message) = match landing_page(&app, corp_id, code_id, client).await {
        LandingView::Limited { retry_after_secs } => return limited(retry_after_secs),
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
    let brand = brand_of(&app, corp_id).await;
    render_with(status, &LandingPage { brand, title, staff_name, qr_code, message: message.to_owned() })
}

#[derive(Template)]
#[template(path = "acquisition/regional.html")]
struct RegionalPage {
    corp_id: i64,
    brand: Brand,
    message: String,
    /// The city → store picker.
    picker: Picker,
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
    city: Option<String>,
    q: Option<String>,
    page: Option<u32>,
}

/// GET /r/{corp_id}: the regional landing page.
async fn regional(
    State(app): State<App>,
    ClientAddress(client): ClientAddress,
    Path(corp_id): Path<i64>,
    Query(q): Query<RegionalQuery>,
) -> Response {
    let request = RegionalRequest {
        lat: q.lat,
        lng: q.lng,
        store: q.store,
        denied: q.denied.is_some(),
        city: q.city.filter(|c| !c.trim().is_empty()),
        search: q.q.map(|s| s.chars().take(32).collect()),
        page: q.page.unwrap_or(1),
    };
    let view = regional_page(&app, corp_id, request, client).await.unwrap_or_else(|e| {
        tracing::error!(corp_id, error = %e, cause = e.cause(), "regional page failed");
        RegionalView::Gone
    });
    let page = RegionalPage {
        corp_id,
        brand: brand_of(&app, corp_id).await,
        message: String::new(),
        picker: Picker::default(),
        ask_location: false,
        store_name: None,
        staff_name: String::new(),
        qr_code: String::new(),
    };
    let (status, page) = match view {
        RegionalView::Gone => {
            (StatusCode::NOT_FOUND, RegionalPage { message: "这个二维码已失效，请联系门店工作人员。".into(), ..page })
        }
        RegionalView::Picker { picker, message, ask_location, unavailable } => {
            let status = if unavailable { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
            (status, RegionalPage { message: message.into(), picker, ask_location, ..page })
        }
        RegionalView::Store { store_name, staff_name, qr_code, message } => {
            (StatusCode::OK, RegionalPage { message, store_name: Some(store_name), staff_name, qr_code, ..page })
        }
        RegionalView::Limited { retry_after_secs } => return limited(retry_after_secs),
    };
    render_with(status, &page)
}
