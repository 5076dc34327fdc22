//! Breaker transitions: thresholds, the error-rate window, half-open trial limits, re-opening
//! and the backoff cap.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use edge_gateway_core::health::breaker::BreakerState;
use edge_gateway_core::health::{Breaker, BreakerConfig, BreakerSettings, Outcome, Permit};

use super::T;

const S: Outcome = Outcome::Success;
const F: Outcome = Outcome::ServerError;

fn config(f: impl FnOnce(&mut BreakerSettings)) -> BreakerConfig {
    let mut s = BreakerSettings::default();
    f(&mut s);
    BreakerConfig::try_from(s).unwrap()
}

/// Feeds `outcomes` one per `gap_ms` from `start` as closed-state requests.
fn feed(b: &mut Breaker, c: &BreakerConfig, start: u64, gap_ms: u64, outcomes: &[Outcome]) -> u64 {
    let mut now = start;
    for &o in outcomes {
        if let Some(permit) = b.try_acquire(c, now) {
            b.on_result(c, permit, o, now);
        }
        now += gap_ms;
    }
    now
}

fn is_open(b: &Breaker) -> bool {
    matches!(b.state(), BreakerState::Open { .. })
}

/// A breaker opened at `T` by `consecutive_failures` failures.
fn opened(c: &BreakerConfig) -> Breaker {
    let mut b = Breaker::default();
    for _ in 0..c.settings().consecutive_failures {
        b.on_result(c, Permit::Normal, F, T);
    }
    assert_eq!(b.state(), BreakerState::Open { until: T + c.settings().open_base_ms });
    b
}

#[test]
fn breaker_opens_on_the_nth_consecutive_failure_not_before() {
    let table: Vec<(u32, Vec<Outcome>, bool)> = vec![
        (1, vec![F], true),
        (3, vec![F, F], false),
        (3, vec![F, F, F], true),
        (5, vec![F, F, F, F], false),
        (5, vec![F, F, F, F, F], true),
        // A success in between resets the streak.
        (5, vec![F, F, F, F, S, F, F, F, F], false),
        // Unreachable outcomes are failures too.
        (3, vec![Outcome::Timeout, Outcome::ConnectFailure, F], true),
    ];
    for (n, outcomes, want_open) in table {
        let c = config(|s| s.consecutive_failures = n);
        let mut b = Breaker::default();
        feed(&mut b, &c, T, 1, &outcomes);
        assert_eq!(is_open(&b), want_open, "threshold {n}, outcomes {outcomes:?}");
    }
}

#[test]
fn breaker_error_rate_opens_only_with_min_requests_in_the_window() {
    // Streaks never trip here (threshold 100): only the rate can.
    let c = config(|s| (s.consecutive_failures, s.min_requests, s.error_rate_percent) = (100, 20, 50));
    let alternating = |n: usize| (0..n).map(|i| if i % 2 == 1 { F } else { S }).collect::<Vec<_>>();
    let table: Vec<(&str, Vec<Outcome>, bool)> = vec![
        ("19 requests, 9 failed: below min_requests", alternating(19), false),
        ("20 requests, 10 failed: 50 % reaches the rate", alternating(20), true),
        ("20 requests, 9 failed: 45 %", [vec![S, S], alternating(18)].concat(), false),
        ("all failed but only 19", vec![F; 19], false),
    ];
    for (name, outcomes, want_open) in table {
        let mut b = Breaker::default();
        feed(&mut b, &c, T, 10, &outcomes);
        assert_eq!(is_open(&b), want_open, "{name}");
    }
}

#[test]
fn breaker_error_rate_forgets_requests_older_than_the_window() {
    let c = config(|s| (s.consecutive_failures, s.min_requests, s.window_ms) = (100, 20, 10_000));
    let mut b = Breaker::default();
    // 10 failures at the start, then 11 s later 10 more requests, 5 failed: 15/20 would trip,
    // but the first ten have left the window (5/10 is below min_requests).
    let now = feed(&mut b, &c, T, 10, &[F; 10]);
    feed(&mut b, &c, now + 11_000, 10, &[S, F, S, F, S, F, S, F, S, F]);
    assert!(!is_open(&b), "old failures still counted: {:?}", b.state());
    // Within the window they count.
    let mut b = Breaker::default();
    let now = feed(&mut b, &c, T, 10, &[F; 10]);
    feed(&mut b, &c, now + 5_000, 10, &[S, F, S, F, S, F, S, F, S, F]);
    assert!(is_open(&b));
}

