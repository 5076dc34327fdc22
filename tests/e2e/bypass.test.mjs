// The end-to-end bypass table (issue 9): every known way around a protected route, on both
// runtimes, through a real origin shield. A row passes only when the protected upstream path is
// never reached without credentials and nothing cached for one identity or route is served to
// another. The same rows run natively over the core in edge-gateway/core/tests/bypass.rs.
//
// Where the runtimes differ, the row says so: workerd parses the target as a WHATWG URL first
// (`\` becomes `/`, dot segments are resolved, `post` becomes `POST`), so some bypasses arrive at
// the gateway as the protected path itself (401 there); the Spin host hands the raw target over,
// which the gateway refuses (400). Either way the origin never sees the protected path.
//
//   E2E_RUNTIMES=workerd,spin (default both)   node --test tests/e2e/bypass.test.mjs
import { after, afterEach, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";

import { startOrigin } from "./lib/origin.mjs";
import { root, startShield } from "./lib/procs.mjs";
import { rawRequest } from "./lib/raw.mjs";
import { startSpin } from "./lib/spin.mjs";
import { publish, untilServed } from "./lib/routes.mjs";
import { startWorkers } from "./lib/workers.mjs";

const runtimes = { workerd: startWorkers, spin: startSpin };
const selected = (process.env.E2E_RUNTIMES ?? "workerd,spin").split(",").map((s) => s.trim()).filter(Boolean);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sha256 = (text) => crypto.createHash("sha256").update(text).digest("hex");
const MIB = 1024 * 1024;
const PROBE = "/__shield-probe";
/** What the origin saw from the gateway since `from` (the shield's own probes left out). */
const forwardedSince = (from) => world.origin.seen().slice(from).filter((r) => r.target !== PROBE);
const KEYS = { alice: `egk_${crypto.randomBytes(16).toString("hex")}`, bob: `egk_${crypto.randomBytes(16).toString("hex")}` };

function routes(shield, origin) {
  return {
    settings: { config_ttl_ms: 1000, max_request_body_bytes: MIB },
    regions: [
      { name: "shielded", shield, lat: 0, lon: 0 },
      { name: "direct", shield: origin, lat: 0, lon: 0 },
    ],
    pools: { p: { regions: ["shielded"] }, other: { regions: ["direct"] } },
    routes: [
      { id: "public", path: "/public/{*rest}", pool: "p" },
      { id: "admin", path: "/admin/{*rest}", pool: "p",
        auth: { api_key: true, rules: [{ methods: ["POST"], scopes: ["admin:write"] }] } },
      { id: "open", path: "/{*rest}", pool: "p" },
      { id: "pub", path: "/pub/{*rest}", pool: "other", strip_prefix: "/pub" },
      { id: "rw", path: "/rw/{*rest}", pool: "other", rewrite: "/x/{rest}" },
    ],
    auth: { api_keys: { header: "x-api-key", query: "api_key", cache_ttl_ms: 1000 } },
  };
}

/** The shipped example, pointed at this test's shield. */
function example(shield) {
  const doc = JSON.parse(fs.readFileSync(path.join(root, "config/routes.example.json"), "utf8"));
  for (const region of doc.regions) region.shield = shield;
  return doc;
}

/** Sends `method target` over a bare socket: Node's client upper-cases methods itself. */
function socketRequest(base, method, target, headers) {
  const url = new URL(base);
  const lines = [`${method} ${target} HTTP/1.1`, `host: ${url.host}`, "connection: close",
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), "", ""];
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname, () => socket.write(lines.join("\r\n")));
    let text = "";
    socket.on("data", (d) => { text += d; });
    socket.on("end", () => resolve(Number(text.split(" ")[1])));
    socket.on("error", reject);
  });
}

// (name, method, raw target, headers, statuses allowed on [workerd, spin])
const pathRows = [
  ["1 backslash dot-segment", "GET", "/public/..\\admin/x", {}, [[401], [400]]],
  ["1 backslash through strip_prefix", "GET", "/pub/..\\admin/x", {}, [[401], [400]]],
  ["1 backslash through rewrite", "GET", "/rw/..\\admin/x", {}, [[401], [400]]],
  ["1 encoded backslash", "GET", "/public/..%5cadmin/x", {}, [[400], [400]]],
  ["1 encoded dots", "GET", "/public/%2e%2e/admin/x", {}, [[401], [400]]],
  ["1 mixed dots", "GET", "/public/.%2E/admin/x", {}, [[401], [400]]],
  ["1 double-encoded dots", "GET", "/public/%252e%252e/admin/x", {}, [[400], [400]]],
  ["1 encoded slash", "GET", "/public/..%2fadmin/x", {}, [[400], [400]]],
  ["1 NUL", "GET", "/admin%00/x", {}, [[400], [400]]],
  ["1 path parameter", "GET", "/admin;x/y", {}, [[400], [400]]],
  ["2 encoded alias", "GET", "/%61dmin/x", {}, [[401], [401]]],
  ["2 merged slashes", "GET", "//admin/x", {}, [[401], [401]]],
  ["3 prefix base", "GET", "/admin", {}, [[401], [401]]],
  ["3 prefix base with slash", "GET", "/admin/", {}, [[401], [401]]],
  // workerd refuses a method it does not know itself (501); the gateway refuses it on Spin.
  ["5 lower-case method", "post", "/admin/x", { "x-api-key": "alice" }, [[501], [400]]],
  ["5 POST needs the scope", "POST", "/admin/x", { "x-api-key": "alice" }, [[403], [403]]],
  ["7 duplicate API keys", "GET", "/admin/x", { "x-api-key": ["alice", "bob"] }, [[401], [401]]],
  ["7 key in header and query", "GET", "/admin/x?api_key=bob", { "x-api-key": "alice" }, [[401], [401]]],
  // The gateway's own admin API (no secret configured here): every spelling of its path is the
  // API (404), never routed to the origin by the catch-all.
  ["8 admin API", "GET", "/__gateway/admin/routes", { authorization: "Bearer guess" }, [[404], [404]]],
  ["8 admin API, encoded alias", "GET", "/__gateway/%61dmin/routes", {}, [[404], [404]]],
  ["8 admin API, merged slashes", "GET", "//__gateway//admin/status", {}, [[404], [404]]],
  ["8 admin API, base", "GET", "/__gateway/admin", {}, [[404], [404]]],
];

