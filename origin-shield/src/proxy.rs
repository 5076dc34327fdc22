//! The shield's [`ProxyHttp`] implementation: one hook per proxy phase.
//!
//! Per request, top to bottom: `early_request_filter` has the client session drop interim
//! (1xx) responses from the origin; `request_filter` answers the shield's own endpoints
//! ([`admin`]: `/healthz`, `/metrics`, `/__shield/purge`); `request_cache_filter` enables the
//! cache for `GET`/`HEAD` (reading the request's `Cache-Control` and cache scope once) and the
//! cache hooks ([`crate::cache`]) key, look up, apply the request's directives
//! (`cache_hit_filter`, [`crate::cache::request`]), coalesce and decide storability; on a miss `upstream_peer` picks the origin with its timeouts;
//! `upstream_request_filter` sets `Host` and appends `Via`; `upstream_response_filter` strips
//! hop-by-hop fields before anything is stored, invalidates after a successful unsafe request
//! ([`crate::cache::invalidate`]) and keeps a revalidation's 304, with which
//! `response_cache_filter` refreshes the stored head ([`crate::cache::refresh`]);
//! `response_filter` adds `Cache-Status` and the region and keeps the origin's `Date`
//! ([`crate::date`]); `fail_to_proxy` answers 502/504 as `problem+json` (unless a stale
//! entry may be served instead). Bodies stream through Pingora untouched.

pub mod admin;
pub mod headers;
pub mod healthz;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use edge_gateway_core::cache::{CACHE_STATUS, CacheControl, is_stale_if_error_status};
use http::{HeaderValue, Method, StatusCode};
use pingora_cache::key::HashBinary;
use pingora_cache::{
    CacheKey, CacheMeta, CachePhase, ForcedFreshness, HitHandler, NoCacheReason, RespCacheable,
};
use pingora_core::upstreams::peer::HttpPeer;
use pingora_error::{Error, ErrorSource, ErrorType, Result};
use pingora_http::{RequestHeader, ResponseHeader};
use pingora_proxy::{FailToProxy, ProxyHttp, Session};

use crate::cache::policy::{self, Exchange};
use crate::cache::refresh;
use crate::cache::request::{self, Verdict};
use crate::cache::status::{self, Facts, Outcome};
use crate::cache::{ShieldCache, invalidate, key};
use crate::config::{HealthCheck, Origin, ShieldConfig, Timeouts};
use crate::date;
use crate::health::probe::HealthBoard;
use crate::metrics::Metrics;
use crate::problem::ProxyFailure;

/// [`headers::REGION_HEADER`] as a name, parsed once.
const REGION: http::HeaderName = http::HeaderName::from_static(headers::REGION_HEADER);

/// `Cache-Status` detail of a `HEAD` that missed (it is passed through, not stored).
const HEAD_MISS: &str = "head-miss";

/// The origin shield proxy logic for one region.
#[derive(Debug)]
pub struct ShieldProxy {
    region: String,
    /// `region` as a field value, built once (every response carries it).
    region_value: HeaderValue,
    via: String,
    origin: Origin,
    origin_authority: String,
    origin_addr: SocketAddr,
    preserve_host: bool,
    timeouts: Timeouts,
    health_policy: HealthCheck,
    health: HealthBoard,
    cache: &'static ShieldCache,
    metrics: Arc<Metrics>,
    purge_secret: Option<String>,
}

