//! The real `origin-shield` binary, driven over loopback in front of a tiny origin.

#[path = "loopback/client.rs"]
mod client;
#[path = "loopback/origin.rs"]
mod origin;
#[allow(dead_code)] // each test crate uses part of the harness
#[path = "loopback/shield.rs"]
mod shield;

use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use origin::Origin;
use shield::{BIN, DEADLINE, READ_TIMEOUT_MS, Shield, TempFile};

/// Polls `GET /healthz` until it answers `status`, or panics at the deadline.
fn await_healthz(shield: &Shield, status: u16) -> client::Response {
    let start = Instant::now();
    loop {
        let response = client::get(shield.addr, "/healthz").expect("healthz");
        if response.status == status {
            return response;
        }
        assert!(start.elapsed() < DEADLINE, "healthz stayed {} not {status}", response.status);
        thread::sleep(Duration::from_millis(50));
    }
}

fn assert_problem(response: &client::Response, status: u16, kind: &str) {
    assert_eq!(response.status, status);
    assert_eq!(response.header("content-type"), Some("application/problem+json"));
    assert_eq!(response.header("x-shield-region"), Some("eu-west"));
    let json = response.json();
    assert_eq!(json["status"], status);
    assert_eq!(json["type"], format!("urn:origin-shield:problem:{kind}"));
    assert!(json["title"].is_string() && json["detail"].is_string(), "{json}");
}

#[test]
fn proxied_get_keeps_status_body_path_and_forwarding_headers() {
    let origin = Origin::start();
    let shield = Shield::start(&origin.url());
    let response = client::send(
        shield.addr,
        "GET",
        "/teapot?x=1&y=%2F",
        &[
            ("Via", "1.1 edge-gateway"),
            ("X-Forwarded-For", "203.0.113.7"),
            ("Connection", "close, x-private-hop"),
            ("X-Private-Hop", "secret"),
        ],
        b"",
    )
    .expect("response");

    assert_eq!(response.status, 418);
    assert_eq!(response.body, b"teapot /teapot?x=1&y=%2F");
    assert_eq!(response.header("x-shield-region"), Some("eu-west"));
    for hop in ["x-origin-hop", "keep-alive"] {
        assert_eq!(response.header(hop), None, "{hop} reached the client");
    }
    let seen = origin.seen("/teapot");
    assert_eq!(seen.len(), 1, "origin saw {seen:?}");
    let request = &seen[0];
    assert_eq!((request.method.as_str(), request.target.as_str()), ("GET", "/teapot?x=1&y=%2F"));
    assert_eq!(request.header("via"), Some("1.1 edge-gateway, 1.1 origin-shield-eu-west"));
    assert_eq!(request.header("x-forwarded-for"), Some("203.0.113.7"));
    assert_eq!(request.header("host"), Some(origin.addr.to_string().as_str()));
    assert_eq!(request.header("x-private-hop"), None, "nominated hop-by-hop field forwarded");
}

#[test]
fn post_body_of_one_mebibyte_streams_through_intact() {
    let origin = Origin::start();
    let shield = Shield::start(&origin.url());
    let body: Vec<u8> = (0..1024 * 1024).map(|i| (i * 31 % 251) as u8).collect();

    let response = client::send(shield.addr, "POST", "/echo", &[], &body).expect("response");

    assert_eq!(response.status, 200);
    assert!(response.body == body, "echoed body differs ({} bytes)", response.body.len());
    let seen = origin.seen("/echo");
    assert_eq!(seen.len(), 1);
    assert!(seen[0].body == body, "origin got {} bytes", seen[0].body.len());
}

#[test]
fn healthz_is_ok_while_origin_is_up_then_degraded_and_502_when_it_stops() {
    let mut origin = Origin::start();
    let shield = Shield::start(&origin.url());

    let up = await_healthz(&shield, 200).json();
    assert_eq!(up["region"], "eu-west");
    assert_eq!(up["status"], "ok");
    assert_eq!(up["origin"]["url"], origin.url());
    assert_eq!(up["origin"]["healthy"], true);
    assert!(!origin.seen("/healthz").is_empty(), "the probe never reached the origin");

    origin.stop();
    let down = await_healthz(&shield, 503).json();
    assert_eq!(down["status"], "degraded");
    assert_eq!(down["origin"]["healthy"], false);

    let response = client::get(shield.addr, "/anything").expect("response");
    assert_problem(&response, 502, "origin-unreachable");
}

#[test]
fn origin_slower_than_read_timeout_answers_504() {
    let origin = Origin::start();
    let shield = Shield::start(&origin.url());
    let start = Instant::now();

    let response = client::get(shield.addr, "/slow").expect("response");

    assert_problem(&response, 504, "origin-timeout");
    assert!(start.elapsed() < origin::SLOW, "took {:?}", start.elapsed());
    assert!(start.elapsed() >= Duration::from_millis(READ_TIMEOUT_MS));
    assert_eq!(origin.seen("/slow").len(), 1, "the shield retried a timed-out request");
}

#[test]
fn sigterm_shuts_down_gracefully_with_status_0() {
    let origin = Origin::start();
    let shield = Shield::start(&origin.url());
    assert_eq!(client::get(shield.addr, "/").expect("response").status, 200);

    let status = shield.terminate();

    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn bad_config_exits_2_and_lists_every_error() {
    let config = TempFile::new("region = \"EU\"\norigin = \"https://x\"\n[timeouts]\nread_ms = 0\n");
    let output = Command::new(BIN).arg("--config").arg(&config.0).output().expect("run");

    assert_eq!(output.status.code(), Some(2));
    let source = config.0.display().to_string();
    let expected: Vec<String> = [
        "listen: is required",
        "region: must be 1-32 characters of a-z, 0-9 and -",
        "origin: must be an http:// URL",
        "timeouts.read_ms: must be between 1 and 600000",
    ]
    .iter()
    .map(|line| format!("{source}: {line}"))
    .collect();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().collect::<Vec<_>>(), expected);
    assert!(output.stdout.is_empty(), "printed a ready line with a bad config");
}
