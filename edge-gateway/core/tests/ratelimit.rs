//! Rate-limit decisions as tables on a virtual clock: window edges, bursts, cost > 1, hierarchical
//! refusal charging nothing, counter keys, response fields and the lease arithmetic.
#![allow(missing_docs)]

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use std::net::IpAddr;
use std::rc::Rc;
use std::time::Duration;

use edge_gateway_core::auth::identity::Identity;
use edge_gateway_core::ratelimit::headers::{self, Applied};
use edge_gateway_core::ratelimit::key::{KeyFacts, counter_key};
use edge_gateway_core::ratelimit::lease::{
    self, Grant, Lease, LeaseRequest, LeaseSettings, Local, Plan, Returned,
};
use edge_gateway_core::ratelimit::{
    Algorithm, Check, Decision, KeyPart, Mode, OnStoreError, Policy, Rate, SlidingState, State, admit_all,
    decide,
};
use http::{HeaderMap, HeaderValue};

/// A table row: the case, its requests as `(now, cost)`, which are admitted.
type Row = (&'static str, Vec<(u64, u64)>, Vec<bool>);

const SLIDING_10_PER_S: Rate = Rate { algorithm: Algorithm::SlidingWindow, limit: 10, period_ms: 1000 };
const GCRA_10_PER_S_BURST_3: Rate =
    Rate { algorithm: Algorithm::Gcra { burst: 3 }, limit: 10, period_ms: 1000 };

/// Runs `(now, cost)` requests against one counter; returns which were admitted.
fn run(rate: &Rate, requests: &[(u64, u64)]) -> Vec<bool> {
    let mut state = rate.initial_state();
    requests
        .iter()
        .map(|&(now, cost)| {
            let (decision, next) = decide(state, cost, rate, now);
            state = next;
            decision.admitted
        })
        .collect()
}

#[test]
fn sliding_window_cases() {
    let t = 1_000_000; // a window start
    // (case, requests as (now, cost), expected admissions)
    let table: &[Row] = &[
        (
            "ten fit, the eleventh does not",
            (0..11).map(|i| (t + i, 1)).collect(),
            [vec![true; 10], vec![false]].concat(),
        ),
        ("cost > 1 counts its units", vec![(t, 4), (t, 4), (t, 4), (t, 2)], vec![true, true, false, true]),
        ("a cost above the limit never fits", vec![(t, 11)], vec![false]),
        // 10 at the end of one window weigh fully at the start of the next, half at its middle.
        (
            "the previous window weighs in",
            vec![(t + 999, 10), (t + 1000, 1), (t + 1500, 5), (t + 1500, 1)],
            vec![true, false, true, false],
        ),
        ("two windows later the past is gone", vec![(t, 10), (t + 2000, 10)], vec![true, true]),
        ("a refused request is not charged", vec![(t, 9), (t, 2), (t, 1)], vec![true, false, true]),
        (
            "a lagging clock counts in the current window",
            vec![(t + 1000, 10), (t + 999, 1)],
            vec![true, false],
        ),
    ];
    for (case, requests, expected) in table {
        assert_eq!(&run(&SLIDING_10_PER_S, requests), expected, "{case}");
    }
}

#[test]
fn sliding_window_reports_remaining_reset_and_retry() {
    let t = 1_000_000;
    let state = State::Sliding(SlidingState { window_start: t, current: 3, previous: 0 });
    let (admitted, _) = decide(state, 2, &SLIDING_10_PER_S, t + 250);
    let expected =
        Decision { admitted: true, remaining: 5, reset_after: Duration::from_millis(750), retry_after: None };
    assert_eq!(admitted, expected);
    let full = State::Sliding(SlidingState { window_start: t, current: 10, previous: 0 });
    let (refused, same) = decide(full, 1, &SLIDING_10_PER_S, t + 250);
    assert_eq!((refused.admitted, refused.remaining, same), (false, 0, full));
    // Next window, 10 previous: 1 fits once 10 * (1000 - e) / 1000 <= 9, at e = 100.
    assert_eq!(refused.retry_after, Some(Duration::from_millis(750 + 100)));
}

#[test]
fn gcra_cases() {
    let t = 1_000_000;
    let table: &[Row] = &[
        (
            "a burst of 3, then one per 100 ms",
            vec![(t, 1), (t, 1), (t, 1), (t, 1), (t + 99, 1), (t + 100, 1)],
            vec![true, true, true, false, false, true],
        ),
        ("cost 3 takes the whole burst", vec![(t, 3), (t + 100, 2), (t + 200, 2)], vec![true, false, true]),
        ("a cost above the burst never fits", vec![(t, 4)], vec![false]),
        (
            "an idle bucket fills to the burst, not beyond",
            vec![(t, 3), (t + 10_000, 3), (t + 10_000, 1)],
            vec![true, true, false],
        ),
        ("a refused request is not charged", vec![(t, 2), (t, 2), (t, 1)], vec![true, false, true]),
    ];
    for (case, requests, expected) in table {
        assert_eq!(&run(&GCRA_10_PER_S_BURST_3, requests), expected, "{case}");
    }
}

#[test]
fn gcra_reports_remaining_and_reset() {
    let (first, state) = decide(GCRA_10_PER_S_BURST_3.initial_state(), 1, &GCRA_10_PER_S_BURST_3, 5_000);
    assert_eq!((first.remaining, first.reset_after), (2, Duration::from_millis(100)));
    let (second, _) = decide(state, 2, &GCRA_10_PER_S_BURST_3, 5_000);
    assert_eq!((second.remaining, second.reset_after), (0, Duration::from_millis(300)));
}

#[test]
fn a_state_of_the_other_algorithm_counts_as_fresh() {
    let stored = State::Sliding(SlidingState { window_start: 0, current: 10, previous: 10 });
    assert!(decide(stored, 3, &GCRA_10_PER_S_BURST_3, 5_000).0.admitted);
}

fn check(rate: Rate, shadow: bool) -> Check {
    Check { rate, cost: 1, shadow, state: rate.initial_state() }
}

#[test]
fn hierarchical_refusal_charges_nothing() {
    let tenant = Rate { limit: 5, ..SLIDING_10_PER_S };
    let user = Rate { limit: 1, ..SLIDING_10_PER_S };
    let mut checks = vec![check(tenant, false), check(user, false)];
    let first = admit_all(&checks, 10_000);
    assert!(first.admitted);
    for (check, state) in checks.iter_mut().zip(first.states) {
        check.state = state;
    }
    let second = admit_all(&checks, 10_001);
    assert!(!second.admitted, "the user limit of 1 refuses");
    assert_eq!(second.states, vec![checks[0].state, checks[1].state], "neither counter charged");
    assert_eq!(second.decisions[0].remaining, 4, "the tenant's remaining is as before the request");
    assert_eq!(second.refused_by(&checks), Some(1));
}

#[test]
fn shadow_policies_never_refuse_and_count_only_what_they_would_admit() {
    let enforced = check(SLIDING_10_PER_S, false);
    let mut shadow = check(Rate { limit: 1, ..SLIDING_10_PER_S }, true);
    shadow.state = State::Sliding(SlidingState { window_start: 10_000, current: 1, previous: 0 });
    let verdict = admit_all(&[enforced, shadow], 10_001);
    assert!(verdict.admitted, "the shadow refusal does not refuse");
    assert!(!verdict.decisions[1].admitted, "but it is reported");
    assert_eq!(verdict.states[1], shadow.state, "and not charged");
    assert_ne!(verdict.states[0], enforced.state, "the enforced policy is charged");
    assert_eq!(verdict.refused_by(&[enforced, shadow]), None);
}

fn policy(key: Vec<KeyPart>) -> Policy {
    Policy {
        name: "p".into(),
        rate: SLIDING_10_PER_S,
        key,
        cost: 1,
        mode: Mode::Exact,
        on_store_error: OnStoreError::FailOpen,
        shadow: false,
    }
}

fn api_key(id: &str, tenant: &str) -> Identity {
    Identity::ApiKey { id: id.into(), tenant: tenant.into(), scopes: vec![] }
}

fn jwt(sub: Option<&str>, tenant: Option<&str>) -> Identity {
    let claims = edge_gateway_core::auth::claims::Claims {
        sub: sub.map(str::to_owned),
        iss: None,
        aud: vec![],
        exp: None,
        nbf: None,
        iat: None,
        scopes: vec![],
        extra: serde_json::Map::new(),
    };
    Identity::Jwt { issuer: "corp".into(), tenant: tenant.map(str::to_owned), claims: Rc::new(claims) }
}

#[test]
fn counter_keys_come_from_what_the_gateway_established() {
    let ip: IpAddr = "203.0.113.7".parse().unwrap();
    let v6: IpAddr = "2001:db8:1:2:3:4:5:6".parse().unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("x-client", HeaderValue::from_static("a|b=c"));
    headers.append("x-client", HeaderValue::from_static(" d "));
    headers.insert("x-forwarded-for", HeaderValue::from_static("198.51.100.1"));
    let anonymous = Identity::Anonymous;
    let key = api_key("k1", "acme");
    let token = jwt(Some("alice"), Some("acme"));
    let no_sub = jwt(None, None);
    let bob = jwt(Some("bob"), None);
    let facts = |identity, client_ip| KeyFacts { route_id: "orders", identity, client_ip, headers: &headers };
    let header = KeyPart::Header(http::HeaderName::from_static("x-client"));
    let tenant = KeyPart::Claim("tenant".into());
    // (parts, facts, expected key)
    let table: Vec<(Vec<KeyPart>, KeyFacts<'_>, &str)> = vec![
        (vec![KeyPart::Global], facts(&anonymous, Some(ip)), "p|global"),
        (
            vec![KeyPart::Route, KeyPart::ClientIp],
            facts(&anonymous, Some(ip)),
            "p|route=orders|ip=203.0.113.7",
        ),
        (vec![KeyPart::ClientIp], facts(&anonymous, Some(v6)), "p|ip=2001:db8:1:2::/64"),
        (vec![KeyPart::ClientIp], facts(&anonymous, None), "p|ip!"),
        (vec![KeyPart::Subject], facts(&token, Some(ip)), "p|sub=alice"),
        (vec![KeyPart::Subject], facts(&key, Some(ip)), "p|sub=apikey:k1"),
        (vec![KeyPart::Subject], facts(&anonymous, Some(ip)), "p|sub!"),
        (vec![KeyPart::Subject], facts(&no_sub, Some(ip)), "p|sub!"),
        (vec![KeyPart::ApiKey], facts(&key, Some(ip)), "p|key=k1"),
        (vec![KeyPart::ApiKey], facts(&token, Some(ip)), "p|key!"),
        (vec![tenant.clone()], facts(&key, Some(ip)), "p|claim=tenant:acme"),
        (vec![tenant.clone()], facts(&token, Some(ip)), "p|claim=tenant:acme"),
        (vec![tenant], facts(&bob, Some(ip)), "p|claim!"),
        (vec![header], facts(&anonymous, Some(ip)), "p|hdr=x-client:a%7Cb%3Dc,d"),
        (
            vec![KeyPart::Header(http::HeaderName::from_static("x-absent"))],
            facts(&anonymous, Some(ip)),
            "p|hdr!",
        ),
    ];
    for (parts, facts, expected) in table {
        assert_eq!(counter_key(&policy(parts.clone()), &facts), expected, "{parts:?}");
    }
}

#[test]
fn regression_a_value_cannot_forge_another_part_or_the_absent_marker() {
    let headers = HeaderMap::new();
    let forged = jwt(Some("x|ip=1.2.3.4"), None);
    let facts = KeyFacts { route_id: "r", identity: &forged, client_ip: None, headers: &headers };
    let key = counter_key(&policy(vec![KeyPart::Subject, KeyPart::ClientIp]), &facts);
    assert_eq!(key, "p|sub=x%7Cip%3D1.2.3.4|ip!");
    let bang = jwt(Some("!"), None);
    let facts = KeyFacts { identity: &bang, ..facts };
    assert_eq!(counter_key(&policy(vec![KeyPart::Subject]), &facts), "p|sub=%21");
}

#[test]
fn long_keys_are_hashed_to_a_bounded_length() {
    let headers = HeaderMap::new();
    let long = jwt(Some(&"s".repeat(1000)), None);
    let other = jwt(Some(&format!("{}t", "s".repeat(999))), None);
    let key = |identity| {
        let facts = KeyFacts { route_id: "r", identity, client_ip: None, headers: &headers };
        counter_key(&policy(vec![KeyPart::Subject]), &facts)
    };
    assert!(key(&long).starts_with("p|h=") && key(&long).len() == 4 + 64);
    assert_ne!(key(&long), key(&other));
}

fn applied(name: &str, remaining: u64, reset_ms: u64, retry_ms: Option<u64>) -> Applied<'_> {
    Applied {
        name,
        limit: 100,
        period_s: 60,
        decision: Decision {
            admitted: retry_ms.is_none(),
            remaining,
            reset_after: Duration::from_millis(reset_ms),
            retry_after: retry_ms.map(Duration::from_millis),
        },
    }
}

