//! What the request's own `Cache-Control` asks of a stored response (RFC 9111 §5.2.1).
//!
//! The gateway is the shield's only client, and it sends `Cache-Control: max-age=0` when its
//! stale-while-revalidate fetch goes out: answering that with the shield's own copy (fresh by
//! the shield's clock, or stale inside its `stale-while-revalidate` window) would hand the
//! edge back what it already has. [`verdict`] reads `no-cache` (§5.2.1.4), `max-age`
//! (§5.2.1.1), `min-fresh` (§5.2.1.3) and `max-stale` (§5.2.1.2) against the stored entry's
//! age and freshness and says whether the entry is used as stored, served although stale, or
//! revalidated with the origin first. Pure: `now` and the entry's facts come in, nothing is
//! read from a clock or a store. Requests without `Cache-Control` never get here.

use std::time::{Duration, SystemTime};

use edge_gateway_core::cache::{CacheControl, MaxStale};

/// What a stored entry is, for the request's directives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    /// When its age counts from (Pingora's epoch: the origin's `Date` less any upstream age).
    pub epoch: SystemTime,
    /// Until when it is fresh.
    pub fresh_until: SystemTime,
    /// The response allows serving it stale at all (no `must-revalidate`, `proxy-revalidate`,
    /// `s-maxage`, `no-cache`).
    pub allows_stale: bool,
}

/// What to do with the entry for this request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing in the request changes the stored entry's own rules.
    AsStored,
    /// Stale, but the request's `max-stale` accepts it: serve without contacting the origin.
    ServeStale,
    /// Validate with the origin before use; never serve it stale, not even on an origin error
    /// (`no-cache`, or fresh but older than `max-age` / not fresh for `min-fresh` more seconds).
    Revalidate,
    /// Stale and older than the request's `max-age`: validate before use (no
    /// stale-while-revalidate), though `stale-if-error` may still serve it if the origin fails.
    RevalidateKeepingStaleIfError,
}

impl Verdict {
    /// True when the origin has to be asked because of the request, not the entry.
    pub fn forces_revalidation(self) -> bool {
        matches!(self, Verdict::Revalidate | Verdict::RevalidateKeepingStaleIfError)
    }
}

/// The verdict of request directives `request` on `stored` at `now`.
///
/// Ages are whole seconds, as in the `Age` field (RFC 9111 §1.2.2): an entry stored or
/// revalidated less than a second ago satisfies `max-age=0`, so a request that waited behind
/// another's revalidation is answered with its result.
pub fn verdict(request: &CacheControl, stored: Stored, now: SystemTime) -> Verdict {
    if request.no_cache {
        return Verdict::Revalidate;
    }
    let age = now.duration_since(stored.epoch).unwrap_or_default().as_secs();
    let age_ok = request.max_age.is_none_or(|max| age <= max);
    match stored.fresh_until.duration_since(now) {
        Ok(ttl) => {
            let fresh_enough = request.min_fresh.is_none_or(|min| ttl >= Duration::from_secs(min));
            if age_ok && fresh_enough { Verdict::AsStored } else { Verdict::Revalidate }
        }
        Err(past) => {
            let staleness = past.duration().as_secs();
            let accepted = match request.max_stale {
                Some(MaxStale::Any) => true,
                Some(MaxStale::Seconds(max)) => staleness <= max,
                None => false,
            };
            match (age_ok, accepted && stored.allows_stale) {
                (true, true) => Verdict::ServeStale,
                (true, false) => Verdict::AsStored,
                (false, _) => Verdict::RevalidateKeepingStaleIfError,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_directives_table() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let secs = Duration::from_secs;
        // Fresh: stored 30 s ago, fresh for 570 s more. Stale: 60 s old, stale for 50 s.
        let fresh = Stored { epoch: now - secs(30), fresh_until: now + secs(570), allows_stale: true };
        let stale = Stored { epoch: now - secs(60), fresh_until: now - secs(50), allows_stale: true };
        let strict = Stored { allows_stale: false, ..stale };
        let just_stored = Stored { epoch: now - Duration::from_millis(400), ..fresh };
        let rows = [
            ("", fresh, Verdict::AsStored),
            ("no-cache", fresh, Verdict::Revalidate),
            ("no-cache, max-stale", stale, Verdict::Revalidate),
            ("max-age=0", fresh, Verdict::Revalidate),
            ("max-age=0", just_stored, Verdict::AsStored),
            ("max-age=30", fresh, Verdict::AsStored),
            ("max-age=29", fresh, Verdict::Revalidate),
            ("min-fresh=570", fresh, Verdict::AsStored),
            ("min-fresh=571", fresh, Verdict::Revalidate),
            ("", stale, Verdict::AsStored),
            ("max-age=0", stale, Verdict::RevalidateKeepingStaleIfError),
            ("max-stale", stale, Verdict::ServeStale),
            ("max-stale=50", stale, Verdict::ServeStale),
            ("max-stale=49", stale, Verdict::AsStored),
            ("max-stale, max-age=59", stale, Verdict::RevalidateKeepingStaleIfError),
            ("max-stale", strict, Verdict::AsStored),
            ("max-stale", fresh, Verdict::AsStored),
        ];
        for (directives, stored, expected) in rows {
            let request = CacheControl::parse(directives);
            assert_eq!(verdict(&request, stored, now), expected, "{directives:?} {stored:?}");
        }
    }
}
