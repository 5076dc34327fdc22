//! Prints the exact-mode leasing simulation as a markdown table (see `docs/ratelimits.md`).
//!
//! `cargo run --release -p edge-gateway-core --example ratelimit_sim`

mod sim;

use edge_gateway_core::ratelimit::lease::LeaseSettings;
use sim::{Scenario, Shape};

fn main() {
    let base = Scenario {
        instances: 1,
        keys: 4,
        shape: Shape::Steady(0.4),
        limit: 10_000,
        period_ms: 10_000,
        periods: 6,
        rtt_ms: 30,
        skew_ms: 300,
        settings: LeaseSettings::default(),
        seed: 12,
    };
    println!(
        "{} keys, limit {} per {} s each, {} periods, counter RTT {} ms, clock skew ±{} ms, leases of at most {} tokens valid {} ms, spread {}.\n",
        base.keys,
        base.limit,
        base.period_ms / 1000,
        base.periods,
        base.rtt_ms,
        base.skew_ms,
        base.settings.max_tokens,
        base.settings.validity_ms,
        base.settings.spread
    );
    println!(
        "| traffic | instances | requests | admitted | ideal counter | over-admission | under-admission | counter calls / admitted | p99 added latency |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for shape in [Shape::Steady(0.4), Shape::Steady(2.0), Shape::Burst, Shape::HotKey] {
        for instances in [1, 10, 100, 1000] {
            let o = sim::run(&Scenario { instances, shape, ..base });
            println!(
                "| {} | {instances} | {} | {} | {} | {:.2}% | {:.2}% | {:.3} | {} ms |",
                shape.name(),
                o.demand,
                o.admitted,
                o.reference,
                o.over_pct(),
                o.under_pct(),
                o.calls_per_admitted(),
                o.p99_ms
            );
        }
    }
}
