// Throughput of the gateway under workerd, side by side with its baselines, in one run.
//
// One `workerd serve` process hosts four workers on their own sockets:
//   gateway         the real Worker (edge-gateway/workers, worker-build output), routes from KV
//   rs-passthrough  the thinnest workers-rs proxy (scripts/bench/passthrough-worker)
//   js-passthrough  a plain JavaScript proxy
//   routes-kv       a KV service holding the routes (workerd's KV binding speaks HTTP to it)
// All of them forward to the same origin shield in front of the same demo origin. wrk drives
// each in turn, rounds interleaved; medians are reported with p50/p99 and ratios.
//
// Rate limits: the same route with an exact limit that is never exceeded ("gateway limited",
// `/limited/…`: one global counter, a RateLimiter Durable Object in the same workerd) against the
// route without limits ("gateway"), reported as a ratio, and the object's own count of calls per
// request (read from its `GET /stats` through a small `limiter-stats` worker). "gateway
// approximate" (`/approx/…`) is the same route with an approximate limit never exceeded: each
// request counted in the isolate, its share written to and listed from the routes KV at most
// once a second (the KV service below keeps what is put, with metadata, and lists prefixes).
//
// The gateway is also driven on authenticated routes: a JWT per algorithm (HS256 with an
// inline key, RS256 and ES256 with keys from a demo IdP's JWKS), each with the verified-token
// cache on and off (`cache_verified_tokens: false`), same token on every request.
//
//   node scripts/bench/workerd.mjs [--seconds 10] [--rounds 3] [--connections 32] [--only "gateway,gateway limited,gateway approximate,gateway geo"]
//
// `--only` keeps the named targets (comma-separated), e.g. `--only "gateway,gateway limited"`.
//
// A/B: with BENCH_GATEWAY_B=<dir> (a copy of edge-gateway/workers holding entry.mjs and build/
// of another build of the gateway), that build runs as a fifth worker, "gateway-b", in the same
// workerd and the same rounds.
import { execFile, spawn } from "node:child_process";
import { promisify } from "node:util";
import fs from "node:fs";
import path from "node:path";
import crypto from "node:crypto";
import { startIdp } from "../../tests/e2e/lib/idp.mjs";
import { startOrigin } from "../../tests/e2e/lib/origin.mjs";
import { freePort, root, startProcess } from "../../tests/e2e/lib/procs.mjs";

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const seconds = arg("seconds", 10), rounds = arg("rounds", 3), connections = arg("connections", 32);
const only = process.argv.includes("--only") ? process.argv[process.argv.indexOf("--only") + 1].split(",") : null;
const target = process.env.CARGO_TARGET_DIR ?? path.join(root, "target");
const shieldBin = process.env.BENCH_SHIELD_BIN ?? path.join(target, "native-release/origin-shield");
const workerdBin = path.join(root, "node_modules/@cloudflare/workerd-linux-64/bin/workerd");
const dir = path.join(root, ".dev/bench");
fs.mkdirSync(dir, { recursive: true });

const origin = await startOrigin({ name: "bench-origin" });
const shieldPort = await freePort();
const shield = await startProcess(shieldBin, ["--listen", `127.0.0.1:${shieldPort}`, "--region", "bench", "--origin", origin.url], { ready: /listening on/ });
const shieldUrl = `http://127.0.0.1:${shieldPort}`;

