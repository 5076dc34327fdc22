//! The rate-limit stage: a route's policies, each charged to its counter through a lease.
//!
//! [`Limiter`] is an instance's view of every counter it has used: the lease it holds and its
//! deny cache ([`crate::ratelimit::lease::Local`]), in a bounded map. For a request it plans
//! every enforced policy at once ([`lease::plan_all`]): when every lease holds the cost, all
//! are spent and the request goes on; when a deny cache refuses, nothing is spent and the
//! answer is 429; otherwise the policies without a usable lease ask their counters
//! ([`Counters::call`]), one after another, stopping at the first that says exhausted, and the
//! plan is made again. So a refused request spends nothing in any policy: leases it fetched
//! stay with the instance for later requests, or go back with the next call (at once on an
//! instance that lives for one request, where nothing stays).
//!
//! A counter that fails or misses the deadline leaves the decision to the policy's
//! `on_store_error`: `fail_open` admits without charging it (logged), `fail_closed` answers 503.
//! Shadow policies are planned separately after the enforced ones admitted: they are charged
//! like any other, and a refusal is only logged.
//!
//! Approximate policies ([`crate::ratelimit::approximate`]) are decided first, on this
//! instance's count plus the others' shares (exchanged at most every [`SYNC_MS`]), and charged
//! only once every policy admitted. Where the platform has no shared store for them
//! ([`Counters::shares`] is false: Spin) they are counted exactly like the others.

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::time::Duration;

use http::{HeaderName, HeaderValue};

use crate::config::{Config, Route};
use crate::error::GatewayError;
use crate::ports::{Clock, Counters, Entropy, Level, Log, Ports, UnixMillis};
use crate::ratelimit::approximate::{self, Approx};
use crate::ratelimit::counter::CounterCall;
use crate::ratelimit::headers::{self, Applied};
use crate::ratelimit::key::{KeyFacts, counter_key};
use crate::ratelimit::lease::{self, Grant, Local, Plan};
use crate::ratelimit::sliding::{self, SlidingState};
use crate::ratelimit::{Algorithm, Decision, Mode, Policy};

/// Counters an instance remembers at most; past it, the least recently used goes (its unused
/// tokens are lost to this window, which only ever refuses more).
pub const MAX_COUNTERS: usize = 4096;

/// Asking rounds per request before a counter that keeps lending unusable leases (expired on
/// arrival) is treated as failed.
const ROUNDS: usize = 3;

/// An instance's leases and deny caches, per counter key.
#[derive(Debug, Default)]
pub struct Limiter {
    instance: OnceCell<String>,
    slots: RefCell<HashMap<String, Slot>>,
    approx: RefCell<HashMap<String, Approx>>,
}

/// What an instance holds of its counters, for the status page (read-only).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct LimiterStats {
    /// Counters this instance remembers.
    pub counters: usize,
    /// Of those, the ones with unspent leased tokens that have not expired.
    pub leases_held: usize,
    /// Of those, the ones whose deny cache refuses locally now.
    pub denies_active: usize,
}

impl Limiter {
    /// The counters this instance holds at `now`.
    pub fn stats(&self, now: UnixMillis) -> LimiterStats {
        let slots = self.slots.borrow();
        LimiterStats {
            counters: slots.len(),
            leases_held: slots.values().filter(|s| s.local.tokens > 0 && now < s.local.expires_at).count(),
            denies_active: slots.values().filter(|s| now < s.local.denied_until).count(),
        }
    }
}

/// How often an instance exchanges an approximate counter's shares (Workers KV takes one write
/// per second per key; each instance writes only its own key).
pub const SYNC_MS: u64 = 1_000;

/// One counter as this instance sees it.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    local: Local,
    /// Units left at the counter after its last answer.
    remaining: u64,
    /// When the quota resets, by the counter's last answer.
    reset_at: UnixMillis,
    /// Last use, for eviction.
    used_at: UnixMillis,
}

/// One policy applied to this request.
struct Check<'a> {
    policy: &'a Policy,
    key: String,
    /// Its counter failed and `fail_open` let the request through uncharged.
    bypassed: bool,
    /// Approximate mode: the decision and the state to keep if the request is admitted.
    approx: Option<(Decision, Approx)>,
}

/// How a group of policies decided.
enum Outcome {
    Admitted,
    Refused { wait: Duration, by: usize },
}

