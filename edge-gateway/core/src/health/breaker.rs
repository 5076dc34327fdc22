//! A per-region circuit breaker: stop sending a region traffic it keeps failing, and let a few
//! trial requests tell when it is back.
//!
//! ```text
//!            N consecutive failures, or ≥ rate% failed of ≥ min_requests in the window
//!   Closed ───────────────────────────────────────────────────────────────────────▶ Open
//!     ▲                                                                       │  ▲
//!     │ K consecutive trial successes          open interval elapsed (lazily) │  │ any trial
//!     └──────────────────────────────── HalfOpen ◀────────────────────────────┘  │ fails
//!                                           └────────────────────────────────────┘
//! ```
//!
//! The open interval is `open_base_ms × 2^(openings − 1)`, capped at `open_max_ms`, where
//! `openings` counts the times the breaker opened since it was last closed: a region that fails
//! its trials is tried less and less often, and one that recovers starts again from the base.
//! Half-open admits at most `half_open_trials` trials at a time; a trial whose result never
//! comes back frees its permit after `trial_timeout_ms`, so a lost result cannot wedge the
//! breaker half-open.
//!
//! A result is reported with the [`Permit`] its request was admitted under: a late result of a
//! request admitted while closed never counts as a trial, and a late trial result after the
//! breaker moved on is ignored. Pure: no clock (every call takes `now`), no I/O.

use super::window::{BUCKETS, Tally, Window};
use super::{Outcome, SettingProblems, backoff};
use crate::ports::UnixMillis;

/// The breaker's settings as written, seed figures by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    /// Consecutive failures that open the breaker (seed 5).
    pub consecutive_failures: u32,
    /// Failed share of requests in the window, percent, that opens the breaker (seed 50).
    pub error_rate_percent: u32,
    /// The error-rate window, milliseconds (seed 10 000).
    pub window_ms: u64,
    /// Requests the window must hold before its error rate counts (seed 20).
    pub min_requests: u32,
    /// First open interval, milliseconds (seed 5 000).
    pub open_base_ms: u64,
    /// Longest open interval, milliseconds (seed 60 000).
    pub open_max_ms: u64,
    /// Trials admitted at a time while half-open (seed 3).
    pub half_open_trials: u32,
    /// After this long without a result, a trial's permit is given back (seed 10 000).
    pub trial_timeout_ms: u64,
    /// Consecutive trial successes that close the breaker (seed 5).
    pub close_after_successes: u32,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        BreakerSettings {
            consecutive_failures: 5,
            error_rate_percent: 50,
            window_ms: 10_000,
            min_requests: 20,
            open_base_ms: 5_000,
            open_max_ms: 60_000,
            half_open_trials: 3,
            trial_timeout_ms: 10_000,
            close_after_successes: 5,
        }
    }
}

/// Validated breaker settings (see [`BreakerSettings`]); `Default` is the seed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BreakerConfig(BreakerSettings);

impl BreakerConfig {
    /// The settings, as validated.
    pub fn settings(&self) -> &BreakerSettings {
        &self.0
    }
}

/// Longest interval accepted anywhere in the breaker's settings: one hour.
const MAX_MS: u64 = 3_600_000;

impl TryFrom<BreakerSettings> for BreakerConfig {
    type Error = SettingProblems;

    fn try_from(s: BreakerSettings) -> Result<Self, SettingProblems> {
        let mut p = SettingProblems(Vec::new());
        p.check(s.consecutive_failures == 0, ".consecutive_failures", "must be at least 1");
        p.check(!(1..=100).contains(&s.error_rate_percent), ".error_rate_percent", "must be 1 to 100");
        p.check(!(1_000..=MAX_MS).contains(&s.window_ms), ".window_ms", "must be 1 s to 1 h");
        let whole = s.window_ms.is_multiple_of(BUCKETS as u64);
        p.check(!whole, ".window_ms", "must be a multiple of 10 ms");
        p.check(s.min_requests == 0, ".min_requests", "must be at least 1");
        p.check(!(1..=MAX_MS).contains(&s.open_base_ms), ".open_base_ms", "must be 1 ms to 1 h");
        p.check(s.open_max_ms < s.open_base_ms, ".open_max_ms", "must be at least open_base_ms");
        p.check(s.open_max_ms > MAX_MS, ".open_max_ms", "must be at most 1 h");
        p.check(s.half_open_trials == 0, ".half_open_trials", "must be at least 1");
        p.check(!(1..=MAX_MS).contains(&s.trial_timeout_ms), ".trial_timeout_ms", "must be 1 ms to 1 h");
        p.check(s.close_after_successes == 0, ".close_after_successes", "must be at least 1");
        p.into_result(BreakerConfig(s))
    }
}

