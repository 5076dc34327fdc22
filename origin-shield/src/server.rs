//! Assembles the Pingora server: the proxy service (its connections pass the origin's
//! `Date`, see [`crate::date`]), the health probe and the ready announcer, then runs until SIGTERM/SIGINT (Pingora's graceful shutdown).
//!
//! This is the only module that knows how services are wired; it makes no
//! per-request decision.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora_core::server::configuration::ServerConf;
use pingora_core::server::{Server, ShutdownWatch};
use pingora_core::services::background::{BackgroundService, background_service};
use pingora_core::services::listening::Service;
use pingora_proxy::HttpProxy;

use crate::cache::ShieldCache;
use crate::config::{Origin, ShieldConfig};
use crate::date::PassOriginDate;
use crate::health::probe::{HealthBoard, HealthProbe};
use crate::metrics::Metrics;
use crate::proxy::{Shared, ShieldProxy};

/// Why the shield could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The origin host name did not resolve to any address (a config problem).
    #[error("origin: cannot resolve host {host:?}: {reason}")]
    UnresolvableOrigin {
        /// The host as configured.
        host: String,
        /// What the resolver said.
        reason: String,
    },
    /// The listen address cannot be bound (in use, or not local).
    #[error("listen: cannot bind {addr}: {reason}")]
    Bind {
        /// The configured listen address.
        addr: SocketAddr,
        /// What the OS said.
        reason: String,
    },
    /// The cache could not be set up (an internal failure).
    #[error("cache: {0}")]
    Cache(String),
}

impl StartError {
    /// Process exit code: 2 for what the config got wrong, 1 for the environment.
    pub fn exit_code(&self) -> u8 {
        match self {
            StartError::UnresolvableOrigin { .. } => 2,
            StartError::Bind { .. } | StartError::Cache(_) => 1,
        }
    }
}

/// Fails early when the listen address cannot be bound: Pingora would only panic in a
/// service thread, and the ready line must never be printed for someone else's socket.
fn check_bindable(addr: SocketAddr) -> Result<(), StartError> {
    std::net::TcpListener::bind(addr).map(drop).map_err(|e| StartError::Bind { addr, reason: e.to_string() })
}

/// Resolves the origin once, at start-up (no DNS on the request path).
pub fn resolve_origin(origin: &Origin) -> Result<SocketAddr, StartError> {
    let fail = |reason: String| StartError::UnresolvableOrigin { host: origin.host.clone(), reason };
    (origin.host.as_str(), origin.port)
        .to_socket_addrs()
        .map_err(|e| fail(e.to_string()))?
        .next()
        .ok_or_else(|| fail("no address".to_owned()))
}

/// Builds the server for `config` and runs it until a shutdown signal.
pub fn run(config: &ShieldConfig) -> Result<(), StartError> {
    let origin_addr = resolve_origin(&config.origin)?;
    check_bindable(config.listen)?;
    let mut server = Server::new_with_opt_and_conf(None, server_conf(config));
    let board = HealthBoard::default();

    let cache = ShieldCache::leak(config.cache).map_err(|e| StartError::Cache(e.to_string()))?;
    let shared = Shared { origin_addr, health: board.clone(), cache, metrics: Arc::new(Metrics::default()) };
    let proxy = ShieldProxy::new(config, shared);
    let name = format!("origin-shield {}", config.region);
    let mut proxy = HttpProxy::new(proxy, server.configuration.clone());
    proxy.handle_init_modules();
    let mut proxy_service = Service::new(name, PassOriginDate::new(proxy));
    proxy_service.add_tcp(&config.listen.to_string());

    let probe = HealthProbe::new(&config.origin, origin_addr, config.health, board);
    server.add_service(background_service("origin health", probe));
    server.add_service(proxy_service);
    let ready = ReadyAnnouncer { region: config.region.clone(), listen: config.listen };
    server.add_service(background_service("ready announcer", ready));

    server.bootstrap();
    server.run_forever()
}

fn server_conf(config: &ShieldConfig) -> ServerConf {
    let grace_secs = config.timeouts.shutdown_grace.as_millis().div_ceil(1000);
    ServerConf {
        threads: config.threads,
        grace_period_seconds: Some(u64::try_from(grace_secs).unwrap_or(u64::MAX)),
        graceful_shutdown_timeout_seconds: Some(1),
        // Pingora counts tries here, not retries. The edge, not the shield, fails over:
        // one try per request.
        max_retries: 1,
        ..ServerConf::default()
    }
}

/// Prints the ready line once the listener accepts connections.
struct ReadyAnnouncer {
    region: String,
    listen: SocketAddr,
}

/// How long the announcer waits for the listener before giving up.
const READY_DEADLINE: Duration = Duration::from_secs(30);

#[async_trait]
impl BackgroundService for ReadyAnnouncer {
    async fn start(&self, _shutdown: ShutdownWatch) {
        let target = connectable(self.listen);
        let poll = async {
            while tokio::net::TcpStream::connect(target).await.is_err() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        if tokio::time::timeout(READY_DEADLINE, poll).await.is_err() {
            eprintln!("origin-shield {}: listener on {} never came up", self.region, self.listen);
            return;
        }
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "origin-shield {} listening on http://{}", self.region, self.listen);
        let _ = out.flush();
    }
}

/// The address to dial to reach `listen` (a wildcard bind is reached over loopback).
fn connectable(listen: SocketAddr) -> SocketAddr {
    match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, listen.port()).into(),
        IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, listen.port()).into(),
        _ => listen,
    }
}
