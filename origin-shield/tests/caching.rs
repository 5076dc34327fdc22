//! The shield's cache, driven over loopback: storage rules, hits, coalescing, stale serving,
//! revalidation, size bounds, purge and metrics. The origin's own request log is the witness.

#[path = "loopback/client.rs"]
mod client;
#[path = "loopback/origin.rs"]
mod origin;
#[allow(dead_code)] // each test crate uses part of the harness
#[path = "loopback/shield.rs"]
mod shield;

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use client::Response;
use origin::Origin;
use shield::Shield;

/// Request fields sent with a row's request.
type Fields = &'static [(&'static str, &'static str)];

const SECRET: &str = "test-purge-secret-0123";

fn purge_section() -> String {
    format!("[purge]\nsecret = \"{SECRET}\"\n")
}

fn get(shield: &Shield, target: &str) -> Response {
    client::get(shield.addr, target).expect("response")
}

fn cache_status(response: &Response) -> &str {
    response.header("cache-status").expect("Cache-Status on every response")
}

fn body(response: &Response) -> String {
    String::from_utf8_lossy(&response.body).into_owned()
}

/// The value of one series on the shield's `/metrics` page.
fn metric(shield: &Shield, series: &str) -> f64 {
    let page = body(&get(shield, "/metrics"));
    let line = page.lines().find(|l| l.starts_with(&format!("{series} "))).expect(series);
    line.rsplit(' ').next().and_then(|v| v.parse().ok()).expect("number")
}

fn purge(shield: &Shield, auth: Option<&str>, json: &str) -> Response {
    let header = auth.map(|secret| format!("Bearer {secret}"));
    let headers: Vec<(&str, &str)> = header.iter().map(|h| ("Authorization", h.as_str())).collect();
    client::send(shield.addr, "POST", "/__shield/purge", &headers, json.as_bytes()).expect("response")
}

#[test]
fn second_get_is_a_hit_with_age_and_cache_status() {
    let origin = Origin::start();
    let shield = Shield::start(&origin.url());
    let target = "/c/a?cc=max-age=60";

    let miss = get(&shield, target);
    let hit = get(&shield, target);
    let head = client::send(shield.addr, "HEAD", target, &[], b"").expect("head");

    assert_eq!(miss.status, 200);
    assert_eq!(cache_status(&miss), "origin-shield; fwd=miss; fwd-status=200; stored");
    assert_eq!(body(&hit), body(&miss));
    assert!(cache_status(&hit).starts_with("origin-shield; hit; ttl="), "{}", cache_status(&hit));
    assert!(hit.header("age").is_some(), "no Age on a hit");
    assert!(cache_status(&head).starts_with("origin-shield; hit"), "{}", cache_status(&head));
    assert_eq!(origin.seen("/c/a").len(), 1);

    // A cold HEAD passes through (Pingora cannot fill an entry from it); the next GET fills.
    let cold_head = client::send(shield.addr, "HEAD", "/c/h?cc=max-age=60", &[], b"").expect("head");
    let after_head = get(&shield, "/c/h?cc=max-age=60");
    let warm_head = client::send(shield.addr, "HEAD", "/c/h?cc=max-age=60", &[], b"").expect("head");
    assert!(cold_head.body.is_empty() && cold_head.status == 200);
    assert!(cache_status(&cold_head).contains("detail=head-miss"), "{}", cache_status(&cold_head));
    assert!(cache_status(&after_head).ends_with("stored"), "{}", cache_status(&after_head));
    assert!(cache_status(&warm_head).starts_with("origin-shield; hit"), "{}", cache_status(&warm_head));
    let methods: Vec<String> = origin.seen("/c/h").into_iter().map(|s| s.method).collect();
    assert_eq!(methods, ["HEAD", "GET"]);
}

