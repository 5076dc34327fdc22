//! The key sets of one instance: fetched, shared through KV, refreshed ahead of expiry,
//! refetched on an unknown `kid`, and kept while the issuer is down.
//!
//! The decisions are [`crate::auth::keys`]'s; this is the thin async shell that acts on them.
//! One fetch per issuer is in flight at a time: a request that finds a fetch running uses the
//! current keys if it has any, and otherwise waits for that fetch. A cold instance (and every
//! Spin instance, which lives for one request) first adopts the copy another instance wrote to
//! KV, so cold starts do not reach the issuer. A verified-token cache lives beside each key set
//! and is cleared whenever the set changes.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::auth::keys::{self, KeySet, Plan, SharedKeySet};
use crate::auth::{Jwks, TokenCache, VerifiedToken};
use crate::config::auth::{Issuer, KeySource};
use crate::error::GatewayError;
use crate::ports::{Clock, Entropy, Fetch, KeyValue, Level, Log, Ports, UnixMillis};

/// Largest JWKS or discovery document accepted.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
/// Verified tokens remembered per issuer.
const TOKEN_CACHE_CAPACITY: usize = 512;
/// Longest a verification is reused (also bounded by the token's `exp`).
const TOKEN_CACHE_TTL_MS: u64 = 5 * 60 * 1000;

/// Key sets and verified tokens by issuer name.
#[derive(Debug, Default)]
pub(super) struct Keyring {
    issuers: RefCell<HashMap<String, IssuerState>>,
}

#[derive(Debug)]
struct IssuerState {
    source: String,
    set: Option<KeySet>,
    last_attempt: Option<UnixMillis>,
    in_flight: bool,
    waiters: Vec<Waker>,
    tokens: TokenCache,
}

impl IssuerState {
    fn new(source: String) -> IssuerState {
        IssuerState {
            source,
            set: None,
            last_attempt: None,
            in_flight: false,
            waiters: Vec::new(),
            tokens: TokenCache::new(TOKEN_CACHE_CAPACITY, TOKEN_CACHE_TTL_MS),
        }
    }
}

fn source_id(issuer: &Issuer) -> String {
    match &issuer.keys {
        KeySource::Inline(_) => "inline".to_owned(),
        KeySource::JwksUri(uri) => uri.clone(),
        KeySource::Discovery(uri) => format!("discovery:{uri}"),
    }
}

impl Keyring {
    /// A token this instance verified before for `issuer`, still valid at `now`.
    pub(super) fn cached_token(
        &self,
        issuer: &Issuer,
        token: &str,
        now: UnixMillis,
    ) -> Option<VerifiedToken> {
        let mut issuers = self.issuers.borrow_mut();
        issuers.get_mut(&issuer.name)?.tokens.get(token, now).cloned()
    }

    /// Remembers a verification.
    pub(super) fn remember_token(
        &self,
        issuer: &Issuer,
        token: &str,
        verified: VerifiedToken,
        now: UnixMillis,
    ) {
        if let Some(state) = self.issuers.borrow_mut().get_mut(&issuer.name) {
            state.tokens.insert(token, verified, now);
        }
    }

    /// The keys to verify `issuer`'s tokens with. `refetch` asks for a fresh set because a token
    /// named an unknown `kid`; it is honoured at most once per `refetch_interval`.
    pub(super) async fn keys<P: Ports>(
        &self,
        ports: &P,
        issuer: &Issuer,
        refetch: bool,
    ) -> Result<Rc<Jwks>, GatewayError> {
        self.state(issuer);
        if let KeySource::Inline(jwks) = &issuer.keys {
            return Ok(jwks.clone());
        }
        if self.snapshot(issuer).0.is_none() || refetch {
            self.adopt_shared(ports, issuer).await;
        }
        let now = ports.clock().now();
        let (set, in_flight, last_attempt) = self.snapshot(issuer);
        let plan = if refetch {
            let allowed = keys::may_refetch(
                set.as_ref().map(|s| s.fetched_at),
                last_attempt,
                now,
                issuer.jwks_cache.refetch_interval,
            );
            match &set {
                Some(set) if !allowed || in_flight => return Ok(set.jwks.clone()),
                _ => Plan::Fetch,
            }
        } else {
            keys::plan(set.as_ref(), now)
        };
        // A fetch that failed less than `refetch_interval` ago is not retried by every request:
        // stale keys keep serving, and without usable keys the answer is 503 at once.
        let failed_recently = last_attempt.is_some_and(|at| {
            set.as_ref().is_none_or(|s| at > s.fetched_at)
                && now.saturating_sub(at) < issuer.jwks_cache.refetch_interval.as_millis() as u64
        });
        match (plan, set) {
            (Plan::Use, Some(set)) => Ok(set.jwks),
            (Plan::UseAndRefresh, Some(set)) if in_flight || failed_recently => Ok(set.jwks),
            (Plan::Fetch, _) if failed_recently && !in_flight => Err(GatewayError::AuthUnavailable(format!(
                "issuer {}: the last key fetch failed; next attempt within {:?}",
                issuer.name, issuer.jwks_cache.refetch_interval
            ))),
            (_, _) if in_flight => {
                WaitForFetch { keyring: self, issuer: &issuer.name }.await;
                let (set, _, _) = self.snapshot(issuer);
                set.filter(|s| s.usable(ports.clock().now())).map(|s| s.jwks).ok_or_else(|| {
                    GatewayError::AuthUnavailable(format!("issuer {}: no usable keys", issuer.name))
                })
            }
            (_, set) => self.refresh(ports, issuer, set, now).await,
        }
    }

