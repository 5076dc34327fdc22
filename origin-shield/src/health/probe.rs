//! The background task that probes the origin and feeds [`HealthState`].
//!
//! It sends `GET <health_check_path>` over a fresh connection every interval,
//! reads only the status line, and records the outcome with the time it
//! finished. It decides nothing itself: the decision is [`HealthState::record`]
//! and [`HealthState::verdict`].

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use async_trait::async_trait;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::{HealthState, ProbeOutcome, Verdict};
use crate::config::{HealthCheck, Origin};

/// The shared, current belief about the origin; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct HealthBoard(Arc<Mutex<HealthState>>);

impl HealthBoard {
    /// A copy of the current state.
    pub fn snapshot(&self) -> HealthState {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The verdict at `now` under `policy`.
    pub fn verdict(&self, now: Instant, policy: &HealthCheck) -> Verdict {
        self.snapshot().verdict(now, policy)
    }

    fn record(&self, outcome: ProbeOutcome, at: Instant, policy: &HealthCheck) {
        let mut state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *state = state.record(outcome, at, policy);
    }
}

/// Periodic HTTP probe of one origin, run as a Pingora background service.
#[derive(Debug)]
pub struct HealthProbe {
    addr: SocketAddr,
    request: Vec<u8>,
    policy: HealthCheck,
    board: HealthBoard,
}

impl HealthProbe {
    /// A probe of `origin` (reached at `addr`) that writes into `board`.
    pub fn new(origin: &Origin, addr: SocketAddr, policy: HealthCheck, board: HealthBoard) -> Self {
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: origin-shield-health\r\n\
             Connection: close\r\n\r\n",
            origin.health_check_path,
            origin.authority()
        );
        HealthProbe { addr, request: request.into_bytes(), policy, board }
    }

    /// One probe, bounded by the configured timeout.
    async fn probe_once(&self) -> ProbeOutcome {
        match tokio::time::timeout(self.policy.timeout, self.exchange()).await {
            Ok(Ok(status)) if (200..400).contains(&status) => ProbeOutcome::Up,
            _ => ProbeOutcome::Down,
        }
    }

    /// Sends the request and returns the response status code.
    async fn exchange(&self) -> std::io::Result<u16> {
        let mut stream = TcpStream::connect(self.addr).await?;
        stream.write_all(&self.request).await?;
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line).await?;
        parse_status_line(&line).ok_or_else(|| std::io::Error::other("bad status line"))
    }
}

/// `HTTP/1.1 200 OK` → `Some(200)`.
fn parse_status_line(line: &str) -> Option<u16> {
    let mut parts = line.split_ascii_whitespace();
    let version = parts.next()?;
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    parts.next()?.parse().ok()
}

#[async_trait]
impl BackgroundService for HealthProbe {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        loop {
            let outcome = self.probe_once().await;
            self.board.record(outcome, Instant::now(), &self.policy);
            tokio::select! {
                _ = tokio::time::sleep(self.policy.interval) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_status_line;

    #[test]
    fn status_lines() {
        let rows = [
            ("HTTP/1.1 200 OK\r\n", Some(200)),
            ("HTTP/1.0 503 Service Unavailable\r\n", Some(503)),
            ("HTTP/1.1 204\r\n", Some(204)),
            ("SSH-2.0-OpenSSH\r\n", None),
            ("", None),
        ];
        for (line, expected) in rows {
            assert_eq!(parse_status_line(line), expected, "{line:?}");
        }
    }
}