#[test]
fn responses_the_policy_refuses_are_not_stored() {
    let origin = Origin::start();
    let shield = Shield::start(&origin.url());
    let rows: [(&str, Fields, &str); 5] = [
        ("/c/cookie?cc=max-age=60&cookie=1", &[], "set-cookie"),
        ("/c/private?cc=private,+max-age=60", &[], "private"),
        ("/c/nostore?cc=no-store", &[], "no-store"),
        ("/c/auth?cc=max-age=60", &[("Authorization", "Bearer u")], "authorization"),
        ("/c/nottl", &[], "stale-on-arrival"),
    ];
    for (target, headers, detail) in rows {
        for _ in 0..2 {
            let response = client::send(shield.addr, "GET", target, headers, b"").expect("response");
            let expected = format!("detail={detail}");
            assert!(cache_status(&response).contains(&expected), "{target}: {}", cache_status(&response));
        }
        assert_eq!(origin.seen(target).len(), 2, "{target} was served from the cache");
    }
    // Authorization is fine when the origin marks the response public.
    let public = "/c/auth-public?cc=public,+max-age=60";
    for _ in 0..2 {
        client::send(shield.addr, "GET", public, &[("Authorization", "Bearer u")], b"").expect("response");
    }
    assert_eq!(origin.seen(public).len(), 1);
}

#[test]
fn hundred_concurrent_cold_requests_make_one_origin_request() {
    let origin = Origin::start();
    let shield = Arc::new(Shield::start(&origin.url()));
    let target = "/c/herd?cc=max-age=60&delay=300";
    let barrier = Arc::new(Barrier::new(100));

    let clients: Vec<_> = (0..100)
        .map(|_| {
            let (shield, barrier) = (shield.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                get(&shield, target)
            })
        })
        .collect();
    let responses: Vec<Response> = clients.into_iter().map(|c| c.join().expect("client")).collect();

    assert_eq!(origin.seen("/c/herd").len(), 1, "the origin saw more than one request");
    for response in &responses {
        assert_eq!((response.status, body(response)), (200, format!("body {target} #1")));
    }
    assert!(responses.iter().any(|r| cache_status(r).contains("; collapsed")));
    assert!(metric(&shield, "shield_cache_coalesced_waits_total") >= 1.0);
}

#[test]
fn waiters_go_to_the_origin_when_the_lock_times_out() {
    let origin = Origin::start();
    let shield = Arc::new(Shield::start_with(&origin.url(), "[cache]\nlock_timeout_ms = 100\n", &[]));
    let target = "/c/slowfill?cc=max-age=60&delay=400";
    let barrier = Arc::new(Barrier::new(5));

    let clients: Vec<_> = (0..5)
        .map(|_| {
            let (shield, barrier) = (shield.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                get(&shield, target)
            })
        })
        .collect();
    let responses: Vec<Response> = clients.into_iter().map(|c| c.join().expect("client")).collect();

    assert!(responses.iter().all(|r| r.status == 200 && body(r).starts_with("body /c/slowfill")));
    assert_eq!(origin.seen("/c/slowfill").len(), 5, "waiters did not fall back to the origin");
    assert!(responses.iter().any(|r| cache_status(r).contains("detail=lock-timeout")));
}

#[test]
fn bodies_over_max_object_bytes_stream_through_uncached() {
    let origin = Origin::start();
    let shield = Shield::start_with(&origin.url(), "[cache]\nmax_object_bytes = 1000\n", &[]);
    for target in ["/c/big?cc=max-age=60&size=5000", "/c/bigchunked?cc=max-age=60&size=50000&chunked=1"] {
        for _ in 0..2 {
            let response = get(&shield, target);
            assert_eq!(response.status, 200, "{target}");
            assert!(response.body.len() > 1000 && response.body.iter().all(|b| *b == b'x'), "{target}");
        }
        assert_eq!(origin.seen(target).len(), 2, "{target} was stored");
    }
    let small = "/c/small?cc=max-age=60&size=500";
    get(&shield, small);
    get(&shield, small);
    assert_eq!(origin.seen(small).len(), 1);
}