    fn state(&self, issuer: &Issuer) {
        let source = source_id(issuer);
        let mut issuers = self.issuers.borrow_mut();
        let state = issuers.entry(issuer.name.clone()).or_insert_with(|| IssuerState::new(source.clone()));
        if state.source != source {
            *state = IssuerState::new(source);
        }
    }

    fn snapshot(&self, issuer: &Issuer) -> (Option<KeySet>, bool, Option<UnixMillis>) {
        let issuers = self.issuers.borrow();
        let state = &issuers[&issuer.name];
        (state.set.clone(), state.in_flight, state.last_attempt)
    }

    /// Adopts the set another instance shared through KV, when it is newer than ours.
    async fn adopt_shared<P: Ports>(&self, ports: &P, issuer: &Issuer) {
        let key = keys::shared_key(&issuer.name);
        let Ok(Some(bytes)) = ports.kv().get(&key).await else { return };
        let Ok(shared) = serde_json::from_slice::<SharedKeySet>(&bytes) else {
            ports
                .log()
                .record(Level::Warn, &format!("auth: issuer {}: ignoring unreadable `{key}`", issuer.name));
            return;
        };
        if shared.source != source_id(issuer) {
            return;
        }
        let Ok(parsed) = Jwks::parse(shared.jwks.as_bytes()) else { return };
        let ttl = Duration::from_millis(shared.ttl_ms);
        let set =
            KeySet::new(Rc::new(parsed.jwks), shared.fetched_at, ttl, &issuer.jwks_cache, jitter(ports));
        let now = ports.clock().now();
        let mut issuers = self.issuers.borrow_mut();
        let state = issuers.get_mut(&issuer.name).expect("state exists");
        let newer = state.set.as_ref().is_none_or(|current| current.fetched_at < set.fetched_at);
        if newer && set.usable(now) {
            replace_set(state, set);
        }
    }

    /// Fetches the set now; on failure keeps serving `current` while it is within max-stale.
    async fn refresh<P: Ports>(
        &self,
        ports: &P,
        issuer: &Issuer,
        current: Option<KeySet>,
        now: UnixMillis,
    ) -> Result<Rc<Jwks>, GatewayError> {
        let guard = InFlight::start(self, &issuer.name, now);
        let outcome = fetch_set(ports, issuer, now).await;
        drop(guard);
        match outcome {
            Ok((set, shared)) => {
                let jwks = set.jwks.clone();
                if let Some(state) = self.issuers.borrow_mut().get_mut(&issuer.name) {
                    replace_set(state, set);
                }
                share(ports, issuer, &shared).await;
                Ok(jwks)
            }
            Err(reason) => match current.filter(|set| set.usable(now)) {
                Some(set) => {
                    if set.is_stale(now) {
                        ports.log().record(
                            Level::Warn,
                            &format!(
                                "auth: issuer {}: serving stale keys (fetched {} s ago, stale for at most {} s more): {reason}",
                                issuer.name,
                                now.saturating_sub(set.fetched_at) / 1000,
                                set.stale_until.saturating_sub(now) / 1000,
                            ),
                        );
                    } else {
                        ports.log().record(Level::Warn, &format!("auth: issuer {}: {reason}", issuer.name));
                    }
                    Ok(set.jwks)
                }
                None => {
                    ports.log().record(
                        Level::Error,
                        &format!("auth: issuer {}: no usable keys: {reason}", issuer.name),
                    );
                    Err(GatewayError::AuthUnavailable(format!("issuer {}: {reason}", issuer.name)))
                }
            },
        }
    }
}

/// Installs a new set and forgets verified tokens: a key the new set lacks must stop being
/// honoured at once. (Sets change at most once per TTL, so the cost is one verification per
/// session per TTL.)
fn replace_set(state: &mut IssuerState, set: KeySet) {
    state.tokens.clear();
    state.set = Some(set);
}

fn jitter(ports: &impl Ports) -> f64 {
    let mut bytes = [0u8; 2];
    ports.entropy().fill(&mut bytes);
    f64::from(u16::from_le_bytes(bytes)) / 65536.0
}

