//! The shield's own `GET /healthz`: what the edge reads to decide on failover.
//!
//! [`report`] turns a health [`Verdict`] into a status and JSON body; it sends nothing.

use serde::Serialize;

use crate::health::Verdict;

/// The path answered by the shield itself, never proxied.
pub const PATH: &str = "/healthz";

/// The `/healthz` body.
#[derive(Debug, Serialize)]
struct Report<'a> {
    region: &'a str,
    status: &'static str,
    origin: OriginReport<'a>,
}

/// The `origin` member of the `/healthz` body.
#[derive(Debug, Serialize)]
struct OriginReport<'a> {
    url: &'a str,
    healthy: bool,
    state: &'static str,
}

/// Status code and JSON body for `/healthz`: 200 `ok` when the origin is healthy,
/// else 503 `degraded` so the edge fails over.
pub fn report(region: &str, origin_url: &str, verdict: Verdict) -> (u16, Vec<u8>) {
    let healthy = verdict.is_healthy();
    let state = match verdict {
        Verdict::Healthy => "healthy",
        Verdict::Unknown => "unknown",
        Verdict::Stale => "stale",
        Verdict::Unhealthy => "unhealthy",
    };
    let body = Report {
        region,
        status: if healthy { "ok" } else { "degraded" },
        origin: OriginReport { url: origin_url, healthy, state },
    };
    let status = if healthy { 200 } else { 503 };
    (status, serde_json::to_vec(&body).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_table() {
        let rows = [
            (Verdict::Healthy, 200, "ok", true),
            (Verdict::Unhealthy, 503, "degraded", false),
            (Verdict::Stale, 503, "degraded", false),
            (Verdict::Unknown, 503, "degraded", false),
        ];
        for (verdict, status, word, healthy) in rows {
            let (code, body) = report("eu-west", "http://o:1", verdict);
            let json: serde_json::Value = serde_json::from_slice(&body).expect("json");
            assert_eq!(code, status, "{verdict:?}");
            assert_eq!(json["region"], "eu-west");
            assert_eq!(json["status"], word);
            assert_eq!(json["origin"]["url"], "http://o:1");
            assert_eq!(json["origin"]["healthy"], healthy);
        }
    }
}
