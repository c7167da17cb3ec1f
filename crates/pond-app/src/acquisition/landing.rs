//! The landing page of a landing-mode channel code: picks the employee by the code's strategy
//! (only employees who can serve; the backup when no one else can), counts the scan, and gives
//! that employee's own contact QR (a single-person contact way carrying the code's `state`, see
//! [`super::contact_ways`]). Each client address has a budget of hits
//! (`security.h5_hits_per_minute`), spent before anything is read.

use std::net::IpAddr;

use pond_core::acquisition::CodeMode;

use crate::{
    App,
    acquisition::routing::{self, Route},
};

/// What the landing page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LandingView {
    /// No such landing code (deleted, or never one).
    Gone,
    /// Nobody can serve now (caps reached, outside every schedule, resigned).
    NobodyFree { title: String },
    /// WeCom or the database failed; try again.
    Busy { title: String },
    /// This client opened the phone pages too often; the next hit is allowed in this many seconds.
    Limited { retry_after_secs: u64 },
    /// The employee chosen and their QR.
    Staff { title: String, staff_name: String, qr_code: String },
}

/// Serves one scan of `/c/{corp}/{code}` from `client`.
pub async fn landing_page(app: &App, corp_id: i64, code_id: i64, client: Option<IpAddr>) -> LandingView {
    let now = app.clock.now_ms();
    if let Err(retry_after_secs) = app.h5_budget.spend(client, now) {
        return LandingView::Limited { retry_after_secs };
    }
    let code = match pond_store::channel_code::get(&app.db, corp_id, code_id).await {
        Ok(c) if CodeMode::parse(&c.mode) == Ok(CodeMode::Landing) => c,
        _ => return LandingView::Gone,
    };
    // Customers read the corp's name, never the internal code name ("抖音投放-测试A组").
    let title = match app.corps.get(&app.db, corp_id).await {
        Ok(corp) => corp.name.clone(),
        Err(_) => String::new(),
    };
    let served = match routing::route_scan(app, &code, now).await {
        Ok(Route::Served(served)) => served,
        Ok(Route::NobodyFree) => return LandingView::NobodyFree { title },
        Ok(Route::Busy) => return LandingView::Busy { title },
        Err(e) => {
            tracing::error!(code_id, error = %e, cause = e.cause(), "landing page could not route");
            return LandingView::Busy { title };
        }
    };
    if let Err(e) = pond_store::channel_code::record_scan(&app.db, corp_id, code.id, &served.userid).await {
        tracing::warn!(code_id, error = %e, "scan not counted");
    }
    LandingView::Staff { title, staff_name: served.staff_name, qr_code: served.qr_code }
}
