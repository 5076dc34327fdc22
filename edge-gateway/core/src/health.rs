//! Region health: whether a region should be sent traffic now, learned from what happened.
//!
//! Pure state machines, one per concern, each fed the outcome of every attempt and asked a
//! question with `now`:
//!
//! - [`breaker`]: a per-region circuit breaker. Closed → open after consecutive failures or an
//!   error rate over a sliding window → half-open after an interval that grows on every
//!   re-opening → closed after consecutive trial successes.
//! - [`outlier`]: passive outlier detection. Consecutive errors eject a region for an
//!   exponentially growing time; the growth decays away while the region stays healthy.
//! - [`budget`]: the retry budget. Retries stay within a fraction of requests over a sliding
//!   window plus a small floor, so an outage cannot multiply upstream load.
//! - [`probe`]: active health checks: when a probe is due, how results flip a region's
//!   verdict (failure and success thresholds), and which instance probes when several could.
//! - [`observed`]: one verdict per region from the shared health snapshot (written by the
//!   active prober, read from KV with its age) and the local passive state above.
//! - [`window`]: the bucketed sliding-window counts the breaker and the budget share.
//!
//! This module never reads a clock (every function takes `now`), never performs I/O, never
//! classifies a response on its own (the caller turns a response into an [`Outcome`], see
//! [`Outcome::of_status`]) and never chooses a region: selection reads [`observed`]'s verdicts.
//! Passive state (breaker, outlier, budget) is per isolate / per instance; what instances share
//! is the prober's snapshot and its [`probe::ProbeState`], kept in KV by the adapters.
//!
//! Settings arrive as plain `*Settings` structs whose `Default` is the seed figure set, and
//! become validated `*Config`s through `TryFrom`, which reports every problem at once with its
//! path relative to the settings block (see [`SettingProblems`]).

pub mod breaker;
pub mod budget;
pub mod observed;
pub mod outlier;
pub mod probe;
pub mod window;

pub use breaker::{Breaker, BreakerConfig, BreakerSettings, Permit};
pub use budget::{BudgetConfig, BudgetSettings, RetryBudget};
pub use observed::{Local, Reason, RegionHealth, Snapshot, region_health};
pub use outlier::{Outlier, OutlierConfig, OutlierSettings};

/// What one attempt against a region came to, as the forward loop classified it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// The region answered with something other than a server error.
    Success,
    /// The region answered 5xx.
    ServerError,
    /// No connection could be made (refused, reset before a response, DNS, TLS).
    ConnectFailure,
    /// No response within the attempt's timeout.
    Timeout,
}

impl Outcome {
    /// A response's status as an outcome: 5xx is [`Outcome::ServerError`], anything else
    /// [`Outcome::Success`] (a 4xx is the client's problem, not the region's).
    pub fn of_status(status: u16) -> Self {
        if (500..=599).contains(&status) { Outcome::ServerError } else { Outcome::Success }
    }

    /// Whether this outcome counts against the region.
    pub fn is_failure(self) -> bool {
        self != Outcome::Success
    }

    /// Whether the region could not be reached at all (connect failure or timeout).
    pub fn is_unreachable(self) -> bool {
        matches!(self, Outcome::ConnectFailure | Outcome::Timeout)
    }
}

/// Every problem of one health settings block, each as `(path relative to the block, reason)`,
/// e.g. `(".open_max_ms", "must be at least open_base_ms")`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid health settings: {}", .0.iter().map(|(p, r)| format!("{p}: {r}")).collect::<Vec<_>>().join("; "))]
pub struct SettingProblems(pub Vec<(String, String)>);

impl SettingProblems {
    /// Records `reason` for `path` when `bad`.
    fn check(&mut self, bad: bool, path: &str, reason: &str) {
        if bad {
            self.0.push((path.to_owned(), reason.to_owned()));
        }
    }

    /// `Ok(value)` when no problem was recorded.
    fn into_result<T>(self, value: T) -> Result<T, SettingProblems> {
        if self.0.is_empty() { Ok(value) } else { Err(self) }
    }
}

/// `base × 2^(n − 1)`, capped at `max` (`n = 0` is treated as 1).
fn backoff(base_ms: u64, max_ms: u64, n: u32) -> u64 {
    let shift = n.saturating_sub(1).min(63);
    base_ms.saturating_mul(1u64 << shift).min(max_ms)
}

#[cfg(test)]
mod tests {
    use super::backoff;

    #[test]
    fn backoff_doubles_and_saturates_at_the_cap() {
        let table = [(0, 5), (1, 5), (2, 10), (3, 20), (5, 60), (64, 60), (u32::MAX, 60)];
        for (n, want) in table {
            assert_eq!(backoff(5, 60, n), want, "n {n}");
        }
        assert_eq!(backoff(u64::MAX / 2, u64::MAX, 3), u64::MAX, "overflow saturates");
    }
}