/// Per-request facts shared between phases.
#[derive(Debug, Default)]
pub struct RequestCtx {
    /// The request was for one of the shield's own endpoints.
    admin: bool,
    /// The request's `Cache-Control`, when it sent one (read once, in `request_cache_filter`).
    request_cc: Option<CacheControl>,
    /// The gateway's cache scope (read once, in `request_cache_filter`; keyed, and it says
    /// whether the request was authenticated).
    scope: Option<key::Scope>,
    /// The request's directives sent it to the origin although the entry was usable
    /// (`Cache-Status: fwd=request`).
    forced: bool,
    /// The request's `max-age` rules out serving the stale entry while it revalidates.
    no_stale_while_revalidate: bool,
    /// When the request to the origin was sent (monotonic, for the histogram).
    upstream_started: Option<Instant>,
    /// When the request to the origin was sent (wall clock, for the response's age).
    request_time: Option<SystemTime>,
    /// The origin's status, when it was asked.
    fwd_status: Option<StatusCode>,
    /// The policy said the response is stored.
    storable: bool,
    /// Why the policy did not store the response.
    not_stored: Option<&'static str>,
    /// The origin's 304 to a revalidation, kept for `response_cache_filter` to refresh the
    /// stored head with (see [`crate::cache::refresh`]).
    not_modified: Option<Box<ResponseHeader>>,
}

/// The shared pieces a [`ShieldProxy`] works with besides its config.
#[derive(Debug, Clone)]
pub struct Shared {
    /// Where the origin is, resolved at start-up.
    pub origin_addr: SocketAddr,
    /// Origin health, written by the background probe.
    pub health: HealthBoard,
    /// The process-wide cache.
    pub cache: &'static ShieldCache,
    /// The process-wide counters.
    pub metrics: Arc<Metrics>,
}

impl ShieldProxy {
    /// A proxy for `config` over the `shared` origin address, health board, cache and metrics.
    pub fn new(config: &ShieldConfig, shared: Shared) -> Self {
        ShieldProxy {
            region: config.region.clone(),
            // The config allows only a-z, 0-9 and `-` in a region.
            region_value: HeaderValue::from_str(&config.region)
                .unwrap_or(HeaderValue::from_static("invalid")),
            via: headers::via_entry(&config.region),
            origin: config.origin.clone(),
            origin_authority: config.origin.authority(),
            origin_addr: shared.origin_addr,
            preserve_host: config.preserve_host,
            timeouts: config.timeouts,
            health_policy: config.health,
            health: shared.health,
            cache: shared.cache,
            metrics: shared.metrics,
            purge_secret: config.purge.secret.clone(),
        }
    }

    /// Writes a complete response generated by the shield itself (never cached).
    async fn respond(
        &self,
        session: &mut Session,
        status: u16,
        content_type: &str,
        body: Vec<u8>,
        extra: &[(&str, &str)],
    ) -> Result<()> {
        let mut resp = ResponseHeader::build(status, Some(6 + extra.len()))?;
        resp.insert_header(http::header::CONTENT_TYPE, content_type)?;
        resp.insert_header(http::header::CONTENT_LENGTH, body.len())?;
        resp.insert_header(http::header::CACHE_CONTROL, "no-store")?;
        resp.insert_header(headers::REGION_HEADER, &self.region)?;
        for (name, value) in extra {
            resp.insert_header(name.to_string(), *value)?;
        }
        if !resp.headers.contains_key(CACHE_STATUS) {
            resp.insert_header(CACHE_STATUS, status::header(Outcome::Bypass, &Facts::default()))?;
        }
        session.write_response_header(Box::new(resp), false).await?;
        session.write_response_body(Some(Bytes::from(body)), true).await
    }

    /// After an unsafe request's non-error answer, drops the stored entries of its target and
    /// of same-origin `Location` / `Content-Location` in every scope (RFC 9111 §4.4).
    fn invalidate(&self, req: &RequestHeader, resp: &ResponseHeader) {
        let authority = key::authority(&req.headers, &self.origin_authority, self.preserve_host);
        let path_and_query = req.uri.path_and_query().map_or("/", |p| p.as_str());
        let urls = invalidate::urls(&req.method, authority, path_and_query, resp.status, &resp.headers);
        if !urls.is_empty() {
            self.metrics.add_invalidated(self.cache.invalidate(&urls));
        }
    }

