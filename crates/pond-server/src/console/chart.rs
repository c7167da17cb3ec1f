//! Charts drawn on the server as SVG: no script, no library, nothing inline that a CSP forbids
//! (colours come from classes in the stylesheet). A line chart has a y axis with round ticks, a
//! labelled x axis, a legend and a tooltip per day (an SVG `<title>`, which browsers show on hover
//! and screen readers read).

use std::fmt::Write;

/// One line: its name (for the legend and tooltips) and one value per label.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub values: Vec<i64>,
}

/// A line chart over labelled points (usually days).
#[derive(Debug, Clone, Default)]
pub struct LineChart {
    pub labels: Vec<String>,
    pub series: Vec<Series>,
}

const W: f64 = 800.0;
const H: f64 = 240.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The smallest "round" number (1, 2 or 5 × 10ⁿ) times 4 ticks that covers `max` (at least 4).
pub fn nice_max(max: i64) -> (i64, i64) {
    let max = max.max(4);
    let raw = (max as f64 / 4.0).ceil();
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(10.0 * mag);
    let step = step as i64;
    (step * 4, step)
}

impl LineChart {
    /// The chart as an `<svg>` element; `title` is its accessible name.
    pub fn svg(&self, title: &str) -> String {
        let n = self.labels.len();
        let max = self.series.iter().flat_map(|s| s.values.iter().copied()).max().unwrap_or(0);
        let min = self.series.iter().flat_map(|s| s.values.iter().copied()).min().unwrap_or(0).min(0);
        let (top, step) = nice_max(max);
        // Negative values (net adds) get as many ticks below zero as they need.
        let bottom = if min < 0 { -((-min + step - 1) / step) * step } else { 0 };
        let span = (top - bottom).max(1) as f64;
        let plot_w = W - LEFT - RIGHT;
        let plot_h = H - TOP - BOTTOM;
        let x = |i: usize| if n <= 1 { LEFT + plot_w / 2.0 } else { LEFT + plot_w * i as f64 / (n - 1) as f64 };
        let y = |v: i64| TOP + plot_h * (top - v) as f64 / span;
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{}" preserveAspectRatio="xMidYMid meet">"#,
            esc(title)
        );
        let _ = write!(s, "<title>{}</title>", esc(title));
        let mut tick = bottom;
        while tick <= top {
            let ty = y(tick);
            let _ = write!(
                s,
                r#"<line class="grid-line" x1="{LEFT}" x2="{}" y1="{ty:.1}" y2="{ty:.1}"/><text x="{}" y="{:.1}" text-anchor="end">{tick}</text>"#,
                W - RIGHT,
                LEFT - 6.0,
                ty + 4.0
            );
            tick += step;
        }
        let _ = write!(s, r#"<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{}"/>"#, TOP + plot_h);
        let _ = write!(s, r#"<line class="axis" x1="{LEFT}" x2="{}" y1="{:.1}" y2="{:.1}"/>"#, W - RIGHT, y(0), y(0));
        let every = n.div_ceil(8).max(1);
        for (i, label) in self.labels.iter().enumerate() {
            // Every `every`-th label, and the last one unless it would touch the one before.
            if i % every == 0 || (i + 1 == n && (n - 1) % every > every / 2) {
                let _ =
                    write!(s, r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#, x(i), H - 8.0, esc(label));
            }
        }
        for (k, series) in self.series.iter().enumerate() {
            let class = format!("s{}", k % 5 + 1);
            let points: Vec<String> =
                series.values.iter().enumerate().map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v))).collect();
            let _ = write!(s, r#"<polyline class="{class}" points="{}"/>"#, points.join(" "));
            for (i, v) in series.values.iter().enumerate() {
                let _ = write!(s, r#"<circle class="{class}" cx="{:.1}" cy="{:.1}" r="2.5"/>"#, x(i), y(*v));
            }
        }
        // One hover band per label, its tooltip listing every series.
        let band = if n <= 1 { plot_w } else { plot_w / (n - 1) as f64 };
        for (i, label) in self.labels.iter().enumerate() {
            let mut tip = esc(label);
            for series in &self.series {
                let _ = write!(tip, "\n{}: {}", esc(&series.name), series.values.get(i).copied().unwrap_or(0));
            }
            let _ = write!(
                s,
                r#"<rect class="hit" x="{:.1}" y="{TOP}" width="{band:.1}" height="{plot_h}"><title>{tip}</title></rect>"#,
                (x(i) - band / 2.0).max(0.0)
            );
        }
        s.push_str("</svg>");
        s
    }

    /// The legend, as HTML.
    pub fn legend(&self) -> String {
        let mut s = String::from(r#"<div class="legend">"#);
        for (k, series) in self.series.iter().enumerate() {
            let total: i64 = series.values.iter().sum();
            let _ = write!(s, r#"<span><i class="s{}"></i>{} <b>{total}</b></span>"#, k % 5 + 1, esc(&series.name));
        }
        s.push_str("</div>");
        s
    }

    /// Legend and chart together.
    pub fn html(&self, title: &str) -> String {
        format!("{}<div class=\"chart-wrap\">{}</div>", self.legend(), self.svg(title))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_maximum() {
        assert_eq!(nice_max(0), (4, 1));
        assert_eq!(nice_max(7), (8, 2));
        assert_eq!(nice_max(37), (40, 10));
        assert_eq!(nice_max(101), (200, 50));
    }

    #[test]
    fn names_are_escaped_and_every_day_has_a_tooltip() {
        let chart = LineChart {
            labels: vec!["11-01".into(), "11-02".into(), "11-03".into()],
            series: vec![Series { name: "<script>".into(), values: vec![1, -2, 3] }],
        };
        let svg = chart.html("趋势");
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;"));
        assert_eq!(svg.matches("<rect class=\"hit\"").count(), 3);
        assert!(svg.contains(">-2<") || svg.contains(">-1<"), "a tick below zero for negative values: {svg}");
    }
}
