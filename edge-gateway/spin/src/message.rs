//! Conversions between `wasi:http` 0.2 messages and the core's [`http`] messages.
//!
//! An incoming body becomes a [`SpinStream`] (the host's `incoming-body` and its input stream);
//! it is read only when it is copied into an outgoing request or response, chunk by chunk (see
//! [`crate::pipe`]), so a body is never held whole in memory.
//!
//! This module decides only two things the core cannot know: which client address and URL Spin
//! reported (the last `spin-client-addr` and `spin-full-url`, see [`last`]; every `spin-*`
//! header is dropped afterwards), and when an incoming request has no body at all (see
//! [`has_no_body`]).

use std::net::{IpAddr, SocketAddr};

use edge_gateway_core::{Body, ClientInfo};
use http::header::{CONTENT_LENGTH, HOST};
use http::{HeaderMap, Method, Uri};
use spin_sdk::http::{Fields, IncomingRequest, Method as WasiMethod, Scheme};
use spin_sdk::wit::wasi::http0_2_0::types::{IncomingBody, IncomingResponse};
use wasi::io::streams::InputStream;

/// The header in which Spin reports the client's socket address.
const CLIENT_ADDR: &str = "spin-client-addr";
/// The header in which Spin reports the full URL the client asked for.
const FULL_URL: &str = "spin-full-url";

/// Headers a `wasi:http` host refuses in guest-made messages; the core already strips the
/// hop-by-hop ones, this is the last guard before `fields.from-list`.
const FORBIDDEN: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "host",
    "http2-settings",
];

/// A body as the host streams it. Fields drop in order: the stream, then the body, then the
/// response that owns it (a `wasi:http` child resource must go before its parent).
pub(crate) struct SpinStream {
    pub(crate) stream: InputStream,
    pub(crate) body: IncomingBody,
    _owner: Option<IncomingResponse>,
}

impl SpinStream {
    /// The body of an incoming request.
    fn of_request(request: IncomingRequest) -> anyhow::Result<SpinStream> {
        let body = request.consume().map_err(|()| anyhow::anyhow!("the request body was already read"))?;
        drop(request);
        SpinStream::new(body, None)
    }

    /// The body of a response from the shield, which must live as long as its body.
    pub(crate) fn of_response(response: IncomingResponse) -> anyhow::Result<SpinStream> {
        let body = response.consume().map_err(|()| anyhow::anyhow!("the response body was already read"))?;
        SpinStream::new(body, Some(response))
    }

    fn new(body: IncomingBody, owner: Option<IncomingResponse>) -> anyhow::Result<SpinStream> {
        let stream = body.stream().map_err(|()| anyhow::anyhow!("the body stream was already taken"))?;
        Ok(SpinStream { stream, body, _owner: owner })
    }
}

/// Spin's request as the core's request, with what Spin says about the client.
pub(crate) fn from_spin(
    request: IncomingRequest,
) -> anyhow::Result<(http::Request<Body<SpinStream>>, ClientInfo)> {
    let mut headers = header_map(&request.headers());
    let client = ClientInfo { ip: client_ip(&headers), location: None, ..ClientInfo::default() };
    let full = last(&headers, FULL_URL).and_then(|v| v.parse::<Uri>().ok());
    let uri = match full {
        Some(full) if full.authority().is_some() => full,
        _ => request.uri().parse().map_err(|e| anyhow::anyhow!("request URI: {e}"))?,
    };
    strip_spin_headers(&mut headers);
    let mut head = http::Request::new(());
    *head.method_mut() = method(&request.method())?;
    *head.uri_mut() = uri;
    *head.headers_mut() = headers;
    let (head, ()) = head.into_parts();
    let body = if has_no_body(&head.method, &head.headers) {
        Body::Empty
    } else {
        Body::Stream(SpinStream::of_request(request)?)
    };
    Ok((http::Request::from_parts(head, body), client))
}

/// Headers as `wasi:http` fields, without the ones the host forbids.
pub(crate) fn fields(headers: &HeaderMap) -> anyhow::Result<Fields> {
    let entries: Vec<(String, Vec<u8>)> = headers
        .iter()
        .filter(|(name, _)| !FORBIDDEN.contains(&name.as_str()))
        .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
        .collect();
    Fields::from_list(&entries).map_err(|e| anyhow::anyhow!("invalid headers: {e:?}"))
}

/// `wasi:http` fields as a header map, in the host's order; unrepresentable entries are dropped.
pub(crate) fn header_map(fields: &Fields) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in fields.entries() {
        if let (Ok(name), Ok(value)) =
            (http::HeaderName::from_bytes(name.as_bytes()), http::HeaderValue::from_bytes(&value))
        {
            headers.append(name, value);
        }
    }
    headers
}

