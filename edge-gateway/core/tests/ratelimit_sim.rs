//! The exact-mode leasing simulation, held to its targets (native only; a few seconds).
//!
//! The same simulator as `examples/ratelimit_sim` (which prints the table in
//! `docs/ratelimits.md`), on a smaller grid: no over-admission anywhere, under-admission at most
//! 1% when demand exceeds the limit, at most 0.1 counter calls per admitted request at 40% of
//! the limit while each instance sees enough traffic to spend a lease.
#![cfg(not(target_arch = "wasm32"))]
#![allow(missing_docs)]

#[allow(dead_code)]
#[path = "../examples/ratelimit_sim/sim.rs"]
mod sim;

use edge_gateway_core::ratelimit::lease::LeaseSettings;
use sim::{Scenario, Shape};

use std::sync::OnceLock;

use sim::Outcome;

const SHAPES: [Shape; 4] = [Shape::Steady(0.4), Shape::Steady(2.0), Shape::Burst, Shape::HotKey];
const INSTANCES: [usize; 4] = [1, 10, 100, 1000];

fn scenario(instances: usize, shape: Shape) -> Scenario {
    Scenario {
        instances,
        keys: 1,
        shape,
        limit: 3_000,
        period_ms: 10_000,
        periods: 3,
        rtt_ms: 30,
        skew_ms: 300,
        settings: LeaseSettings::default(),
        seed: 7,
    }
}

/// Every `(shape, instances, outcome)` of the grid, run once for all the tests.
fn grid() -> &'static [(Shape, usize, Outcome)] {
    static GRID: OnceLock<Vec<(Shape, usize, Outcome)>> = OnceLock::new();
    GRID.get_or_init(|| {
        SHAPES
            .iter()
            .flat_map(|&shape| INSTANCES.iter().map(move |&n| (shape, n, sim::run(&scenario(n, shape)))))
            .collect()
    })
}

#[test]
fn exact_mode_never_over_admits() {
    for (shape, instances, outcome) in grid() {
        assert_eq!(outcome.over, 0, "{} with {instances} instances: {outcome:?}", shape.name());
        assert!(outcome.admitted > 0);
    }
}

#[test]
fn exact_mode_admits_within_one_percent_of_an_ideal_counter_when_demand_exceeds_the_limit() {
    for (shape, instances, outcome) in grid() {
        if matches!(shape, Shape::Steady(f) if *f > 1.0) || *shape == Shape::HotKey {
            assert!(outcome.under_pct() <= 1.0, "{} with {instances} instances: {outcome:?}", shape.name());
        }
    }
}

#[test]
fn below_half_the_limit_an_admitted_request_rarely_calls_the_counter() {
    for (shape, instances, outcome) in grid() {
        if *shape == Shape::Steady(0.4) && *instances <= 10 {
            assert_eq!(outcome.admitted, outcome.reference, "nothing refused below the limit");
            assert!(outcome.calls_per_admitted() <= 0.1, "{instances} instances: {outcome:?}");
        }
    }
}
