// Exact rate limits on the Spin test host (issue 12): every request is a fresh component
// instance (as Spin runs a WASI 0.2 component), many run at once, and all share one key-value
// store (`default`, a SQLite file in Spin's format). Each limited request makes one counter call:
// a `wasi:keyvalue` compare-and-swap of the JSON record `ratelimit/<counter key>`
// (edge-gateway/spin/src/counters.rs), retried when another instance swapped first.
//
// Rows: 120 concurrent requests against one fresh global counter admit exactly the limit (one
// host, one store: no over- and no under-admission) with the RateLimit fields on every answer,
// and the record counts one call per request; fresh per-tenant counters created by concurrent
// first requests each admit exactly their limit (a record is created once, though Spin's swap on
// an absent key cannot conflict); a request refused by one policy charges no other; a store
// slower than the deadline lets fail_open admit and fail_closed answer 503, charging nothing.
//
//   E2E_RUNTIMES=spin node --test --test-concurrency=1 tests/e2e/ratelimit-spin.test.mjs
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";

import { startOrigin } from "./lib/origin.mjs";
import { startSpin } from "./lib/spin.mjs";

const selected = (process.env.E2E_RUNTIMES ?? "workerd,spin").split(",").map((s) => s.trim());
const PERIOD_MS = 60_000;
// Every wasi:keyvalue call waits this long in the host, as across a network: instances then
// overlap between a read and a swap, and a lost update would show.
const KV_LATENCY_MS = 1;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const drain = async (response) => ({ status: response.status, headers: response.headers, body: await response.text() });

function routes(originUrl) {
  const limited = (id, rate_limit) => ({ id, path: `/${id}`, pool: "direct", rate_limit });
  return {
    settings: { config_ttl_ms: 1000, rate_limit_deadline_ms: 1000 },
    regions: [{ name: "direct", shield: originUrl, lat: 0, lon: 0 }],
    pools: { direct: { regions: ["direct"] } },
    rate_limits: {
      "global-50": { limit: 50, period_s: 60, key: ["global"], mode: "exact", on_store_error: "fail_closed" },
      tenant: { limit: 3, period_s: 60, key: [{ header: "x-tenant" }], mode: "exact", on_store_error: "fail_closed" },
      outer: { limit: 30, period_s: 60, key: ["global"], mode: "exact", on_store_error: "fail_closed" },
      inner: { limit: 3, period_s: 60, key: ["route"], mode: "exact", on_store_error: "fail_closed" },
      "slow-open": { limit: 5, period_s: 60, key: ["route"], mode: "exact", on_store_error: "fail_open" },
      "slow-closed": { limit: 5, period_s: 60, key: ["route"], mode: "exact", on_store_error: "fail_closed" },
    },
    routes: [
      { id: "ready", path: "/ready", pool: "direct" },
      limited("limited", ["global-50"]),
      limited("tenants", ["tenant"]),
      limited("pair", ["outer", "inner"]),
      limited("solo", ["outer"]),
      limited("slow-open", ["slow-open"]),
      limited("slow-closed", ["slow-closed"]),
    ],
  };
}

/** Waits for the next window when fewer than `ms` are left in this one (sliding windows are
 * aligned to the period: a burst must not straddle two). */
async function withinOneWindow(ms) {
  const left = PERIOD_MS - (Date.now() % PERIOD_MS);
  if (left < ms) await sleep(left + 50);
}

/** `"name";a=1;b=2, …` → { name: { a: 1, b: 2 } }. */
function sfList(value) {
  const out = {};
  for (const member of (value ?? "").split(",").map((m) => m.trim()).filter(Boolean)) {
    const [name, ...params] = member.split(";");
    out[JSON.parse(name)] = Object.fromEntries(params.map((p) => p.split("=")).map(([k, v]) => [k, Number(v)]));
  }
  return out;
}

