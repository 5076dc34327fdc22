//! Whether and for how long a response is stored: the core's RFC 9111 policy mapped onto
//! Pingora's [`CacheMeta`].
//!
//! [`decide`] is pure: request and response heads and the two instants of the exchange in,
//! [`RespCacheable`] out. Storability is [`storable()`] (no `Set-Cookie`, `Authorization` only
//! with `public`/`s-maxage`/`must-revalidate`, never `private`/`no-store`); the lifetime is
//! [`freshness_lifetime`] (explicit expiry or the RFC heuristic, never a default TTL); the
//! age already accrued upstream is [`current_age`] and becomes the entry's epoch, so Pingora's
//! `Age` and freshness count from when the origin produced the response. It never reads a
//! clock and never touches storage.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use edge_gateway_core::cache::{
    CacheControl, StoreOptions, StoredMeta, current_age, freshness_lifetime, storable,
};
use edge_gateway_core::ports::UnixMillis;
use http::header::{ETAG, LAST_MODIFIED};
use pingora_cache::{CacheMeta, NoCacheReason, RespCacheable};
use pingora_http::{RequestHeader, ResponseHeader};

/// When the exchange with the origin happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exchange {
    /// When the request was sent to the origin.
    pub request_time: SystemTime,
    /// When the response header arrived.
    pub response_time: SystemTime,
}

/// Why a storable response is still not kept: stale on arrival with nothing to revalidate.
pub const STALE_ON_ARRIVAL: &str = "stale-on-arrival";

/// Why an answer to an authenticated request is not kept: the origin did not mark it shared.
pub const AUTHENTICATED: &str = "authenticated";

/// Decides whether `resp` (the answer to `req`) is stored, and with which freshness.
///
/// `authenticated` says the gateway authenticated the request (its cache scope): the gateway
/// removes `Authorization` before forwarding, so without this the RFC 9111 §3.5 rule for
/// authorised requests would never apply. Such an answer is stored only when the origin
/// marked it `public` or gave it `s-maxage`.
pub fn decide(
    req: &RequestHeader,
    resp: &ResponseHeader,
    at: Exchange,
    authenticated: bool,
) -> RespCacheable {
    let opts = StoreOptions::default();
    if let Err(reason) = storable(&req.method, &req.headers, resp.status, &resp.headers, opts) {
        return RespCacheable::Uncacheable(NoCacheReason::Custom(reason.detail()));
    }
    let cc = CacheControl::from_headers(&resp.headers);
    if authenticated && !cc.public && cc.s_maxage.is_none() {
        return RespCacheable::Uncacheable(NoCacheReason::Custom(AUTHENTICATED));
    }
    let response_ms = unix_millis(at.response_time);
    let lifetime = if cc.no_cache {
        Duration::ZERO
    } else {
        freshness_lifetime(&resp.headers, resp.status, response_ms)
    };
    let stored = StoredMeta {
        status: resp.status,
        headers: resp.headers.clone(),
        request_time: unix_millis(at.request_time),
        response_time: response_ms,
    };
    let age = current_age(&stored, response_ms);
    let has_validator = resp.headers.contains_key(ETAG) || resp.headers.contains_key(LAST_MODIFIED);
    if lifetime <= age && !has_validator {
        return RespCacheable::Uncacheable(NoCacheReason::Custom(STALE_ON_ARRIVAL));
    }
    let (swr, sie) = stale_windows(&cc);
    let epoch = at.response_time.checked_sub(age).unwrap_or(at.response_time);
    let mut meta = CacheMeta::new(epoch + lifetime, at.response_time, swr, sie, resp.clone());
    if epoch != at.response_time {
        meta.set_epoch_override(epoch);
    }
    RespCacheable::Cacheable(meta)
}

/// `stale-while-revalidate` and `stale-if-error` seconds (RFC 5861), both zero when the
/// response may never be served stale ([`CacheControl::allows_stale`]).
pub fn stale_windows(cc: &CacheControl) -> (u32, u32) {
    if !cc.allows_stale() {
        return (0, 0);
    }
    let secs = |v: Option<u64>| u32::try_from(v.unwrap_or(0)).unwrap_or(u32::MAX);
    (secs(cc.stale_while_revalidate), secs(cc.stale_if_error))
}

