// End-to-end edge caching: on workerd the Worker caches in `caches.default` (Miniflare's
// implementation of the Cache API); on Spin, which has no cache API, cacheable routes pass
// through. The region's "shield" here is the demo origin itself, so only the edge tier caches
// and the origin's own request counts show what reached it.
//
//   E2E_RUNTIMES=workerd,spin (default both)   node --test tests/e2e/cache.test.mjs
import { after, afterEach, before, describe, it } from "node:test";
import assert from "node:assert/strict";

import { startOrigin } from "./lib/origin.mjs";
import { startShield } from "./lib/procs.mjs";
import { startSpin } from "./lib/spin.mjs";
import { publish, untilServed } from "./lib/routes.mjs";
import { startWorkers } from "./lib/workers.mjs";

const runtimes = { workerd: startWorkers, spin: startSpin };
const selected = (process.env.E2E_RUNTIMES ?? "workerd,spin").split(",").map((s) => s.trim()).filter(Boolean);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const SECRET = "e2e-purge-secret";

function routes(originUrl, spareUrl, shieldUrl) {
  return {
    settings: { config_ttl_ms: 1000 },
    regions: [
      { name: "direct", shield: originUrl, lat: 0, lon: 0 },
      { name: "spare", shield: spareUrl, lat: 0, lon: 0 },
      { name: "shielded", shield: shieldUrl, lat: 0, lon: 0 },
    ],
    pools: { direct: { regions: ["direct"] }, spare: { regions: ["spare"] }, shielded: { regions: ["shielded"] } },
    routes: [
      { id: "cache", path: "/cache/{*rest}", pool: "direct", cache: {} },
      { id: "spare", path: "/spare/{*rest}", pool: "spare", strip_prefix: "/spare", cache: {} },
      { id: "tiers", path: "/tiers/{*rest}", pool: "shielded", cache: {} },
      { id: "ready", path: "/ready", pool: "direct" },
    ],
  };
}

const world = {};
before(async () => {
  world.origin = await startOrigin({ name: "cache-origin" });
  world.spare = await startOrigin({ name: "spare-origin" });
  world.tierOrigin = await startOrigin({ name: "tier-origin" });
  world.shield = await startShield("shielded", world.tierOrigin.url, { env: { SHIELD_PURGE_SECRET: "e2e-shield-secret" } });
});
after(async () => {
  await world.shield?.stop();
  await world.tierOrigin?.close();
  await world.origin?.close();
  await world.spare?.close();
});

