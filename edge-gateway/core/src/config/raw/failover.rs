//! The routes document's geo, health and failover fields as written, untrusted: region tags
//! and health checks, pool retry and ejection settings, route residency and canaries, and where
//! the client's location comes from on a platform that does not report it.

use serde::Deserialize;

/// Whether a region serves normally or only when no primary can.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum RawTier {
    /// Chosen by distance among the healthy primaries.
    #[default]
    Primary,
    /// Used only when no primary of the pool is healthy.
    Backup,
}

/// A region's active health check (seed figures by default).
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RawHealthCheck {
    /// Path probed on the shield (default `/healthz`, which reports the origin's health).
    pub path: Option<String>,
    /// Time between probes, milliseconds (1000 to 3600000, default 10000).
    pub interval_ms: Option<u64>,
    /// How long a probe may take, milliseconds (default 2000, at most the interval).
    pub timeout_ms: Option<u64>,
    /// Consecutive failed probes that make the region unhealthy (default 3).
    pub unhealthy_threshold: Option<u32>,
    /// Consecutive good probes that make it healthy again (default 2).
    pub healthy_threshold: Option<u32>,
}

/// A pool's circuit breaker, per region (seed figures by default).
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RawBreaker {
    /// Consecutive failures that open it (default 5).
    pub consecutive_failures: Option<u32>,
    /// Failed share of requests in the window, percent, that opens it (default 50).
    pub error_rate_percent: Option<u32>,
    /// The error-rate window, milliseconds (default 10000).
    pub window_ms: Option<u64>,
    /// Requests the window must hold before its error rate counts (default 20).
    pub min_requests: Option<u32>,
    /// First open interval, milliseconds (default 5000), doubling on each re-opening.
    pub open_base_ms: Option<u64>,
    /// Longest open interval, milliseconds (default 60000).
    pub open_max_ms: Option<u64>,
    /// Trial requests at a time while half-open (default 3).
    pub half_open_trials: Option<u32>,
    /// Consecutive trial successes that close it (default 5).
    pub close_after_successes: Option<u32>,
}

/// A pool's passive outlier detection, per region (seed figures by default).
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RawOutlier {
    /// Consecutive failures of any kind that eject a region (default 5).
    pub consecutive_errors: Option<u32>,
    /// Consecutive connect failures or timeouts that eject it (default 3).
    pub consecutive_unreachable: Option<u32>,
    /// First ejection, milliseconds (default 10000), doubling on each ejection.
    pub base_ejection_ms: Option<u64>,
    /// Longest ejection, milliseconds (default 300000).
    pub max_ejection_ms: Option<u64>,
}

/// A pool's retry budget (seed figures by default).
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RawRetryBudget {
    /// Retries allowed per hundred requests in the window (default 20).
    pub ratio_percent: Option<u32>,
    /// Retries allowed per second whatever the traffic (default 10).
    pub min_retries_per_s: Option<u32>,
    /// The window, milliseconds (default 10000).
    pub window_ms: Option<u64>,
}

/// The regions a route may be served from.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RawResidency {
    /// Region names allowed.
    #[serde(default)]
    pub regions: Vec<String>,
    /// Country codes (ISO 3166-1 alpha-2) whose regions are allowed.
    #[serde(default)]
    pub countries: Vec<String>,
    /// Continent codes (`AF`, `AN`, `AS`, `EU`, `NA`, `OC`, `SA`) whose regions are allowed.
    #[serde(default)]
    pub continents: Vec<String>,
    /// A claim of the authenticated caller (e.g. `data_region`) whose value — a string or a
    /// list — names regions, countries or continents; it narrows the set above (or is the
    /// whole set when none is listed). A caller without the claim gets the set above.
    pub claim: Option<String>,
}

/// A share of a route's traffic sent to another pool.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RawCanary {
    /// The canary pool.
    pub pool: String,
    /// Percent of clients sent to it, 0 to 100.
    pub percent: u32,
}

/// Where the client's location comes from when the platform does not report it (Spin behind a
/// CDN): headers the CDN sets, trusted as such, and a fallback.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RawClientLocation {
    /// Header with the client's latitude, degrees.
    pub lat_header: Option<String>,
    /// Header with the client's longitude, degrees.
    pub lon_header: Option<String>,
    /// Header with the client's country code.
    pub country_header: Option<String>,
    /// Header with the client's continent code.
    pub continent_header: Option<String>,
    /// Where a client is assumed to be when nothing says.
    pub default: Option<RawPoint>,
}

/// A place.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RawPoint {
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
}
