//! Cache policy as tables: one row per RFC 9111 / RFC 5861 / RFC 9211 rule, section cited.
#![allow(missing_docs)]
#![allow(clippy::type_complexity)] // rows are tuples by design: one line per rule

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use std::time::Duration;

use edge_gateway_core::cache::freshness::{format_http_date, parse_http_date};
use edge_gateway_core::cache::key::{VaryValues, normalize_url, vary_names};
use edge_gateway_core::cache::revalidate::etag_mismatch;
use edge_gateway_core::cache::status::ttl_of;
use edge_gateway_core::cache::*;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};

/// 2023-11-14T22:13:20Z.
const T: u64 = 1_700_000_000_000;
const DATE_T: &str = "Tue, 14 Nov 2023 22:13:20 GMT";
const DATE_T_PLUS_60: &str = "Tue, 14 Nov 2023 22:14:20 GMT";
const DATE_T_MINUS_1000: &str = "Tue, 14 Nov 2023 21:56:40 GMT";
const DATE_T_MINUS_10_DAYS: &str = "Sat, 04 Nov 2023 22:13:20 GMT";
const DATE_T_MINUS_100_DAYS: &str = "Sun, 06 Aug 2023 22:13:20 GMT";

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
    }
    map
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn cache_control_parser_table() {
    let cc = |f: fn(&mut CacheControl)| {
        let mut c = CacheControl::default();
        f(&mut c);
        c
    };
    let table: Vec<(&str, CacheControl)> = vec![
        // §5.2: directive names are case-insensitive.
        ("Max-Age=60, NO-STORE", cc(|c| (c.max_age, c.no_store) = (Some(60), true))),
        // §5.2: quoted-string values are accepted for delta-seconds.
        ("max-age=\"60\"", cc(|c| c.max_age = Some(60))),
        // §4.2.1: identical duplicates keep the value.
        ("max-age=60, max-age=60", cc(|c| c.max_age = Some(60))),
        // §4.2.1: conflicting duplicates make the response stale.
        ("max-age=60, max-age=120", cc(|c| c.max_age = Some(0))),
        // §4.2.1: an invalid max-age is treated as stale.
        ("max-age=abc", cc(|c| c.max_age = Some(0))),
        ("max-age=-1", cc(|c| c.max_age = Some(0))),
        ("s-maxage=", cc(|c| c.s_maxage = Some(0))),
        // §1.2.2: delta-seconds beyond 2^31 are clamped to 2^31.
        ("max-age=99999999999999999999999", cc(|c| c.max_age = Some(2_147_483_648))),
        // §5.2.2.4: qualified no-cache with a comma inside the quotes is one directive.
        ("no-cache=\"set-cookie, x-a\", public", cc(|c| (c.no_cache, c.public) = (true, true))),
        // §5.2.2.7: qualified private counts as private for a shared cache.
        ("private=\"x-user\"", cc(|c| c.private = true)),
        // §5.2.1.2: max-stale without value accepts any staleness; with one, bounded.
        ("max-stale", cc(|c| c.max_stale = Some(MaxStale::Any))),
        ("max-stale=30", cc(|c| c.max_stale = Some(MaxStale::Seconds(30)))),
        ("max-stale=x", CacheControl::default()),
        // §5.2.1.3, §5.2.1.7.
        ("min-fresh=10, only-if-cached", cc(|c| (c.min_fresh, c.only_if_cached) = (Some(10), true))),
        // RFC 5861 §3-4; duplicates: the smaller window wins.
        (
            "stale-while-revalidate=30, stale-if-error=600, stale-if-error=60",
            cc(|c| (c.stale_while_revalidate, c.stale_if_error) = (Some(30), Some(60))),
        ),
        // §5.2.2.2, §5.2.2.8, §5.2.2.3; spaces around members and empty members tolerated.
        (
            " must-revalidate ,, proxy-revalidate , must-understand",
            cc(|c| (c.must_revalidate, c.proxy_revalidate, c.must_understand) = (true, true, true)),
        ),
        // §5.2.3: unknown extensions are ignored.
        ("community=\"UCI\", foo", CacheControl::default()),
        // Garbage never panics and yields nothing.
        ("\"unterminated, =, ==, \\", CacheControl::default()),
    ];
    for (input, want) in table {
        assert_eq!(CacheControl::parse(input), want, "{input}");
    }
}

#[test]
fn cache_control_lines_are_combined() {
    // §5.2: several field lines are one list.
    let map = headers(&[("cache-control", "public"), ("cache-control", "max-age=5")]);
    let cc = CacheControl::from_headers(&map);
    assert_eq!((cc.public, cc.max_age), (true, Some(5)));
}

