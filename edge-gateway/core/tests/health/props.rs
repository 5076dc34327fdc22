//! Property tests (native only): the breaker never admits while open, never holds more trials
//! than allowed, only closes after K consecutive trial successes and never opens for longer
//! than the cap; ejections stay within base and max and at most double; the retry budget grants
//! a retry exactly when the retries in its window are below the allowance recomputed from the
//! event log, so retries never exceed ratio × requests + floor over the window.

use edge_gateway_core::health::breaker::BreakerState;
use edge_gateway_core::health::window::{BUCKETS, bucket_ms};
use edge_gateway_core::health::{
    Breaker, BreakerConfig, BreakerSettings, BudgetConfig, BudgetSettings, Outcome, Outlier, OutlierConfig,
    RetryBudget,
};
use proptest::prelude::*;

use super::T;

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        3 => Just(Outcome::Success),
        1 => Just(Outcome::ServerError),
        1 => Just(Outcome::Timeout),
        1 => Just(Outcome::ConnectFailure),
    ]
}

/// `(gap ms, acquire (true) or report the oldest outstanding permit (false), outcome)`.
fn ops() -> impl Strategy<Value = Vec<(u64, bool, Outcome)>> {
    prop::collection::vec((0..3_000u64, any::<bool>(), outcome()), 1..300)
}

proptest! {
    #[test]
    fn breaker_invariants_hold_on_any_sequence(
        trials in 1..4u32, k in 1..6u32, n in 1..6u32, ops in ops(),
    ) {
        let c = BreakerConfig::try_from(BreakerSettings {
            half_open_trials: trials,
            close_after_successes: k,
            consecutive_failures: n,
            min_requests: 5,
            open_base_ms: 1_000,
            open_max_ms: 8_000,
            ..Default::default()
        }).unwrap();
        let s = *c.settings();
        let mut b = Breaker::default();
        let mut outstanding = std::collections::VecDeque::new();
        let mut trial_streak = 0;
        let mut now = T;
        for (gap, acquire, outcome) in ops {
            now += gap;
            let before = b.state();
            if acquire {
                let got = b.try_acquire(&c, now);
                if let BreakerState::Open { until } = before {
                    prop_assert!(now >= until || got.is_none(), "admitted while open");
                }
                outstanding.extend(got);
            } else if let Some(permit) = outstanding.pop_front() {
                b.on_result(&c, permit, outcome, now);
                let was_half_open = matches!(before, BreakerState::HalfOpen { .. });
                if was_half_open && permit == edge_gateway_core::health::Permit::Trial {
                    trial_streak = if outcome.is_failure() { 0 } else { trial_streak + 1 };
                }
                if was_half_open && b.state() == BreakerState::Closed {
                    prop_assert!(trial_streak >= k, "closed after {trial_streak} < {k} successes");
                }
                if let BreakerState::Open { until } = b.state()
                    && !matches!(before, BreakerState::Open { .. })
                {
                    prop_assert!((s.open_base_ms..=s.open_max_ms).contains(&(until - now)));
                    trial_streak = 0;
                }
            }
            if let BreakerState::HalfOpen { in_flight, .. } = b.state() {
                prop_assert!(in_flight <= trials);
            }
        }
    }

    #[test]
    fn ejections_stay_within_base_and_max_and_at_most_double(
        outcomes in prop::collection::vec((0..40_000u64, outcome()), 1..400),
    ) {
        let c = OutlierConfig::default();
        let (base, max) = (c.settings().base_ejection_ms, c.settings().max_ejection_ms);
        let mut o = Outlier::default();
        let mut now = T;
        let mut last = 0;
        for (gap, outcome) in outcomes {
            now += gap;
            if o.on_result(&c, outcome, now) {
                let length = o.ejected_until(now).unwrap() - now;
                prop_assert!((base..=max).contains(&length), "length {length}");
                prop_assert!(length <= (2 * last).max(base), "{length} after {last}");
                last = length;
            }
        }
    }

    #[test]
    fn budget_grants_a_retry_exactly_when_the_window_has_room(
        ratio in 0..=100u32, floor in 0..5u32, window_s in 1..20u64,
        events in prop::collection::vec((0..800u64, prop::bool::weighted(0.6)), 1..500),
    ) {
        let c = BudgetConfig::try_from(BudgetSettings {
            ratio_percent: ratio, min_retries_per_s: floor, window_ms: window_s * 1000,
        }).unwrap();
        let width = bucket_ms(window_s * 1000);
        let mut b = RetryBudget::default();
        // (bucket index, is a retry) of every counted event: the model.
        let mut log: Vec<(u64, bool)> = Vec::new();
        let mut now = T;
        for (gap, is_request) in events {
            now += gap;
            let index = now / width;
            if is_request {
                b.record_request(&c, now);
                log.push((index, false));
                continue;
            }
            let oldest = index + 1 - BUCKETS as u64;
            let in_view = |log: &[(u64, bool)], retry: bool| {
                log.iter().filter(|e| e.0 >= oldest && e.1 == retry).count() as u64
            };
            let (requests, retries) = (in_view(&log, false), in_view(&log, true));
            let allowance = requests * u64::from(ratio) / 100 + u64::from(floor) * window_s;
            let granted = b.try_retry(&c, now);
            prop_assert_eq!(granted, retries < allowance);
            if granted {
                log.push((index, true));
                prop_assert!(in_view(&log, true) <= allowance, "over budget");
            }
        }
    }
}
