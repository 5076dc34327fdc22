// The gateway's admin API and status page (issue 14) on both runtimes: a document pushed
// through `PUT /__gateway/admin/routes` is served, an invalid one is refused with its JSON paths
// and changes nothing, rollback goes back, the API refuses without or with a wrong secret, and
// the status page renders in a real headless browser (Debian's chromium via playwright-core):
// its key elements are found and a screenshot is checked for structure (size, ink where the
// heading and the region rows are, nothing below the page's content).
//
//   E2E_RUNTIMES=workerd,spin node --test --test-concurrency=1 tests/e2e/admin.test.mjs
import { after, afterEach, before, describe, it } from "node:test";
import assert from "node:assert/strict";

import { decodePng, inkShare, launchChromium } from "./lib/browser.mjs";
import { startOrigin } from "./lib/origin.mjs";
import { startSpin } from "./lib/spin.mjs";
import { startWorkers } from "./lib/workers.mjs";

const SECRET = "e2e-admin-secret";
const runtimes = {
  workerd: () => startWorkers({ bindings: { ADMIN_SECRET: SECRET } }),
  spin: () => {
    // Spin's environment provider for `[variables] admin_secret` (spin.toml).
    process.env.SPIN_VARIABLE_ADMIN_SECRET = SECRET;
    return startSpin();
  },
};
const selected = (process.env.E2E_RUNTIMES ?? "workerd,spin").split(",").map((s) => s.trim()).filter((n) => n in runtimes);

function routes(originUrl, greeting) {
  return {
    settings: { config_ttl_ms: 500 },
    regions: [
      { name: "eu-west", shield: originUrl, lat: 53.35, lon: -6.26 },
      { name: "us-east", shield: originUrl, lat: 38.9, lon: -77.04 },
    ],
    pools: { api: { regions: ["eu-west", "us-east"] } },
    routes: [{ id: greeting, path: `/${greeting}/{*rest}`, pool: "api", strip_prefix: `/${greeting}` }],
  };
}

const world = {};
before(async () => {
  world.origin = await startOrigin({ name: "admin-origin" });
  world.chromium = await launchChromium();
});
after(async () => {
  await world.chromium?.browser?.close();
  await world.origin?.close();
});

