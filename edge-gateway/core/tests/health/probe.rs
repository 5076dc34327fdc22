//! Active health checks: thresholds, due times and the probe lease.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use edge_gateway_core::health::Snapshot;
use edge_gateway_core::health::probe::{Lease, ProbeConfig, ProbeSettings, ProbeState, claim};

use super::T;

#[test]
fn probe_thresholds_table() {
    // (probe results in order, healthy after each) with the seed: 3 failures out, 2 back in.
    let table: Vec<(Vec<bool>, Vec<bool>)> = vec![
        (vec![false, false, false], vec![true, true, false]),
        (vec![false, false, true, false, false], vec![true; 5]),
        (vec![false, false, false, true, true], vec![true, true, false, false, true]),
        (
            vec![false, false, false, true, false, true, true],
            vec![true, true, false, false, false, false, true],
        ),
        (vec![true, false, false, false, true], vec![true, true, true, false, false]),
    ];
    let c = ProbeConfig::default();
    for (results, want) in table {
        let mut s = ProbeState::default();
        let mut now = T;
        let got: Vec<bool> = results
            .iter()
            .map(|&ok| {
                now += 10_000;
                let snap = s.on_probe(&c, ok, now);
                assert_eq!(snap, Snapshot { healthy: s.healthy, checked_at: now });
                snap.healthy
            })
            .collect();
        assert_eq!(got, want, "results {results:?}");
    }
}

#[test]
fn probe_is_due_a_full_interval_after_the_last_one() {
    let c = ProbeConfig::default();
    let mut s = ProbeState::default();
    assert!(s.due(&c, T), "never probed");
    s.on_probe(&c, true, T);
    assert!(!s.due(&c, T + 9_999));
    assert!(s.due(&c, T + 10_000));
    assert!(!s.due(&c, T - 1_000), "a clock behind the last probe waits");
}

#[test]
fn probe_lease_goes_to_one_instance_per_interval() {
    let c = ProbeConfig::default();
    let a = claim(None, "a", &c, T).expect("free when absent");
    assert_eq!(a, Lease { holder: "a".into(), until: T + 10_000 });
    assert_eq!(claim(Some(&a), "b", &c, T + 9_999), None, "held by another");
    assert_eq!(claim(Some(&a), "b", &c, T + 10_000).map(|l| l.holder), Some("b".into()));
    assert_eq!(claim(Some(&a), "a", &c, T + 5_000), Some(Lease { holder: "a".into(), until: T + 15_000 }));
}

#[test]
fn probe_settings_report_every_problem_with_its_path() {
    let bad = ProbeSettings { interval_ms: 999, unhealthy_threshold: 0, healthy_threshold: 0 };
    let paths: Vec<String> = ProbeConfig::try_from(bad).unwrap_err().0.into_iter().map(|p| p.0).collect();
    assert_eq!(paths, [".interval_ms", ".unhealthy_threshold", ".healthy_threshold"]);
    let s = ProbeSettings::default();
    assert_eq!((s.interval_ms, s.unhealthy_threshold, s.healthy_threshold), (10_000, 3, 2));
    assert_eq!(*ProbeConfig::try_from(s).unwrap().settings(), s);
}