#[test]
fn breaker_stays_open_until_the_interval_ends_then_admits_a_trial() {
    let c = BreakerConfig::default();
    let mut b = opened(&c);
    let base = c.settings().open_base_ms;
    assert!(!b.admits(&c, T + base - 1));
    assert_eq!(b.try_acquire(&c, T + base - 1), None);
    assert!(b.admits(&c, T + base));
    assert!(is_open(&b), "admits() must not move the state");
    assert_eq!(b.try_acquire(&c, T + base), Some(Permit::Trial));
    assert!(matches!(b.state(), BreakerState::HalfOpen { in_flight: 1, successes: 0, .. }));
}

#[test]
fn breaker_half_open_admits_at_most_the_trial_limit() {
    let c = config(|s| s.half_open_trials = 3);
    let mut b = opened(&c);
    let now = T + c.settings().open_base_ms;
    let got: Vec<_> = (0..4).map(|_| b.try_acquire(&c, now)).collect();
    assert_eq!(got, [Some(Permit::Trial), Some(Permit::Trial), Some(Permit::Trial), None]);
    assert!(!b.admits(&c, now + 1));
    b.on_result(&c, Permit::Trial, S, now + 1);
    assert_eq!(b.try_acquire(&c, now + 1), Some(Permit::Trial), "a finished trial frees its permit");
    assert_eq!(b.try_acquire(&c, now + 1), None);
}

#[test]
fn breaker_lost_trial_results_do_not_wedge_it_half_open() {
    let c = config(|s| (s.half_open_trials, s.trial_timeout_ms) = (2, 10_000));
    let mut b = opened(&c);
    let now = T + c.settings().open_base_ms;
    assert!(b.try_acquire(&c, now).is_some() && b.try_acquire(&c, now).is_some());
    assert_eq!(b.try_acquire(&c, now + 9_999), None);
    assert_eq!(b.try_acquire(&c, now + 10_000), Some(Permit::Trial));
}

#[test]
fn breaker_closes_after_k_consecutive_trial_successes() {
    for k in [1, 2, 5] {
        let c = config(|s| (s.close_after_successes, s.half_open_trials) = (k, 1));
        let mut b = opened(&c);
        let mut now = T + c.settings().open_base_ms;
        for i in 1..=k {
            assert_eq!(b.try_acquire(&c, now), Some(Permit::Trial), "k {k}, trial {i}");
            b.on_result(&c, Permit::Trial, S, now);
            now += 1;
            let closed = b.state() == BreakerState::Closed;
            assert_eq!(closed, i == k, "k {k}: closed after {i} successes");
        }
        assert_eq!(b.openings(), 0, "closing resets the backoff");
        assert_eq!(b.try_acquire(&c, now), Some(Permit::Normal));
    }
}

#[test]
fn breaker_any_trial_failure_reopens_with_a_doubled_interval() {
    let c = BreakerConfig::default(); // 5 s base, 5 successes to close
    let mut b = opened(&c);
    let now = T + 5_000;
    for _ in 0..4 {
        let permit = b.try_acquire(&c, now).unwrap();
        b.on_result(&c, permit, S, now);
    }
    let permit = b.try_acquire(&c, now).unwrap();
    b.on_result(&c, permit, Outcome::Timeout, now + 1);
    assert_eq!(b.state(), BreakerState::Open { until: now + 1 + 10_000 });
    assert_eq!(b.openings(), 2);
}

