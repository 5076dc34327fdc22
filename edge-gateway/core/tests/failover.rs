//! Region selection and failover: the pure selection table, and the attempt loop through the
//! whole pipeline on a virtual clock (health snapshot, breaker, ejection, retry budget,
//! deadline, replayable bodies, idempotency, residency, canaries, the prober).

use std::cell::RefCell;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::Duration;

use edge_gateway_core::config::Config;
use edge_gateway_core::geo::{self, GeoPoint, Whereabouts};
use edge_gateway_core::ports::{Fetched, UpstreamError};
use edge_gateway_core::stages::health::{HealthSnapshot, SNAPSHOT_KEY};
use edge_gateway_core::testing::{FakePorts, FakeStream, ok_response};
use edge_gateway_core::{Body, ClientInfo, Gateway};
use http::{Request, Response, StatusCode};

/// Dublin, Frankfurt and Virginia; Virginia is a backup in the `tiered` pool.
fn doc(pool_extra: &str, route_extra: &str) -> String {
    format!(
        r#"{{"regions":[
            {{"name":"eu-west","shield":"http://eu-west.shield","lat":53.3,"lon":-6.3,"country":"IE","continent":"EU"}},
            {{"name":"eu-central","shield":"http://eu-central.shield","lat":50.1,"lon":8.7,"country":"DE","continent":"EU"}},
            {{"name":"us-east","shield":"http://us-east.shield","lat":38.9,"lon":-77.0,"country":"US","continent":"NA"}},
            {{"name":"us-backup","shield":"http://us-backup.shield","lat":38.9,"lon":-77.0,"country":"US","continent":"NA","tier":"backup"}}],
          "pools":{{"api":{{"regions":["us-east","eu-central","eu-west"]{pool_extra}}},
                    "tiered":{{"regions":["us-backup","eu-west"]}},
                    "v2":{{"regions":["eu-central"]}}}},
          "routes":[{{"id":"r","methods":["GET","POST","PUT"],"path":"/{{*rest}}","pool":"api"{route_extra}}}]}}"#
    )
}

const DUBLIN: GeoPoint = GeoPoint { lat: 53.35, lon: -6.26 };

fn client_at(point: Option<GeoPoint>) -> ClientInfo {
    ClientInfo {
        ip: Some("203.0.113.9".parse::<IpAddr>().unwrap()),
        location: point,
        ..ClientInfo::default()
    }
}

fn setup(document: &str) -> (Gateway, FakePorts) {
    let ports = FakePorts::default();
    ports.clock.set(1_800_000_000_000);
    ports.publish("v1", document);
    (Gateway::new(), ports)
}

fn send(
    gateway: &Gateway,
    ports: &FakePorts,
    request: Request<Body<FakeStream>>,
) -> Response<Body<FakeStream>> {
    pollster::block_on(gateway.handle(ports, request, &client_at(Some(DUBLIN))))
}

fn get(gateway: &Gateway, ports: &FakePorts) -> Response<Body<FakeStream>> {
    send(gateway, ports, Request::get("https://a.test/x").body(Body::Empty).unwrap())
}

fn region(response: &Response<Body<FakeStream>>) -> &str {
    response.headers().get("x-edge-region").map_or("-", |v| v.to_str().unwrap())
}

/// Regions answer as `script` says by host; every attempt's host is recorded.
fn regions_answer(ports: &FakePorts, script: impl Fn(&str) -> Result<u16, UpstreamError> + 'static) {
    ports.upstream.answer(move |request| {
        let host = request.uri().host().unwrap_or_default().trim_end_matches(".shield").to_owned();
        script(&host).map(|status| {
            let mut response = ok_response("answer");
            *response.status_mut() = StatusCode::from_u16(status).unwrap();
            response
        })
    });
}

fn hosts(ports: &FakePorts) -> Vec<String> {
    ports
        .upstream
        .sent()
        .iter()
        .map(|(r, _)| r.uri().host().unwrap().trim_end_matches(".shield").to_owned())
        .collect()
}

