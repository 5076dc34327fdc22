//! The per-region verdict from the shared snapshot and the local passive state.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use edge_gateway_core::health::observed::DEFAULT_MAX_AGE_MS;
use edge_gateway_core::health::{
    Breaker, BreakerConfig, Local, Outcome, Outlier, OutlierConfig, Permit, Reason, RegionHealth, Snapshot,
    region_health,
};

use super::T;

const FINE: Local = Local { breaker_admits: true, ejected_until: None };

fn snap(healthy: bool, age_ms: u64) -> Option<Snapshot> {
    Some(Snapshot { healthy, checked_at: T - age_ms })
}

#[test]
fn region_health_table() {
    let max = 30_000;
    let ejected = Local { breaker_admits: true, ejected_until: Some(T + 5) };
    let open = Local { breaker_admits: false, ejected_until: None };
    let table: Vec<(&str, Option<Snapshot>, Local, bool, Reason)> = vec![
        ("fresh healthy", snap(true, 0), FINE, true, Reason::Healthy),
        ("healthy at exactly max age", snap(true, max), FINE, true, Reason::Healthy),
        ("fresh unhealthy", snap(false, 1_000), FINE, false, Reason::ProbeFailed),
        ("no snapshot", None, FINE, true, Reason::Unknown),
        ("stale healthy is unknown", snap(true, max + 1), FINE, true, Reason::Unknown),
        ("stale unhealthy is unknown", snap(false, max + 1), FINE, true, Reason::Unknown),
        ("ejected beats a healthy probe", snap(true, 0), ejected, false, Reason::Ejected { until: T + 5 }),
        ("open breaker beats a healthy probe", snap(true, 0), open, false, Reason::BreakerOpen),
        (
            "ejected and open: ejection reported",
            None,
            Local { breaker_admits: false, ..ejected },
            false,
            Reason::Ejected { until: T + 5 },
        ),
        ("open breaker, probe failed", snap(false, 0), open, false, Reason::BreakerOpen),
    ];
    for (name, snapshot, local, usable, reason) in table {
        assert_eq!(region_health(snapshot, max, local, T), RegionHealth { usable, reason }, "{name}");
    }
}

#[test]
fn snapshot_older_than_max_age_is_unknown_not_healthy_forever() {
    // Guards against: a prober that stopped writing kept a dead region "healthy" forever.
    let written = Snapshot { healthy: true, checked_at: T };
    let at = |now| region_health(Some(written), DEFAULT_MAX_AGE_MS, FINE, now).reason;
    assert_eq!(at(T + DEFAULT_MAX_AGE_MS), Reason::Healthy);
    assert_eq!(at(T + DEFAULT_MAX_AGE_MS + 1), Reason::Unknown);
    assert_eq!(at(T + 86_400_000), Reason::Unknown);
    // From the future (writer's clock ahead): age 0.
    assert_eq!(written.age(T - 5_000), 0);
    assert_eq!(at(T - 5_000), Reason::Healthy);
}

#[test]
fn local_view_follows_breaker_and_outlier_state() {
    let (bc, oc) = (BreakerConfig::default(), OutlierConfig::default());
    let (mut breaker, mut outlier) = (Breaker::default(), Outlier::default());
    assert_eq!(Local::of(&breaker, &bc, &outlier, T), FINE);
    for _ in 0..5 {
        breaker.on_result(&bc, Permit::Normal, Outcome::ServerError, T);
        outlier.on_result(&oc, Outcome::ServerError, T);
    }
    let local = Local::of(&breaker, &bc, &outlier, T + 1);
    assert_eq!(local, Local { breaker_admits: false, ejected_until: Some(T + 10_000) });
    // After both intervals: the outlier is back, the breaker would admit a trial.
    assert_eq!(Local::of(&breaker, &bc, &outlier, T + 10_000), FINE);
}
