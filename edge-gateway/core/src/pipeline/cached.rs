//! The cache step of the pipeline: serve from the edge cache, revalidate, fill it.
//!
//! ```text
//! lookup(key) ── purged / vary differs / none ──▶ forward ──▶ store if storable ──▶ client
//!      │
//!      └─ evaluate(stored, request, now)
//!           Fresh, StaleAccepted      → serve stored (Cache-Status: hit; ttl)
//!           Stale + while-revalidate  → serve stored, revalidate after the response (Deferred)
//!           Stale, MustRevalidate     → conditional forward: 304 → merge, store, serve;
//!                                       5xx / unreachable + stale-if-error → serve stale
//!           GatewayTimeout            → 504 (only-if-cached)
//! ```

use http::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_RANGE, IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH,
    IF_RANGE, IF_UNMODIFIED_SINCE, RANGE, TRANSFER_ENCODING,
};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Response, StatusCode};

use super::{Gateway, Matched, Outgoing, RequestIds, copy_head, route};
use crate::access_log::Phase;
use crate::body::Body;
use crate::cache::conditional::{self, Answer};
use crate::cache::status::ttl_of;
use crate::cache::{
    CacheStatus, Decision, Forward, evaluate, is_stale_if_error_status, merge_304, revalidation_headers,
};
use crate::config::Config;
use crate::config::Pool;
use crate::config::edge_cache::RouteCache;
use crate::error::GatewayError;
use crate::forward::REQUEST_ID;
use crate::pipeline::ClientInfo;
use crate::ports::{Clock, EdgeCache, Level, Log, Ports, UnixMillis};
use crate::stages::Health;
use crate::stages::Identity;
use crate::stages::edge_cache::{self, CACHE_NAME, Entry};

/// Work left after the response: revalidating an entry served stale
/// (`stale-while-revalidate`). Adapters run it with [`Gateway::run_deferred`] once the response
/// is on its way (Workers: `waitUntil`).
#[derive(Debug)]
pub struct Deferred {
    head: Parts,
    identity: Identity,
    client: ClientInfo,
    key: String,
    path: String,
}

/// Everything a forward needs besides the request itself.
pub(super) struct Context<'a, 'c> {
    pub(super) config: &'a Config,
    pub(super) matched: &'a Matched<'c>,
    /// The pool serving the request (the route's or its canary's).
    pub(super) pool: &'a Pool,
    /// The regions to try, in order.
    pub(super) regions: &'a [usize],
    /// How many of them, from the front, were healthy.
    pub(super) usable: usize,
    /// The instance's health state, told every attempt's outcome.
    pub(super) health: &'a Health,
    pub(super) client: &'a ClientInfo,
    pub(super) ids: &'a RequestIds,
}

impl Context<'_, '_> {
    fn cache(&self) -> &RouteCache {
        self.matched.route.cache.as_ref().expect("a cache lookup is planned only for routes with `cache`")
    }

    async fn forward<P: Ports>(
        &self,
        ports: &P,
        outgoing: Outgoing,
        body: Body<P::Stream>,
    ) -> Result<Response<Body<P::Stream>>, GatewayError> {
        super::failover::forward(ports, self, outgoing, body).await
    }
}

