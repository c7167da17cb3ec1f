//! The console's design system, shown on one page (`/console/design`): every component with its
//! markup conventions, rendered from the same templates, stylesheet and script as real pages.
//!
//! Conventions (see also `templates/ui.html` and `assets/pond.css`):
//! - layout: `base.html` (grouped navigation from `FeatureRoutes.nav`, off-canvas under 900 px);
//! - page header: `.page-head` with `<h1>`, `.actions` (one `.btn.primary`) and `.sub`;
//! - data table: `.filters` form (GET) → `.table-wrap` with `.table-tools` (count, export of the
//!   filtered set as CSV) → `<table>` with sort links in `<th>` and `td.row-actions` → pager;
//! - form: `.form` of `.field`s, each with its inline `.field-error` (`ui::field_error`);
//! - pickers: `ui::picker`, a `<select>` that works without JavaScript;
//! - destructive actions: `<form data-confirm="what stops working">`, and the handler asks again
//!   (`ConfirmPage`) when `confirmed=yes` is missing, so it holds without JavaScript too;
//! - feedback: redirect with `?saved=…` → `Chrome.flash` → toast; failures stay on the form;
//! - KPI tile `.kpi`, charts from `console::chart` (SVG with axes, legend, tooltips).

use std::collections::HashMap;

use pond_app::pickers::{self, PickerOption};

use super::{
    chart::{LineChart, Series},
    prelude::*,
};

#[derive(Template)]
#[template(path = "design.html")]
struct DesignPage {
    c: Chrome,
    staff: Vec<PickerOption>,
    tags: Vec<PickerOption>,
    departments: Vec<PickerOption>,
    groups: Vec<PickerOption>,
    chosen: Vec<String>,
    errors: HashMap<&'static str, String>,
    chart: String,
    rows: Vec<(String, String, i64)>,
}

/// GET /console/design
pub async fn page(State(state): State<App>, Extension(user): Extension<CurrentUser>, headers: HeaderMap) -> PageResult {
    let mut c = chrome(&user, &headers, "/console/design", Some("common.saved"));
    c.failure = Some(c.t("design.toast_failure").to_owned());
    let staff = pickers::staff(&state, user.corp_id).await.or_page(c.lang)?;
    let tags = pickers::tags(&state, user.corp_id).await.or_page(c.lang)?;
    let departments = pickers::departments(&state, user.corp_id).await.or_page(c.lang)?;
    let groups = pickers::groups(&state, user.corp_id).await.or_page(c.lang)?;
    let chosen = staff.iter().take(2).map(|o| o.value.clone()).collect();
    let mut errors = HashMap::new();
    errors.insert("name", format!("{}：{}", super::i18n::field_label(c.lang, "name"), c.t("design.example_error")));
    let days: Vec<String> = (1..=14).map(|d| format!("11-{d:02}")).collect();
    let chart = LineChart {
        labels: days,
        series: vec![
            Series { name: c.t("dash.new").into(), values: vec![5, 8, 6, 12, 9, 14, 11, 7, 10, 13, 15, 9, 12, 16] },
            Series { name: c.t("dash.lost").into(), values: vec![1, 2, 1, 3, 2, 1, 4, 2, 1, 2, 3, 1, 2, 2] },
        ],
    }
    .html(c.t("design.chart"));
    let rows = vec![
        ("静安寺店海报".to_owned(), "rg-1".to_owned(), 120),
        ("抖音投放 A 组".to_owned(), "dy-a".to_owned(), 86),
        ("\"'><script>alert(1)</script>".to_owned(), "x".to_owned(), 3),
    ];
    Ok(render(&DesignPage { c, staff, tags, departments, groups, chosen, errors, chart, rows }))
}