#[test]
fn storable_table() {
    use NotStorable::{
        Authorization, NoFreshness, Private, RequestNoStore, ResponseNoStore, SetCookie, Status, VaryStar,
    };
    let get = Method::GET;
    let auth = [("authorization", "Bearer x")];
    // (method, request headers, status, response headers, store_set_cookie, expected)
    #[rustfmt::skip]
    let table: Vec<(Method, &[(&str, &str)], u16, &[(&str, &str)], bool, Result<(), NotStorable>)> = vec![
        // §3: GET with explicit freshness is stored.
        (get.clone(), &[], 200, &[("cache-control", "max-age=60")], false, Ok(())),
        // §3: HEAD is understood too.
        (Method::HEAD, &[], 200, &[("cache-control", "max-age=60")], false, Ok(())),
        // §3: the cache must understand the method; POST is not stored.
        (Method::POST, &[], 200, &[("cache-control", "max-age=60")], false, Err(NotStorable::Method)),
        // §5.2.1.5: request no-store.
        (get.clone(), &[("cache-control", "no-store")], 200, &[("cache-control", "max-age=60")], false, Err(RequestNoStore)),
        // §5.2.2.5: response no-store.
        (get.clone(), &[], 200, &[("cache-control", "max-age=60, no-store")], false, Err(ResponseNoStore)),
        // §5.2.2.3: must-understand with an understood status overrides no-store.
        (get.clone(), &[], 200, &[("cache-control", "max-age=60, no-store, must-understand")], false, Ok(())),
        // §5.2.2.3: must-understand with a status not understood: never stored.
        (get.clone(), &[], 418, &[("cache-control", "max-age=60, no-store, must-understand")], false, Err(Status)),
        // §5.2.2.7: private is never stored by a shared cache.
        (get.clone(), &[], 200, &[("cache-control", "private, max-age=60")], false, Err(Private)),
        // §3.5: Authorization without public / s-maxage / must-revalidate.
        (get.clone(), &auth, 200, &[("cache-control", "max-age=60")], false, Err(Authorization)),
        // §3.5: ... with each of the three it may be stored.
        (get.clone(), &auth, 200, &[("cache-control", "public, max-age=60")], false, Ok(())),
        (get.clone(), &auth, 200, &[("cache-control", "s-maxage=60")], false, Ok(())),
        (get.clone(), &auth, 200, &[("cache-control", "max-age=60, must-revalidate")], false, Ok(())),
        // Policy (poisoning): a Set-Cookie response is replayed to everyone if stored.
        (get.clone(), &[], 200, &[("cache-control", "max-age=60"), ("set-cookie", "sid=1")], false, Err(SetCookie)),
        (get.clone(), &[], 200, &[("cache-control", "max-age=60"), ("set-cookie", "sid=1")], true, Ok(())),
        // §4.1: Vary: * can never match, so it is not stored.
        (get.clone(), &[], 200, &[("cache-control", "max-age=60"), ("vary", "Accept, *")], false, Err(VaryStar)),
        // §3: status must be final; 206 is excluded (no range support); 304 only updates.
        (get.clone(), &[], 206, &[("cache-control", "max-age=60")], false, Err(Status)),
        (get.clone(), &[], 304, &[("cache-control", "max-age=60")], false, Err(Status)),
        (get.clone(), &[], 103, &[("cache-control", "max-age=60")], false, Err(Status)),
        // §4.2.2, RFC 9110 §15.1: heuristically cacheable statuses need no explicit freshness.
        (get.clone(), &[], 404, &[], false, Ok(())),
        (get.clone(), &[], 301, &[], false, Ok(())),
        // §3: others need explicit freshness (max-age, Expires) or public.
        (get.clone(), &[], 302, &[], false, Err(NoFreshness)),
        (get.clone(), &[], 500, &[], false, Err(NoFreshness)),
        (get.clone(), &[], 302, &[("expires", DATE_T)], false, Ok(())),
        (get.clone(), &[], 500, &[("cache-control", "public")], false, Ok(())),
        // §5.2.2.4: no-cache responses are stored, and revalidated on every use.
        (get.clone(), &[], 200, &[("cache-control", "no-cache")], false, Ok(())),
    ];
    for (i, (method, req, status, resp, set_cookie, want)) in table.into_iter().enumerate() {
        let status = StatusCode::from_u16(status).unwrap();
        let opts = StoreOptions { store_set_cookie: set_cookie };
        assert_eq!(storable(&method, &headers(req), status, &headers(resp), opts), want, "row {i}");
    }
}