impl Gateway {
    /// Serves a cacheable GET through the edge cache under `key`.
    pub(super) async fn through_cache<P: Ports>(
        &self,
        ports: &P,
        cx: &Context<'_, '_>,
        outgoing: Outgoing,
        body: Body<P::Stream>,
        key: String,
        path: String,
    ) -> Result<(Response<Body<P::Stream>>, Option<Deferred>), GatewayError> {
        let now = ports.clock().now();
        let stamps = self.stamps.current(ports, now, cx.config.settings.config_ttl).await;
        let (entry, reason) = match edge_cache::lookup(ports, &key).await {
            None => (None, Forward::UriMiss),
            Some(entry) if entry.purged(&stamps) => {
                let _ = ports.cache().delete(&key).await;
                (None, Forward::UriMiss)
            }
            Some(entry) if !entry.vary_matches(&outgoing.head.headers) => (None, Forward::VaryMiss),
            Some(entry) => (Some(entry), Forward::Miss),
        };
        cx.ids.lap(ports, Phase::Cache, now);
        let Some(entry) = entry else {
            return Ok((fetch_and_store(ports, cx, outgoing, body, &key, &path, reason).await?, None));
        };
        let decision = evaluate(&entry.policy_view(cx.cache()), &outgoing.head.headers, now);
        let hit = |detail| CacheStatus { ttl: ttl_of(&decision), detail, ..CacheStatus::hit(CACHE_NAME) };
        let request = &outgoing.head.headers;
        match decision {
            Decision::Fresh { .. } | Decision::StaleAccepted { .. } => {
                Ok((answer_from(ports, &key, entry, request, now, &hit(None), cx.ids).await?, None))
            }
            Decision::Stale { may_serve_while_revalidate: true, .. } => {
                let status = hit(Some("stale-while-revalidate"));
                let response = answer_from(ports, &key, entry, request, now, &status, cx.ids).await?;
                let deferred = Deferred {
                    head: copy_head(&outgoing.head),
                    identity: outgoing.identity.clone(),
                    client: cx.client.clone(),
                    key,
                    path,
                };
                Ok((response, Some(deferred)))
            }
            Decision::Stale { may_serve_if_error, .. } => {
                Ok((revalidate(ports, cx, outgoing, entry, &key, &path, may_serve_if_error).await?, None))
            }
            Decision::MustRevalidate { .. } => {
                Ok((revalidate(ports, cx, outgoing, entry, &key, &path, false).await?, None))
            }
            Decision::GatewayTimeout => Err(GatewayError::NotCached),
        }
    }

    /// Revalidates an entry served stale earlier. Failures are logged: the client already has
    /// its response.
    pub async fn run_deferred<P: Ports>(&self, ports: &P, deferred: Deferred) {
        let Ok(config) = self.live.current(ports).await else { return };
        let head = deferred.head;
        let Ok(matched) = route(&config, &head) else { return };
        if matched.route.cache.is_none() {
            return;
        }
        let Some(entry) = edge_cache::lookup(ports, &deferred.key).await else { return };
        let ids = RequestIds::for_head(ports, &head);
        self.health.refresh(ports).await;
        let (pool, selection) = self.regions_for(
            ports,
            &config,
            matched.route,
            &deferred.identity,
            &deferred.client,
            &head.headers,
        );
        let cx = Context {
            config: &config,
            matched: &matched,
            pool,
            regions: &selection.order,
            usable: selection.usable,
            health: &self.health,
            client: &deferred.client,
            ids: &ids,
        };
        let outgoing = Outgoing { head, identity: deferred.identity };
        if let Err(error) =
            revalidate(ports, &cx, outgoing, entry, &deferred.key, &deferred.path, false).await
        {
            ports.log().record(Level::Warn, &format!("edge cache: background revalidation failed: {error}"));
        }
    }
}

/// A response served from the cache, with this request's id. The `Server-Timing` it was stored
/// with timed the request that filled it: it goes (this request's phases are added at the end).
fn served<S>(mut response: Response<Body<S>>, ids: &RequestIds) -> Response<Body<S>> {
    response.headers_mut().remove(super::failover::SERVER_TIMING);
    if let Ok(id) = HeaderValue::from_str(&ids.request_id) {
        response.headers_mut().insert(REQUEST_ID, id);
    }
    response
}

