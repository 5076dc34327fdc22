//! The routes document's rate-limit policies as written (`rate_limits`), untrusted: the
//! validation pass turns each into a [`crate::ratelimit::Policy`].

use serde::Deserialize;

/// One rate-limit policy.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RawRateLimit {
    /// Units admitted per period (1 to 1000000000).
    pub limit: u64,
    /// The period, in seconds (1 to 31622400).
    pub period_s: u64,
    /// How requests are counted (default `sliding_window`).
    #[serde(default)]
    pub algorithm: RawAlgorithm,
    /// Largest cost admitted at once; `gcra` only (default: the limit).
    pub burst: Option<u64>,
    /// What the counter key is made of: one counter per distinct combination.
    pub key: Vec<RawKeyPart>,
    /// Units one request costs (default 1).
    pub cost: Option<u64>,
    /// `exact` (one global counter, never over the limit) or `approximate` (default `exact`).
    #[serde(default)]
    pub mode: RawMode,
    /// What happens when the counter store fails or is too slow (default `fail_open`).
    #[serde(default)]
    pub on_store_error: RawOnStoreError,
    /// Count and report, never refuse: for rolling a new limit out (default false).
    #[serde(default)]
    pub shadow: bool,
}

/// How a policy counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum RawAlgorithm {
    /// Two aligned windows, the previous one weighted: at most `limit` per window.
    #[default]
    SlidingWindow,
    /// GCRA, a token bucket: `limit` per period sustained, `burst` at once.
    Gcra,
}

/// Where a policy's counter is kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum RawMode {
    /// One global counter: never more than the limit.
    #[default]
    Exact,
    /// Per-instance counters merged through eventually consistent storage.
    Approximate,
}

/// What a request meets when the counter store fails.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum RawOnStoreError {
    /// Admit it.
    #[default]
    FailOpen,
    /// Refuse it (503).
    FailClosed,
}

/// One part of a counter key.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum RawKeyPart {
    /// `client_ip`, `api_key`, `subject`, `route` or `global`.
    Named(RawKeyName),
    /// `{"claim": "tenant"}`: a claim of the authenticated caller.
    Claim(RawClaimKey),
    /// `{"header": "x-foo"}`: a request header as the client sent it.
    Header(RawHeaderKey),
}

/// A key part without parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum RawKeyName {
    /// The client address the platform reports (IPv6 by /64).
    ClientIp,
    /// The id of the API key that authenticated the request.
    ApiKey,
    /// The authenticated subject (a JWT's `sub`, or `apikey:<id>`).
    Subject,
    /// The matched route.
    Route,
    /// One counter for all requests.
    Global,
}

/// A claim as a key part.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RawClaimKey {
    /// The claim's name; `tenant` is the tenant the authentication established.
    pub claim: String,
}

/// A request header as a key part.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RawHeaderKey {
    /// The header's name.
    pub header: String,
}
