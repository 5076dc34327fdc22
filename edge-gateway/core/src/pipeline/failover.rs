//! The attempt loop: one request sent to the selected regions in turn.
//!
//! ```text
//! prepare headers, path, body (kept for replay up to the pool's limit)
//! for each region, best first, within the pool's deadline:
//!     a retry needs the retry budget and a body that can be sent again
//!     send → outcome (success, 5xx, connect failure, timeout) → breaker and ejection
//!     success, or a failure not worth another region → answer
//! ```
//!
//! What is worth another region is the pool's `retry_on`: a connect failure (nothing reached
//! the region, so any method may go elsewhere), and, for idempotent methods (GET, HEAD,
//! OPTIONS, PUT, DELETE) or requests carrying `Idempotency-Key`, a timeout, a protocol error
//! or a listed 5xx. A body is sent again only when it was kept: empty, already in memory, or
//! declared no larger than `replay_body_bytes`; a larger streamed body goes to one region only.
//! The answer names the region that served it (`x-edge-region`, `Server-Timing`) and how many
//! attempts it took (`x-edge-attempts`); every failed attempt is logged.

use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderName, HeaderValue, Method, Request, Response};

use super::Outgoing;
use super::cached::Context;
use crate::access_log::Phase;
use crate::body::Body;
use crate::error::GatewayError;
use crate::forward::{self, ForwardFacts};
use crate::health::Outcome;
use crate::limits;
use crate::ports::{BodyError, Clock, Level, Log, Ports, Timeouts, Upstream, UpstreamError};

/// How many attempts an answer took.
pub(super) const EDGE_ATTEMPTS: HeaderName = HeaderName::from_static("x-edge-attempts");
/// The header that makes a non-idempotent request safe to send twice.
pub(super) const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
pub(super) const SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");

/// A request body, kept for replay when it can be.
enum Replay<S> {
    /// In memory: every attempt gets a copy.
    Kept(Bytes),
    /// Streamed: the first attempt takes it, no other can.
    Once(Option<Body<S>>),
}

impl<S> Replay<S> {
    fn take(&mut self) -> Option<Body<S>> {
        match self {
            Replay::Kept(bytes) if bytes.is_empty() => Some(Body::Empty),
            Replay::Kept(bytes) => Some(Body::Bytes(bytes.clone())),
            Replay::Once(body) => body.take(),
        }
    }
}

/// A failed attempt: why, and the region's answer when it gave one (a retryable 5xx).
struct Failure<'r, S> {
    error: GatewayError,
    answer: Option<Answered<'r, S>>,
}

/// An answer kept while another region is tried.
struct Answered<'r, S> {
    response: Response<Body<S>>,
    region: &'r str,
    attempts: usize,
}

/// Reads a declared body of at most `limit` bytes into memory so it can be replayed.
async fn keep<P: Ports>(
    ports: &P,
    headers: &http::HeaderMap,
    body: Body<P::Stream>,
    limit: u64,
) -> Result<Replay<P::Stream>, GatewayError> {
    match body {
        Body::Empty => Ok(Replay::Kept(Bytes::new())),
        Body::Bytes(bytes) if bytes.len() as u64 <= limit => Ok(Replay::Kept(bytes)),
        Body::Bytes(bytes) => Ok(Replay::Once(Some(Body::Bytes(bytes)))),
        Body::Stream(stream) => {
            let declared = headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
            match declared {
                Some(length) if length <= limit => match ports.upstream().limit_body(stream, length).await {
                    Ok(Body::Bytes(bytes)) => Ok(Replay::Kept(bytes)),
                    Ok(other) => Ok(Replay::Once(Some(other))),
                    Err(BodyError::TooLarge { read, limit }) => {
                        Err(GatewayError::PayloadTooLarge { length: read, limit })
                    }
                    Err(other) => Err(GatewayError::BadRequest(other.to_string())),
                },
                _ => Ok(Replay::Once(Some(Body::Stream(stream)))),
            }
        }
    }
}

/// Sends the request to the selected regions in turn until one answers usefully, timed as the
/// `upstream` phase of the access log.
pub(super) async fn forward<P: Ports>(
    ports: &P,
    cx: &Context<'_, '_>,
    outgoing: Outgoing,
    body: Body<P::Stream>,
) -> Result<Response<Body<P::Stream>>, GatewayError> {
    let since = ports.clock().now();
    let result = attempts(ports, cx, outgoing, body).await;
    cx.ids.lap(ports, Phase::Upstream, since);
    result
}

