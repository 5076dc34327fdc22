//! Outlier ejection: which streaks eject, how long ejections last, and how the growth decays.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use edge_gateway_core::health::{Outcome, Outlier, OutlierConfig, OutlierSettings};

use super::T;

const S: Outcome = Outcome::Success;
const E: Outcome = Outcome::ServerError;
const TO: Outcome = Outcome::Timeout;
const C: Outcome = Outcome::ConnectFailure;

fn seed() -> OutlierConfig {
    OutlierConfig::default() // 5 errors or 3 unreachable; 10 s base, 300 s max, 30 s decay
}

/// Ejects `o` at `now` with three timeouts; returns the ejection's length.
fn eject(o: &mut Outlier, c: &OutlierConfig, now: u64) -> u64 {
    let ejected = [TO, TO, TO].iter().map(|&x| o.on_result(c, x, now)).collect::<Vec<_>>();
    assert_eq!(ejected, [false, false, true], "three timeouts eject");
    o.ejected_until(now).unwrap() - now
}

#[test]
fn outlier_ejects_on_consecutive_errors_or_unreachable_table() {
    let table: Vec<(&str, Vec<Outcome>, bool)> = vec![
        ("four 5xx", vec![E; 4], false),
        ("five 5xx", vec![E; 5], true),
        ("two timeouts", vec![TO, TO], false),
        ("three timeouts", vec![TO; 3], true),
        ("connect failures and timeouts mix", vec![C, TO, C], true),
        ("a 5xx breaks the unreachable streak", vec![TO, TO, E, TO], false),
        ("but counts towards the error streak", vec![TO, TO, E, TO, E], true),
        ("a success resets both", vec![E, E, E, E, S, E, TO, TO], false),
    ];
    for (name, outcomes, want) in table {
        let mut o = Outlier::default();
        let mut now = T;
        for x in outcomes {
            o.on_result(&seed(), x, now);
            now += 1;
        }
        assert_eq!(o.is_ejected(now), want, "{name}");
    }
}

#[test]
fn outlier_ejection_doubles_each_time_up_to_the_max() {
    let c = seed();
    let mut o = Outlier::default();
    let mut now = T;
    let mut lengths = Vec::new();
    for _ in 0..8 {
        let length = eject(&mut o, &c, now);
        lengths.push(length);
        assert!(o.is_ejected(now + length - 1) && !o.is_ejected(now + length));
        now += length; // fails again the moment it is back: no decay
    }
    let want = [10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000];
    assert_eq!(lengths, want);
}

#[test]
fn outlier_growth_decays_one_step_per_healthy_period_table() {
    let c = seed();
    // (healthy time after the third ejection ended, length of the next ejection)
    let table = [
        (0, 80_000),
        (29_999, 80_000),
        (30_000, 40_000),
        (60_000, 20_000),
        (90_000, 10_000),
        (3_600_000, 10_000),
    ];
    for (healthy_for, want) in table {
        let mut o = Outlier::default();
        let mut now = T;
        for _ in 0..3 {
            now += eject(&mut o, &c, now);
        }
        assert_eq!(o.ejections_at(&c, now), 3);
        assert_eq!(eject(&mut o, &c, now + healthy_for), want, "healthy for {healthy_for} ms");
    }
}

#[test]
fn outlier_ignores_results_while_ejected() {
    // Guards against: failures of requests sent before the ejection, arriving during it,
    // re-ejected the region and doubled the ejection.
    let c = seed();
    let mut o = Outlier::default();
    let length = eject(&mut o, &c, T);
    for x in [TO; 10] {
        assert!(!o.on_result(&c, x, T + 1));
    }
    assert_eq!(o.ejected_until(T + 1), Some(T + length));
    assert_eq!(o.ejections_at(&c, T + 1), 1);
    // Back after the ejection; the streak starts from zero.
    let back = T + length;
    assert!(!o.is_ejected(back) && o.ejected_until(back).is_none());
    assert!(!o.on_result(&c, TO, back) && !o.on_result(&c, TO, back));
    assert!(!o.is_ejected(back));
}

#[test]
fn outlier_settings_report_every_problem_with_its_path() {
    let bad = OutlierSettings {
        consecutive_errors: 0,
        consecutive_unreachable: 0,
        base_ejection_ms: 0,
        max_ejection_ms: 4_000_000,
        decay_ms: 0,
    };
    let paths: Vec<String> = OutlierConfig::try_from(bad).unwrap_err().0.into_iter().map(|p| p.0).collect();
    let want = [
        ".consecutive_errors",
        ".consecutive_unreachable",
        ".base_ejection_ms",
        ".max_ejection_ms",
        ".decay_ms",
    ];
    assert_eq!(paths, want);
    let backwards =
        OutlierSettings { base_ejection_ms: 20_000, max_ejection_ms: 10_000, ..Default::default() };
    assert_eq!(OutlierConfig::try_from(backwards).unwrap_err().0.len(), 1);
    let s = OutlierSettings::default();
    assert_eq!(*OutlierConfig::try_from(s).unwrap().settings(), s);
    assert_eq!((s.consecutive_errors, s.consecutive_unreachable), (5, 3));
    assert_eq!((s.base_ejection_ms, s.max_ejection_ms, s.decay_ms), (10_000, 300_000, 30_000));
}