for (const name of selected) {
  describe(`admin API on ${name}`, () => {
    let gw;
    let passed = 0;
    const pushed = [];
    afterEach((t) => { if (!t.error) passed += 1; });
    before(async () => { gw = await runtimes[name](); });
    after(async () => {
      await gw?.close();
      console.log(`e2e: admin API on ${name}: ${passed} tests passed`);
    });

    const admin = async (method, path, { body, secret = SECRET } = {}) => {
      const headers = secret === null ? {} : { authorization: `Bearer ${secret}` };
      const response = await gw.fetch(`/__gateway/admin/${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await response.text();
      let json = null;
      try { json = JSON.parse(text); } catch { /* html */ }
      return { status: response.status, type: response.headers.get("content-type"), headers: response.headers, text, json };
    };
    const served = async (path, want, ms = 5000) => {
      const deadline = Date.now() + ms;
      let last;
      while (Date.now() < deadline) {
        const r = await gw.fetch(path);
        last = { status: r.status, body: await r.text() };
        if (last.status === want) return last;
        await new Promise((r) => setTimeout(r, 150));
      }
      return last;
    };

    it("refuses without the secret and with a wrong one (401 problem)", async () => {
      for (const secret of [null, "wrong-secret", `${SECRET}x`]) {
        const r = await admin("GET", "routes", { secret });
        assert.equal(r.status, 401, `secret ${secret}: ${r.text}`);
        assert.equal(r.type, "application/problem+json");
        assert.equal(r.json.status, 401);
      }
    });

    it("answers 404 before anything is published", async () => {
      const r = await admin("GET", "routes");
      assert.equal(r.status, 404, r.text);
      assert.equal(r.type, "application/problem+json");
    });

    it("a pushed document is served; history and current follow", async () => {
      const dry = await admin("PUT", "routes?dry_run=true", { body: routes(world.origin.url, "alpha") });
      assert.equal(dry.status, 200, dry.text);
      assert.equal(dry.json.dry_run, true);
      assert.equal((await admin("GET", "routes")).status, 404, "a dry run writes nothing");

      for (const greeting of ["alpha", "beta"]) {
        const r = await admin("PUT", "routes", { body: routes(world.origin.url, greeting) });
        assert.equal(r.status, 201, r.text);
        assert.equal(r.type, "application/json");
        assert.match(r.json.version, /^\d{13}-[0-9a-f]{8}$/);
        assert.equal(r.json.previous, pushed.at(-1) ?? null);
        pushed.push(r.json.version);
        assert.equal((await served(`/${greeting}/hello`, 200)).status, 200, `${greeting} is served`);
      }
      const current = await admin("GET", "routes");
      assert.equal(current.json.version, pushed[1]);
      assert.equal(current.json.document.routes[0].id, "beta");
      assert.equal(typeof current.json.published_at, "number");
      const history = await admin("GET", "routes/history");
      assert.deepEqual(history.json.versions.map((v) => [v.version, v.current]), [[pushed[1], true], [pushed[0], false]]);
    });

    it("an invalid push answers 422 with JSON paths and leaves the live version", async () => {
      const bad = routes(world.origin.url, "gamma");
      bad.routes[0].pool = "nope";
      const r = await admin("PUT", "routes", { body: bad });
      assert.equal(r.status, 422, r.text);
      assert.equal(r.type, "application/problem+json");
      assert.ok(r.json.errors.some((e) => e.path === "$.routes[0].pool" && e.reason), r.text);
      assert.equal((await admin("GET", "routes")).json.version, pushed[1]);
      assert.equal((await gw.get("routes/current")).toString(), pushed[1]);
    });

    it("rollback goes to the previous version, which is served again", async () => {
      const r = await admin("POST", "routes/rollback", { body: {} });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json, { version: pushed[0], previous: pushed[1] });
      assert.equal((await served("/alpha/hello", 200)).status, 200);
      assert.equal((await served("/beta/hello", 404)).status, 404);
      const unknown = await admin("POST", "routes/rollback", { body: { version: "1-deadbeef" } });
      assert.equal(unknown.status, 404, unknown.text);
      assert.equal((await gw.get("routes/current")).toString(), pushed[0]);
    });

    it("status.json names the live version and every region", async () => {
      const deadline = Date.now() + 5000;
      let status;
      do {
        status = (await admin("GET", "status.json")).json;
      } while (status.version !== pushed[0] && Date.now() < deadline && (await new Promise((r) => setTimeout(r, 150)), true));
      assert.equal(status.version, pushed[0]);
      assert.deepEqual(status.regions.map((r) => r.name), ["eu-west", "us-east"]);
      assert.ok(["closed", "open", "half-open"].includes(status.regions[0].breaker));
      assert.equal(typeof status.error_rate.rate, "number");
      assert.equal(typeof status.rate_limits.counters, "number");
    });

    it("the status page renders in a headless browser", { timeout: 20_000 }, async (t) => {
      if (world.chromium.skip) return t.skip(world.chromium.skip);
      const context = await world.chromium.browser.newContext({
        viewport: { width: 1024, height: 768 },
        extraHTTPHeaders: { authorization: `Bearer ${SECRET}` },
      });
      try {
        const page = await context.newPage();
        const requested = [];
        page.on("request", (request) => requested.push(request.url()));
        const response = await page.goto(`${gw.url}/__gateway/admin/status`, { timeout: 5000 });
        assert.equal(response.status(), 200);
        assert.match(response.headers()["content-type"], /^text\/html/);
        assert.match(await page.locator("h1").innerText(), /status/i);
        assert.equal(await page.locator("#config-version").innerText(), pushed[0]);
        const rows = page.locator("table#regions tr[data-region]");
        assert.deepEqual(await rows.evaluateAll((trs) => trs.map((tr) => tr.dataset.region)), ["eu-west", "us-east"]);
        assert.match(await page.locator("#error-rate").innerText(), /^\d+(\.\d)?%$/);

        const png = await page.screenshot({ fullPage: true, timeout: 5000 });
        const image = decodePng(png);
        assert.equal(image.width, 1024);
        assert.ok(image.height >= 300, `page height ${image.height}`);
        const h1 = await page.locator("h1").boundingBox();
        const table = await page.locator("table#regions").boundingBox();
        const rate = await page.locator("#error-rate").boundingBox();
        const rowBoxes = await Promise.all([0, 1].map((i) => rows.nth(i).boundingBox()));
        assert.ok(h1.width > 50 && h1.height > 10, JSON.stringify(h1));
        assert.ok(table.y > h1.y + h1.height, "the table is below the heading");
        assert.ok(rowBoxes[0].y >= table.y && rowBoxes[1].y > rowBoxes[0].y, "rows stack inside the table");
        assert.ok(rowBoxes[1].y + rowBoxes[1].height <= table.y + table.height + 1);
        assert.ok(rate.y > table.y + table.height, "the error rate follows the regions");
        assert.ok(inkShare(image, h1) > 0.01, "the heading is drawn");
        for (const box of rowBoxes) assert.ok(inkShare(image, box) > 0.01, `row drawn at ${JSON.stringify(box)}`);
        const bottom = Math.ceil(rate.y + rate.height) + 40;
        if (image.height - bottom > 20) {
          assert.equal(inkShare(image, { x: 0, y: bottom, width: image.width, height: image.height - bottom }), 0, "nothing below the content");
        }
        // The page itself, and the browser's own favicon probe: no stylesheet, script or image.
        const statusUrl = `${gw.url}/__gateway/admin/status`;
        assert.deepEqual(requested.filter((u) => u !== statusUrl && u !== `${gw.url}/favicon.ico`), [], "no external assets");
        assert.equal(await page.locator("link, script, img, iframe").count(), 0);
      } finally {
        await context.close();
      }
    });
  });
}
