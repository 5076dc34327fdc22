//! The routes document as written: serde types with `deny_unknown_fields`.
//!
//! Nothing here is trusted. [`super::Config::from_json`] turns these into validated types and
//! nothing downstream looks at a raw type again.

use std::collections::BTreeMap;

use serde::Deserialize;

mod failover;
mod ratelimit;

pub use failover::{
    RawBreaker, RawCanary, RawClientLocation, RawHealthCheck, RawOutlier, RawPoint, RawResidency,
    RawRetryBudget, RawTier,
};

pub use ratelimit::{
    RawAlgorithm, RawClaimKey, RawHeaderKey, RawKeyName, RawKeyPart, RawMode, RawOnStoreError, RawRateLimit,
};

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
    /// Authentication: JWT issuers, API keys and the identity headers sent to the origin.
    #[serde(default)]
    pub auth: RawAuth,
    /// Rate-limit policies by name, as routes refer to them.
    #[serde(default)]
    pub rate_limits: BTreeMap<String, RawRateLimit>,
    /// Policies applied to every route that has no `rate_limit` of its own.
    #[serde(default)]
    pub default_rate_limit: Vec<String>,
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
    /// Whether rate-limited responses also carry `X-RateLimit-Limit`, `-Remaining` and
    /// `-Reset` besides the IETF `RateLimit` fields (default false).
    pub legacy_rate_limit_headers: Option<bool>,
    /// How long a request waits for a rate-limit counter before the policy's `on_store_error`
    /// decides, in milliseconds (1 to 10000, default 50).
    pub rate_limit_deadline_ms: Option<u64>,
    /// Where the client's location comes from when the platform does not report it.
    #[serde(default)]
    pub client_location: RawClientLocation,
    /// The per-request access-log line.
    pub access_log: Option<RawAccessLog>,
}

/// The access log's settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RawAccessLog {
    /// Write one JSON line per request through the log (default true).
    pub enabled: Option<bool>,
    /// Query parameters whose values are written as `[redacted]`, compared without regard to
    /// case (at most 64 names). Replaces the default list (`token`, `access_token`, `id_token`,
    /// `api_key`, `apikey`, `key`, `sig`, `signature`, `password`); the API-key query parameter
    /// and `access_token` are always redacted.
    pub redact_query: Option<Vec<String>>,
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
    /// Country code of the region (ISO 3166-1 alpha-2), for residency.
    pub country: Option<String>,
    /// Continent code of the region (`AF`, `AN`, `AS`, `EU`, `NA`, `OC`, `SA`), for residency.
    pub continent: Option<String>,
    /// Among regions at the same distance, the heavier is preferred (1 to 1000, default 100).
    pub weight: Option<u32>,
    /// `primary` (default) or `backup`: a backup region serves only when no primary of the
    /// pool is healthy.
    #[serde(default)]
    pub tier: RawTier,
    /// The active health check of the region's shield.
    #[serde(default)]
    pub health_check: RawHealthCheck,
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
    /// What makes an attempt worth another region: `connect`, `timeout`, and statuses `502`,
    /// `503`, `504` (default all five).
    pub retry_on: Option<Vec<String>>,
    /// Time for all attempts together, milliseconds (default 30000).
    pub deadline_ms: Option<u64>,
    /// Request bodies up to this size are kept so another region can be sent them (default
    /// 65536; larger bodies are never retried once sent).
    pub replay_body_bytes: Option<u64>,
    /// Retries allowed beyond first attempts.
    #[serde(default)]
    pub retry_budget: RawRetryBudget,
    /// When a region's breaker opens, per instance.
    #[serde(default)]
    pub breaker: RawBreaker,
    /// When a region is ejected after consecutive failures, per instance.
    #[serde(default)]
    pub outlier: RawOutlier,
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
    /// Who may call this route; absent means anyone (no authentication).
    pub auth: Option<RawRouteAuth>,
    /// Edge caching of this route's GET responses; absent means never cached at the edge.
    pub cache: Option<RawRouteCache>,
    /// Names of the rate-limit policies applied to this route, all of which must admit a
    /// request; absent means `default_rate_limit`, `[]` means none.
    pub rate_limit: Option<Vec<String>>,
    /// The regions this route may be served from; failover never leaves them.
    pub residency: Option<RawResidency>,
    /// A share of clients sent to another pool, sticky per client.
    pub canary: Option<RawCanary>,
}

/// How a route uses the edge cache (RFC 9111 rules apply unless a field overrides them).
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RawRouteCache {
    /// Forward every request without looking in the cache (default false).
    #[serde(default)]
    pub bypass: bool,
    /// Freshness lifetime in seconds, replacing what the origin says (`s-maxage` semantics;
    /// `no-store`, `private` and `Set-Cookie` are still honoured).
    pub ttl_s: Option<u64>,
    /// Serve stale this long while revalidating in the background, when the origin gives no
    /// `stale-while-revalidate`.
    pub stale_while_revalidate_s: Option<u64>,
    /// Serve stale this long when every region fails, when the origin gives no `stale-if-error`.
    pub stale_if_error_s: Option<u64>,
    /// Request headers whose values are part of the cache key (besides the response's `Vary`).
    #[serde(default)]
    pub key_headers: Vec<String>,
    /// Query parameters that are part of the key, others ignored; absent means the whole query.
    pub key_query: Option<Vec<String>>,
    /// Store responses that set cookies (default false: the cookie would be replayed).
    #[serde(default)]
    pub store_set_cookie: bool,
}