#[test]
fn freshness_lifetime_table() {
    // (status, response headers, expected lifetime in seconds); received at T.
    #[rustfmt::skip]
    let table: Vec<(u16, &[(&str, &str)], u64)> = vec![
        // §5.2.2.10: s-maxage overrides max-age and Expires in a shared cache.
        (200, &[("cache-control", "max-age=60, s-maxage=120"), ("expires", DATE_T_PLUS_60)], 120),
        // §5.2.2.1: max-age overrides Expires.
        (200, &[("cache-control", "max-age=30"), ("date", DATE_T), ("expires", DATE_T_PLUS_60)], 30),
        // §4.2.1: Expires − Date.
        (200, &[("date", DATE_T), ("expires", DATE_T_PLUS_60)], 60),
        // §4.2.1: Expires − Date, Date absent: the time of receipt stands in (RFC 9110 §6.6.1).
        (200, &[("expires", DATE_T_PLUS_60)], 60),
        // §5.3: an invalid Expires (e.g. "0") means already expired.
        (200, &[("date", DATE_T), ("expires", "0")], 0),
        // §4.2.1: conflicting Expires lines: stale.
        (200, &[("date", DATE_T), ("expires", DATE_T_PLUS_60), ("expires", DATE_T)], 0),
        // §5.3: Expires in the past.
        (200, &[("date", DATE_T), ("expires", DATE_T_MINUS_1000)], 0),
        // §4.2.2: heuristic: 10% of Date − Last-Modified (10 days → 1 day exactly).
        (200, &[("date", DATE_T), ("last-modified", DATE_T_MINUS_10_DAYS)], 86_400),
        // §4.2.2: heuristic, 1000 s since modification → 100 s.
        (404, &[("date", DATE_T), ("last-modified", DATE_T_MINUS_1000)], 100),
        // §4.2.2: heuristic capped at one day (100 days → 10 days → 1 day).
        (200, &[("date", DATE_T), ("last-modified", DATE_T_MINUS_100_DAYS)], 86_400),
        // §4.2.2: no heuristic when an explicit expiry is present, even an invalid one.
        (200, &[("date", DATE_T), ("expires", "never"), ("last-modified", DATE_T_MINUS_1000)], 0),
        // §4.2.2: no heuristic for a status that is not heuristically cacheable...
        (302, &[("date", DATE_T), ("last-modified", DATE_T_MINUS_1000)], 0),
        // ... unless the response is public (§3, §5.2.2.9).
        (302, &[("cache-control", "public"), ("date", DATE_T), ("last-modified", DATE_T_MINUS_1000)], 100),
        // §4.2.2: no Last-Modified, no heuristic.
        (200, &[("date", DATE_T)], 0),
        // §4.2.1: invalid max-age is stale, not "fall through to Expires".
        (200, &[("cache-control", "max-age=soon"), ("expires", DATE_T_PLUS_60)], 0),
    ];
    for (i, (status, resp, want)) in table.into_iter().enumerate() {
        let status = StatusCode::from_u16(status).unwrap();
        assert_eq!(freshness_lifetime(&headers(resp), status, T), secs(want), "row {i}");
    }
}

#[test]
fn current_age_table() {
    // (Date, Age, request_time, response_time, now, expected age in ms) — §4.2.3.
    #[rustfmt::skip]
    let table: Vec<(Option<&str>, Option<&str>, u64, u64, u64, u64)> = vec![
        // resident time only.
        (Some(DATE_T), None, T, T, T + 10_000, 10_000),
        // response_delay counts even without an Age header (corrected_age_value).
        (Some(DATE_T), None, T - 2_000, T, T, 2_000),
        // Age from upstream plus response delay plus resident time.
        (Some(DATE_T), Some("100"), T - 1_000, T, T + 5_000, 106_000),
        // apparent_age (response_time − Date) wins when larger than corrected Age.
        (Some(DATE_T_MINUS_1000), Some("10"), T, T, T, 1_000_000),
        // Date in the future: apparent_age is 0, never negative.
        (Some(DATE_T_PLUS_60), None, T, T, T + 1_000, 1_000),
        // §5.1: list-valued Age uses its first member.
        (Some(DATE_T), Some("7, 99"), T, T, T, 7_000),
        // §5.1: invalid Age is ignored.
        (Some(DATE_T), Some("-5"), T, T, T, 0),
        // RFC 9110 §6.6.1: no Date: response_time stands in.
        (None, None, T, T, T + 3_000, 3_000),
        // now before response_time (clock skew): resident time 0.
        (Some(DATE_T), None, T, T, T - 5_000, 0),
    ];
    for (i, (date, age, request_time, response_time, now, want)) in table.into_iter().enumerate() {
        let mut pairs = vec![];
        pairs.extend(date.map(|d| ("date", d)));
        pairs.extend(age.map(|a| ("age", a)));
        let stored =
            StoredMeta { status: StatusCode::OK, headers: headers(&pairs), request_time, response_time };
        assert_eq!(current_age(&stored, now), Duration::from_millis(want), "row {i}");
    }
}

#[test]
fn age_header_table() {
    // §5.1: whole seconds; §1.2.2: at most 2^31.
    let table =
        [(Duration::from_millis(42_999), "42"), (Duration::ZERO, "0"), (secs(u64::MAX / 2), "2147483648")];
    for (age, want) in table {
        assert_eq!(age_header(age), want);
    }
}

fn stale(staleness: u64, swr: bool, sie: bool, age: u64) -> Decision {
    Decision::Stale {
        age: secs(age),
        staleness: secs(staleness),
        may_serve_while_revalidate: swr,
        may_serve_if_error: sie,
    }
}

fn must(age: u64, reason: RevalidateReason) -> Decision {
    Decision::MustRevalidate { age: secs(age), reason }
}

