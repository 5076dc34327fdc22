//! Prometheus metrics: counters kept in atomics, rendered as text exposition format 0.0.4.
//!
//! [`Metrics::record`] folds one finished request in; [`Metrics::render`] writes the page
//! served at `GET /metrics`. No registry, no labels beyond the histogram's `le`; nothing here
//! reads a clock (durations are passed in).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::cache::status::Outcome;

/// The path answered by the shield itself.
pub const PATH: &str = "/metrics";

/// Content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds of the upstream-duration histogram buckets, in seconds.
const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// The shield's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    hits: AtomicU64,
    misses: AtomicU64,
    stale_served: AtomicU64,
    revalidated: AtomicU64,
    bypassed: AtomicU64,
    coalesced_waits: AtomicU64,
    purged: AtomicU64,
    invalidated: AtomicU64,
    upstream_buckets: [AtomicU64; BUCKETS.len()],
    upstream_count: AtomicU64,
    upstream_sum_micros: AtomicU64,
}

/// Gauges read at render time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Gauges {
    /// Bytes held by the cache.
    pub cache_bytes: usize,
    /// Entries held by the cache.
    pub cache_entries: usize,
}

fn inc(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Metrics {
    /// Counts one finished request: its outcome and whether it waited behind the cache lock.
    pub fn record(&self, outcome: Outcome, waited_on_lock: bool) {
        match outcome {
            Outcome::Hit => inc(&self.hits),
            Outcome::StaleWhileRevalidate | Outcome::StaleIfError => inc(&self.stale_served),
            Outcome::Miss | Outcome::Expired => inc(&self.misses),
            Outcome::Revalidated => inc(&self.revalidated),
            Outcome::Bypass => inc(&self.bypassed),
        }
        if waited_on_lock {
            inc(&self.coalesced_waits);
        }
    }

    /// Observes the time from sending a request to the origin to its response header.
    pub fn observe_upstream(&self, took: Duration) {
        let secs = took.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|le| secs <= *le) {
            self.upstream_buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        inc(&self.upstream_count);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.upstream_sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Counts entries removed by the purge API.
    pub fn add_purged(&self, n: usize) {
        self.purged.fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Counts entries removed because an unsafe request succeeded (RFC 9111 §4.4).
    pub fn add_invalidated(&self, n: usize) {
        self.invalidated.fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// The exposition page.
    pub fn render(&self, gauges: Gauges) -> String {
        let mut out = String::with_capacity(4096);
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let counters = [
            ("shield_cache_hits_total", "Requests served fresh from the cache.", load(&self.hits)),
            (
                "shield_cache_misses_total",
                "Requests fetched from the origin (absent or expired).",
                load(&self.misses),
            ),
            (
                "shield_cache_stale_served_total",
                "Stale responses served (while revalidating or on origin error).",
                load(&self.stale_served),
            ),
            (
                "shield_cache_revalidated_total",
                "Stale entries validated by a 304 from the origin.",
                load(&self.revalidated),
            ),
            (
                "shield_cache_bypass_total",
                "Requests that did not use the cache (method, caching off).",
                load(&self.bypassed),
            ),
            (
                "shield_cache_coalesced_waits_total",
                "Requests that waited behind another fetching the same key.",
                load(&self.coalesced_waits),
            ),
            ("shield_purged_total", "Entries removed through the purge API.", load(&self.purged)),
            (
                "shield_invalidated_total",
                "Entries removed because an unsafe request to their URL succeeded.",
                load(&self.invalidated),
            ),
        ];
        for (name, help, value) in counters {
            let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n");
        }
        let gauges = [
            (
                "shield_cache_bytes",
                "Bytes held by the cache (bodies, headers, bookkeeping).",
                gauges.cache_bytes,
            ),
            ("shield_cache_entries", "Entries held by the cache.", gauges.cache_entries),
        ];
        for (name, help, value) in gauges {
            let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n");
        }
        self.render_histogram(&mut out);
        out
    }

    fn render_histogram(&self, out: &mut String) {
        let name = "shield_upstream_duration_seconds";
        let _ = write!(
            out,
            "# HELP {name} Time from sending a request to the origin to its response header.\n\
             # TYPE {name} histogram\n"
        );
        let mut cumulative = 0;
        for (le, bucket) in BUCKETS.iter().zip(&self.upstream_buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
        }
        let count = self.upstream_count.load(Ordering::Relaxed);
        let sum = self.upstream_sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = write!(out, "{name}_bucket{{le=\"+Inf\"}} {count}\n{name}_sum {sum}\n{name}_count {count}\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(page: &str, series: &str) -> String {
        let line = page.lines().find(|l| l.starts_with(&format!("{series} "))).expect(series);
        line.rsplit(' ').next().unwrap().to_owned()
    }

    #[test]
    fn counters_move_and_the_histogram_is_cumulative() {
        let m = Metrics::default();
        m.record(Outcome::Hit, true);
        m.record(Outcome::Miss, false);
        m.record(Outcome::StaleIfError, false);
        m.add_purged(3);
        m.add_invalidated(2);
        m.observe_upstream(Duration::from_millis(3));
        m.observe_upstream(Duration::from_millis(700));
        let page = m.render(Gauges { cache_bytes: 1234, cache_entries: 2 });

        let rows = [
            ("shield_cache_hits_total", "1"),
            ("shield_cache_misses_total", "1"),
            ("shield_cache_stale_served_total", "1"),
            ("shield_cache_coalesced_waits_total", "1"),
            ("shield_purged_total", "3"),
            ("shield_invalidated_total", "2"),
            ("shield_cache_bytes", "1234"),
            ("shield_upstream_duration_seconds_bucket{le=\"0.005\"}", "1"),
            ("shield_upstream_duration_seconds_bucket{le=\"0.5\"}", "1"),
            ("shield_upstream_duration_seconds_bucket{le=\"1\"}", "2"),
            ("shield_upstream_duration_seconds_bucket{le=\"+Inf\"}", "2"),
            ("shield_upstream_duration_seconds_count", "2"),
            ("shield_upstream_duration_seconds_sum", "0.703"),
        ];
        for (series, expected) in rows {
            assert_eq!(value(&page, series), expected, "{series}");
        }
    }
}
