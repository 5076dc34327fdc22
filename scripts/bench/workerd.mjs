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
// The gateway is also driven on authenticated routes: a JWT per algorithm (HS256 with an
// inline key, RS256 and ES256 with keys from a demo IdP's JWKS), each with the verified-token
// cache on and off (`cache_verified_tokens: false`), same token on every request.
//
//   node scripts/bench/workerd.mjs [--seconds 10] [--rounds 3] [--connections 32]
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
const routes = {
  settings: { config_ttl_ms: 60000 },
  regions: [{ name: "bench", shield: shieldUrl, lat: 0, lon: 0 }],
  pools: { main: { regions: ["bench"] } },
  auth: { issuers },
  routes: [...authRoutes, { id: "bench", path: "/{*rest}", pool: "main" }],
};
const kv = { "routes/current": "bench", "routes/last-good": "bench", "routes/versions/bench": JSON.stringify(routes) };
fs.writeFileSync(path.join(dir, "kv.mjs"), `const entries = ${JSON.stringify(kv)};
export default {
  async fetch(request) {
    const key = decodeURIComponent(new URL(request.url).pathname.slice(1));
    return key in entries ? new Response(entries[key]) : new Response(null, { status: 404 });
  },
};
`);

const gatewayB = process.env.BENCH_GATEWAY_B;
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
      bindings = [(name = "ROUTES", kvNamespace = "routes-kv")],
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
    (name = "routes-kv", worker = (
      modules = [(name = "kv.mjs", esModule = embed "kv.mjs")],
      compatibilityDate = "2026-04-01")),
    (name = "internet", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [
${Object.entries(ports).map(([name, port]) => `    (name = "${name}", address = "127.0.0.1:${port}", http = (), service = "${name}"),`).join("\n")}
  ],
);
`);

// workerd logs every connection wrk resets at the end of a run: keep that out of the report.
const workerdLog = fs.openSync(path.join(dir, "workerd.log"), "w");
const workerd = spawn(workerdBin, ["serve", path.join(dir, "workerd.capnp"), "--experimental"], { stdio: ["ignore", workerdLog, workerdLog] });
const stopAll = async () => { workerd.kill("SIGTERM"); await shield.stop(); await origin.close(); await idp.close(); };
try {
  const plain = (url) => ({ url: `${url}/bench/item?id=1`, headers: {} });
  const targets = { "shield (no worker)": plain(shieldUrl), ...Object.fromEntries(Object.entries(ports).map(([n, p]) => [n, plain(`http://127.0.0.1:${p}`)])) };
  for (const gateway of ["gateway", ...(gatewayB ? ["gateway-b"] : [])]) {
    for (const { id } of authRoutes) {
      const token = tokens[id.split("-")[0]];
      targets[`${gateway} jwt ${id}`] = { url: `http://127.0.0.1:${ports[gateway]}/${id}/item?id=1`, headers: { authorization: `Bearer ${token}` } };
    }
  }
  for (const [name, { url, headers }] of Object.entries(targets)) {
    const deadline = Date.now() + 20000;
    for (;;) {
      const r = await fetch(url, { headers }).catch(() => null);
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
      console.error(`round ${round} ${name}: ${results[name].at(-1).rps.toFixed(0)} req/s`);
    }
  }
  report(results);
} finally {
  await stopAll();
}

function parseWrk(out) {
  const ms = (s) => (s.endsWith("us") ? parseFloat(s) / 1000 : s.endsWith("ms") ? parseFloat(s) : parseFloat(s) * 1000);
  const pct = (p) => ms(out.match(new RegExp(`^\\s+${p}%\\s+(\\S+)`, "m"))[1]);
  const errors = out.match(/Non-2xx or 3xx responses: (\d+)/)?.[1] ?? "0";
  return { rps: parseFloat(out.match(/Requests\/sec:\s+([\d.]+)/)[1]), p50: pct(50), p99: pct(99), errors: Number(errors) };
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
    console.log(`${r.name.padEnd(27)} ${r.rps.toFixed(0).padStart(6)}   ${r.p50.toFixed(2).padStart(6)}   ${r.p99.toFixed(2).padStart(6)}   ${String(r.errors).padStart(7)}   ${(gateway.rps / r.rps).toFixed(2)}`);
  }
}