const idp = await startIdp({ maxAge: 3600 });
const hsSecret = crypto.randomBytes(32);
const signHs256 = (claims) => {
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const input = `${b64({ alg: "HS256", kid: "hs-1" })}.${b64(claims)}`;
  return `${input}.${crypto.createHmac("sha256", hsSecret).update(input).digest("base64url")}`;
};
const now = Math.floor(Date.now() / 1000);
const claims = { sub: "bench", aud: "bench", scope: "read", iat: now, exp: now + 7200 };
const tokens = {
  hs: signHs256({ iss: idp.issuer, ...claims }),
  rs: idp.sign(claims, { alg: "RS256" }),
  es: idp.sign(claims, { alg: "ES256" }),
};
const issuer = (algorithms, cache, keys) => ({
  issuer: idp.issuer, audiences: ["bench"], algorithms, cache_verified_tokens: cache, ...keys,
});
const hsKeys = { jwks: { keys: [{ kty: "oct", kid: "hs-1", k: hsSecret.toString("base64url") }] } };
const authRoutes = [];
const issuers = {};
for (const [alg, name, keys] of [["HS256", "hs", hsKeys], ["RS256", "rs", { jwks_uri: idp.jwksUri }], ["ES256", "es", { jwks_uri: idp.jwksUri }]]) {
  for (const cache of [true, false]) {
    const id = `${name}${cache ? "" : "-nocache"}`;
    issuers[id] = issuer([alg], cache, keys);
    authRoutes.push({ id, path: `/${id}/{*rest}`, pool: "main", auth: { jwt: [id] } });
  }
}
// An exact limit far above what the run sends: every request is admitted, and every one is
// counted through the leases of one global counter.
const LIMITED_KEY = "bench-exact|global";
const routes = {
  // A default client position, so the geo pool is ordered by distance on every request.
  settings: { config_ttl_ms: 60000, rate_limit_deadline_ms: 1000, client_location: { default: { lat: 48.8, lon: 2.3 } } },
  // "gateway geo": three regions (one shield behind all three names) chosen by distance and
  // health on every request, against the one-region pool of "gateway".
  regions: [
    { name: "bench", shield: shieldUrl, lat: 0, lon: 0 },
    { name: "geo-a", shield: shieldUrl, lat: 53.3, lon: -6.3, continent: "EU" },
    { name: "geo-b", shield: shieldUrl, lat: 50.1, lon: 8.7, continent: "EU" },
    { name: "geo-c", shield: shieldUrl, lat: 38.9, lon: -77.0, continent: "NA", tier: "backup" },
  ],
  pools: { main: { regions: ["bench"] }, geo: { regions: ["geo-a", "geo-b", "geo-c"] } },
  auth: { issuers },
  rate_limits: {
    "bench-exact": { limit: 1000000000, period_s: 60, key: ["global"], mode: "exact", on_store_error: "fail_closed" },
    "bench-approx": { limit: 1000000000, period_s: 60, key: ["global"], mode: "approximate" },
  },
  routes: [
    ...authRoutes,
    { id: "limited", path: "/limited/{*rest}", pool: "main", rate_limit: ["bench-exact"] },
    { id: "approx", path: "/approx/{*rest}", pool: "main", rate_limit: ["bench-approx"] },
    { id: "geo", path: "/geo/{*rest}", pool: "geo", residency: { continents: ["EU", "NA"] } },
    { id: "bench", path: "/{*rest}", pool: "main" },
  ],
};
const kv = { "routes/current": "bench", "routes/last-good": "bench", "routes/versions/bench": JSON.stringify(routes) };
// workerd's KV wire: GET/PUT /<key> (metadata in CF-KV-Metadata), GET /?prefix= lists.
fs.writeFileSync(path.join(dir, "kv.mjs"), `const entries = ${JSON.stringify(kv)};
const metadata = {};
export default {
  async fetch(request) {
    const url = new URL(request.url);
    const key = decodeURIComponent(url.pathname.slice(1));
    if (request.method === "PUT") {
      entries[key] = await request.text();
      metadata[key] = request.headers.get("cf-kv-metadata") ?? undefined;
      return new Response();
    }
    if (key === "") {
      const prefix = url.searchParams.get("prefix") ?? "";
      const keys = Object.keys(entries).filter((k) => k.startsWith(prefix)).sort()
        .map((name) => ({ name, metadata: metadata[name] }));
      return Response.json({ keys, list_complete: true, cacheStatus: null });
    }
    return key in entries ? new Response(entries[key]) : new Response(null, { status: 404 });
  },
};
`);
fs.writeFileSync(path.join(dir, "limiter-stats.mjs"), `export default {
  async fetch(request, env) {
    const key = new URL(request.url).searchParams.get("key");
    return env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(key)).fetch("http://limiter/stats");
  },
};
`);

