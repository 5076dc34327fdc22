//! The admin API (`/__gateway/admin/…`) and the status page over the in-memory fakes: auth and
//! its rate limit, pushes (invalid, dry run, concurrent, failing mid-way), rollback, status.
#![allow(missing_docs)]

use std::cell::{Cell, RefCell};
use std::time::Duration;

use edge_gateway_core::live::{CURRENT_KEY, LAST_GOOD_KEY, version_key};
use edge_gateway_core::pipeline::{HISTORY_KEY, MAX_FAILURES};
use edge_gateway_core::ports::{KeyValue, KvError, Ports};
use edge_gateway_core::testing::{self, FakePorts, FakeStream, JoinAll, MemoryKv, ok_response};
use edge_gateway_core::{Body, ClientInfo, Gateway};
use http::{Request, Response, StatusCode};
use serde_json::{Value, json};

const SECRET: &str = "s3cret-admin";

fn doc(region: &str) -> String {
    format!(
        r#"{{"settings":{{"config_ttl_ms":0}},
        "regions":[{{"name":{name},"shield":"http://eu.shield:9101","lat":53,"lon":-6}}],
        "pools":{{"api":{{"regions":[{name}]}}}},
        "routes":[{{"id":"r","path":"/api/{{*rest}}","pool":"api"}}]}}"#,
        name = serde_json::to_string(region).unwrap()
    )
}

/// A KV over [`MemoryKv`] that yields once before every call (so concurrent requests
/// interleave) and can fail the writes of keys that contain a given text.
#[derive(Debug, Default)]
struct AdminKv {
    inner: MemoryKv,
    yields: Cell<bool>,
    fail_puts: RefCell<Option<String>>,
}

struct YieldOnce(bool);

impl std::future::Future for YieldOnce {
    type Output = ();
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

impl KeyValue for AdminKv {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        if self.yields.get() {
            YieldOnce(false).await;
        }
        KeyValue::get(&self.inner, key).await
    }
    async fn put(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), KvError> {
        if self.yields.get() {
            YieldOnce(false).await;
        }
        if self.fail_puts.borrow().as_deref().is_some_and(|k| key.contains(k)) {
            return Err(KvError(format!("injected failure writing {key}")));
        }
        KeyValue::put(&self.inner, key, value, ttl).await
    }
}

/// [`FakePorts`] with an admin secret and [`AdminKv`].
#[derive(Default)]
struct AdminPorts {
    fake: FakePorts,
    kv: AdminKv,
    secret: Option<String>,
}

impl Ports for AdminPorts {
    type Stream = FakeStream;
    type Kv = AdminKv;
    type Upstream = testing::FakeUpstream;
    type Fetch = testing::FakeFetch;
    type Crypto = edge_gateway_core::auth::CoreVerifier;
    type Cache = testing::MemoryCache;
    type Counters = testing::MemoryCounters;
    type Clock = testing::ManualClock;
    type Entropy = testing::CountingEntropy;
    type Log = testing::MemoryLog;

