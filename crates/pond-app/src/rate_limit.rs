//! Per-client budgets for anonymous requests: a token bucket per client address (IPv6 per /64,
//! one subscriber's prefix), kept in memory on each instance. The phone pages spend one token
//! per hit, so one client cannot flood Pond with scans (each counted, each routed).

use std::{collections::HashMap, net::IpAddr, sync::Mutex};

/// How throttles name a client: the IPv4 address, or the IPv6 /64 (a subscriber's prefix; the
/// rest of the address is theirs to vary).
pub fn client_key(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// Clients remembered at most; past that, buckets that have refilled are forgotten, and if that
/// is not enough all are (a flood from this many addresses is not one client's).
const MAX_CLIENTS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at_ms: i64,
}

/// `per_minute` hits per client, in bursts of up to `per_minute`.
#[derive(Debug)]
pub struct ClientBudget {
    per_minute: u32,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl ClientBudget {
    pub fn new(per_minute: u32) -> Self {
        ClientBudget { per_minute: per_minute.max(1), buckets: Mutex::default() }
    }

    fn refill_per_ms(&self) -> f64 {
        f64::from(self.per_minute) / 60_000.0
    }

    /// Spends one hit of `client` at `now_ms`; `Err(seconds)` says when the next one is allowed.
    /// Clients whose address is unknown share one budget.
    pub fn spend(&self, client: Option<IpAddr>, now_ms: i64) -> Result<(), u64> {
        let key = client.map_or_else(|| "unknown".to_owned(), client_key);
        let (capacity, rate) = (f64::from(self.per_minute), self.refill_per_ms());
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_CLIENTS && !buckets.contains_key(&key) {
            buckets.retain(|_, b| b.tokens + (now_ms - b.at_ms).max(0) as f64 * rate < capacity);
            if buckets.len() >= MAX_CLIENTS {
                buckets.clear();
            }
        }
        let bucket = buckets.entry(key).or_insert(Bucket { tokens: capacity, at_ms: now_ms });
        let elapsed = (now_ms - bucket.at_ms).max(0) as f64;
        bucket.tokens = (bucket.tokens + elapsed * rate).min(capacity);
        bucket.at_ms = bucket.at_ms.max(now_ms);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err((((1.0 - bucket.tokens) / rate) / 1000.0).ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn a_burst_is_cut_at_the_budget_and_refills_with_time() {
        let budget = ClientBudget::new(30);
        let t0 = 1_000_000;
        let allowed = (0..50).filter(|_| budget.spend(ip("10.0.0.1"), t0).is_ok()).count();
        assert_eq!(allowed, 30);
        assert_eq!(budget.spend(ip("10.0.0.1"), t0), Err(2), "one hit every 2 s");
        assert!(budget.spend(ip("10.0.0.2"), t0).is_ok(), "other clients have their own budget");
        assert!(budget.spend(ip("10.0.0.1"), t0 + 2_000).is_ok());
        assert!(budget.spend(ip("10.0.0.1"), t0 + 2_000).is_err());
        let later = t0 + 60_000;
        assert_eq!((0..50).filter(|_| budget.spend(ip("10.0.0.1"), later).is_ok()).count(), 29, "refilled");
    }

    #[test]
    fn ipv6_clients_are_counted_per_64_and_mapped_ipv4_as_ipv4() {
        let budget = ClientBudget::new(2);
        assert!(budget.spend(ip("2001:db8:1:2::1"), 0).is_ok());
        assert!(budget.spend(ip("2001:db8:1:2:ffff::9"), 0).is_ok());
        assert!(budget.spend(ip("2001:db8:1:2::3"), 0).is_err(), "same /64");
        assert!(budget.spend(ip("2001:db8:1:3::1"), 0).is_ok(), "another /64");
        assert_eq!(client_key("::ffff:10.1.2.3".parse().unwrap()), "10.1.2.3");
        assert!(budget.spend(None, 0).is_ok() && budget.spend(None, 0).is_ok() && budget.spend(None, 0).is_err());
    }

    #[test]
    fn memory_is_bounded() {
        let budget = ClientBudget::new(5);
        for i in 0..(MAX_CLIENTS as u32 + 10) {
            let _ = budget.spend(Some(IpAddr::from(i.to_be_bytes())), 0);
        }
        assert!(budget.buckets.lock().unwrap().len() <= MAX_CLIENTS);
    }
}