/// Fetches (discovery, then) the JWKS and builds the set and its shared form.
async fn fetch_set<P: Ports>(
    ports: &P,
    issuer: &Issuer,
    now: UnixMillis,
) -> Result<(KeySet, SharedKeySet), String> {
    let timeout = issuer.jwks_cache.fetch_timeout;
    let uri = match &issuer.keys {
        KeySource::JwksUri(uri) => uri.clone(),
        KeySource::Discovery(url) => discover(ports, url, timeout).await?,
        KeySource::Inline(_) => return Err("inline keys are never fetched".into()),
    };
    let fetched =
        ports.fetch().get(&uri, timeout, MAX_DOCUMENT_BYTES).await.map_err(|e| format!("{uri}: {e}"))?;
    if !fetched.status.is_success() {
        return Err(format!("{uri}: status {}", fetched.status));
    }
    let parsed = Jwks::parse(&fetched.body).map_err(|e| format!("{uri}: {e}"))?;
    if parsed.jwks.is_empty() {
        return Err(format!("{uri}: no usable key ({} skipped)", parsed.skipped.len()));
    }
    if !parsed.skipped.is_empty() {
        ports.log().record(
            Level::Info,
            &format!(
                "auth: issuer {}: {} unusable key(s) in {uri} skipped",
                issuer.name,
                parsed.skipped.len()
            ),
        );
    }
    let ttl = keys::ttl_from_headers(&fetched.headers, &issuer.jwks_cache);
    let set = KeySet::new(Rc::new(parsed.jwks), now, ttl, &issuer.jwks_cache, jitter(ports));
    let shared = SharedKeySet {
        fetched_at: now,
        ttl_ms: ttl.as_millis() as u64,
        source: source_id(issuer),
        jwks: String::from_utf8_lossy(&fetched.body).into_owned(),
    };
    Ok((set, shared))
}

/// The `jwks_uri` of an OpenID Connect discovery document.
async fn discover<P: Ports>(ports: &P, url: &str, timeout: Duration) -> Result<String, String> {
    let fetched =
        ports.fetch().get(url, timeout, MAX_DOCUMENT_BYTES).await.map_err(|e| format!("{url}: {e}"))?;
    if !fetched.status.is_success() {
        return Err(format!("{url}: status {}", fetched.status));
    }
    let document: serde_json::Value =
        serde_json::from_slice(&fetched.body).map_err(|_| format!("{url}: not JSON"))?;
    let uri = document.get("jwks_uri").and_then(|v| v.as_str()).ok_or(format!("{url}: no `jwks_uri`"))?;
    match uri.parse::<http::Uri>() {
        Ok(parsed) if matches!(parsed.scheme_str(), Some("http" | "https")) => Ok(uri.to_owned()),
        _ => Err(format!("{url}: `jwks_uri` is not an http(s) URL")),
    }
}

/// Writes the set to KV for other instances; a failure only costs them a fetch.
async fn share<P: Ports>(ports: &P, issuer: &Issuer, shared: &SharedKeySet) {
    let key = keys::shared_key(&issuer.name);
    let value = serde_json::to_vec(shared).unwrap_or_default();
    let keep = Duration::from_millis(shared.ttl_ms) + issuer.jwks_cache.max_stale;
    if let Err(e) = ports.kv().put(&key, &value, Some(keep)).await {
        ports.log().record(Level::Warn, &format!("auth: issuer {}: could not share keys: {e}", issuer.name));
    }
}

/// Marks a fetch in flight; clears the mark and wakes waiters when dropped, also when the
/// fetching request is cancelled.
struct InFlight<'k> {
    keyring: &'k Keyring,
    issuer: String,
}

impl<'k> InFlight<'k> {
    fn start(keyring: &'k Keyring, issuer: &str, now: UnixMillis) -> InFlight<'k> {
        if let Some(state) = keyring.issuers.borrow_mut().get_mut(issuer) {
            state.in_flight = true;
            state.last_attempt = Some(now);
        }
        InFlight { keyring, issuer: issuer.to_owned() }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let waiters = match self.keyring.issuers.borrow_mut().get_mut(&self.issuer) {
            Some(state) => {
                state.in_flight = false;
                std::mem::take(&mut state.waiters)
            }
            None => Vec::new(),
        };
        waiters.into_iter().for_each(Waker::wake);
    }
}

/// Resolves once no fetch is in flight for the issuer.
struct WaitForFetch<'k> {
    keyring: &'k Keyring,
    issuer: &'k str,
}

impl Future for WaitForFetch<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut issuers = self.keyring.issuers.borrow_mut();
        match issuers.get_mut(self.issuer) {
            Some(state) if state.in_flight => {
                state.waiters.push(cx.waker().clone());
                Poll::Pending
            }
            _ => Poll::Ready(()),
        }
    }
}
