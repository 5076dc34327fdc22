//! An in-process fake of the gateway's admin API: a `TcpListener` thread answering the
//! contract (routes, history, push, rollback, purge) from memory, recording every request.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

/// The admin secret the fake accepts.
pub(crate) const SECRET: &str = "s3cret";

/// One request the fake saw.
#[derive(Clone, Debug)]
pub(crate) struct Seen {
    pub(crate) method: String,
    pub(crate) target: String,
    pub(crate) auth: String,
}

/// The fake gateway's state: published versions (oldest first) and the current one.
#[derive(Default)]
struct State {
    versions: Vec<(String, Value)>,
    current: Option<usize>,
    seen: Vec<Seen>,
}

/// A running fake gateway.
pub(crate) struct Fake {
    /// Its base URL.
    pub(crate) url: String,
    state: Arc<Mutex<State>>,
}

impl Fake {
    /// Starts one on a free loopback port.
    pub(crate) fn start() -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let mut parts = line.split_whitespace();
                let (method, target) =
                    (parts.next().unwrap_or("").to_owned(), parts.next().unwrap_or("").to_owned());
                let (mut length, mut auth) = (0, String::new());
                loop {
                    let mut header = String::new();
                    reader.read_line(&mut header).unwrap();
                    if header.trim().is_empty() {
                        break;
                    }
                    let (name, value) = header.split_once(':').unwrap();
                    match name.to_ascii_lowercase().as_str() {
                        "content-length" => length = value.trim().parse().unwrap(),
                        "authorization" => auth = value.trim().to_owned(),
                        _ => {}
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let mut state = shared.lock().unwrap();
                state.seen.push(Seen { method: method.clone(), target: target.clone(), auth: auth.clone() });
                let (status, answer) = answer(&mut state, &method, &target, &auth, &body);
                drop(state);
                let kind = if status >= 400 { "application/problem+json" } else { "application/json" };
                let answer = answer.to_string();
                let retry = if status == 429 { "Retry-After: 42\r\n" } else { "" };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: {kind}\r\n{retry}Content-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                    answer.len()
                );
            }
        });
        Fake { url, state }
    }

    /// Publishes `document` directly, as an earlier push would have.
    pub(crate) fn publish(&self, document: Value) {
        let mut state = self.state.lock().unwrap();
        let version = format!("v{}", state.versions.len() + 1);
        state.versions.push((version, document));
        state.current = Some(state.versions.len() - 1);
    }

    /// The version `current` names.
    pub(crate) fn current_version(&self) -> Option<String> {
        let state = self.state.lock().unwrap();
        state.current.map(|i| state.versions[i].0.clone())
    }

    /// Every request so far.
    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }
}

fn problem(status: u16, title: &str, detail: &str) -> (u16, Value) {
    (status, json!({"type": "about:blank", "title": title, "status": status, "detail": detail}))
}

/// The admin API's contract, in memory.
fn answer(state: &mut State, method: &str, target: &str, auth: &str, body: &[u8]) -> (u16, Value) {
    if auth == "Bearer throttled" {
        return problem(429, "Too Many Requests", "too many failed attempts");
    }
    if auth != format!("Bearer {SECRET}") {
        return problem(401, "Unauthorized", "wrong admin secret");
    }
    // As the gateway states it: Unix milliseconds (2026-12-02T05:0i:00Z).
    let published_at = |i: usize| 1_796_187_600_000u64 + i as u64 * 60_000;
    let entry =
        |state: &State, i: usize| json!({"version": state.versions[i].0, "published_at": published_at(i)});
    match (method, target) {
        ("GET", "/__gateway/admin/routes") => match state.current {
            Some(i) => {
                let mut answer = entry(state, i);
                answer["document"] = state.versions[i].1.clone();
                (200, answer)
            }
            None => problem(404, "Not Found", "no routes document published"),
        },
        ("GET", "/__gateway/admin/routes/history") => {
            let versions: Vec<Value> = (0..state.versions.len())
                .rev()
                .map(|i| {
                    let mut v = entry(state, i);
                    v["current"] = json!(state.current == Some(i));
                    v
                })
                .collect();
            (200, json!({ "versions": versions }))
        }
        ("PUT", put) if put.starts_with("/__gateway/admin/routes") => {
            let document: Value = serde_json::from_slice(body).unwrap();
            if document["routes"][0]["id"] == "server-refuses" {
                let mut refusal = problem(422, "Unprocessable Content", "the routes document is invalid").1;
                refusal["errors"] = json!([
                    {"path": "$.routes[0].id", "reason": "reserved by the gateway"},
                    {"path": "$.pools.api.attempts", "reason": "too many for this plan"}
                ]);
                return (422, refusal);
            }
            let previous = state.current.map(|i| state.versions[i].0.clone());
            let version = format!("v{}", state.versions.len() + 1);
            if put.ends_with("?dry_run=true") {
                return (200, json!({"version": version, "published_at": null, "previous": previous}));
            }
            state.versions.push((version.clone(), document));
            state.current = Some(state.versions.len() - 1);
            (
                201,
                json!({"version": version, "published_at": published_at(state.versions.len() - 1), "previous": previous}),
            )
        }
        ("POST", "/__gateway/admin/routes/rollback") => {
            let asked: Value = serde_json::from_slice(body).unwrap();
            let previous = state.current.map(|i| state.versions[i].0.clone());
            let target = match asked.get("version").and_then(Value::as_str) {
                Some(v) => state.versions.iter().position(|(name, _)| name == v),
                None => state.current.and_then(|i| i.checked_sub(1)),
            };
            match target {
                Some(i) => {
                    state.current = Some(i);
                    (200, json!({"version": state.versions[i].0, "previous": previous}))
                }
                None => problem(404, "Not Found", "no such version"),
            }
        }
        ("POST", purge) if purge.starts_with("/__gateway/purge?") => (
            200,
            json!({"purged": {}, "stamp": 1_764_650_000_000u64, "propagation_ms": 65_000,
                   "shields": {"eu-west": "purged", "us-east": "status 502"}}),
        ),
        _ => problem(404, "Not Found", "no such endpoint"),
    }
}
