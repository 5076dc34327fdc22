//! The status page (`GET /__gateway/admin/status`, and `status.json`): what this instance
//! serves and sees, gathered from its own state.
//!
//! [`Traffic`] counts every answer of the instance by status class and by the gateway's own
//! `Cache-Status` member, and keeps the last minute of answers in six 10-second buckets for the
//! recent error rate (5xx answers / all answers). [`gather`] reads it together with the live
//! config version, each region's health verdict and breaker, and the rate limiter's counters;
//! [`html`] renders that as one self-contained page (inline CSS, no script, no external asset),
//! escaping every value it prints. It never reads KV beyond the live config's own refresh, and
//! it decides nothing: the numbers are this instance's (on Spin, one request's).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use http::{HeaderValue, StatusCode};
use serde::Serialize;

use crate::health::Reason;
use crate::health::breaker::BreakerState;
use crate::ports::{Clock, Ports, UnixMillis};
use crate::stages::edge_cache::CACHE_NAME;
use crate::stages::ratelimit::LimiterStats;

use super::Gateway;

/// Width of one error-rate bucket.
const BUCKET_MS: u64 = 10_000;
/// Buckets kept: the error rate covers the last `BUCKETS * BUCKET_MS`.
const BUCKETS: usize = 6;

/// This instance's answers, counted.
#[derive(Debug, Default)]
pub(super) struct Traffic(RefCell<Counts>);

#[derive(Debug, Default)]
struct Counts {
    total: u64,
    by_class: BTreeMap<&'static str, u64>,
    cache: BTreeMap<&'static str, u64>,
    /// `(bucket start, answers, 5xx answers)`.
    recent: [(UnixMillis, u64, u64); BUCKETS],
}

impl Traffic {
    /// Counts one answer with `status` and its `Cache-Status` field, at `now`.
    pub(super) fn record(&self, status: StatusCode, cache_status: Option<&HeaderValue>, now: UnixMillis) {
        let mut counts = self.0.borrow_mut();
        counts.total += 1;
        *counts.by_class.entry(class(status)).or_default() += 1;
        *counts.cache.entry(cache_outcome(cache_status)).or_default() += 1;
        let start = now - now % BUCKET_MS;
        let slot = &mut counts.recent[(now / BUCKET_MS) as usize % BUCKETS];
        if slot.0 != start {
            *slot = (start, 0, 0);
        }
        slot.1 += 1;
        slot.2 += u64::from(status.is_server_error());
    }

    fn error_rate(&self, now: UnixMillis) -> ErrorRate {
        let counts = self.0.borrow();
        let horizon = now.saturating_sub(BUCKET_MS * BUCKETS as u64);
        let live = counts.recent.iter().filter(|(start, ..)| *start > horizon && *start <= now);
        let (requests, errors) = live.fold((0, 0), |(r, e), (_, n, x)| (r + n, e + x));
        let rate = if requests == 0 { 0.0 } else { errors as f64 / requests as f64 };
        ErrorRate { window_ms: BUCKET_MS * BUCKETS as u64, requests, errors, rate }
    }
}

fn class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// `hit`, `miss`, `stale`, `forward` (any other reason to go forward) or `none`, from the
/// gateway's own member of `Cache-Status`.
fn cache_outcome(value: Option<&HeaderValue>) -> &'static str {
    let Some(text) = value.and_then(|v| v.to_str().ok()) else { return "none" };
    let Some(member) = text.split(',').map(str::trim).find(|m| m.starts_with(CACHE_NAME)) else {
        return "none";
    };
    let params: Vec<&str> = member.split(';').map(str::trim).collect();
    if params.contains(&"hit") {
        "hit"
    } else if params.contains(&"fwd=miss") {
        "miss"
    } else if params.contains(&"fwd=stale") {
        "stale"
    } else {
        "forward"
    }
}

