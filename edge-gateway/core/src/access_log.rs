//! The access log: one JSON line per request, its `Server-Timing` phases and its metrics data
//! point, all built by pure functions from one [`Record`] the pipeline fills as it goes.
//!
//! ```text
//! pipeline: Record::new(now, head) → lap(Config) → route → lap(Auth) + auth → lap(Limit) + limit
//!           → lap(Cache) → tried regions, lap(Upstream) → response
//! finish:   line(record, finish, settings) → Log::record       (when settings.access_log.enabled)
//!           server_timing(record, now)     → `Server-Timing`
//!           data_point(record, finish)     → Metrics::write     (when the platform has a store)
//! ```
//!
//! A record never holds a header value, a token, an API key, a cookie or a body. The only text
//! taken from the request is its method, its path, and its query with the values of sensitive
//! parameters replaced by `[redacted]` ([`redact_query`]); the auth subject is a JWT's `sub` or an
//! API key's public id. Nothing here performs I/O or reads a clock.

use std::borrow::Cow;
use std::fmt::Write as _;

use http::{Method, Uri};
use serde::Serialize;

use crate::config::access_log::AccessLogSettings;
use crate::ports::{DataPoint, UnixMillis};
use crate::stages::Identity;

/// What a redacted query value is written as.
pub const REDACTED: &str = "[redacted]";

/// Query parameters redacted whatever the settings say (RFC 6750 §2.3's bearer token).
const ALWAYS_REDACTED: [&str; 1] = ["access_token"];

/// A timed step of the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Loading the routes document (usually from the instance's copy).
    Config,
    /// Authentication and authorization.
    Auth,
    /// The rate-limit stage.
    Limit,
    /// The edge-cache lookup.
    Cache,
    /// Every upstream attempt, failover included.
    Upstream,
}

impl Phase {
    const ALL: [Phase; 5] = [Phase::Config, Phase::Auth, Phase::Limit, Phase::Cache, Phase::Upstream];

    /// The phase's name in the log line and in `Server-Timing`.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Config => "config",
            Phase::Auth => "auth",
            Phase::Limit => "limit",
            Phase::Cache => "cache",
            Phase::Upstream => "upstream",
        }
    }
}

/// How the caller was identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// The route requires no authentication.
    None,
    /// A verified JWT.
    Jwt,
    /// A valid API key.
    ApiKey,
    /// The credentials were missing, invalid or not enough (401, 403), or could not be checked.
    Refused,
}

/// Who the caller is, as far as a log may say: never the credential itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Auth {
    /// How.
    pub method: AuthMethod,
    /// A JWT's `sub`, or an API key's public id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The JWT issuer's configured name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// The caller's tenant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

impl Auth {
    /// What the log says of `identity`.
    pub fn of(identity: &Identity) -> Auth {
        let (method, subject, issuer, tenant) = match identity {
            Identity::Anonymous => (AuthMethod::None, None, None, None),
            Identity::Jwt { issuer, tenant, .. } => {
                let subject = identity.claim("sub").and_then(|v| v.as_str().map(str::to_owned));
                (AuthMethod::Jwt, subject, Some(issuer.clone()), tenant.clone())
            }
            Identity::ApiKey { id, tenant, .. } => {
                (AuthMethod::ApiKey, Some(id.clone()), None, Some(tenant.clone()))
            }
        };
        Auth { method, subject, issuer, tenant }
    }

    /// A refused caller.
    pub fn refused() -> Auth {
        Auth { method: AuthMethod::Refused, subject: None, issuer: None, tenant: None }
    }
}

/// What the rate-limit stage decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitDecision {
    /// Every policy admitted the request.
    Admitted,
    /// A policy refused it (429).
    Refused,
    /// Admitted, but a shadow policy would have refused it.
    ShadowWouldRefuse,
    /// Admitted uncounted: a counter failed and its policy fails open.
    Bypassed,
    /// Refused because a `fail_closed` policy's counter failed (503).
    Unavailable,
}

/// The rate-limit stage's decision and the policy it concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Limit {
    /// The decision.
    pub decision: LimitDecision,
    /// The refusing (or failing) policy; for an admitted request, the route's policies,
    /// comma-separated.
    pub policy: String,
}

