//! One verdict per region: the shared health snapshot and this instance's own observations.
//!
//! The active prober (a cron trigger on Workers, an elected probe on Spin) writes a
//! [`Snapshot`] per region to KV; every instance also keeps a [`Breaker`] and an [`Outlier`]
//! per region from its own requests. [`region_health`] combines them, local evidence first:
//!
//! | local state | snapshot | verdict |
//! |---|---|---|
//! | ejected | any | unusable, [`Reason::Ejected`] |
//! | breaker refuses | any | unusable, [`Reason::BreakerOpen`] |
//! | admits | fresh, unhealthy | unusable, [`Reason::ProbeFailed`] |
//! | admits | fresh, healthy | usable, [`Reason::Healthy`] |
//! | admits | missing, or older than `max_age_ms` | usable, [`Reason::Unknown`] |
//!
//! A snapshot older than `max_age_ms` (seed [`DEFAULT_MAX_AGE_MS`], three probe intervals) is
//! *unknown*, not healthy: a prober that stopped writing must not keep a dead region in
//! rotation, and must not take a live one out either, so the passive state alone decides. A
//! snapshot dated in the future (clock skew between writer and reader) counts as age 0.
//!
//! This module never chooses a region and never decides what to do when no region is usable
//! (selection may then try the unusable ones in order, never a region outside residency).

use super::{Breaker, BreakerConfig, Outlier};
use crate::ports::UnixMillis;

/// Snapshots older than this are unknown: three 10 s probe intervals, milliseconds.
pub const DEFAULT_MAX_AGE_MS: u64 = 30_000;

/// What the active prober last found for one region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    /// Whether the region's shield answered its health check as healthy.
    pub healthy: bool,
    /// When the check ran, Unix milliseconds (the prober's clock).
    pub checked_at: UnixMillis,
}

impl Snapshot {
    /// Age at `now`, milliseconds (0 for a snapshot dated in the future).
    pub fn age(&self, now: UnixMillis) -> u64 {
        now.saturating_sub(self.checked_at)
    }

    /// Whether the snapshot is recent enough to believe at `now`.
    pub fn is_fresh(&self, max_age_ms: u64, now: UnixMillis) -> bool {
        self.age(now) <= max_age_ms
    }
}

/// This instance's passive view of one region at a given `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Local {
    /// Whether the region's breaker would admit a request.
    pub breaker_admits: bool,
    /// When the region's ejection ends, if it is ejected.
    pub ejected_until: Option<UnixMillis>,
}

impl Local {
    /// The passive view from a region's breaker and outlier state at `now`.
    pub fn of(breaker: &Breaker, config: &BreakerConfig, outlier: &Outlier, now: UnixMillis) -> Self {
        Local { breaker_admits: breaker.admits(config, now), ejected_until: outlier.ejected_until(now) }
    }
}

/// Why a region is, or is not, usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// A fresh snapshot says healthy and nothing local objects.
    Healthy,
    /// No fresh snapshot; nothing local objects.
    Unknown,
    /// A fresh snapshot says the health check failed.
    ProbeFailed,
    /// This instance's breaker for the region is open (or half-open with no trial free).
    BreakerOpen,
    /// This instance ejected the region after consecutive failures.
    Ejected {
        /// When the ejection ends, Unix milliseconds.
        until: UnixMillis,
    },
}

/// The verdict for one region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionHealth {
    /// Whether selection should send the region traffic.
    pub usable: bool,
    /// Why.
    pub reason: Reason,
}

/// Combines a region's `snapshot` (if any) with the `local` view at `now` (see module docs).
pub fn region_health(
    snapshot: Option<Snapshot>,
    max_age_ms: u64,
    local: Local,
    now: UnixMillis,
) -> RegionHealth {
    let verdict = |usable, reason| RegionHealth { usable, reason };
    if let Some(until) = local.ejected_until {
        return verdict(false, Reason::Ejected { until });
    }
    if !local.breaker_admits {
        return verdict(false, Reason::BreakerOpen);
    }
    match snapshot.filter(|s| s.is_fresh(max_age_ms, now)) {
        Some(Snapshot { healthy: true, .. }) => verdict(true, Reason::Healthy),
        Some(Snapshot { healthy: false, .. }) => verdict(false, Reason::ProbeFailed),
        None => verdict(true, Reason::Unknown),
    }
}