#[test]
fn evaluate_table() {
    use RevalidateReason::*;
    let fresh = |age: u64, ttl: u64| Decision::Fresh { age: secs(age), ttl: secs(ttl) };
    // (response Cache-Control, request Cache-Control, current age in seconds, expected).
    // Stored at T with Date: T, so the age is exactly the resident time.
    #[rustfmt::skip]
    let table: Vec<(&str, &str, u64, Decision)> = vec![
        // §4.2: fresh while lifetime > age.
        ("max-age=60", "", 10, fresh(10, 50)),
        // §4.2: age == lifetime is stale.
        ("max-age=60", "", 60, stale(0, false, false, 60)),
        ("max-age=60", "", 70, stale(10, false, false, 70)),
        // §5.2.2.4: response no-cache: always revalidate, even when fresh.
        ("max-age=60, no-cache", "", 1, must(1, ResponseNoCache)),
        // §5.2.1.4: request no-cache.
        ("max-age=60", "no-cache", 1, must(1, RequestNoCache)),
        // §5.2.1.1: request max-age lower than the age.
        ("max-age=60", "max-age=5", 10, must(10, RequestMaxAge)),
        ("max-age=60", "max-age=10", 10, fresh(10, 50)),
        // §5.2.1.1: max-age=0 forces revalidation of any aged response.
        ("max-age=60", "max-age=0", 1, must(1, RequestMaxAge)),
        // §5.2.1.3: min-fresh beyond the remaining lifetime.
        ("max-age=60", "min-fresh=55", 10, must(10, RequestMinFresh)),
        ("max-age=60", "min-fresh=50", 10, fresh(10, 50)),
        // §5.2.1.2: max-stale accepts staleness up to N; without N, any.
        ("max-age=60", "max-stale=20", 70, Decision::StaleAccepted { age: secs(70), staleness: secs(10) }),
        ("max-age=60", "max-stale=5", 70, stale(10, false, false, 70)),
        ("max-age=60", "max-stale", 10_000, Decision::StaleAccepted { age: secs(10_000), staleness: secs(9_940) }),
        // §5.2.2.2: must-revalidate forbids serving stale, whatever max-stale says.
        ("max-age=60, must-revalidate", "max-stale", 70, must(70, MustRevalidate)),
        // §5.2.2.8: proxy-revalidate, for a shared cache, likewise.
        ("max-age=60, proxy-revalidate", "", 70, must(70, MustRevalidate)),
        // §5.2.2.10: s-maxage implies proxy-revalidate: no stale, not even stale-if-error.
        ("s-maxage=60, stale-if-error=600", "", 70, must(70, MustRevalidate)),
        // §5.2.2.2 + RFC 5861 §4: must-revalidate beats stale-if-error and swr.
        ("max-age=60, must-revalidate, stale-if-error=600, stale-while-revalidate=600", "", 70, must(70, MustRevalidate)),
        // must-revalidate does not matter while fresh.
        ("max-age=60, must-revalidate", "", 10, fresh(10, 50)),
        // RFC 5861 §3: stale-while-revalidate window.
        ("max-age=60, stale-while-revalidate=30", "", 80, stale(20, true, false, 80)),
        ("max-age=60, stale-while-revalidate=30", "", 100, stale(40, false, false, 100)),
        // §4.2.4: the request's max-age forbids answering at once with an older response.
        ("max-age=60, stale-while-revalidate=30", "max-age=70", 80, stale(20, false, false, 80)),
        ("max-age=60, stale-while-revalidate=30", "max-age=90", 80, stale(20, true, false, 80)),
        // RFC 5861 §4: stale-if-error window, from the response...
        ("max-age=60, stale-if-error=30", "", 80, stale(20, false, true, 80)),
        ("max-age=60, stale-if-error=30", "", 100, stale(40, false, false, 100)),
        // ... or from the request.
        ("max-age=60", "stale-if-error=60", 100, stale(40, false, true, 100)),
        // §5.2.1.7: only-if-cached with a fresh response: served.
        ("max-age=60", "only-if-cached", 10, fresh(10, 50)),
        // §5.2.1.7: only-if-cached with nothing servable: 504.
        ("max-age=60", "only-if-cached", 70, Decision::GatewayTimeout),
        ("no-cache", "only-if-cached", 1, Decision::GatewayTimeout),
        // only-if-cached with stale-while-revalidate: servable from cache.
        ("max-age=60, stale-while-revalidate=30", "only-if-cached", 80, stale(20, true, false, 80)),
        // §4.2.1: invalid max-age = stale on arrival.
        ("max-age=later", "", 0, stale(0, false, false, 0)),
    ];
    for (i, (response_cc, request_cc, age, want)) in table.into_iter().enumerate() {
        let stored = StoredMeta {
            status: StatusCode::OK,
            headers: headers(&[("date", DATE_T), ("cache-control", response_cc)]),
            request_time: T,
            response_time: T,
        };
        let request =
            if request_cc.is_empty() { HeaderMap::new() } else { headers(&[("cache-control", request_cc)]) };
        assert_eq!(
            evaluate(&stored, &request, T + age * 1000),
            want,
            "row {i}: {response_cc} / {request_cc}"
        );
    }
}