impl Limiter {
    /// Applies `route`'s policies to the request described by `facts`: `Ok` with the response
    /// fields for the enforced policies (empty when the route has none), or the 429/503 error.
    pub async fn check<P: Ports>(
        &self,
        ports: &P,
        config: &Config,
        route: &Route,
        facts: &KeyFacts<'_>,
    ) -> Result<Vec<(HeaderName, HeaderValue)>, GatewayError> {
        if route.rate_limit.is_empty() {
            return Ok(Vec::new());
        }
        let limits = &config.rate_limits;
        let (mut enforced, mut shadow): (Vec<Check<'_>>, Vec<Check<'_>>) = route
            .rate_limit
            .iter()
            .map(|&i| &limits.policies[i])
            .map(|policy| Check { policy, key: counter_key(policy, facts), bypassed: false, approx: None })
            .partition(|check| !check.policy.shadow);
        let deadline = config.settings.rate_limit_deadline;
        let outcome = match self.approximate(ports, &mut enforced).await {
            Some(refused) => refused,
            None => self.run(ports, &mut enforced, deadline, false).await?,
        };
        if matches!(outcome, Outcome::Admitted) {
            self.keep_approximate(&enforced, ports.clock().now());
        }
        let refused = matches!(outcome, Outcome::Refused { .. });
        let fields = headers::fields(&self.applied(ports, &enforced), refused, limits.legacy_headers);
        if let Outcome::Refused { by, wait } = outcome {
            let policy = enforced[by].policy.name.clone();
            ports.log().record(
                Level::Info,
                &format!(
                    "rate limit `{policy}` refused key {} for {} ms",
                    enforced[by].key,
                    wait.as_millis()
                ),
            );
            return Err(GatewayError::RateLimited { policy, fields });
        }
        let shadow_outcome = match self.approximate(ports, &mut shadow).await {
            Some(refused) => Ok(refused),
            None => self.run(ports, &mut shadow, deadline, true).await,
        };
        if let Ok(Outcome::Admitted) = shadow_outcome {
            self.keep_approximate(&shadow, ports.clock().now());
        }
        if let Ok(Outcome::Refused { by, .. }) = shadow_outcome {
            ports.log().record(
                Level::Info,
                &format!(
                    "rate limit `{}` (shadow) would refuse key {}; admitted",
                    shadow[by].policy.name, shadow[by].key
                ),
            );
        }
        Ok(fields)
    }

