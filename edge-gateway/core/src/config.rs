//! The routes document: validated types, and the one pass that makes them.
//!
//! [`Config::from_json`] is the only way to get a [`Config`]. It reports *every* problem in the
//! document at once, each with the JSON path of the offending field (`$.routes[2].path`), and
//! compiles the router, so nothing downstream re-checks anything. It decides nothing about
//! requests and performs no I/O.

pub mod access_log;
pub mod auth;
pub mod edge_cache;
pub mod failover;
pub mod raw;
mod validate;

use std::fmt;
use std::time::Duration;

use http::Method;

use crate::ports::Timeouts;
use crate::ratelimit::RateLimits;
use crate::routing::Router;
use auth::{AuthSettings, RouteAuth};
pub use failover::{Canary, ClientLocation, Failover, HealthCheck, Residency, RetryOn, Tier};

/// A validated routes document with its compiled router.
#[derive(Debug)]
pub struct Config {
    /// Gateway-wide settings.
    pub settings: Settings,
    /// Issuers, API-key and identity-header settings.
    pub auth: AuthSettings,
    /// Regions, in document order; referenced by index.
    pub regions: Vec<Region>,
    /// Pools, sorted by name; referenced by index.
    pub pools: Vec<Pool>,
    /// Routes, in document order; referenced by index.
    pub routes: Vec<Route>,
    /// The compiled router over `routes`.
    pub router: Router,
    /// Rate-limit policies; routes refer to them by index.
    pub rate_limits: RateLimits,
}

/// Validated gateway-wide settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// How long an instance serves its parsed config before re-reading KV.
    pub config_ttl: Duration,
    /// Largest request body accepted, by `Content-Length`.
    pub max_request_body_bytes: u64,
    /// Largest total size of request header names and values.
    pub max_header_bytes: u64,
    /// Longest request target (path and query).
    pub max_url_bytes: u64,
    /// Timeouts for routes that set none.
    pub timeouts: Timeouts,
    /// How long a request waits for a rate-limit counter.
    pub rate_limit_deadline: Duration,
    /// Where the client's location comes from when the platform does not say.
    pub client_location: ClientLocation,
    /// The access log: on or off, and the query parameters it redacts.
    pub access_log: access_log::AccessLogSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            config_ttl: Duration::from_secs(10),
            max_request_body_bytes: 10 * 1024 * 1024,
            max_header_bytes: 32 * 1024,
            max_url_bytes: 8 * 1024,
            timeouts: Timeouts { connect: Duration::from_secs(2), response: Duration::from_secs(15) },
            rate_limit_deadline: Duration::from_millis(50),
            client_location: ClientLocation::default(),
            access_log: access_log::AccessLogSettings::default(),
        }
    }
}

/// A region and its origin shield.
#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    /// Unique name.
    pub name: String,
    /// Base URL of the shield, without a trailing slash.
    pub shield: String,
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Country code (upper case), for residency.
    pub country: Option<String>,
    /// Continent code (upper case), for residency.
    pub continent: Option<String>,
    /// Preference among regions at the same distance (1 to 1000).
    pub weight: u32,
    /// Primary or backup.
    pub tier: Tier,
    /// The active health check of its shield.
    pub health_check: HealthCheck,
}

/// An upstream pool: the regions that may serve its routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    /// Name, as routes refer to it.
    pub name: String,
    /// Indices into [`Config::regions`], in configured order.
    pub regions: Vec<usize>,
    /// How many regions one request may try.
    pub attempts: usize,
    /// Retries, deadline, breaker and ejection.
    pub failover: Failover,
}

/// Which hosts a route serves.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HostPattern {
    /// One host, lower-case, without port.
    Exact(String),
    /// Any host ending in this suffix, which starts with a dot (`.example.com`): one or more
    /// labels in front of it.
    Suffix(String),
    /// Any host.
    Any,
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPattern::Exact(host) => f.write_str(host),
            HostPattern::Suffix(suffix) => write!(f, "*{suffix}"),
            HostPattern::Any => f.write_str("*"),
        }
    }
}

/// How the path is changed before forwarding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathEdit {
    /// Forward the path as received.
    Keep,
    /// Remove this literal prefix (the result always starts with `/`).
    StripPrefix(String),
    /// Build the path from a template over the pattern's parameters.
    Rewrite(Vec<TemplatePart>),
}

/// A piece of a rewrite template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplatePart {
    /// Literal text.
    Literal(String),
    /// The value of a path parameter.
    Param(String),
}

/// A validated route.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// Unique id.
    pub id: String,
    /// Hosts served (never empty: an empty list became `[Any]`).
    pub hosts: Vec<HostPattern>,
    /// Methods served; `None` means any.
    pub methods: Option<Vec<Method>>,
    /// The matchit path pattern.
    pub path: String,
    /// Priority among routes with the same host and pattern.
    pub priority: i32,
    /// Index into [`Config::pools`].
    pub pool: usize,
    /// Path change before forwarding.
    pub path_edit: PathEdit,
    /// Upstream time limits.
    pub timeouts: Timeouts,
    /// Who may call it; `None` means anyone.
    pub auth: Option<RouteAuth>,
    /// Edge caching; `None` means never cached at the edge.
    pub cache: Option<edge_cache::RouteCache>,
    /// Indices into [`Config::rate_limits`]' policies, all applied (the document's default list
    /// when the route names none).
    pub rate_limit: Vec<usize>,
    /// The regions it may be served from; `None`: any region of its pool.
    pub residency: Option<Residency>,
    /// A share of clients sent to another pool.
    pub canary: Option<Canary>,
}

impl Route {
    /// True when the route serves `method` (`HEAD` is served wherever `GET` is).
    pub fn allows(&self, method: &Method) -> bool {
        match &self.methods {
            None => true,
            Some(methods) => {
                methods.contains(method) || (method == Method::HEAD && methods.contains(&Method::GET))
            }
        }
    }
}

/// One problem found in a routes document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// JSON path of the offending field, e.g. `$.routes[2].path`.
    pub path: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)
    }
}

/// Every problem found in a routes document (never empty).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.0.len();
        write!(f, "{count} error{} in routes document", if count == 1 { "" } else { "s" })?;
        for error in &self.0 {
            write!(f, "\n  {error}")?;
        }
        Ok(())
    }
}

impl Config {
    /// Parses and validates a routes document, reporting every problem at once.
    pub fn from_json(json: &[u8]) -> Result<Config, ConfigErrors> {
        validate::validate(json)
    }
}
