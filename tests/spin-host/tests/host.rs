//! The gateway's Spin component, run by `spin-test-host` against a loopback origin, and the
//! host's own Spin behaviours (well-known paths, an empty 500 on a trap) with a stand-in
//! component that traps.
//!
//! Needs the component built beforehand and its path in `SPIN_COMPONENT`:
//!
//! ```text
//! cargo build -p edge-gateway-spin --target wasm32-wasip2 --release
//! SPIN_COMPONENT=$PWD/target/wasm32-wasip2/release/edge_gateway_spin.wasm cargo test -p spin-test-host
//! ```

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

/// A running `spin-test-host`, killed on drop.
struct Host {
    child: Child,
    app: SocketAddr,
    admin: SocketAddr,
    _dir: TempDir,
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn component() -> PathBuf {
    let path = std::env::var_os("SPIN_COMPONENT").map(PathBuf::from).expect(
        "SPIN_COMPONENT is not set: build the component with \
         `cargo build -p edge-gateway-spin --target wasm32-wasip2 --release` and set \
         SPIN_COMPONENT to the path of edge_gateway_spin.wasm",
    );
    assert!(path.is_file(), "SPIN_COMPONENT={} is not a file", path.display());
    path
}

/// A component that exports `wasi:http/incoming-handler@0.2.0` and traps when called.
const TRAPPING_COMPONENT: &str = r#"
(component
  (import "wasi:http/types@0.2.0" (instance $types
    (export "incoming-request" (type (sub resource)))
    (export "response-outparam" (type (sub resource)))))
  (alias export $types "incoming-request" (type $req))
  (alias export $types "response-outparam" (type $out))
  (core module $m (func (export "handle") (param i32 i32) unreachable))
  (core instance $i (instantiate $m))
  (func $handle (param "request" (own $req)) (param "response-out" (own $out))
    (canon lift (core func $i "handle")))
  (instance $handler (export "handle" (func $handle)))
  (export "wasi:http/incoming-handler@0.2.0" (instance $handler)))
"#;

/// How to start a host.
struct Options<'a> {
    outbound: &'a [&'a str],
    stores: &'a [&'a str],
    /// Keep the stores in `<dir>/.spin/sqlite_key_value.db`, seeded with these pairs first.
    sqlite: Option<&'a [(&'a str, &'a str)]>,
    /// The component file; the gateway's (`SPIN_COMPONENT`) when `None`.
    component: Option<PathBuf>,
}

/// Spin's default store file under `dir`.
fn sqlite_path(dir: &std::path::Path) -> PathBuf {
    dir.join(".spin").join("sqlite_key_value.db")
}

/// Writes `pairs` into a Spin-format SQLite file the way `scripts/routes --spin-sqlite` does.
fn seed_sqlite(path: &std::path::Path, pairs: &[(&str, &str)]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let db = rusqlite::Connection::open(path).unwrap();
    db.execute(
        "CREATE TABLE IF NOT EXISTS spin_key_value (store TEXT NOT NULL, key TEXT NOT NULL, \
         value BLOB NOT NULL, PRIMARY KEY (store, key))",
        [],
    )
    .unwrap();
    for (key, value) in pairs {
        db.execute(
            "INSERT INTO spin_key_value (store, key, value) VALUES ('default', ?1, ?2) \
             ON CONFLICT (store, key) DO UPDATE SET value = ?2",
            rusqlite::params![key, value.as_bytes()],
        )
        .unwrap();
    }
}

/// Starts the host with a manifest allowing `outbound` and the key-value `stores`.
fn start_host(name: &str, outbound: &[&str], stores: &[&str]) -> Host {
    start_host_with(name, Options { outbound, stores, sqlite: None, component: None })
}

