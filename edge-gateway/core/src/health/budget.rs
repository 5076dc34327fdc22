//! The retry budget: how many retries the gateway may add on top of the requests it was sent.
//!
//! Over the sliding window (see [`super::window`]), a retry is allowed while
//!
//! ```text
//! retries < requests × ratio_percent / 100 + min_retries_per_s × window_ms / 1000
//! ```
//!
//! `requests` counts first attempts only ([`RetryBudget::record_request`]); every further
//! attempt, to the same region or the next, is a retry ([`RetryBudget::record_retry`]). So a
//! regional outage adds at most `ratio_percent` to upstream load (seed 20 %) plus the floor,
//! which keeps failover working for a quiet route that has too few requests to earn retries.
//! A refused retry charges nothing. Everything is integer arithmetic over a fixed ring of
//! buckets: no clock (every call takes `now`), no allocation, no I/O.
//!
//! One budget per pool and instance is the intended grain: each instance spends its own, so the
//! bound holds per instance and therefore for their sum.

use super::SettingProblems;
use super::window::{BUCKETS, Tally, Window};
use crate::ports::UnixMillis;

/// Retry budget settings as written, seed figures by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetSettings {
    /// Retries allowed per hundred requests in the window (seed 20).
    pub ratio_percent: u32,
    /// Retries allowed per second of window whatever the traffic (seed 10).
    pub min_retries_per_s: u32,
    /// The window, milliseconds (seed 10 000).
    pub window_ms: u64,
}

impl Default for BudgetSettings {
    fn default() -> Self {
        BudgetSettings { ratio_percent: 20, min_retries_per_s: 10, window_ms: 10_000 }
    }
}

/// Validated retry budget settings (see [`BudgetSettings`]); `Default` is the seed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BudgetConfig(BudgetSettings);

impl BudgetConfig {
    /// The settings, as validated.
    pub fn settings(&self) -> &BudgetSettings {
        &self.0
    }

    /// Retries the window allows whatever the traffic.
    pub fn floor(&self) -> u64 {
        u64::from(self.0.min_retries_per_s) * self.0.window_ms / 1000
    }

    /// Retries the window allows for `requests` first attempts.
    pub fn allowance(&self, requests: u64) -> u64 {
        requests.saturating_mul(u64::from(self.0.ratio_percent)) / 100 + self.floor()
    }
}

impl TryFrom<BudgetSettings> for BudgetConfig {
    type Error = SettingProblems;

    fn try_from(s: BudgetSettings) -> Result<Self, SettingProblems> {
        let mut p = SettingProblems(Vec::new());
        p.check(s.ratio_percent > 100, ".ratio_percent", "must be 0 to 100");
        p.check(s.min_retries_per_s > 1_000, ".min_retries_per_s", "must be 0 to 1000");
        let window_ok = (1_000..=3_600_000).contains(&s.window_ms);
        p.check(!window_ok, ".window_ms", "must be 1 s to 1 h");
        let whole = s.window_ms.is_multiple_of(BUCKETS as u64);
        p.check(!whole, ".window_ms", "must be a multiple of 10 ms");
        p.into_result(BudgetConfig(s))
    }
}

/// First attempts and retries in one window bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Attempts {
    /// First attempts.
    pub requests: u32,
    /// Retries.
    pub retries: u32,
}

impl Tally for Attempts {
    fn plus(self, o: Self) -> Self {
        Attempts {
            requests: self.requests.saturating_add(o.requests),
            retries: self.retries.saturating_add(o.retries),
        }
    }
}

/// One pool's retry budget (starts empty: only the floor is available).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetryBudget {
    window: Window<Attempts>,
}

impl RetryBudget {
    /// First attempts and retries counted in the window at `now`.
    pub fn seen(&self, config: &BudgetConfig, now: UnixMillis) -> Attempts {
        self.window.total(config.settings().window_ms, now)
    }

    /// Counts a first attempt at `now`.
    pub fn record_request(&mut self, config: &BudgetConfig, now: UnixMillis) {
        let window_ms = config.settings().window_ms;
        self.window.record(window_ms, now, |a| a.requests = a.requests.saturating_add(1));
    }

    /// Counts a retry at `now`, whether or not the budget allowed it (prefer
    /// [`RetryBudget::try_retry`]).
    pub fn record_retry(&mut self, config: &BudgetConfig, now: UnixMillis) {
        let window_ms = config.settings().window_ms;
        self.window.record(window_ms, now, |a| a.retries = a.retries.saturating_add(1));
    }

    /// Whether one more retry fits the budget at `now`.
    pub fn may_retry(&self, config: &BudgetConfig, now: UnixMillis) -> bool {
        let seen = self.seen(config, now);
        u64::from(seen.retries) < config.allowance(u64::from(seen.requests))
    }

    /// Takes one retry from the budget at `now` if it fits; a refusal changes nothing.
    pub fn try_retry(&mut self, config: &BudgetConfig, now: UnixMillis) -> bool {
        let allowed = self.may_retry(config, now);
        if allowed {
            self.record_retry(config, now);
        }
        allowed
    }
}
