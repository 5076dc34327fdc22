//! Retry-budget arithmetic: ratio of requests plus the floor, over the sliding window.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use edge_gateway_core::health::budget::Attempts;
use edge_gateway_core::health::{BudgetConfig, BudgetSettings, RetryBudget};

use super::T;

fn config(ratio_percent: u32, min_retries_per_s: u32, window_ms: u64) -> BudgetConfig {
    BudgetConfig::try_from(BudgetSettings { ratio_percent, min_retries_per_s, window_ms }).unwrap()
}

/// Retries `try_retry` grants at `now` until the first refusal.
fn drain(b: &mut RetryBudget, c: &BudgetConfig, now: u64) -> u64 {
    let mut granted = 0;
    while b.try_retry(c, now) {
        granted += 1;
        assert!(granted <= 1_000_000, "unbounded budget");
    }
    granted
}

#[test]
fn budget_allows_ratio_of_requests_plus_floor_table() {
    // (ratio %, floor per s, window ms, requests in the window, retries granted)
    let table = [
        (20, 0, 10_000, 100, 20),
        (20, 0, 10_000, 99, 19), // the ratio rounds down
        (20, 0, 10_000, 4, 0),
        (20, 10, 10_000, 0, 100), // the seed: idle, the floor alone
        (20, 10, 10_000, 100, 120),
        (20, 10, 10_000, 1_000, 300),
        (20, 1, 1_000, 10, 3),
        (0, 0, 10_000, 1_000, 0), // retries disabled
        (100, 0, 10_000, 7, 7),
        (50, 3, 2_000, 9, 10),
    ];
    for (ratio, floor, window, requests, want) in table {
        let c = config(ratio, floor, window);
        let mut b = RetryBudget::default();
        for i in 0..requests {
            b.record_request(&c, T + i % (window / 2));
        }
        let now = T + window / 2;
        assert_eq!(drain(&mut b, &c, now), want, "ratio {ratio}, floor {floor}/s, {requests} requests");
        assert_eq!(u64::from(b.seen(&c, now).retries), want);
        assert_eq!(c.allowance(requests), want);
    }
}

#[test]
fn budget_floor_is_honoured_when_idle() {
    let c = BudgetConfig::default(); // 20 %, 10/s over 10 s
    assert_eq!(c.floor(), 100);
    let mut b = RetryBudget::default();
    assert!(b.may_retry(&c, T));
    assert_eq!(drain(&mut b, &c, T), 100);
    assert!(!b.may_retry(&c, T + 5_000));
    // Once those retries leave the window the floor is there again.
    assert!(b.may_retry(&c, T + 10_000));
    assert_eq!(drain(&mut b, &c, T + 10_000), 100);
}

#[test]
fn budget_retries_and_requests_leave_the_window_a_bucket_at_a_time() {
    let c = config(100, 0, 10_000); // 1 s buckets
    let mut b = RetryBudget::default();
    b.record_request(&c, T);
    b.record_request(&c, T + 5_000);
    assert_eq!(b.seen(&c, T + 9_999), Attempts { requests: 2, retries: 0 });
    assert_eq!(b.seen(&c, T + 10_000), Attempts { requests: 1, retries: 0 });
    assert_eq!(b.seen(&c, T + 15_000), Attempts::default());
    assert!(b.try_retry(&c, T + 9_000) && b.try_retry(&c, T + 9_000));
    assert!(!b.may_retry(&c, T + 9_999));
    // The first request leaves; so do none of the retries: still no room.
    assert!(!b.may_retry(&c, T + 10_000));
}

#[test]
fn budget_refusal_charges_nothing() {
    let c = config(20, 0, 10_000);
    let mut b = RetryBudget::default();
    for _ in 0..10 {
        b.record_request(&c, T);
    }
    assert_eq!(drain(&mut b, &c, T), 2);
    let before = b;
    assert!(!b.try_retry(&c, T + 1));
    assert_eq!(b, before);
}

#[test]
fn budget_lagging_clock_counts_in_the_newest_bucket() {
    // Guards against: a caller whose clock lagged a window behind wrote into a bucket the
    // window had already dropped, so its retries were never counted.
    let c = config(0, 1, 10_000);
    let mut b = RetryBudget::default();
    assert_eq!(drain(&mut b, &c, T + 20_000), 10);
    assert!(!b.try_retry(&c, T), "a lagging caller sees the same spent budget");
    b.record_retry(&c, T);
    assert_eq!(b.seen(&c, T + 20_000).retries, 11);
}

#[test]
fn budget_settings_report_every_problem_with_its_path() {
    let bad = BudgetSettings { ratio_percent: 101, min_retries_per_s: 1_001, window_ms: 1_005 };
    let err = BudgetConfig::try_from(bad).unwrap_err();
    let paths: Vec<&str> = err.0.iter().map(|p| p.0.as_str()).collect();
    assert_eq!(paths, [".ratio_percent", ".min_retries_per_s", ".window_ms"]);
    let short = BudgetSettings { window_ms: 500, ..Default::default() };
    assert_eq!(BudgetConfig::try_from(short).unwrap_err().0.len(), 1);
    let s = BudgetSettings::default();
    assert_eq!((s.ratio_percent, s.min_retries_per_s, s.window_ms), (20, 10, 10_000));
    assert_eq!(*BudgetConfig::try_from(s).unwrap().settings(), s);
}
