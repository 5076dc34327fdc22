// Regional failover under chaos (issue 13): three local shields as three regions (Dublin,
// Frankfurt, Virginia) with the client in Dublin, plus a few stand-in regions for single rows:
// one that accepts and answers 503 to everything but its health check, one that accepts and
// never answers, and a shield whose own /healthz reports its origin unhealthy while it still
// proxies.
//
// Where the client is: on workerd through `request.cf` (Miniflare's dispatch injects it); on
// Spin through the headers named in `settings.client_location`, as a CDN in front would set.
//
// What differs between runtimes, and why the rows assert different things:
// - workerd keeps one gateway per isolate, so its breakers and ejections (passive health)
//   outlive a request: a dead region stops being tried after a few failures, and comes back
//   after its ejection lapses and the breaker's half-open trials succeed. Its active health is
//   the cron prober (`scheduled()`, run here by hand), which nothing calls during the chaos
//   row.
// - Spin gives every request a fresh instance, so passive state lasts one request: each request
//   pays the dead region's failed attempt until the prober's snapshot (elected once per
//   interval, run after a response) says it is unhealthy; traffic returns when the snapshot
//   says healthy again, with no half-open phase.
//
// The figures the issue asks for (failed requests, extra upstream attempts and origin requests
// caused by retries, time for traffic to move and to return) are printed per runtime.
//
//   E2E_RUNTIMES=workerd,spin node --test --test-concurrency=1 tests/e2e/failover.test.mjs
import { after, afterEach, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";

import { startOrigin } from "./lib/origin.mjs";
import { startShield } from "./lib/procs.mjs";
import { publish, untilServed } from "./lib/routes.mjs";
import { startSpin } from "./lib/spin.mjs";
import { startWorkers } from "./lib/workers.mjs";

const runtimes = {
  workerd: () => startWorkers({ bindings: { PROBE_ROUNDS: "1" } }),
  spin: () => startSpin(),
};
const selected = (process.env.E2E_RUNTIMES ?? "workerd,spin").split(",").map((s) => s.trim()).filter((n) => n in runtimes);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** Polls `check` every 50 ms until it is true or `ms` ran out; returns whether it held. */
async function waitFor(check, ms) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(50);
  }
  return Boolean(await check());
}

// The client, in Dublin.
const CLIENT = { lat: "53.35", lon: "-6.26", country: "IE", continent: "EU" };
const HEALTH = { interval_ms: 1000, timeout_ms: 500, unhealthy_threshold: 2, healthy_threshold: 2 };
// Small figures so transitions take well under a second.
const FAILOVER = {
  deadline_ms: 4000,
  breaker: { consecutive_failures: 3, open_base_ms: 500, open_max_ms: 2000, half_open_trials: 2, close_after_successes: 5 },
  outlier: { consecutive_unreachable: 2, consecutive_errors: 3, base_ejection_ms: 500, max_ejection_ms: 2000 },
};

function routes(u) {
  const region = (name, shield, [lat, lon, country, continent]) =>
    ({ name, shield, lat, lon, country, continent, health_check: HEALTH });
  const DUB = [53.3, -6.3, "IE", "EU"];
  const FRA = [50.1, 8.7, "DE", "EU"];
  const IAD = [38.9, -77.0, "US", "NA"];
  return {
    settings: {
      config_ttl_ms: 1000,
      client_location: {
        lat_header: "x-client-lat",
        lon_header: "x-client-lon",
        country_header: "x-client-country",
        continent_header: "x-client-continent",
      },
    },
    regions: [
      region("eu-west", u.a, DUB),
      region("eu-central", u.b, FRA),
      region("us-east", u.c, IAD),
      region("sick-west", u.sick, DUB),
      region("sick-central", u.b, FRA),
      region("slow-west", u.blackhole, DUB),
      region("slow-east", u.c, IAD),
      region("probed-west", u.degraded, DUB),
      region("probed-east", u.c, IAD),
    ],
    pools: {
      geo: { regions: ["us-east", "eu-central", "eu-west"], ...FAILOVER },
      sick: { regions: ["sick-west", "sick-central"], ...FAILOVER },
      // Ejected for long once it times out: "no longer tried" holds for the whole row.
      slow: { regions: ["slow-west", "slow-east"], ...FAILOVER, outlier: { consecutive_unreachable: 2, base_ejection_ms: 30000, max_ejection_ms: 60000 } },
      probed: { regions: ["probed-west", "probed-east"], ...FAILOVER },
    },
    routes: [
      { id: "ready", path: "/ready", pool: "probed" },
      { id: "chaos", path: "/chaos/{*rest}", pool: "geo", strip_prefix: "/chaos" },
      { id: "eu", path: "/eu/{*rest}", pool: "geo", strip_prefix: "/eu", residency: { continents: ["EU"] } },
      { id: "sick", path: "/sick/{*rest}", methods: ["GET", "POST"], pool: "sick", strip_prefix: "/sick" },
      { id: "slow", path: "/slow/{*rest}", pool: "slow", strip_prefix: "/slow", timeouts: { connect_ms: 500, response_ms: 400 } },
      { id: "probed", path: "/probed/{*rest}", pool: "probed", strip_prefix: "/probed" },
    ],
  };
}