/// What the pipeline learnt about one request, filled as it goes.
#[derive(Debug, Clone)]
pub struct Record {
    /// When the request arrived.
    pub started: UnixMillis,
    /// Its method.
    pub method: Method,
    /// Its target, normalised once the limits stage has run.
    pub uri: Uri,
    /// The matched route's id.
    pub route: Option<String>,
    /// Who the caller is, once the auth stage has run.
    pub auth: Option<Auth>,
    /// The rate-limit decision, when the route has policies and the stage ran.
    pub limit: Option<Limit>,
    /// The regions tried, in order.
    pub tried: Vec<String>,
    /// The region whose answer was served.
    pub region: Option<String>,
    /// Milliseconds spent in each phase that ran, by [`Phase`] order.
    pub phases: [Option<u64>; 5],
    /// Why the gateway refused or failed the request (the error's text, which never holds a
    /// credential).
    pub error: Option<String>,
}

impl Record {
    /// The record of a request for `method` and `uri` that arrived at `now`.
    pub fn new(now: UnixMillis, method: &Method, uri: &Uri) -> Record {
        Record {
            started: now,
            method: method.clone(),
            uri: uri.clone(),
            route: None,
            auth: None,
            limit: None,
            tried: Vec::new(),
            region: None,
            phases: [None; 5],
            error: None,
        }
    }

    /// Adds the time from `since` to `now` to `phase`.
    pub fn lap(&mut self, phase: Phase, since: UnixMillis, now: UnixMillis) {
        let slot = &mut self.phases[phase as usize];
        *slot = Some(slot.unwrap_or(0) + now.saturating_sub(since));
    }
}

/// How the request ended.
#[derive(Debug, Clone, Copy)]
pub struct Finish<'a> {
    /// The response status.
    pub status: u16,
    /// The response's `Cache-Status` value, if any.
    pub cache_status: Option<&'a str>,
    /// The request id sent to the client.
    pub request_id: &'a str,
    /// The W3C trace id.
    pub trace_id: &'a str,
    /// When the response was ready.
    pub now: UnixMillis,
}

/// The per-phase timings of a line.
#[derive(Serialize)]
struct Phases {
    #[serde(skip_serializing_if = "Option::is_none")]
    config: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    upstream: Option<u64>,
}

/// One access-log line, as serialized.
#[derive(Serialize)]
struct Line<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    ts: UnixMillis,
    request_id: &'a str,
    trace_id: &'a str,
    method: &'a str,
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    query: Option<Cow<'a, str>>,
    route: Option<&'a str>,
    status: u16,
    duration_ms: u64,
    cache: Option<&'a str>,
    region: Option<&'a str>,
    regions: &'a [String],
    attempts: usize,
    rate_limit: Option<&'a Limit>,
    auth: Option<&'a Auth>,
    phases_ms: Phases,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

/// The access-log line of a finished request: one JSON object, no newline. `api_key_query` is
/// the query parameter that carries API keys, when the document allows one; its values are
/// redacted like the settings' `redact_query`.
pub fn line(
    record: &Record,
    finish: &Finish<'_>,
    settings: &AccessLogSettings,
    api_key_query: Option<&str>,
) -> String {
    let [config, auth, limit, cache, upstream] = record.phases;
    let line = Line {
        kind: "access",
        ts: record.started,
        request_id: finish.request_id,
        trace_id: finish.trace_id,
        method: record.method.as_str(),
        path: record.uri.path(),
        query: record.uri.query().map(|q| redact_query(q, &settings.redact_query, api_key_query)),
        route: record.route.as_deref(),
        status: finish.status,
        duration_ms: finish.now.saturating_sub(record.started),
        cache: finish.cache_status.map(cache_outcome),
        region: record.region.as_deref(),
        regions: &record.tried,
        attempts: record.tried.len(),
        rate_limit: record.limit.as_ref(),
        auth: record.auth.as_ref(),
        phases_ms: Phases { config, auth, limit, cache, upstream },
        error: record.error.as_deref(),
    };
    serde_json::to_string(&line).unwrap_or_else(|e| format!("{{\"type\":\"access\",\"error\":\"{e}\"}}"))
}

