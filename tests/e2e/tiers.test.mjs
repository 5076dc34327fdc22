// The two cache tiers together: gateway → real origin shield → demo origin (issue 11).
//
// Interim responses: the demo origin answers `/early/…` with 103 Early Hints and 102
// Processing before the final response. Behind a shield only the final response reaches the
// edge. A region whose "shield" is the plain origin gets the 1xx itself: workerd's `fetch`
// returns the 103 as if it were final (with the rest of the wire as its body), so the gateway
// answers 502 upstream-protocol-error instead of failing in `new Response(…)` and taking the
// isolate — and the requests in flight beside it — down. Spin is not covered here yet.
//
// Date: the origin's `Date` reaches the client through the shield (miss and shield hit) and the
// edge (which passes a fetched response's `Date` on). Not asserted: a hit from the edge's own
// cache carries workerd's clock as `Date` today, and the edge counts the entry's age from it.
//
//   E2E_RUNTIMES=workerd   node --test --test-concurrency=1 tests/e2e/tiers.test.mjs
import { after, afterEach, before, describe, it } from "node:test";
import assert from "node:assert/strict";

import { startOrigin } from "./lib/origin.mjs";
import { startShield } from "./lib/procs.mjs";
import { publish, untilServed } from "./lib/routes.mjs";
import { startWorkers } from "./lib/workers.mjs";

const runtimes = { workerd: startWorkers };
const selected = (process.env.E2E_RUNTIMES ?? "workerd,spin").split(",").map((s) => s.trim()).filter((n) => n in runtimes);

function routes(originUrl, shieldUrl) {
  return {
    settings: { config_ttl_ms: 1000 },
    regions: [
      { name: "shielded", shield: shieldUrl, lat: 0, lon: 0 },
      { name: "direct", shield: originUrl, lat: 0, lon: 0 },
    ],
    pools: { shielded: { regions: ["shielded"] }, direct: { regions: ["direct"] } },
    routes: [
      { id: "tiers", path: "/tiers/{*rest}", pool: "shielded", strip_prefix: "/tiers", cache: {} },
      { id: "shielded", path: "/shielded/{*rest}", pool: "shielded", strip_prefix: "/shielded" },
      { id: "direct", path: "/direct/{*rest}", pool: "direct", strip_prefix: "/direct" },
      { id: "ready", path: "/ready", pool: "direct" },
    ],
  };
}

const world = {};
before(async () => {
  world.origin = await startOrigin({ name: "tier-origin" });
  world.shield = await startShield("tiers", world.origin.url);
});
after(async () => {
  await world.shield?.stop();
  await world.origin?.close();
});

for (const name of selected) {
  describe(`cache tiers on ${name}`, () => {
    let gw;
    let passed = 0;
    afterEach((t) => { if (!t.error) passed += 1; });
    before(async () => {
      gw = await runtimes[name]();
      await publish(gw, "tiers-1", routes(world.origin.url, world.shield.url));
      await untilServed(gw, "/ready");
    });
    after(async () => {
      await gw?.close();
      console.log(`e2e: cache tiers on ${name}: ${passed} tests passed`);
    });

    const get = async (path) => {
      const response = await gw.fetch(path);
      return { path, status: response.status, headers: response.headers, body: await response.text() };
    };
    const unique = (tag) => `${tag}-${name}-${Date.now()}`;
    /** Plain requests that must all answer normally while `others` are in flight. */
    const bystanders = (prefix, n) =>
      Array.from({ length: n }, (_, i) => get(`${prefix}/${unique("bystander")}-${i}`));
    const assertBystanders = (answers) => {
      for (const r of answers) {
        assert.equal(r.status, 200, `${r.path}: ${r.body}`);
        assert.equal(JSON.parse(r.body).origin, "tier-origin", r.path);
      }
    };

    it("regression issue 11: behind a shield, 103 and 102 from the origin are dropped and the final answer arrives, cached or not, beside other requests", async () => {
      const cached = `/tiers/early/cache/${unique("hints")}?cc=max-age%3D60`;
      const passing = `/tiers/early/${unique("echo")}`;
      const [first, ...rest] = await Promise.all([
        get(cached),
        get(passing),
        get(`/tiers/slow?ms=300&${unique("slow")}`),
        ...bystanders("/tiers", 4),
      ]);
      const [echo, slow, ...others] = rest;
      assert.equal(first.status, 200, first.body);
      assert.match(first.body, /^\/early\/cache\/hints-.* #1 /);
      assert.equal(echo.status, 200, echo.body);
      assert.equal(JSON.parse(echo.body).path, passing.replace("/tiers", ""));
      assert.equal(slow.status, 200, slow.body);
      assertBystanders(others);
      for (const r of [first, echo]) assert.equal(r.headers.get("link"), null, `${r.path}: the 103's field leaked`);

      const again = await get(cached);
      assert.equal(again.status, 200);
      assert.equal(again.body, first.body, "served from a cache tier, not the origin");
      assert.equal(world.origin.count(new URL(cached, "http://x").pathname.replace("/tiers", "")), 1);
    });

    it("regression issue 11: the origin's Date crosses the shield (miss and shield hit) and the edge's pass-through", async () => {
      // An hour behind this clock (whole seconds), so no tier's own clock can match it.
      const date = new Date(Math.floor(Date.now() / 1000) * 1000 - 3600_000).toUTCString();
      const path = `/shielded/cache/${unique("date")}?cc=max-age%3D86400&date=${encodeURIComponent(date)}`;
      const miss = await get(path);
      const hit = await get(path);
      assert.match(miss.headers.get("cache-status") ?? "", /origin-shield; fwd=miss/);
      assert.match(hit.headers.get("cache-status") ?? "", /origin-shield; hit/);
      for (const r of [miss, hit]) {
        assert.equal(r.status, 200, r.body);
        assert.equal(r.headers.get("date"), date, `${r.path}: ${r.headers.get("cache-status")}`);
      }
      assert.equal(world.origin.count(new URL(path, "http://x").pathname.replace("/shielded", "")), 1);
    });

    it("regression issue 11: an origin that answers 1xx straight to the edge gets 502 upstream-protocol-error, and requests beside it are unharmed", async () => {
      const early = `/direct/early/${unique("direct")}`;
      const [answer, ...others] = await Promise.all([get(early), ...bystanders("/direct", 6)]);
      assert.equal(answer.status, 502, answer.body);
      assert.match(answer.headers.get("content-type") ?? "", /^application\/problem\+json/);
      assert.match(JSON.parse(answer.body).type, /upstream-protocol-error/);
      assertBystanders(others);
      // The isolate is still serving.
      assertBystanders(await Promise.all(bystanders("/direct", 2)));
    });
  });
}
