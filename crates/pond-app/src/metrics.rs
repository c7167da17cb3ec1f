//! Prometheus metrics in text format: request counts by route and status, job runs and failures.
//! Queue depth is read from the database at scrape time, so every instance reports the shared queue.

use std::{
    collections::BTreeMap,
    fmt::Write,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

/// Counters kept in memory by this instance.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    pub job_runs: AtomicU64,
    pub job_failures: AtomicU64,
    pub job_retries: AtomicU64,
    pub callbacks_accepted: AtomicU64,
    pub callbacks_duplicate: AtomicU64,
    pub callbacks_rejected: AtomicU64,
    /// Event applications that failed for now and were scheduled again (WeCom errors, database).
    pub inbox_retries: AtomicU64,
    /// Events given up after their last attempt.
    pub inbox_failures: AtomicU64,
    /// Events and jobs a restarted instance took back from its earlier life.
    pub reclaimed: AtomicU64,
}

/// Figures read at scrape time rather than counted here.
#[derive(Debug, Default)]
pub struct Gauges {
    /// (status, count) of jobs.
    pub jobs: Vec<(String, i64)>,
    /// (status, count) of inbox events.
    pub inbox: Vec<(String, i64)>,
    pub wecom: crate::wecom_link::ClientTotals,
}

impl Metrics {
    pub fn record_request(&self, method: &str, route: &str, status: u16) {
        if let Ok(mut map) = self.requests.lock() {
            *map.entry((method.to_owned(), route.to_owned(), status)).or_default() += 1;
        }
    }

    /// Renders all metrics with the gauges read from the database and clients.
    pub fn render(&self, gauges: &Gauges) -> String {
        let queue = &gauges.jobs;
        let mut out = String::new();
        out.push_str("# HELP pond_http_requests_total HTTP requests by method, route and status.\n");
        out.push_str("# TYPE pond_http_requests_total counter\n");
        if let Ok(map) = self.requests.lock() {
            for ((method, route, status), n) in map.iter() {
                let _ = writeln!(
                    out,
                    "pond_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}",
                    escape(route)
                );
            }
        }
        out.push_str("# HELP pond_jobs Jobs in the queue by status (shared by all instances).\n");
        out.push_str("# TYPE pond_jobs gauge\n");
        for status in pond_core::JobStatus::ALL {
            let n = queue.iter().find(|(s, _)| s == status.as_str()).map_or(0, |(_, n)| *n);
            let _ = writeln!(out, "pond_jobs{{status=\"{}\"}} {n}", status.as_str());
        }
        out.push_str(
            "# HELP pond_inbox_events Callback events in the inbox by status.\n# TYPE pond_inbox_events gauge\n",
        );
        for (status, n) in &gauges.inbox {
            let _ = writeln!(out, "pond_inbox_events{{status=\"{}\"}} {n}", escape(status));
        }
        let load = |v: &AtomicU64| v.load(Ordering::Relaxed);
        for (name, help, value) in [
            ("pond_job_runs_total", "Job attempts run by this instance.", load(&self.job_runs)),
            ("pond_job_failures_total", "Jobs this instance marked failed for good.", load(&self.job_failures)),
            ("pond_job_retries_total", "Job attempts this instance scheduled for retry.", load(&self.job_retries)),
            ("pond_callbacks_accepted_total", "WeCom callbacks stored in the inbox.", load(&self.callbacks_accepted)),
            (
                "pond_callbacks_duplicate_total",
                "WeCom callbacks already in the inbox (retries).",
                load(&self.callbacks_duplicate),
            ),
            (
                "pond_callbacks_rejected_total",
                "WeCom callbacks refused (signature, replay, malformed).",
                load(&self.callbacks_rejected),
            ),
            (
                "pond_inbox_retries_total",
                "Event applications this instance scheduled again after an error.",
                load(&self.inbox_retries),
            ),
            ("pond_inbox_failures_total", "Events this instance gave up on.", load(&self.inbox_failures)),
            (
                "pond_reclaimed_total",
                "Events and jobs taken back at start from this instance's earlier run.",
                load(&self.reclaimed),
            ),
            ("pond_wecom_calls_total", "WeCom API calls made by this instance.", gauges.wecom.calls),
            ("pond_wecom_retries_total", "WeCom API calls retried (busy, rate limit, network).", gauges.wecom.retries),
            ("pond_wecom_token_refreshes_total", "access_token fetches.", gauges.wecom.token_refreshes),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}");
        }
        out
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_queue() {
        let m = Metrics::default();
        m.record_request("GET", "/api/v1/staff", 200);
        m.record_request("GET", "/api/v1/staff", 200);
        m.job_failures.fetch_add(3, Ordering::Relaxed);
        let text = m.render(&Gauges { jobs: vec![("pending".into(), 7)], ..Default::default() });
        assert!(text.contains("pond_http_requests_total{method=\"GET\",route=\"/api/v1/staff\",status=\"200\"} 2"));
        assert!(text.contains("pond_jobs{status=\"pending\"} 7"));
        assert!(text.contains("pond_jobs{status=\"failed\"} 0"));
        assert!(text.contains("pond_job_failures_total 3"));
    }
}
