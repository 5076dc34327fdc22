// The shared end-to-end table: one request in, the expected answer out. Every row runs against
// every runtime (workerd and the Spin host) with the same routes, shields and origin.
//
// `expect.origin` checks the JSON the demo origin echoed (what actually crossed the edge and the
// shield); a header expected as `null` must be absent. `expect.byRuntime.<name>` replaces
// fields of `expect` where a runtime's platform behaves differently (each such row says why).

/** The routes document for a test world: `eu`, `us` shields and a region nobody listens on. */
export function routesDocument({ eu, us, dead }) {
  return {
    settings: { config_ttl_ms: 1000, max_request_body_bytes: 2 * 1024 * 1024, max_header_bytes: 8192 },
    regions: [
      { name: "eu-west", shield: eu, lat: 53.35, lon: -6.26 },
      { name: "us-east", shield: us, lat: 38.9, lon: -77.04 },
      { name: "dead", shield: dead, lat: 0, lon: 0 },
    ],
    pools: {
      main: { regions: ["eu-west", "us-east"] },
      failover: { regions: ["dead", "us-east"] },
      broken: { regions: ["dead"] },
    },
    routes: [
      { id: "users", methods: ["GET"], path: "/api/users/{id}", pool: "main", rewrite: "/v2/users/{id}" },
      { id: "api", path: "/api/{*rest}", pool: "main", strip_prefix: "/api" },
      { id: "upload", methods: ["POST", "PUT"], path: "/upload", pool: "main" },
      { id: "slow", path: "/slow", pool: "main", timeouts: { response_ms: 300 } },
      { id: "failover", methods: ["GET"], path: "/failover/{*rest}", pool: "failover", strip_prefix: "/failover" },
      { id: "broken", path: "/broken", pool: "broken", timeouts: { connect_ms: 500, response_ms: 2000 } },
      { id: "tenant", hosts: ["*.tenants.test"], methods: ["GET"], path: "/whoami", pool: "main" },
    ],
  };
}

const MIB = 1024 * 1024;

export const cases = [
  {
    name: "proxies a GET with the path rewritten and forwarding headers set by the gateway",
    request: { path: "/api/users/42?fields=name", headers: { "x-forwarded-for": "6.6.6.6", forwarded: "for=6.6.6.6", "x-request-id": "req-e2e-1" } },
    expect: {
      status: 200,
      headers: { "x-edge-route": "users", "x-request-id": "req-e2e-1", "x-origin-hop": null },
      origin: {
        path: "/v2/users/42",
        query: "?fields=name",
        "headers.x-forwarded-for": (v) => v !== undefined && !v.includes("6.6.6.6"),
        "headers.forwarded": (v) => typeof v === "string" && v.startsWith("for=") && !v.includes("6.6.6.6"),
        "headers.x-forwarded-proto": "http",
        "headers.via": (v) => typeof v === "string" && v.includes("1.1 edge-gateway"),
        "headers.traceparent": (v) => /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/.test(v),
        "headers.x-request-id": "req-e2e-1",
      },
    },
  },
  {
    name: "continues the client's trace with a new parent span",
    request: { path: "/api/trace", headers: { traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", tracestate: "v=1" } },
    expect: {
      status: 200,
      origin: {
        "headers.traceparent": (v) => v.startsWith("00-4bf92f3577b34da6a3ce929d0e0e4736-") && !v.includes("00f067aa0ba902b7"),
        "headers.tracestate": "v=1",
      },
    },
  },
  {
    // Spin main removes `Connection` before the component sees the request, so on Spin the
    // headers it names cannot be known and pass through (tests/spin-host does the same). What
    // holds on both: every header an origin would trust is removed by name, named in
    // `Connection` or not (docs/security.md).
    name: "strips hop-by-hop headers, including those named in Connection where the platform shows it",
    request: { path: "/api/hop", headers: { "x-drop-me": "secret", "x-real-ip": "6.6.6.6", connection: "x-drop-me, x-real-ip" } },
    expect: {
      status: 200,
      headers: { "x-origin-hop": null },
      origin: { "headers.x-drop-me": undefined, "headers.x-real-ip": undefined },
      byRuntime: { spin: { origin: { "headers.x-drop-me": "secret", "headers.x-real-ip": undefined } } },
    },
  },
  {
    name: "strips a route prefix",
    request: { path: "/api/things/a/b" },
    expect: { status: 200, headers: { "x-edge-route": "api" }, origin: { path: "/things/a/b" } },
  },
  {
    name: "matches wildcard hosts",
    request: { path: "/whoami", headers: { host: "acme.tenants.test" } },
    expect: { status: 200, headers: { "x-edge-route": "tenant" }, origin: { "headers.x-forwarded-host": "acme.tenants.test" } },
  },
  {
    name: "streams a 1 MiB request body through intact",
    request: { method: "POST", path: "/upload", body: Buffer.alloc(MIB, 7) },
    expect: { status: 200, origin: { method: "POST", "body.bytes": MIB, "body.checksum": (MIB * 7) % 65521 } },
  },
  {
    name: "streams a large response body back",
    request: { path: "/api/bytes/3000000" },
    expect: { status: 200, bodyBytes: 3000000 },
  },
  {
    name: "unknown path is a 404 problem",
    request: { path: "/nowhere" },
    expect: { status: 404, problem: "route-not-found" },
  },
  {
    name: "wrong method is a 405 problem with Allow",
    request: { method: "DELETE", path: "/upload" },
    expect: { status: 405, problem: "method-not-allowed", headers: { allow: "POST, PUT" } },
  },
  {
    // workerd resolves dot segments while parsing the URL (so the route never sees them: 404);
    // Spin hands the raw target to the gateway, which refuses it (400). Neither reaches /admin.
    name: "percent-encoded dot segments never reach the origin",
    request: { path: "/api/%2e%2e/admin" },
    expect: { status: [400, 404], problem: ["bad-request", "route-not-found"] },
  },
  {
    name: "a body over the limit is a 413 problem",
    request: { method: "POST", path: "/upload", body: Buffer.alloc(3 * MIB, 1) },
    expect: { status: 413, problem: "payload-too-large" },
  },
  {
    name: "oversized headers are a 431 problem",
    request: { path: "/api/x", headers: { "x-big": "b".repeat(9000) } },
    expect: { status: 431, problem: "headers-too-large" },
  },
  {
    name: "a request that already passed the gateway is a 508 problem",
    request: { path: "/api/x", headers: { via: "1.1 edge-gateway" } },
    expect: { status: 508, problem: "loop-detected" },
  },
  {
    name: "an upstream slower than the route's timeout is a 504 problem",
    request: { path: "/slow?ms=3000" },
    expect: { status: 504, problem: "upstream-timeout" },
  },
  {
    // Spin reports a refused connection as such; workerd only says "Network connection lost",
    // which the gateway may not assume happened before the request was sent.
    name: "an unreachable region is a 502 problem",
    request: { path: "/broken" },
    expect: { status: 502, problem: ["upstream-unreachable", "upstream-protocol-error"] },
  },
  {
    name: "fails over to the next region when the first is unreachable",
    request: { path: "/failover/ping" },
    expect: { status: 200, headers: { "x-edge-region": "us-east" }, origin: { path: "/ping" } },
  },
  {
    name: "a shield's error status is passed through",
    request: { path: "/api/status/418" },
    expect: { status: 418 },
  },
];
