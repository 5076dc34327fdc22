//! The validated rate-limit policies of the routes document.
//!
//! The validation pass (`config::validate`) builds these from the document's `rate_limits`,
//! `default_rate_limit` and each route's `rate_limit`; nothing downstream re-checks them. This
//! module decides nothing about requests.

use http::HeaderName;

use super::Rate;

/// One named policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Its name, as routes refer to it and as the `RateLimit` fields name it.
    pub name: String,
    /// The arithmetic: algorithm, limit, period.
    pub rate: Rate,
    /// What the counter key is made of (never empty; `[Global]` stands alone).
    pub key: Vec<KeyPart>,
    /// Units one request costs (1 ..= the limit, and ..= the burst for GCRA).
    pub cost: u64,
    /// Where the counter is kept.
    pub mode: Mode,
    /// What happens when the counter store cannot answer in time.
    pub on_store_error: OnStoreError,
    /// Count and report, never refuse.
    pub shadow: bool,
}

impl Policy {
    /// The period in whole seconds, as the `RateLimit-Policy` field's `w`.
    pub fn period_s(&self) -> u64 {
        self.rate.period_ms / 1000
    }
}

/// One part of a counter key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyPart {
    /// The client address the platform reports (IPv6 by its /64 prefix).
    ClientIp,
    /// The public id of the API key that authenticated the request.
    ApiKey,
    /// The authenticated subject: a JWT's `sub`, or `apikey:<id>`.
    Subject,
    /// A claim of the authenticated caller. `tenant` is the tenant the authenticate stage
    /// established (the issuer's `tenant_claim` of a JWT, the tenant of an API key); any other
    /// name is that claim of the JWT.
    Claim(String),
    /// A request header, as the client sent it (only when a policy names it).
    Header(HeaderName),
    /// The matched route's id.
    Route,
    /// One counter for every request.
    Global,
}

/// Where a policy's counter is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// One counter for the whole world (a Durable Object, a Spin atomic): never over the limit.
    Exact,
    /// Per-instance counters merged through eventually consistent storage: cheaper, with a
    /// measured error bound.
    Approximate,
}

/// What a request meets when the counter store fails or is too slow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OnStoreError {
    /// Admit it (and log).
    FailOpen,
    /// Refuse it with 503 (and log).
    FailClosed,
}

/// Every policy of a routes document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimits {
    /// The policies, sorted by name; routes refer to them by index.
    pub policies: Vec<Policy>,
    /// Indices of the policies applied to routes that name none (`default_rate_limit`).
    pub default: Vec<usize>,
    /// Whether responses also carry `X-RateLimit-Limit`, `-Remaining` and `-Reset`.
    pub legacy_headers: bool,
}

impl RateLimits {
    /// The policy named `name`.
    pub fn get(&self, name: &str) -> Option<&Policy> {
        self.policies.iter().find(|policy| policy.name == name)
    }
}

/// Every problem of one policy in the routes document, each as `(path relative to the policy,
/// reason)`, e.g. `(".key[1].header", "...")`. Returned by `Policy::try_from` on a raw policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid rate-limit policy: {}", .0.iter().map(|(p, r)| format!("{p}: {r}")).collect::<Vec<_>>().join("; "))]
pub struct PolicyProblems(pub Vec<(String, String)>);