#[test]
fn evaluate_uses_expires_and_heuristics() {
    // §4.2.1 via §4.2: Expires 60 s after Date; §4.2.2 heuristic 100 s for Last-Modified.
    let table: [(&[(&str, &str)], u64, Decision); 3] = [
        (
            &[("date", DATE_T), ("expires", DATE_T_PLUS_60)],
            30,
            Decision::Fresh { age: secs(30), ttl: secs(30) },
        ),
        (&[("date", DATE_T), ("expires", "0")], 0, stale(0, false, false, 0)),
        (
            &[("date", DATE_T), ("last-modified", DATE_T_MINUS_1000)],
            40,
            Decision::Fresh { age: secs(40), ttl: secs(60) },
        ),
    ];
    for (i, (resp, age, want)) in table.into_iter().enumerate() {
        let stored =
            StoredMeta { status: StatusCode::OK, headers: headers(resp), request_time: T, response_time: T };
        assert_eq!(evaluate(&stored, &HeaderMap::new(), T + age * 1000), want, "row {i}");
    }
}

#[test]
fn http_dates_round_trip() {
    // RFC 9110 §5.6.7: the three date formats are accepted; IMF-fixdate is generated.
    let table = [
        ("Tue, 14 Nov 2023 22:13:20 GMT", Some(T)),
        ("Tuesday, 14-Nov-23 22:13:20 GMT", Some(T)),
        ("Tue Nov 14 22:13:20 2023", Some(T)),
        ("0", None),
        ("", None),
    ];
    for (input, want) in table {
        assert_eq!(parse_http_date(input), want, "{input}");
    }
    assert_eq!(format_http_date(T), DATE_T);
    // Beyond year 9999 the last expressible second is written, never a panic.
    assert_eq!(format_http_date(u64::MAX), "Fri, 31 Dec 9999 23:59:59 GMT");
}

#[test]
fn revalidation_headers_table() {
    // §4.3.1: validators from the stored response.
    #[rustfmt::skip]
    let table: Vec<(&[(&str, &str)], &[(&str, &str)])> = vec![
        (&[("etag", "\"v1\"")], &[("if-none-match", "\"v1\"")]),
        (&[("etag", "W/\"v1\"")], &[("if-none-match", "W/\"v1\"")]),
        (&[("last-modified", DATE_T)], &[("if-modified-since", DATE_T)]),
        (&[("etag", "\"v1\""), ("last-modified", DATE_T)], &[("if-none-match", "\"v1\""), ("if-modified-since", DATE_T)]),
        // RFC 9110 §13.1.3: an invalid date is no validator.
        (&[("last-modified", "yesterday")], &[]),
        (&[("content-type", "text/plain")], &[]),
    ];
    for (i, (stored, want)) in table.into_iter().enumerate() {
        assert_eq!(revalidation_headers(&headers(stored)), headers(want), "row {i}");
    }
}

#[test]
fn merge_304_table() {
    let stored = [
        ("content-type", "text/plain"),
        ("content-length", "5"),
        ("content-encoding", "gzip"),
        ("cache-control", "max-age=60"),
        ("etag", "\"v1\""),
        ("x-a", "1"),
        ("x-a", "2"),
    ];
    // (304 headers, field, expected stored values after the merge)
    #[rustfmt::skip]
    let table: Vec<(&[(&str, &str)], &str, &[&str])> = vec![
        // §4.3.4: fields in the 304 replace all stored lines of that name.
        (&[("cache-control", "max-age=600")], "cache-control", &["max-age=600"]),
        (&[("x-a", "3")], "x-a", &["3"]),
        (&[("date", DATE_T)], "date", &[DATE_T]),
        // §4.3.4: fields absent from the 304 are kept.
        (&[("date", DATE_T)], "etag", &["\"v1\""]),
        // §3.2: Content-Length is never updated from a 304.
        (&[("content-length", "0")], "content-length", &["5"]),
        // §3.2: fields the stored body depends on are kept.
        (&[("content-encoding", "br")], "content-encoding", &["gzip"]),
        // §3.1: hop-by-hop fields and those named in Connection are not stored.
        (&[("connection", "x-hop"), ("x-hop", "1")], "x-hop", &[]),
        (&[("transfer-encoding", "chunked")], "transfer-encoding", &[]),
        // Poisoning: a 304's Set-Cookie belongs to one client, never to the shared entry.
        (&[("set-cookie", "sid=evil")], "set-cookie", &[]),
    ];
    for (i, (not_modified, field, want)) in table.into_iter().enumerate() {
        let merged = merge_304(&headers(&stored), &headers(not_modified));
        let got: Vec<&str> = merged.get_all(field).iter().map(|v| v.to_str().unwrap()).collect();
        assert_eq!(got, want, "row {i}");
    }
}

#[test]
fn etag_mismatch_table() {
    // §4.3.4: a 304 whose ETag names another representation does not update the stored one.
    let table = [
        ("\"v1\"", Some("\"v1\""), false),
        ("\"v1\"", Some("W/\"v1\""), false),
        ("\"v1\"", Some("\"v2\""), true),
        ("\"v1\"", None, false),
    ];
    for (stored, fresh, want) in table {
        let fresh = fresh.map(|f| headers(&[("etag", f)])).unwrap_or_default();
        assert_eq!(etag_mismatch(&headers(&[("etag", stored)]), &fresh), want, "{stored} / {fresh:?}");
    }
}

