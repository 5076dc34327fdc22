//! Exact rate-limit counters over `wasi:keyvalue@0.2.0-draft2` (store `default`): the core's
//! counter step ([`serve`]) run between a compare-and-swap's read and its swap.
//!
//! Each counter key is one JSON [`Record`](edge_gateway_core::ratelimit::counter::Record) under
//! `ratelimit/<key>`, only ever written by `atomics::swap` (never `set`, never `increment`: Spin's
//! SQLite store panics when an incremented key holds anything but 8 bytes). A call reads the
//! record with `cas.current()`, runs [`serve`] on it and swaps the result in; when another
//! instance swapped first, Spin answers `cas-failed` with a fresh handle and the step runs again,
//! after a short random pause, until it wins, the deadline passes or [`MAX_CONFLICTS`] swaps
//! are lost. The deadline is checked between host calls (they cannot be interrupted) and before
//! every swap, so a call past its deadline charges nothing.
//!
//! **A missing record is created by one instance only.** Spin's SQLite store cannot swap
//! conditionally on an absent key: its `swap` after a `current()` of `None` is an upsert
//! (`crates/key-value-spin/src/store.rs`), so two instances that both saw no record would both
//! "win" and one charge would be lost. So the first instance to see the record missing in a
//! minute-long epoch (by an atomic `increment` of `ratelimit-create/<key>/<epoch>`, a key that is
//! only ever incremented) creates it, and only while its epoch has more than
//! [`creation::MARGIN_MS`] to run; the others wait for the record and then swap as usual. Any
//! creator of a later epoch read the key after this epoch ended, so it saw the record (see
//! [`creation`]).
//!
//! Spin starts an instance per request, so nothing is leased ([`Counters::leases`] is false):
//! the stage asks for one request's cost per call. This module never decides a limit; [`serve`]
//! does.

use std::cell::OnceCell;
use std::time::Duration;

use edge_gateway_core::ports::{Clock, CounterError, Counters};
use edge_gateway_core::ratelimit::counter::{CounterCall, Record, serve};
use edge_gateway_core::ratelimit::lease::{Grant, LeaseSettings};
use spin_sdk::wit::wasi::keyvalue::atomics::{self, Cas, CasError};
use spin_sdk::wit::wasi::keyvalue::store::{self, Bucket};

use crate::ports::{ROUTES_STORE, SystemClock};

/// Where the counter records live in the store.
pub(crate) const RECORD_PREFIX: &str = "ratelimit/";
/// Where the creation claims live (8-byte counters, only ever incremented).
pub(crate) const CLAIM_PREFIX: &str = "ratelimit-create/";
/// Swaps lost to other instances before a call gives up as contended; the deadline usually
/// comes first. (Spin keeps every swapped handle until the instance ends, 256 at most, so this
/// also bounds what one call uses up: five calls of a request fit.)
pub(crate) const MAX_CONFLICTS: u32 = 48;

/// Counters in the key-value store `default` (the routes' store), opened at the first call.
pub(crate) struct SpinCounters {
    bucket: OnceCell<Result<Bucket, String>>,
}

impl SpinCounters {
    /// Counters whose store is opened when a limited route first needs it.
    pub(crate) fn new() -> SpinCounters {
        SpinCounters { bucket: OnceCell::new() }
    }

    fn bucket(&self) -> Result<&Bucket, CounterError> {
        self.bucket
            .get_or_init(|| {
                store::open(ROUTES_STORE).map_err(|e| format!("opening store `{ROUTES_STORE}`: {e:?}"))
            })
            .as_ref()
            .map_err(|reason| CounterError(reason.clone()))
    }
}

