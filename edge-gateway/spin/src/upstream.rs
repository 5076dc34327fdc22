//! Outbound HTTP to the origin shields over `wasi:http/client` (WASI 0.3).
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
use edge_gateway_core::ports::{Fetch, FetchError, Fetched, Timeouts, Upstream, UpstreamError};
use spin_sdk::wasip3::http::client;
use spin_sdk::wasip3::http::types::{ErrorCode, Request as WasiRequest, RequestOptions, Scheme};

use crate::message::{self, SpinStream};

/// Sends requests with the component's own `wasi:http/client` import.
pub(crate) struct SpinUpstream;

impl Upstream for SpinUpstream {
    type Stream = SpinStream;

    async fn send(
        &self,
        request: http::Request<Body<SpinStream>>,
        timeouts: Timeouts,
    ) -> Result<http::Response<Body<SpinStream>>, UpstreamError> {
        let request = to_wasi(request, timeouts)?;
        let response = client::send(request).await.map_err(|code| classify(code, timeouts))?;
        let mut head = http::Response::new(());
        *head.status_mut() = http::StatusCode::from_u16(response.get_status_code())
            .map_err(|_| UpstreamError::Protocol(format!("invalid status {}", response.get_status_code())))?;
        *head.headers_mut() = message::header_map(&response.get_headers());
        let body = Body::Stream(SpinStream::of_response(response));
        Ok(head.map(|()| body))
    }
}

/// The core's request as a `wasi:http` request with its time limits.
pub(crate) fn to_wasi(
    request: http::Request<Body<SpinStream>>,
    timeouts: Timeouts,
) -> Result<WasiRequest, UpstreamError> {
    let (head, body) = request.into_parts();
    let refused = |what: &str| UpstreamError::Protocol(format!("the host refused the request {what}"));
    let fields = message::fields(&head.headers).map_err(|e| UpstreamError::Protocol(e.to_string()))?;
    let (contents, trailers) = message::body_parts(body);
    let (request, _sent) = WasiRequest::new(fields, contents, trailers, Some(options(timeouts)));
    request.set_method(&(&head.method).into()).map_err(|()| refused("method"))?;
    let scheme = match head.uri.scheme_str() {
        Some("http") => Scheme::Http,
        Some("https") | None => Scheme::Https,
        Some(other) => Scheme::Other(other.to_owned()),
    };
    request.set_scheme(Some(&scheme)).map_err(|()| refused("scheme"))?;
    request.set_authority(head.uri.authority().map(|a| a.as_str())).map_err(|()| refused("authority"))?;
    request
        .set_path_with_query(head.uri.path_and_query().map(|pq| pq.as_str()))
        .map_err(|()| refused("path"))?;
    Ok(request)
}

/// `request-options` carrying the core's time limits; unsupported options are left unset.
fn options(timeouts: Timeouts) -> RequestOptions {
    let options = RequestOptions::new();
    let _unsupported = options.set_connect_timeout(Some(nanos(timeouts.connect)));
    let _unsupported = options.set_first_byte_timeout(Some(nanos(timeouts.response)));
    options
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// Small documents (key sets) over the same `wasi:http/client`: connect and first-byte limits
/// are the fetch timeout; the body is read whole, up to the limit.
pub(crate) struct SpinDocuments;

impl Fetch for SpinDocuments {
    async fn get(&self, url: &str, timeout: Duration, limit: usize) -> Result<Fetched, FetchError> {
        let mut request = http::Request::new(Body::Empty);
        *request.uri_mut() = url.parse().map_err(|e| FetchError(format!("bad URL: {e}")))?;
        let timeouts = Timeouts { connect: timeout, response: timeout };
        let request = to_wasi(request, timeouts).map_err(|e| FetchError(e.to_string()))?;
        let response = client::send(request).await.map_err(|code| FetchError(format!("{code:?}")))?;
        let status = http::StatusCode::from_u16(response.get_status_code())
            .map_err(|_| FetchError("invalid status".into()))?;
        let headers = message::header_map(&response.get_headers());
        let body = SpinStream::of_response(response).read_to_end(limit).await.map_err(FetchError)?;
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
