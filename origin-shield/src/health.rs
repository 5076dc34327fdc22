//! Origin health: a pure decision over probe results and `now`.
//!
//! [`HealthState::record`] folds one probe result into the state (rise/fall
//! hysteresis) and [`HealthState::verdict`] says whether the origin counts as
//! healthy at a given instant (a probe result older than the staleness bound
//! counts for nothing). Neither reads the clock nor does I/O: the probing task
//! lives in [`probe`].

pub mod probe;

use std::time::{Duration, Instant};

use crate::config::HealthCheck;

/// The outcome of one probe of the origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// The origin answered with a 2xx or 3xx status within the deadline.
    Up,
    /// Connect failed, timed out, or the origin answered 4xx/5xx or garbage.
    Down,
}

/// What the shield believes about its origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HealthState {
    /// Current belief, after hysteresis. Starts `false` until a probe succeeds.
    pub healthy: bool,
    /// Successes in a row (reset by a failure).
    pub ups_in_a_row: u32,
    /// Failures in a row (reset by a success).
    pub downs_in_a_row: u32,
    /// When the last probe finished, if any has.
    pub last_probe_at: Option<Instant>,
}

/// The answer given to `/healthz` and to anyone asking "can I send traffic?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Probes say the origin is up.
    Healthy,
    /// No probe has finished yet.
    Unknown,
    /// The last probe result is too old to trust.
    Stale,
    /// Probes say the origin is down.
    Unhealthy,
}

impl Verdict {
    /// Whether traffic should be sent (only a fresh, positive belief counts).
    pub fn is_healthy(self) -> bool {
        self == Verdict::Healthy
    }
}

impl HealthState {
    /// Folds one probe result, finished at `at`, into the state.
    pub fn record(self, outcome: ProbeOutcome, at: Instant, policy: &HealthCheck) -> Self {
        let (ups, downs) = match outcome {
            ProbeOutcome::Up => (self.ups_in_a_row.saturating_add(1), 0),
            ProbeOutcome::Down => (0, self.downs_in_a_row.saturating_add(1)),
        };
        let healthy = if self.healthy { downs < policy.fall } else { ups >= policy.rise };
        HealthState { healthy, ups_in_a_row: ups, downs_in_a_row: downs, last_probe_at: Some(at) }
    }

    /// The verdict at `now`: results older than [`stale_after`] are not trusted.
    pub fn verdict(&self, now: Instant, policy: &HealthCheck) -> Verdict {
        match self.last_probe_at {
            None => Verdict::Unknown,
            Some(at) if now.saturating_duration_since(at) > stale_after(policy) => Verdict::Stale,
            Some(_) if self.healthy => Verdict::Healthy,
            Some(_) => Verdict::Unhealthy,
        }
    }
}

/// How old the last result may be: three missed probe rounds (interval + timeout each).
pub fn stale_after(policy: &HealthCheck) -> Duration {
    (policy.interval + policy.timeout) * 3
}

#[cfg(test)]
mod tests {
    use super::*;
    use ProbeOutcome::{Down, Up};

    const POLICY: HealthCheck =
        HealthCheck { interval: Duration::from_secs(1), timeout: Duration::from_secs(1), rise: 2, fall: 2 };

    /// Applies `outcomes` one second apart from `t0` and returns the final state.
    fn run(t0: Instant, outcomes: &[ProbeOutcome]) -> HealthState {
        outcomes.iter().enumerate().fold(HealthState::default(), |s, (i, o)| {
            s.record(*o, t0 + Duration::from_secs(i as u64), &POLICY)
        })
    }

    #[test]
    fn hysteresis_table() {
        let rows: &[(&str, &[ProbeOutcome], bool)] = &[
            ("no probes yet", &[], false),
            ("one up is below rise", &[Up], false),
            ("rise ups make it healthy", &[Up, Up], true),
            ("one down is below fall", &[Up, Up, Down], true),
            ("fall downs make it unhealthy", &[Up, Up, Down, Down], false),
            ("an up between downs resets fall", &[Up, Up, Down, Up, Down], true),
            ("recovery needs rise ups again", &[Up, Up, Down, Down, Up], false),
            ("recovered", &[Up, Up, Down, Down, Up, Up], true),
        ];
        let t0 = Instant::now();
        for (name, outcomes, healthy) in rows {
            assert_eq!(run(t0, outcomes).healthy, *healthy, "row: {name}");
        }
    }

    #[test]
    fn verdict_table() {
        let t0 = Instant::now();
        let healthy = run(t0, &[Up, Up]);
        let last = t0 + Duration::from_secs(1);
        let rows: &[(&str, HealthState, Instant, Verdict)] = &[
            ("never probed", HealthState::default(), t0, Verdict::Unknown),
            ("fresh and up", healthy, last, Verdict::Healthy),
            ("at the staleness bound", healthy, last + stale_after(&POLICY), Verdict::Healthy),
            (
                "past the bound",
                healthy,
                last + stale_after(&POLICY) + Duration::from_millis(1),
                Verdict::Stale,
            ),
            ("fresh and down", run(t0, &[Down]), t0, Verdict::Unhealthy),
        ];
        for (name, state, now, expected) in rows {
            assert_eq!(state.verdict(*now, &POLICY), *expected, "row: {name}");
        }
    }

    #[test]
    fn only_healthy_counts_as_healthy() {
        assert!(Verdict::Healthy.is_healthy());
        for v in [Verdict::Unknown, Verdict::Stale, Verdict::Unhealthy] {
            assert!(!v.is_healthy(), "{v:?}");
        }
    }
}
