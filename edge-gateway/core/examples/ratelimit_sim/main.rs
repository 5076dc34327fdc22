//! Prints the rate-limit simulations as markdown tables (see `docs/ratelimits.md`): exact mode
//! (leases from one counter per key), then approximate mode (per-instance counts shared through
//! an eventually consistent store) on the same traffic.
//!
//! `cargo run --release -p edge-gateway-core --example ratelimit_sim`

mod approx;
mod sim;

use edge_gateway_core::ratelimit::lease::LeaseSettings;
use edge_gateway_core::stages::ratelimit::SYNC_MS;

use approx::Sharing;
use sim::{Scenario, Shape};

const SHAPES: [Shape; 5] =
    [Shape::Steady(0.4), Shape::Steady(2.0), Shape::Burst, Shape::HotKey, Shape::Diurnal];
const INSTANCES: [usize; 4] = [1, 10, 100, 1000];
/// Store propagation delays of the approximate table, ms.
const PROPAGATION_MS: [u64; 3] = [0, 2_000, 10_000];
/// What one store exchange adds to the request that makes it (a KV write and list), ms.
const KV_RTT_MS: u64 = 20;

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
    exact(&base);
    println!();
    // Approximate limits are for periods long against a second's sync and KV's propagation:
    // a minute, with the same traffic stretched over it (same arrivals, six times apart).
    approximate(&Scenario { period_ms: 60_000, ..base });
}

fn exact(base: &Scenario) {
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
    for shape in SHAPES {
        for instances in INSTANCES {
            let o = sim::run(&Scenario { instances, shape, ..*base });
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

fn approximate(base: &Scenario) {
    let props: Vec<String> = PROPAGATION_MS.iter().map(|ms| format!("{} s", ms / 1000)).collect();
    let props = props.join(" / ");
    println!(
        "{} keys, limit {} per {} s each, {} periods (the same arrivals, stretched); every instance exchanges shares at most every {SYNC_MS} ms per key, an exchange costs {KV_RTT_MS} ms, clocks agree. Cells with three values are for a store propagation delay of {props}.\n",
        base.keys,
        base.limit,
        base.period_ms / 1000,
        base.periods
    );
    println!(
        "| traffic | instances | ideal counter | admitted | over-admission | worst window over the limit | under-admission | exchanges / admitted | p99 added latency |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for shape in SHAPES {
        for instances in INSTANCES {
            let s = Scenario { instances, shape, ..*base };
            let runs: Vec<approx::Outcome> = PROPAGATION_MS
                .iter()
                .map(|&propagation_ms| {
                    approx::run(&s, &Sharing { sync_ms: SYNC_MS, propagation_ms, rtt_ms: KV_RTT_MS })
                })
                .collect();
            let cells =
                |f: &dyn Fn(&approx::Outcome) -> String| runs.iter().map(f).collect::<Vec<_>>().join(" / ");
            let first = runs[0];
            println!(
                "| {} | {instances} | {} | {} | {} | {} | {} | {:.3} | {} ms |",
                shape.name(),
                first.reference,
                cells(&|o| o.admitted.to_string()),
                cells(&|o| format!("{:.1}%", o.over_pct())),
                cells(&|o| format!("{:.1}%", 100.0 * o.worst as f64 / s.limit as f64)),
                cells(&|o| format!("{:.1}%", o.under_pct())),
                first.exchanges_per_admitted(),
                first.p99_ms
            );
        }
    }
}
