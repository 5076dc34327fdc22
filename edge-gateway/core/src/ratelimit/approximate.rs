//! Approximate limits: per-instance sliding-window counts merged through eventually consistent
//! storage (Workers KV).
//!
//! Each instance counts what it admits in its own [`SlidingState`] and, at most once per sync
//! interval, publishes it as a [`Share`] under its own key and reads every instance's share
//! back. It admits a request when its own count plus the others' last known counts leave room
//! ([`decide`]). No write ever races another (one key per instance, so KV's one write per
//! second per key holds), and nothing is lost; what the estimate misses is what the others
//! admitted since their shares were last visible: at most the sync interval plus the store's
//! propagation delay (KV: up to 60 s) of their traffic. That is the over-admission bound,
//! measured by the simulation in `docs/ratelimits.md`. An instance alone on a key is exact.

use serde::{Deserialize, Serialize};

use super::sliding::{self, SlidingState};
use super::{Decision, Rate};
use crate::ports::UnixMillis;

/// One instance's published count for one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Share {
    /// The instance's id.
    pub instance: String,
    /// Its own admissions: the window it counted in, this window's and the previous one's.
    pub counts: SlidingState,
}

/// An instance's view of one approximate counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Approx {
    /// What this instance admitted.
    pub own: SlidingState,
    /// The sum of the other instances' last known shares.
    pub others: SlidingState,
    /// When the shares were last exchanged (0: never).
    pub synced_at: UnixMillis,
}

impl Approx {
    /// Whether the shares should be exchanged before deciding at `now`.
    pub fn due(&self, now: UnixMillis, sync_ms: u64) -> bool {
        self.synced_at == 0 || now.saturating_sub(self.synced_at) >= sync_ms
    }

    /// This instance's share to publish at `now`.
    pub fn share(&self, instance: &str, rate: &Rate, now: UnixMillis) -> Share {
        Share { instance: instance.to_owned(), counts: sliding::roll(self.own, rate.period_ms, now) }
    }

    /// Takes in every instance's shares (this one's is skipped: its own count is the truth).
    pub fn merge(&mut self, shares: &[Share], me: &str, rate: &Rate, now: UnixMillis) {
        self.others = others(shares, me, rate.period_ms, now);
        self.synced_at = now;
    }
}

/// The sum of every share but `me`'s, each rolled to the window of `now`.
pub fn others(shares: &[Share], me: &str, period_ms: u64, now: UnixMillis) -> SlidingState {
    let start = sliding::window_start(now, period_ms);
    shares.iter().filter(|share| share.instance != me).fold(
        SlidingState { window_start: start, current: 0, previous: 0 },
        |sum, share| {
            let rolled = sliding::roll(share.counts, period_ms, now);
            // A share from a later window (a clock ahead of ours) counts as current.
            SlidingState {
                current: sum.current.saturating_add(rolled.current),
                previous: sum.previous.saturating_add(if rolled.window_start == start {
                    rolled.previous
                } else {
                    0
                }),
                ..sum
            }
        },
    )
}

/// Checks `cost` against `rate` at `now` with the others' counts added to this instance's;
/// charges this instance's count when it fits.
pub fn decide(approx: &Approx, cost: u64, rate: &Rate, now: UnixMillis) -> (Decision, Approx) {
    let period = rate.period_ms.max(1);
    let own = sliding::roll(approx.own, period, now);
    let others = sliding::roll(approx.others, period, now);
    let together = SlidingState {
        window_start: own.window_start.max(others.window_start),
        current: own.current.saturating_add(others.current),
        previous: own.previous.saturating_add(others.previous),
    };
    let (decision, _) = sliding::decide(together, cost, rate, now);
    let own = if decision.admitted { SlidingState { current: own.current + cost, ..own } } else { own };
    (decision, Approx { own, others, ..*approx })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::Algorithm;

    const RATE: Rate = Rate { algorithm: Algorithm::SlidingWindow, limit: 10, period_ms: 60_000 };

    #[test]
    fn others_counts_are_added_and_own_is_charged() {
        let now = 600_000;
        let shares = [
            Share {
                instance: "a".into(),
                counts: SlidingState { window_start: now, current: 4, previous: 0 },
            },
            Share {
                instance: "me".into(),
                counts: SlidingState { window_start: now, current: 99, previous: 0 },
            },
            Share {
                instance: "b".into(),
                counts: SlidingState { window_start: now, current: 3, previous: 0 },
            },
        ];
        let mut approx = Approx::default();
        approx.merge(&shares, "me", &RATE, now);
        assert_eq!(approx.others.current, 7, "own share skipped");
        let (first, approx) = decide(&approx, 1, &RATE, now + 1);
        assert!(first.admitted);
        assert_eq!(first.remaining, 2);
        let (_, approx) = decide(&approx, 1, &RATE, now + 2);
        let (_, approx) = decide(&approx, 1, &RATE, now + 3);
        let (fourth, after) = decide(&approx, 1, &RATE, now + 4);
        assert!(!fourth.admitted);
        assert_eq!(after.own.current, 3, "a refusal charges nothing");
    }

    #[test]
    fn a_share_from_an_old_window_weighs_only_as_previous() {
        let now = 600_000;
        let old = Share {
            instance: "a".into(),
            counts: SlidingState { window_start: now - 60_000, current: 8, previous: 5 },
        };
        let sum = others(&[old], "me", 60_000, now + 30_000);
        assert_eq!((sum.current, sum.previous), (0, 8));
        let ancient =
            Share { instance: "a".into(), counts: SlidingState { window_start: 0, current: 8, previous: 5 } };
        assert_eq!(
            others(&[ancient], "me", 60_000, now),
            SlidingState { window_start: now, current: 0, previous: 0 }
        );
    }

    #[test]
    fn sync_is_due_first_and_then_once_per_interval() {
        let approx = Approx::default();
        assert!(approx.due(5, 1000));
        let approx = Approx { synced_at: 10_000, ..approx };
        assert!(!approx.due(10_999, 1000));
        assert!(approx.due(11_000, 1000));
    }
}
