// Edge cache hit vs miss under workerd, in one run: the Worker under Miniflare (which provides
// `caches.default`; a bare `workerd serve` has no cache service), one route cached at the edge
// (`cache.ttl_s`) and one forwarded on every request, both to the same demo origin.
//
//   node scripts/bench/edge-cache.mjs [--seconds 10] [--rounds 3] [--connections 32]
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { startOrigin } from "../../tests/e2e/lib/origin.mjs";
import { startWorkers } from "../../tests/e2e/lib/workers.mjs";

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const seconds = arg("seconds", 10), rounds = arg("rounds", 3), connections = arg("connections", 32);

const origin = await startOrigin({ name: "bench-origin" });
const gw = await startWorkers();
const routes = {
  settings: { config_ttl_ms: 60000 },
  regions: [{ name: "r", shield: origin.url, lat: 0, lon: 0 }],
  pools: { p: { regions: ["r"] } },
  routes: [
    { id: "hit", path: "/hit/{*rest}", pool: "p", cache: { ttl_s: 3600 } },
    { id: "miss", path: "/miss/{*rest}", pool: "p" },
  ],
};
await gw.put("routes/versions/b", JSON.stringify(routes));
await gw.put("routes/current", "b");
await gw.put("routes/last-good", "b");
const targets = { "edge hit": `${gw.url}/hit/item`, "edge miss (forward)": `${gw.url}/miss/item` };
try {
  await new Promise((r) => setTimeout(r, 1500));
  for (let i = 0; i < 5; i++) await (await fetch(targets["edge hit"])).text();
  const status = (await fetch(targets["edge hit"])).headers.get("cache-status");
  if (!/edge-gateway; hit/.test(status ?? "")) throw new Error(`warm-up did not produce a hit: ${status}`);
  const results = Object.fromEntries(Object.keys(targets).map((n) => [n, []]));
  for (let round = 1; round <= rounds; round++) {
    for (const [name, url] of Object.entries(targets)) {
      const { stdout } = await promisify(execFile)("wrk", ["-t1", `-c${connections}`, `-d${seconds}s`, "--latency", url]);
      const ms = (s) => (s.endsWith("us") ? parseFloat(s) / 1000 : s.endsWith("ms") ? parseFloat(s) : parseFloat(s) * 1000);
      const p = (q) => ms(stdout.match(new RegExp(`^\\s+${q}%\\s+(\\S+)`, "m"))[1]);
      results[name].push({ rps: parseFloat(stdout.match(/Requests\/sec:\s+([\d.]+)/)[1]), p50: p(50), p99: p(99) });
      console.error(`round ${round} ${name}: ${results[name].at(-1).rps.toFixed(0)} req/s`);
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(`\nwrk -t1 -c${connections}, ${rounds} × ${seconds}s rounds interleaved, medians (Miniflare/workerd)`);
  console.log("target                  req/s     p50 ms   p99 ms");
  const rows = Object.entries(results).map(([name, runs]) => ({ name, rps: median(runs.map((r) => r.rps)), p50: median(runs.map((r) => r.p50)), p99: median(runs.map((r) => r.p99)) }));
  for (const r of rows) console.log(`${r.name.padEnd(22)} ${r.rps.toFixed(0).padStart(6)}   ${r.p50.toFixed(2).padStart(6)}   ${r.p99.toFixed(2).padStart(6)}`);
  console.log(`hit / miss: ${(rows[0].rps / rows[1].rps).toFixed(2)}; origin requests for the hit path: ${origin.count("/hit/item")}`);
} finally {
  await gw.close();
  await origin.close();
}
