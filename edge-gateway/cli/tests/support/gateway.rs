//! The real gateway core behind a loopback HTTP bridge, over the core's in-memory fakes
//! (`edge_gateway_core::testing`): what `gatewayctl` meets on Workers or Spin, with the platform
//! (KV, counters, shields, clock) replaced by memory. The gateway and its ports live on the
//! server thread; [`Local::with`] runs a closure there between requests, to inject a failure or
//! read what the gateway logged.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use edge_gateway_core::ports::Ports;
use edge_gateway_core::testing::{self, FakePorts, FakeStream};
use edge_gateway_core::{Body, ClientInfo, Gateway};
use http::{Request, Response};

/// The admin API's secret (the Workers secret `ADMIN_SECRET` / the Spin variable `admin_secret`).
pub(crate) const ADMIN_SECRET: &str = "runbook-admin-secret";
/// The purge endpoint's secret (`PURGE_SECRET`).
pub(crate) const PURGE_SECRET: &str = "runbook-purge-secret";
/// 2026-12-02T05:00:00Z, where the clock starts.
pub(crate) const START_MS: u64 = 1_796_187_600_000;

/// [`FakePorts`] with the admin secret set.
#[derive(Default)]
pub(crate) struct LocalPorts {
    /// The fakes: `kv`, `upstream` (the shields), `counters`, `clock`, `log`, …
    pub(crate) fake: FakePorts,
}

impl Ports for LocalPorts {
    type Stream = FakeStream;
    type Kv = testing::MemoryKv;
    type Upstream = testing::FakeUpstream;
    type Fetch = testing::FakeFetch;
    type Crypto = edge_gateway_core::auth::CoreVerifier;
    type Cache = testing::MemoryCache;
    type Counters = testing::MemoryCounters;
    type Clock = testing::ManualClock;
    type Entropy = testing::CountingEntropy;
    type Log = testing::MemoryLog;

    fn kv(&self) -> &testing::MemoryKv {
        &self.fake.kv
    }
    fn upstream(&self) -> &testing::FakeUpstream {
        &self.fake.upstream
    }
    fn fetch(&self) -> &testing::FakeFetch {
        &self.fake.fetch
    }
    fn crypto(&self) -> &edge_gateway_core::auth::CoreVerifier {
        &edge_gateway_core::auth::CoreVerifier
    }
    fn cache(&self) -> &testing::MemoryCache {
        &self.fake.cache
    }
    fn counters(&self) -> &testing::MemoryCounters {
        &self.fake.counters
    }
    fn purge_secret(&self) -> Option<String> {
        Some(PURGE_SECRET.into())
    }
    fn admin_secret(&self) -> Option<String> {
        Some(ADMIN_SECRET.into())
    }
    fn shield_purge_secret(&self) -> Option<String> {
        Some("runbook-shield-secret".into())
    }
    fn clock(&self) -> &testing::ManualClock {
        &self.fake.clock
    }
    fn entropy(&self) -> &testing::CountingEntropy {
        &self.fake.entropy
    }
    fn log(&self) -> &testing::MemoryLog {
        &self.fake.log
    }
}

type Job = Box<dyn FnOnce(&LocalPorts) + Send>;

/// A running local gateway.
pub(crate) struct Local {
    /// Its base URL.
    pub(crate) url: String,
    jobs: mpsc::Sender<Job>,
}

impl Local {
    /// Starts one on a free loopback port, its clock at [`START_MS`]; it stops when dropped.
    pub(crate) fn start() -> Local {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        listener.set_nonblocking(true).unwrap();
        let (jobs, inbox) = mpsc::channel::<Job>();
        std::thread::spawn(move || {
            let ports = LocalPorts::default();
            ports.fake.clock.set(START_MS);
            let gateway = Gateway::new();
            loop {
                loop {
                    match inbox.try_recv() {
                        Ok(job) => job(&ports),
                        Err(mpsc::TryRecvError::Empty) => break,
                        Err(mpsc::TryRecvError::Disconnected) => return,
                    }
                }
                match listener.accept() {
                    Ok((stream, _)) => serve(&gateway, &ports, stream),
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Local { url, jobs }
    }

    /// Runs `job` on the gateway's thread, between requests, and returns what it returns.
    pub(crate) fn with<T: Send + 'static>(&self, job: impl FnOnce(&LocalPorts) -> T + Send + 'static) -> T {
        let (reply, answer) = mpsc::channel();
        self.jobs.send(Box::new(move |ports| reply.send(job(ports)).unwrap())).unwrap();
        answer.recv().unwrap()
    }

    /// Moves the gateway's clock on by `ms`.
    pub(crate) fn advance(&self, ms: u64) {
        self.with(move |ports| ports.fake.clock.advance(ms));
    }
}

/// Answers one HTTP/1.1 request on `stream` with the gateway, then closes it.
fn serve(gateway: &Gateway, ports: &LocalPorts, stream: TcpStream) {
    stream.set_nonblocking(false).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or("GET").to_owned(), parts.next().unwrap_or("/").to_owned());
    let mut builder = Request::builder().method(method.as_str()).uri(format!("http://127.0.0.1{target}"));
    let mut length = 0;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).unwrap();
        let Some((name, value)) = header.trim_end().split_once(':') else { break };
        if name.eq_ignore_ascii_case("content-length") {
            length = value.trim().parse().unwrap();
        }
        builder = builder.header(name.trim(), value.trim());
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    let body = if body.is_empty() { Body::Empty } else { Body::Bytes(bytes::Bytes::from(body)) };
    let response =
        pollster::block_on(gateway.handle(ports, builder.body(body).unwrap(), &ClientInfo::default()));
    write_response(stream, response);
}

fn write_response(mut stream: TcpStream, response: Response<Body<FakeStream>>) {
    let (head, body) = response.into_parts();
    let body = match body {
        Body::Empty => bytes::Bytes::new(),
        Body::Bytes(bytes) | Body::Stream(bytes) => bytes,
    };
    let mut out =
        format!("HTTP/1.1 {} {}\r\n", head.status.as_u16(), head.status.canonical_reason().unwrap_or("X"));
    for (name, value) in &head.headers {
        if name != http::header::CONTENT_LENGTH && name != http::header::CONNECTION {
            out.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap_or("")));
        }
    }
    out.push_str(&format!("content-length: {}\r\nconnection: close\r\n\r\n", body.len()));
    let _ = stream.write_all(out.as_bytes());
    let _ = stream.write_all(&body);
}
