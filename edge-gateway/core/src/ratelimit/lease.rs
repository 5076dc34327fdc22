//! Exact global limits with few round trips: the lease arithmetic.
//!
//! One counter (a Durable Object per key) holds the truth. Instead of asking it for every
//! request, an instance asks for a *lease* of a few tokens, spends them locally, and asks again
//! when they run out or expire. The counter charges a lease in full when it grants it, so the
//! tokens in circulation never exceed what the limit allows: the instances together can never
//! admit more than the counter granted.
//!
//! - **Size** ([`lease_size`]) adapts to the budget left and to how many instances are asking:
//!   a share of `remaining / (instances * spread)`, at most `max_tokens`, and never below one
//!   request's cost while the budget holds it; so near the limit every lease is one request.
//! - **Expiry**: a lease is valid for `validity_ms`, and never past the end of the window it
//!   was charged to, so every token is spent in the window that counted it. The instance counts
//!   validity from when it *sent* the request ([`Local::receive`]), so neither the round trip nor
//!   an instance's clock offset can stretch it.
//! - **Return**: unused tokens go back with the instance's next request to the counter
//!   ([`give_back`]): taken off the window they were charged to if it is still the current or
//!   the previous one (where they only weigh in the estimate), dropped otherwise.
//! - **Deny cache**: when the budget cannot hold one request, the counter answers
//!   [`Grant::Exhausted`] with the time the cost fits again; the instance refuses locally until
//!   then without asking.
//!
//! GCRA policies are leased one request at a time, for the request that asked: a batch held
//! while the bucket refills would let a burst exceed GCRA's definition. An unused one (the
//! request was refused by another policy) goes back only if no other grant followed it
//! ([`give_back`]). Their deny cache works the same way.
//!
//! Several policies on one request ([`plan_all`]): the request is admitted only when every
//! policy's local lease holds its cost, and only then are all spent. A request refused by one
//! policy spends nothing from the others: leases fetched for it stay with the instance for later
//! requests or go back unused.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::gcra::GcraState;
use super::sliding::{self, SlidingState};
use super::{Algorithm, Rate, State, decide, millis};
use crate::ports::UnixMillis;

/// How a counter lends tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseSettings {
    /// Largest lease.
    pub max_tokens: u64,
    /// Longest validity of a lease, in milliseconds.
    pub validity_ms: u64,
    /// Leases are at most `remaining / (instances * spread)`: with `spread = 4`, the instances
    /// together hold at most a quarter of what is left, so no instance starves another.
    pub spread: u64,
}

impl Default for LeaseSettings {
    fn default() -> Self {
        LeaseSettings { max_tokens: 64, validity_ms: 3_000, spread: 4 }
    }
}

/// What an instance sends the counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseRequest {
    /// The cost of one request (the least useful lease).
    pub cost: u64,
    /// Units the instance has waiting right now (at least `cost`): lent at once when the budget
    /// holds them, even beyond the instance's share and `max_tokens`, as they are spent on
    /// arrival.
    pub want: u64,
    /// Instances recently active on this key, as the counter counts them
    /// ([`ActiveInstances`]).
    pub instances: u64,
    /// Unused tokens of the instance's previous lease.
    pub returned: Option<Returned>,
}

/// Unused tokens going back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Returned {
    /// How many.
    pub tokens: u64,
    /// Where they were charged ([`Lease::charged_at`]).
    pub charged_at: u64,
}

/// Tokens lent to an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// How many.
    pub tokens: u64,
    /// How long they may be spent, counted from when the instance sent its request.
    pub valid_for: Duration,
    /// Where they were charged, for their return: the window's start (sliding window), or the
    /// TAT the grant left, in nanoseconds (GCRA).
    pub charged_at: u64,
    /// Units left at the counter after this lease.
    pub remaining: u64,
    /// Until the quota resets (for the `RateLimit` field).
    pub reset_after: Duration,
    /// When this lease took the last of the budget: how long to refuse locally once its tokens
    /// are spent (the deny cache, as for [`Grant::Exhausted`]).
    pub then_exhausted_for: Option<Duration>,
}

/// The counter's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Grant {
    /// Tokens to spend locally.
    Lease(Lease),
    /// Not even one request fits: refuse locally for this long.
    Exhausted {
        /// Until the request's cost fits again if nothing else arrives.
        retry_after: Duration,
        /// Until the quota resets.
        reset_after: Duration,
    },
}

/// How many tokens to lend when `remaining` units are left, `instances` are asking and the asker
/// has `want` units waiting; 0 when not even `cost` fits.
pub fn lease_size(remaining: u64, cost: u64, want: u64, instances: u64, settings: &LeaseSettings) -> u64 {
    if remaining < cost {
        return 0;
    }
    let share = remaining / instances.max(1).saturating_mul(settings.spread.max(1));
    let share = share.clamp(cost, settings.max_tokens.max(cost));
    share.max(want).min(remaining)
}