/// Where the breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Traffic flows; failures are counted.
    Closed,
    /// No traffic until `until`, then half-open.
    Open {
        /// When the open interval ends, Unix milliseconds.
        until: UnixMillis,
    },
    /// A few trials at a time decide whether to close or open again.
    HalfOpen {
        /// Trials admitted whose result has not come back.
        in_flight: u32,
        /// Consecutive trial successes so far.
        successes: u32,
        /// When the last trial was admitted.
        last_trial_at: UnixMillis,
    },
}

/// Under which state a request was admitted; hand it back with the request's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    /// Admitted while closed.
    Normal,
    /// Admitted as a half-open trial.
    Trial,
}

/// Requests and failures in one window bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Outcomes {
    requests: u32,
    failures: u32,
}

impl Tally for Outcomes {
    fn plus(self, o: Self) -> Self {
        Outcomes {
            requests: self.requests.saturating_add(o.requests),
            failures: self.failures.saturating_add(o.failures),
        }
    }
}

/// One region's circuit breaker (starts closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Breaker {
    state: BreakerState,
    consecutive_failures: u32,
    openings: u32,
    window: Window<Outcomes>,
}

impl Default for Breaker {
    fn default() -> Self {
        Breaker {
            state: BreakerState::Closed,
            consecutive_failures: 0,
            openings: 0,
            window: Window::default(),
        }
    }
}

impl Breaker {
    /// The state as stored (an open breaker whose interval has passed still reads
    /// [`BreakerState::Open`] until the next [`Breaker::try_acquire`]).
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// Times the breaker opened since it was last closed (sets the open interval).
    pub fn openings(&self) -> u32 {
        self.openings
    }

    /// Whether [`Breaker::try_acquire`] would admit a request at `now`, without taking a permit.
    pub fn admits(&self, config: &BreakerConfig, now: UnixMillis) -> bool {
        let mut probe = *self;
        probe.try_acquire(config, now).is_some()
    }

    /// Admits a request at `now` and says under which state, or refuses it (`None`).
    pub fn try_acquire(&mut self, config: &BreakerConfig, now: UnixMillis) -> Option<Permit> {
        let s = config.settings();
        if let BreakerState::Open { until } = self.state {
            if now < until {
                return None;
            }
            self.state = BreakerState::HalfOpen { in_flight: 0, successes: 0, last_trial_at: now };
        }
        match &mut self.state {
            BreakerState::Closed => Some(Permit::Normal),
            BreakerState::Open { .. } => None,
            BreakerState::HalfOpen { in_flight, last_trial_at, .. } => {
                if now.saturating_sub(*last_trial_at) >= s.trial_timeout_ms {
                    *in_flight = 0; // their results are lost: give the permits back
                }
                if *in_flight >= s.half_open_trials {
                    return None;
                }
                *in_flight += 1;
                *last_trial_at = now;
                Some(Permit::Trial)
            }
        }
    }

    /// Records the `outcome` of a request admitted under `permit`, at `now`.
    pub fn on_result(&mut self, config: &BreakerConfig, permit: Permit, outcome: Outcome, now: UnixMillis) {
        match (&mut self.state, permit) {
            (BreakerState::Closed, Permit::Normal) => self.on_closed_result(config, outcome, now),
            (BreakerState::HalfOpen { in_flight, successes, .. }, Permit::Trial) => {
                *in_flight = in_flight.saturating_sub(1);
                if outcome.is_failure() {
                    self.open(config, now);
                } else {
                    *successes += 1;
                    if *successes >= config.settings().close_after_successes {
                        *self = Breaker::default();
                    }
                }
            }
            // A late result from an earlier state says nothing about this one.
            _ => {}
        }
    }

    fn on_closed_result(&mut self, config: &BreakerConfig, outcome: Outcome, now: UnixMillis) {
        let s = config.settings();
        let failed = outcome.is_failure();
        self.window.record(s.window_ms, now, |c| {
            c.requests = c.requests.saturating_add(1);
            c.failures = c.failures.saturating_add(u32::from(failed));
        });
        if !failed {
            self.consecutive_failures = 0;
            return;
        }
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        let seen = self.window.total(s.window_ms, now);
        let rate_tripped = seen.requests >= s.min_requests
            && u64::from(seen.failures) * 100 >= u64::from(s.error_rate_percent) * u64::from(seen.requests);
        if self.consecutive_failures >= s.consecutive_failures || rate_tripped {
            self.open(config, now);
        }
    }

    /// Opens the breaker at `now` for the interval its openings call for.
    fn open(&mut self, config: &BreakerConfig, now: UnixMillis) {
        let s = config.settings();
        self.openings = self.openings.saturating_add(1);
        let interval = backoff(s.open_base_ms, s.open_max_ms, self.openings);
        self.state = BreakerState::Open { until: now.saturating_add(interval) };
        self.consecutive_failures = 0;
        self.window = Window::default();
    }
}