/** A region that accepts and answers 503 to everything but `/healthz`; records what it saw. */
function startSick() {
  const seen = [];
  const server = http.createServer((req, res) => {
    req.resume();
    if (req.url === "/healthz") return res.end("ok");
    seen.push({ method: req.method, target: req.url });
    res.writeHead(503, { "content-type": "text/plain" });
    res.end("sick region");
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({
    url: `http://127.0.0.1:${server.address().port}`,
    seen: () => seen.slice(),
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
  })));
}

/** A region that accepts connections and never answers. */
function startBlackhole() {
  const sockets = new Set();
  let accepted = 0;
  const server = net.createServer((socket) => {
    accepted += 1;
    sockets.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({
    url: `http://127.0.0.1:${server.address().port}`,
    accepted: () => accepted,
    close: () => new Promise((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  })));
}

const world = {};
before(async () => {
  for (const name of ["oA", "oB", "oC"]) world[name] = await startOrigin({ name });
  world.a = await startShield("eu-west", world.oA.url);
  world.b = await startShield("eu-central", world.oB.url);
  world.c = await startShield("us-east", world.oC.url);
  // Proxies to oA, but its /healthz reports the origin's /status/503: degraded.
  world.degraded = await startShield("probed-west", world.oA.url, { args: ["--health-check-path", "/status/503"] });
  world.sick = await startSick();
  world.blackhole = await startBlackhole();
});
after(async () => {
  for (const s of [world.a, world.b, world.c, world.degraded]) await s?.stop();
  for (const s of [world.sick, world.blackhole, world.oA, world.oB, world.oC]) await s?.close();
});

/** Restarts a killed chaos shield on its port. */
async function restart(key, region, origin) {
  world[key] = await startShield(region, origin.url, { port: world[key].port });
}

for (const name of selected) {
  describe(`regional failover on ${name}`, () => {
    let gw;
    let passed = 0;
    afterEach((t) => { if (!t.error) passed += 1; });
    before(async () => {
      gw = await runtimes[name]();
      await publish(gw, `failover-${name}`, routes({
        a: world.a.url, b: world.b.url, c: world.c.url,
        sick: world.sick.url, blackhole: world.blackhole.url, degraded: world.degraded.url,
      }));
      await untilServed(gw, "/ready");
    });
    after(async () => {
      await gw?.close();
      console.log(`e2e: regional failover on ${name}: ${passed} tests passed`);
    });

    /** A request from the Dublin client: `cf` on workerd, the CDN's headers on Spin. */
    const send = (path, init = {}) => {
      if (name === "workerd") {
        const cf = { latitude: CLIENT.lat, longitude: CLIENT.lon, country: CLIENT.country, continent: CLIENT.continent };
        return gw.dispatch(path, { ...init, cf });
      }
      const headers = {
        "x-client-lat": CLIENT.lat, "x-client-lon": CLIENT.lon,
        "x-client-country": CLIENT.country, "x-client-continent": CLIENT.continent,
        ...init.headers,
      };
      return gw.fetch(path, { ...init, headers });
    };
    const answer = async (path, init) => {
      const r = await send(path, init);
      const body = await r.text();
      return {
        status: r.status,
        body,
        type: r.headers.get("content-type") ?? "",
        region: r.headers.get("x-edge-region"),
        attempts: Number(r.headers.get("x-edge-attempts") ?? 0),
        timing: r.headers.get("server-timing") ?? "",
      };
    };
    const snapshot = async () => {
      const bytes = await gw.get("health/snapshot");
      return bytes ? JSON.parse(bytes.toString()).regions : {};
    };

    it("chaos: under load, the nearest shield dies and comes back — no request fails, traffic moves to the next nearest and returns", async () => {
      const before = ["oA", "oB", "oC"].map((o) => world[o].count(`/load-${name}`));
      const results = [];
      let stop = false;
      const t0 = Date.now();
      const client = async (w) => {
        for (let i = 0; !stop; i++) {
          try {
            const r = await answer(`/chaos/load-${name}?c=${w}-${i}`);
            results.push({ at: Date.now() - t0, ...r, body: r.status === 200 ? "" : r.body });
          } catch (error) {
            results.push({ at: Date.now() - t0, status: 0, body: String(error) });
          }
        }
      };
      const clients = Array.from({ length: 10 }, (_, w) => client(w));
      const tail = (n, ok) => results.length >= n && results.slice(-n).every(ok);
      let timeline;
      try {
        await sleep(700);
        const killedAt = Date.now();
        await world.a.kill();
        const doneBefore = results.length;
        // Moved: the last 20 answers come from Frankfurt at the first attempt.
        const moved = await waitFor(() => results.length > doneBefore + 20
          && tail(20, (r) => r.region === "eu-central" && r.attempts === 1), 6000);
        const movedAt = Date.now();
        await sleep(300);
        await restart("a", "eu-west", world.oA);
        const restartedAt = Date.now();
        const returned = await waitFor(() => tail(10, (r) => r.region === "eu-west"), 8000);
        const returnedAt = Date.now();
        await sleep(200);
        timeline = { killedAt: killedAt - t0, moved, moveMs: movedAt - killedAt, restartedAt: restartedAt - t0, returned, returnMs: returnedAt - restartedAt };
      } finally {
        stop = true;
        await Promise.all(clients);
      }
      const failed = results.filter((r) => r.status !== 200);
      const extraAttempts = results.reduce((n, r) => n + Math.max(0, r.attempts - 1), 0);
      const after = ["oA", "oB", "oC"].map((o) => world[o].count(`/load-${name}`));
      const originRequests = after.reduce((n, c, i) => n + c - before[i], 0);
      const byRegion = {};
      for (const r of results) byRegion[r.region] = (byRegion[r.region] ?? 0) + 1;
      console.log(`e2e failover ${name}: ${results.length} requests in ${Date.now() - t0} ms, ${failed.length} failed; by region ${JSON.stringify(byRegion)}; `
        + `extra upstream attempts from retries ${extraAttempts} (${(100 * extraAttempts / results.length).toFixed(1)}%), `
        + `origin requests ${originRequests} (extra ${originRequests - results.length}); traffic moved in ${timeline.moveMs} ms, returned ${timeline.returnMs} ms after the restart`);
      assert.deepEqual(failed.slice(0, 5), [], `${failed.length} failed requests`);
      assert.ok(timeline.moved, "traffic never settled on eu-central while eu-west was down");
      assert.ok(timeline.returned, "traffic never came back to eu-west after its restart");
      const early = results.filter((r) => r.at < timeline.killedAt - 100);
      assert.ok(early.length > 0 && early.every((r) => r.region === "eu-west"), "before the outage every answer comes from the nearest region");
      const during = results.filter((r) => r.at > timeline.killedAt + 50 && r.at < timeline.restartedAt);
      assert.ok(during.some((r) => r.region === "eu-central" && /desc="eu-central"/.test(r.timing)), "Server-Timing names the region");
      assert.ok(during.every((r) => r.region !== "us-east"), "the far region is never needed while the next nearest is up");
    });

    it("a POST that reached a region answering 503 gets that answer, never a replay elsewhere; with Idempotency-Key it is retried", async () => {
      const plain = await answer(`/sick/order-${name}`, { method: "POST", body: '{"n":1}', headers: { "content-type": "application/json" } });
      assert.ok([502, 503, 504].includes(plain.status), `${plain.status} ${plain.body}`);
      assert.equal(plain.region, "sick-west", "the region's own answer, named");
      assert.equal(plain.attempts, 1);
      assert.equal(world.sick.seen().filter((s) => s.target === `/order-${name}`).length, 1);
      assert.equal(world.oB.seen().filter((s) => s.method === "POST" && s.target === `/order-${name}`).length, 0, "replayed to another region");

      const keyed = await answer(`/sick/keyed-${name}`, {
        method: "POST", body: '{"n":2}', headers: { "content-type": "application/json", "idempotency-key": `k-${name}-${Date.now()}` },
      });
      assert.equal(keyed.status, 200, keyed.body);
      assert.equal(keyed.region, "sick-central");
      assert.equal(keyed.attempts, 2);
      assert.equal(JSON.parse(keyed.body).body.bytes, 7, "the body was replayed whole");
      assert.equal(world.oB.seen().filter((s) => s.method === "POST" && s.target === `/keyed-${name}`).length, 1);
    });

    it("a slow region (accepts, never answers) is ejected: after a few timeouts it is no longer tried", async () => {
      const acceptedBefore = world.blackhole.accepted();
      const answers = [];
      for (let i = 0; i < 8; i++) answers.push(await answer(`/slow/s-${name}?i=${i}`));
      for (const r of answers) assert.equal(r.status, 200, r.body);
      assert.ok(answers.every((r) => r.region === "slow-east"));
      const later = answers.slice(3);
      assert.deepEqual(later.map((r) => r.attempts), later.map(() => 1), `attempts ${answers.map((r) => r.attempts)}`);
      const tried = world.blackhole.accepted() - acceptedBefore;
      console.log(`e2e failover ${name}: slow region: attempts per request ${answers.map((r) => r.attempts).join(",")}; connections to it ${tried}`);
      if (name === "workerd") {
        // Passive: the first requests paid the timeout, the outlier then ejected the region.
        assert.ok(answers[0].attempts === 2, "the first request waited for the timeout and went on");
      } else {
        // Spin: passive state lasts a request; the prober's snapshot (its health check times
        // out too) is what takes the region out, before or during this row.
        assert.equal((await snapshot())["slow-west"]?.healthy, false);
      }
    });

    it("a residency-pinned route never leaves its set and answers 503 no-healthy-region when none of it is up", async () => {
      const first = await answer(`/eu/r-${name}?i=0`);
      assert.equal(first.status, 200, first.body);
      assert.equal(first.region, "eu-west");
      const killedAt = Date.now();
      await Promise.all([world.a.kill(), world.b.kill()]);
      try {
        const answers = [];
        const found = await waitFor(async () => {
          const r = await answer(`/eu/r-${name}?i=${answers.length + 1}`);
          answers.push(r);
          return r.status === 503 && /no-healthy-region/.test(r.body);
        }, 8000);
        console.log(`e2e failover ${name}: residency: ${answers.length} answers until no-healthy-region (${Date.now() - killedAt} ms): ${answers.map((r) => r.status).join(",")}`);
        assert.ok(found, `never no-healthy-region: ${answers.at(-1)?.status} ${answers.at(-1)?.body}`);
        for (const r of answers) {
          assert.ok([502, 503, 504].includes(r.status), `${r.status} from ${r.region}: ${r.body}`);
          assert.match(r.type, /application\/problem\+json/);
        }
        assert.equal(world.oC.count(`/r-${name}`), 0, "served from outside the residency set");
        if (name === "spin") {
          // The Spin prober (run after responses, once per interval) marked both unhealthy.
          const regions = await snapshot();
          assert.equal(regions["eu-west"]?.healthy, false);
          assert.equal(regions["eu-central"]?.healthy, false);
          assert.equal(regions["us-east"]?.healthy, true);
          const state = JSON.parse((await gw.get("health/probe-state")).toString());
          assert.ok(state["eu-west"].failures >= HEALTH.unhealthy_threshold, JSON.stringify(state["eu-west"]));
          console.log(`e2e failover spin: stopped shields marked unhealthy in health/snapshot within ${Date.now() - killedAt} ms`);
        }
      } finally {
        await Promise.all([restart("a", "eu-west", world.oA), restart("b", "eu-central", world.oB)]);
      }
    });

    if (name === "workerd") {
      it("scheduled(): the cron prober writes health/snapshot; a region whose shield reports unhealthy is skipped without a failed attempt", async () => {
        // Twice, an interval apart: unhealthy_threshold is 2.
        for (let round = 0; round < HEALTH.unhealthy_threshold; round++) {
          if (round > 0) await sleep(HEALTH.interval_ms + 100);
          const outcome = await gw.scheduled();
          assert.equal(outcome.outcome, "ok", JSON.stringify(outcome));
        }
        const regions = await snapshot();
        assert.equal(regions["probed-west"]?.healthy, false, JSON.stringify(regions));
        assert.equal(regions["probed-east"]?.healthy, true);
        assert.equal(regions["slow-west"]?.healthy, false, "the silent region's health check timed out");
        assert.equal(regions["eu-west"]?.healthy, true);
        const before = world.oA.count(`/p-${name}`);
        for (let i = 0; i < 5; i++) {
          const r = await answer(`/probed/p-${name}?i=${i}`);
          assert.equal(r.status, 200, r.body);
          assert.equal(r.region, "probed-east");
          assert.equal(r.attempts, 1, "no request paid a failed attempt");
        }
        assert.equal(world.oA.count(`/p-${name}`), before, "the unhealthy region was sent nothing");
      });
    }
  });
}