#[test]
fn breaker_backoff_doubles_up_to_open_max_table() {
    let c = config(|s| (s.open_base_ms, s.open_max_ms) = (5_000, 60_000));
    // (opening number, open interval); every later opening stays at the cap.
    let table = [(1, 5_000), (2, 10_000), (3, 20_000), (4, 40_000), (5, 60_000), (6, 60_000)];
    let want = |n: u32| table.iter().find(|r| r.0 == n).map_or(60_000, |r| r.1);
    let mut b = opened(&c);
    let mut opened_at = T;
    for n in 1..=40 {
        assert_eq!(b.openings(), n);
        let BreakerState::Open { until } = b.state() else { panic!("not open: {:?}", b.state()) };
        assert_eq!(until - opened_at, want(n), "opening {n}");
        // Half-open at the end of the interval; the first trial fails.
        let permit = b.try_acquire(&c, until).unwrap();
        b.on_result(&c, permit, F, until);
        opened_at = until;
    }
}

#[test]
fn breaker_ignores_late_results_from_an_earlier_state() {
    // Guards against: a request admitted while closed that failed after the breaker went
    // half-open re-opened it, and one that succeeded counted as a trial success.
    let c = config(|s| s.close_after_successes = 2);
    let mut b = opened(&c);
    let now = T + c.settings().open_base_ms;
    b.try_acquire(&c, now).unwrap();
    b.on_result(&c, Permit::Normal, F, now);
    b.on_result(&c, Permit::Normal, S, now);
    b.on_result(&c, Permit::Normal, S, now);
    assert!(matches!(b.state(), BreakerState::HalfOpen { successes: 0, in_flight: 1, .. }));
    // A trial result once closed is ignored too.
    let mut closed = Breaker::default();
    closed.on_result(&c, Permit::Trial, F, now);
    assert_eq!(closed, Breaker::default());
}

#[test]
fn breaker_after_closing_old_failures_are_forgotten() {
    let c = config(|s| (s.close_after_successes, s.half_open_trials) = (1, 1));
    let mut b = Breaker::default();
    feed(&mut b, &c, T, 1, &[F, F, F, F]);
    b.on_result(&c, Permit::Normal, F, T + 5); // the fifth opens it
    let now = T + 5 + c.settings().open_base_ms;
    let permit = b.try_acquire(&c, now).unwrap();
    b.on_result(&c, permit, S, now);
    assert_eq!(b.state(), BreakerState::Closed);
    feed(&mut b, &c, now + 1, 1, &[F, F, F, F]);
    assert_eq!(b.state(), BreakerState::Closed, "the streak restarted from zero");
}

#[test]
fn breaker_settings_report_every_problem_with_its_path() {
    let zero = BreakerSettings {
        consecutive_failures: 0,
        error_rate_percent: 101,
        window_ms: 999,
        min_requests: 0,
        open_base_ms: 0,
        open_max_ms: 4_000_000,
        half_open_trials: 0,
        trial_timeout_ms: 0,
        close_after_successes: 0,
    };
    let paths: Vec<String> = BreakerConfig::try_from(zero).unwrap_err().0.into_iter().map(|p| p.0).collect();
    let want = [
        ".consecutive_failures",
        ".error_rate_percent",
        ".window_ms",
        ".window_ms",
        ".min_requests",
        ".open_base_ms",
        ".open_max_ms",
        ".half_open_trials",
        ".trial_timeout_ms",
        ".close_after_successes",
    ];
    assert_eq!(paths, want);
    let backwards = BreakerSettings { open_base_ms: 10_000, open_max_ms: 5_000, ..Default::default() };
    let err = BreakerConfig::try_from(backwards).unwrap_err();
    assert_eq!(err.0, [(".open_max_ms".to_owned(), "must be at least open_base_ms".to_owned())]);
    assert!(err.to_string().starts_with("invalid health settings: .open_max_ms:"));
}

#[test]
fn breaker_seed_figures_are_valid_and_as_documented() {
    let s = BreakerSettings::default();
    assert_eq!((s.consecutive_failures, s.error_rate_percent, s.min_requests), (5, 50, 20));
    assert_eq!((s.window_ms, s.open_base_ms, s.open_max_ms), (10_000, 5_000, 60_000));
    assert_eq!((s.half_open_trials, s.close_after_successes, s.trial_timeout_ms), (3, 5, 10_000));
    assert_eq!(*BreakerConfig::try_from(s).unwrap().settings(), s);
    assert_eq!(*BreakerConfig::default().settings(), s);
}