#[test]
fn selection_table() {
    let config = Config::from_json(doc("", "").as_bytes()).unwrap();
    let name = |order: &[usize]| order.iter().map(|&i| config.regions[i].name.clone()).collect::<Vec<_>>();
    let api = &config.pools.iter().find(|p| p.name == "api").unwrap().regions;
    let tiered = &config.pools.iter().find(|p| p.name == "tiered").unwrap().regions;
    let all = |_: usize| true;
    let index = |n: &str| config.regions.iter().position(|r| r.name == n).unwrap();
    let down = |n: &'static str| {
        let i = index(n);
        move |j: usize| j != i
    };
    let ny = Whereabouts { point: Some(GeoPoint { lat: 40.7, lon: -74.0 }), ..Whereabouts::default() };
    let dublin = Whereabouts { point: Some(DUBLIN), ..Whereabouts::default() };
    let german = Whereabouts { country: Some("DE"), continent: Some("EU"), ..Whereabouts::default() };
    let french = Whereabouts { country: Some("FR"), continent: Some("EU"), ..Whereabouts::default() };
    let nowhere = Whereabouts::default();
    let eu_only = [index("eu-west"), index("eu-central")];
    type Row<'a> = (
        &'a str,
        &'a [usize],
        Option<&'a [usize]>,
        Whereabouts<'a>,
        &'a dyn Fn(usize) -> bool,
        Vec<&'a str>,
        usize,
    );
    let (eu_west_down, eu_west_down_tiered) = (down("eu-west"), down("eu-west"));
    let rows: Vec<Row<'_>> = vec![
        ("nearest first", api, None, dublin, &all, vec!["eu-west", "eu-central", "us-east"], 3),
        ("from New York", api, None, ny, &all, vec!["us-east", "eu-west", "eu-central"], 3),
        ("unhealthy last", api, None, dublin, &eu_west_down, vec!["eu-central", "us-east", "eu-west"], 2),
        ("country, no position", api, None, german, &all, vec!["eu-central", "eu-west", "us-east"], 3),
        ("continent, no position", api, None, french, &all, vec!["eu-central", "eu-west", "us-east"], 3),
        (
            "unknown location: configured order",
            api,
            None,
            nowhere,
            &all,
            vec!["us-east", "eu-central", "eu-west"],
            3,
        ),
        ("residency", api, Some(&eu_only), ny, &all, vec!["eu-west", "eu-central"], 2),
        ("residency, all down", api, Some(&eu_only), ny, &|_| false, vec!["eu-west", "eu-central"], 0),
        ("backup after primaries", tiered, None, ny, &all, vec!["eu-west", "us-backup"], 2),
        ("backup when no primary", tiered, None, ny, &eu_west_down_tiered, vec!["us-backup", "eu-west"], 1),
    ];
    for (what, candidates, allowed, place, usable, expected, healthy) in rows {
        let selection = geo::select(candidates, &config.regions, allowed, &place, usable, 3);
        assert_eq!(name(&selection.order), expected, "{what}");
        assert_eq!(selection.usable, healthy, "{what}");
    }
}