/// The counter's side: takes back `request.returned`, then lends what [`lease_size`] allows.
pub fn grant(
    rate: &Rate,
    state: State,
    request: &LeaseRequest,
    settings: &LeaseSettings,
    now: UnixMillis,
) -> (Grant, State) {
    let state = match request.returned {
        Some(returned) => give_back(rate, state, returned, now),
        None => state,
    };
    let (probe, _) = decide(state, request.cost, rate, now);
    if !probe.admitted {
        return (exhausted(rate, state, request, now), state);
    }
    let (tokens, valid_for) = match rate.algorithm {
        Algorithm::Gcra { .. } => (request.cost, settings.validity_ms),
        Algorithm::SlidingWindow => {
            let available = probe.remaining + request.cost;
            let reset_ms = u64::try_from(probe.reset_after.as_millis()).unwrap_or(u64::MAX);
            let size = lease_size(available, request.cost, request.want, request.instances, settings);
            (size, settings.validity_ms.min(reset_ms))
        }
    };
    let (decision, charged) = decide(state, tokens, rate, now);
    debug_assert!(decision.admitted, "a lease within the remaining budget is admitted");
    let charged_at = match charged {
        State::Sliding(s) => s.window_start,
        State::Gcra(g) => g.tat_ns,
    };
    let then_exhausted_for = match exhausted(rate, charged, request, now) {
        Grant::Exhausted { retry_after, .. } if decision.remaining < request.cost => Some(retry_after),
        _ => None,
    };
    let lease = Lease {
        tokens,
        valid_for: millis(valid_for),
        charged_at,
        remaining: decision.remaining,
        reset_after: decision.reset_after,
        then_exhausted_for,
    };
    (Grant::Lease(lease), charged)
}

/// The deny-cache answer: refuse until one request fits for each of the instances asking (at
/// most the whole limit). Waiting for one request's worth would bring every instance back for
/// each unit that slides out of the window; the units freed meanwhile are not lost, they are
/// there when the instances return.
fn exhausted(rate: &Rate, state: State, request: &LeaseRequest, now: UnixMillis) -> Grant {
    let units =
        request.cost.saturating_mul(request.instances.max(1)).min(super::gcra::burst(rate)).max(request.cost);
    let (one, _) = decide(state, request.cost, rate, now);
    let (all, _) = decide(state, units, rate, now);
    let retry_after = all.retry_after.or(one.retry_after).unwrap_or(Duration::from_secs(1));
    Grant::Exhausted { retry_after, reset_after: one.reset_after }
}

/// Takes unused tokens back (see the module docs). A GCRA lease comes back only while no other
/// grant followed it (the TAT is still the one it left): then the bucket is as if it had never
/// been granted. Otherwise it is lost until the bucket refills, which only ever refuses more.
pub fn give_back(rate: &Rate, state: State, returned: Returned, now: UnixMillis) -> State {
    match state {
        State::Gcra(g) if g.tat_ns == returned.charged_at => {
            let taken = returned.tokens.saturating_mul(super::gcra::emission_ns(rate));
            State::Gcra(GcraState { tat_ns: g.tat_ns.saturating_sub(taken) })
        }
        State::Gcra(_) => state,
        State::Sliding(s) => {
            let s = sliding::roll(s, rate.period_ms, now);
            let back = if returned.charged_at == s.window_start {
                SlidingState { current: s.current.saturating_sub(returned.tokens), ..s }
            } else if returned.charged_at + rate.period_ms == s.window_start {
                SlidingState { previous: s.previous.saturating_sub(returned.tokens), ..s }
            } else {
                s
            };
            State::Sliding(back)
        }
    }
}

/// What an instance does with a request under one policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The local lease holds the cost.
    Spend,
    /// The counter said exhausted: refuse without asking, for this long.
    Deny(Duration),
    /// Ask the counter for a lease.
    Ask,
}

/// An instance's view of one counter: its lease and its deny cache, in the instance's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Local {
    /// Unspent leased tokens.
    pub tokens: u64,
    /// When they stop being spendable.
    pub expires_at: UnixMillis,
    /// Where they were charged ([`Lease::charged_at`]).
    pub charged_at: u64,
    /// Refuse locally until then.
    pub denied_until: UnixMillis,
}

impl Local {
    /// What to do with a request of `cost` at `now`.
    /// Expired unspent tokens send the request to the counter even while the deny cache
    /// refuses: they go back with it ([`Local::take_return`]), and may be what another
    /// instance is waiting for.
    pub fn step(&self, cost: u64, now: UnixMillis) -> Step {
        let live = now < self.expires_at;
        if live && self.tokens >= cost {
            Step::Spend
        } else if !live && self.tokens > 0 {
            Step::Ask
        } else if now < self.denied_until {
            Step::Deny(millis(self.denied_until - now))
        } else {
            Step::Ask
        }
    }