/// Serves `entry` to a request that may be conditional or ask for a range: 304 when the
/// client's copy is current, 412 / 416 as problems, 206 when the platform can slice the stored
/// body (else the whole response), otherwise the stored response.
async fn answer_from<P: Ports>(
    ports: &P,
    key: &str,
    entry: Entry<P::Stream>,
    request: &HeaderMap,
    now: UnixMillis,
    status: &CacheStatus<'_>,
    ids: &RequestIds,
) -> Result<Response<Body<P::Stream>>, GatewayError> {
    let answer = conditional::answer(entry.stored.status, &entry.stored.headers, request);
    if let Answer::Partial { first, last, .. } = answer {
        match ports.cache().get_range(key, first, last).await {
            Ok(Some(part)) => {
                let mut response = entry.respond(now, status);
                *response.body_mut() = part;
                return Ok(served(partial(response, answer), ids));
            }
            Ok(None) => {}
            Err(error) => {
                ports
                    .log()
                    .record(Level::Warn, &format!("edge cache: range read failed, serving whole: {error}"));
            }
        }
        return Ok(served(entry.respond(now, status), ids));
    }
    conditional_only(entry.respond(now, status), answer).map(|response| served(response, ids))
}

/// Applies an answer that needs no stored bytes: 304, 412, 416 or the response unchanged (a
/// range that cannot be sliced here is served whole).
fn conditional_only<S>(
    mut response: Response<Body<S>>,
    answer: Answer,
) -> Result<Response<Body<S>>, GatewayError> {
    match answer {
        Answer::Full | Answer::Partial { .. } => Ok(response),
        Answer::PreconditionFailed => Err(GatewayError::PreconditionFailed),
        Answer::Unsatisfiable { length } => Err(GatewayError::RangeNotSatisfiable { length }),
        Answer::NotModified => {
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            *response.body_mut() = Body::Empty;
            for name in [CONTENT_LENGTH, CONTENT_RANGE, TRANSFER_ENCODING] {
                response.headers_mut().remove(name);
            }
            Ok(response)
        }
    }
}

/// A stored 200 whose body was replaced by the bytes of a [`Answer::Partial`].
fn partial<S>(mut response: Response<Body<S>>, answer: Answer) -> Response<Body<S>> {
    let Answer::Partial { first, last, .. } = answer else { return response };
    *response.status_mut() = StatusCode::PARTIAL_CONTENT;
    let headers = response.headers_mut();
    headers.insert(CONTENT_LENGTH, HeaderValue::from(last - first + 1));
    if let Some(range) = conditional::content_range(answer) {
        headers.insert(CONTENT_RANGE, range);
    }
    response
}

/// Forwards a miss and stores the answer when the policy allows.
async fn fetch_and_store<P: Ports>(
    ports: &P,
    cx: &Context<'_, '_>,
    outgoing: Outgoing,
    body: Body<P::Stream>,
    key: &str,
    path: &str,
    reason: Forward,
) -> Result<Response<Body<P::Stream>>, GatewayError> {
    let fill = Fill { key, path, request: policy_request(&outgoing), sent_at: ports.clock().now() };
    let mut response = cx.forward(ports, outgoing, body).await?;
    let status = response.status();
    if status == StatusCode::NOT_MODIFIED {
        edge_cache::mark(&mut response, &edge_cache::forwarded(reason, status, Err("not-modified")));
        return Ok(response);
    }
    Ok(fill.store(ports, cx, response, reason, status).await)
}

/// The request headers the storage rules read. An authenticated caller counts as sending
/// `Authorization` whatever carried its credentials (API key, cookie): its answer is stored only
/// when the origin marks it shareable (`public`, `s-maxage`, `must-revalidate`; RFC 9111 §3.5),
/// so one tenant's response is never served to another.
fn policy_request(outgoing: &Outgoing) -> HeaderMap {
    let mut headers = outgoing.head.headers.clone();
    if outgoing.identity != Identity::Anonymous && !headers.contains_key(AUTHORIZATION) {
        headers.insert(AUTHORIZATION, HeaderValue::from_static("authenticated"));
    }
    headers
}

/// A request whose answer may fill the cache: under which key, for which path, with which
/// request headers (for `Vary`) and when it was sent.
struct Fill<'k> {
    key: &'k str,
    path: &'k str,
    request: HeaderMap,
    sent_at: UnixMillis,
}

