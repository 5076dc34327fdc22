//! Rate limits: the pure arithmetic every counter store shares.
//!
//! This module decides whether a request of a given cost fits a limit *now*, and what the
//! counter's state becomes. It never reads a clock (every function takes `now`), never talks to
//! a store and never builds an HTTP response: the Durable Object, KV and Spin adapters keep the
//! state, the rate-limit stage calls these functions, and [`headers`] only formats fields.
//!
//! - [`sliding`]: the sliding-window counter (two aligned fixed windows, the previous one
//!   weighted by how much of it still overlaps the sliding window).
//! - [`gcra`]: the generic cell rate algorithm, a token bucket kept as one timestamp.
//! - [`hierarchy`]: several policies on one request; all must admit, and only then is any
//!   charged.
//! - [`lease`]: exact global limits with few round trips: how many tokens a counter lends an
//!   instance, for how long, and what happens to unused ones.
//! - [`approximate`]: per-instance counts merged through eventually consistent storage.
//! - [`counter`]: the counter store's side of a lease, one pure step every store runs.
//! - [`key`]: which counter a request is charged to.
//! - [`policy`]: the validated policies of the routes document.
//!
//! A request that is refused never changes any state: every `decide` returns the state it was
//! given when it refuses.

pub mod approximate;
pub mod counter;
pub mod gcra;
pub mod headers;
pub mod hierarchy;
pub mod key;
pub mod lease;
pub mod policy;
pub mod sliding;

use std::time::Duration;

use crate::ports::UnixMillis;

pub use gcra::GcraState;
pub use hierarchy::{Check, Verdict, admit_all};
pub use policy::{KeyPart, Mode, OnStoreError, Policy, PolicyProblems, RateLimits};
pub use sliding::SlidingState;

/// Largest `limit`, `burst` and `cost` accepted (keeps every product within `u128`/`u64`).
pub const MAX_LIMIT: u64 = 1_000_000_000;
/// Longest `period_s` accepted: 366 days.
pub const MAX_PERIOD_S: u64 = 366 * 24 * 3600;

/// Which algorithm counts a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum Algorithm {
    /// Sliding-window counter: at most `limit` per aligned window, the previous window's count
    /// weighted into the current one.
    SlidingWindow,
    /// GCRA: `limit` per period sustained, at most `burst` at once.
    Gcra {
        /// Largest cost admitted at once (the bucket's capacity).
        burst: u64,
    },
}

/// The arithmetic part of a policy: what is counted, per how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Rate {
    /// The algorithm.
    pub algorithm: Algorithm,
    /// Units admitted per period (1 ..= [`MAX_LIMIT`]).
    pub limit: u64,
    /// The period, in milliseconds (at least 1000).
    pub period_ms: u64,
}

impl Rate {
    /// The state of a counter that has seen nothing.
    pub fn initial_state(&self) -> State {
        match self.algorithm {
            Algorithm::SlidingWindow => State::Sliding(SlidingState::default()),
            Algorithm::Gcra { .. } => State::Gcra(GcraState::default()),
        }
    }
}

/// The state of one counter, as a store keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum State {
    /// A sliding-window counter's.
    Sliding(SlidingState),
    /// A GCRA's.
    Gcra(GcraState),
}

/// The outcome of one check against one limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request fits (and, when it does, was charged).
    pub admitted: bool,
    /// Units still available after this decision.
    pub remaining: u64,
    /// Until the quota is fully available again if nothing else arrives (sliding window: until
    /// the current window ends; GCRA: until the bucket is full).
    pub reset_after: Duration,
    /// For a refusal, how long until the same cost would fit if nothing else arrives; `None`
    /// when admitted.
    pub retry_after: Option<Duration>,
}

/// Checks `cost` units against `rate` at `now`, charging them when they fit.
///
/// A `state` of the other algorithm (a stored counter whose policy was changed) counts as a
/// fresh counter. A refusal returns `state` unchanged.
pub fn decide(state: State, cost: u64, rate: &Rate, now: UnixMillis) -> (Decision, State) {
    match (rate.algorithm, state) {
        (Algorithm::SlidingWindow, State::Sliding(s)) => {
            let (d, s) = sliding::decide(s, cost, rate, now);
            (d, State::Sliding(s))
        }
        (Algorithm::Gcra { .. }, State::Gcra(s)) => {
            let (d, s) = gcra::decide(s, cost, rate, now);
            (d, State::Gcra(s))
        }
        _ => decide(rate.initial_state(), cost, rate, now),
    }
}

/// `ms` milliseconds as a [`Duration`].
fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// `a * b / c`, rounded up, without overflow for factors up to `u64::MAX`.
fn mul_div_ceil(a: u64, b: u64, c: u64) -> u64 {
    let c = u128::from(c.max(1));
    u64::try_from((u128::from(a) * u128::from(b)).div_ceil(c)).unwrap_or(u64::MAX)
}

/// `a * b / c`, rounded down.
fn mul_div_floor(a: u64, b: u64, c: u64) -> u64 {
    let c = u128::from(c.max(1));
    u64::try_from(u128::from(a) * u128::from(b) / c).unwrap_or(u64::MAX)
}