/// Everything the status page shows (also `status.json`).
#[derive(Debug, Clone, Serialize)]
pub(super) struct Status {
    /// The config version this instance serves.
    version: Option<String>,
    /// When that version was published (from the history), Unix milliseconds.
    published_at: Option<UnixMillis>,
    /// Why there is no config, when there is none.
    config_error: Option<String>,
    /// When this was gathered.
    generated_at: UnixMillis,
    regions: Vec<RegionRow>,
    rate_limits: LimiterStats,
    requests: Requests,
    error_rate: ErrorRate,
}

#[derive(Debug, Clone, Serialize)]
struct RegionRow {
    name: String,
    usable: bool,
    reason: String,
    breaker: &'static str,
}

#[derive(Debug, Clone, Serialize)]
struct Requests {
    total: u64,
    by_class: BTreeMap<&'static str, u64>,
    cache: BTreeMap<&'static str, u64>,
}

#[derive(Debug, Clone, Serialize)]
struct ErrorRate {
    window_ms: u64,
    requests: u64,
    errors: u64,
    rate: f64,
}

/// The instance's status now; `published_at` comes from the admin history.
pub(super) async fn gather<P: Ports>(
    gateway: &Gateway,
    ports: &P,
    published_at: Option<UnixMillis>,
) -> Status {
    let now = ports.clock().now();
    let (config, config_error) = match gateway.live.current(ports).await {
        Ok(config) => (Some(config), None),
        Err(error) => (None, Some(error.to_string())),
    };
    let regions = config.as_ref().map_or_else(Vec::new, |config| {
        gateway
            .health
            .views(config, now)
            .into_iter()
            .map(|view| RegionRow {
                name: view.name,
                usable: view.health.usable,
                reason: reason(view.health.reason, now),
                breaker: breaker(view.breaker),
            })
            .collect()
    });
    let counts = gateway.traffic.0.borrow();
    let requests =
        Requests { total: counts.total, by_class: counts.by_class.clone(), cache: counts.cache.clone() };
    drop(counts);
    Status {
        version: gateway.live.version(),
        published_at,
        config_error,
        generated_at: now,
        regions,
        rate_limits: gateway.limiter.stats(now),
        requests,
        error_rate: gateway.traffic.error_rate(now),
    }
}

fn reason(reason: Reason, now: UnixMillis) -> String {
    match reason {
        Reason::Healthy => "healthy".into(),
        Reason::Unknown => "unknown (no fresh probe)".into(),
        Reason::ProbeFailed => "probe failed".into(),
        Reason::BreakerOpen => "breaker open".into(),
        Reason::Ejected { until } => format!("ejected for {} s", until.saturating_sub(now).div_ceil(1000)),
    }
}

fn breaker(state: BreakerState) -> &'static str {
    match state {
        BreakerState::Closed => "closed",
        BreakerState::Open { .. } => "open",
        BreakerState::HalfOpen { .. } => "half-open",
    }
}

/// Text safe inside HTML elements and quoted attributes.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
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

const STYLE: &str = "body{font:15px/1.4 system-ui,sans-serif;margin:2rem;color:#1d1d1f;background:#fafafa}\
h1{font-size:1.5rem;margin:0 0 1rem}h2{font-size:1.1rem;margin:1.5rem 0 .5rem}\
table{border-collapse:collapse;min-width:28rem;background:#fff}\
th,td{border:1px solid #ddd;padding:.35rem .7rem;text-align:left}th{background:#f0f0f0}\
.ok{color:#0a7d32}.bad{color:#b3261e}code{font-size:.95em}dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}\
dt{font-weight:600}dd{margin:0}";