#[test]
fn weights_break_distance_ties() {
    let document = doc("", "").replace(
        r#""lat":38.9,"lon":-77.0,"country":"US","continent":"NA","tier":"backup"}"#,
        r#""lat":38.9,"lon":-77.0,"country":"US","continent":"NA","weight":500}"#,
    );
    let config = Config::from_json(
        document.replace(r#"["us-backup","eu-west"]"#, r#"["us-east","us-backup"]"#).as_bytes(),
    )
    .unwrap();
    let pool = &config.pools.iter().find(|p| p.name == "tiered").unwrap().regions;
    let ny = Whereabouts { point: Some(GeoPoint { lat: 40.7, lon: -74.0 }), ..Whereabouts::default() };
    let selection = geo::select(pool, &config.regions, None, &ny, &|_| true, 2);
    assert_eq!(config.regions[selection.order[0]].name, "us-backup", "same place, heavier weight");
}

#[test]
fn a_failed_region_moves_traffic_and_a_breaker_keeps_it_away_until_it_recovers() {
    let (gateway, ports) = setup(&doc(
        r#","breaker":{"consecutive_failures":3,"open_base_ms":5000,"close_after_successes":2,"half_open_trials":1}"#,
        "",
    ));
    let eu_down = Rc::new(RefCell::new(true));
    let down = eu_down.clone();
    regions_answer(&ports, move |host| {
        if host == "eu-west" && *down.borrow() {
            Err(UpstreamError::Connect("refused".into()))
        } else {
            Ok(200)
        }
    });
    for _ in 0..3 {
        let response = get(&gateway, &ports);
        assert_eq!(response.status(), StatusCode::OK, "no request fails while a region is healthy");
        assert_eq!(region(&response), "eu-central");
        assert_eq!(response.headers()["x-edge-attempts"], "2");
    }
    let tried = hosts(&ports).len();
    let response = get(&gateway, &ports);
    assert_eq!(region(&response), "eu-central");
    assert_eq!(response.headers()["x-edge-attempts"], "1", "breaker open: the dead region is not tried");
    assert_eq!(hosts(&ports).len(), tried + 1);
    let timing = response.headers()["server-timing"].to_str().unwrap();
    assert!(timing.starts_with("upstream;dur=") && timing.ends_with("desc=\"eu-central\""), "{timing}");

    *eu_down.borrow_mut() = false;
    ports.clock.advance(4_000);
    assert_eq!(region(&get(&gateway, &ports)), "eu-central", "still open and ejected");
    ports.clock.advance(6_000); // past the 5 s open interval and the 10 s ejection: half-open
    let back: Vec<String> = (0..3).map(|_| region(&get(&gateway, &ports)).to_owned()).collect();
    assert_eq!(back, ["eu-west", "eu-west", "eu-west"], "traffic returns after the half-open successes");
}

#[test]
fn a_slow_region_is_ejected_not_retried_forever() {
    let (gateway, ports) = setup(&doc("", ""));
    regions_answer(&ports, |host| {
        if host == "eu-west" { Err(UpstreamError::Timeout(Duration::from_secs(15))) } else { Ok(200) }
    });
    for _ in 0..3 {
        assert_eq!(region(&get(&gateway, &ports)), "eu-central");
    }
    let before = hosts(&ports).iter().filter(|h| *h == "eu-west").count();
    for _ in 0..5 {
        assert_eq!(get(&gateway, &ports).headers()["x-edge-attempts"], "1");
    }
    assert_eq!(hosts(&ports).iter().filter(|h| *h == "eu-west").count(), before, "ejected after 3 timeouts");
}

#[test]
fn non_idempotent_requests_go_elsewhere_only_when_nothing_was_sent_or_with_an_idempotency_key() {
    let (gateway, ports) = setup(&doc("", ""));
    regions_answer(&ports, |host| if host == "eu-west" { Ok(503) } else { Ok(200) });
    let post = || {
        Request::post("https://a.test/x")
            .header("content-length", "2")
            .body(Body::Stream(FakeStream::from_static(b"{}")))
            .unwrap()
    };
    let response = send(&gateway, &ports, post());
    assert_eq!(
        response.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "a POST that reached a region is not replayed"
    );
    assert_eq!(region(&response), "eu-west");
    let keyed = Request::post("https://a.test/x")
        .header("content-length", "2")
        .header("idempotency-key", "k-1")
        .body(Body::Stream(FakeStream::from_static(b"{}")))
        .unwrap();
    let response = send(&gateway, &ports, keyed);
    assert_eq!((response.status(), region(&response)), (StatusCode::OK, "eu-central"));
    let sent = ports.upstream.sent();
    let last = &sent.last().unwrap().0;
    assert!(matches!(last.body(), Body::Bytes(b) if b.as_ref() == b"{}"), "the kept body is sent again");
    drop(sent);

    regions_answer(&ports, |host| {
        if host == "eu-west" { Err(UpstreamError::Connect("refused".into())) } else { Ok(200) }
    });
    let response = send(&gateway, &ports, post());
    assert_eq!(
        (response.status(), region(&response)),
        (StatusCode::OK, "eu-central"),
        "nothing was sent: safe elsewhere"
    );
}

#[test]
fn a_body_larger_than_the_replay_limit_goes_to_one_region_only() {
    let (gateway, ports) = setup(&doc(r#","replay_body_bytes":4"#, ""));
    regions_answer(&ports, |_| Err(UpstreamError::Connect("refused".into())));
    let put = Request::put("https://a.test/x")
        .header("content-length", "10")
        .body(Body::Stream(FakeStream::from_static(b"0123456789")))
        .unwrap();
    assert_eq!(send(&gateway, &ports, put).status(), StatusCode::BAD_GATEWAY);
    assert_eq!(hosts(&ports).len(), 1);
}

#[test]
fn the_retry_budget_caps_extra_load_in_an_outage() {
    let (gateway, ports) = setup(&doc(
        r#","retry_budget":{"ratio_percent":10,"min_retries_per_s":1,"window_ms":10000},"breaker":{"consecutive_failures":1000,"error_rate_percent":100},"outlier":{"consecutive_errors":1000,"consecutive_unreachable":1000}"#,
        "",
    ));
    regions_answer(&ports, |_| Ok(503));
    for _ in 0..100 {
        get(&gateway, &ports);
    }
    let attempts = hosts(&ports).len();
    // 100 first attempts, retries within 10 % of them plus the 10-per-window floor.
    assert!(attempts <= 100 + 10 + 10, "{attempts} attempts for 100 requests");
    assert!(attempts > 100, "some retries were allowed");
}

#[test]
fn the_pool_deadline_bounds_all_attempts() {
    let (gateway, ports) = setup(&doc(r#","deadline_ms":3000"#, ""));
    regions_answer(&ports, |_| Err(UpstreamError::Connect("refused".into())));
    get(&gateway, &ports);
    let sent = ports.upstream.sent();
    assert!(
        sent.iter().all(|(_, t)| t.response <= Duration::from_millis(3000)),
        "no attempt may outlast the deadline"
    );
}

#[test]
fn a_pinned_route_never_leaves_its_regions_and_answers_503_when_none_is_healthy() {
    let (gateway, ports) = setup(&doc("", r#","residency":{"continents":["EU"]}"#));
    let snapshot = r#"{"regions":{"eu-west":{"healthy":false,"checked_at":1800000000000},"eu-central":{"healthy":false,"checked_at":1800000000000}}}"#;
    ports.kv.put(SNAPSHOT_KEY, snapshot);
    regions_answer(&ports, |host| {
        if host.starts_with("eu") { Err(UpstreamError::Connect("refused".into())) } else { Ok(200) }
    });
    let response = get(&gateway, &ports);
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let Body::Bytes(body) = response.body() else { panic!("problem") };
    assert!(std::str::from_utf8(body).unwrap().contains("no-healthy-region"));
    assert!(hosts(&ports).iter().all(|h| h.starts_with("eu")), "never us-east: {:?}", hosts(&ports));
}

#[test]
fn a_fresh_snapshot_takes_an_unhealthy_region_out_and_a_stale_one_is_ignored() {
    let (gateway, ports) = setup(&doc("", ""));
    regions_answer(&ports, |_| Ok(200));
    let at = |ms: u64| format!(r#"{{"regions":{{"eu-west":{{"healthy":false,"checked_at":{ms}}}}}}}"#);
    ports.kv.put(SNAPSHOT_KEY, at(1_800_000_000_000));
    assert_eq!(region(&get(&gateway, &ports)), "eu-central");
    ports.kv.put(SNAPSHOT_KEY, at(1_800_000_000_000 - 31_000));
    ports.clock.advance(5_000);
    assert_eq!(
        region(&get(&gateway, &ports)),
        "eu-west",
        "older than three intervals: unknown, not unhealthy"
    );
}

#[test]
fn canary_clients_stay_on_their_side() {
    let (_, ports) = setup(&doc("", r#","canary":{"pool":"v2","percent":30}"#));
    regions_answer(&ports, |_| Ok(200));
    let gateway = Gateway::new();
    let mut on_canary = 0;
    for i in 0..200 {
        let ip: IpAddr = format!("198.51.100.{}", i % 250).parse().unwrap();
        let client = ClientInfo { ip: Some(ip), location: Some(DUBLIN), ..ClientInfo::default() };
        let first = pollster::block_on(gateway.handle(
            &ports,
            Request::get("https://a.test/x").body(Body::Empty).unwrap(),
            &client,
        ));
        let again = pollster::block_on(gateway.handle(
            &ports,
            Request::get("https://a.test/x").body(Body::Empty).unwrap(),
            &client,
        ));
        assert_eq!(region(&first), region(&again), "sticky per client");
        on_canary += usize::from(region(&first) == "eu-central");
    }
    assert!((40..=80).contains(&on_canary), "about 30 % on the canary: {on_canary} of 200");
}

#[test]
fn the_prober_publishes_verdicts_after_the_thresholds() {
    let (gateway, ports) = setup(&doc("", ""));
    ports.fetch.answer(|url| {
        let status = if url.starts_with("http://eu-west") { 503 } else { 200 };
        Ok(Fetched {
            status: StatusCode::from_u16(status).unwrap(),
            headers: http::HeaderMap::new(),
            body: bytes::Bytes::new(),
        })
    });
    for round in 0..3 {
        let report = pollster::block_on(gateway.probe(&ports)).unwrap();
        assert_eq!(report.probed.len(), 4, "every region is due each interval");
        let published: HealthSnapshot =
            serde_json::from_slice(&ports.kv.value(SNAPSHOT_KEY).unwrap()).unwrap();
        assert_eq!(published.regions["eu-west"].healthy, round < 2, "unhealthy after the third failed probe");
        assert!(published.regions["eu-central"].healthy);
        ports.clock.advance(10_000);
    }
    assert!(ports.fetch.calls("http://eu-west.shield/healthz") == 3);
    // Not due yet: nothing probed.
    assert!(pollster::block_on(gateway.probe(&ports)).unwrap().probed.len() == 4);
    assert!(pollster::block_on(gateway.probe(&ports)).unwrap().probed.is_empty());
    regions_answer(&ports, |_| Ok(200));
    assert_eq!(region(&get(&gateway, &ports)), "eu-central", "the prober's verdict steers traffic");
}

#[test]
fn one_instance_per_interval_wins_the_probe_election() {
    let (_, ports) = setup(&doc("", ""));
    ports.fetch.answer(|_| {
        Ok(Fetched { status: StatusCode::OK, headers: http::HeaderMap::new(), body: bytes::Bytes::new() })
    });
    let won = (0..5)
        .filter(|_| pollster::block_on(Gateway::new().probe_if_elected(&ports)).unwrap().is_some())
        .count();
    assert_eq!(won, 1);
    ports.clock.advance(10_000);
    let won = (0..5)
        .filter(|_| pollster::block_on(Gateway::new().probe_if_elected(&ports)).unwrap().is_some())
        .count();
    assert_eq!(won, 1, "the next interval elects again");
    // While the published snapshot is fresh, instances do not even hold the election.
    let calls = ports.counters.calls();
    ports.clock.advance(1_000);
    assert!(pollster::block_on(Gateway::new().probe_if_elected(&ports)).unwrap().is_none());
    assert_eq!(ports.counters.calls(), calls, "no counter call while no region is due");
}