    /// Spends `cost` tokens (after [`Step::Spend`]).
    pub fn spend(&mut self, cost: u64) {
        self.tokens -= cost.min(self.tokens);
    }

    /// The unused tokens to send back with the next request to the counter, leaving none.
    pub fn take_return(&mut self) -> Option<Returned> {
        let tokens = std::mem::take(&mut self.tokens);
        (tokens > 0).then_some(Returned { tokens, charged_at: self.charged_at })
    }

    /// Records the counter's answer to a request sent at `sent_at` and answered at
    /// `received_at` (both the instance's clock). A lease's validity counts from `sent_at`, so
    /// the round trip can only shorten it; a deny counts from `received_at`, so it is never
    /// over before it arrives (a longer deny only refuses more).
    ///
    /// Several requests of one instance can ask at once; an answer arriving while an earlier
    /// lease still holds tokens keeps them when both can be spent together ([`Local::absorb`]),
    /// so concurrent asks never strand tokens the counter charged.
    pub fn receive(&mut self, grant: &Grant, sent_at: UnixMillis, received_at: UnixMillis) {
        self.absorb(grant, sent_at, received_at, false);
    }

    /// [`Local::receive`], keeping the unspent tokens of the lease held now when they can be
    /// spent with the new one: a sliding-window lease charged to the same window, or (`gcra`)
    /// a later GCRA grant (its return then takes both back, see [`give_back`]). The merged
    /// lease expires with the earlier of the two. An exhausted answer keeps held tokens too:
    /// they were charged, and the deny applies once they are spent.
    pub fn absorb(&mut self, grant: &Grant, sent_at: UnixMillis, received_at: UnixMillis, gcra: bool) {
        let after =
            |at: UnixMillis, d: Duration| at.saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let held = (self.tokens > 0 && received_at < self.expires_at).then_some(*self);
        *self = match grant {
            Grant::Lease(lease) => {
                let fresh = Local {
                    tokens: lease.tokens,
                    expires_at: after(sent_at, lease.valid_for),
                    charged_at: lease.charged_at,
                    denied_until: lease.then_exhausted_for.map_or(0, |d| after(received_at, d)),
                };
                match held {
                    Some(old)
                        if old.charged_at == fresh.charged_at
                            || (gcra && fresh.charged_at > old.charged_at) =>
                    {
                        Local {
                            tokens: old.tokens.saturating_add(fresh.tokens),
                            expires_at: old.expires_at.min(fresh.expires_at),
                            ..fresh
                        }
                    }
                    _ => fresh,
                }
            }
            Grant::Exhausted { retry_after, .. } => {
                Local { denied_until: after(received_at, *retry_after), ..held.unwrap_or_default() }
            }
        };
    }
}

/// The plan for a request under several policies' local state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Every lease holds its cost: spend all ([`spend_all`]).
    Admit,
    /// A deny cache refuses: spend nothing, refuse for the longest of the waits.
    Refuse(Duration),
    /// These policies (indices) must ask their counters first; then plan again.
    Ask(Vec<usize>),
}

/// Plans a request that costs `costs[i]` under `locals[i]`, without spending anything.
pub fn plan_all(locals: &[Local], costs: &[u64], now: UnixMillis) -> Plan {
    let steps: Vec<Step> = locals.iter().zip(costs).map(|(local, &cost)| local.step(cost, now)).collect();
    if let Some(wait) = steps.iter().filter_map(|s| if let Step::Deny(d) = s { Some(*d) } else { None }).max()
    {
        return Plan::Refuse(wait);
    }
    let ask: Vec<usize> = (0..steps.len()).filter(|&i| steps[i] == Step::Ask).collect();
    if ask.is_empty() { Plan::Admit } else { Plan::Ask(ask) }
}

/// Spends every policy's cost (after [`Plan::Admit`]).
pub fn spend_all(locals: &mut [Local], costs: &[u64]) {
    for (local, &cost) in locals.iter_mut().zip(costs) {
        local.spend(cost);
    }
}

/// The instances that asked a counter recently: the `instances` of a [`LeaseRequest`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveInstances {
    last_seen: BTreeMap<String, UnixMillis>,
}

impl ActiveInstances {
    /// Records `instance` asking at `now`, forgets those silent for `horizon_ms`, and returns
    /// how many are left (at least 1).
    pub fn seen(&mut self, instance: &str, now: UnixMillis, horizon_ms: u64) -> u64 {
        self.last_seen.insert(instance.to_owned(), now);
        self.last_seen.retain(|_, &mut at| now.saturating_sub(at) < horizon_ms);
        self.last_seen.len().max(1) as u64
    }

    /// Whether no instance is remembered.
    pub fn is_empty(&self) -> bool {
        self.last_seen.is_empty()
    }
}
