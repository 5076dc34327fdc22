//! What the origin shield receives, and what the client gets back.
//!
//! The gateway is the first hop it trusts: client-sent `X-Forwarded-*` and `Forwarded` are
//! dropped and rewritten from what the platform says about the connection, and every other
//! header a client could use to lie about itself or redirect the origin (`SPOOFABLE`) is
//! dropped in every spelling; hop-by-hop headers
//! (RFC 9110 §7.6.1, plus any named in `Connection`) are removed in both directions; `Via`, a
//! request id and a W3C `traceparent` are set. Pure functions over header maps: no I/O here.

pub mod credentials;
pub mod trace;

use std::net::IpAddr;

use http::header::{
    CONNECTION, HeaderName, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION, TE, TRAILER, TRANSFER_ENCODING, UPGRADE,
    VIA,
};
use http::{HeaderMap, HeaderValue, Uri};

use crate::config::{PathEdit, Region, TemplatePart};
pub use trace::Trace;

/// The request id header, set on the upstream request and on every response.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The region that served the response.
pub const EDGE_REGION: HeaderName = HeaderName::from_static("x-edge-region");
/// The route that served the response.
pub const EDGE_ROUTE: HeaderName = HeaderName::from_static("x-edge-route");
/// How this gateway names itself in `Via`.
pub const VIA_PSEUDONYM: &str = "edge-gateway";

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const FORWARDED: HeaderName = HeaderName::from_static("forwarded");

/// Hop-by-hop headers, always removed (RFC 9110 §7.6.1 and their common non-standard kin).
/// Names, not strings: removing by `&str` parses the name again on every call.
const HOP_BY_HOP: [HeaderName; 9] = [
    CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    PROXY_AUTHENTICATE,
    PROXY_AUTHORIZATION,
    TE,
    TRAILER,
    TRANSFER_ENCODING,
    UPGRADE,
];

/// Request headers a client may never send upstream, in any spelling: forwarding facts the
/// gateway sets itself, client-address headers other proxies trust, URL and method override
/// hints that make origins serve another resource or method than the one routed and
/// authorised, and the gateway's own cache-scope header. Compared in canonical spelling
/// (lower-case, `_` read as `-`: CGI-style stacks map both to one variable).
const SPOOFABLE: [&str; 19] = [
    "forwarded",
    "x-real-ip",
    "cf-connecting-ip",
    "true-client-ip",
    "x-client-ip",
    "x-cluster-client-ip",
    "client-ip",
    "fastly-client-ip",
    "x-original-url",
    "x-original-uri",
    "x-rewrite-url",
    "x-override-url",
    "x-original-host",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "x-original-method",
    "x-host",
    "x-edge-cache-scope",
];

/// Every `x-forwarded-*` header is the gateway's to set.
const FORWARDED_PREFIX: &str = "x-forwarded-";

/// Tells the shield which route a request came through and whether it was authenticated, so
/// its cache never serves one route's or one identity's answer to another (see
/// `docs/security.md`). Set by the gateway only: any client copy is removed first.
pub const CACHE_SCOPE: HeaderName = HeaderName::from_static("x-edge-cache-scope");

/// Facts about the client connection, from the platform, never from client headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardFacts<'a> {
    /// The client's address, when the platform knows it.
    pub client_ip: Option<IpAddr>,
    /// `http` or `https`, as the client connected.
    pub proto: &'a str,
    /// The host the client asked for.
    pub host: &'a str,
    /// The request id.
    pub request_id: &'a str,
    /// The trace context to send upstream.
    pub trace: &'a Trace,
}

/// Removes hop-by-hop headers, including those the `Connection` header names.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
    debug_assert!(!headers.contains_key(TE) && !headers.contains_key(TRAILER));
    debug_assert!(!headers.contains_key(TRANSFER_ENCODING) && !headers.contains_key(UPGRADE));
}

/// The headers sent to the shield for a client request.
pub fn upstream_headers(incoming: &HeaderMap, facts: &ForwardFacts<'_>) -> HeaderMap {
    let mut headers = incoming.clone();
    strip_hop_by_hop(&mut headers);
    strip_spellings(&mut headers, |canonical| {
        canonical.starts_with(FORWARDED_PREFIX) || SPOOFABLE.contains(&canonical)
    });
    headers.remove(http::header::HOST);
    // Room for the headers set below, so the map grows at most once.
    headers.reserve(8);
    let proto = match facts.proto {
        "https" => HeaderValue::from_static("https"),
        "http" => HeaderValue::from_static("http"),
        other => HeaderValue::from_str(other).unwrap_or(HeaderValue::from_static("https")),
    };
    headers.insert(X_FORWARDED_PROTO, proto);
    if let Ok(host) = HeaderValue::from_str(facts.host) {
        headers.insert(X_FORWARDED_HOST, host);
    }
    let client = facts.client_ip.map(|ip| ip.to_string());
    if let Some(ip) = &client {
        headers.insert(X_FORWARDED_FOR, header_value(ip));
    }
    headers.insert(FORWARDED, header_value(&forwarded_element(facts, client.as_deref())));
    append_via(&mut headers);
    if let Ok(id) = HeaderValue::from_str(facts.request_id) {
        headers.insert(REQUEST_ID, id);
    }
    facts.trace.write_to(&mut headers);
    headers
}