/** The RateLimit fields of one answer for `name` (limit `q`, window `w`); returns `r`. */
function assertFields(answer, name, { q, w }) {
  const policy = sfList(answer.headers.get("ratelimit-policy"));
  const state = sfList(answer.headers.get("ratelimit"));
  assert.deepEqual(policy[name], { q, w }, `RateLimit-Policy: ${answer.headers.get("ratelimit-policy")}`);
  const { r, t } = state[name] ?? {};
  assert.ok(Number.isInteger(r) && r >= 0 && r < q, `RateLimit r: ${answer.headers.get("ratelimit")}`);
  assert.ok(Number.isInteger(t) && t >= 1 && t <= w, `RateLimit t: ${answer.headers.get("ratelimit")}`);
  return r;
}

function assertRefused(answer, name, limits) {
  assert.equal(answer.status, 429, answer.body.slice(0, 300));
  assert.equal(answer.headers.get("content-type"), "application/problem+json");
  assert.equal(JSON.parse(answer.body).type, "urn:edge-gateway:problem:rate-limited");
  const retry = Number(answer.headers.get("retry-after"));
  assert.ok(Number.isInteger(retry) && retry >= 1 && retry <= 2 * limits.w, `Retry-After: ${answer.headers.get("retry-after")}`);
  assert.equal(assertFields(answer, name, limits), 0, "a refused answer has nothing remaining");
}