    /// The `Cache-Status` member for this request as it stands.
    fn cache_status(session: &Session, ctx: &RequestCtx) -> HeaderValue {
        let phase = session.cache.phase();
        let outcome = Outcome::of(phase);
        let ttl = session.cache.maybe_cache_meta().filter(|_| outcome.served_from_cache()).map(|meta| {
            let now = SystemTime::now();
            match meta.fresh_until().duration_since(now) {
                Ok(left) => i64::try_from(left.as_secs()).unwrap_or(i64::MAX),
                Err(past) => -i64::try_from(past.duration().as_secs()).unwrap_or(i64::MAX),
            }
        });
        let stored =
            ctx.storable && matches!(phase, CachePhase::Miss | CachePhase::Expired | CachePhase::Revalidated);
        let detail = match phase {
            CachePhase::Disabled(reason) => ctx.not_stored.or(status::reason_detail(reason)),
            _ => None,
        };
        let collapsed = session.cache.lock_duration().is_some();
        let facts =
            Facts { ttl, stored, collapsed, fwd_status: ctx.fwd_status, detail, by_request: ctx.forced };
        status::header(outcome, &facts)
    }
}

#[async_trait]
impl ProxyHttp for ShieldProxy {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx::default()
    }

    /// Interim (1xx) responses from the origin are never sent on, except `101` and a `100`
    /// the client asked for with `Expect: 100-continue` (Pingora's rule): the edge expects
    /// exactly one, final, response.
    async fn early_request_filter(&self, session: &mut Session, _ctx: &mut RequestCtx) -> Result<()> {
        session.as_downstream_mut().set_ignore_info_resp(true);
        Ok(())
    }

    /// Answers the shield's own endpoints; everything else goes on.
    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        let req = session.req_header();
        let Some(endpoint) = admin::route(&req.method, req.uri.path()) else { return Ok(false) };
        ctx.admin = true;
        self.serve_admin(session, endpoint).await?;
        Ok(true)
    }

    /// The cache stage: `GET` and `HEAD` use the shared cache, other methods pass through.
    /// The request's `Cache-Control` is read here, once, for `cache_hit_filter`.
    fn request_cache_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<()> {
        let req = session.req_header();
        if matches!(req.method, Method::GET | Method::HEAD) {
            if req.headers.contains_key(http::header::CACHE_CONTROL) {
                ctx.request_cc = Some(CacheControl::from_headers(&req.headers));
            }
            ctx.scope = key::scope(&req.headers);
            self.cache.enable(&mut session.cache);
        }
        Ok(())
    }

    /// Request `Cache-Control` (`no-cache`, `max-age`, `min-fresh`, `max-stale`) against the
    /// entry found; see [`crate::cache::request`]. Without the field, the entry's own rules.
    ///
    /// A `HEAD` the request forces to the origin goes as a pass-through miss (see
    /// `cache_miss`): Pingora cannot refill an entry from a `HEAD`.
    async fn cache_hit_filter(
        &self,
        session: &mut Session,
        meta: &CacheMeta,
        _hit_handler: &mut HitHandler,
        _is_fresh: bool,
        ctx: &mut RequestCtx,
    ) -> Result<Option<ForcedFreshness>> {
        let Some(cc) = &ctx.request_cc else { return Ok(None) };
        let allows_stale =
            cc.max_stale.is_some() && CacheControl::from_headers(meta.headers()).allows_stale();
        let stored = request::Stored { epoch: meta.epoch(), fresh_until: meta.fresh_until(), allows_stale };
        let verdict = request::verdict(cc, stored, SystemTime::now());
        ctx.forced = verdict.forces_revalidation();
        ctx.no_stale_while_revalidate = ctx.forced;
        if ctx.forced && session.req_header().method == Method::HEAD {
            return Ok(Some(ForcedFreshness::ForceMiss));
        }
        Ok(match verdict {
            Verdict::AsStored => None,
            Verdict::ServeStale => Some(ForcedFreshness::ForceFresh),
            Verdict::Revalidate => Some(ForcedFreshness::ForceExpired),
            Verdict::RevalidateKeepingStaleIfError => {
                Some(ForcedFreshness::ForceExpiredServeStale { expired_at: None })
            }
        })
    }

    /// The normalized URL as the origin sees it; see [`crate::cache::key`].
    fn cache_key_callback(&self, session: &Session, ctx: &mut RequestCtx) -> Result<CacheKey> {
        let req = session.req_header();
        let authority = key::authority(&req.headers, &self.origin_authority, self.preserve_host);
        let path_and_query = req.uri.path_and_query().map_or("/", |p| p.as_str());
        Ok(key::primary(authority, path_and_query, ctx.scope.as_ref()))
    }

    /// A `HEAD` miss passes through uncached: Pingora reads no body for it, so it could not
    /// fill the entry (and would leave its cache lock dangling). Concurrent `GET`s waiting on
    /// the lock compete to fill it instead.
    fn cache_miss(&self, session: &mut Session, _ctx: &mut RequestCtx) {
        if session.req_header().method == Method::HEAD {
            session.cache.release_write_lock(NoCacheReason::DeclinedToUpstream);
            session.cache.disable(NoCacheReason::Custom(HEAD_MISS));
            return;
        }
        session.cache.cache_miss();
    }

    fn cache_vary_filter(
        &self,
        meta: &CacheMeta,
        _ctx: &mut RequestCtx,
        req: &RequestHeader,
    ) -> Option<HashBinary> {
        key::variance(meta.headers(), &req.headers)
    }

    /// Storability and freshness from the core's RFC 9111 policy. After a 304 the policy
    /// judges the stored head refreshed with every field of the 304, not Pingora's merge.
    fn response_cache_filter(
        &self,
        session: &Session,
        resp: &ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<RespCacheable> {
        let refreshed = match (ctx.not_modified.take(), session.cache.maybe_cache_meta()) {
            (Some(not_modified), Some(meta)) => {
                Some(refresh::refresh(meta.response_header(), &not_modified)?)
            }
            _ => None,
        };
        let resp = refreshed.as_ref().unwrap_or(resp);
        let now = SystemTime::now();
        let at = Exchange { request_time: ctx.request_time.unwrap_or(now), response_time: now };
        let req = session.req_header();
        let authenticated = ctx.scope.as_ref().is_some_and(|scope| scope.authenticated);
        let decision = policy::decide(req, resp, at, authenticated);
        match &decision {
            RespCacheable::Cacheable(_) => ctx.storable = true,
            RespCacheable::Uncacheable(reason) => ctx.not_stored = status::reason_detail(*reason),
        }
        Ok(decision)
    }

    /// Serve stale while revalidating (the window was already checked against the entry), or
    /// when the origin fails: unreachable, timed out, or 500/502/503/504 (RFC 5861 §4).
    /// Never while revalidating when the request's own directives forced the revalidation.
    fn should_serve_stale(
        &self,
        _session: &mut Session,
        ctx: &mut RequestCtx,
        error: Option<&Error>,
    ) -> bool {
        let Some(e) = error else { return !ctx.no_stale_while_revalidate };
        match e.etype() {
            ErrorType::HTTPStatus(code) => StatusCode::from_u16(*code).is_ok_and(is_stale_if_error_status),
            _ => e.esource() == &ErrorSource::Upstream,
        }
    }

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut RequestCtx) -> Result<Box<HttpPeer>> {
        let mut peer = HttpPeer::new(self.origin_addr, false, String::new());
        peer.options.connection_timeout = Some(self.timeouts.connect);
        peer.options.read_timeout = Some(self.timeouts.read);
        peer.options.write_timeout = Some(self.timeouts.read);
        peer.options.idle_timeout = Some(self.timeouts.idle);
        Ok(Box::new(peer))
    }

    /// Counts the request; one line on stderr per failed request (successes are not logged).
    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut RequestCtx) {
        date::arm(session.as_downstream(), None);
        if !ctx.admin {
            let outcome = Outcome::of(session.cache.phase());
            self.metrics.record(outcome, session.cache.lock_duration().is_some());
        }
        if let Some(e) = e {
            let req = session.req_header();
            eprintln!("origin-shield {}: {} {} failed: {e}", self.region, req.method, req.uri);
        }
    }

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        ctx.upstream_started = Some(Instant::now());
        ctx.request_time = Some(SystemTime::now());
        upstream_request.remove_header(&edge_gateway_core::forward::CACHE_SCOPE);
        headers::set_host(upstream_request, &self.origin.authority(), self.preserve_host)?;
        headers::append_via(upstream_request, &self.via)
    }

    /// Strips hop-by-hop fields (before the response is stored) and times the origin; keeps a
    /// 304 to a revalidation for `response_cache_filter`. Interim responses are left alone
    /// (the downstream session drops them, see `early_request_filter`).
    async fn upstream_response_filter(
        &self,
        session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if is_interim(upstream_response.status) {
            return Ok(());
        }
        if let Some(started) = ctx.upstream_started.take() {
            self.metrics.observe_upstream(started.elapsed());
        }
        ctx.fwd_status = Some(upstream_response.status);
        if let Some(coding) = headers::unknown_transfer_coding(upstream_response) {
            let why = format!("the origin used transfer-coding {coding:?}, which the shield cannot decode");
            return Err(Error::create(
                ErrorType::InvalidHTTPHeader,
                ErrorSource::Upstream,
                Some(why.into()),
                None,
            ));
        }
        headers::strip_hop_by_hop(upstream_response);
        if !session.req_header().method.is_safe() {
            self.invalidate(session.req_header(), upstream_response);
        }
        if upstream_response.status == StatusCode::NOT_MODIFIED && session.cache.phase() == CachePhase::Stale
        {
            ctx.not_modified = Some(Box::new(upstream_response.clone()));
        }
        Ok(())
    }

    /// Adds `Cache-Status` (after any from caches nearer the origin) and the region; the
    /// origin's `Date` (fresh or stored) is what the client gets, not Pingora's.
    async fn response_filter(
        &self,
        session: &mut Session,
        response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if is_interim(response.status) {
            return Ok(());
        }
        let origin_date = response.headers.get(http::header::DATE).and_then(date::fixdate);
        date::arm(session.as_downstream(), origin_date);
        response.append_header(CACHE_STATUS, Self::cache_status(session, ctx))?;
        response.insert_header(REGION, self.region_value.clone())
    }

    /// One origin, no failover here: the edge fails over between shields, so never retry.
    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        _ctx: &mut RequestCtx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        e.set_retry(false);
        e
    }

    /// Answers 502/504/... as `application/problem+json`, unless a response already started.
    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, ctx: &mut RequestCtx) -> FailToProxy {
        date::arm(session.as_downstream(), None);
        let failure = ProxyFailure::classify(e);
        let code = failure.status().unwrap_or(0);
        if let (Some(problem), None) = (failure.problem(&self.region), session.response_written()) {
            let body = problem.to_json();
            let cache_status = Self::cache_status(session, ctx);
            let extra = [("cache-status", cache_status.to_str().unwrap_or_default())];
            let ct = edge_gateway_core::problem::PROBLEM_JSON;
            if self.respond(session, code, ct, body, &extra).await.is_err() {
                return FailToProxy { error_code: 0, can_reuse_downstream: false };
            }
        }
        FailToProxy { error_code: code, can_reuse_downstream: false }
    }
}

/// An interim response: informational, and not the `101` that ends an upgrade.
fn is_interim(status: StatusCode) -> bool {
    status.is_informational() && status != StatusCode::SWITCHING_PROTOCOLS
}
