//! The active prober: every region's shield health check, the verdicts it turns into, and the
//! snapshot every instance reads ([`crate::stages::health`]).
//!
//! [`Gateway::probe`] probes each region that is due (its `health_check.interval_ms` since its
//! last probe), all at once, each bounded by its `timeout_ms`; a 2xx answer is healthy, anything
//! else (another status, a timeout, no connection) is a failed probe. Thresholds turn probes
//! into verdicts ([`crate::health::probe::ProbeState`]). The prober's memory and the snapshot
//! live in KV under [`PROBE_STATE_KEY`] and [`SNAPSHOT_KEY`], so a stateless caller (a
//! Workers cron invocation, a Spin request) can run it.
//!
//! Who calls it: on Workers a cron trigger (`scheduled`), on Spin the instance that wins the
//! interval's election ([`Gateway::probe_if_elected`]): a one-per-interval exact limit on the
//! rate-limit counters (GCRA, one per interval, no burst), so at most one instance probes per interval.

use std::collections::BTreeMap;
use std::time::Duration;

use super::Gateway;
use crate::health::probe::ProbeState;
use crate::join::JoinAll;
use crate::ports::{Clock, Counters, Fetch, KeyValue, Level, Log, Ports};
use crate::ratelimit::counter::CounterCall;
use crate::ratelimit::lease::Grant;
use crate::ratelimit::{Algorithm, Rate};
use crate::stages::health::{HealthSnapshot, SNAPSHOT_KEY};

/// Where the prober keeps its per-region memory between runs.
pub const PROBE_STATE_KEY: &str = "health/probe-state";
/// The counter key of the probe election (Spin).
pub const PROBE_ELECTION_KEY: &str = "health|probe";
/// Largest health-check body read.
const PROBE_BODY_LIMIT: usize = 4096;

/// What one probe run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeReport {
    /// Regions probed this run, with whether each answered healthy.
    pub probed: Vec<(String, bool)>,
    /// Regions whose verdict changed, with the new verdict.
    pub changed: Vec<(String, bool)>,
    /// The snapshot published.
    pub snapshot: HealthSnapshot,
    /// The shortest health-check interval of the config's regions, milliseconds (`None`: no
    /// regions): how long a caller that probes in rounds waits before the next one.
    pub interval_ms: Option<u64>,
}

impl Gateway {
    /// Probes every region that is due and publishes the snapshot (see the module docs).
    pub async fn probe<P: Ports>(&self, ports: &P) -> Result<ProbeReport, String> {
        let config = self.live.current(ports).await.map_err(|e| e.to_string())?;
        let now = ports.clock().now();
        let mut states: BTreeMap<String, ProbeState> =
            read_json(ports, PROBE_STATE_KEY).await.unwrap_or_default();
        let mut snapshot: HealthSnapshot = read_json(ports, SNAPSHOT_KEY).await.unwrap_or_default();
        let due: Vec<usize> = (0..config.regions.len())
            .filter(|&i| {
                let region = &config.regions[i];
                states.get(&region.name).copied().unwrap_or_default().due(&region.health_check.probe, now)
            })
            .collect();
        let checks: Vec<_> = due
            .iter()
            .map(|&i| {
                let region = &config.regions[i];
                let url = format!("{}{}", region.shield, region.health_check.path);
                Box::pin(healthy(ports, url, region.health_check.timeout))
            })
            .collect();
        let results = JoinAll::new(checks).await;
        let interval_ms = config.regions.iter().map(|r| r.health_check.probe.settings().interval_ms).min();
        let mut report = ProbeReport { interval_ms, ..ProbeReport::default() };
        for (&i, ok) in due.iter().zip(results) {
            let region = &config.regions[i];
            let state = states.entry(region.name.clone()).or_default();
            let before = state.healthy;
            let published = state.on_probe(&region.health_check.probe, ok, now);
            snapshot.regions.insert(region.name.clone(), published);
            report.probed.push((region.name.clone(), ok));
            if published.healthy != before {
                report.changed.push((region.name.clone(), published.healthy));
                let verdict = if published.healthy { "healthy" } else { "unhealthy" };
                ports.log().record(Level::Warn, &format!("health: region {} is now {verdict}", region.name));
            }
        }
        snapshot.regions.retain(|name, _| config.regions.iter().any(|r| &r.name == name));
        states.retain(|name, _| config.regions.iter().any(|r| &r.name == name));
        write_json(ports, PROBE_STATE_KEY, &states).await?;
        write_json(ports, SNAPSHOT_KEY, &snapshot).await?;
        self.health.set_snapshot(snapshot.clone(), now);
        report.snapshot = snapshot;
        Ok(report)
    }

    /// Probes when this instance wins the interval's election (Spin, where no cron runs): at
    /// most one instance per shortest health-check interval, by an exact one-per-interval limit
    /// on the counters. `Ok(None)` when another instance has the interval or none is due.
    pub async fn probe_if_elected<P: Ports>(&self, ports: &P) -> Result<Option<ProbeReport>, String> {
        let config = self.live.current(ports).await.map_err(|e| e.to_string())?;
        let Some(interval) = config.regions.iter().map(|r| r.health_check.probe.settings().interval_ms).min()
        else {
            return Ok(None);
        };
        // No election while the snapshot this instance read says no region is due: most
        // requests then cost nothing, and the election key is contended only around a due probe.
        self.health.refresh(ports).await;
        if !self.health.probe_due(&config, ports.clock().now()) {
            return Ok(None);
        }
        let call = CounterCall {
            rate: Rate { algorithm: Algorithm::Gcra { burst: 1 }, limit: 1, period_ms: interval },
            instance: String::new(),
            cost: 1,
            want: 1,
            returned: None,
            max_tokens: Some(1),
        };
        let deadline = config.settings.rate_limit_deadline;
        match ports.counters().call(PROBE_ELECTION_KEY, &call, deadline).await {
            Ok(Grant::Lease(_)) => self.probe(ports).await.map(Some),
            Ok(Grant::Exhausted { .. }) => Ok(None),
            Err(error) => Err(format!("probe election: {error}")),
        }
    }
}

/// Whether `url` answers 2xx within `timeout`.
async fn healthy<P: Ports>(ports: &P, url: String, timeout: Duration) -> bool {
    matches!(ports.fetch().get(&url, timeout, PROBE_BODY_LIMIT).await, Ok(fetched) if fetched.status.is_success())
}

async fn read_json<P: Ports, T: serde::de::DeserializeOwned>(ports: &P, key: &str) -> Option<T> {
    let bytes = ports.kv().get(key).await.ok()??;
    serde_json::from_slice(&bytes).ok()
}

async fn write_json<P: Ports, T: serde::Serialize>(ports: &P, key: &str, value: &T) -> Result<(), String> {
    let bytes = serde_json::to_vec(value).map_err(|e| e.to_string())?;
    ports.kv().put(key, &bytes, None).await.map_err(|e| format!("writing {key}: {e}"))
}
