//! Conversions between `wasi:http` messages and the core's [`http`] messages.
//!
//! A body stream is never read here. An incoming body becomes a [`SpinStream`] (the host's
//! byte stream and trailers future), which is later given as-is to a new `wasi:http` request or
//! response: the host pipes the bytes from one connection to the other.
//!
//! This module decides only two things the core cannot know: which client address Spin reported
//! (`spin-client-addr`, after which every `spin-*` header is dropped), and when an incoming
//! request has no body at all (see [`has_no_body`]).

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use edge_gateway_core::{Body, ClientInfo};
use http::header::{CONTENT_LENGTH, HOST};
use http::{HeaderMap, Method, Uri};
use spin_sdk::http::Request as SpinRequest;
use spin_sdk::wasip3::http::types::{
    ErrorCode, Fields, Request as WasiRequest, Response as WasiResponse, Trailers,
};
use spin_sdk::wasip3::wit_bindgen::{FutureReader, StreamReader, StreamResult, spawn};
use spin_sdk::wasip3::{wit_future, wit_stream};

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

/// The trailers future of a `wasi:http` body.
pub(crate) type TrailersFuture = FutureReader<Result<Option<Trailers>, ErrorCode>>;

/// A body as the host streams it: its bytes and, once they end, its trailers.
pub(crate) struct SpinStream {
    contents: StreamReader<u8>,
    trailers: TrailersFuture,
}

impl SpinStream {
    /// Takes the body of an incoming request.
    fn of_request(request: WasiRequest) -> SpinStream {
        let (contents, trailers) = WasiRequest::consume_body(request, done());
        SpinStream { contents, trailers }
    }

    /// Takes the body of a response from the shield.
    pub(crate) fn of_response(response: WasiResponse) -> SpinStream {
        let (contents, trailers) = WasiResponse::consume_body(response, done());
        SpinStream { contents, trailers }
    }

    /// Reads the whole body, refusing more than `limit` bytes.
    pub(crate) async fn read_to_end(mut self, limit: usize) -> Result<Vec<u8>, String> {
        let mut body = Vec::new();
        loop {
            let (status, chunk) = self.contents.read(Vec::with_capacity(16 * 1024)).await;
            body.extend_from_slice(&chunk);
            if body.len() > limit {
                return Err(format!("body exceeds {limit} bytes"));
            }
            match status {
                StreamResult::Complete(_) => {}
                StreamResult::Dropped | StreamResult::Cancelled => return Ok(body),
            }
        }
    }
}

/// The parts `request.new` / `response.new` take for a core body.
pub(crate) fn body_parts(body: Body<SpinStream>) -> (Option<StreamReader<u8>>, TrailersFuture) {
    match body {
        Body::Empty => (None, no_trailers()),
        Body::Bytes(bytes) => (Some(stream_of(bytes)), no_trailers()),
        Body::Stream(stream) => (Some(stream.contents), stream.trailers),
    }
}

/// Spin's request as the core's request, with what Spin says about the client.
pub(crate) fn from_spin(
    request: SpinRequest,
) -> anyhow::Result<(http::Request<Body<SpinStream>>, ClientInfo)> {
    let (mut head, mut body) = request.into_parts();
    let client = ClientInfo { ip: client_ip(&head.headers), location: None };
    if head.uri.authority().is_none()
        && let Some(full) = head.headers.get(FULL_URL).and_then(|v| v.to_str().ok()?.parse::<Uri>().ok())
    {
        head.uri = full;
    }
    strip_spin_headers(&mut head.headers);
    let body = match body.take_unstarted() {
        Some(_) if has_no_body(&head.method, &head.headers) => Body::Empty,
        Some(wasi) => Body::Stream(SpinStream::of_request(wasi)),
        None => anyhow::bail!("the request body was already read"),
    };
    Ok((http::Request::from_parts(head, body), client))
}

/// The core's response as a `wasi:http` response.
pub(crate) fn into_spin(response: http::Response<Body<SpinStream>>) -> anyhow::Result<WasiResponse> {
    let (head, body) = response.into_parts();
    let (contents, trailers) = body_parts(body);
    let (response, _sent) = WasiResponse::new(fields(&head.headers)?, contents, trailers);
    response
        .set_status_code(head.status.as_u16())
        .map_err(|()| anyhow::anyhow!("invalid status {}", head.status))?;
    Ok(response)
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

/// `wasi:http` fields as a header map; unrepresentable entries are dropped.
pub(crate) fn header_map(fields: &Fields) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in fields.copy_all() {
        if let (Ok(name), Ok(value)) =
            (http::HeaderName::from_bytes(name.as_bytes()), http::HeaderValue::from_bytes(&value))
        {
            headers.append(name, value);
        }
    }
    headers
}

/// The client's address from `spin-client-addr` (`ip:port`, or a bare ip).
fn client_ip(headers: &HeaderMap) -> Option<IpAddr> {
    let value = headers.get(CLIENT_ADDR)?.to_str().ok()?.trim();
    value.parse::<SocketAddr>().map(|a| a.ip()).or_else(|_| value.parse::<IpAddr>()).ok()
}

/// Removes every `spin-*` header: they describe Spin's routing, not the client's request.
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

/// A byte stream that yields `bytes` and ends.
fn stream_of(bytes: Bytes) -> StreamReader<u8> {
    let (mut writer, reader) = wit_stream::new();
    spawn(async move {
        // A dropped reader (client gone) leaves bytes unwritten: nothing to do about it.
        let _unwritten = writer.write_all(bytes.to_vec()).await;
    });
    reader
}

/// A trailers future that says "no trailers" (the writer is dropped at once, sending the default).
fn no_trailers() -> TrailersFuture {
    wit_future::new(|| Ok(None)).1
}

/// The `res` future of `consume-body`, telling the host the body was handled without error.
fn done() -> FutureReader<Result<(), ErrorCode>> {
    wit_future::new(|| Ok(())).1
}