impl Counters for SpinCounters {
    async fn call(&self, key: &str, call: &CounterCall, deadline: Duration) -> Result<Grant, CounterError> {
        let timer = Timer::start(deadline);
        let bucket = self.bucket()?;
        let record = format!("{RECORD_PREFIX}{key}");
        let mut cas = Cas::new(bucket, &record).map_err(store_error)?;
        let (mut conflicts, mut claimed) = (0, None);
        loop {
            let before = SystemClock.now();
            let current = cas.current().map_err(store_error)?;
            if current.is_none() && !may_create(bucket, key, before, &mut claimed)? {
                // Another instance creates the record (or this one must wait for the next epoch).
                timer.back_off(backoff::CREATION_WAIT)?;
                cas = Cas::new(bucket, &record).map_err(store_error)?;
                continue;
            }
            // A store slower than the deadline: give up before charging anything (a creator still
            // creates the record, uncharged, or the key would wait for the next epoch).
            if let Err(late) = timer.within(0) {
                if current.is_none() {
                    let _ = atomics::swap(cas, &Record::default().to_json());
                }
                return Err(late);
            }
            let (grant, next) = serve(current.as_deref(), call, &LeaseSettings::default(), SystemClock.now());
            match atomics::swap(cas, &next) {
                Ok(()) => return Ok(grant),
                Err(CasError::CasFailed(fresh)) => cas = fresh,
                Err(CasError::StoreError(e)) => return Err(store_error(e)),
            }
            conflicts += 1;
            if conflicts == MAX_CONFLICTS {
                return Err(CounterError(format!(
                    "contended: {MAX_CONFLICTS} swaps lost to other instances"
                )));
            }
            timer.back_off(conflicts)?;
        }
    }

    /// An instance serves one request: it cannot keep tokens for the next.
    fn leases(&self) -> bool {
        false
    }
}

/// Whether this instance, having read no record at `before`, creates it now: it claims the
/// epoch of `before` (once per epoch, remembered in `claimed`) and must be its first claimant,
/// early enough in the epoch (see [`creation`]).
fn may_create(
    bucket: &Bucket,
    key: &str,
    before: u64,
    claimed: &mut Option<u64>,
) -> Result<bool, CounterError> {
    let epoch = creation::epoch(before);
    if *claimed == Some(epoch) {
        return Ok(false);
    }
    *claimed = Some(epoch);
    let claims =
        atomics::increment(bucket, &format!("{CLAIM_PREFIX}{key}/{epoch}"), 1).map_err(store_error)?;
    Ok(claims == 1 && creation::may_write(epoch, SystemClock.now()))
}

fn store_error(error: store::Error) -> CounterError {
    CounterError(match error {
        store::Error::NoSuchStore => "no such store".into(),
        store::Error::AccessDenied => format!("access to store `{ROUTES_STORE}` denied"),
        store::Error::Other(reason) => reason,
    })
}

/// The call's deadline on the instance's monotonic clock, and the pauses between attempts.
struct Timer {
    started_ns: u64,
    deadline_ns: u64,
}

impl Timer {
    fn start(deadline: Duration) -> Timer {
        let deadline_ns = u64::try_from(deadline.as_nanos()).unwrap_or(u64::MAX);
        Timer { started_ns: wasi::clocks::monotonic_clock::now(), deadline_ns }
    }

    /// Sleeps a random pause before retry `attempt` ([`backoff::pause_us`]); an error instead
    /// when the deadline would pass during the pause.
    fn back_off(&self, attempt: u32) -> Result<(), CounterError> {
        let pause_ns = backoff::pause_us(attempt, wasi::random::random::get_random_u64()) * 1_000;
        self.within(pause_ns)?;
        wasi::clocks::monotonic_clock::subscribe_duration(pause_ns).block();
        Ok(())
    }

    /// An error when the deadline has passed, or will have `ns` from now. (A host call cannot be
    /// interrupted: the deadline is checked between calls, so one slow call can overrun it.)
    fn within(&self, ns: u64) -> Result<(), CounterError> {
        let elapsed = wasi::clocks::monotonic_clock::now().saturating_sub(self.started_ns);
        if elapsed.saturating_add(ns) >= self.deadline_ns {
            let ms = self.deadline_ns / 1_000_000;
            return Err(CounterError(format!("no answer within the deadline of {ms} ms")));
        }
        Ok(())
    }
}

