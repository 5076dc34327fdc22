// One table of every ratio from a `scripts/bench/run` session, read from the reports the
// benchmarks printed (their stdout, saved by `run` as <dir>/<bench>.txt):
//   workerd.txt     scripts/bench/workerd.mjs    gateway vs baselines, limits, JWT
//   edge-cache.txt  scripts/bench/edge-cache.mjs edge cache hit vs forward
//   shield.txt      scripts/bench/shield.sh      origin shield vs nginx, miss path vs origin
// A missing report or row becomes "not measured" with the reason, never a guess.
//
//   node scripts/bench/summary.mjs <dir>
import fs from "node:fs";
import path from "node:path";

const dir = process.argv[2];
if (!dir) {
  console.error("usage: node scripts/bench/summary.mjs <dir>");
  process.exit(2);
}
const read = (name) => {
  try {
    return fs.readFileSync(path.join(dir, name), "utf8");
  } catch {
    return null;
  }
};

/** workerd.mjs's table: name → { rps, p50, p99, errors }. */
function workerdRows(text) {
  const rows = {};
  const table = text?.split(/^target\s+req\/s.*$/m)[1] ?? "";
  for (const line of table.split("\n")) {
    const m = line.match(/^(\S.*?)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+(\d+)\s+\S+$/);
    if (m) rows[m[1]] = { rps: Number(m[2]), p50: Number(m[3]), p99: Number(m[4]), errors: Number(m[5]) };
  }
  return rows;
}

/** edge-cache.mjs's rows: name → rps. */
function edgeCacheRows(text) {
  const rows = {};
  for (const line of (text ?? "").split("\n")) {
    const m = line.match(/^(edge .*?)\s+(\d+)\s+([\d.]+)\s+([\d.]+)$/);
    if (m) rows[m[1]] = Number(m[2]);
  }
  return rows;
}

/** shield.sh's "median:" and "ratios:" lines, in the order printed (hits, then miss path). */
function shieldComparisons(text) {
  const lines = (text ?? "").split("\n");
  const out = [];
  for (let i = 0; i < lines.length; i++) {
    const ratio = lines[i].match(/ratios: (\S+)\/(\S+) req\/s ([\d.]+), per CPU ([\d.]+)/);
    if (!ratio) continue;
    const median = lines[i - 1] ?? "";
    const rps = (label) => Number(median.match(new RegExp(`${label} (\\d+) req/s`))?.[1]);
    out.push({ a: ratio[1], b: ratio[2], rps: Number(ratio[3]), cpu: Number(ratio[4]), rpsA: rps(ratio[1]), rpsB: rps(ratio[2]) });
  }
  return out;
}

function rows() {
  const workerd = read("workerd.txt");
  const w = workerdRows(workerd);
  const why = workerd ? "row missing from the workerd report" : "workerd benchmark not run";
  const pair = (label, a, b, goal) =>
    w[a] && w[b]
      ? { label, ratio: w[a].rps / w[b].rps, a: w[a].rps, b: w[b].rps, goal, note: w[a].errors + w[b].errors ? `${w[a].errors + w[b].errors} non-2xx` : "" }
      : { label, note: `not measured: ${why}` };
  const out = [
    pair("gateway ÷ workers-rs pass-through", "gateway", "rs-passthrough", "≥ 0.90"),
    pair("gateway ÷ JavaScript pass-through", "gateway", "js-passthrough", "≥ 0.60"),
    pair("gateway, cached-JWT route (HS256) ÷ gateway", "gateway jwt hs", "gateway", ""),
    pair("gateway, exact limit never hit ÷ gateway", "gateway limited", "gateway", "≥ 0.90"),
    pair("workers-rs ÷ JavaScript pass-through (floor)", "rs-passthrough", "js-passthrough", ""),
  ];
  const e = edgeCacheRows(read("edge-cache.txt"));
  out.push(
    e["edge hit"] && e["edge miss (forward)"]
      ? { label: "edge cache hit ÷ forward (Miniflare)", ratio: e["edge hit"] / e["edge miss (forward)"], a: e["edge hit"], b: e["edge miss (forward)"], goal: "> 1" }
      : { label: "edge cache hit ÷ forward (Miniflare)", note: "not measured: edge-cache benchmark not run" },
  );
  const shield = read("shield.txt");
  const s = shieldComparisons(shield);
  const skipped = shield?.match(/^not measured: .*$/m)?.[0] ?? "not measured: shield benchmark not run";
  const hits = s.find((c) => c.b === "nginx"), miss = s.find((c) => c.b === "origin");
  out.push(
    hits
      ? { label: "origin shield ÷ nginx proxy_cache, hits", ratio: hits.rps, a: hits.rpsA, b: hits.rpsB, goal: "", note: `per CPU ${hits.cpu.toFixed(2)}` }
      : { label: "origin shield ÷ nginx proxy_cache, hits", note: skipped },
    miss
      ? { label: "origin shield miss path ÷ origin direct", ratio: miss.rps, a: miss.rpsA, b: miss.rpsB, goal: "", note: `per CPU ${miss.cpu.toFixed(2)}` }
      : { label: "origin shield miss path ÷ origin direct", note: skipped },
    { label: "Spin gateway ÷ Spin pass-through", note: "not measured: the repository has no pass-through Spin component yet" },
  );
  return out;
}

const table = rows();
console.log("\n| comparison | ratio | req/s (first) | req/s (second) | goal | note |");
console.log("|---|---:|---:|---:|---|---|");
for (const r of table) {
  const num = (x, d) => (x === undefined ? "–" : x.toFixed(d));
  console.log(`| ${r.label} | ${num(r.ratio, 2)} | ${num(r.a, 0)} | ${num(r.b, 0)} | ${r.goal ?? ""} | ${r.note ?? ""} |`);
}