fs.rmSync(path.join(dir, "durable-objects"), { recursive: true, force: true });
fs.mkdirSync(path.join(dir, "durable-objects"));

const gatewayB = process.env.BENCH_GATEWAY_B;
const statsPort = await freePort();
const ports = { gateway: await freePort(), ...(gatewayB ? { "gateway-b": await freePort() } : {}), "rs-passthrough": await freePort(), "js-passthrough": await freePort() };
const rel = (p) => path.relative(dir, path.join(root, p));
const gw = "edge-gateway/workers";
const rs = "scripts/bench/passthrough-worker";
const gatewayWorker = (name, dirRel) => `    (name = "${name}", worker = (
      modules = [
        (name = "entry.mjs", esModule = embed "${rel(`${dirRel}/entry.mjs`)}"),
        (name = "build/index.js", esModule = embed "${rel(`${dirRel}/build/index.js`)}"),
        (name = "build/index_bg.wasm", wasm = embed "${rel(`${dirRel}/build/index_bg.wasm`)}"),
      ],
      compatibilityDate = "2026-04-01",
      bindings = [
        (name = "ROUTES", kvNamespace = "routes-kv"),
        (name = "RATE_LIMITER", durableObjectNamespace = (className = "RateLimiter")),
      ],
      durableObjectNamespaces = [(className = "RateLimiter", uniqueKey = "${name}-rate-limiter", enableSql = true)],
      durableObjectStorage = (localDisk = "durable-objects"),
      globalOutbound = "internet")),`;
fs.writeFileSync(path.join(dir, "workerd.capnp"), `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
${gatewayWorker("gateway", gw)}
${gatewayB ? gatewayWorker("gateway-b", path.relative(root, path.resolve(gatewayB))) + "\n" : ""}    (name = "rs-passthrough", worker = (
      modules = [
        (name = "build/index.js", esModule = embed "${rel(`${rs}/build/index.js`)}"),
        (name = "build/index_bg.wasm", wasm = embed "${rel(`${rs}/build/index_bg.wasm`)}"),
      ],
      compatibilityDate = "2026-04-01",
      bindings = [(name = "UPSTREAM", text = "${shieldUrl}")],
      globalOutbound = "internet")),
    (name = "js-passthrough", worker = (
      modules = [(name = "main.mjs", esModule = embed "${rel("scripts/bench/js-passthrough.mjs")}")],
      compatibilityDate = "2026-04-01",
      bindings = [(name = "UPSTREAM", text = "${shieldUrl}")],
      globalOutbound = "internet")),
    (name = "limiter-stats", worker = (
      modules = [(name = "limiter-stats.mjs", esModule = embed "limiter-stats.mjs")],
      compatibilityDate = "2026-04-01",
      bindings = [(name = "RATE_LIMITER", durableObjectNamespace = (className = "RateLimiter", serviceName = "gateway"))])),
    (name = "routes-kv", worker = (
      modules = [(name = "kv.mjs", esModule = embed "kv.mjs")],
      compatibilityDate = "2026-04-01")),
    (name = "internet", network = (allow = ["public", "private", "local"])),
    # workerd's inMemory storage loses an object's data when the idle object is evicted; on disk
    # it survives, as on Cloudflare.
    (name = "durable-objects", disk = (path = "${path.join(dir, "durable-objects")}", writable = true)),
  ],
  sockets = [
${Object.entries(ports).map(([name, port]) => `    (name = "${name}", address = "127.0.0.1:${port}", http = (), service = "${name}"),`).join("\n")}
    (name = "limiter-stats", address = "127.0.0.1:${statsPort}", http = (), service = "limiter-stats"),
  ],
);
`);

