//! Passive outlier detection: eject a region that keeps failing real requests, for a time that
//! grows each time it is ejected again and shrinks back while it behaves.
//!
//! Two streaks are counted from the outcomes of real requests (no probes):
//!
//! - `consecutive_errors`: any failure (5xx, connect failure, timeout); reset by a success.
//! - `consecutive_unreachable`: connect failures and timeouts only; reset by any response,
//!   even a 5xx (the region answered). A dead region trips this one first.
//!
//! The `n`-th ejection lasts `base_ejection_ms × 2^(n − 1)`, capped at `max_ejection_ms`. For
//! every `decay_ms` a region spends un-ejected after an ejection ends, `n` drops by one, so a
//! region that flapped once a day ago is ejected for the base time again, not for the maximum.
//! Results that arrive while a region is ejected (requests sent before it was) are ignored.
//!
//! Pure: never reads a clock, never decides what happens when every region is ejected (that is
//! selection's call, see `observed`).

use super::{Outcome, SettingProblems, backoff};
use crate::ports::UnixMillis;

/// Outlier detection settings as written, seed figures by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutlierSettings {
    /// Consecutive failures of any kind that eject a region (seed 5).
    pub consecutive_errors: u32,
    /// Consecutive connect failures or timeouts that eject a region (seed 3).
    pub consecutive_unreachable: u32,
    /// First ejection, milliseconds (seed 10 000, one health-check interval).
    pub base_ejection_ms: u64,
    /// Longest ejection, milliseconds (seed 300 000).
    pub max_ejection_ms: u64,
    /// Un-ejected time that takes one doubling off the next ejection, milliseconds
    /// (seed 30 000).
    pub decay_ms: u64,
}

impl Default for OutlierSettings {
    fn default() -> Self {
        OutlierSettings {
            consecutive_errors: 5,
            consecutive_unreachable: 3,
            base_ejection_ms: 10_000,
            max_ejection_ms: 300_000,
            decay_ms: 30_000,
        }
    }
}

/// Validated outlier settings (see [`OutlierSettings`]); `Default` is the seed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutlierConfig(OutlierSettings);

impl OutlierConfig {
    /// The settings, as validated.
    pub fn settings(&self) -> &OutlierSettings {
        &self.0
    }
}

/// Longest interval accepted in the settings: one hour.
const MAX_MS: u64 = 3_600_000;

impl TryFrom<OutlierSettings> for OutlierConfig {
    type Error = SettingProblems;

    fn try_from(s: OutlierSettings) -> Result<Self, SettingProblems> {
        let mut p = SettingProblems(Vec::new());
        p.check(s.consecutive_errors == 0, ".consecutive_errors", "must be at least 1");
        p.check(s.consecutive_unreachable == 0, ".consecutive_unreachable", "must be at least 1");
        let base_ok = (1..=MAX_MS).contains(&s.base_ejection_ms);
        p.check(!base_ok, ".base_ejection_ms", "must be 1 ms to 1 h");
        let max_low = s.max_ejection_ms < s.base_ejection_ms;
        p.check(max_low, ".max_ejection_ms", "must be at least base_ejection_ms");
        p.check(s.max_ejection_ms > MAX_MS, ".max_ejection_ms", "must be at most 1 h");
        p.check(!(1..=MAX_MS).contains(&s.decay_ms), ".decay_ms", "must be 1 ms to 1 h");
        p.into_result(OutlierConfig(s))
    }
}

/// One region's passive outlier state (starts un-ejected).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Outlier {
    consecutive_errors: u32,
    consecutive_unreachable: u32,
    /// The multiplier of the last ejection (before decay).
    ejections: u32,
    /// End of the last ejection, Unix milliseconds (0: never ejected).
    ejected_until: UnixMillis,
}

impl Outlier {
    /// Whether the region is ejected at `now`.
    pub fn is_ejected(&self, now: UnixMillis) -> bool {
        now < self.ejected_until
    }

    /// When the current ejection ends, if the region is ejected at `now`.
    pub fn ejected_until(&self, now: UnixMillis) -> Option<UnixMillis> {
        self.is_ejected(now).then_some(self.ejected_until)
    }

    /// The ejection count at `now` after decay: the next ejection is number `this + 1`.
    pub fn ejections_at(&self, config: &OutlierConfig, now: UnixMillis) -> u32 {
        if self.is_ejected(now) {
            return self.ejections;
        }
        let healthy_for = now.saturating_sub(self.ejected_until);
        let steps = healthy_for / config.settings().decay_ms;
        self.ejections.saturating_sub(u32::try_from(steps).unwrap_or(u32::MAX))
    }

    /// Records a request's `outcome` at `now`; `true` when it ejected the region.
    pub fn on_result(&mut self, config: &OutlierConfig, outcome: Outcome, now: UnixMillis) -> bool {
        if self.is_ejected(now) {
            return false;
        }
        let s = config.settings();
        if !outcome.is_failure() {
            (self.consecutive_errors, self.consecutive_unreachable) = (0, 0);
            return false;
        }
        self.consecutive_errors = self.consecutive_errors.saturating_add(1);
        self.consecutive_unreachable =
            if outcome.is_unreachable() { self.consecutive_unreachable.saturating_add(1) } else { 0 };
        let tripped = self.consecutive_errors >= s.consecutive_errors
            || self.consecutive_unreachable >= s.consecutive_unreachable;
        if tripped {
            self.eject(config, now);
        }
        tripped
    }

    fn eject(&mut self, config: &OutlierConfig, now: UnixMillis) {
        let s = config.settings();
        let n = self.ejections_at(config, now).saturating_add(1);
        let duration = backoff(s.base_ejection_ms, s.max_ejection_ms, n);
        *self = Outlier { ejections: n, ejected_until: now.saturating_add(duration), ..Outlier::default() };
    }
}
