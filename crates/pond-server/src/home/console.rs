//! The dashboard page and the design-system reference page.

use pond_app::dashboard::{self, Dashboard};
use pond_core::Role;

use crate::console::{
    chart::{LineChart, Series},
    prelude::*,
};

/// This feature's console pages.
pub fn pages(book: RouteBook) -> RouteBook {
    book.get("/console", Role::ReadOnly, dashboard_page).get(
        "/console/design",
        Role::ReadOnly,
        crate::console::design::page,
    )
}

#[derive(Template)]
#[template(path = "home/dashboard.html")]
struct DashboardPage {
    c: Chrome,
    d: Dashboard,
    chart: String,
    ranges: [i64; 3],
}

impl DashboardPage {
    fn rate(&self) -> String {
        self.d.welcome_rate().map(|r| format!("{r:.1}%")).unwrap_or_else(|| "—".to_owned())
    }
    fn windows(&self) -> Vec<(&'static str, dashboard::Flow)> {
        vec![
            ("dash.today", self.d.today),
            ("dash.yesterday", self.d.yesterday),
            ("dash.7d", self.d.last_7_days),
            ("dash.30d", self.d.last_30_days),
        ]
    }
    fn tops(&self) -> Vec<(&'static str, &[dashboard::TopChannel])> {
        vec![("dash.top_codes", &self.d.top_codes), ("dash.top_stores", &self.d.top_stores)]
    }
    fn signed(&self, n: i64) -> String {
        if n > 0 { format!("+{n}") } else { n.to_string() }
    }
}

#[derive(Debug, Deserialize, Default)]
pub struct DashboardQuery {
    days: Option<i64>,
}

pub async fn dashboard_page(
    State(state): State<App>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Query(q): Query<DashboardQuery>,
) -> PageResult {
    let c = chrome(&user, &headers, "/console", None);
    let d = dashboard::dashboard(&state, user.corp_id, q.days, pond_store::now_ms()).await.or_page(c.lang)?;
    let chart = LineChart {
        labels: d.trend.iter().map(|day| day.label.clone()).collect(),
        series: vec![
            Series { name: c.t("dash.new").into(), values: d.trend.iter().map(|day| day.flow.new).collect() },
            Series { name: c.t("dash.lost").into(), values: d.trend.iter().map(|day| day.flow.lost).collect() },
            Series { name: c.t("dash.net").into(), values: d.trend.iter().map(|day| day.flow.net()).collect() },
        ],
    }
    .html(c.t("dash.trend"));
    Ok(render(&DashboardPage { c, d, chart, ranges: dashboard::RANGES }))
}
