//! The validated geo, health and failover settings of regions, pools and routes.

use std::time::Duration;

use http::{HeaderName, StatusCode};

use crate::config::Region;
use crate::geo::GeoPoint;
use crate::health::probe::ProbeConfig;
use crate::health::{BreakerConfig, BudgetConfig, OutlierConfig};

/// A region's tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tier {
    /// Chosen by distance among the healthy primaries.
    #[default]
    Primary,
    /// Only when no primary of the pool is usable.
    Backup,
}

/// A region's active health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// Path probed on the shield (`/healthz`).
    pub path: String,
    /// How long a probe may take.
    pub timeout: Duration,
    /// Interval and thresholds.
    pub probe: ProbeConfig,
}

impl Default for HealthCheck {
    fn default() -> Self {
        HealthCheck {
            path: "/healthz".into(),
            timeout: Duration::from_secs(2),
            probe: ProbeConfig::default(),
        }
    }
}

/// Which failed attempts are worth another region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryOn {
    /// Connect failures (nothing was sent: always safe).
    pub connect: bool,
    /// Timeouts (the request may have been processed: idempotent requests only).
    pub timeout: bool,
    /// Statuses (idempotent requests only).
    pub statuses: Vec<StatusCode>,
}

impl Default for RetryOn {
    fn default() -> Self {
        RetryOn {
            connect: true,
            timeout: true,
            statuses: vec![
                StatusCode::BAD_GATEWAY,
                StatusCode::SERVICE_UNAVAILABLE,
                StatusCode::GATEWAY_TIMEOUT,
            ],
        }
    }
}

/// How a pool fails over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failover {
    /// What is retried.
    pub retry_on: RetryOn,
    /// Time for all attempts together.
    pub deadline: Duration,
    /// Largest body kept for a replay.
    pub replay_body_bytes: u64,
    /// Retries beyond first attempts.
    pub budget: BudgetConfig,
    /// Per-region breaker.
    pub breaker: BreakerConfig,
    /// Per-region ejection.
    pub outlier: OutlierConfig,
}

impl Default for Failover {
    fn default() -> Self {
        Failover {
            retry_on: RetryOn::default(),
            deadline: Duration::from_secs(30),
            replay_body_bytes: 64 * 1024,
            budget: BudgetConfig::default(),
            breaker: BreakerConfig::default(),
            outlier: OutlierConfig::default(),
        }
    }
}

/// The regions a route may be served from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Residency {
    /// Region names, country codes and continent codes allowed; empty with a `claim` means
    /// "whatever the claim says".
    pub tags: Vec<String>,
    /// The caller's claim that narrows the set.
    pub claim: Option<String>,
}

impl Residency {
    /// Whether `region` may serve a caller whose residency claim says `claimed` (`None`: the
    /// caller has no such claim).
    pub fn allows(&self, region: &Region, claimed: Option<&[String]>) -> bool {
        let listed = self.tags.is_empty() || self.tags.iter().any(|t| names_region(region, t));
        let claim_ok = match (&self.claim, claimed) {
            (Some(_), Some(values)) => values.iter().any(|t| names_region(region, t)),
            (Some(_), None) => !self.tags.is_empty(),
            (None, _) => true,
        };
        listed && claim_ok
    }
}

/// Whether `tag` names `region`: its name, its country or its continent.
pub fn names_region(region: &Region, tag: &str) -> bool {
    region.name == tag
        || region.country.as_deref().is_some_and(|c| c.eq_ignore_ascii_case(tag))
        || region.continent.as_deref().is_some_and(|c| c.eq_ignore_ascii_case(tag))
}

/// A share of a route's clients sent to another pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Canary {
    /// Index into the config's pools.
    pub pool: usize,
    /// Percent of clients, 0 to 100.
    pub percent: u8,
}

/// Where the client's location comes from when the platform does not report it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClientLocation {
    /// Latitude and longitude headers (both or neither).
    pub point_headers: Option<(HeaderName, HeaderName)>,
    /// Country header.
    pub country_header: Option<HeaderName>,
    /// Continent header.
    pub continent_header: Option<HeaderName>,
    /// The fallback position.
    pub default: Option<GeoPoint>,
}

/// The continent codes `request.cf.continent` uses.
pub const CONTINENTS: [&str; 7] = ["AF", "AN", "AS", "EU", "NA", "OC", "SA"];
