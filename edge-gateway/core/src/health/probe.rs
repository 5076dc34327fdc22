//! Active health checks: when a region is due a probe, how probe results flip its verdict, and
//! which instance probes when several could.
//!
//! A region turns unhealthy after `unhealthy_threshold` consecutive failed probes (seed 3, one
//! every 10 s) and healthy again after `healthy_threshold` consecutive good ones (seed 2), so
//! one lost probe neither takes a region out nor one lucky probe brings it back. The state is a
//! plain record ([`ProbeState`]) because the prober is stateless between runs (a Workers cron
//! invocation, a Spin request): it reads the record with the snapshot, probes, and writes both.
//!
//! On a runtime with no cron, instances elect the prober per interval with a [`Lease`] swapped
//! in with compare-and-swap: [`claim`] says whether this instance may take it. Pure: this
//! module never sends a probe, never reads or writes the store and never reads a clock.

use super::{SettingProblems, Snapshot};
use crate::ports::UnixMillis;

/// Health-check settings as written, seed figures by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeSettings {
    /// Time between probes of a region, milliseconds (seed 10 000).
    pub interval_ms: u64,
    /// Consecutive failed probes that make a region unhealthy (seed 3).
    pub unhealthy_threshold: u32,
    /// Consecutive good probes that make an unhealthy region healthy (seed 2).
    pub healthy_threshold: u32,
}

impl Default for ProbeSettings {
    fn default() -> Self {
        ProbeSettings { interval_ms: 10_000, unhealthy_threshold: 3, healthy_threshold: 2 }
    }
}

/// Validated health-check settings (see [`ProbeSettings`]); `Default` is the seed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProbeConfig(ProbeSettings);

impl ProbeConfig {
    /// The settings, as validated.
    pub fn settings(&self) -> &ProbeSettings {
        &self.0
    }
}

impl TryFrom<ProbeSettings> for ProbeConfig {
    type Error = SettingProblems;

    fn try_from(s: ProbeSettings) -> Result<Self, SettingProblems> {
        let mut p = SettingProblems(Vec::new());
        let interval_ok = (1_000..=3_600_000).contains(&s.interval_ms);
        p.check(!interval_ok, ".interval_ms", "must be 1 s to 1 h");
        p.check(s.unhealthy_threshold == 0, ".unhealthy_threshold", "must be at least 1");
        p.check(s.healthy_threshold == 0, ".healthy_threshold", "must be at least 1");
        p.into_result(ProbeConfig(s))
    }
}

/// What the prober remembers about one region between runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProbeState {
    /// The current verdict (a region never probed is taken as healthy).
    pub healthy: bool,
    /// Failed probes in a row.
    pub failures: u32,
    /// Good probes in a row.
    pub successes: u32,
    /// When the last probe ran, Unix milliseconds (`None`: never).
    pub last_probe_at: Option<UnixMillis>,
}

impl Default for ProbeState {
    fn default() -> Self {
        ProbeState { healthy: true, failures: 0, successes: 0, last_probe_at: None }
    }
}

impl ProbeState {
    /// Whether the region is due a probe at `now` (a full interval since the last one).
    pub fn due(&self, config: &ProbeConfig, now: UnixMillis) -> bool {
        self.last_probe_at.is_none_or(|at| now.saturating_sub(at) >= config.settings().interval_ms)
    }

    /// Records a probe that ran at `now` (`ok`: the shield answered healthy in time) and
    /// returns the snapshot to publish.
    pub fn on_probe(&mut self, config: &ProbeConfig, ok: bool, now: UnixMillis) -> Snapshot {
        let s = config.settings();
        if ok {
            (self.successes, self.failures) = (self.successes.saturating_add(1), 0);
            self.healthy |= self.successes >= s.healthy_threshold;
        } else {
            (self.failures, self.successes) = (self.failures.saturating_add(1), 0);
            self.healthy &= self.failures < s.unhealthy_threshold;
        }
        self.last_probe_at = Some(now);
        Snapshot { healthy: self.healthy, checked_at: now }
    }
}

/// Who probes until when, as stored under one key and replaced by compare-and-swap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The instance holding it.
    pub holder: String,
    /// When it lapses, Unix milliseconds.
    pub until: UnixMillis,
}

/// The lease `me` should swap in at `now` for one interval, or `None` when another instance
/// holds a lease that has not lapsed (`me` renews its own).
pub fn claim(current: Option<&Lease>, me: &str, config: &ProbeConfig, now: UnixMillis) -> Option<Lease> {
    let free = current.is_none_or(|l| l.holder == me || now >= l.until);
    let until = now.saturating_add(config.settings().interval_ms);
    free.then(|| Lease { holder: me.to_owned(), until })
}