/// The core's method as a `wasi:http` method.
pub(crate) fn wasi_method(method: &Method) -> WasiMethod {
    match *method {
        Method::GET => WasiMethod::Get,
        Method::HEAD => WasiMethod::Head,
        Method::POST => WasiMethod::Post,
        Method::PUT => WasiMethod::Put,
        Method::DELETE => WasiMethod::Delete,
        Method::CONNECT => WasiMethod::Connect,
        Method::OPTIONS => WasiMethod::Options,
        Method::TRACE => WasiMethod::Trace,
        Method::PATCH => WasiMethod::Patch,
        ref other => WasiMethod::Other(other.as_str().to_owned()),
    }
}

/// The URI's scheme as a `wasi:http` scheme (`https` when there is none).
pub(crate) fn wasi_scheme(uri: &Uri) -> Scheme {
    match uri.scheme_str() {
        Some("http") => Scheme::Http,
        Some("https") | None => Scheme::Https,
        Some(other) => Scheme::Other(other.to_owned()),
    }
}

fn method(method: &WasiMethod) -> anyhow::Result<Method> {
    let name = match method {
        WasiMethod::Get => "GET",
        WasiMethod::Head => "HEAD",
        WasiMethod::Post => "POST",
        WasiMethod::Put => "PUT",
        WasiMethod::Delete => "DELETE",
        WasiMethod::Connect => "CONNECT",
        WasiMethod::Options => "OPTIONS",
        WasiMethod::Trace => "TRACE",
        WasiMethod::Patch => "PATCH",
        WasiMethod::Other(other) => other,
    };
    Method::from_bytes(name.as_bytes()).map_err(|e| anyhow::anyhow!("request method: {e}"))
}

/// The **last** value of a `spin-*` header: Spin's own.
///
/// Spin passes the client's own headers through and appends its `spin-*` headers after them,
/// so a client can send `spin-client-addr` or `spin-full-url` too, but only as an earlier
/// instance: the last one is always Spin's.
fn last<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get_all(name).iter().next_back()?.to_str().ok()
}

/// The client's address from the last `spin-client-addr` (`ip:port`, or a bare ip). A last
/// value that does not parse gives no address rather than an earlier one.
fn client_ip(headers: &HeaderMap) -> Option<IpAddr> {
    let value = last(headers, CLIENT_ADDR)?.trim();
    value.parse::<SocketAddr>().map(|a| a.ip()).or_else(|_| value.parse::<IpAddr>()).ok()
}

/// Removes every `spin-*` header (Spin's and any a client forged) and `Host`.
fn strip_spin_headers(headers: &mut HeaderMap) {
    let spin: Vec<_> = headers.keys().filter(|name| name.as_str().starts_with("spin-")).cloned().collect();
    for name in spin {
        headers.remove(name);
    }
    headers.remove(HOST);
}

/// True when the request certainly carries no body, so the core may replay it to another region.
///
/// The host hides `Transfer-Encoding`, so "no `Content-Length`" alone does not prove there is no
/// body. A body is ruled out by `Content-Length: 0`, or for `GET` and `HEAD` (whose content has no
/// defined meaning, RFC 9110 §9.3.1) by the absence of `Content-Length`: a chunked body sent with
/// those methods is not forwarded.
fn has_no_body(method: &Method, headers: &HeaderMap) -> bool {
    match headers.get(CONTENT_LENGTH) {
        Some(length) => length.as_bytes() == b"0",
        None => *method == Method::GET || *method == Method::HEAD,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(http::HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
        }
        map
    }

    /// Regression: the adapter read the first `spin-client-addr`, which a client can forge.
    #[test]
    fn client_ip_is_the_last_spin_client_addr() {
        let cases: [(&[(&str, &str)], Option<&str>); 5] = [
            (
                &[("spin-client-addr", "6.6.6.6:1234"), ("spin-client-addr", "127.0.0.1:5000")],
                Some("127.0.0.1"),
            ),
            (&[("spin-client-addr", "[::1]:80")], Some("::1")),
            (&[("spin-client-addr", "10.0.0.1")], Some("10.0.0.1")),
            (&[("spin-client-addr", "6.6.6.6:1"), ("spin-client-addr", "garbage")], None),
            (&[], None),
        ];
        for (pairs, want) in cases {
            assert_eq!(client_ip(&headers(pairs)), want.map(|ip| ip.parse().unwrap()), "{pairs:?}");
        }
    }

    #[test]
    fn the_full_url_is_the_last_spin_full_url() {
        let map =
            headers(&[("spin-full-url", "http://evil.test/admin"), ("spin-full-url", "http://api.test/x")]);
        assert_eq!(last(&map, FULL_URL), Some("http://api.test/x"));
    }

    #[test]
    fn every_spin_header_and_host_are_removed() {
        let mut map = headers(&[
            ("spin-client-addr", "6.6.6.6:1"),
            ("spin-full-url", "http://x/"),
            ("host", "x"),
            ("x-spin", "kept"),
        ]);
        strip_spin_headers(&mut map);
        assert_eq!(map.keys().map(|k| k.as_str()).collect::<Vec<_>>(), ["x-spin"]);
    }
}
