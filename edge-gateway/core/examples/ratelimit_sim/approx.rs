//! A deterministic simulation of approximate-mode rate limiting: per-instance counts merged
//! through an eventually consistent store (Workers KV).
//!
//! The traffic is the exact simulation's ([`sim::traffic`]: the same arrivals at the same
//! instances, so the same ideal counter). Each instance keeps one [`Approx`] per key and runs the
//! core's functions as the rate-limit stage does: on its first request after [`Approx::due`] it
//! publishes [`Approx::share`] under its own key and merges every instance's share
//! ([`Approx::merge`]), then decides with [`approximate::decide`] and keeps the charge only when
//! admitted. The store shows an instance its own write at once and another instance's newest
//! write made at least `propagation_ms` ago. Clocks agree (no skew), and an exchange counts as
//! instant for the decision; its round trip is added to the latency of the request that made it.
//!
//! Measured: over-admission (units admitted beyond the limit in any aligned window),
//! under-admission against the ideal single counter, exchanges per admitted request, the p99
//! latency the exchanges add, and the bound the over-admission must stay within (see
//! [`Outcome::bound`]).

use std::collections::VecDeque;

use edge_gateway_core::ratelimit::SlidingState;
use edge_gateway_core::ratelimit::approximate::{self, Approx, Share};

use crate::sim::{self, Scenario};

/// How the instances share their counts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sharing {
    /// Least time between two exchanges of one instance for one key (the stage's `SYNC_MS`).
    pub(crate) sync_ms: u64,
    /// How long a write takes to show at the other instances.
    pub(crate) propagation_ms: u64,
    /// What one exchange (a write and a list) adds to the request that makes it.
    pub(crate) rtt_ms: u64,
}

/// What an approximate run measured.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Outcome {
    /// Requests admitted.
    pub(crate) admitted: u64,
    /// Requests the ideal single counter admits.
    pub(crate) reference: u64,
    /// Units admitted beyond the limit, summed over keys and windows.
    pub(crate) over: u64,
    /// The most admitted beyond the limit in one window of one key.
    pub(crate) worst: u64,
    /// Exchanges with the store (each one write and one list).
    pub(crate) exchanges: u64,
    /// p99 of the latency added to a decision, ms.
    pub(crate) p99_ms: u64,
    /// Windows whose over-admission exceeds the bound: an instance misses only what the others
    /// admitted after their last write it can see, which is at most what every instance admitted
    /// in the last `sync_ms + propagation_ms` plus, for each instance, one batch (what it admits
    /// between two of its writes). Summed per window: the most admitted in any such interval of
    /// the window, plus every instance's largest batch.
    pub(crate) beyond_bound: u64,
}

impl Outcome {
    /// Over-admission as a percentage of what was admitted.
    pub(crate) fn over_pct(&self) -> f64 {
        100.0 * self.over as f64 / self.admitted.max(1) as f64
    }
    /// Under-admission as a percentage of the reference (0 when more was admitted).
    pub(crate) fn under_pct(&self) -> f64 {
        100.0 * self.reference.saturating_sub(self.admitted) as f64 / self.reference.max(1) as f64
    }
    /// Exchanges per admitted request.
    pub(crate) fn exchanges_per_admitted(&self) -> f64 {
        self.exchanges as f64 / self.admitted.max(1) as f64
    }
}

/// Shares summed in blocks, so that a list of 1,000 shares costs about 60 additions.
const BLOCK: usize = 32;

/// The store's view of one key: each instance's newest visible share, and writes on their way.
struct Store {
    /// Visible shares, instance `i` at `blocks[i / BLOCK][i % BLOCK]`.
    blocks: Vec<Vec<Share>>,
    /// Each block's shares summed by [`approximate::others`] (none skipped); `dirty` when stale.
    sums: Vec<Share>,
    dirty: Vec<bool>,
    /// `(visible at, instance, counts)`, in order.
    pending: VecDeque<(u64, usize, SlidingState)>,
}

impl Store {
    fn new(names: &[String]) -> Store {
        let blocks: Vec<Vec<Share>> = names
            .chunks(BLOCK)
            .map(|chunk| {
                chunk
                    .iter()
                    .map(|name| Share { instance: name.clone(), counts: SlidingState::default() })
                    .collect()
            })
            .collect();
        let sums = (0..blocks.len())
            .map(|b| Share { instance: format!("block {b}"), counts: SlidingState::default() })
            .collect();
        Store { dirty: vec![false; blocks.len()], blocks, sums, pending: VecDeque::new() }
    }