const world = {};
before(async () => {
  world.origin = await startOrigin({ name: "bypass-origin" });
  // The shield's health probe is sent to its own path, so that "nothing reached the origin"
  // counts only what the gateway forwarded.
  world.shield = await startShield("shielded", world.origin.url, { args: ["--health-check-path", PROBE] });
});
after(async () => {
  await world.shield?.stop();
  await world.origin?.close();
});

for (const name of selected) {
  describe(`bypass table on ${name}`, () => {
    let gw;
    let passed = 0;
    const index = name === "workerd" ? 0 : 1;
    afterEach((t) => { if (!t.error) passed += 1; });
    before(async () => {
      gw = await runtimes[name]();
      for (const [who, key] of Object.entries(KEYS)) {
        const record = { key_sha256: sha256(key), id: `k_${who}`, tenant: who, scopes: ["read"], status: "active", description: "e2e" };
        await gw.put(`apikeys/${sha256(key)}`, JSON.stringify(record));
      }
      await publish(gw, "bypass-1", routes(world.shield.url, world.origin.url));
      await untilServed(gw, "/public/ready");
    });
    after(async () => {
      await gw?.close();
      console.log(`e2e: bypass table on ${name}: ${passed} tests passed`);
    });

    const withKeys = (headers) => Object.fromEntries(Object.entries(headers).map(([k, v]) =>
      [k, k === "x-api-key" ? [v].flat().map((who) => KEYS[who]) : v]));
    const raw = (method, target, headers = {}) => rawRequest(gw.url, target.replace("api_key=bob", `api_key=${KEYS.bob}`),
      { method, headers: withKeys(headers) });
    const echo = async (response) => JSON.parse(response.body.toString());

    for (const [finding, method, target, headers, allowed] of pathRows) {
      it(`finding ${finding}: ${method} ${target} never reaches the origin's /admin or the gateway's admin API`, async () => {
        const before = world.origin.seen().length;
        let status;
        if (method === method.toUpperCase()) {
          const response = await raw(method, target, headers);
          status = response.status;
          assert.equal(response.headers.get("content-type"), "application/problem+json");
        } else {
          status = await socketRequest(gw.url, method, target, withKeys(headers));
        }
        const newly = forwardedSince(before);
        assert.ok(allowed[index].includes(status), `status ${status}, allowed ${allowed[index]}`);
        assert.deepEqual(newly, [], "refused at the edge: nothing reached the shield or the origin");
      });
    }

    it("finding 5: TRACE is never forwarded", async () => {
      const before = world.origin.seen().length;
      const response = await raw("TRACE", "/public/x");
      assert.ok(response.status >= 400, `status ${response.status}`);
      assert.ok(!forwardedSince(before).some((r) => r.method === "TRACE"));
    });

    it("control: a valid key opens the prefix, its base and the encoded alias", async () => {
      for (const [target, upstream] of [["/admin/x", "/admin/x"], ["/admin", "/admin"], ["/%61dmin/y", "/admin/y"]]) {
        const response = await raw("GET", target, { "x-api-key": "alice" });
        assert.equal(response.status, 200, target);
        const seen = await echo(response);
        assert.equal(seen.path, upstream);
        assert.equal(seen.headers["x-auth-subject"], "apikey:k_alice");
        assert.equal(seen.headers["x-api-key"], undefined, "the plain key never reaches the origin");
        assert.equal(seen.headers["x-edge-cache-scope"], undefined, "the shield keeps its scope header");
      }
    });

    it("findings 5-7: spoofable headers never reach the origin, in any spelling", async () => {
      const spoofed = {
        "x-auth-subject": "root", x_auth_subject: "root", X_Auth_Tenant: "victim", "x-auth-scopes": "admin:write",
        "x-http-method-override": "DELETE", x_http_method_override: "DELETE", "x-method-override": "DELETE",
        "x-original-url": "/admin/x", "x-rewrite-url": "/admin/x", "true-client-ip": "6.6.6.6",
        x_forwarded_for: "6.6.6.6", "x-real-ip": "6.6.6.6", "x-edge-cache-scope": "route=admin; auth=1",
        "cf-connecting-ip": "6.6.6.6", "x-api-key": "alice", x_api_key: "leaked",
      };
      const response = await raw("GET", `/public/echo?api_key=leaked&q=1`, spoofed);
      assert.equal(response.status, 200);
      const seen = await echo(response);
      assert.equal(seen.query, "?q=1", "an API key in the query never leaves the edge");
      for (const header of Object.keys(spoofed)) {
        assert.equal(seen.headers[header.toLowerCase()], undefined, `${header} reached the origin`);
      }
      assert.equal(seen.method, "GET");
      // Local Miniflare keeps a client-sent CF-Connecting-IP (production Cloudflare replaces it,
      // see docs/security.md); the Spin host's address is the socket's.
      if (name === "spin") assert.equal(seen.headers["x-forwarded-for"], "127.0.0.1");
      else assert.ok(!String(seen.headers["x-forwarded-for"]).includes(","), "one address, never a client chain");
    });

    it("finding 7: a chunked body over the limit is refused with 413 and not forwarded", async () => {
      const before = world.origin.seen().length;
      const status = await new Promise((resolve, reject) => {
        const url = new URL(gw.url);
        const req = http.request({ host: url.hostname, port: url.port, method: "POST", path: "/public/upload", agent: false },
          (res) => { res.resume(); res.on("end", () => resolve(res.statusCode)); });
        req.on("error", (e) => (e.code === "EPIPE" || e.code === "ECONNRESET" ? resolve("reset") : reject(e)));
        const chunk = Buffer.alloc(64 * 1024, 1);
        let sent = 0;
        const pump = () => {
          while (sent < 3 * MIB) {
            sent += chunk.length;
            if (!req.write(chunk)) return req.once("drain", pump);
          }
          req.end();
        };
        pump();
      });
      assert.ok(status === 413 || status === "reset", `status ${status}`);
      const forwarded = forwardedSince(before).filter((r) => r.target === "/public/upload");
      assert.equal(forwarded.length, 0, "no part of it reached the origin");
    });

    it("finding 2: the shield never serves an authenticated answer to another identity unless public", async () => {
      const tag = `${name}-${Date.now()}`;
      const privatePath = `/admin/cache/${tag}-private?cc=max-age=60`;
      const a = await raw("GET", privatePath, { "x-api-key": "alice" });
      assert.equal(a.status, 200);
      const b = await raw("GET", privatePath, { "x-api-key": "bob" });
      assert.equal(b.status, 200);
      assert.equal(world.origin.count(`/admin/cache/${tag}-private`), 2, "bob's answer came from the origin");
      const publicPath = `/admin/cache/${tag}-public?cc=public,max-age=60`;
      await raw("GET", publicPath, { "x-api-key": "alice" });
      const shared = await raw("GET", publicPath, { "x-api-key": "bob" });
      assert.equal(shared.status, 200);
      assert.equal(world.origin.count(`/admin/cache/${tag}-public`), 1, "marked public: shared within the route");
    });

    it("finding 2: an encoded alias neither reads nor poisons the protected entry", async () => {
      const tag = `${name}-${Date.now()}`;
      const filled = await raw("GET", `/admin/cache/${tag}?cc=public,max-age=60`, { "x-api-key": "alice" });
      assert.equal(filled.status, 200);
      const alias = await raw("GET", `/%61dmin/cache/${tag}?cc=public,max-age=60`);
      assert.equal(alias.status, 401, "the alias is the protected route");
      assert.ok(!alias.body.toString().includes(`/admin/cache/${tag}`));
      const poison = `/%61dmin/cache/${tag}-p?cc=public,max-age=60`;
      assert.equal((await raw("GET", poison)).status, 401);
      const fresh = await raw("GET", `/admin/cache/${tag}-p?cc=public,max-age=60`, { "x-api-key": "alice" });
      assert.equal(fresh.status, 200);
      assert.match(fresh.body.toString(), /#1 /, "filled by the authenticated request itself");
    });

    it("finding 4: the shipped example config is closed", async () => {
      await gw.put("routes/versions/example", JSON.stringify(example(world.shield.url)));
      await gw.put("routes/current", "example");
      const deadline = Date.now() + 8000;
      let probe;
      do {
        await sleep(300);
        probe = await raw("GET", "/api/orders/1");
      } while (probe.headers.get("x-edge-route") !== "api-catch-all" && Date.now() < deadline);
      assert.equal(probe.status, 200);
      assert.equal((await echo(probe)).path, "/api/orders/1", "the catch-all no longer strips /api into /orders");
      for (const target of ["/orders/1", "/orders", "/orders/", "/%6frders/1"]) {
        const response = await raw("GET", target);
        assert.equal(response.status, 401, target);
      }
      await gw.put("routes/current", "bypass-1");
    });
  });
}
