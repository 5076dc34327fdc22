//! A deterministic simulation of one isolate in front of three regions (nearest first), with
//! the seed figures: outages of the nearest region, a flapping one, all down, and a prober
//! partitioned away (its last snapshot goes stale). The prober uses the seed thresholds (one
//! probe every 10 s at 5 s past; 3 failed probes out, 2 good ones back in). The forward loop
//! is modelled as wiring will do it: skip unusable regions (all of them, in order, when none
//! is usable), a first attempt charges the budget's request count, each further attempt needs
//! a retry from it and a breaker permit. Attempts take no virtual time: a timeout is just an
//! outcome here. `cargo test -p edge-gateway-core --test health sim -- --nocapture` prints
//! the table.

use edge_gateway_core::health::observed::DEFAULT_MAX_AGE_MS;
use edge_gateway_core::health::probe::{ProbeConfig, ProbeState};
use edge_gateway_core::health::{
    Breaker, BreakerConfig, BudgetConfig, Local, Outcome, Outlier, OutlierConfig, RetryBudget, Snapshot,
    region_health,
};

const REGIONS: usize = 3;
const RUN_MS: u64 = 60_000;
const REQUEST_EVERY_MS: u64 = 10; // 100 requests per second
const PROBE_EVERY_MS: u64 = 10_000; // probes at 5 s, 15 s, 25 s ...
const OUTAGE: std::ops::Range<u64> = 10_000..40_000;
/// A recovered region is back once the prober saw `healthy_threshold` (2) good probes.
const BACK_WITHIN_MS: u64 = 2 * PROBE_EVERY_MS;

struct Scenario {
    name: &'static str,
    /// The outcome region `r` gives at `t` (ms into the run).
    region: fn(usize, u64) -> Outcome,
    /// Whether the prober still writes snapshots.
    prober: bool,
}

fn down_in_outage(fail: Outcome) -> impl Fn(bool, u64) -> Outcome {
    move |affected, t| if affected && OUTAGE.contains(&t) { fail } else { Outcome::Success }
}

fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "nearest down (refused)",
            region: |r, t| down_in_outage(Outcome::ConnectFailure)(r == 0, t),
            prober: true,
        },
        Scenario {
            name: "nearest slow (timeouts)",
            region: |r, t| down_in_outage(Outcome::Timeout)(r == 0, t),
            prober: true,
        },
        Scenario {
            name: "nearest 5xx",
            region: |r, t| down_in_outage(Outcome::ServerError)(r == 0, t),
            prober: true,
        },
        Scenario {
            // Down 5 s, up 5 s (the probes happen to land on the up halves).
            name: "nearest flapping 5 s",
            region: |r, t| down_in_outage(Outcome::ConnectFailure)(r == 0 && (t / 5_000) % 2 == 0, t),
            prober: true,
        },
        Scenario {
            // The prober's last snapshot (healthy, at the start) goes stale: passive only.
            name: "nearest down, prober stale",
            region: |r, t| down_in_outage(Outcome::ConnectFailure)(r == 0, t),
            prober: false,
        },
        Scenario {
            name: "all down",
            region: |_, t| down_in_outage(Outcome::ConnectFailure)(true, t),
            prober: true,
        },
    ]
}

#[derive(Debug, Default)]
struct Report {
    requests: u64,
    failed: u64,
    /// Requests that reached no region (every breaker refused).
    shed: u64,
    attempts: u64,
    /// First request served by the nearest region after the outage ended, ms after it.
    back_after_ms: Option<u64>,
}

struct Isolate {
    breakers: [Breaker; REGIONS],
    outliers: [Outlier; REGIONS],
    budget: RetryBudget,
    snapshots: [Option<Snapshot>; REGIONS],
    probes: [ProbeState; REGIONS],
    configs: (BreakerConfig, OutlierConfig, BudgetConfig),
}

impl Isolate {
    /// Regions to try at `now`: usable ones in order, or all of them when none is.
    fn order(&self, now: u64) -> Vec<usize> {
        let usable: Vec<usize> = (0..REGIONS)
            .filter(|&r| {
                let local = Local::of(&self.breakers[r], &self.configs.0, &self.outliers[r], now);
                region_health(self.snapshots[r], DEFAULT_MAX_AGE_MS, local, now).usable
            })
            .collect();
        if usable.is_empty() { (0..REGIONS).collect() } else { usable }
    }

