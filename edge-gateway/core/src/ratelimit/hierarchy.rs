//! Several limits on one request (tenant > user > route): all must admit, then all are charged.
//!
//! [`admit_all`] checks every policy against its own state first and charges only when every
//! enforced one admits, so a refused request consumes quota in none of them. A shadow policy is
//! checked and reported but never refuses; it is charged only when the request is admitted *and*
//! it would itself have admitted it, so its counter shows what the limit would have let through.
//! Across separate stores (one Durable Object per key) the same rule holds through leases: see
//! [`super::lease`].

use super::{Decision, Rate, State, decide};
use crate::ports::UnixMillis;

/// One policy to check for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Check {
    /// Its arithmetic.
    pub rate: Rate,
    /// Units the request costs under it.
    pub cost: u64,
    /// Whether it only counts and reports (never refuses).
    pub shadow: bool,
    /// The counter's state before this request.
    pub state: State,
}

/// The outcome of [`admit_all`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Whether every enforced policy admits the request.
    pub admitted: bool,
    /// Each policy's own decision, in the order given (a shadow policy's says what it would
    /// have done).
    pub decisions: Vec<Decision>,
    /// Each counter's state after the request: charged ones changed, every other one exactly as
    /// given.
    pub states: Vec<State>,
}

impl Verdict {
    /// The index of the enforced policy whose refusal lasts longest, if any refused.
    pub fn refused_by(&self, checks: &[Check]) -> Option<usize> {
        (0..checks.len())
            .filter(|&i| !checks[i].shadow && !self.decisions[i].admitted)
            .max_by_key(|&i| self.decisions[i].retry_after)
    }
}

/// Checks every policy, then charges all of them only if every enforced one admits.
pub fn admit_all(checks: &[Check], now: UnixMillis) -> Verdict {
    let tried: Vec<(Decision, State)> =
        checks.iter().map(|check| decide(check.state, check.cost, &check.rate, now)).collect();
    let admitted = checks.iter().zip(&tried).all(|(check, (decision, _))| check.shadow || decision.admitted);
    let states = checks
        .iter()
        .zip(&tried)
        .map(
            |(check, (decision, charged))| {
                if admitted && decision.admitted { *charged } else { check.state }
            },
        )
        .collect();
    let decisions = checks
        .iter()
        .zip(&tried)
        .map(|(check, (decision, _))| {
            if decision.admitted && !admitted {
                // Admitted here but not charged: the request took nothing from this counter.
                Decision { remaining: decision.remaining.saturating_add(check.cost), ..*decision }
            } else {
                *decision
            }
        })
        .collect();
    Verdict { admitted, decisions, states }
}
