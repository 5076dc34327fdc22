//! The counter's side of an exact limit: [`serve`], one pure step every counter store runs.
//!
//! A counter store keeps one [`Record`] per counter key: the algorithm's state, the instances
//! that asked recently (so lease sizes shrink as more of them share the budget) and how many
//! calls it answered. The Workers Durable Object runs [`serve`] inside the object (atomic by
//! the object's single thread), the Spin adapter runs it between a compare-and-swap's read and
//! its swap (retrying when another instance swapped first), and the in-memory fake and the
//! simulation run it directly. So every store grants exactly what [`super::lease::grant`]
//! decides.
//!
//! The wire format between an instance and its counter is JSON ([`CounterCall`] in,
//! [`super::lease::Grant`] out), and so is the stored record.

use serde::{Deserialize, Serialize};

use super::lease::{self, ActiveInstances, Grant, LeaseRequest, LeaseSettings, Returned};
use super::{Rate, State};
use crate::ports::UnixMillis;

/// How long an instance counts as sharing a counter after its last call.
pub const ACTIVE_HORIZON_MS: u64 = 10_000;

/// What an instance sends its counter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterCall {
    /// The policy's arithmetic (the counter keeps no config of its own).
    pub rate: Rate,
    /// The asking instance's id (random per instance); empty for an instance that lives for one
    /// request only (Spin), which is then neither counted as sharing the budget nor lent more
    /// than `max_tokens`.
    pub instance: String,
    /// One request's cost.
    pub cost: u64,
    /// Units waiting at the instance now (at least `cost`).
    pub want: u64,
    /// Unused tokens of the instance's previous lease.
    pub returned: Option<Returned>,
    /// Largest lease the instance can use, below the store's own maximum: `cost` for an
    /// instance that cannot keep tokens past its request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
}

impl CounterCall {
    /// The call as JSON.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a counter call serializes")
    }

    /// A call read from JSON; `None` when malformed.
    pub fn from_json(bytes: &[u8]) -> Option<CounterCall> {
        serde_json::from_slice(bytes).ok()
    }
}

/// A grant as JSON.
pub fn grant_to_json(grant: &Grant) -> Vec<u8> {
    serde_json::to_vec(grant).expect("a grant serializes")
}

/// A grant read from JSON; `None` when malformed.
pub fn grant_from_json(bytes: &[u8]) -> Option<Grant> {
    serde_json::from_slice(bytes).ok()
}

/// What a counter store keeps under one key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The algorithm's state (`None` before the first call).
    pub state: Option<State>,
    /// The instances that asked within [`ACTIVE_HORIZON_MS`].
    pub active: ActiveInstances,
    /// Calls answered so far (reported by the stores' stats).
    pub calls: u64,
}

impl Record {
    /// A stored record; a missing one, or one another version wrote in a form this one cannot
    /// read, starts fresh.
    pub fn from_stored(bytes: Option<&[u8]>) -> Record {
        bytes.and_then(|b| serde_json::from_slice(b).ok()).unwrap_or_default()
    }

    /// The record as stored.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a counter record serializes")
    }
}

/// Answers `call` at `now` (the store's clock) against the record stored as `stored`: the
/// grant, and the record to store in its place.
pub fn serve(
    stored: Option<&[u8]>,
    call: &CounterCall,
    settings: &LeaseSettings,
    now: UnixMillis,
) -> (Grant, Vec<u8>) {
    let mut record = Record::from_stored(stored);
    let instances = match call.instance.is_empty() {
        true => 1,
        false => record.active.seen(&call.instance, now, ACTIVE_HORIZON_MS),
    };
    let settings = match call.max_tokens {
        Some(max) => &LeaseSettings { max_tokens: max.min(settings.max_tokens), ..*settings },
        None => settings,
    };
    let state = record.state.unwrap_or_else(|| call.rate.initial_state());
    let request =
        LeaseRequest { cost: call.cost, want: call.want.max(call.cost), instances, returned: call.returned };
    let (grant, state) = lease::grant(&call.rate, state, &request, settings, now);
    record.state = Some(state);
    record.calls = record.calls.saturating_add(1);
    (grant, record.to_json())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::Algorithm;

    fn call(instance: &str) -> CounterCall {
        CounterCall {
            rate: Rate { algorithm: Algorithm::SlidingWindow, limit: 10, period_ms: 60_000 },
            instance: instance.into(),
            cost: 1,
            want: 1,
            returned: None,
            max_tokens: None,
        }
    }

    #[test]
    fn an_instance_of_one_request_gets_one_requests_cost_and_is_not_tracked() {
        let one = CounterCall { instance: String::new(), max_tokens: Some(1), ..call("") };
        let (grant, stored) = serve(None, &one, &LeaseSettings::default(), 0);
        let Grant::Lease(lease) = grant else { panic!("lends") };
        assert_eq!(lease.tokens, 1);
        assert_eq!(Record::from_stored(Some(&stored)).active, ActiveInstances::default());
    }

    #[test]
    fn a_record_round_trips_and_counts_calls_and_instances() {
        let settings = LeaseSettings::default();
        let (first, stored) = serve(None, &call("a"), &settings, 1_000);
        let Grant::Lease(first) = first else { panic!("a fresh counter lends") };
        let (_, stored) = serve(Some(&stored), &call("b"), &settings, 1_100);
        let record = Record::from_stored(Some(&stored));
        assert_eq!(record.calls, 2);
        let (_, stored) = serve(Some(&stored), &call("c"), &settings, 1_200);
        let record = Record::from_stored(Some(&stored));
        assert_eq!(record.calls, 3);
        let Some(State::Sliding(state)) = record.state else { panic!("sliding state kept") };
        assert!(state.current >= first.tokens + 2, "every grant is charged: {state:?}");
        assert!(state.current <= 10);
    }

    #[test]
    fn the_budget_is_never_lent_twice() {
        let settings = LeaseSettings::default();
        let mut stored: Option<Vec<u8>> = None;
        let mut lent = 0;
        for i in 0..40 {
            let (grant, next) = serve(stored.as_deref(), &call(&format!("i{}", i % 4)), &settings, 5_000 + i);
            if let Grant::Lease(lease) = grant {
                lent += lease.tokens;
            }
            stored = Some(next);
        }
        assert_eq!(lent, 10, "exactly the limit is lent in one window");
    }

    #[test]
    fn wire_forms_round_trip_and_garbage_is_refused() {
        let c = call("x");
        assert_eq!(CounterCall::from_json(&c.to_json()), Some(c));
        assert_eq!(CounterCall::from_json(b"{"), None);
        let (grant, _) = serve(None, &call("x"), &LeaseSettings::default(), 0);
        assert_eq!(grant_from_json(&grant_to_json(&grant)), Some(grant));
        assert_eq!(Record::from_stored(Some(b"not json")), Record::default());
    }
}
