//! A deterministic simulation of exact-mode rate limiting with leases and a deny cache.
//!
//! `N` edge instances share one counter per key (the Durable Object of the Workers adapter),
//! reached in an assumed round trip. Requests arrive on a virtual clock (Poisson, seeded), each at
//! a random instance; every instance's clock is off by up to `skew_ms`. An instance spends
//! leased tokens locally, refuses locally while its deny cache says so, and otherwise asks the
//! counter, holding requests that arrive meanwhile. The counter runs the same
//! [`lease::grant`] the adapter runs. A reference single counter, asked by every request at its
//! arrival with no delay, says what an ideal global limit admits.
//!
//! Measured: over-admission (units admitted beyond the limit in any window, by the counter's
//! clock), under-admission (how far below the reference), counter calls per admitted request, and
//! the p99 decision latency added by waiting for the counter.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};

use edge_gateway_core::ratelimit::lease::{
    self, ActiveInstances, Grant, LeaseRequest, LeaseSettings, Local, Step,
};
use edge_gateway_core::ratelimit::{Algorithm, Rate, State, decide};

/// Demand over time, per key.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Shape {
    /// Every key at this fraction of its limit, evenly.
    Steady(f64),
    /// Every key at 10% of its limit, plus 1.5 limits crammed into a tenth of every period.
    Burst,
    /// One key at three times its limit, the others at 20%.
    HotKey,
    /// A day in one run: every key from 20% of its limit up to 180% at the run's middle and back,
    /// a sine (100% on average).
    Diurnal,
}

impl Shape {
    /// A short name for tables.
    pub(crate) fn name(&self) -> String {
        match self {
            Shape::Steady(f) => format!("steady {:.0}%", f * 100.0),
            Shape::Burst => "burst".into(),
            Shape::HotKey => "one hot key".into(),
            Shape::Diurnal => "diurnal 20-180%".into(),
        }
    }
}

/// One run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scenario {
    /// Edge instances.
    pub(crate) instances: usize,
    /// Distinct keys (one counter each).
    pub(crate) keys: usize,
    /// The demand.
    pub(crate) shape: Shape,
    /// Units per period, per key.
    pub(crate) limit: u64,
    /// The period.
    pub(crate) period_ms: u64,
    /// How many periods are simulated.
    pub(crate) periods: u64,
    /// Round trip to the counter.
    pub(crate) rtt_ms: u64,
    /// Largest clock offset of an instance, either way.
    pub(crate) skew_ms: i64,
    /// How the counter lends.
    pub(crate) settings: LeaseSettings,
    /// RNG seed.
    pub(crate) seed: u64,
}

/// What a run measured.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Outcome {
    /// Requests offered.
    pub(crate) demand: u64,
    /// Requests admitted.
    pub(crate) admitted: u64,
    /// Requests the ideal single counter admits.
    pub(crate) reference: u64,
    /// Units admitted beyond the limit, summed over keys and windows.
    pub(crate) over: u64,
    /// Calls to the counters.
    pub(crate) calls: u64,
    /// p99 of the latency added to a decision, ms.
    pub(crate) p99_ms: u64,
}

impl Outcome {
    /// Over-admission as a percentage of what was admitted.
    pub(crate) fn over_pct(&self) -> f64 {
        100.0 * self.over as f64 / self.admitted.max(1) as f64
    }
    /// Under-admission as a percentage of the reference.
    pub(crate) fn under_pct(&self) -> f64 {
        100.0 * self.reference.saturating_sub(self.admitted) as f64 / self.reference.max(1) as f64
    }
    /// Counter calls per admitted request.
    pub(crate) fn calls_per_admitted(&self) -> f64 {
        self.calls as f64 / self.admitted.max(1) as f64
    }
}

/// SplitMix64: small, seeded, the same everywhere.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Poisson arrivals at `per_ms` in `[from, to)`.
fn poisson(rng: &mut Rng, per_ms: f64, from: f64, to: f64, out: &mut Vec<u64>) {
    let mut t = from;
    loop {
        t += -(1.0 - rng.unit()).ln() / per_ms;
        if t >= to {
            return;
        }
        out.push(t as u64);
    }
}