fn start_host_with(name: &str, options: Options<'_>) -> Host {
    let Options { outbound, stores, sqlite, component: file } = options;
    let dir = std::env::temp_dir().join(format!("spin-test-host-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut store_args = Vec::new();
    if let Some(pairs) = sqlite {
        seed_sqlite(&sqlite_path(&dir), pairs);
        store_args = vec!["--sqlite".into(), sqlite_path(&dir).into_os_string()];
    }
    let quoted = |items: &[&str]| items.iter().map(|i| format!("\"{i}\"")).collect::<Vec<_>>().join(", ");
    let manifest = format!(
        "spin_manifest_version = 2\n[application]\nname = \"test\"\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"gw\"\n\
         [component.gw]\nsource = \"unused.wasm\"\nallowed_outbound_hosts = [{}]\nkey_value_stores = [{}]\n",
        quoted(outbound),
        quoted(stores)
    );
    std::fs::write(dir.join("spin.toml"), manifest).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_spin-test-host"))
        .arg("--manifest")
        .arg(dir.join("spin.toml"))
        .arg("--component")
        .arg(file.unwrap_or_else(component))
        .args(["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
        .args(store_args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting spin-test-host");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(Duration::from_secs(180)).expect("spin-test-host did not start within 180 s");
    // "spin-test-host listening on http://A (admin http://B)"
    let addrs: Vec<SocketAddr> = line
        .split("http://")
        .skip(1)
        .map(|s| {
            s.trim_end_matches(|c: char| c == ')' || c.is_whitespace())
                .split(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(addrs.len(), 2, "unexpected ready line: {line:?}");
    Host { child, app: addrs[0], admin: addrs[1], _dir: TempDir(dir) }
}

/// What the loopback origin saw.
#[derive(Default)]
struct Seen {
    count: AtomicUsize,
    last_headers: Mutex<Option<HeaderMap>>,
}

/// An origin that answers `hello from origin <path>` and echoes request bodies on `/api/echo`.
async fn start_origin() -> (SocketAddr, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let shared = seen.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let seen = shared.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: hyper::Request<Incoming>| {
                    let seen = seen.clone();
                    async move {
                        // The gateway's health checks (its elected prober, after responses) are
                        // answered and not counted as requests that reached the origin.
                        if request.uri().path() == "/healthz" {
                            return Ok::<_, hyper::Error>(hyper::Response::new(Full::new(Bytes::from("ok"))));
                        }
                        seen.count.fetch_add(1, Ordering::SeqCst);
                        *seen.last_headers.lock().unwrap() = Some(request.headers().clone());
                        let path = request.uri().path().to_owned();
                        let body = if path.ends_with("/echo") {
                            request.into_body().collect().await.unwrap().to_bytes()
                        } else {
                            Bytes::from(format!("hello from origin {path}"))
                        };
                        Ok::<_, hyper::Error>(hyper::Response::new(Full::new(body)))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, seen)
}

/// One HTTP/1.1 request; returns status, headers and the whole body.
async fn send(
    addr: SocketAddr,
    method: Method,
    path: &str,
    body: impl Into<Bytes>,
) -> (StatusCode, HeaderMap, Bytes) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);
    let request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "api.test")
        // The host passes this on (as Spin does) before its own: the gateway must not trust it.
        .header("spin-client-addr", "6.6.6.6:1")
        .body(Full::new(body.into()))
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(60), sender.send_request(request))
        .await
        .expect("response within 60 s")
        .unwrap();
    let (head, body) = response.into_parts();
    (head.status, head.headers, body.collect().await.unwrap().to_bytes())
}

async fn admin_put(host: &Host, key: &str, value: &str) {
    let (status, _, _) = send(host.admin, Method::PUT, &format!("/kv/default/{key}"), value.to_owned()).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "PUT {key}");
}

fn routes(origin: SocketAddr) -> String {
    let port = origin.port();
    format!(
        r#"{{"regions":[{{"name":"local","shield":"http://127.0.0.1:{port}","lat":0,"lon":0}},
                       {{"name":"elsewhere","shield":"http://localhost:{port}","lat":0,"lon":0}}],
            "pools":{{"main":{{"regions":["local"]}},"denied":{{"regions":["elsewhere"]}}}},
            "routes":[{{"id":"api","path":"/api/{{*rest}}","pool":"main"}},
                      {{"id":"denied","path":"/denied/{{*rest}}","pool":"denied"}}]}}"#
    )
}

fn assert_problem(status: StatusCode, headers: &HeaderMap, body: &[u8], expected: StatusCode) {
    assert_eq!(status, expected, "body: {}", String::from_utf8_lossy(body));
    assert_eq!(headers.get("content-type").unwrap(), "application/problem+json");
    let problem: serde_json::Value = serde_json::from_slice(body).expect("problem JSON");
    assert_eq!(problem["status"], expected.as_u16());
    assert!(problem["type"].is_string() && problem["title"].is_string() && problem["detail"].is_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn gateway_component_on_the_test_host() {
    let (origin, seen) = start_origin().await;
    let host = start_host("main", &["http://127.0.0.1:*"], &["default"]);

    let (status, _, body) = send(host.admin, Method::GET, "/healthz", "").await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"ok\n"[..]));

    // No `routes/current` yet: 503.
    let (status, headers, body) = send(host.app, Method::GET, "/api/users", "").await;
    assert_problem(status, &headers, &body, StatusCode::SERVICE_UNAVAILABLE);

    admin_put(&host, "routes/versions/v1", &routes(origin)).await;
    admin_put(&host, "routes/current", "v1").await;
    let (status, _, body) = send(host.admin, Method::GET, "/kv/default/routes/current", "").await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"v1"[..]));

    // Proxied: the origin's body comes back, and the origin saw the forwarding headers.
    let (status, headers, body) = send(host.app, Method::GET, "/api/users?page=2", "").await;
    assert_eq!(status, StatusCode::OK, "body: {}", String::from_utf8_lossy(&body));
    assert_eq!(&body[..], b"hello from origin /api/users");
    assert_eq!(headers.get("x-edge-route").unwrap(), "api");
    assert_eq!(seen.count.load(Ordering::SeqCst), 1);
    let upstream = seen.last_headers.lock().unwrap().clone().unwrap();
    // Regression (issue 10): the adapter read the first `spin-client-addr`, the client's.
    assert_eq!(
        upstream.get("x-forwarded-for").unwrap(),
        "127.0.0.1",
        "the client address is Spin's, not the spoofed header"
    );
    assert!(!format!("{upstream:?}").contains("6.6.6.6"), "the spoofed address leaked: {upstream:?}");
    assert!(upstream.get("forwarded").unwrap().to_str().unwrap().starts_with("for=127.0.0.1;"));
    assert!(upstream.get("via").unwrap().to_str().unwrap().contains("edge-gateway"));
    assert!(upstream.get("traceparent").is_some());
    assert!(upstream.keys().all(|k| !k.as_str().starts_with("spin-")), "spin-* headers leaked: {upstream:?}");

    // Bodies stream both ways (1 MiB echoed by the origin).
    let big: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    let (status, _, body) = send(host.app, Method::POST, "/api/echo", big.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body[..] == big[..], "echoed body differs ({} bytes back)", body.len());

    // Unknown path: 404 problem.
    let (status, headers, body) = send(host.app, Method::GET, "/nowhere", "").await;
    assert_problem(status, &headers, &body, StatusCode::NOT_FOUND);

    // A shield outside allowed_outbound_hosts: denied by the host, 502, nothing reaches it.
    let before = seen.count.load(Ordering::SeqCst);
    let (status, headers, body) = send(host.app, Method::GET, "/denied/x", "").await;
    assert_problem(status, &headers, &body, StatusCode::BAD_GATEWAY);
    assert_eq!(seen.count.load(Ordering::SeqCst), before);

    // An unreachable shield (nothing listens): 502.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    admin_put(
        &host,
        "routes/versions/v2",
        &routes(origin).replace(&format!("127.0.0.1:{}", origin.port()), &closed.to_string()),
    )
    .await;
    admin_put(&host, "routes/current", "v2").await;
    let (status, headers, body) = send(host.app, Method::GET, "/api/users", "").await;
    assert_problem(status, &headers, &body, StatusCode::BAD_GATEWAY);
}

