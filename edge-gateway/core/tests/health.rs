//! Region health on a virtual clock: breaker transitions, outlier ejection growth and decay,
//! retry-budget arithmetic, active-probe thresholds and the snapshot/passive verdict, as
//! tables; property tests of the same (native only) in `health/props.rs`; a deterministic
//! multi-region simulation in `health/sim.rs`.
#![allow(missing_docs)]

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

#[path = "health/breaker.rs"]
mod breaker;
#[path = "health/budget.rs"]
mod budget;
#[path = "health/observed.rs"]
mod observed;
#[path = "health/outlier.rs"]
mod outlier;
#[path = "health/probe.rs"]
mod probe;
#[cfg(not(target_arch = "wasm32"))]
#[path = "health/props.rs"]
mod props;
#[path = "health/sim.rs"]
mod sim;

/// 2023-11-14T22:13:20Z, the virtual clock's start.
const T: u64 = 1_700_000_000_000;

#[test]
fn outcome_of_status_counts_only_5xx_against_the_region() {
    use edge_gateway_core::health::Outcome;
    let table = [
        (200, Outcome::Success),
        (304, Outcome::Success),
        (404, Outcome::Success),
        (429, Outcome::Success),
        (499, Outcome::Success),
        (500, Outcome::ServerError),
        (502, Outcome::ServerError),
        (503, Outcome::ServerError),
        (504, Outcome::ServerError),
        (599, Outcome::ServerError),
    ];
    for (status, want) in table {
        assert_eq!(Outcome::of_status(status), want, "status {status}");
    }
    assert!(Outcome::Timeout.is_unreachable() && Outcome::ConnectFailure.is_unreachable());
    assert!(!Outcome::ServerError.is_unreachable() && Outcome::ServerError.is_failure());
}