/// `at` as Unix milliseconds (0 before the epoch).
pub fn unix_millis(at: SystemTime) -> UnixMillis {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000;

    type Fields = &'static [(&'static str, &'static str)];
    type Expected = Result<(u64, u32, u32), &'static str>;
    /// name, method, request fields, status, response fields, outcome.
    type Row = (&'static str, &'static str, Fields, u16, Fields, Expected);

    fn at() -> Exchange {
        let t = UNIX_EPOCH + Duration::from_secs(NOW);
        Exchange { request_time: t, response_time: t }
    }

    fn request(method: &str, headers: &[(&str, &str)]) -> RequestHeader {
        let mut req = RequestHeader::build(method, b"/x", None).expect("request");
        for (k, v) in headers {
            req.append_header(k.to_string(), *v).expect("header");
        }
        req
    }

    fn response(status: u16, headers: &[(&str, &str)]) -> ResponseHeader {
        let mut resp = ResponseHeader::build(status, None).expect("response");
        for (k, v) in headers {
            resp.append_header(k.to_string(), *v).expect("header");
        }
        resp
    }

    /// `Ok(fresh seconds, swr, sie)` or `Err(reason)`.
    fn outcome(req: &RequestHeader, resp: &ResponseHeader) -> Expected {
        match decide(req, resp, at(), false) {
            RespCacheable::Cacheable(meta) => {
                let fresh = meta.fresh_until().duration_since(UNIX_EPOCH + Duration::from_secs(NOW));
                let fresh = fresh.map_or(0, |d| d.as_secs());
                Ok((fresh, meta.stale_while_revalidate_sec(), meta.stale_if_error_sec()))
            }
            RespCacheable::Uncacheable(NoCacheReason::Custom(reason)) => Err(reason),
            RespCacheable::Uncacheable(other) => panic!("unexpected reason {other:?}"),
        }
    }

    #[test]
    fn one_row_per_rule() {
        const DATE: &str = "Tue, 14 Nov 2023 22:13:20 GMT"; // == NOW
        let rows: &[Row] = &[
            ("max-age", "GET", &[], 200, &[("cache-control", "max-age=60")], Ok((60, 0, 0))),
            (
                "s-maxage wins",
                "GET",
                &[],
                200,
                &[("cache-control", "max-age=5, s-maxage=30")],
                Ok((30, 0, 0)),
            ),
            ("HEAD is cacheable", "HEAD", &[], 200, &[("cache-control", "max-age=9")], Ok((9, 0, 0))),
            ("POST is not", "POST", &[], 200, &[("cache-control", "max-age=9")], Err("method")),
            ("no-store", "GET", &[], 200, &[("cache-control", "no-store, max-age=9")], Err("no-store")),
            ("private", "GET", &[], 200, &[("cache-control", "private, max-age=9")], Err("private")),
            (
                "set-cookie",
                "GET",
                &[],
                200,
                &[("cache-control", "max-age=9"), ("set-cookie", "a=b")],
                Err("set-cookie"),
            ),
            (
                "authorization",
                "GET",
                &[("authorization", "Bearer x")],
                200,
                &[("cache-control", "max-age=9")],
                Err("authorization"),
            ),
            (
                "authorization + public",
                "GET",
                &[("authorization", "Bearer x")],
                200,
                &[("cache-control", "public, max-age=9")],
                Ok((9, 0, 0)),
            ),
            (
                "authorization + s-maxage",
                "GET",
                &[("authorization", "Bearer x")],
                200,
                &[("cache-control", "s-maxage=9")],
                Ok((9, 0, 0)),
            ),
            (
                "request no-store",
                "GET",
                &[("cache-control", "no-store")],
                200,
                &[("cache-control", "max-age=9")],
                Err("request-no-store"),
            ),
            ("no freshness, 302", "GET", &[], 302, &[], Err("no-freshness")),
            ("no default TTL for 200", "GET", &[], 200, &[], Err(STALE_ON_ARRIVAL)),
            (
                "heuristic: 10% of age",
                "GET",
                &[],
                200,
                &[("date", DATE), ("last-modified", "Tue, 14 Nov 2023 19:26:40 GMT")],
                Ok((1000, 0, 0)),
            ),
            ("206 is not stored", "GET", &[], 206, &[("cache-control", "max-age=9")], Err("status")),
            (
                "swr and sie",
                "GET",
                &[],
                200,
                &[("cache-control", "max-age=1, stale-while-revalidate=30, stale-if-error=60")],
                Ok((1, 30, 60)),
            ),
            (
                "must-revalidate closes windows",
                "GET",
                &[],
                200,
                &[("cache-control", "max-age=1, must-revalidate, stale-if-error=60")],
                Ok((1, 0, 0)),
            ),
            (
                "age already spent upstream",
                "GET",
                &[],
                200,
                &[("cache-control", "max-age=60"), ("age", "20")],
                Ok((40, 0, 0)),
            ),
            (
                "stale on arrival without validator",
                "GET",
                &[],
                200,
                &[("cache-control", "max-age=10"), ("age", "20")],
                Err(STALE_ON_ARRIVAL),
            ),
            (
                "no-cache with etag is kept to revalidate",
                "GET",
                &[],
                200,
                &[("cache-control", "no-cache"), ("etag", "\"v1\"")],
                Ok((0, 0, 0)),
            ),
            (
                "vary star",
                "GET",
                &[],
                200,
                &[("cache-control", "max-age=9"), ("vary", "*")],
                Err("vary-star"),
            ),
        ];
        for (name, method, req_headers, status, resp_headers, expected) in rows {
            let got = outcome(&request(method, req_headers), &response(*status, resp_headers));
            assert_eq!(&got, expected, "{name}");
        }
    }

    #[test]
    fn age_counts_from_the_origin_not_from_admission() {
        let resp = response(200, &[("cache-control", "max-age=60"), ("age", "20")]);
        let RespCacheable::Cacheable(meta) = decide(&request("GET", &[]), &resp, at(), false) else {
            panic!("not cacheable");
        };
        assert_eq!(meta.epoch(), UNIX_EPOCH + Duration::from_secs(NOW - 20));
    }

    /// Regression (issue 9, finding 2): the gateway strips `Authorization`, so an answer to an
    /// authenticated request is shared only when the origin says so.
    #[test]
    fn answers_to_authenticated_requests_are_kept_only_when_marked_shared() {
        let req = request("GET", &[]);
        let rows: [(&[(&str, &str)], bool); 4] = [
            (&[("cache-control", "max-age=60")], false),
            (&[("cache-control", "max-age=60, must-revalidate")], false),
            (&[("cache-control", "public, max-age=60")], true),
            (&[("cache-control", "s-maxage=60")], true),
        ];
        for (fields, kept) in rows {
            let resp = response(200, fields);
            let cacheable = matches!(decide(&req, &resp, at(), true), RespCacheable::Cacheable(_));
            assert_eq!(cacheable, kept, "{fields:?}");
            assert!(matches!(decide(&req, &resp, at(), false), RespCacheable::Cacheable(_)), "{fields:?}");
        }
    }
}
