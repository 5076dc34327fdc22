//! Outbound HTTP to the origin shields over `wasi:http/outgoing-handler` (WASI 0.2).
//!
//! The core's [`Timeouts`] become `request-options`: `connect` is the connect timeout and
//! `response` the first-byte timeout (the host counts it from the moment the request is sent, so
//! the response head may arrive up to `connect + response` after the attempt began). A host that
//! does not support an option simply does not enforce it.
//!
//! Errors are classified by which side of "was anything sent?" they fall on, see
//! [`classify`]: a denied or unreachable shield is [`UpstreamError::Connect`] (safe to retry in
//! another region), a slow one [`UpstreamError::Timeout`], anything else
//! [`UpstreamError::Protocol`].

use std::time::Duration;

use edge_gateway_core::Body;
use edge_gateway_core::ports::{BodyError, Fetch, FetchError, Fetched, Timeouts, Upstream, UpstreamError};
use spin_sdk::http::{ErrorCode, IncomingResponse, OutgoingRequest};
use spin_sdk::wit::wasi::http0_2_0::outgoing_handler;
use spin_sdk::wit::wasi::http0_2_0::types::RequestOptions;

use crate::message::{self, SpinStream};
use crate::pipe;

/// Sends requests with the component's own `wasi:http/outgoing-handler` import.
pub(crate) struct SpinUpstream;

impl Upstream for SpinUpstream {
    type Stream = SpinStream;

    async fn send(
        &self,
        request: http::Request<Body<SpinStream>>,
        timeouts: Timeouts,
    ) -> Result<http::Response<Body<SpinStream>>, UpstreamError> {
        let response = exchange(request, timeouts).await?;
        let mut head = http::Response::new(());
        *head.status_mut() = http::StatusCode::from_u16(response.status())
            .map_err(|_| UpstreamError::Protocol(format!("invalid status {}", response.status())))?;
        *head.headers_mut() = message::header_map(&response.headers());
        let body = SpinStream::of_response(response).map_err(|e| UpstreamError::Protocol(e.to_string()))?;
        Ok(head.map(|()| Body::Stream(body)))
    }

    /// A body without `Content-Length` is read here, up to `limit` (wasi:http 0.2 has no way to
    /// cap a stream the component only passes on).
    async fn limit_body(&self, stream: SpinStream, limit: u64) -> Result<Body<SpinStream>, BodyError> {
        match pipe::read_to_end(stream, limit).await {
            Ok(body) => Ok(Body::Bytes(body.into())),
            Err(pipe::ReadError::TooLarge(read)) => Err(BodyError::TooLarge { read, limit }),
            Err(pipe::ReadError::Failed(reason)) => Err(BodyError::Read(reason)),
        }
    }
}

/// Sends `request` and streams its body while waiting for the response head.
///
/// Both run to the end: the body is copied until it is complete (or fails, which makes the host
/// fail the request) and the head is awaited. An unsent body leaves nothing to retry with, so a
/// failure after the body started is a protocol error unless the host says the shield was never
/// reached.
async fn exchange(
    request: http::Request<Body<SpinStream>>,
    timeouts: Timeouts,
) -> Result<IncomingResponse, UpstreamError> {
    let (head, body) = request.into_parts();
    let outgoing = to_wasi(&head)?;
    let destination = outgoing.body().map_err(|()| UpstreamError::Protocol("request body taken".into()))?;
    let future = outgoing_handler::handle(outgoing, Some(options(timeouts)))
        .map_err(|code| classify(code, timeouts))?;
    let (sent, response) =
        futures::future::join(pipe::send_body(body, destination), pipe::response(future)).await;
    let response = response.map_err(|code| classify(code, timeouts))?;
    if let Err(error) = sent {
        return Err(UpstreamError::Protocol(format!("request body: {error}")));
    }
    Ok(response)
}

/// The core's request head as a `wasi:http` outgoing request.
fn to_wasi(head: &http::request::Parts) -> Result<OutgoingRequest, UpstreamError> {
    let refused = |what: &str| UpstreamError::Protocol(format!("the host refused the request {what}"));
    let fields = message::fields(&head.headers).map_err(|e| UpstreamError::Protocol(e.to_string()))?;
    let request = OutgoingRequest::new(fields);
    request.set_method(&message::wasi_method(&head.method)).map_err(|()| refused("method"))?;
    request.set_scheme(Some(&message::wasi_scheme(&head.uri))).map_err(|()| refused("scheme"))?;
    request.set_authority(head.uri.authority().map(|a| a.as_str())).map_err(|()| refused("authority"))?;
    request
        .set_path_with_query(head.uri.path_and_query().map(|pq| pq.as_str()))
        .map_err(|()| refused("path"))?;
    Ok(request)
}

/// `request-options` carrying the core's time limits; unsupported options are left unset.
///
/// No between-bytes limit is set: the core has none, and a response stream may rightly pause
/// (server-sent events); the host's own default applies.
fn options(timeouts: Timeouts) -> RequestOptions {
    let options = RequestOptions::new();
    let _unsupported = options.set_connect_timeout(Some(nanos(timeouts.connect)));
    let _unsupported = options.set_first_byte_timeout(Some(nanos(timeouts.response)));
    options
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// Small documents (key sets) over the same `wasi:http/outgoing-handler`: connect and
/// first-byte limits are the fetch timeout; the body is read whole, up to the limit.
pub(crate) struct SpinDocuments;

impl Fetch for SpinDocuments {
    async fn get(&self, url: &str, timeout: Duration, limit: usize) -> Result<Fetched, FetchError> {
        let mut request = http::Request::new(Body::Empty);
        *request.uri_mut() = url.parse().map_err(|e| FetchError(format!("bad URL: {e}")))?;
        let timeouts = Timeouts { connect: timeout, response: timeout };
        let response = exchange(request, timeouts).await.map_err(|e| FetchError(e.to_string()))?;
        let status =
            http::StatusCode::from_u16(response.status()).map_err(|_| FetchError("invalid status".into()))?;
        let headers = message::header_map(&response.headers());
        let body = SpinStream::of_response(response).map_err(|e| FetchError(e.to_string()))?;
        let limit = u64::try_from(limit).unwrap_or(u64::MAX);
        let body = pipe::read_to_end(body, limit).await.map_err(|e| FetchError(e.to_string()))?;
        Ok(Fetched { status, headers, body: body.into() })
    }
}

/// What a `wasi:http` error code means for the core.
///
/// `HTTP-request-denied` (the host's `allowed_outbound_hosts` said no) and a connect timeout are
/// connect errors: nothing reached the shield, so another region may be tried.
fn classify(code: ErrorCode, timeouts: Timeouts) -> UpstreamError {
    match code {
        ErrorCode::DnsTimeout
        | ErrorCode::DnsError(_)
        | ErrorCode::DestinationNotFound
        | ErrorCode::DestinationUnavailable
        | ErrorCode::DestinationIpProhibited
        | ErrorCode::DestinationIpUnroutable
        | ErrorCode::ConnectionRefused
        | ErrorCode::ConnectionTimeout
        | ErrorCode::ConnectionLimitReached
        | ErrorCode::TlsProtocolError
        | ErrorCode::TlsCertificateError
        | ErrorCode::TlsAlertReceived(_)
        | ErrorCode::HttpRequestDenied => UpstreamError::Connect(format!("{code:?}")),
        ErrorCode::ConnectionReadTimeout | ErrorCode::HttpResponseTimeout => {
            UpstreamError::Timeout(timeouts.response)
        }
        other => UpstreamError::Protocol(format!("{other:?}")),
    }
}