/// When an instance that claimed a record's creation may write it (pure, on the wall clock of
/// the host, which every instance on one Spin host shares).
///
/// With epochs of length `E` and a margin `M`: the creator of epoch `e` read "absent" at
/// `r ≥ e·E` (the epoch is taken from a clock read before the read) and checks, just before it
/// writes, that it is earlier than `(e+1)·E − M`, so its write lands before `(e+1)·E` as long as
/// one host call takes less than `M`. A creator of a later epoch read at `r' ≥ (e+1)·E`, after
/// that write, so it found the record and never claimed. Within an epoch only the first claimant
/// creates. So a record is created once, unless the host's clock steps back by more than `M` or
/// a creator stalls for `M` between its check and its write.
///
/// The cost: a first call whose read falls in the last `M` of an epoch waits for the next one
/// (at most `M`, 1 in `E/M` = 120 new keys), and a creator that dies between its claim and its
/// write leaves the key without a record until the epoch ends; calls meanwhile run into their
/// deadline and the policy's `on_store_error` decides.
pub(crate) mod creation {
    /// `E`, the length of a creation epoch.
    pub(crate) const EPOCH_MS: u64 = 60_000;
    /// `M`: a creator writes only this long before its epoch ends, or not at all.
    pub(crate) const MARGIN_MS: u64 = 500;

    /// The epoch of a read at `now_ms`.
    pub(crate) fn epoch(now_ms: u64) -> u64 {
        now_ms / EPOCH_MS
    }

    /// Whether the creator of `epoch` may still write at `now_ms`.
    pub(crate) fn may_write(epoch: u64, now_ms: u64) -> bool {
        now_ms < (epoch + 1) * EPOCH_MS - MARGIN_MS
    }
}

/// The pause before a retry: random (so instances that collided do not collide again), growing
/// with the lost swaps up to a few milliseconds.
pub(crate) mod backoff {
    /// The longest pause, in microseconds.
    pub(crate) const MAX_PAUSE_US: u64 = 4_000;
    /// The pause while another instance creates a record: as after four lost swaps (1 to 2 ms).
    pub(crate) const CREATION_WAIT: u32 = 4;

    /// A pause in `[window/2, window)` µs, `window = 250 µs · 2^(attempt-1)` capped at
    /// [`MAX_PAUSE_US`]; `random` is any random number.
    pub(crate) fn pause_us(attempt: u32, random: u64) -> u64 {
        let window = (250u64 << attempt.saturating_sub(1).min(8)).min(MAX_PAUSE_US);
        window / 2 + random % (window / 2)
    }
}

#[cfg(test)]
mod tests {
    use super::{backoff, creation};

    #[test]
    fn a_creator_writes_only_well_inside_its_epoch() {
        // (now, epoch of the read, may write)
        let rows = [
            (0, 0, true),
            (59_499, 0, true),
            (59_500, 0, false),
            (59_999, 0, false),
            (60_000, 0, false),
            (60_000, 1, true),
            (119_499, 1, true),
            (119_500, 1, false),
        ];
        for (now, epoch, may) in rows {
            assert_eq!(creation::may_write(epoch, now), may, "now {now}, epoch {epoch}");
        }
        assert_eq!([0, 59_999, 60_000, 119_999].map(creation::epoch), [0, 0, 1, 1]);
    }

    /// The reasoning in `creation`: any later epoch's reads start after this epoch's last write.
    #[test]
    fn a_later_epochs_read_comes_after_every_write_of_an_earlier_one() {
        for epoch in [0u64, 1, 7, 1_000_000] {
            let last_write = (epoch * creation::EPOCH_MS..(epoch + 1) * creation::EPOCH_MS)
                .rev()
                .find(|&now| creation::may_write(epoch, now))
                .expect("an epoch has a time to write");
            let first_later_read = (epoch + 1) * creation::EPOCH_MS;
            assert!(first_later_read - last_write >= creation::MARGIN_MS);
            assert_eq!(creation::epoch(first_later_read), epoch + 1);
        }
    }

    #[test]
    fn pauses_grow_stay_bounded_and_vary() {
        for attempt in 1..40 {
            for random in [0, 1, 77, u64::MAX] {
                let pause = backoff::pause_us(attempt, random);
                assert!((125..backoff::MAX_PAUSE_US).contains(&pause), "attempt {attempt}: {pause}");
            }
        }
        assert!(backoff::pause_us(1, 0) < backoff::pause_us(5, 0));
        assert_ne!(backoff::pause_us(3, 1), backoff::pause_us(3, 400));
    }
}