fn key(method: Method, uri: &str, req: &[(&str, &str)], vary: &[&str], extra: &[&str]) -> String {
    let vary: Vec<HeaderName> = vary.iter().map(|v| HeaderName::from_bytes(v.as_bytes()).unwrap()).collect();
    cache_key(&method, &uri.parse::<Uri>().unwrap(), &headers(req), &vary, extra)
}

#[test]
fn normalize_url_table() {
    // RFC 3986 §6.2.2-6.2.3 via RFC 9111 §4: only equivalence every origin must honour.
    #[rustfmt::skip]
    let table: Vec<(&str, &[(&str, &str)], &str)> = vec![
        ("HTTPS://API.Example.COM/a", &[], "https://api.example.com/a"),
        ("https://api.example.com:443/a", &[], "https://api.example.com/a"),
        ("http://api.example.com:80/a", &[], "http://api.example.com/a"),
        ("https://api.example.com:80/a", &[], "https://api.example.com:80/a"),
        ("https://api.example.com./a", &[], "https://api.example.com/a"),
        ("https://[::1]:443/a", &[], "https://[::1]/a"),
        ("https://[::1]/a", &[], "https://[::1]/a"),
        ("https://api.example.com", &[], "https://api.example.com/"),
        ("https://a.example/%7euser/%41%2fb?q=%2a%7E", &[], "https://a.example/~user/A%2Fb?q=%2A~"),
        ("https://a.example/a/../b?z=1&a=2", &[], "https://a.example/a/../b?z=1&a=2"),
        ("https://a.example/bad%zz%4", &[], "https://a.example/bad%zz%4"),
        ("/path?x=1", &[("host", "API.example.com:443")], "https://api.example.com/path?x=1"),
    ];
    for (uri, req, want) in table {
        assert_eq!(normalize_url(&uri.parse().unwrap(), &headers(req)), want, "{uri}");
    }
}

#[test]
fn unkeyed_headers_share_one_key() {
    // Web cache poisoning: these headers are not in the key, so requests differing only in them
    // share an entry — which is why they must never change the response body.
    let plain = key(Method::GET, "https://api.example.com/p?x=1", &[], &["accept-encoding"], &["route-a"]);
    let unkeyed = [
        ("x-forwarded-host", "evil.example"),
        ("x-forwarded-scheme", "http"),
        ("x-forwarded-proto", "http"),
        ("x-forwarded-port", "8080"),
        ("x-forwarded-prefix", "/evil"),
        ("x-original-url", "/admin"),
        ("x-rewrite-url", "/admin"),
        ("x-http-method-override", "POST"),
        ("x-host", "evil.example"),
        ("forwarded", "host=evil.example"),
        ("cookie", "sid=1"),
        ("authorization", "Bearer x"),
    ];
    for (name, value) in unkeyed {
        let poisoned = key(
            Method::GET,
            "https://api.example.com/p?x=1",
            &[(name, value)],
            &["accept-encoding"],
            &["route-a"],
        );
        assert_eq!(poisoned, plain, "{name} must not change the key");
    }
}

#[test]
fn cache_key_poisoning_table() {
    let base = ("https://api.example.com/p?a=1&b=2", [("accept-encoding", "gzip")]);
    let k = |uri: &str, req: &[(&str, &str)], vary: &[&str], extra: &[&str]| {
        key(Method::GET, uri, req, vary, extra)
    };
    let reference = k(base.0, &base.1, &["accept-encoding"], &["t1"]);
    // (uri, request headers, vary, extra parts, same key as the reference?)
    #[rustfmt::skip]
    let table: Vec<(&str, &[(&str, &str)], &[&str], &[&str], bool)> = vec![
        // RFC 3986 §6.2.2.1: case of scheme and host.
        ("HTTPS://API.EXAMPLE.COM/p?a=1&b=2", &base.1, &["accept-encoding"], &["t1"], true),
        // RFC 3986 §6.2.3: default port.
        ("https://api.example.com:443/p?a=1&b=2", &base.1, &["accept-encoding"], &["t1"], true),
        // §4.1: Vary names are case-insensitive, order and duplicates do not matter.
        (base.0, &base.1, &["Accept-Encoding", "accept-encoding"], &["t1"], true),
        // §4.1: whitespace around list members is not significant.
        (base.0, &[("accept-encoding", " gzip ")], &["accept-encoding"], &["t1"], true),
        // Path case is significant (RFC 3986 §6.2.2.1).
        ("https://api.example.com/P?a=1&b=2", &base.1, &["accept-encoding"], &["t1"], false),
        // Query order is kept: origins may read it (arrays, signatures).
        ("https://api.example.com/p?b=2&a=1", &base.1, &["accept-encoding"], &["t1"], false),
        // Encoded reserved characters stay distinct: %2F is not /.
        ("https://api.example.com/p%2F?a=1&b=2", &base.1, &["accept-encoding"], &["t1"], false),
        // Another host or port is another resource.
        ("https://api.example.com:8443/p?a=1&b=2", &base.1, &["accept-encoding"], &["t1"], false),
        ("https://evil.example/p?a=1&b=2", &base.1, &["accept-encoding"], &["t1"], false),
        // §4.1: a different value of a varying field is a different variant.
        (base.0, &[("accept-encoding", "br")], &["accept-encoding"], &["t1"], false),
        // §4.1: absent differs from present-but-empty.
        (base.0, &[], &["accept-encoding"], &["t1"], false),
        // Extra parts are keyed and cannot imitate one another.
        (base.0, &base.1, &["accept-encoding"], &["t2"], false),
        (base.0, &base.1, &["accept-encoding"], &["t", "1"], false),
        // A header value cannot imitate the extra parts.
        (base.0, &[("accept-encoding", "gzip #2:t1")], &["accept-encoding"], &[], false),
    ];
    for (i, (uri, req, vary, extra, same)) in table.into_iter().enumerate() {
        assert_eq!(k(uri, req, vary, extra) == reference, same, "row {i}: {uri}");
    }
    // Extra parts are length-prefixed: a part containing the separator cannot split in two.
    assert_ne!(k(base.0, &base.1, &[], &["a", "b"]), k(base.0, &base.1, &[], &["a\n#1:b"]));
    // §4: the method is part of the key.
    assert_ne!(key(Method::HEAD, base.0, &base.1, &["accept-encoding"], &["t1"]), reference);
}

