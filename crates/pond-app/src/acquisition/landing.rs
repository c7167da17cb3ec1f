//! The landing page of a landing-mode channel code: picks the employee by the code's strategy,
//! counts the scan, and gives that employee's own contact QR (a single-person contact way
//! carrying the code's `state`, see [`super::contact_ways`]).

use pond_core::acquisition::CodeMode;

use crate::{
    App,
    acquisition::{
        contact_ways::{self, WayOwner},
        routing,
    },
};

/// What the landing page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LandingView {
    /// No such landing code (deleted, or never one).
    Gone,
    /// Nobody can serve now (caps reached, outside every schedule).
    NobodyFree { title: String },
    /// WeCom or the database failed; try again.
    Busy { title: String },
    /// The employee chosen and their QR.
    Staff { title: String, staff_name: String, qr_code: String },
}

/// Serves one scan of `/c/{corp}/{code}`.
pub async fn landing_page(app: &App, corp_id: i64, code_id: i64) -> LandingView {
    let code = match pond_store::channel_code::get(&app.db, corp_id, code_id).await {
        Ok(c) if CodeMode::parse(&c.mode) == Ok(CodeMode::Landing) => c,
        _ => return LandingView::Gone,
    };
    // Customers read the corp's name, never the internal code name ("抖音投放-测试A组").
    let title = match app.corps.get(&app.db, corp_id).await {
        Ok(corp) => corp.name.clone(),
        Err(_) => String::new(),
    };
    let now = pond_store::now_ms();
    let userid = match routing::route_scan(app, &code, now).await {
        Ok(Some(u)) => u,
        Ok(None) => return LandingView::NobodyFree { title },
        Err(e) => {
            tracing::error!(code_id, error = %e, cause = e.cause(), "landing page could not route");
            return LandingView::Busy { title };
        }
    };
    let qr_code = match contact_ways::staff_qr(app, WayOwner::ChannelCode(&code), &userid).await {
        Ok(qr) => qr,
        Err(e) => {
            tracing::warn!(code_id, userid, error = %e, cause = e.cause(), "no contact way for the employee");
            return LandingView::Busy { title };
        }
    };
    if let Err(e) = pond_store::channel_code::record_scan(&app.db, corp_id, code.id, &userid).await {
        tracing::warn!(code_id, error = %e, "scan not counted");
    }
    let staff_name = staff_name(app, corp_id, userid).await;
    LandingView::Staff { title, staff_name, qr_code }
}

/// An employee's name, or their userid when unknown.
pub async fn staff_name(app: &App, corp_id: i64, userid: String) -> String {
    pond_store::staff::get(&app.db, corp_id, &userid).await.map(|s| s.name).unwrap_or(userid)
}