fn rendered(fields: &[(http::HeaderName, HeaderValue)]) -> Vec<String> {
    fields.iter().map(|(n, v)| format!("{n}: {}", v.to_str().unwrap())).collect()
}

#[test]
fn response_fields_follow_the_ietf_draft() {
    let admitted = [applied("burst", 42, 16_001, None), applied("day", 7, 3_600_000, None)];
    assert_eq!(
        rendered(&headers::fields(&admitted, false, false)),
        [
            r#"ratelimit-policy: "burst";q=100;w=60, "day";q=100;w=60"#,
            r#"ratelimit: "burst";r=42;t=17, "day";r=7;t=3600"#,
        ]
    );
    let refused = [applied("burst", 0, 5_000, Some(2_300)), applied("day", 7, 3_600_000, None)];
    let fields = rendered(&headers::fields(&refused, true, true));
    assert_eq!(
        fields[2..],
        ["retry-after: 3", "x-ratelimit-limit: 100", "x-ratelimit-remaining: 0", "x-ratelimit-reset: 5"]
    );
    assert!(headers::fields(&[], true, true).is_empty());
}

#[test]
fn lease_size_shrinks_to_one_request_near_the_limit() {
    let settings = LeaseSettings { max_tokens: 64, validity_ms: 2000, spread: 4 };
    // (remaining, cost, want, instances, expected)
    let table = [
        (10_000, 1, 1, 1, 64),
        (10_000, 1, 1, 10, 64),
        (1_000, 1, 1, 10, 25),
        (100, 1, 1, 10, 2),
        (39, 1, 1, 10, 1),
        (1, 1, 1, 1000, 1),
        (0, 1, 1, 1, 0),
        (2, 3, 3, 1, 0),
        (5, 3, 3, 1, 3),
        (1_000, 100, 100, 1, 100),
        (1_000, 1, 50, 10, 50),
        (30, 1, 50, 10, 30),
        (10_000, 1, 500, 1, 500),
    ];
    for (remaining, cost, want, instances, expected) in table {
        assert_eq!(
            lease::lease_size(remaining, cost, want, instances, &settings),
            expected,
            "{remaining} {cost} {want} {instances}"
        );
    }
}

