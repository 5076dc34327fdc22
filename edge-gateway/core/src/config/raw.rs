//! The routes document as written: serde types with `deny_unknown_fields`.
//!
//! Nothing here is trusted. [`super::Config::from_json`] turns these into validated types and
//! nothing downstream looks at a raw type again.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The whole routes document.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Optional pointer to the JSON Schema, ignored by the gateway.
    #[serde(rename = "$schema", default)]
    pub schema: Option<String>,
    /// Gateway-wide settings; every field has a default.
    #[serde(default)]
    pub settings: RawSettings,
    /// The regions and their origin shields.
    pub regions: Vec<RawRegion>,
    /// Upstream pools by name: which regions may serve a route, in failover order.
    pub pools: BTreeMap<String, RawPool>,
    /// The routes.
    pub routes: Vec<RawRoute>,
}

/// Gateway-wide settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RawSettings {
    /// How long an instance serves its parsed config before re-reading KV (default 10000).
    pub config_ttl_ms: Option<u64>,
    /// Largest request body accepted, by `Content-Length` (default 10 MiB).
    pub max_request_body_bytes: Option<u64>,
    /// Largest total size of request header names and values (default 32 KiB).
    pub max_header_bytes: Option<u64>,
    /// Longest request target, path and query (default 8 KiB).
    pub max_url_bytes: Option<u64>,
    /// Timeouts for routes that set none.
    pub timeouts: Option<RawTimeouts>,
}

/// Time limits for one upstream attempt.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RawTimeouts {
    /// Until the connection to the shield is open (default 2000).
    pub connect_ms: Option<u64>,
    /// Until the response head arrives (default 15000).
    pub response_ms: Option<u64>,
}

/// A region and its origin shield.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RawRegion {
    /// Unique name, e.g. `eu-west`.
    pub name: String,
    /// Base URL of the region's origin shield, `http` or `https`, no query.
    pub shield: String,
    /// Latitude of the region, degrees.
    pub lat: f64,
    /// Longitude of the region, degrees.
    pub lon: f64,
}

/// An upstream pool.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RawPool {
    /// Region names that may serve this pool.
    pub regions: Vec<String>,
    /// How many regions to try before giving up (default: all of them).
    pub attempts: Option<u32>,
}

/// One route.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    /// Unique id, used in logs and response headers.
    pub id: String,
    /// Hosts this route serves: exact (`api.example.com`), wildcard (`*.example.com`) or `*`.
    /// Empty means any host.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Methods this route serves; empty means any method.
    #[serde(default)]
    pub methods: Vec<String>,
    /// Path pattern: `/users/{id}`, `/static/{*rest}`.
    pub path: String,
    /// Among routes with the same host and path pattern, the higher priority wins (default 0).
    #[serde(default)]
    pub priority: i32,
    /// The pool that serves this route.
    pub pool: String,
    /// A literal path prefix removed before forwarding, e.g. `/api`.
    pub strip_prefix: Option<String>,
    /// A path template for the upstream, using the pattern's parameters: `/v2/users/{id}`.
    pub rewrite: Option<String>,
    /// Per-route timeouts; unset fields fall back to the settings.
    pub timeouts: Option<RawTimeouts>,
}