/// Removes every header whose canonical spelling (lower-case, `_` read as `-`) `matches`.
pub fn strip_spellings(headers: &mut HeaderMap, matches: impl Fn(&str) -> bool) {
    let doomed: Vec<HeaderName> =
        headers.keys().filter(|name| matches(&canonical(name.as_str()))).cloned().collect();
    for name in doomed {
        headers.remove(name);
    }
}

/// A header name's canonical spelling: lower-case (as [`HeaderName`] already is), `_` as `-`.
pub fn canonical(name: &str) -> std::borrow::Cow<'_, str> {
    if name.contains('_') { name.replace('_', "-").into() } else { name.into() }
}

/// Sets [`CACHE_SCOPE`] for a request through `route`, authenticated or not.
pub fn set_cache_scope(headers: &mut HeaderMap, route: &str, authenticated: bool) {
    let value = format!("route={route}; auth={}", u8::from(authenticated));
    if let Ok(value) = HeaderValue::from_str(&value) {
        headers.insert(CACHE_SCOPE, value);
    }
}

/// Cleans a shield response for the client and labels it.
pub fn client_headers(headers: &mut HeaderMap, request_id: &str, region: &str, route: &str) {
    strip_hop_by_hop(headers);
    append_via(headers);
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert(REQUEST_ID, id);
    }
    if let Ok(region) = HeaderValue::from_str(region) {
        headers.insert(EDGE_REGION, region);
    }
    if let Ok(route) = HeaderValue::from_str(route) {
        headers.insert(EDGE_ROUTE, route);
    }
}

/// True when a `Via` header already names this gateway: the request is looping.
pub fn is_loop(headers: &HeaderMap) -> bool {
    headers
        .get_all(VIA)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|hop| hop.split_whitespace().nth(1) == Some(VIA_PSEUDONYM))
}

fn append_via(headers: &mut HeaderMap) {
    headers.append(VIA, HeaderValue::from_static("1.1 edge-gateway"));
}

/// The RFC 7239 element for this hop: `for=...;proto=...;host=...`. `client` is the client
/// address as already written for `X-Forwarded-For`.
fn forwarded_element(facts: &ForwardFacts<'_>, client: Option<&str>) -> String {
    let node = match (facts.client_ip, client) {
        (Some(IpAddr::V4(_)), Some(ip)) => ip.to_owned(),
        (Some(IpAddr::V6(_)), Some(ip)) => format!("\"[{ip}]\""),
        _ => "unknown".to_owned(),
    };
    let host = if facts.host.bytes().all(is_token_byte) {
        facts.host.to_owned()
    } else {
        format!("\"{}\"", facts.host.replace(['"', '\\'], ""))
    };
    format!("for={node};proto={};host={host}", facts.proto)
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static("unknown"))
}

/// The path to send upstream after the route's edit. `params` are the raw matched parameters.
pub fn edit_path(edit: &PathEdit, path: &str, params: &[(String, String)]) -> String {
    match edit {
        PathEdit::Keep => path.to_owned(),
        PathEdit::StripPrefix(prefix) => match path.strip_prefix(prefix.as_str()) {
            Some(rest) if rest.starts_with('/') => rest.to_owned(),
            Some(rest) => format!("/{rest}"),
            None => path.to_owned(),
        },
        PathEdit::Rewrite(parts) => {
            let mut out = String::new();
            for part in parts {
                match part {
                    TemplatePart::Literal(text) => out.push_str(text),
                    TemplatePart::Param(name) => {
                        let value = params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
                        out.push_str(value.unwrap_or_default());
                    }
                }
            }
            out
        }
    }
}

/// The absolute URI of the request at `region`'s shield.
pub fn upstream_uri(region: &Region, path: &str, query: Option<&str>) -> Result<Uri, http::Error> {
    let target = match query {
        Some(query) => format!("{}{path}?{query}", region.shield),
        None => format!("{}{path}", region.shield),
    };
    Ok(Uri::try_from(target)?)
}