#[test]
fn leases_are_charged_when_granted_and_unused_tokens_come_back() {
    let rate = Rate { limit: 100, period_ms: 60_000, ..SLIDING_10_PER_S };
    let settings = LeaseSettings::default();
    let request = LeaseRequest { cost: 1, want: 1, instances: 1, returned: None };
    let (grant, state) = lease::grant(&rate, rate.initial_state(), &request, &settings, 60_000 * 10 + 59_000);
    let Grant::Lease(lease) = grant else { panic!("a lease") };
    assert_eq!(lease.tokens, 25, "a quarter of what is left");
    assert_eq!(lease.valid_for, Duration::from_millis(1000), "never past the window's end");
    assert_eq!(state, State::Sliding(SlidingState { window_start: 600_000, current: 25, previous: 0 }));
    let back = Returned { tokens: 20, charged_at: lease.charged_at };
    let returned = lease::give_back(&rate, state, back, 600_000 + 59_500);
    assert_eq!(returned, State::Sliding(SlidingState { window_start: 600_000, current: 5, previous: 0 }));
    let later = lease::give_back(&rate, state, back, 600_000 + 60_500);
    assert_eq!(later, State::Sliding(SlidingState { window_start: 660_000, current: 0, previous: 5 }));
    let too_late = lease::give_back(&rate, state, back, 600_000 + 120_500);
    assert_eq!(too_late, State::Sliding(SlidingState { window_start: 720_000, current: 0, previous: 0 }));
}