    /// `me` publishes its share and merges every visible one, as the stage's exchange does.
    fn exchange(
        &mut self,
        view: &mut Approx,
        me: usize,
        names: &[String],
        s: &Scenario,
        sharing: &Sharing,
        now: u64,
    ) {
        let rate = s.rate();
        let mine = view.share(&names[me], &rate, now);
        self.pending.push_back((now + sharing.propagation_ms, me, mine.counts));
        while let Some(&(at, instance, counts)) = self.pending.front()
            && at <= now
        {
            self.blocks[instance / BLOCK][instance % BLOCK].counts = counts;
            self.dirty[instance / BLOCK] = true;
            self.pending.pop_front();
        }
        for b in 0..self.blocks.len() {
            if std::mem::take(&mut self.dirty[b]) {
                self.sums[b].counts = approximate::others(&self.blocks[b], "", s.period_ms, now);
            }
        }
        // Own block without `me`: the list the store returns, summed per block.
        let own = me / BLOCK;
        let whole = self.sums[own].counts;
        self.sums[own].counts = approximate::others(&self.blocks[own], &names[me], s.period_ms, now);
        if cfg!(debug_assertions) && names.len() <= 100 {
            let flat: Vec<Share> = self.blocks.iter().flatten().cloned().collect();
            let mut expected = *view;
            expected.merge(&flat, &names[me], &rate, now);
            view.merge(&self.sums, &names[me], &rate, now);
            assert_eq!(*view, expected, "the block sums list what a flat store lists");
        } else {
            view.merge(&self.sums, &names[me], &rate, now);
        }
        self.sums[own].counts = whole;
    }
}

/// Per key: admissions per window, and what the bound needs.
struct Tally {
    per_window: Vec<u64>,
    /// The most admitted in any `sync + propagation` interval, per window.
    recent_max: Vec<u64>,
    /// Admission times within the last interval of the current window.
    recent: VecDeque<u64>,
    /// Per instance: admissions since its last write, and the most ever.
    batch: Vec<u64>,
    largest_batch: Vec<u64>,
}

impl Tally {
    fn new(s: &Scenario) -> Tally {
        Tally {
            per_window: vec![0; s.periods as usize],
            recent_max: vec![0; s.periods as usize],
            recent: VecDeque::new(),
            batch: vec![0; s.instances],
            largest_batch: vec![0; s.instances],
        }
    }

    fn admit(&mut self, instance: usize, window: usize, window_start: u64, horizon_ms: u64, now: u64) {
        self.per_window[window] += 1;
        while let Some(&t) = self.recent.front()
            && (t + horizon_ms <= now || t < window_start)
        {
            self.recent.pop_front();
        }
        self.recent.push_back(now);
        self.recent_max[window] = self.recent_max[window].max(self.recent.len() as u64);
        self.batch[instance] += 1;
        self.largest_batch[instance] = self.largest_batch[instance].max(self.batch[instance]);
    }
}

/// Runs one scenario in approximate mode.
pub(crate) fn run(s: &Scenario, sharing: &Sharing) -> Outcome {
    let rate = s.rate();
    let traffic = sim::traffic(s);
    let names: Vec<String> = (0..s.instances).map(|i| format!("instance-{i}")).collect();
    let mut stores: Vec<Store> = (0..s.keys).map(|_| Store::new(&names)).collect();
    let mut tallies: Vec<Tally> = (0..s.keys).map(|_| Tally::new(s)).collect();
    let mut views = vec![Approx::default(); s.keys * s.instances];
    let mut latencies = Vec::with_capacity(traffic.arrivals.len());
    let horizon = sharing.sync_ms + sharing.propagation_ms;
    let mut out = Outcome { reference: traffic.reference, ..Outcome::default() };
    for &(now, key, instance) in &traffic.arrivals {
        let view = &mut views[key * s.instances + instance];
        let mut latency = 0;
        if view.due(now, sharing.sync_ms) {
            stores[key].exchange(view, instance, &names, s, sharing, now);
            tallies[key].batch[instance] = 0;
            out.exchanges += 1;
            latency = sharing.rtt_ms;
        }
        latencies.push(latency);
        let (decision, next) = approximate::decide(view, 1, &rate, now);
        if decision.admitted {
            *view = next;
            out.admitted += 1;
            let window = ((now - traffic.start) / s.period_ms) as usize;
            let window_start = traffic.start + window as u64 * s.period_ms;
            tallies[key].admit(instance, window, window_start, horizon, now);
        }
    }
    for tally in &tallies {
        let batches: u64 = tally.largest_batch.iter().sum();
        for (&admitted, &recent) in tally.per_window.iter().zip(&tally.recent_max) {
            let over = admitted.saturating_sub(s.limit);
            out.over += over;
            out.worst = out.worst.max(over);
            out.beyond_bound += u64::from(over > recent + batches);
        }
    }
    out.p99_ms = sim::p99(&mut latencies);
    out
}