/// The attempt loop itself.
async fn attempts<P: Ports>(
    ports: &P,
    cx: &Context<'_, '_>,
    outgoing: Outgoing,
    body: Body<P::Stream>,
) -> Result<Response<Body<P::Stream>>, GatewayError> {
    let (config, route, pool) = (cx.config, cx.matched.route, cx.pool);
    let failover = &pool.failover;
    let head = &outgoing.head;
    let host = limits::host(head).unwrap_or_default().to_owned();
    let proto = head.uri.scheme_str().unwrap_or("https").to_owned();
    let facts = ForwardFacts {
        client_ip: cx.client.ip,
        proto: &proto,
        host: &host,
        request_id: &cx.ids.request_id,
        trace: &cx.ids.trace,
    };
    let mut headers = forward::upstream_headers(&head.headers, &facts);
    let query = forward::credentials::apply(
        &mut headers,
        head.uri.query(),
        &config.auth,
        route.auth.as_ref(),
        &outgoing.identity,
    );
    forward::set_cache_scope(&mut headers, &route.id, route.auth.is_some());
    let path = forward::edit_path(&route.path_edit, head.uri.path(), &cx.matched.params);
    let mut replay = keep(ports, &head.headers, body, failover.replay_body_bytes).await?;
    if let Replay::Kept(bytes) = &replay {
        headers.remove(TRANSFER_ENCODING);
        headers.remove(CONTENT_LENGTH);
        if !bytes.is_empty() {
            headers.insert(CONTENT_LENGTH, HeaderValue::from(bytes.len()));
        }
    }
    let safe_to_repeat = idempotent(&head.method) || head.headers.contains_key(IDEMPOTENCY_KEY);
    let clock = ports.clock();
    let started = clock.now();
    let deadline_at = started.saturating_add(millis(failover.deadline));
    cx.health.record_request(pool, started);
    let mut last: Option<Failure<'_, P::Stream>> = None;
    for (attempt, &index) in cx.regions.iter().enumerate() {
        let region = &config.regions[index];
        let now = clock.now();
        if attempt > 0 && !cx.health.try_retry(pool, now) {
            ports.log().record(
                Level::Warn,
                &format!(
                    "request {}: retry budget of pool {} spent; not trying {}",
                    cx.ids.request_id, pool.name, region.name
                ),
            );
            break;
        }
        let left = Duration::from_millis(deadline_at.saturating_sub(now));
        if left.is_zero() {
            last = Some(Failure { error: GatewayError::UpstreamTimeout(failover.deadline), answer: None });
            break;
        }
        let Some(body) = replay.take() else { break };
        let uri = forward::upstream_uri(region, &path, query.as_deref())
            .map_err(|e| GatewayError::BadRequest(format!("cannot build upstream URL: {e}")))?;
        let mut request = Request::new(body);
        *request.method_mut() = head.method.clone();
        *request.uri_mut() = uri;
        *request.headers_mut() = headers.clone();
        let timeouts = Timeouts {
            connect: route.timeouts.connect.min(left),
            response: route.timeouts.response.min(left),
        };
        let permit = cx.health.permit(pool, &region.name, now);
        cx.ids.note(|r| r.tried.push(region.name.clone()));
        let sent = ports.upstream().send(request, timeouts).await;
        let done = clock.now();
        let (outcome, again, failure) = match sent {
            Ok(response) => {
                let status = response.status();
                let again = safe_to_repeat && failover.retry_on.statuses.contains(&status);
                let outcome = Outcome::of_status(status.as_u16());
                if !again {
                    cx.health.observe(pool, &region.name, permit, outcome, done);
                    return Ok(answer(response, cx, &region.name, attempt + 1, done.saturating_sub(now)));
                }
                let error = GatewayError::UpstreamProtocol(format!("status {status}"));
                let answer = Answered { response, region: region.name.as_str(), attempts: attempt + 1 };
                (outcome, true, Failure { error, answer: Some(answer) })
            }
            Err(UpstreamError::Connect(reason)) => (
                Outcome::ConnectFailure,
                failover.retry_on.connect,
                Failure { error: GatewayError::UpstreamConnect(reason), answer: None },
            ),
            Err(UpstreamError::Timeout(after)) => (
                Outcome::Timeout,
                failover.retry_on.timeout && safe_to_repeat,
                Failure { error: GatewayError::UpstreamTimeout(after), answer: None },
            ),
            Err(UpstreamError::Protocol(reason)) => (
                Outcome::ServerError,
                safe_to_repeat,
                Failure { error: GatewayError::UpstreamProtocol(reason), answer: None },
            ),
        };
        let ejected = cx.health.observe(pool, &region.name, permit, outcome, done);
        ports.log().record(
            Level::Warn,
            &format!(
                "request {}: region {} failed (attempt {}): {}{}",
                cx.ids.request_id,
                region.name,
                attempt + 1,
                failure.error,
                if ejected { "; region ejected" } else { "" }
            ),
        );
        last = Some(failure);
        if !again {
            break;
        }
    }
    match last {
        // A retryable answer with nowhere left to go is still the region's answer.
        Some(Failure { answer: Some(a), .. }) => Ok(answer(a.response, cx, a.region, a.attempts, 0)),
        Some(_) if cx.usable == 0 => Err(GatewayError::NoHealthyRegion),
        Some(Failure { error, .. }) => Err(error),
        None if cx.regions.is_empty() => Err(GatewayError::NoHealthyRegion),
        None => Err(GatewayError::UpstreamConnect("no region could be tried".into())),
    }
}

/// The region's response with the gateway's headers.
fn answer<S>(
    response: Response<Body<S>>,
    cx: &Context<'_, '_>,
    region: &str,
    attempts: usize,
    took_ms: u64,
) -> Response<Body<S>> {
    let (mut parts, body) = response.into_parts();
    cx.ids.note(|r| r.region = Some(region.to_owned()));
    forward::client_headers(&mut parts.headers, &cx.ids.request_id, region, &cx.matched.route.id);
    parts.headers.insert(EDGE_ATTEMPTS, HeaderValue::from(attempts));
    let timing = format!("upstream;dur={took_ms};desc=\"{}\"", region.replace(['"', '\\'], ""));
    if let Ok(value) = HeaderValue::try_from(timing) {
        parts.headers.append(SERVER_TIMING, value);
    }
    Response::from_parts(parts, body)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Methods that may be sent twice (RFC 9110 §9.2.2).
fn idempotent(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE)
}