#[test]
fn eviction_keeps_the_cache_within_max_bytes() {
    let origin = Origin::start();
    let shield = Shield::start_with(&origin.url(), "[cache]\nmax_bytes = 65536\n", &[]);
    for i in 0..4 {
        get(&shield, &format!("/c/e{i}?cc=max-age=60&size=25000"));
    }
    thread::sleep(Duration::from_millis(200)); // eviction runs in a spawned task
    let bytes = metric(&shield, "shield_cache_bytes");
    assert!(bytes > 0.0 && bytes <= 65536.0, "cache holds {bytes} bytes");
    get(&shield, "/c/e0?cc=max-age=60&size=25000");
    assert_eq!(origin.seen("/c/e0").len(), 2, "the least recently used entry was not evicted");
}

#[test]
fn vary_keeps_one_variant_per_field_value() {
    let origin = Origin::start();
    let shield = Shield::start(&origin.url());
    let target = "/c/v?cc=max-age=60&vary=Accept-Encoding";
    for encoding in ["gzip", "br", "gzip", "br"] {
        let response =
            client::send(shield.addr, "GET", target, &[("Accept-Encoding", encoding)], b"").expect("r");
        assert_eq!(response.status, 200);
    }
    assert_eq!(origin.seen("/c/v").len(), 2);
}

#[test]
fn stale_if_error_serves_the_stale_entry_when_the_origin_is_down() {
    let mut origin = Origin::start();
    let shield = Shield::start(&origin.url());
    let target = "/c/sie?cc=max-age=1,+stale-if-error=60";
    let first = get(&shield, target);
    thread::sleep(Duration::from_millis(2100));
    origin.stop();

    let stale = get(&shield, target);

    assert_eq!((stale.status, body(&stale)), (200, body(&first)));
    assert!(cache_status(&stale).contains("detail=stale-if-error"), "{}", cache_status(&stale));
    assert!(metric(&shield, "shield_cache_stale_served_total") >= 1.0);
}

#[test]
fn stale_while_revalidate_serves_stale_then_the_refreshed_entry() {
    let origin = Origin::start();
    let shield = Shield::start(&origin.url());
    let target = "/c/swr?cc=max-age=1,+stale-while-revalidate=30";
    get(&shield, target);
    thread::sleep(Duration::from_millis(2100));

    let stale = get(&shield, target);
    thread::sleep(Duration::from_millis(300));
    let refreshed = get(&shield, target);

    assert_eq!(body(&stale), format!("body {target} #1"));
    assert!(cache_status(&stale).contains("detail=stale-while-revalidate"), "{}", cache_status(&stale));
    assert_eq!(body(&refreshed), format!("body {target} #2"));
    assert!(cache_status(&refreshed).starts_with("origin-shield; hit"), "{}", cache_status(&refreshed));
}

#[test]
fn stale_entry_with_etag_is_revalidated_by_a_304() {
    let origin = Origin::start();
    let shield = Shield::start(&origin.url());
    let target = "/c/etag?cc=max-age=1&etag=v1";
    let first = get(&shield, target);
    thread::sleep(Duration::from_millis(2100));

    let revalidated = get(&shield, target);
    let hit = get(&shield, target);

    assert_eq!((revalidated.status, body(&revalidated)), (200, body(&first)));
    assert!(
        cache_status(&revalidated).contains("fwd=stale; fwd-status=304"),
        "{}",
        cache_status(&revalidated)
    );
    assert!(cache_status(&hit).starts_with("origin-shield; hit"), "{}", cache_status(&hit));
    let seen = origin.seen("/c/etag");
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].header("if-none-match"), Some("\"v1\""));
}

