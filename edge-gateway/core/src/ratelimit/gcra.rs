//! GCRA, the generic cell rate algorithm: a token bucket kept as one timestamp.
//!
//! A limit of `limit` per `period` has an emission interval `T = period / limit` (kept in
//! nanoseconds, rounded up, so the rate is never above the configured one). The state is the
//! theoretical arrival time `TAT`: when the bucket would be full again. A request of `cost`
//! units is admitted at `now` when
//!
//! ```text
//! max(TAT, now) + cost * T - now <= burst * T
//! ```
//!
//! and then `TAT` becomes `max(TAT, now) + cost * T`. The definition this conforms to, and which
//! the property tests check: in any interval `[a, b]`, the admitted costs add up to at most
//! `burst + (b - a) / T`. A caller whose clock is off by up to `s` moves that bound by at most
//! `2 s / T` units.

use super::{Algorithm, Decision, Rate, millis};
use crate::ports::UnixMillis;

const NANOS_PER_MS: u64 = 1_000_000;

/// A GCRA's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
pub struct GcraState {
    /// Theoretical arrival time, Unix nanoseconds (0: a full bucket).
    pub tat_ns: u64,
}

/// The emission interval `T` of `rate`, in nanoseconds (rounded up, at least 1).
pub fn emission_ns(rate: &Rate) -> u64 {
    let period_ns = u128::from(rate.period_ms) * u128::from(NANOS_PER_MS);
    let t = period_ns.div_ceil(u128::from(rate.limit.max(1)));
    u64::try_from(t).unwrap_or(u64::MAX).max(1)
}

/// The bucket's capacity: `burst` of a GCRA rate, or the limit.
pub fn burst(rate: &Rate) -> u64 {
    match rate.algorithm {
        Algorithm::Gcra { burst } => burst,
        Algorithm::SlidingWindow => rate.limit,
    }
}

/// Nanoseconds rounded up to whole milliseconds.
fn ceil_ms(ns: u64) -> u64 {
    ns.div_ceil(NANOS_PER_MS)
}

/// Checks `cost` units against `rate` at `now`; charges them when they conform.
pub fn decide(state: GcraState, cost: u64, rate: &Rate, now: UnixMillis) -> (Decision, GcraState) {
    let t = emission_ns(rate);
    let tau = burst(rate).saturating_mul(t);
    let now_ns = now.saturating_mul(NANOS_PER_MS);
    let tat = state.tat_ns.max(now_ns);
    let new_tat = tat.saturating_add(cost.saturating_mul(t));
    if new_tat - now_ns <= tau {
        let remaining = (now_ns + tau - new_tat) / t;
        let reset_after = millis(ceil_ms(new_tat - now_ns));
        let decision = Decision { admitted: true, remaining, reset_after, retry_after: None };
        (decision, GcraState { tat_ns: new_tat })
    } else {
        let remaining = (now_ns + tau).saturating_sub(tat) / t;
        let reset_after = millis(ceil_ms(tat - now_ns));
        let retry = if cost > burst(rate) { rate.period_ms } else { ceil_ms(new_tat - tau - now_ns).max(1) };
        (Decision { admitted: false, remaining, reset_after, retry_after: Some(millis(retry)) }, state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_when_the_cost_conforms() {
        let rate = Rate { algorithm: Algorithm::Gcra { burst: 3 }, limit: 10, period_ms: 1000 };
        let mut state = GcraState::default();
        for _ in 0..3 {
            state = decide(state, 1, &rate, 10_000).1;
        }
        let (refused, same) = decide(state, 2, &rate, 10_000);
        assert!(!refused.admitted);
        assert_eq!(same, state);
        let wait = refused.retry_after.unwrap().as_millis() as u64;
        assert_eq!(wait, 200);
        assert!(decide(state, 2, &rate, 10_000 + wait).0.admitted);
        assert!(!decide(state, 2, &rate, 10_000 + wait - 1).0.admitted);
    }
}