#[test]
fn an_exhausted_counter_answers_deny_until_and_the_instance_obeys() {
    let rate = Rate { limit: 2, period_ms: 1000, ..SLIDING_10_PER_S };
    let full = State::Sliding(SlidingState { window_start: 5000, current: 2, previous: 0 });
    let request = LeaseRequest { cost: 1, want: 1, instances: 3, returned: None };
    let (grant, same) = lease::grant(&rate, full, &request, &LeaseSettings::default(), 5_400);
    assert_eq!(same, full);
    let Grant::Exhausted { retry_after, .. } = grant else { panic!("exhausted") };
    // Three instances ask: deny until one request fits for each (here the whole limit of 2),
    // when the next window's previous count of 2 has slid out.
    assert_eq!(retry_after, Duration::from_millis(600 + 1000));
    let mut local = Local::default();
    local.receive(&grant, 5_390, 5_410); // sent 10 ms before the counter answered, back 10 ms after
    assert_eq!(local.step(1, 6_000), lease::Step::Deny(Duration::from_millis(1010)));
    assert_eq!(local.step(1, 7_010), lease::Step::Ask);
}

#[test]
fn expired_tokens_go_back_even_while_the_deny_cache_refuses() {
    // An instance holds 4 tokens of the lease that took the last of the budget, so its deny
    // cache refuses once they are spent; they expire unspent (its clients went quiet).
    let lease = Lease {
        tokens: 4,
        valid_for: Duration::from_millis(3000),
        charged_at: 60_000,
        remaining: 0,
        reset_after: Duration::from_millis(50_000),
        then_exhausted_for: Some(Duration::from_millis(50_000)),
    };
    let mut local = Local::default();
    local.receive(&Grant::Lease(lease), 10_000, 10_010);
    assert_eq!(local.step(1, 12_000), lease::Step::Spend, "live tokens are spent before the deny applies");
    // Past expiry the deny would strand them at the counter for the rest of the window; the
    // next request asks instead, and they travel with it.
    assert_eq!(local.step(1, 13_000), lease::Step::Ask);
    assert_eq!(local.take_return(), Some(Returned { tokens: 4, charged_at: 60_000 }));
    assert_eq!(
        local.step(1, 13_000),
        lease::Step::Deny(Duration::from_millis(47_010)),
        "then the deny holds"
    );
}