/// Arrivals in `[from, to)` at `peak_per_ms` times `1 - 0.8 cos(2π x)` / 1.8, `x` the fraction of
/// the run gone: Poisson at the peak rate, each arrival kept with the demand's share of the peak.
fn diurnal(rng: &mut Rng, peak_per_ms: f64, from: f64, to: f64, out: &mut Vec<u64>) {
    let mut peak = Vec::new();
    poisson(rng, peak_per_ms, from, to, &mut peak);
    let day = to - from;
    out.extend(peak.into_iter().filter(|&t| {
        let x = (t as f64 - from) / day;
        rng.unit() < (1.0 - 0.8 * (std::f64::consts::TAU * x).cos()) / 1.8
    }));
}

/// Every arrival as `(time, key)`, sorted.
fn arrivals(s: &Scenario, rng: &mut Rng, start: u64) -> Vec<(u64, usize)> {
    let per_period = s.limit as f64;
    let p = s.period_ms as f64;
    let mut all = Vec::new();
    for key in 0..s.keys {
        let mut times = Vec::new();
        let (from, to) = (start as f64, (start + s.periods * s.period_ms) as f64);
        match s.shape {
            Shape::Steady(f) => poisson(rng, f * per_period / p, from, to, &mut times),
            Shape::HotKey => {
                let f = if key == 0 { 3.0 } else { 0.2 };
                poisson(rng, f * per_period / p, from, to, &mut times);
            }
            Shape::Burst => {
                poisson(rng, 0.1 * per_period / p, from, to, &mut times);
                for w in 0..s.periods {
                    let spike = from + (w as f64 + 0.5) * p;
                    poisson(rng, 1.5 * per_period / (p / 10.0), spike, spike + p / 10.0, &mut times);
                }
            }
            Shape::Diurnal => diurnal(rng, 1.8 * per_period / p, from, to, &mut times),
        }
        all.extend(times.into_iter().map(|t| (t, key)));
    }
    all.sort_unstable();
    all
}

enum Event {
    Arrive { key: usize, instance: usize },
    AtCounter { key: usize, instance: usize, sent_clock: u64, request: LeaseRequest },
    Reply { key: usize, instance: usize, sent_clock: u64, grant: Grant },
}

#[derive(Default)]
struct Slot {
    local: Local,
    pending: bool,
    waiting: VecDeque<u64>,
}

struct World {
    s: Scenario,
    rate: Rate,
    queue: BinaryHeap<Reverse<(u64, u64, usize)>>,
    events: Vec<Option<Event>>,
    slots: HashMap<(usize, usize), Slot>,
    counters: Vec<(State, ActiveInstances)>,
    offsets: Vec<i64>,
    per_window: BTreeMap<(usize, u64), u64>,
    latencies: Vec<u64>,
    out: Outcome,
}

impl World {
    fn schedule(&mut self, at: u64, event: Event) {
        self.events.push(Some(event));
        let seq = self.events.len() as u64;
        self.queue.push(Reverse((at, seq, self.events.len() - 1)));
    }

    fn clock(&self, instance: usize, now: u64) -> u64 {
        now.saturating_add_signed(self.offsets[instance])
    }

    /// Decides the waiting requests of one slot, asking the counter when its lease runs out.
    fn drain(&mut self, key: usize, instance: usize, now: u64) {
        let clock = self.clock(instance, now);
        let slot = self.slots.entry((key, instance)).or_default();
        let mut ask = None;
        let want = slot.waiting.len() as u64;
        while let Some(&arrived) = slot.waiting.front() {
            match slot.local.step(1, clock) {
                Step::Spend => {
                    slot.local.spend(1);
                    self.out.admitted += 1;
                    *self.per_window.entry((key, now / self.s.period_ms)).or_default() += 1;
                }
                Step::Deny(_) => {}
                Step::Ask => {
                    if !slot.pending {
                        slot.pending = true;
                        ask = Some(slot.local.take_return());
                    }
                    break;
                }
            }
            self.latencies.push(now - arrived);
            slot.waiting.pop_front();
        }
        if let Some(returned) = ask {
            let request = LeaseRequest { cost: 1, want, instances: 1, returned };
            let at = now + self.s.rtt_ms / 2;
            self.schedule(at, Event::AtCounter { key, instance, sent_clock: clock, request });
        }
    }