for (const name of selected) {
  describe(`edge cache on ${name}`, () => {
    let gw;
    let passed = 0;
    afterEach((t) => { if (!t.error) passed += 1; });
    before(async () => {
      gw = await runtimes[name]();
      await publish(gw, "cache-1", routes(world.origin.url, world.spare.url, world.shield.url));
      await untilServed(gw, "/ready");
    });
    after(async () => {
      await gw?.close();
      console.log(`e2e: edge cache on ${name}: ${passed} tests passed`);
    });

    const get = async (path, headers = {}) => {
      const response = await gw.fetch(path, { headers });
      const body = await response.text();
      return { status: response.status, body, cacheStatus: response.headers.get("cache-status"), headers: response.headers };
    };
    /** Repeats `path` until the edge answers a hit (the store runs in waitUntil, after the response). */
    const untilHit = async (path, headers) => {
      for (let i = 0; i < 50; i++) {
        const r = await get(path, headers);
        if (/(^|, )edge-gateway; hit/.test(r.cacheStatus ?? "")) return r;
        await sleep(100);
      }
      throw new Error(`${path} never became a hit`);
    };
    const unique = (tag) => `${tag}-${name}-${Date.now()}`;

    if (name === "spin") {
      it("passes cacheable routes through and says why in Cache-Status", async () => {
        const path = `/cache/${unique("spin")}?cc=max-age%3D60`;
        const first = await get(path);
        const second = await get(path);
        assert.equal(first.cacheStatus, "edge-gateway; fwd=bypass; fwd-status=200; detail=no-edge-cache");
        assert.equal(second.cacheStatus, first.cacheStatus);
        assert.equal(world.origin.count(path.split("?")[0]), 2, "every request reached the origin");
      });
      return;
    }

    it("stores a miss and serves the next request as a hit without the origin", async () => {
      const path = `/cache/${unique("hit")}?cc=max-age%3D60`;
      const first = await get(path);
      assert.equal(first.cacheStatus, "edge-gateway; fwd=uri-miss; fwd-status=200; stored");
      const hit = await untilHit(path);
      assert.equal(hit.body, first.body);
      // Remaining freshness plus current age is the origin's max-age, however slow the machine.
      const [, ttl] = hit.cacheStatus.match(/^edge-gateway; hit; ttl=(\d+)$/) ?? [];
      assert.ok(ttl !== undefined, hit.cacheStatus);
      assert.ok(Math.abs(Number(ttl) + Number(hit.headers.get("age")) - 60) <= 1, `ttl ${ttl}, age ${hit.headers.get("age")}`);
      assert.equal(world.origin.count(path.split("?")[0]), 1);
    });

    it("revalidates a stale entry with If-None-Match and serves it on 304", async () => {
      const path = `/cache/${unique("reval")}?cc=max-age%3D1&etag=v1`;
      await get(path);
      // On a slow machine the one-second entry may go stale while untilHit polls; compare with
      // what was stored last and count only what the request under test caused.
      const stored = await untilHit(path);
      await sleep(1200);
      const before = world.origin.count(`304 ${path.split("?")[0]}`);
      const revalidated = await get(path);
      assert.equal(revalidated.cacheStatus, "edge-gateway; fwd=stale; fwd-status=304; stored");
      assert.equal(revalidated.body, stored.body, "the stored body");
      assert.equal(world.origin.count(`304 ${path.split("?")[0]}`), before + 1);
    });

    it("serves stale while revalidating in the background (waitUntil)", async () => {
      const path = `/cache/${unique("swr")}?cc=max-age%3D1%2C%20stale-while-revalidate%3D60`;
      await get(path);
      await untilHit(path);
      await sleep(1200);
      const key = path.split("?")[0];
      const before = world.origin.count(key);
      const stale = await get(path);
      assert.match(stale.cacheStatus, /^edge-gateway; hit; ttl=-?\d+; detail=stale-while-revalidate$/);
      const deadline = Date.now() + 3000;
      while (world.origin.count(key) <= before && Date.now() < deadline) await sleep(50);
      assert.equal(world.origin.count(key), before + 1, "revalidated once, after the response");
    });

    it("keeps variants apart by Vary", async () => {
      const path = `/cache/${unique("vary")}?cc=max-age%3D60&vary=accept-language`;
      await get(path, { "accept-language": "fr" });
      const fr = await untilHit(path, { "accept-language": "fr" });
      const de = await get(path, { "accept-language": "de" });
      assert.match(fr.body, /lang=fr/);
      assert.match(de.body, /lang=de/);
      assert.equal(de.cacheStatus, "edge-gateway; fwd=vary-miss; fwd-status=200; stored");
    });

    it("serves stale-if-error when the region fails", async () => {
      const path = `/spare/cache/${unique("sie")}?cc=max-age%3D1%2C%20stale-if-error%3D60`;
      await get(path);
      const stored = await untilHit(path);
      await world.spare.close();
      await sleep(1200);
      const stale = await get(path);
      assert.equal(stale.status, 200);
      assert.equal(stale.body, stored.body);
      assert.match(stale.cacheStatus, /^edge-gateway; fwd=stale; detail=stale-if-error$/);
    });

    it("purges by URL and by tag, authenticated with the purge secret", async () => {
      const a = `/cache/${unique("purge-a")}?cc=max-age%3D600&tag=docs`;
      const b = `/cache/${unique("purge-b")}?cc=max-age%3D600&tag=images`;
      for (const p of [a, b]) { await get(p); await untilHit(p); }
      const purge = (query, secret = SECRET) =>
        gw.fetch(`/__gateway/purge?${query}`, { method: "POST", headers: { authorization: `Bearer ${secret}` } });
      const refused = await purge("all=1", "wrong");
      assert.equal(refused.status, 401);
      assert.equal(refused.headers.get("content-type"), "application/problem+json");
      await refused.arrayBuffer();
      const bad = await purge("colour=red");
      assert.equal(bad.status, 400);
      await bad.arrayBuffer();
      const ok = await purge(`url=${encodeURIComponent(a)}`);
      assert.equal(ok.status, 200, await ok.clone().text());
      assert.ok((await ok.json()).propagation_ms > 0);
      await sleep(5);
      assert.match((await get(a)).cacheStatus, /fwd=uri-miss/);
      assert.match((await get(b)).cacheStatus, /^edge-gateway; hit/);
      const byTag = await purge("tag=images");
      assert.equal(byTag.status, 200);
      await byTag.arrayBuffer();
      await sleep(5);
      assert.match((await get(b)).cacheStatus, /fwd=uri-miss/);
    });

    it("purges both tiers: the edge and every region's origin shield", async () => {
      // The tier origin answers /tiers/... paths as the shield forwards them (no strip_prefix).
      const path = `/tiers/cache/${unique("tiers")}?cc=max-age%3D600`;
      const first = await get(path);
      assert.match(first.cacheStatus, /^origin-shield; fwd=miss; fwd-status=200; stored, edge-gateway; fwd=uri-miss; fwd-status=200; stored$/);
      await untilHit(path);
      assert.equal(world.tierOrigin.count(path.split("?")[0]), 1);
      const response = await gw.fetch(`/__gateway/purge?url=${encodeURIComponent(path)}`, {
        method: "POST", headers: { authorization: `Bearer ${SECRET}` },
      });
      const answer = await response.json();
      assert.equal(response.status, 200);
      assert.equal(answer.shields.shielded, "purged");
      await sleep(5);
      const after = await get(path);
      assert.match(after.cacheStatus, /^origin-shield; fwd=miss; fwd-status=200; stored, edge-gateway; fwd=uri-miss/);
      assert.equal(world.tierOrigin.count(path.split("?")[0]), 2, "both tiers missed, the origin was asked again");
    });
  });
}