#[test]
fn gcra_leases_are_one_request_and_come_back_only_if_nothing_followed() {
    let rate = GCRA_10_PER_S_BURST_3;
    let settings = LeaseSettings::default();
    let request = LeaseRequest { cost: 1, want: 5, instances: 1, returned: None };
    let (grant, charged) = lease::grant(&rate, rate.initial_state(), &request, &settings, 1_000);
    let Grant::Lease(lease) = grant else { panic!("a lease") };
    assert_eq!(lease.tokens, 1, "one request, however many wait");
    let back = Returned { tokens: 1, charged_at: lease.charged_at };
    // Nothing granted since: the bucket is as if the lease never happened.
    let undone = lease::give_back(&rate, charged, back, 1_010);
    assert!(decide(undone, 3, &rate, 1_010).0.admitted, "the whole burst is there again");
    // Another grant followed: the return is refused (the token is lost, never doubled).
    let (_, later) = lease::grant(&rate, charged, &request, &settings, 1_005);
    assert_eq!(lease::give_back(&rate, later, back, 1_010), later);
}

#[test]
fn a_request_refused_by_one_local_lease_spends_none_of_the_others() {
    let holding = Local { tokens: 5, expires_at: 2_000, charged_at: 0, denied_until: 0 };
    let denied = Local { tokens: 0, expires_at: 0, charged_at: 0, denied_until: 1_500 };
    let empty = Local::default();
    assert_eq!(lease::plan_all(&[holding, denied], &[1, 1], 1_000), Plan::Refuse(Duration::from_millis(500)));
    assert_eq!(lease::plan_all(&[holding, empty], &[1, 1], 1_000), Plan::Ask(vec![1]));
    assert_eq!(lease::plan_all(&[holding, holding], &[1, 6], 1_000), Plan::Ask(vec![1]));
    assert_eq!(lease::plan_all(&[holding, holding], &[1, 1], 2_000), Plan::Ask(vec![0, 1]), "expired");
    let mut locals = [holding, holding];
    assert_eq!(lease::plan_all(&locals, &[1, 2], 1_000), Plan::Admit);
    lease::spend_all(&mut locals, &[1, 2]);
    assert_eq!((locals[0].tokens, locals[1].tokens), (4, 3));
}