    fn kv(&self) -> &AdminKv {
        &self.kv
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
    fn admin_secret(&self) -> Option<String> {
        self.secret.clone()
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

fn ports() -> AdminPorts {
    let ports = AdminPorts { secret: Some(SECRET.into()), ..AdminPorts::default() };
    ports.fake.clock.set(1_700_000_000_000);
    ports
}

fn request(method: &str, path: &str, auth: Option<&str>, body: &str) -> Request<Body<FakeStream>> {
    let mut builder =
        Request::builder().method(method).uri(format!("https://gw.test/__gateway/admin/{path}"));
    if let Some(secret) = auth {
        builder = builder.header("authorization", format!("Bearer {secret}"));
    }
    let body = if body.is_empty() { Body::Empty } else { Body::Bytes(bytes::Bytes::from(body.to_owned())) };
    builder.body(body).unwrap()
}

fn send(gateway: &Gateway, ports: &AdminPorts, req: Request<Body<FakeStream>>) -> Response<Body<FakeStream>> {
    pollster::block_on(gateway.handle(ports, req, &ClientInfo::default()))
}

fn call(gateway: &Gateway, ports: &AdminPorts, method: &str, path: &str, body: &str) -> (StatusCode, Value) {
    let response = send(gateway, ports, request(method, path, Some(SECRET), body));
    (response.status(), body_json(&response))
}

fn body_json(response: &Response<Body<FakeStream>>) -> Value {
    serde_json::from_slice(response.body().as_bytes().unwrap()).unwrap_or(Value::Null)
}

fn text(ports: &AdminPorts, key: &str) -> Option<String> {
    ports.kv.inner.value(key).map(|v| String::from_utf8(v).unwrap())
}

#[test]
fn auth_table() {
    let rows: &[(&str, Option<&str>, Option<&str>, StatusCode)] = &[
        // (what, configured secret, presented secret, status)
        ("no secret configured: absent", None, Some(SECRET), StatusCode::NOT_FOUND),
        ("empty secret configured: absent", Some(""), Some(""), StatusCode::NOT_FOUND),
        ("no authorization", Some(SECRET), None, StatusCode::UNAUTHORIZED),
        ("wrong secret", Some(SECRET), Some("s3cret-admim"), StatusCode::UNAUTHORIZED),
        ("prefix of the secret", Some(SECRET), Some("s3cret"), StatusCode::UNAUTHORIZED),
        ("right secret, nothing published", Some(SECRET), Some(SECRET), StatusCode::NOT_FOUND),
    ];
    for (what, configured, presented, status) in rows {
        let ports = AdminPorts { secret: configured.map(str::to_owned), ..ports() };
        let response = send(&Gateway::new(), &ports, request("GET", "routes", *presented, ""));
        assert_eq!(response.status(), *status, "{what}");
        assert_eq!(response.headers()["content-type"], "application/problem+json", "{what}");
    }
}

#[test]
fn admin_paths_in_any_spelling_are_the_api_and_never_reach_an_origin() {
    // A catch-all route would forward anything the gateway does not answer itself.
    let catch_all = doc("eu").replace(r#""path":"/api/{*rest}""#, r#""path":"/{*rest}""#);
    let spellings = [
        "/__gateway/admin/routes",
        "/__gateway/%61dmin/routes",
        "//__gateway/admin/routes",
        "/__gateway//admin/routes",
        "/__gateway/admin",
    ];
    for secret in [None, Some(SECRET)] {
        let ports = AdminPorts { secret: secret.map(str::to_owned), ..ports() };
        ports.kv.inner.put("routes/versions/v1", catch_all.clone());
        ports.kv.inner.put("routes/current", "v1");
        let gateway = Gateway::new();
        for path in spellings {
            for presented in [None, Some("wrong")] {
                let mut builder = Request::builder().uri(format!("https://gw.test{path}"));
                if let Some(presented) = presented {
                    builder = builder.header("authorization", format!("Bearer {presented}"));
                }
                let response = send(&gateway, &ports, builder.body(Body::Empty).unwrap());
                let expected =
                    if secret.is_some() { StatusCode::UNAUTHORIZED } else { StatusCode::NOT_FOUND };
                assert_eq!(response.status(), expected, "{path} with {presented:?}, secret {secret:?}");
                assert_eq!(response.headers()["content-type"], "application/problem+json");
            }
        }
        assert_eq!(
            ports.fake.upstream.sent().len(),
            0,
            "no admin spelling was forwarded (secret {secret:?})"
        );
        // The control: the catch-all does forward an ordinary path.
        let ordinary = Request::builder().uri("https://gw.test/__gateway/other").body(Body::Empty).unwrap();
        assert_eq!(send(&gateway, &ports, ordinary).status(), StatusCode::OK);
        assert_eq!(ports.fake.upstream.sent().len(), 1);
    }
    // With the secret, an encoded spelling is served as the plain one.
    let (gateway, ports) = (Gateway::new(), ports());
    let (status, _) = call(&gateway, &ports, "PUT", "routes", &doc("eu"));
    assert_eq!(status, StatusCode::CREATED);
    let alias = Request::builder()
        .uri("https://gw.test/__gateway/%61dmin/routes")
        .header("authorization", format!("Bearer {SECRET}"))
        .body(Body::Empty)
        .unwrap();
    let response = send(&gateway, &ports, alias);
    assert_eq!(response.status(), StatusCode::OK);
    assert!(body_json(&response)["version"].is_string());
}

#[test]
fn more_than_ten_failures_a_minute_lock_the_instance() {
    let (gateway, ports) = (Gateway::new(), ports());
    for attempt in 1..=MAX_FAILURES {
        let response = send(&gateway, &ports, request("GET", "routes", Some("guess"), ""));
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    let response = send(&gateway, &ports, request("GET", "routes", Some(SECRET), ""));
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let wait: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    ports.fake.clock.advance(60_000);
    let response = send(&gateway, &ports, request("GET", "routes", Some(SECRET), ""));
    assert_eq!(response.status(), StatusCode::NOT_FOUND, "a minute later the secret is heard again");
}

#[test]
fn invalid_push_answers_422_with_paths_and_changes_nothing() {
    let (gateway, ports) = (Gateway::new(), ports());
    let (status, _) = call(&gateway, &ports, "PUT", "routes", &doc("eu"));
    assert_eq!(status, StatusCode::CREATED);
    let before: Vec<_> = ["routes/current", "routes/last-good", HISTORY_KEY].map(|k| text(&ports, k)).into();
    let invalid = doc("eu").replace(r#""pool":"api""#, r#""pool":"nope""#);
    let response = send(&gateway, &ports, request("PUT", "routes", Some(SECRET), &invalid));
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let body = body_json(&response);
    let paths: Vec<&str> =
        body["errors"].as_array().unwrap().iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert!(paths.contains(&"$.routes[0].pool"), "{body}");
    assert!(body["errors"][0]["reason"].as_str().is_some_and(|r| !r.is_empty()));
    let after: Vec<_> = ["routes/current", "routes/last-good", HISTORY_KEY].map(|k| text(&ports, k)).into();
    assert_eq!(before, after);
    let (status, _) = call(&gateway, &ports, "PUT", "routes", "not json");
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[test]
fn dry_run_answers_what_would_be_written_and_writes_nothing() {
    let (gateway, ports) = (Gateway::new(), ports());
    let (status, body) = call(&gateway, &ports, "PUT", "routes?dry_run=true", &doc("eu"));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["dry_run"], true);
    assert_eq!(body["published_at"], 1_700_000_000_000u64);
    assert!(body["version"].as_str().unwrap().starts_with("1700000000000-"));
    assert_eq!(body["previous"], Value::Null);
    assert!(ports.kv.inner.writes().is_empty(), "{:?}", ports.kv.inner.writes());
}

#[test]
fn push_flips_current_grows_history_and_is_served() {
    let (gateway, ports) = (Gateway::new(), ports());
    ports.fake.upstream.answer(|_| Ok(ok_response("from eu")));
    let (status, first) = call(&gateway, &ports, "PUT", "routes", &doc("eu"));
    assert_eq!(status, StatusCode::CREATED);
    let v1 = first["version"].as_str().unwrap().to_owned();
    assert_eq!(first["previous"], Value::Null);
    assert_eq!(text(&ports, CURRENT_KEY).as_deref(), Some(v1.as_str()));
    assert_eq!(text(&ports, LAST_GOOD_KEY).as_deref(), Some(v1.as_str()));
    assert_eq!(text(&ports, &version_key(&v1)).as_deref(), Some(doc("eu").as_str()));
    // The write order: version, history, current, last-good.
    let keys: Vec<String> = ports.kv.inner.writes().into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, [version_key(&v1), HISTORY_KEY.into(), CURRENT_KEY.into(), LAST_GOOD_KEY.into()]);

    let served = send(&gateway, &ports, Request::get("https://gw.test/api/x").body(Body::Empty).unwrap());
    assert_eq!(served.status(), StatusCode::OK);

    ports.fake.clock.advance(1_000);
    let (status, second) = call(&gateway, &ports, "PUT", "routes", &doc("us"));
    assert_eq!(status, StatusCode::CREATED);
    let v2 = second["version"].as_str().unwrap().to_owned();
    assert_eq!(second["previous"], v1.as_str());
    assert_ne!(v1, v2);

    let (status, current) = call(&gateway, &ports, "GET", "routes", "");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(current["version"], v2.as_str());
    assert_eq!(current["published_at"], 1_700_000_001_000u64);
    assert_eq!(current["document"]["regions"][0]["name"], "us");

    let (status, history) = call(&gateway, &ports, "GET", "routes/history", "");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        history,
        json!({"versions": [
            {"version": v2, "published_at": 1_700_000_001_000u64, "current": true},
            {"version": v1, "published_at": 1_700_000_000_000u64, "current": false},
        ]})
    );
}

#[test]
fn history_keeps_the_last_fifty() {
    let (gateway, ports) = (Gateway::new(), ports());
    for i in 0..55 {
        ports.fake.clock.advance(1);
        let (status, _) = call(&gateway, &ports, "PUT", "routes", &doc(&format!("r{i}")));
        assert_eq!(status, StatusCode::CREATED);
    }
    let (_, history) = call(&gateway, &ports, "GET", "routes/history", "");
    let versions = history["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 50);
    assert_eq!(versions[0]["current"], true);
    assert_eq!(versions.iter().filter(|v| v["current"] == true).count(), 1);
}

#[test]
fn a_push_failing_mid_way_leaves_the_live_version_untouched() {
    for failing in ["routes/versions/", HISTORY_KEY, CURRENT_KEY] {
        let (gateway, ports) = (Gateway::new(), ports());
        let (_, first) = call(&gateway, &ports, "PUT", "routes", &doc("eu"));
        let v1 = first["version"].as_str().unwrap().to_owned();
        ports.fake.clock.advance(1_000);
        *ports.kv.fail_puts.borrow_mut() = Some(failing.to_owned());
        let response = send(&gateway, &ports, request("PUT", "routes", Some(SECRET), &doc("us")));
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR, "{failing}");
        assert_eq!(response.headers()["content-type"], "application/problem+json");
        assert_eq!(text(&ports, CURRENT_KEY).as_deref(), Some(v1.as_str()), "{failing}");
        assert_eq!(text(&ports, LAST_GOOD_KEY).as_deref(), Some(v1.as_str()), "{failing}");
    }
}

#[test]
fn concurrent_pushes_never_leave_current_at_a_missing_version() {
    let (gateway, ports) = (Gateway::new(), ports());
    ports.kv.yields.set(true);
    let docs: Vec<String> = (0..8).map(|i| doc(&format!("region-{i}"))).collect();
    let client = ClientInfo::default();
    let futures: Vec<_> = docs
        .iter()
        .map(|d| Box::pin(gateway.handle(&ports, request("PUT", "routes", Some(SECRET), d), &client)))
        .collect();
    let responses = pollster::block_on(JoinAll::new(futures));
    let mut versions = Vec::new();
    for response in &responses {
        assert_eq!(response.status(), StatusCode::CREATED);
        versions.push(body_json(response)["version"].as_str().unwrap().to_owned());
    }
    let current = text(&ports, CURRENT_KEY).unwrap();
    assert!(versions.contains(&current), "{current} not among {versions:?}");
    for version in &versions {
        assert!(text(&ports, &version_key(version)).is_some(), "{version} was not written");
    }
    let document = text(&ports, &version_key(&current)).unwrap();
    assert!(edge_gateway_core::config::Config::from_json(document.as_bytes()).is_ok());
    ports.kv.yields.set(false);
    let (status, _) = call(&gateway, &ports, "GET", "routes", "");
    assert_eq!(status, StatusCode::OK);
}

#[test]
fn rollback_table() {
    let (gateway, ports) = (Gateway::new(), ports());
    let mut ids = Vec::new();
    for region in ["one", "two", "three"] {
        ports.fake.clock.advance(1_000);
        ids.push(
            call(&gateway, &ports, "PUT", "routes", &doc(region)).1["version"].as_str().unwrap().to_owned(),
        );
    }
    // An old version that no longer validates (a hand-written KV entry).
    ports.kv.inner.put(&version_key("broken-1"), r#"{"routes": 7}"#);
    let rows: Vec<(&str, String, StatusCode, Option<&str>)> = vec![
        ("{} goes to the previous one", "{}".into(), StatusCode::OK, Some(ids[1].as_str())),
        ("empty body too", String::new(), StatusCode::OK, Some(ids[0].as_str())),
        ("a named version", json!({"version": ids[2]}).to_string(), StatusCode::OK, Some(ids[2].as_str())),
        ("unknown version", r#"{"version":"1-deadbeef"}"#.into(), StatusCode::NOT_FOUND, None),
        ("malformed id", r#"{"version":"../x"}"#.into(), StatusCode::NOT_FOUND, None),
        (
            "invalid stored version",
            r#"{"version":"broken-1"}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
        ),
        ("not json", "{".into(), StatusCode::BAD_REQUEST, None),
    ];
    for (what, body, status, expected) in rows {
        let before = text(&ports, CURRENT_KEY);
        let (got, answer) = call(&gateway, &ports, "POST", "routes/rollback", &body);
        assert_eq!(got, status, "{what}: {answer}");
        match expected {
            Some(id) => {
                assert_eq!(answer["version"], id, "{what}");
                assert_eq!(answer["previous"], before.as_deref().unwrap(), "{what}");
                assert_eq!(text(&ports, CURRENT_KEY).as_deref(), Some(id), "{what}");
                assert_eq!(text(&ports, LAST_GOOD_KEY).as_deref(), Some(id), "{what}");
            }
            None => assert_eq!(text(&ports, CURRENT_KEY), before, "{what}: current must not move"),
        }
    }
}

#[test]
fn wrong_methods_and_unknown_paths() {
    let (gateway, ports) = (Gateway::new(), ports());
    let rows = [
        ("DELETE", "routes", StatusCode::METHOD_NOT_ALLOWED),
        ("GET", "routes/rollback", StatusCode::METHOD_NOT_ALLOWED),
        ("POST", "status", StatusCode::METHOD_NOT_ALLOWED),
        ("GET", "nothing-here", StatusCode::NOT_FOUND),
    ];
    for (method, path, status) in rows {
        assert_eq!(call(&gateway, &ports, method, path, "").0, status, "{method} {path}");
    }
}

/// Region names and version ids are validated to `[A-Za-z0-9._-]`, so the hostile text that can
/// reach the page through the pipeline is a stored document's error; the region rows' escaping
/// itself is pinned in `pipeline/status.rs`'s unit test with a hostile region name.
#[test]
fn status_page_escapes_hostile_text_from_the_store() {
    let (gateway, ports) = (Gateway::new(), ports());
    let hostile = doc("eu").replacen('{', r#"{"<script>alert('x')</script>&":1,"#, 1);
    ports.kv.inner.put(&version_key("v1"), hostile.as_bytes());
    ports.kv.inner.put(CURRENT_KEY, "v1");
    let response = send(&gateway, &ports, request("GET", "status", Some(SECRET), ""));
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/html; charset=utf-8");
    let page = std::str::from_utf8(response.body().as_bytes().unwrap()).unwrap();
    assert!(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;"), "{page}");
    assert!(!page.contains("<script>"), "{page}");

    let (status, pushed) = call(&gateway, &ports, "PUT", "routes", &doc("eu-west.1_a"));
    assert_eq!(status, StatusCode::CREATED, "{pushed}");
    ports.fake.clock.advance(1_000); // an instance without config re-reads KV once a second
    let response = send(&gateway, &ports, request("GET", "status", Some(SECRET), ""));
    let page = std::str::from_utf8(response.body().as_bytes().unwrap()).unwrap();
    assert!(page.contains("<h1>"));
    assert!(page.contains(r#"<table id="regions""#));
    assert!(page.contains(r#"<tr data-region="eu-west.1_a">"#), "{page}");
    assert!(page.contains(&format!(r#"id="config-version">{}<"#, pushed["version"].as_str().unwrap())));
    assert!(page.contains(r#"id="error-rate""#));
    assert!(!page.contains("http://") && !page.contains("https://"), "no external assets");
}

#[test]
fn status_json_counts_answers_and_the_recent_error_rate() {
    let (gateway, ports) = (Gateway::new(), ports());
    call(&gateway, &ports, "PUT", "routes", &doc("eu"));
    let n = Cell::new(0);
    ports.fake.upstream.answer(move |_| {
        n.set(n.get() + 1);
        let status = if n.get() % 2 == 0 { 502 } else { 200 };
        Ok(Response::builder().status(status).body(Body::Bytes("x".into())).unwrap())
    });
    for _ in 0..4 {
        send(&gateway, &ports, Request::get("https://gw.test/api/x").body(Body::Empty).unwrap());
    }
    let (status, body) = call(&gateway, &ports, "GET", "status.json", "");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["regions"][0]["name"], "eu");
    assert_eq!(body["regions"][0]["breaker"], "closed");
    assert!(body["version"].as_str().is_some());
    assert_eq!(body["published_at"], 1_700_000_000_000u64);
    assert_eq!(body["rate_limits"]["counters"], 0);
    // One push + four requests counted before this answer.
    assert_eq!(body["requests"]["total"], 5, "{body}");
    assert_eq!(body["requests"]["by_class"]["5xx"], 2, "{body}");
    assert_eq!(body["error_rate"]["errors"], 2);
    assert_eq!(body["error_rate"]["rate"], 0.4);
    // A minute later the errors are no longer recent; the totals stay.
    ports.fake.clock.advance(61_000);
    let (_, later) = call(&gateway, &ports, "GET", "status.json", "");
    assert_eq!(later["error_rate"]["requests"], 0, "{later}");
    assert_eq!(later["requests"]["total"], 6);
}
