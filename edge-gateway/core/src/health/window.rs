//! Counts over a sliding window kept as a ring of [`BUCKETS`] fixed buckets.
//!
//! The window of `window_ms` is cut into buckets of `window_ms / BUCKETS`, aligned to the Unix
//! epoch. [`Window::total`] sums the bucket holding `now` and the `BUCKETS − 1` before it, so it
//! covers between `(BUCKETS − 1) / BUCKETS` of the window and the whole of it: old events leave
//! a bucket at a time, never all at once. The state is a fixed-size array, whatever the traffic.
//!
//! A `now` older than the newest bucket seen (a caller whose clock lags) is counted in the
//! newest bucket: the window never moves backwards. Never reads a clock.

use crate::ports::UnixMillis;

/// Buckets per window.
pub const BUCKETS: usize = 10;

/// Counts that can be summed bucket by bucket.
pub trait Tally: Copy + Default {
    /// `self + other`, saturating.
    fn plus(self, other: Self) -> Self;
}

/// Sliding-window counts of `T`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window<T> {
    /// Bucket width the indices were computed with (0 before the first record).
    bucket_ms: u64,
    /// Newest bucket index seen.
    latest: u64,
    /// `(bucket index, counts)`, slot `index % BUCKETS`.
    slots: [(u64, T); BUCKETS],
}

impl<T: Tally> Default for Window<T> {
    fn default() -> Self {
        Window { bucket_ms: 0, latest: 0, slots: [(0, T::default()); BUCKETS] }
    }
}

/// Bucket width for a window: `window_ms / BUCKETS`, at least 1 ms.
pub fn bucket_ms(window_ms: u64) -> u64 {
    (window_ms / BUCKETS as u64).max(1)
}

impl<T: Tally> Window<T> {
    /// The bucket index `now` counts in.
    fn index(&self, now: UnixMillis) -> u64 {
        (now / self.bucket_ms.max(1)).max(self.latest)
    }

    /// Adds to the counts of the bucket holding `now` with `add`.
    pub fn record(&mut self, window_ms: u64, now: UnixMillis, add: impl FnOnce(&mut T)) {
        let width = bucket_ms(window_ms);
        if self.bucket_ms != width {
            // First record, or the window was reconfigured: old indices mean nothing now.
            *self = Window { bucket_ms: width, ..Window::default() };
        }
        let index = self.index(now);
        let slot = &mut self.slots[(index % BUCKETS as u64) as usize];
        if slot.0 != index {
            *slot = (index, T::default());
        }
        self.latest = index;
        add(&mut slot.1);
    }

    /// The counts of the last [`BUCKETS`] buckets up to `now`.
    pub fn total(&self, window_ms: u64, now: UnixMillis) -> T {
        if self.bucket_ms != bucket_ms(window_ms) {
            return T::default();
        }
        let index = self.index(now);
        let oldest = index.saturating_sub(BUCKETS as u64 - 1);
        self.slots
            .iter()
            .filter(|(i, _)| (oldest..=index).contains(i))
            .fold(T::default(), |sum, (_, counts)| sum.plus(*counts))
    }
}

#[cfg(test)]
mod tests {
    use super::{BUCKETS, Tally, Window};

    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    struct Count(u32);

    impl Tally for Count {
        fn plus(self, o: Self) -> Self {
            Count(self.0.saturating_add(o.0))
        }
    }

    #[test]
    fn window_drops_one_bucket_at_a_time_and_resets_on_a_new_width() {
        let mut w = Window::<Count>::default();
        let window_ms = 1_000; // 100 ms buckets
        for t in (0..1_000).step_by(100) {
            w.record(window_ms, 10_000 + t, |c| c.0 += 1);
        }
        assert_eq!(w.total(window_ms, 10_999), Count(BUCKETS as u32));
        assert_eq!(w.total(window_ms, 11_000), Count(9));
        assert_eq!(w.total(window_ms, 11_950), Count(0));
        // A slot reused for a later bucket starts from zero.
        w.record(window_ms, 11_000, |c| c.0 += 5);
        assert_eq!(w.total(window_ms, 11_000), Count(14));
        // Another width: the old indices mean nothing.
        assert_eq!(w.total(2_000, 11_000), Count(0));
        w.record(2_000, 11_000, |c| c.0 += 1);
        assert_eq!(w.total(2_000, 11_000), Count(1));
    }
}