impl Fill<'_> {
    /// Stores `response` when the policy allows and marks its `Cache-Status`.
    async fn store<P: Ports>(
        &self,
        ports: &P,
        cx: &Context<'_, '_>,
        response: Response<Body<P::Stream>>,
        reason: Forward,
        fwd_status: StatusCode,
    ) -> Response<Body<P::Stream>> {
        let received = ports.clock().now();
        let (mut response, stored) = edge_cache::store(
            ports,
            self.key,
            self.path,
            cx.cache(),
            &self.request,
            response,
            self.sent_at,
            received,
        )
        .await;
        edge_cache::mark(&mut response, &edge_cache::forwarded(reason, fwd_status, stored));
        response
    }
}

/// Sends a conditional request for `entry`; a 304 refreshes it, an error may serve it stale.
async fn revalidate<P: Ports>(
    ports: &P,
    cx: &Context<'_, '_>,
    mut outgoing: Outgoing,
    entry: Entry<P::Stream>,
    key: &str,
    path: &str,
    may_serve_if_error: bool,
) -> Result<Response<Body<P::Stream>>, GatewayError> {
    let request = policy_request(&outgoing);
    let mut client_conditions = HeaderMap::new();
    // The stored response is revalidated whole; the client's own conditions and range are
    // answered from it afterwards.
    for name in [IF_MATCH, IF_NONE_MATCH, IF_MODIFIED_SINCE, IF_UNMODIFIED_SINCE, IF_RANGE, RANGE] {
        if let Some(value) = outgoing.head.headers.remove(&name) {
            client_conditions.insert(name, value);
        }
    }
    // The next hop may be a shield with its own copy: ask it for one no older than now, or a
    // background revalidation would be answered with the shield's stale copy (RFC 9111
    // §5.2.1.1).
    outgoing.head.headers.insert(CACHE_CONTROL, HeaderValue::from_static("max-age=0"));
    for (name, value) in &revalidation_headers(&entry.stored.headers) {
        outgoing.head.headers.insert(name, value.clone());
    }
    let fill = Fill { key, path, request, sent_at: ports.clock().now() };
    let outcome = cx.forward(ports, outgoing, Body::Empty).await;
    let now = ports.clock().now();
    let stale = |fwd_status: Option<StatusCode>| CacheStatus {
        fwd_status,
        detail: Some("stale-if-error"),
        ..CacheStatus::forward(CACHE_NAME, Forward::Stale)
    };
    match outcome {
        Ok(response) if response.status() == StatusCode::NOT_MODIFIED => {
            let mut headers = merge_304(&entry.stored.headers, response.headers());
            headers.remove(http::header::AGE);
            let mut refreshed = Response::new(entry.body);
            *refreshed.status_mut() = entry.stored.status;
            *refreshed.headers_mut() = headers;
            let refreshed = fill.store(ports, cx, refreshed, Forward::Stale, StatusCode::NOT_MODIFIED).await;
            let answer = conditional::answer(refreshed.status(), refreshed.headers(), &client_conditions);
            conditional_only(refreshed, answer).map(|response| served(response, cx.ids))
        }
        Ok(response) if may_serve_if_error && is_stale_if_error_status(response.status()) => {
            ports.log().record(
                Level::Warn,
                &format!("edge cache: serving stale for {path}: origin answered {}", response.status()),
            );
            answer_from(ports, key, entry, &client_conditions, now, &stale(Some(response.status())), cx.ids)
                .await
        }
        Ok(response) => {
            let status = response.status();
            Ok(fill.store(ports, cx, response, Forward::Stale, status).await)
        }
        Err(error) if may_serve_if_error => {
            ports.log().record(Level::Warn, &format!("edge cache: serving stale for {path}: {error}"));
            answer_from(ports, key, entry, &client_conditions, now, &stale(None), cx.ids).await
        }
        Err(error) => Err(error),
    }
}