/// The page for `status`.
pub(super) fn html(status: &Status) -> String {
    let mut page = String::with_capacity(4096);
    let version = status.version.as_deref().map_or_else(|| "none".to_owned(), escape);
    let published = status.published_at.map_or_else(|| "unknown".to_owned(), |ms| format!("{ms}"));
    let _ = write!(
        page,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>edge-gateway status</title>\
<style>{STYLE}</style></head><body><h1>edge-gateway status</h1><dl>\
<dt>Config version</dt><dd><code id=\"config-version\">{version}</code></dd>\
<dt>Published at (Unix ms)</dt><dd id=\"published-at\">{published}</dd>\
<dt>Generated at (Unix ms)</dt><dd>{}</dd>",
        status.generated_at
    );
    if let Some(error) = &status.config_error {
        let _ = write!(page, "<dt>Config error</dt><dd class=\"bad\">{}</dd>", escape(error));
    }
    page.push_str(
        "</dl><h2>Regions</h2><table id=\"regions\"><thead><tr><th>Region</th><th>Health</th>\
<th>Reason</th><th>Breaker</th></tr></thead><tbody>",
    );
    for region in &status.regions {
        let name = escape(&region.name);
        let (class, verdict) = if region.usable { ("ok", "usable") } else { ("bad", "unusable") };
        let _ = write!(
            page,
            "<tr data-region=\"{name}\"><td>{name}</td><td class=\"{class}\">{verdict}</td><td>{}</td><td>{}</td></tr>",
            escape(&region.reason),
            region.breaker
        );
    }
    page.push_str("</tbody></table>");
    rest(&mut page, status);
    page.push_str("</body></html>");
    page
}

/// The counters' sections of the page.
fn rest(page: &mut String, status: &Status) {
    let limits = &status.rate_limits;
    let rate = &status.error_rate;
    let _ = write!(
        page,
        "<h2>Rate limits (this instance)</h2><dl id=\"rate-limits\"><dt>Counters</dt><dd>{}</dd>\
<dt>Leases held</dt><dd>{}</dd><dt>Denies active</dt><dd>{}</dd></dl>\
<h2>Requests (this instance)</h2><dl id=\"requests\"><dt>Total</dt><dd>{}</dd>",
        limits.counters, limits.leases_held, limits.denies_active, status.requests.total
    );
    for (class, n) in &status.requests.by_class {
        let _ = write!(page, "<dt>{class}</dt><dd>{n}</dd>");
    }
    for (outcome, n) in &status.requests.cache {
        let _ = write!(page, "<dt>cache {outcome}</dt><dd>{n}</dd>");
    }
    let _ = write!(
        page,
        "</dl><h2>Recent errors</h2><p>5xx in the last {} s: <strong id=\"error-rate\">{:.1}%</strong> \
({} of {})</p>",
        rate.window_ms / 1000,
        rate.rate * 100.0,
        rate.errors,
        rate.requests
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_printed_value_is_escaped() {
        let hostile = r#"<script>alert("x")</script>&'"#;
        let status = Status {
            version: Some(hostile.into()),
            published_at: None,
            config_error: Some(hostile.into()),
            generated_at: 0,
            regions: vec![RegionRow {
                name: hostile.into(),
                usable: false,
                reason: hostile.into(),
                breaker: "open",
            }],
            rate_limits: LimiterStats::default(),
            requests: Requests { total: 0, by_class: BTreeMap::new(), cache: BTreeMap::new() },
            error_rate: ErrorRate { window_ms: 60_000, requests: 0, errors: 0, rate: 0.0 },
        };
        let page = html(&status);
        let escaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;";
        assert!(!page.contains("<script>"), "{page}");
        assert_eq!(page.matches(escaped).count(), 5, "version, error, row attribute, name, reason: {page}");
        assert!(page.contains(&format!(r#"<tr data-region="{escaped}">"#)));
    }

    #[test]
    fn cache_outcomes() {
        let rows = [
            (None, "none"),
            (Some("edge-gateway; hit; ttl=4"), "hit"),
            (Some("edge-gateway; fwd=miss; stored"), "miss"),
            (Some("edge-gateway; fwd=stale"), "stale"),
            (Some("edge-gateway; fwd=bypass; detail=no-edge-cache"), "forward"),
            (Some("origin-shield; hit"), "none"),
        ];
        for (value, outcome) in rows {
            let header = value.map(|v| HeaderValue::from_str(v).unwrap());
            assert_eq!(cache_outcome(header.as_ref()), outcome, "{value:?}");
        }
    }
}
