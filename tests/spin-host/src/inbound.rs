//! What the host does to a request before the component sees it, matched to Spin's trigger
//! (`crates/trigger-http` of Spin v3.6.3 / main):
//!
//! - `/.well-known/spin/health` and `/.well-known/spin/info` are answered by the host itself,
//!   whatever the trigger route; any other `/.well-known/spin/*` path is an empty 404.
//! - The client's headers are passed through **as sent, `spin-*` ones included**, and Spin's own
//!   `spin-*` headers are appended after them, so the last instance of each is the host's.
//! - `Connection` is removed (as Spin main does), and with it the other hop-by-hop headers
//!   `wasi:http` forbids in incoming requests (wasmtime removes those too). The headers that
//!   `Connection` named stay: the component cannot know which they were.
//! - A path the trigger route does not match is an empty 404.

use std::net::SocketAddr;

use http::header::{CONNECTION, CONTENT_TYPE, HOST};
use http::{HeaderName, HeaderValue, StatusCode, Uri};

use crate::manifest::App;
use crate::problem::{self, HostBody};

/// The prefix of the paths Spin answers itself.
pub(crate) const WELL_KNOWN: &str = "/.well-known/spin/";

/// Hop-by-hop headers removed before the component sees the request (`Host` is kept: Spin
/// passes it and builds `spin-full-url` from it).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "http2-settings",
];

/// The answer to `/.well-known/spin/<name>`, as Spin gives it.
pub(crate) fn well_known(app: &App, name: &str) -> http::Response<HostBody> {
    match name {
        "health" => http::Response::new(problem::full("OK")),
        "info" => {
            let mut info = serde_json::json!({ "name": app.name });
            if let Some(version) = &app.version {
                info["version"] = serde_json::Value::String(version.clone());
            }
            let body = serde_json::to_vec_pretty(&info).unwrap_or_default();
            let mut response = http::Response::new(problem::full(body));
            response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        _ => problem::empty(StatusCode::NOT_FOUND),
    }
}

/// The request as Spin hands it to a component: an absolute URI, the client's headers minus the
/// hop-by-hop ones, then Spin's `spin-*` headers. `None` when the trigger route does not match.
pub(crate) fn spin_request<B>(
    app: &App,
    request: http::Request<B>,
    client: SocketAddr,
) -> Option<http::Request<B>> {
    let (mut head, body) = request.into_parts();
    let path = head.uri.path().to_owned();
    let base = app.base_path(&path)?.to_owned();
    let host = head.headers.get(HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost").to_owned();
    let path_and_query = head.uri.path_and_query().map_or("/", |pq| pq.as_str()).to_owned();
    let full: Uri = format!("http://{host}{path_and_query}").parse().ok()?;
    for name in HOP_BY_HOP {
        head.headers.remove(name);
    }
    debug_assert!(!head.headers.contains_key(CONNECTION));
    let path_info = path.strip_prefix(&base).unwrap_or(&path).to_owned();
    // Spin's order (v3.6.3 `compute_default_headers`).
    let spin = [
        ("spin-path-info", path_info),
        ("spin-full-url", full.to_string()),
        ("spin-matched-route", app.route.clone()),
        ("spin-base-path", "/".to_owned()),
        ("spin-raw-component-route", app.route.clone()),
        ("spin-component-route", base),
        ("spin-client-addr", client.to_string()),
    ];
    for (name, value) in spin {
        if let Ok(value) = HeaderValue::from_str(&value) {
            head.headers.append(HeaderName::from_static(name), value);
        }
    }
    head.uri = full;
    Some(http::Request::from_parts(head, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::AllowedHosts;

    fn app() -> App {
        App {
            name: "test".into(),
            version: None,
            id: "gw".into(),
            route: "/...".into(),
            source: None,
            outbound: AllowedHosts::parse(&[]).unwrap(),
            kv_stores: vec![],
            variables: Default::default(),
        }
    }

    fn values<'a>(request: &'a http::Request<()>, name: &str) -> Vec<&'a str> {
        request.headers().get_all(name).iter().map(|v| v.to_str().unwrap()).collect()
    }

    /// As Spin: the client's `spin-*` headers stay, and Spin's come after them.
    #[test]
    fn client_spin_headers_pass_and_spins_own_come_last() {
        let request = http::Request::builder()
            .uri("/api/x?q=1")
            .header("host", "api.test")
            .header("spin-client-addr", "6.6.6.6:1234")
            .header("spin-full-url", "http://evil.test/")
            .body(())
            .unwrap();
        let client: SocketAddr = "127.0.0.1:5555".parse().unwrap();
        let seen = spin_request(&app(), request, client).unwrap();
        assert_eq!(values(&seen, "spin-client-addr"), ["6.6.6.6:1234", "127.0.0.1:5555"]);
        assert_eq!(values(&seen, "spin-full-url"), ["http://evil.test/", "http://api.test/api/x?q=1"]);
        assert_eq!(values(&seen, "spin-path-info"), ["/api/x"]);
        assert_eq!(values(&seen, "host"), ["api.test"]);
        assert_eq!(seen.uri(), "http://api.test/api/x?q=1");
    }

    /// As Spin main: `Connection` is gone, so the headers it named cannot be identified.
    #[test]
    fn connection_is_removed_and_what_it_named_stays() {
        let request = http::Request::builder()
            .uri("/x")
            .header("connection", "x-drop-me, keep-alive")
            .header("keep-alive", "timeout=5")
            .header("x-drop-me", "secret")
            .header("upgrade", "websocket")
            .body(())
            .unwrap();
        let seen = spin_request(&app(), request, "127.0.0.1:1".parse().unwrap()).unwrap();
        for gone in ["connection", "keep-alive", "upgrade"] {
            assert!(seen.headers().get(gone).is_none(), "{gone} reached the component");
        }
        assert_eq!(values(&seen, "x-drop-me"), ["secret"]);
    }

    #[test]
    fn well_known_answers() {
        let health = well_known(&app(), "health");
        assert_eq!(health.status(), StatusCode::OK);
        assert!(well_known(&app(), "info").headers()[CONTENT_TYPE] == "application/json");
        assert_eq!(well_known(&app(), "other").status(), StatusCode::NOT_FOUND);
    }
}