    /// Plans `checks` together, asking counters as needed, and spends when all admit.
    async fn run<P: Ports>(
        &self,
        ports: &P,
        checks: &mut [Check<'_>],
        deadline: Duration,
        shadow: bool,
    ) -> Result<Outcome, GatewayError> {
        for _ in 0..ROUNDS {
            let now = ports.clock().now();
            let live: Vec<usize> =
                (0..checks.len()).filter(|&i| !checks[i].bypassed && checks[i].approx.is_none()).collect();
            let (locals, costs) = self.locals(checks, &live);
            match lease::plan_all(&locals, &costs, now) {
                Plan::Admit => {
                    self.spend(checks, &live, &costs, now);
                    return Ok(Outcome::Admitted);
                }
                Plan::Refuse(wait) => {
                    let by = live[self.longest_deny(&locals, &costs, now)];
                    if !ports.counters().leases() {
                        self.give_back_now(ports, checks, deadline).await;
                    }
                    return Ok(Outcome::Refused { wait, by });
                }
                Plan::Ask(asks) => {
                    for i in asks.into_iter().map(|a| live[a]) {
                        if !self.ask(ports, &mut checks[i], deadline, shadow).await? {
                            break; // exhausted: the next plan refuses without asking the rest
                        }
                    }
                }
            }
        }
        // Leases that expire before they arrive: the counter is unusable for this request.
        for check in checks.iter_mut().filter(|c| !c.bypassed && c.approx.is_none()) {
            store_failed(ports, check, "the counter's leases expired on arrival", shadow)?;
        }
        Ok(Outcome::Admitted)
    }

    /// Decides the approximate policies among `checks` (exchanging shares when due), without
    /// charging them yet: `Some` when one refuses.
    async fn approximate<P: Ports>(&self, ports: &P, checks: &mut [Check<'_>]) -> Option<Outcome> {
        let counters = ports.counters();
        if !counters.shares() {
            return None;
        }
        let mut refused: Option<(Duration, usize)> = None;
        for (i, check) in checks.iter_mut().enumerate() {
            let policy = check.policy;
            if policy.mode != Mode::Approximate || !matches!(policy.rate.algorithm, Algorithm::SlidingWindow)
            {
                continue;
            }
            let now = ports.clock().now();
            let mut approx = self.approx.borrow().get(&check.key).copied().unwrap_or_default();
            if approx.due(now, SYNC_MS) {
                // Marked before the exchange, so concurrent requests of this instance do not
                // start their own (one write per second per key is all KV takes).
                self.approx.borrow_mut().entry(check.key.clone()).or_default().synced_at = now;
                let me = self.instance(ports).to_owned();
                let mine = approx.share(&me, &policy.rate, now);
                let keep = Duration::from_millis(policy.rate.period_ms.saturating_mul(2));
                match counters.exchange(&check.key, &mine, keep).await {
                    Ok(shares) => approx.merge(&shares, &me, &policy.rate, now),
                    Err(error) => {
                        ports.log().record(
                            Level::Warn,
                            &format!(
                                "rate limit `{}`: sharing counts failed ({error}); deciding on the last known counts",
                                policy.name
                            ),
                        );
                        approx.synced_at = now;
                    }
                }
            }
            // Other requests of this instance may have been charged while the exchange ran.
            if let Some(stored) = self.approx.borrow().get(&check.key) {
                approx.own = stored.own;
            }
            let (decision, next) = approximate::decide(&approx, policy.cost, &policy.rate, now);
            check.approx = Some((decision, if decision.admitted { next } else { approx }));
            if let Some(wait) = decision.retry_after
                && refused.is_none_or(|(longest, _)| wait > longest)
            {
                refused = Some((wait, i));
            }
        }
        // Exchanged state is kept even when the request is refused (only the charge waits).
        let mut stored = self.approx.borrow_mut();
        for (key, (_, seen)) in checks.iter().filter_map(|c| Some((&c.key, c.approx?))) {
            if stored.len() >= MAX_COUNTERS && !stored.contains_key(key) {
                stored.clear(); // rare: forget every approximate view rather than grow
            }
            let entry = stored.entry(key.clone()).or_default();
            entry.others = seen.others;
            entry.synced_at = seen.synced_at;
        }
        refused.map(|(wait, by)| Outcome::Refused { wait, by })
    }

    /// Charges the approximate policies of an admitted request.
    /// Charges are added to the count stored now, never written over it: requests of this
    /// instance decided concurrently each add their own cost.
    fn keep_approximate(&self, checks: &[Check<'_>], now: UnixMillis) {
        let mut stored = self.approx.borrow_mut();
        for check in checks {
            if let Some((decision, seen)) = check.approx
                && decision.admitted
            {
                let entry = stored.entry(check.key.clone()).or_default();
                let own = sliding::roll(entry.own, check.policy.rate.period_ms, now);
                entry.own = SlidingState { current: own.current.saturating_add(check.policy.cost), ..own };
                if seen.synced_at >= entry.synced_at {
                    entry.others = seen.others;
                    entry.synced_at = seen.synced_at;
                }
            }
        }
    }

    /// Asks `check`'s counter for a lease; `false` when it answered exhausted.
    async fn ask<P: Ports>(
        &self,
        ports: &P,
        check: &mut Check<'_>,
        deadline: Duration,
        shadow: bool,
    ) -> Result<bool, GatewayError> {
        let counters = ports.counters();
        let leases = counters.leases();
        let returned = self.slots.borrow_mut().get_mut(&check.key).and_then(|slot| slot.local.take_return());
        let policy = check.policy;
        let call = CounterCall {
            rate: policy.rate,
            instance: if leases { self.instance(ports).to_owned() } else { String::new() },
            cost: policy.cost,
            want: policy.cost,
            returned,
            max_tokens: (!leases).then_some(policy.cost),
        };
        let sent_at = ports.clock().now();
        match counters.call(&check.key, &call, deadline).await {
            Ok(grant) => {
                let received_at = ports.clock().now();
                let mut slot = self.slots.borrow().get(&check.key).copied().unwrap_or_default();
                let gcra = matches!(policy.rate.algorithm, Algorithm::Gcra { .. });
                slot.local.absorb(&grant, sent_at, received_at, gcra);
                let (remaining, reset_after, lent) = match grant {
                    Grant::Lease(lease) => (lease.remaining + slot.local.tokens, lease.reset_after, true),
                    Grant::Exhausted { reset_after, .. } => (0, reset_after, false),
                };
                slot.remaining = remaining;
                slot.reset_at =
                    received_at.saturating_add(u64::try_from(reset_after.as_millis()).unwrap_or(0));
                self.put(check.key.clone(), slot, received_at);
                Ok(lent)
            }
            Err(error) => {
                store_failed(ports, check, &error.to_string(), shadow)?;
                Ok(true)
            }
        }
    }

    /// Returns the tokens fetched for a refused request at once, on an instance that lives for
    /// one request (nothing it holds survives it). A failed return is only logged: the tokens
    /// are then lost to this window, which refuses more, never admits more.
    async fn give_back_now<P: Ports>(&self, ports: &P, checks: &[Check<'_>], deadline: Duration) {
        for check in checks.iter().filter(|c| !c.bypassed) {
            let returned = self.slots.borrow_mut().get_mut(&check.key).and_then(|s| s.local.take_return());
            let Some(returned) = returned else { continue };
            let call = CounterCall {
                rate: check.policy.rate,
                instance: String::new(),
                cost: 0,
                want: 0,
                returned: Some(returned),
                max_tokens: Some(0),
            };
            if let Err(error) = ports.counters().call(&check.key, &call, deadline).await {
                ports.log().record(
                    Level::Warn,
                    &format!("rate limit `{}`: returning unused tokens failed: {error}", check.policy.name),
                );
            }
        }
    }

    /// The slots' leases and the costs, for the checks at `live`.
    fn locals(&self, checks: &[Check<'_>], live: &[usize]) -> (Vec<Local>, Vec<u64>) {
        let slots = self.slots.borrow();
        live.iter()
            .map(|&i| (slots.get(&checks[i].key).map(|s| s.local).unwrap_or_default(), checks[i].policy.cost))
            .unzip()
    }

    /// The index (into `locals`) of the deny that lasts longest.
    fn longest_deny(&self, locals: &[Local], costs: &[u64], now: UnixMillis) -> usize {
        (0..locals.len())
            .max_by_key(|&i| match locals[i].step(costs[i], now) {
                lease::Step::Deny(wait) => wait,
                _ => Duration::ZERO,
            })
            .unwrap_or(0)
    }

    /// Spends every live check's cost from its lease.
    fn spend(&self, checks: &[Check<'_>], live: &[usize], costs: &[u64], now: UnixMillis) {
        let mut slots = self.slots.borrow_mut();
        for (&i, &cost) in live.iter().zip(costs) {
            if let Some(slot) = slots.get_mut(&checks[i].key) {
                slot.local.spend(cost);
                slot.remaining = slot.remaining.saturating_sub(cost);
                slot.used_at = now;
            }
        }
    }

    /// Stores `slot`, evicting the least recently used counter when the map is full.
    fn put(&self, key: String, slot: Slot, now: UnixMillis) {
        let mut slots = self.slots.borrow_mut();
        if slots.len() >= MAX_COUNTERS
            && !slots.contains_key(&key)
            && let Some(oldest) = slots.iter().min_by_key(|(_, s)| s.used_at).map(|(k, _)| k.clone())
        {
            slots.remove(&oldest);
        }
        slots.insert(key, Slot { used_at: now, ..slot });
    }

    /// What each enforced policy that was counted decided, for the response fields.
    fn applied<'c, P: Ports>(&self, ports: &P, checks: &'c [Check<'c>]) -> Vec<Applied<'c>> {
        let now = ports.clock().now();
        let slots = self.slots.borrow();
        checks
            .iter()
            .filter(|check| !check.bypassed)
            .map(|check| {
                if let Some((decision, _)) = check.approx {
                    return Applied {
                        name: &check.policy.name,
                        limit: check.policy.rate.limit,
                        period_s: check.policy.period_s(),
                        decision,
                    };
                }
                let slot = slots.get(&check.key).copied().unwrap_or_default();
                let retry_after = match slot.local.step(check.policy.cost, now) {
                    lease::Step::Deny(wait) => Some(wait),
                    _ => None,
                };
                let decision = Decision {
                    admitted: retry_after.is_none(),
                    remaining: if retry_after.is_some() {
                        0
                    } else {
                        slot.remaining.min(check.policy.rate.limit)
                    },
                    reset_after: Duration::from_millis(slot.reset_at.saturating_sub(now)),
                    retry_after,
                };
                Applied {
                    name: &check.policy.name,
                    limit: check.policy.rate.limit,
                    period_s: check.policy.period_s(),
                    decision,
                }
            })
            .collect()
    }

    /// This instance's id: random, made once.
    fn instance<P: Ports>(&self, ports: &P) -> &str {
        self.instance.get_or_init(|| {
            let mut bytes = [0u8; 8];
            ports.entropy().fill(&mut bytes);
            bytes.iter().map(|b| format!("{b:02x}")).collect()
        })
    }
}

/// A counter that failed: `fail_open` (or a shadow policy) lets the request through without
/// charging it; `fail_closed` refuses with 503.
fn store_failed<P: Ports>(
    ports: &P,
    check: &mut Check<'_>,
    reason: &str,
    shadow: bool,
) -> Result<(), GatewayError> {
    use crate::ratelimit::OnStoreError;
    let policy = &check.policy.name;
    let closed = check.policy.on_store_error == OnStoreError::FailClosed && !shadow;
    let outcome = if closed { "refusing (fail_closed)" } else { "admitting uncounted (fail_open)" };
    ports.log().record(Level::Warn, &format!("rate limit `{policy}`: counter failed ({reason}); {outcome}"));
    if closed {
        return Err(GatewayError::RateLimitUnavailable { policy: policy.clone(), reason: reason.to_owned() });
    }
    check.bypassed = true;
    Ok(())
}