#[tokio::test(flavor = "multi_thread")]
async fn undeclared_store_is_refused() {
    let (origin, seen) = start_origin().await;
    // `default` is seeded but not in key_value_stores: opening it is access-denied, so 503.
    let host = start_host("nostore", &["http://127.0.0.1:*"], &[]);
    admin_put(&host, "routes/versions/v1", &routes(origin)).await;
    admin_put(&host, "routes/current", "v1").await;
    let (status, headers, body) = send(host.app, Method::GET, "/api/users", "").await;
    assert_problem(status, &headers, &body, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(seen.count.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn routes_seeded_in_a_spin_sqlite_file_are_served() {
    let (origin, seen) = start_origin().await;
    let doc = routes(origin);
    let seeded = [("routes/versions/v1", doc.as_str()), ("routes/current", "v1"), ("routes/last-good", "v1")];
    let host = start_host_with(
        "sqlite",
        Options {
            outbound: &["http://127.0.0.1:*"],
            stores: &["default"],
            sqlite: Some(&seeded),
            component: None,
        },
    );
    let (status, _, body) = send(host.app, Method::GET, "/api/users", "").await;
    assert_eq!(status, StatusCode::OK, "body: {}", String::from_utf8_lossy(&body));
    assert_eq!(&body[..], b"hello from origin /api/users");
    assert_eq!(seen.count.load(Ordering::SeqCst), 1);

    // Writes into the file while the host runs (what publishing to `spin up`'s store does) are
    // seen by the next request. v2 sends `/api` to a port nothing listens on: 502.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let v2 = doc.replace(&format!("127.0.0.1:{}", origin.port()), &closed.to_string());
    let file = sqlite_path(&host._dir.0);
    seed_sqlite(&file, &[("routes/versions/v2", &v2), ("routes/current", "v2"), ("routes/last-good", "v2")]);
    let (status, headers, body) = send(host.app, Method::GET, "/api/users", "").await;
    assert_problem(status, &headers, &body, StatusCode::BAD_GATEWAY);
    // Rolled back: one write of the older id.
    seed_sqlite(&file, &[("routes/current", "v1"), ("routes/last-good", "v1")]);
    let (status, _, _) = send(host.app, Method::GET, "/api/users", "").await;
    assert_eq!(status, StatusCode::OK);
    // The admin API reads the same file.
    let (status, _, body) = send(host.admin, Method::GET, "/kv/default/routes/current", "").await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"v1"[..]));
}

fn trapping_component(dir_name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("spin-test-host-{}-{dir_name}-wasm", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("trap.wasm");
    std::fs::write(&path, wat::parse_str(TRAPPING_COMPONENT).unwrap()).unwrap();
    path
}

/// As Spin: a trapping component is an empty 500 (no body, no content type, no internals).
#[tokio::test(flavor = "multi_thread")]
async fn a_trap_is_an_empty_500() {
    let component = trapping_component("trap");
    let host = start_host_with(
        "trap",
        Options { outbound: &[], stores: &[], sqlite: None, component: Some(component) },
    );
    let (status, headers, body) = send(host.app, Method::GET, "/anything", "").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body.is_empty(), "body: {}", String::from_utf8_lossy(&body));
    assert!(headers.get("content-type").is_none(), "{headers:?}");
}

/// As Spin: `/.well-known/spin/*` never reaches the component (here one that would trap).
#[tokio::test(flavor = "multi_thread")]
async fn well_known_paths_are_answered_by_the_host() {
    let component = trapping_component("wellknown");
    let host = start_host_with(
        "wellknown",
        Options { outbound: &[], stores: &[], sqlite: None, component: Some(component) },
    );
    let (status, _, body) = send(host.app, Method::GET, "/.well-known/spin/health", "").await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"OK"[..]));
    let (status, headers, body) = send(host.app, Method::GET, "/.well-known/spin/info", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers.get("content-type").unwrap(), "application/json");
    let info: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(info["name"], "test");
    let (status, _, body) = send(host.app, Method::GET, "/.well-known/spin/nope", "").await;
    assert_eq!((status, body.is_empty()), (StatusCode::NOT_FOUND, true));
}
