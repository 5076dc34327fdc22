// End-to-end: the built gateway in its real runtimes (workerd via Miniflare, the Spin component
// in the wasmtime test host), in front of real origin shields and a demo origin on loopback.
//
//   E2E_RUNTIMES=workerd,spin (default both)   node --test tests/e2e/
import { after, afterEach, before, describe, it } from "node:test";
import assert from "node:assert/strict";

import { cases, routesDocument } from "./cases.mjs";
import { startOrigin } from "./lib/origin.mjs";
import { freePort, startShield } from "./lib/procs.mjs";
import { startSpin } from "./lib/spin.mjs";
import { publish } from "./lib/routes.mjs";
import { startWorkers } from "./lib/workers.mjs";
import { rawRequest } from "./lib/raw.mjs";

const runtimes = { workerd: startWorkers, spin: startSpin };
const selected = (process.env.E2E_RUNTIMES ?? "workerd,spin").split(",").map((s) => s.trim()).filter(Boolean);

const world = {};
before(async () => {
  world.origin = await startOrigin({ name: "demo-origin" });
  world.eu = await startShield("eu-west", world.origin.url);
  world.us = await startShield("us-east", world.origin.url);
  world.dead = `http://127.0.0.1:${await freePort()}`;
  world.routes = routesDocument({ eu: world.eu.url, us: world.us.url, dead: world.dead });
});
after(async () => {
  await world.eu?.stop();
  await world.us?.stop();
  await world.origin?.close();
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function lookup(json, dotted) {
  if (dotted.startsWith("headers.")) return json.headers?.[dotted.slice(8)];
  return dotted.split(".").reduce((v, k) => v?.[k], json);
}

async function check(gw, { request, expect: shared }) {
  const expect = { ...shared, ...shared.byRuntime?.[gw.name] };
  const response = await rawRequest(gw.url, request.path, request);
  const body = response.body;
  const text = () => body.toString("utf8").slice(0, 500);
  const statuses = [expect.status].flat();
  assert.ok(statuses.includes(response.status), `status ${response.status}, want ${statuses}; body: ${text()}`);
  for (const [name, value] of Object.entries(expect.headers ?? {})) {
    assert.equal(response.headers.get(name), value, `response header ${name}`);
  }
  if (expect.problem) {
    assert.equal(response.headers.get("content-type"), "application/problem+json");
    const problem = JSON.parse(body);
    const kinds = [expect.problem].flat().map((kind) => `urn:edge-gateway:problem:${kind}`);
    assert.ok(kinds.includes(problem.type), `problem type ${problem.type}, want ${kinds}`);
    assert.equal(problem.status, response.status);
    assert.equal(problem.request_id, response.headers.get("x-request-id"));
  }
  if (expect.bodyBytes !== undefined) assert.equal(body.length, expect.bodyBytes, "response body length");
  if (expect.origin) {
    const echoed = JSON.parse(body);
    for (const [field, want] of Object.entries(expect.origin)) {
      const got = lookup(echoed, field);
      if (typeof want === "function") assert.ok(want(got), `origin saw ${field} = ${JSON.stringify(got)}`);
      else assert.equal(got, want, `origin saw ${field}`);
    }
  }
}

for (const name of selected) {
  describe(`gateway on ${name}`, () => {
    let gw;
    let passed = 0;
    afterEach((t) => { if (!t.error) passed += 1; });
    before(async () => {
      gw = await runtimes[name]();
    });
    after(async () => {
      await gw?.close();
      console.log(`e2e: ${name}: ${passed} tests passed (${cases.length} shared table cases among them)`);
    });

    it("answers 503 problem before any routes are published", async () => {
      const response = await gw.fetch("/api/x");
      assert.equal(response.status, 503);
      const problem = await response.json();
      assert.equal(problem.type, "urn:edge-gateway:problem:no-config");
    });

    it("serves the published routes", async () => {
      await publish(gw, "v1", world.routes);
      await sleep(1100); // the no-config retry interval
      const response = await gw.fetch("/api/ping");
      assert.equal(response.status, 200, await response.clone().text());
    });

    for (const row of cases) {
      it(row.name, async () => check(gw, row));
    }

    if (name === "workerd") {
      it("sends each client to the nearest region first (request.cf coordinates)", async () => {
        const near = async (latitude, longitude) => {
          const response = await gw.dispatch("/api/geo", { cf: { latitude, longitude } });
          await response.arrayBuffer();
          return response.headers.get("x-edge-region");
        };
        assert.equal(await near("40.71", "-74.01"), "us-east", "New York");
        assert.equal(await near("48.86", "2.35"), "eu-west", "Paris");
      });
    }

    it("keeps serving the previous version when an invalid config is pushed", async () => {
      await gw.put("routes/versions/v2-broken", JSON.stringify({ ...world.routes, routes: [{ id: "x", path: "no-slash", pool: "nope" }] }));
      await gw.put("routes/current", "v2-broken");
      await sleep(1200);
      for (let i = 0; i < 3; i++) {
        const response = await gw.fetch("/api/still-here");
        assert.equal(response.status, 200, "previous version still serves");
      }
      await gw.put("routes/current", "v1");
    });

    it("switches to a new version once the TTL has passed", async () => {
      const v3 = structuredClone(world.routes);
      v3.routes.push({ id: "brand-new", methods: ["GET"], path: "/v3-only", pool: "main" });
      await publish(gw, "v3", v3);
      const deadline = Date.now() + 5000;
      let status;
      do {
        await sleep(200);
        status = (await gw.fetch("/v3-only")).status;
      } while (status !== 200 && Date.now() < deadline);
      assert.equal(status, 200, "the new route is live within TTL + margin");
      const echoed = await (await gw.fetch("/v3-only")).json();
      assert.equal(echoed.path, "/v3-only");
    });
  });
}
