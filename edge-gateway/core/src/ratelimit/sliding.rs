//! The sliding-window counter: two aligned fixed windows, the previous one weighted.
//!
//! Windows are aligned to the Unix epoch (`now - now % period`), so every instance and every
//! store agrees on where a window starts without talking to the others. At `now`, `elapsed`
//! into the current window, the counter estimates the last `period` as
//!
//! ```text
//! used = ceil(previous * (period - elapsed) / period) + current
//! ```
//!
//! and admits `cost` when `used + cost <= limit`. Two bounds follow and are tested:
//! the *current* window never holds more than `limit` (`current <= used`), and at every
//! admission the estimate is at most `limit`. The estimate assumes the previous window's
//! traffic was spread evenly; a strict sliding interval can hold more (up to twice the limit
//! when the whole previous window arrived at its very end). Use GCRA for a strict bound on every
//! interval.
//!
//! A caller whose clock lags behind the state (another instance already moved it to a later
//! window) is counted in the state's window: the window never moves backwards.

use super::{Decision, Rate, millis, mul_div_ceil, mul_div_floor};
use crate::ports::UnixMillis;

/// A sliding-window counter's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
pub struct SlidingState {
    /// Start of the current window (a multiple of the period), Unix milliseconds.
    pub window_start: UnixMillis,
    /// Units charged in the current window.
    pub current: u64,
    /// Units charged in the window before it.
    pub previous: u64,
}

/// The start of the window that holds `now`.
pub fn window_start(now: UnixMillis, period_ms: u64) -> UnixMillis {
    now - now % period_ms.max(1)
}

/// `state` moved forward to the window of `now` (never backwards).
pub fn roll(state: SlidingState, period_ms: u64, now: UnixMillis) -> SlidingState {
    let start = window_start(now, period_ms);
    if start <= state.window_start {
        state
    } else if start == state.window_start + period_ms {
        SlidingState { window_start: start, current: 0, previous: state.current }
    } else {
        SlidingState { window_start: start, current: 0, previous: 0 }
    }
}

/// Milliseconds into `state`'s window at `now` (0 for a caller behind the window).
fn elapsed(state: &SlidingState, period_ms: u64, now: UnixMillis) -> u64 {
    now.saturating_sub(state.window_start).min(period_ms)
}

/// The estimated units used over the last period (see the module docs).
pub fn used(state: &SlidingState, period_ms: u64, now: UnixMillis) -> u64 {
    let left = period_ms - elapsed(state, period_ms, now);
    mul_div_ceil(state.previous, left, period_ms).saturating_add(state.current)
}

/// Checks `cost` units against `rate` at `now`; charges them when they fit.
pub fn decide(state: SlidingState, cost: u64, rate: &Rate, now: UnixMillis) -> (Decision, SlidingState) {
    let period = rate.period_ms.max(1);
    let rolled = roll(state, period, now);
    let used = used(&rolled, period, now);
    let reset_after = millis(period - elapsed(&rolled, period, now));
    if used.saturating_add(cost) <= rate.limit {
        let charged = SlidingState { current: rolled.current + cost, ..rolled };
        let remaining = rate.limit - used - cost;
        (Decision { admitted: true, remaining, reset_after, retry_after: None }, charged)
    } else {
        let retry = retry_after_ms(&rolled, cost, rate, now);
        let remaining = rate.limit.saturating_sub(used);
        (Decision { admitted: false, remaining, reset_after, retry_after: Some(millis(retry)) }, state)
    }
}

/// How long until `cost` fits if nothing else is charged. A cost above the limit never fits:
/// it is told to come back after one period (validation keeps costs within the limit).
pub fn retry_after_ms(state: &SlidingState, cost: u64, rate: &Rate, now: UnixMillis) -> u64 {
    let period = rate.period_ms.max(1);
    if cost > rate.limit {
        return period;
    }
    let into = elapsed(state, period, now);
    if state.current + cost <= rate.limit {
        // Fits in this window once enough of `previous` has slid out.
        let room = rate.limit - cost - state.current;
        let at = period.saturating_sub(mul_div_floor(room, period, state.previous));
        return at.saturating_sub(into).max(1);
    }
    // Next window: `current` becomes `previous` and must slide out far enough.
    let room = rate.limit - cost;
    let at = period.saturating_sub(mul_div_floor(room, period, state.current));
    (period - into) + at
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::Algorithm;

    #[test]
    fn retry_after_is_the_first_millisecond_that_fits() {
        let rate = Rate { algorithm: Algorithm::SlidingWindow, limit: 10, period_ms: 1000 };
        let state = SlidingState { window_start: 5000, current: 3, previous: 10 };
        for now in [5000, 5100, 5499, 5650] {
            let (d, _) = decide(state, 1, &rate, now);
            if d.admitted {
                continue;
            }
            let wait = d.retry_after.unwrap().as_millis() as u64;
            assert!(decide(state, 1, &rate, now + wait).0.admitted, "at {now}+{wait}");
            assert!(!decide(state, 1, &rate, now + wait - 1).0.admitted, "at {now}+{wait}-1");
        }
    }
}