// workerd logs every connection wrk resets at the end of a run: keep that out of the report.
const workerdLog = fs.openSync(path.join(dir, "workerd.log"), "w");
const workerd = spawn(workerdBin, ["serve", path.join(dir, "workerd.capnp"), "--experimental"], { stdio: ["ignore", workerdLog, workerdLog] });
const stopAll = async () => { workerd.kill("SIGTERM"); await shield.stop(); await origin.close(); await idp.close(); };
try {
  const plain = (url) => ({ url: `${url}/bench/item?id=1`, headers: {} });
  const targets = { "shield (no worker)": plain(shieldUrl) };
  for (const [name, port] of Object.entries(ports)) {
    targets[name] = plain(`http://127.0.0.1:${port}`);
    // Right after the same route without limits, so both run under the same load.
    if (name === "gateway") targets["gateway limited"] = plain(`http://127.0.0.1:${port}/limited`);
    if (name === "gateway") targets["gateway approximate"] = plain(`http://127.0.0.1:${port}/approx`);
    if (name === "gateway") targets["gateway geo"] = plain(`http://127.0.0.1:${port}/geo`);
  }
  for (const gateway of ["gateway", ...(gatewayB ? ["gateway-b"] : [])]) {
    for (const { id } of authRoutes) {
      const token = tokens[id.split("-")[0]];
      targets[`${gateway} jwt ${id}`] = { url: `http://127.0.0.1:${ports[gateway]}/${id}/item?id=1`, headers: { authorization: `Bearer ${token}` } };
    }
  }
  for (const name of Object.keys(targets)) {
    if (only && !only.includes(name)) delete targets[name];
  }
  let sentLimited = 0; // requests to "gateway limited", warm-up included
  for (const [name, { url, headers }] of Object.entries(targets)) {
    const deadline = Date.now() + 20000;
    for (;;) {
      const r = await fetch(url, { headers }).catch(() => null);
      if (name === "gateway limited" && r) sentLimited += 1;
      if (name === "gateway limited" || name === "gateway approximate") {
        if (r?.status === 200 && !r.headers.get("ratelimit")) throw new Error(`${name} answered without RateLimit fields`);
      }
      if (r?.status === 200) break;
      if (Date.now() > deadline) throw new Error(`${name} did not answer 200 at ${url}: ${r?.status} ${await r?.text()}`);
      await new Promise((res) => setTimeout(res, 200));
    }
  }
  const results = Object.fromEntries(Object.keys(targets).map((n) => [n, []]));
  for (let round = 1; round <= rounds; round++) {
    for (const [name, { url, headers }] of Object.entries(targets)) {
      const headerArgs = Object.entries(headers).flatMap(([k, v]) => ["-H", `${k}: ${v}`]);
      // Async: the demo origin runs in this process and must keep serving while wrk runs.
      const { stdout: out } = await promisify(execFile)("wrk", ["-t1", `-c${connections}`, `-d${seconds}s`, "--latency", ...headerArgs, url]);
      results[name].push(parseWrk(out));
      if (name === "gateway limited") sentLimited += results[name].at(-1).requests;
      console.error(`round ${round} ${name}: ${results[name].at(-1).rps.toFixed(0)} req/s`);
    }
  }
  report(results);
  if (targets["gateway limited"]) {
    const stats = await (await fetch(`http://127.0.0.1:${statsPort}/?key=${encodeURIComponent(LIMITED_KEY)}`)).json();
    console.error(`limiter stats: ${JSON.stringify(stats)}`);
    reportLimited(results, stats.calls, sentLimited);
  }
  if (targets["gateway approximate"]) reportApproximate(results);
  if (targets["gateway geo"] && results.gateway) {
    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const rps = (name) => median(results[name].map((r) => r.rps));
    console.log(`\ngeo + health selection over three regions (residency, distance, tiers) vs a one-region pool`);
    console.log(`  throughput geo/single: ${(rps("gateway geo") / rps("gateway")).toFixed(2)}  (${rps("gateway geo").toFixed(0)} vs ${rps("gateway").toFixed(0)} req/s)`);
  }
} finally {
  await stopAll();
}

