//! Whether a shared cache may store a response at all (RFC 9111 §3, §3.5, §5.2).
//!
//! Decides storability from the request method and headers, the response status and headers,
//! and [`StoreOptions`]; the first rule that fails is the reason given. It never decides how
//! long the response stays fresh (see [`super::freshness`]) and never touches a store.
//!
//! Rules beyond the RFC, chosen to keep one user's response from reaching another:
//! `Set-Cookie` responses are not stored unless [`StoreOptions::store_set_cookie`], and
//! `Vary: *` responses are not stored (they can never be reused, §4.1).

use http::header::{AUTHORIZATION, SET_COOKIE, VARY};
use http::{HeaderMap, Method, StatusCode};

use super::directives::{CacheControl, split_list};
use super::freshness::{has_explicit_expiry, heuristically_cacheable};

/// Statuses whose caching semantics this cache implements, for `must-understand` (§5.2.2.3):
/// the heuristically cacheable ones plus the temporary redirects.
pub const UNDERSTOOD: [u16; 14] = [200, 203, 204, 300, 301, 302, 303, 307, 308, 404, 405, 410, 414, 501];

/// Storage choices left to the operator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreOptions {
    /// Store responses that carry `Set-Cookie` (off by default: the cookie would be replayed
    /// to every client served from the entry).
    pub store_set_cookie: bool,
}

/// Why a response is not stored; the first failing rule wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotStorable {
    /// The method is neither `GET` nor `HEAD` (§3: the cache must understand the method).
    #[error("method not cacheable")]
    Method,
    /// The request said `no-store` (§5.2.1.5).
    #[error("request no-store")]
    RequestNoStore,
    /// The status is not final, is 206 (no range support) or 304, or is not understood while
    /// `must-understand` is present (§3, §5.2.2.3).
    #[error("status not cacheable")]
    Status,
    /// The response said `no-store` (§5.2.2.5).
    #[error("response no-store")]
    ResponseNoStore,
    /// The response said `private`; this is a shared cache (§5.2.2.7).
    #[error("response private")]
    Private,
    /// The request carried `Authorization` and the response did not allow sharing it with
    /// `public`, `s-maxage` or `must-revalidate` (§3.5).
    #[error("authorized request")]
    Authorization,
    /// The response sets a cookie and the options forbid storing it.
    #[error("set-cookie")]
    SetCookie,
    /// The response varies on `*`: no later request can match it (§4.1).
    #[error("vary star")]
    VaryStar,
    /// No explicit expiry, not `public`, and a status that allows no heuristic (§3, §4.2.2).
    #[error("no freshness information")]
    NoFreshness,
}

impl NotStorable {
    /// A short token for logs and the `Cache-Status` `detail` parameter, e.g. `private`.
    pub fn detail(self) -> &'static str {
        match self {
            Self::Method => "method",
            Self::RequestNoStore => "request-no-store",
            Self::Status => "status",
            Self::ResponseNoStore => "no-store",
            Self::Private => "private",
            Self::Authorization => "authorization",
            Self::SetCookie => "set-cookie",
            Self::VaryStar => "vary-star",
            Self::NoFreshness => "no-freshness",
        }
    }
}

/// Whether a shared cache may store this response to this request (RFC 9111 §3).
pub fn storable(
    method: &Method,
    request_headers: &HeaderMap,
    status: StatusCode,
    response_headers: &HeaderMap,
    opts: StoreOptions,
) -> Result<(), NotStorable> {
    if method != Method::GET && method != Method::HEAD {
        return Err(NotStorable::Method);
    }
    if CacheControl::from_headers(request_headers).no_store {
        return Err(NotStorable::RequestNoStore);
    }
    let cc = CacheControl::from_headers(response_headers);
    check_status(status, &cc)?;
    if cc.no_store && !(cc.must_understand && UNDERSTOOD.contains(&status.as_u16())) {
        return Err(NotStorable::ResponseNoStore);
    }
    if cc.private {
        return Err(NotStorable::Private);
    }
    let shareable = cc.public || cc.s_maxage.is_some() || cc.must_revalidate;
    if request_headers.contains_key(AUTHORIZATION) && !shareable {
        return Err(NotStorable::Authorization);
    }
    if response_headers.contains_key(SET_COOKIE) && !opts.store_set_cookie {
        return Err(NotStorable::SetCookie);
    }
    if varies_on_star(response_headers) {
        return Err(NotStorable::VaryStar);
    }
    if !(has_explicit_expiry(response_headers) || cc.public || heuristically_cacheable(status)) {
        return Err(NotStorable::NoFreshness);
    }
    Ok(())
}

/// §3: a final status other than 206 (ranges are not implemented) and 304 (it only updates);
/// with `must-understand`, a status from [`UNDERSTOOD`].
fn check_status(status: StatusCode, cc: &CacheControl) -> Result<(), NotStorable> {
    let code = status.as_u16();
    let final_status = code >= 200 && code != 206 && code != 304;
    if !final_status || (cc.must_understand && !UNDERSTOOD.contains(&code)) {
        return Err(NotStorable::Status);
    }
    Ok(())
}

/// True when any `Vary` member is `*`.
pub fn varies_on_star(headers: &HeaderMap) -> bool {
    headers
        .get_all(VARY)
        .iter()
        .any(|v| split_list(&String::from_utf8_lossy(v.as_bytes())).iter().any(|m| m == "*"))
}