#[test]
fn purge_by_url_tag_and_prefix_removes_exactly_those_entries() {
    let origin = Origin::start();
    let shield = Shield::start_with(&origin.url(), &purge_section(), &[]);
    let targets = [
        "/c/p/one?cc=max-age=60&tag=red",
        "/c/p/two?cc=max-age=60&tag=blue",
        "/c/q/three?cc=max-age=60&tag=red",
    ];
    let warm = || targets.iter().for_each(|t| drop(get(&shield, t)));
    let fetches = |t: &str| origin.seen(t).len();
    warm();

    let rows = [
        (format!(r#"{{"urls":["{}"]}}"#, targets[1]), 1, [1, 2, 1]),
        (r#"{"tags":["red"]}"#.to_owned(), 2, [2, 2, 2]),
        (r#"{"prefixes":["/c/p/"]}"#.to_owned(), 2, [3, 3, 2]),
    ];
    for (json, purged, expected_fetches) in rows {
        let response = purge(&shield, Some(SECRET), &json);
        assert_eq!(response.status, 200, "{json}: {}", body(&response));
        assert_eq!(response.json()["purged"], purged, "{json}");
        warm();
        assert_eq!(targets.map(fetches), expected_fetches, "{json}");
    }
    assert_eq!(metric(&shield, "shield_purged_total"), 5.0);
}

#[test]
fn purge_refusals_are_problems() {
    let origin = Origin::start();
    let shield = Shield::start_with(&origin.url(), "", &[("SHIELD_PURGE_SECRET", SECRET)]);
    let disabled = Shield::start(&origin.url());
    let urls = r#"{"urls":["/x"]}"#;
    let rows = [
        (purge(&shield, None, urls), 401, "unauthorized"),
        (purge(&shield, Some("wrong-secret-0123456"), urls), 401, "unauthorized"),
        (purge(&shield, Some(SECRET), r#"{"urls":"/x"}"#), 400, "bad-purge-request"),
        (purge(&shield, Some(SECRET), r#"{"colors":["red"]}"#), 400, "bad-purge-request"),
        (get(&shield, "/__shield/purge"), 405, "method-not-allowed"),
        (purge(&disabled, Some(SECRET), urls), 404, "not-found"),
    ];
    for (response, status, kind) in rows {
        assert_eq!(response.status, status, "{kind}: {}", body(&response));
        assert_eq!(response.header("content-type"), Some("application/problem+json"));
        assert_eq!(response.json()["type"], format!("urn:origin-shield:problem:{kind}"));
    }
    assert_eq!(purge(&shield, Some(SECRET), urls).json()["purged"], 0);
}

#[test]
fn metrics_count_hits_misses_bytes_and_upstream_time() {
    let origin = Origin::start();
    let shield = Shield::start(&origin.url());
    get(&shield, "/c/m?cc=max-age=60");
    get(&shield, "/c/m?cc=max-age=60");
    get(&shield, "/c/m?cc=max-age=60");

    let page = get(&shield, "/metrics");
    assert_eq!(page.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    assert_eq!(metric(&shield, "shield_cache_hits_total"), 2.0);
    assert_eq!(metric(&shield, "shield_cache_misses_total"), 1.0);
    assert!(metric(&shield, "shield_cache_bytes") > 0.0);
    assert_eq!(metric(&shield, "shield_upstream_duration_seconds_count"), 1.0);
}

#[test]
fn regression_issue_11_interim_responses_never_reach_the_client() {
    let origin = Origin::start();
    let shield = Shield::start(&origin.url());
    // The origin sends 103 Early Hints and 102 Processing before its final answer.
    let stored = "/c/early?cc=max-age=60&early=1";
    let passed = "/early?early=1";

    let miss = get(&shield, stored);
    let hit = get(&shield, stored);
    let uncached = get(&shield, passed);

    for (name, response) in [("miss", &miss), ("hit", &hit), ("uncached", &uncached)] {
        assert_eq!(response.status, 200, "{name}");
        assert_eq!(response.header("link"), None, "{name}: the 103's field leaked");
    }
    assert_eq!(body(&miss), format!("body {stored} #1"));
    assert_eq!(body(&hit), body(&miss));
    assert!(cache_status(&miss).contains("fwd-status=200; stored"), "{}", cache_status(&miss));
    assert!(cache_status(&hit).starts_with("origin-shield; hit"), "{}", cache_status(&hit));
    assert_eq!(body(&uncached), format!("hello from origin {passed}"));
    assert_eq!(origin.seen("/c/early").len(), 1);
}

#[test]
fn regression_issue_11_a_304_refreshes_the_stored_entry() {
    let origin = Origin::start();
    let shield = Shield::start(&origin.url());
    // First answer: produced 60 s ago, fresh for 61 s (so stale a second later); the 304
    // carries a new Date (now), a new Cache-Control and a new X-Revision.
    let target = "/c/refresh?cc=max-age=61&cc304=max-age=30&etag=v1&rev=1&old=60";
    let first = get(&shield, target);
    thread::sleep(Duration::from_millis(2100));

    let revalidated = get(&shield, target);
    let hit = get(&shield, target);

    assert_eq!(first.header("x-revision"), Some("1"));
    assert!(
        cache_status(&revalidated).contains("fwd=stale; fwd-status=304"),
        "{}",
        cache_status(&revalidated)
    );
    assert_eq!((revalidated.status, body(&revalidated)), (200, body(&first)));
    // With only Pingora's merge the old Date stays: the entry is 60 s old against a 30 s
    // lifetime, and this request would go to the origin again.
    assert!(cache_status(&hit).starts_with("origin-shield; hit"), "{}", cache_status(&hit));
    for response in [&revalidated, &hit] {
        assert_eq!(response.header("x-revision"), Some("2"));
        assert_eq!(response.header("cache-control"), Some("max-age=30"));
        assert_eq!(response.header("etag"), Some("\"v1\""));
        assert_eq!(response.header("content-length"), Some(body(&first).len().to_string().as_str()));
    }
    // The 304's Date replaced the stored one (and reaches the client, see the Date test).
    assert_ne!(revalidated.header("date"), first.header("date"));
    assert_eq!(hit.header("date"), revalidated.header("date"));
    assert_eq!(origin.seen("/c/refresh").len(), 2);
}

#[test]
fn regression_issue_11_the_origin_date_passes_through_on_miss_and_hit() {
    let origin = Origin::start();
    let shield = Shield::start(&origin.url());
    let target = "/c/date?cc=max-age=31536000&date=1";

    let miss = get(&shield, target);
    let hit = get(&shield, target);

    assert!(cache_status(&miss).contains("stored"), "{}", cache_status(&miss));
    assert!(cache_status(&hit).starts_with("origin-shield; hit"), "{}", cache_status(&hit));
    for response in [&miss, &hit] {
        assert_eq!(response.header("date"), Some(origin::ORIGIN_DATE));
    }
    // Without a Date from the origin the shield adds its own (RFC 9110 §6.6.1).
    let dateless = get(&shield, "/c/dateless?cc=max-age=60");
    assert!(
        dateless.header("date").is_some_and(|d| d != origin::ORIGIN_DATE),
        "{:?}",
        dateless.header("date")
    );
}

/// Regression (issue 11): the gateway's stale-while-revalidate fetch says `max-age=0`, and the
/// shield answered it from its own copy (fresh, or stale inside its own window), so the edge
/// never saw the origin's new answer. Request `no-cache`, `max-age`, `min-fresh` and
/// `max-stale` (RFC 9111 §5.2.1) are honoured against the stored entry.
#[test]
fn regression_issue_11_request_cache_control_forces_revalidation() {
    let origin = Origin::start();
    let shield = Shield::start(&origin.url());
    // `old=N`: the first answer's Date is N seconds back, so the entry starts that old.
    let fresh = "cc=max-age=600&etag=v1&rev=1&old=30"; // 30 s old, fresh for 570 s more
    let stale = "cc=max-age=10&etag=v1&rev=1&old=60"; // 60 s old, stale for 50 s
    let rows: &[(&str, &str, &str, &str, usize)] = &[
        ("a", fresh, "max-age=10", "origin-shield; fwd=request; fwd-status=304", 2),
        ("b", fresh, "max-age=3600", "origin-shield; hit", 1),
        ("c", fresh, "no-cache", "origin-shield; fwd=request; fwd-status=304", 2),
        ("d", fresh, "min-fresh=1000", "origin-shield; fwd=request; fwd-status=304", 2),
        ("e", fresh, "min-fresh=10", "origin-shield; hit", 1),
        ("f", stale, "max-stale=3600", "origin-shield; hit; ttl=-", 1),
        ("g", stale, "max-stale=5", "origin-shield; fwd=stale; fwd-status=304", 2),
        (
            "h",
            "cc=max-age=10,+must-revalidate&etag=v1&rev=1&old=60",
            "max-stale",
            "origin-shield; fwd=stale",
            2,
        ),
        (
            "i",
            "cc=max-age=600&rev=1&old=30",
            "no-cache",
            "origin-shield; fwd=request; fwd-status=200; stored",
            2,
        ),
        // What the gateway's background fetch sends, to an entry in its own swr window.
        (
            "j",
            "cc=max-age=10,+stale-while-revalidate=600&etag=v1&rev=1&old=60",
            "max-age=0",
            "origin-shield; fwd=request; fwd-status=304",
            2,
        ),
    ];
    for &(name, query, directives, expected, fetches) in rows {
        let target = format!("/c/rq/{name}?{query}");
        let first = get(&shield, &target);
        assert!(cache_status(&first).ends_with("stored"), "{name}: {}", cache_status(&first));

        let second =
            client::send(shield.addr, "GET", &target, &[("Cache-Control", directives)], b"").expect("r");

        assert_eq!(second.status, 200, "{name}");
        assert!(
            cache_status(&second).starts_with(expected),
            "{name} {directives}: {}",
            cache_status(&second)
        );
        let seen = origin.seen(&format!("/c/rq/{name}?"));
        assert_eq!(seen.len(), fetches, "{name} {directives}");
        if fetches == 2 {
            assert_eq!(second.header("x-revision"), Some("2"), "{name}: not the origin's new answer");
            assert_eq!(seen[1].header("if-none-match"), query.contains("etag").then_some("\"v1\""), "{name}");
        }
    }
    // A forced HEAD goes through to the origin uncached (Pingora cannot fill from a HEAD), and
    // the entry stays.
    let target = format!("/c/rq/b?{fresh}");
    let head = client::send(shield.addr, "HEAD", &target, &[("Cache-Control", "no-cache")], b"").expect("r");
    assert_eq!(head.status, 200);
    assert!(cache_status(&head).contains("fwd=request"), "{}", cache_status(&head));
    assert_eq!(origin.seen("/c/rq/b?").last().map(|s| s.method.as_str()), Some("HEAD"));
    assert!(cache_status(&get(&shield, &target)).starts_with("origin-shield; hit"));
}

/// Unsafe methods invalidate (RFC 9111 §4.4): a POST/PUT/DELETE whose answer is 2xx or 3xx
/// drops the stored entries of its target URI in every gateway scope and variant, and those of
/// a same-origin `Location`; an error answer leaves them.
#[test]
fn unsafe_methods_with_a_non_error_answer_invalidate_every_scope_of_the_url() {
    let origin = Origin::start();
    let shield = Shield::start(&origin.url());
    let target = "/c/inv?cc=public,+max-age=600";
    let located = "/c/inv-new?cc=max-age=600";
    let scopes: [&[(&str, &str)]; 3] =
        [&[], &[("X-Edge-Cache-Scope", "route=a; auth=0")], &[("X-Edge-Cache-Scope", "route=b; auth=1")]];
    let get_all = || {
        for scope in scopes {
            let r = client::send(shield.addr, "GET", target, scope, b"").expect("r");
            assert_eq!(r.status, 200);
        }
        get(&shield, located);
    };
    let fetches = || {
        (origin.seen("/c/inv?").iter().filter(|s| s.method == "GET").count(), origin.seen("/c/inv-new").len())
    };
    get_all();
    get_all();
    assert_eq!(fetches(), (3, 1), "not filled");

    let rows = [
        ("POST", "500", None, (3, 1)),
        ("POST", "404", Some(located), (3, 1)),
        ("POST", "200", None, (6, 1)),
        ("PUT", "201", Some(located), (9, 2)),
        ("DELETE", "302", Some("http://elsewhere.example/c/inv-new?cc=max-age=600"), (12, 2)),
    ];
    for (method, status, location, expected) in rows {
        let mut fields = vec![("X-Reply-Status", status)];
        fields.extend(location.map(|l| ("X-Reply-Location", l)));
        let response = client::send(shield.addr, method, target, &fields, b"x").expect("r");
        assert_eq!(response.status.to_string(), status, "{method} {status}");
        get_all();
        assert_eq!(fetches(), expected, "{method} {status} {location:?}");
    }
    assert_eq!(metric(&shield, "shield_invalidated_total"), 10.0);
}