function parseWrk(out) {
  const ms = (s) => (s.endsWith("us") ? parseFloat(s) / 1000 : s.endsWith("ms") ? parseFloat(s) : parseFloat(s) * 1000);
  const pct = (p) => ms(out.match(new RegExp(`^\\s+${p}%\\s+(\\S+)`, "m"))[1]);
  const errors = out.match(/Non-2xx or 3xx responses: (\d+)/)?.[1] ?? "0";
  const requests = Number(out.match(/(\d+) requests in/)[1]);
  return { rps: parseFloat(out.match(/Requests\/sec:\s+([\d.]+)/)[1]), p50: pct(50), p99: pct(99), errors: Number(errors), requests };
}

function report(results) {
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const rows = Object.entries(results).map(([name, runs]) => ({
    name,
    rps: median(runs.map((r) => r.rps)),
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    errors: runs.reduce((a, r) => a + r.errors, 0),
  }));
  const gateway = rows.find((r) => r.name === "gateway");
  console.log(`\nwrk -t1 -c${connections}, ${rounds} × ${seconds}s rounds interleaved, medians; all through one origin shield to one origin`);
  console.log("target                      req/s     p50 ms   p99 ms   non-2xx   gateway/this");
  for (const r of rows) {
    console.log(`${r.name.padEnd(27)} ${r.rps.toFixed(0).padStart(6)}   ${r.p50.toFixed(2).padStart(6)}   ${r.p99.toFixed(2).padStart(6)}   ${String(r.errors).padStart(7)}   ${gateway ? (gateway.rps / r.rps).toFixed(2) : "-"}`);
  }
}

/** The exact limit's cost: limited/unlimited throughput of the same route, and object calls. */
function reportLimited(results, calls, sent) {
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const rps = (name) => median(results[name].map((r) => r.rps));
  const p99 = (name) => median(results[name].map((r) => r.p99));
  const limited = "gateway limited";
  console.log(`\nexact rate limit never exceeded (one global counter, a Durable Object) vs the same route without limits`);
  if (results.gateway) {
    console.log(`  throughput limited/unlimited: ${(rps(limited) / rps("gateway")).toFixed(2)}  (${rps(limited).toFixed(0)} vs ${rps("gateway").toFixed(0)} req/s; target >= 0.9)`);
    console.log(`  p99 limited/unlimited:        ${p99(limited).toFixed(2)} vs ${p99("gateway").toFixed(2)} ms`);
  }
  console.log(`  object calls per request:     ${(calls / sent).toFixed(4)}  (${calls} calls for ${sent} requests; target <= 0.1)`);
  const refused = results[limited].reduce((a, r) => a + r.errors, 0);
  if (refused > 0) console.log(`  WARNING: ${refused} non-2xx answers on the limited route`);
}

/** The approximate limit's cost: approximate/unlimited throughput of the same route. */
function reportApproximate(results) {
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const rps = (name) => median(results[name].map((r) => r.rps));
  const p99 = (name) => median(results[name].map((r) => r.p99));
  const approx = "gateway approximate";
  console.log(`\napproximate rate limit never exceeded (shares through the routes KV) vs the same route without limits`);
  if (results.gateway) {
    console.log(`  throughput approximate/unlimited: ${(rps(approx) / rps("gateway")).toFixed(2)}  (${rps(approx).toFixed(0)} vs ${rps("gateway").toFixed(0)} req/s)`);
    console.log(`  p99 approximate/unlimited:        ${p99(approx).toFixed(2)} vs ${p99("gateway").toFixed(2)} ms`);
  }
  const refused = results[approx].reduce((a, r) => a + r.errors, 0);
  if (refused > 0) console.log(`  WARNING: ${refused} non-2xx answers on the approximate route`);
}
