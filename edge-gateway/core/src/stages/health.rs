//! What an instance knows about region health: its own breakers and ejections per region, the
//! retry budget per pool, and the shared snapshot the active prober writes to KV.
//!
//! The passive state lives as long as the instance (a Workers isolate keeps it across
//! requests; a Spin instance serves one request, so there only the snapshot and the request's
//! own attempts count). The snapshot is read from KV under [`SNAPSHOT_KEY`] at most every
//! [`SNAPSHOT_REFRESH_MS`]; a missing or unreadable one leaves every region *unknown*, which
//! the passive state alone then decides ([`crate::health::observed`]).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::config::{Config, Pool};
use crate::health::breaker::BreakerState;
use crate::health::observed::{DEFAULT_MAX_AGE_MS, Local};
use crate::health::{
    Breaker, Outcome, Outlier, Permit, Reason, RegionHealth, RetryBudget, Snapshot, region_health,
};
use crate::ports::{Clock, KeyValue, Level, Log, Ports, UnixMillis};

/// Where the prober publishes the regions' health.
pub const SNAPSHOT_KEY: &str = "health/snapshot";
/// How often an instance re-reads the snapshot.
pub const SNAPSHOT_REFRESH_MS: u64 = 5_000;

/// The prober's published view: one snapshot per region name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthSnapshot {
    /// By region name.
    pub regions: BTreeMap<String, Snapshot>,
}

/// One region as this instance sees it, for the status page and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionView {
    /// The region's name.
    pub name: String,
    /// The verdict.
    pub health: RegionHealth,
    /// The prober's last word, if any.
    pub snapshot: Option<Snapshot>,
    /// This instance's breaker for the region.
    pub breaker: BreakerState,
}

#[derive(Debug, Default, Clone, Copy)]
struct RegionState {
    breaker: Breaker,
    outlier: Outlier,
}

/// An instance's health state.
#[derive(Debug, Default)]
pub struct Health {
    regions: RefCell<HashMap<String, RegionState>>,
    budgets: RefCell<HashMap<String, RetryBudget>>,
    snapshot: RefCell<Option<(UnixMillis, HealthSnapshot)>>,
}

impl Health {
    /// Re-reads the shared snapshot when the one held is older than [`SNAPSHOT_REFRESH_MS`].
    pub async fn refresh<P: Ports>(&self, ports: &P) {
        let now = ports.clock().now();
        let due = self
            .snapshot
            .borrow()
            .as_ref()
            .is_none_or(|(at, _)| now.saturating_sub(*at) >= SNAPSHOT_REFRESH_MS);
        if !due {
            return;
        }
        let read = match ports.kv().get(SNAPSHOT_KEY).await {
            Ok(Some(bytes)) => serde_json::from_slice::<HealthSnapshot>(&bytes).map_err(|e| e.to_string()),
            Ok(None) => Ok(HealthSnapshot::default()),
            Err(error) => Err(error.to_string()),
        };
        let snapshot = read.unwrap_or_else(|reason| {
            ports
                .log()
                .record(Level::Warn, &format!("health: snapshot unreadable ({reason}); regions unknown"));
            HealthSnapshot::default()
        });
        *self.snapshot.borrow_mut() = Some((now, snapshot));
    }

    /// Replaces the snapshot (the prober, right after writing it).
    pub fn set_snapshot(&self, snapshot: HealthSnapshot, now: UnixMillis) {
        *self.snapshot.borrow_mut() = Some((now, snapshot));
    }

    fn snapshot_of(&self, region: &str) -> Option<Snapshot> {
        self.snapshot.borrow().as_ref().and_then(|(_, s)| s.regions.get(region).copied())
    }

    /// Whether the snapshot read last leaves some region unprobed for a full interval (or
    /// unprobed at all): then a probe is due somewhere.
    pub fn probe_due(&self, config: &Config, now: UnixMillis) -> bool {
        config.regions.iter().any(|region| {
            let interval = region.health_check.probe.settings().interval_ms;
            self.snapshot_of(&region.name).is_none_or(|s| now.saturating_sub(s.checked_at) >= interval)
        })
    }

    /// The verdict for region `index` of `config`, under `pool`'s breaker settings.
    pub fn verdict(&self, config: &Config, pool: &Pool, index: usize, now: UnixMillis) -> RegionHealth {
        let region = &config.regions[index];
        let state = self.regions.borrow().get(&region.name).copied().unwrap_or_default();
        let local = Local::of(&state.breaker, &pool.failover.breaker, &state.outlier, now);
        let max_age =
            region.health_check.probe.settings().interval_ms.saturating_mul(3).max(DEFAULT_MAX_AGE_MS);
        region_health(self.snapshot_of(&region.name), max_age, local, now)
    }

    /// Every region of `config` as seen now (under the first pool that lists it).
    pub fn views(&self, config: &Config, now: UnixMillis) -> Vec<RegionView> {
        (0..config.regions.len())
            .map(|index| {
                let pool = config.pools.iter().find(|p| p.regions.contains(&index));
                let health = match pool {
                    Some(pool) => self.verdict(config, pool, index, now),
                    None => RegionHealth { usable: true, reason: Reason::Unknown },
                };
                let name = config.regions[index].name.clone();
                let snapshot = self.snapshot_of(&name);
                let breaker =
                    self.regions.borrow().get(&name).map_or(BreakerState::Closed, |s| s.breaker.state());
                RegionView { name, health, snapshot, breaker }
            })
            .collect()
    }

    /// Takes a permit from the region's breaker for one attempt (`Normal` when the breaker
    /// refuses: a region tried only because nothing better is left still reports results).
    pub fn permit(&self, pool: &Pool, region: &str, now: UnixMillis) -> Permit {
        let mut regions = self.regions.borrow_mut();
        let state = regions.entry(region.to_owned()).or_default();
        state.breaker.try_acquire(&pool.failover.breaker, now).unwrap_or(Permit::Normal)
    }

    /// Records one attempt's outcome; `true` when it ejected the region.
    pub fn observe(
        &self,
        pool: &Pool,
        region: &str,
        permit: Permit,
        outcome: Outcome,
        now: UnixMillis,
    ) -> bool {
        let mut regions = self.regions.borrow_mut();
        let state = regions.entry(region.to_owned()).or_default();
        state.breaker.on_result(&pool.failover.breaker, permit, outcome, now);
        state.outlier.on_result(&pool.failover.outlier, outcome, now)
    }

    /// Counts a first attempt against `pool`'s retry budget.
    pub fn record_request(&self, pool: &Pool, now: UnixMillis) {
        self.budgets
            .borrow_mut()
            .entry(pool.name.clone())
            .or_default()
            .record_request(&pool.failover.budget, now);
    }

    /// Takes one retry from `pool`'s budget; `false` when it is spent.
    pub fn try_retry(&self, pool: &Pool, now: UnixMillis) -> bool {
        self.budgets.borrow_mut().entry(pool.name.clone()).or_default().try_retry(&pool.failover.budget, now)
    }
}