    fn handle(&mut self, now: u64, event: Event) {
        match event {
            Event::Arrive { key, instance } => {
                let slot = self.slots.entry((key, instance)).or_default();
                slot.waiting.push_back(now);
                if !slot.pending {
                    self.drain(key, instance, now);
                }
            }
            Event::AtCounter { key, instance, sent_clock, mut request } => {
                let horizon = self.s.settings.validity_ms * 2;
                let (state, active) = &mut self.counters[key];
                request.instances = active.seen(&instance.to_string(), now, horizon);
                let (grant, next) = lease::grant(&self.rate, *state, &request, &self.s.settings, now);
                *state = next;
                self.out.calls += 1;
                let at = now + self.s.rtt_ms - self.s.rtt_ms / 2;
                self.schedule(at, Event::Reply { key, instance, sent_clock, grant });
            }
            Event::Reply { key, instance, sent_clock, grant } => {
                let slot = self.slots.entry((key, instance)).or_default();
                let clock = now.saturating_add_signed(self.offsets[instance]);
                slot.local.receive(&grant, sent_clock, clock);
                slot.pending = false;
                self.drain(key, instance, now);
            }
        }
    }
}

/// The traffic of a scenario, the same for every mode: each arrival as `(time, key, instance)`
/// in order, each instance's clock offset, and what the ideal single counter admits.
pub(crate) struct Traffic {
    /// The first window's start.
    pub(crate) start: u64,
    /// `(time, key, instance)`, sorted by time.
    pub(crate) arrivals: Vec<(u64, usize, usize)>,
    /// Each instance's clock offset, ms.
    pub(crate) offsets: Vec<i64>,
    /// Requests the ideal single counter admits.
    pub(crate) reference: u64,
}

/// Draws a scenario's traffic and decides it on the ideal counter.
pub(crate) fn traffic(s: &Scenario) -> Traffic {
    let mut rng = Rng(s.seed);
    let start = 1_700_000_000_000 - 1_700_000_000_000 % s.period_ms;
    let rate = s.rate();
    let timed = arrivals(s, &mut rng, start);
    let offsets = (0..s.instances).map(|_| rng.below(2 * s.skew_ms as u64 + 1) as i64 - s.skew_ms).collect();
    let mut ideal = vec![rate.initial_state(); s.keys];
    let mut reference = 0;
    let mut arrivals = Vec::with_capacity(timed.len());
    for (t, key) in timed {
        let (decision, next) = decide(ideal[key], 1, &rate, t);
        ideal[key] = next;
        reference += u64::from(decision.admitted);
        arrivals.push((t, key, rng.below(s.instances as u64) as usize));
    }
    Traffic { start, arrivals, offsets, reference }
}

impl Scenario {
    /// The limit every key has.
    pub(crate) fn rate(&self) -> Rate {
        Rate { algorithm: Algorithm::SlidingWindow, limit: self.limit, period_ms: self.period_ms }
    }
}

/// The p99 of `latencies` (sorted here).
pub(crate) fn p99(latencies: &mut [u64]) -> u64 {
    latencies.sort_unstable();
    let at = latencies.len().saturating_sub(1) * 99 / 100;
    latencies.get(at).copied().unwrap_or(0)
}

/// Runs one scenario.
pub(crate) fn run(s: &Scenario) -> Outcome {
    let rate = s.rate();
    let traffic = traffic(s);
    let mut world = World {
        s: *s,
        rate,
        queue: BinaryHeap::new(),
        events: Vec::new(),
        slots: HashMap::new(),
        counters: vec![(rate.initial_state(), ActiveInstances::default()); s.keys],
        offsets: traffic.offsets,
        per_window: BTreeMap::new(),
        latencies: Vec::new(),
        out: Outcome {
            demand: traffic.arrivals.len() as u64,
            reference: traffic.reference,
            ..Outcome::default()
        },
    };
    for &(t, key, instance) in &traffic.arrivals {
        world.schedule(t, Event::Arrive { key, instance });
    }
    while let Some(Reverse((now, _, index))) = world.queue.pop() {
        let event = world.events[index].take().expect("each event runs once");
        world.handle(now, event);
    }
    world.out.over = world.per_window.values().map(|&n| n.saturating_sub(s.limit)).sum();
    world.out.p99_ms = p99(&mut world.latencies);
    world.out
}