/** `total` requests made by `request(i)`, `concurrency` in flight. */
async function load(total, concurrency, request) {
  const answers = [];
  let sent = 0;
  const lane = async () => {
    while (sent < total) {
      const i = sent++;
      answers.push({ i, ...(await drain(await request(i))) });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return answers;
}

const count = (answers, status) => answers.filter((a) => a.status === status).length;

describe("exact rate limits on spin (an instance per request, one store)", { skip: !selected.includes("spin") }, () => {
  let origin;
  let gw;
  before(async () => {
    origin = await startOrigin({ name: "rl-spin-origin" });
    gw = await startSpin({ args: ["--kv-latency-ms", String(KV_LATENCY_MS)] });
    const id = `rl-${Date.now()}`;
    await gw.put(`routes/versions/${id}`, JSON.stringify(routes(origin.url)));
    await gw.put("routes/current", id);
    await gw.put("routes/last-good", id);
    assert.equal((await drain(await gw.fetch("/ready"))).status, 200, "the routes are served");
  });
  after(async () => {
    await gw?.close();
    await origin?.close();
  });

  it("admits exactly 50 of 120 concurrent requests, with the RateLimit fields on every answer", async () => {
    await withinOneWindow(5000);
    const started = Date.now();
    const answers = await load(120, 16, () => gw.fetch("/limited"));
    const took = Date.now() - started;
    const record = JSON.parse((await gw.get("ratelimit/global-50|global")) ?? "null");
    const [admitted, refused] = [count(answers, 200), count(answers, 429)];
    console.log(`e2e ratelimit-spin: global-50 admitted ${admitted}/50 of 120 (refused ${refused}) in ${took} ms at concurrency 16; record ${JSON.stringify(record)}`);
    assert.equal(admitted + refused, 120, `only 200 and 429: ${[...new Set(answers.map((a) => a.status))]} ${answers.find((a) => a.status !== 200 && a.status !== 429)?.body}`);
    assert.equal(admitted, 50, "exactly the limit: one store, every charge kept");
    const limits = { q: 50, w: 60 };
    const remaining = [];
    for (const answer of answers) {
      assert.equal(answer.headers.get("ratelimit-policy"), '"global-50";q=50;w=60');
      assert.match(answer.headers.get("ratelimit"), /^"global-50";r=\d+;t=\d+$/);
      if (answer.status === 200) {
        remaining.push(assertFields(answer, "global-50", limits));
        assert.equal(answer.headers.get("retry-after"), null);
        assert.equal(JSON.parse(answer.body).path, "/limited", "the origin answered");
      } else assertRefused(answer, "global-50", limits);
    }
    assert.deepEqual(remaining.sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i), "each admitted request saw its own remaining count");
    assert.ok(record, "the counter's record is in the store");
    assert.equal(record.calls, 120, "one counter call per limited request (Spin keeps no lease)");
  });

  it("creates each fresh counter once when its first requests arrive together (exactly 3 per tenant)", async () => {
    await withinOneWindow(5000);
    const tenants = Array.from({ length: 8 }, (_, i) => `t${Date.now()}-${i}`);
    // Every tenant's first requests are in flight at once: 8 tenants × 8 requests, 16 at a time,
    // tenant by tenant in the order sent.
    const answers = await load(64, 16, (i) => gw.fetch("/tenants", { headers: { "x-tenant": tenants[Math.floor(i / 8)] } }));
    for (const [n, tenant] of tenants.entries()) {
      const mine = answers.filter((a) => Math.floor(a.i / 8) === n);
      assert.equal(count(mine, 200), 3, `tenant ${tenant}: ${mine.map((a) => a.status).join(" ")}`);
      assert.equal(count(mine, 429), 5, `tenant ${tenant}`);
      for (const answer of mine.filter((a) => a.status === 429)) assertRefused(answer, "tenant", { q: 3, w: 60 });
    }
  });

  it("charges a request refused by one policy to no other", async () => {
    await withinOneWindow(5000);
    const remaining = [];
    for (let i = 0; i < 3; i++) {
      const answer = await drain(await gw.fetch("/pair"));
      assert.equal(answer.status, 200, answer.body.slice(0, 300));
      remaining.push(assertFields(answer, "outer", { q: 30, w: 60 }));
      assertFields(answer, "inner", { q: 3, w: 60 });
    }
    assert.deepEqual(remaining, [29, 28, 27], "each admitted request charged once to outer");
    const refusals = await load(20, 8, () => gw.fetch("/pair"));
    for (const answer of refusals) assertRefused(answer, "inner", { q: 3, w: 60 });
    // The 20 refusals cost outer nothing: /solo (outer alone) gets the 27 left.
    const solo = await load(40, 8, () => gw.fetch("/solo"));
    assert.equal(count(solo, 200), 27, "outer admits what the 3 admitted requests left");
    for (const answer of solo.filter((a) => a.status !== 200)) assertRefused(answer, "outer", { q: 30, w: 60 });
  });

  it("lets on_store_error decide when the store is slower than the deadline, and charges nothing", async () => {
    await gw.kvLatency(400); // open, cas, current: 1.2 s before the swap, past the 1000 ms deadline
    try {
      const rows = [
        { path: "/slow-open", status: 200, why: "fail_open admits" },
        { path: "/slow-closed", status: 503, why: "fail_closed refuses" },
      ];
      for (const row of rows) {
        const started = Date.now();
        const answer = await drain(await gw.fetch(row.path));
        const took = Date.now() - started;
        assert.equal(answer.status, row.status, `${row.why}: ${answer.body.slice(0, 300)}`);
        assert.ok(took >= 1000 && took < 4000, `${row.path} answered after ${took} ms`);
        if (row.status === 503) {
          assert.equal(answer.headers.get("content-type"), "application/problem+json");
          assert.equal(JSON.parse(answer.body).type, "urn:edge-gateway:problem:rate-limit-unavailable");
        } else assert.equal(JSON.parse(answer.body).path, row.path, "the origin answered");
      }
    } finally {
      await gw.kvLatency(KV_LATENCY_MS);
    }
    const late = JSON.parse(await gw.get("ratelimit/slow-closed|route=slow-closed"));
    assert.equal(late.calls, 0, `created for the others, but uncharged: ${JSON.stringify(late)}`);
    const answer = await drain(await gw.fetch("/slow-closed"));
    assert.equal(answer.status, 200, "a quick store again: the key works at once, not a minute later");
    assert.equal(assertFields(answer, "slow-closed", { q: 5, w: 60 }), 4, "the late calls charged nothing");
  });
});