#[test]
fn vary_table() {
    // §4.1: (response Vary, request at store time, new request, matches?)
    #[rustfmt::skip]
    let table: Vec<(&str, &[(&str, &str)], &[(&str, &str)], bool)> = vec![
        ("Accept-Encoding", &[("accept-encoding", "gzip, br")], &[("accept-encoding", "gzip,br")], true),
        ("accept-encoding", &[("accept-encoding", "gzip")], &[("accept-encoding", "br")], false),
        // Multiple field lines combine (§4.1).
        ("Accept-Encoding", &[("accept-encoding", "gzip, br")], &[("accept-encoding", "gzip"), ("accept-encoding", "br")], true),
        // Absent at store time and now: match; absent vs present: no match.
        ("Accept-Language", &[], &[], true),
        ("Accept-Language", &[], &[("accept-language", "fr")], false),
        // Fields not named in Vary are irrelevant.
        ("Accept-Encoding", &[("accept-encoding", "gzip")], &[("accept-encoding", "gzip"), ("x-forwarded-host", "evil")], true),
        // Values keep their case (some are case-sensitive).
        ("X-Tenant", &[("x-tenant", "Acme")], &[("x-tenant", "acme")], false),
        // No Vary: everything matches.
        ("", &[("a", "1")], &[("a", "2")], true),
    ];
    for (i, (vary, stored_request, request, want)) in table.into_iter().enumerate() {
        let response = if vary.is_empty() { HeaderMap::new() } else { headers(&[("vary", vary)]) };
        let stored = VaryValues::capture(&response, &headers(stored_request)).unwrap();
        assert_eq!(vary_matches(&stored, &headers(request)), want, "row {i}");
    }
    // §4.1: Vary: * never matches, so nothing is captured.
    assert_eq!(VaryValues::capture(&headers(&[("vary", "*")]), &HeaderMap::new()), None);
    let names: Vec<String> = vary_names(&headers(&[("vary", "Origin, accept"), ("vary", "ACCEPT")]))
        .unwrap()
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(names, ["accept", "origin"]);
}

#[test]
fn cache_status_table() {
    // RFC 9211 §2: one list member per cache.
    let stored_miss = CacheStatus {
        stored: true,
        fwd_status: Some(StatusCode::OK),
        ..CacheStatus::forward("edge-gateway", Forward::Miss)
    };
    #[rustfmt::skip]
    let table: Vec<(CacheStatus<'_>, &str)> = vec![
        // §2.1 hit, §2.4 ttl.
        (CacheStatus { ttl: Some(42), ..CacheStatus::hit("edge-gateway") }, "edge-gateway; hit; ttl=42"),
        // §2.2 fwd, §2.3 fwd-status, §2.5 stored.
        (stored_miss, "edge-gateway; fwd=miss; fwd-status=200; stored"),
        (CacheStatus::forward("edge-gateway", Forward::UriMiss), "edge-gateway; fwd=uri-miss"),
        (CacheStatus::forward("edge-gateway", Forward::VaryMiss), "edge-gateway; fwd=vary-miss"),
        (CacheStatus::forward("edge-gateway", Forward::Bypass), "edge-gateway; fwd=bypass"),
        (CacheStatus::forward("edge-gateway", Forward::Method), "edge-gateway; fwd=method"),
        (CacheStatus::forward("edge-gateway", Forward::Request), "edge-gateway; fwd=request"),
        (CacheStatus::forward("edge-gateway", Forward::Partial), "edge-gateway; fwd=partial"),
        // §2.4: ttl is negative once stale.
        (CacheStatus { ttl: Some(-10), ..CacheStatus::forward("edge-gateway", Forward::Stale) }, "edge-gateway; fwd=stale; ttl=-10"),
        // §2.6 collapsed, §2.7 key (sf-string, escaped), §2.8 detail (token).
        (CacheStatus { collapsed: true, key: Some("GET \"x\""), detail: Some("private"), ..CacheStatus::hit("edge-gateway") },
            "edge-gateway; hit; collapsed; key=\"GET \\\"x\\\"\"; detail=private"),
        // A configured name that is not a token becomes an sf-string; non-ASCII replaced.
        (CacheStatus::hit("Edge Cache é"), "\"Edge Cache ?\"; hit"),
        (CacheStatus { detail: Some("no freshness"), ..CacheStatus::forward("edge-1", Forward::Miss) }, "edge-1; fwd=miss; detail=\"no freshness\""),
        // NotStorable reasons are tokens.
        (CacheStatus { detail: Some(NotStorable::SetCookie.detail()), ..CacheStatus::forward("edge-gateway", Forward::Miss) }, "edge-gateway; fwd=miss; detail=set-cookie"),
    ];
    for (status, want) in table {
        assert_eq!(cache_status(&status), want);
    }
    assert_eq!(CACHE_STATUS.as_str(), "cache-status");
}