/// Gateway-wide authentication settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RawAuth {
    /// JWT issuers by name, as routes refer to them.
    #[serde(default)]
    pub issuers: BTreeMap<String, RawIssuer>,
    /// Where API keys are read from and how long lookups are cached.
    #[serde(default)]
    pub api_keys: RawApiKeys,
    /// Names of the headers that carry the caller's identity to the origin.
    #[serde(default)]
    pub identity_headers: RawIdentityHeaders,
}

/// One JWT issuer: what it may send and where its keys are.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RawIssuer {
    /// Exact `iss` value of its tokens.
    pub issuer: String,
    /// URL of its JSON Web Key Set. Exactly one of `jwks_uri`, `discovery_url` and `jwks`.
    pub jwks_uri: Option<String>,
    /// URL of its OpenID Connect discovery document, whose `jwks_uri` names the key set.
    pub discovery_url: Option<String>,
    /// The key set itself, inline (for shared-secret HS* keys or pinned public keys).
    #[cfg_attr(feature = "schema", schemars(with = "Option<serde_json::Map<String, serde_json::Value>>"))]
    pub jwks: Option<serde_json::Value>,
    /// Accepted `aud` values; a token must name one of them.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Allowed `alg` values, e.g. `["RS256"]`; `none` is never allowed.
    pub algorithms: Vec<String>,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`, in milliseconds (default 0, at most 300000).
    #[serde(default)]
    pub leeway_ms: u64,
    /// Claims that must be present besides `iss`, `exp` and `aud`.
    #[serde(default)]
    pub required_claims: Vec<String>,
    /// Largest token accepted, in bytes (default 8192).
    pub max_token_bytes: Option<usize>,
    /// The claim whose value is the caller's tenant, sent in the tenant identity header.
    pub tenant_claim: Option<String>,
    /// Whether verified tokens are remembered until `exp` (default true).
    pub cache_verified_tokens: Option<bool>,
    /// How fetched key sets are cached.
    #[serde(default)]
    pub jwks_cache: RawJwksCache,
}

/// How a fetched key set is cached, refreshed and kept while the issuer is down.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RawJwksCache {
    /// Shortest time a key set is used before refetching, whatever its `Cache-Control` says
    /// (default 60000).
    pub min_ttl_ms: Option<u64>,
    /// Longest time a key set is used before refetching (default 86400000).
    pub max_ttl_ms: Option<u64>,
    /// How long past its TTL a key set is still used while the issuer cannot be reached
    /// (default 21600000).
    pub max_stale_ms: Option<u64>,
    /// Least time between two fetches caused by an unknown `kid` (default 30000).
    pub refetch_interval_ms: Option<u64>,
    /// Time limit of one fetch (default 5000).
    pub fetch_timeout_ms: Option<u64>,
}

/// Where API keys are read from.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RawApiKeys {
    /// Request header carrying the key (default `x-api-key`).
    pub header: Option<String>,
    /// Query parameter carrying the key (default: none; keys in URLs end up in logs elsewhere).
    pub query: Option<String>,
    /// How long a key lookup is reused by one instance, in milliseconds (default 30000): a
    /// revoked key is refused at most this long after the revocation.
    pub cache_ttl_ms: Option<u64>,
}

/// Names of the identity headers set for the origin (and always removed from client requests).
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RawIdentityHeaders {
    /// The subject: the token's `sub`, or `apikey:<id>` (default `x-auth-subject`).
    pub subject: Option<String>,
    /// The tenant (default `x-auth-tenant`).
    pub tenant: Option<String>,
    /// Granted scopes, space-separated (default `x-auth-scopes`).
    pub scopes: Option<String>,
    /// `jwt` or `api_key` (default `x-auth-method`).
    pub method: Option<String>,
    /// The token's issuer name as configured (default `x-auth-issuer`).
    pub issuer: Option<String>,
}

/// Who may call a route: any one of the accepted credentials, then every matching rule.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RawRouteAuth {
    /// Issuer names whose JWTs are accepted.
    #[serde(default)]
    pub jwt: Vec<String>,
    /// Whether an API key is accepted.
    #[serde(default)]
    pub api_key: bool,
    /// Read the JWT from this cookie instead of `Authorization: Bearer`.
    pub token_cookie: Option<String>,
    /// Read the JWT from this header (its whole value) instead of `Authorization: Bearer`.
    pub token_header: Option<String>,
    /// Whether the client's `Authorization` header reaches the origin (default false).
    #[serde(default)]
    pub forward_authorization: bool,
    /// Authorization rules; every rule whose methods match the request must hold.
    #[serde(default)]
    pub rules: Vec<RawAuthRule>,
}

/// One authorization rule.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RawAuthRule {
    /// Methods the rule applies to; empty means every method.
    #[serde(default)]
    pub methods: Vec<String>,
    /// Scopes the caller must all have.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Claims the caller's token must carry.
    #[serde(default)]
    pub claims: Vec<RawClaimRule>,
}

/// A test on one claim: exactly one of `equals`, `one_of`, `contains`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RawClaimRule {
    /// The claim's name.
    pub claim: String,
    /// The claim must equal this value.
    pub equals: Option<serde_json::Value>,
    /// The claim must equal one of these values.
    pub one_of: Option<Vec<serde_json::Value>>,
    /// The claim (an array, or a space-separated string) must contain this value.
    pub contains: Option<serde_json::Value>,
}