/// `query` with the value of every parameter named in `names` (lower case), named
/// `access_token` or equal to `api_key_query` replaced by [`REDACTED`]. Names are compared
/// percent-decoded and without regard to case, so `TOKEN=` and `tok%65n=` are caught too.
/// Borrowed when nothing is redacted.
pub fn redact_query<'q>(query: &'q str, names: &[String], api_key_query: Option<&str>) -> Cow<'q, str> {
    let sensitive = |name: &str| {
        let name = decode_name(name);
        names.iter().any(|n| n.eq_ignore_ascii_case(&name))
            || ALWAYS_REDACTED.iter().any(|n| n.eq_ignore_ascii_case(&name))
            || api_key_query.is_some_and(|n| n.eq_ignore_ascii_case(&name))
    };
    let hit = |pair: &str| pair.split_once('=').is_some_and(|(name, _)| sensitive(name));
    if !query.split('&').any(hit) {
        return Cow::Borrowed(query);
    }
    let mut out = String::with_capacity(query.len());
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((name, _)) if sensitive(name) => {
                out.push_str(name);
                out.push('=');
                out.push_str(REDACTED);
            }
            _ => out.push_str(pair),
        }
    }
    Cow::Owned(out)
}

/// A query parameter name with `+` and percent escapes decoded (invalid escapes kept).
fn decode_name(name: &str) -> Cow<'_, str> {
    if !name.contains(['%', '+']) {
        return Cow::Borrowed(name);
    }
    let hex = |b: Option<&u8>| b.and_then(|&b| (b as char).to_digit(16));
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                if let (Some(high), Some(low)) = (hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) {
                    out.push((high * 16 + low) as u8);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            other => out.push(other),
        }
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// The short form of a `Cache-Status` value: `hit`, or the reason it was forwarded (`uri-miss`,
/// `stale`, `bypass`, `method`, …), or `unknown`.
pub fn cache_outcome(value: &str) -> &str {
    let mut params = value.split(';').skip(1).map(str::trim);
    let outcome = params.find_map(|p| if p == "hit" { Some("hit") } else { p.strip_prefix("fwd=") });
    outcome.unwrap_or("unknown")
}

/// The `Server-Timing` value of the gateway's own phases: every phase that ran but `upstream`
/// (which the attempt loop writes itself, naming the region), then `total`.
pub fn server_timing(record: &Record, now: UnixMillis) -> String {
    let mut value = String::with_capacity(96);
    for phase in Phase::ALL.into_iter().filter(|&p| p != Phase::Upstream) {
        if let Some(ms) = record.phases[phase as usize] {
            let _ = write!(value, "{};dur={ms}, ", phase.name());
        }
    }
    let _ = write!(value, "total;dur={}", now.saturating_sub(record.started));
    value
}

/// The metrics data point of a finished request: the route id as index; route, status, cache
/// outcome, region and rate-limit decision as labels (`-` when absent); duration and attempts
/// as numbers.
pub fn data_point(record: &Record, finish: &Finish<'_>) -> DataPoint {
    let route = record.route.clone().unwrap_or_else(|| "-".into());
    let limit = match &record.limit {
        Some(limit) => decision_name(limit.decision),
        None => "-",
    };
    DataPoint {
        index: route.clone(),
        blobs: [
            route,
            finish.status.to_string(),
            finish.cache_status.map_or("-", cache_outcome).to_owned(),
            record.region.as_deref().unwrap_or("-").to_owned(),
            limit.to_owned(),
        ],
        doubles: [finish.now.saturating_sub(record.started) as f64, record.tried.len() as f64],
    }
}

fn decision_name(decision: LimitDecision) -> &'static str {
    match decision {
        LimitDecision::Admitted => "admitted",
        LimitDecision::Refused => "refused",
        LimitDecision::ShadowWouldRefuse => "shadow_would_refuse",
        LimitDecision::Bypassed => "bypassed",
        LimitDecision::Unavailable => "unavailable",
    }
}