#[test]
fn ttl_of_table() {
    // RFC 9211 §2.4: remaining freshness, negative when stale, absent when not served.
    let table = [
        (Decision::Fresh { age: secs(1), ttl: secs(42) }, Some(42)),
        (Decision::StaleAccepted { age: secs(70), staleness: secs(10) }, Some(-10)),
        (stale(5, true, false, 65), Some(-5)),
        (must(1, RevalidateReason::ResponseNoCache), None),
        (Decision::GatewayTimeout, None),
    ];
    for (decision, want) in table {
        assert_eq!(ttl_of(&decision), want, "{decision:?}");
    }
}

#[test]
fn invalidation_table() {
    // §4.4: (method, status, response headers, expected evicted URLs) for https://api.example.com/items/1.
    #[rustfmt::skip]
    let table: Vec<(Method, u16, &[(&str, &str)], &[&str])> = vec![
        // A non-error response to an unsafe method evicts the target URI.
        (Method::POST, 201, &[], &["https://api.example.com/items/1"]),
        (Method::DELETE, 204, &[], &["https://api.example.com/items/1"]),
        (Method::PUT, 303, &[], &["https://api.example.com/items/1"]),
        // ... and Location / Content-Location on the same origin, absolute or absolute-path.
        (Method::POST, 201, &[("location", "/items/2"), ("content-location", "https://API.example.com:443/items/3")],
            &["https://api.example.com/items/1", "https://api.example.com/items/2", "https://api.example.com/items/3"]),
        // A different origin is never evicted (§4.4 MUST NOT).
        (Method::POST, 201, &[("location", "https://victim.example/items/2")], &["https://api.example.com/items/1"]),
        (Method::POST, 201, &[("location", "//victim.example/items/2")], &["https://api.example.com/items/1"]),
        (Method::POST, 201, &[("location", "http://api.example.com/items/2")], &["https://api.example.com/items/1"]),
        // Relative paths are not resolved (documented); the target is still evicted.
        (Method::POST, 201, &[("location", "items/2")], &["https://api.example.com/items/1"]),
        // Error responses evict nothing.
        (Method::POST, 500, &[], &[]),
        (Method::DELETE, 404, &[], &[]),
        // Safe methods evict nothing.
        (Method::GET, 200, &[("location", "/items/2")], &[]),
        (Method::OPTIONS, 204, &[], &[]),
    ];
    let uri: Uri = "https://api.example.com/items/1".parse().unwrap();
    for (i, (method, status, resp, want)) in table.into_iter().enumerate() {
        let status = StatusCode::from_u16(status).unwrap();
        assert_eq!(
            invalidated_urls(&method, &uri, &HeaderMap::new(), status, &headers(resp)),
            want,
            "row {i}"
        );
    }
}

#[test]
fn stale_if_error_statuses() {
    // RFC 5861 §4: 500, 502, 503, 504 are errors; nothing else is.
    let table = [
        (500, true),
        (502, true),
        (503, true),
        (504, true),
        (501, false),
        (429, false),
        (404, false),
        (200, false),
    ];
    for (status, want) in table {
        assert_eq!(is_stale_if_error_status(StatusCode::from_u16(status).unwrap()), want, "{status}");
    }
}

#[test]
fn non_utf8_field_values_are_tolerated() {
    // RFC 9110 §5.5: obs-text bytes may appear in field values; parsers read around them.
    let raw = |name: &'static str, bytes: &[u8]| {
        let mut map = HeaderMap::new();
        map.insert(HeaderName::from_static(name), HeaderValue::from_bytes(bytes).unwrap());
        map
    };
    let cc = CacheControl::from_headers(&raw("cache-control", b"max-age=60, \xff\xfe=1, private"));
    assert_eq!((cc.max_age, cc.private), (Some(60), true));
    let stored = StoredMeta {
        status: StatusCode::OK,
        headers: raw("age", b"\xff"),
        request_time: T,
        response_time: T,
    };
    assert_eq!(current_age(&stored, T), Duration::ZERO);
    let names = vary_names(&raw("vary", b"accept, \xff")).unwrap();
    assert_eq!(names, [HeaderName::from_static("accept")]);
    assert_eq!(revalidation_headers(&raw("last-modified", b"\xff")), HeaderMap::new());
}