#[test]
fn an_answer_to_a_concurrent_ask_keeps_what_the_instance_still_holds() {
    use edge_gateway_core::ratelimit::lease::{Grant, Lease, Local};
    use std::time::Duration;
    let lease = |tokens, charged_at| {
        Grant::Lease(Lease {
            tokens,
            valid_for: Duration::from_millis(3_000),
            charged_at,
            remaining: 10,
            reset_after: Duration::from_secs(5),
            then_exhausted_for: None,
        })
    };
    let held = Local { tokens: 4, expires_at: 2_500, charged_at: 60_000, denied_until: 0 };
    // (answer, gcra, at, tokens after, expiry after)
    let rows = [
        (lease(6, 60_000), false, 1_000, 10, 2_500), // same window: added, earlier expiry
        (lease(6, 120_000), false, 1_000, 6, 3_900), // another window: the old tokens cannot join
        (lease(1, 60_001), true, 1_000, 5, 2_500),   // a later GCRA grant: added
        (lease(1, 59_999), true, 1_000, 1, 3_900),   // an earlier GCRA grant: replaced
        (lease(6, 60_000), false, 2_600, 6, 3_900),  // the held lease expired first: replaced
    ];
    for (i, (grant, gcra, at, tokens, expires)) in rows.into_iter().enumerate() {
        let mut local = held;
        local.absorb(&grant, 900, at, gcra);
        assert_eq!((local.tokens, local.expires_at), (tokens, expires), "row {i}");
    }
    let mut local = held;
    local.absorb(
        &Grant::Exhausted { retry_after: Duration::from_secs(7), reset_after: Duration::from_secs(7) },
        900,
        1_000,
        false,
    );
    assert_eq!((local.tokens, local.denied_until), (4, 8_000), "held tokens survive an exhausted answer");
}