    /// One request at `now`; returns `(served by, attempts)`.
    fn request(&mut self, s: &Scenario, t: u64, now: u64) -> (Option<usize>, u64) {
        let (bc, oc, gc) = self.configs;
        let mut attempts = 0;
        for r in self.order(now) {
            if attempts > 0 && !self.budget.may_retry(&gc, now) {
                break;
            }
            let Some(permit) = self.breakers[r].try_acquire(&bc, now) else { continue };
            if attempts == 0 {
                self.budget.record_request(&gc, now);
            } else {
                self.budget.record_retry(&gc, now);
            }
            attempts += 1;
            let outcome = (s.region)(r, t);
            self.breakers[r].on_result(&bc, permit, outcome, now);
            self.outliers[r].on_result(&oc, outcome, now);
            if !outcome.is_failure() {
                return (Some(r), attempts);
            }
        }
        (None, attempts)
    }
}

fn run(s: &Scenario) -> Report {
    let start = super::T;
    let configs = (BreakerConfig::default(), OutlierConfig::default(), BudgetConfig::default());
    let mut isolate = Isolate {
        breakers: [Breaker::default(); REGIONS],
        outliers: [Outlier::default(); REGIONS],
        budget: RetryBudget::default(),
        snapshots: [Some(Snapshot { healthy: true, checked_at: start }); REGIONS],
        probes: [ProbeState::default(); REGIONS],
        configs,
    };
    let mut report = Report::default();
    for t in (0..RUN_MS).step_by(REQUEST_EVERY_MS as usize) {
        let now = start + t;
        if s.prober && t % PROBE_EVERY_MS == PROBE_EVERY_MS / 2 {
            for r in 0..REGIONS {
                let ok = !(s.region)(r, t).is_failure();
                let probe = &mut isolate.probes[r];
                isolate.snapshots[r] = Some(probe.on_probe(&ProbeConfig::default(), ok, now));
            }
        }
        let (served, attempts) = isolate.request(s, t, now);
        report.requests += 1;
        report.attempts += attempts;
        report.failed += u64::from(served.is_none());
        report.shed += u64::from(attempts == 0);
        if served == Some(0) && t >= OUTAGE.end && report.back_after_ms.is_none() {
            report.back_after_ms = Some(t - OUTAGE.end);
        }
    }
    report
}

#[test]
fn sim_no_request_fails_while_a_region_is_healthy_and_retries_stay_in_budget() {
    let budget = BudgetConfig::default();
    let windows = RUN_MS / budget.settings().window_ms;
    println!(
        "| scenario | requests | failed | of which shed | retries (extra upstream load) | nearest back after |"
    );
    println!("|---|---|---|---|---|---|");
    for s in scenarios() {
        let r = run(&s);
        let extra = r.attempts - (r.requests - r.shed);
        let back = r.back_after_ms.map_or("never".to_owned(), |ms| format!("{:.1} s", ms as f64 / 1000.0));
        let share = 100.0 * extra as f64 / r.requests as f64;
        println!(
            "| {} | {} | {} | {} | {extra} ({share:.1} %) | {back} |",
            s.name, r.requests, r.failed, r.shed
        );
        // Retries never exceed ratio × requests plus the floor of every window the run spans.
        assert!(extra <= budget.allowance(r.requests) + budget.floor() * windows, "{}: {r:?}", s.name);
        if s.name == "all down" {
            // Every request of the outage fails, and those shed until the first region is back.
            let outage = (OUTAGE.end - OUTAGE.start) / REQUEST_EVERY_MS;
            let until_back = r.back_after_ms.unwrap_or(RUN_MS) / REQUEST_EVERY_MS;
            assert!((outage..=outage + until_back + 1).contains(&r.failed), "{r:?}");
        } else {
            assert_eq!(r.failed, 0, "{}: a request failed with healthy regions left", s.name);
        }
        let back_in_time = r.back_after_ms.is_some_and(|ms| ms <= BACK_WITHIN_MS);
        assert!(back_in_time, "{}: {r:?}", s.name);
    }
}
