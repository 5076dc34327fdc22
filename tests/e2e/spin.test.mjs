// End-to-end, Spin only: what the test host does as Spin does, and what the gateway must do
// about it. The client's `spin-*` headers reach the component before Spin's own (a forged
// `spin-client-addr` must not become the client address); `/.well-known/spin/*` is Spin's; and a
// routes document published with scripts/routes into the app's SQLite store (Spin's
// `.spin/sqlite_key_value.db` format) is served, then rolled back.
//
//   node --test tests/e2e/spin.test.mjs
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

import { routesDocument } from "./cases.mjs";
import { startOrigin } from "./lib/origin.mjs";
import { freePort, root, startShield } from "./lib/procs.mjs";
import { rawRequest } from "./lib/raw.mjs";
import { startSpin } from "./lib/spin.mjs";

const run = promisify(execFile);
const selected = (process.env.E2E_RUNTIMES ?? "workerd,spin").split(",").map((s) => s.trim());

/** Runs scripts/routes by a relative path from a directory outside the repository. */
async function routes(gw, ...args) {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "e2e-routes-cwd-"));
  try {
    const script = path.relative(cwd, path.join(root, "scripts/routes"));
    const { stdout } = await run(script, [...args, "--spin-sqlite", gw.sqlite], { cwd, timeout: 300_000 });
    return stdout;
  } finally {
    fs.rmSync(cwd, { recursive: true, force: true });
  }
}

describe("gateway on spin: Spin's own behaviour", { skip: !selected.includes("spin") }, () => {
  const world = {};
  let gw;
  let docs;
  before(async () => {
    world.origin = await startOrigin({ name: "demo-origin" });
    world.eu = await startShield("eu-west", world.origin.url);
    world.us = await startShield("us-east", world.origin.url);
    const doc = routesDocument({ eu: world.eu.url, us: world.us.url, dead: `http://127.0.0.1:${await freePort()}` });
    docs = fs.mkdtempSync(path.join(os.tmpdir(), "e2e-spin-docs-"));
    fs.writeFileSync(path.join(docs, "v1.json"), JSON.stringify(doc));
    const v2 = structuredClone(doc);
    v2.routes.push({ id: "v2-only", methods: ["GET"], path: "/v2-only", pool: "main" });
    fs.writeFileSync(path.join(docs, "v2.json"), JSON.stringify(v2));
    gw = await startSpin();
  });
  after(async () => {
    await gw?.close();
    await world.eu?.stop();
    await world.us?.stop();
    await world.origin?.close();
    if (docs) fs.rmSync(docs, { recursive: true, force: true });
  });

  it("answers /.well-known/spin/health itself (the gateway, with no routes yet, would say 503)", async () => {
    const response = await gw.fetch("/.well-known/spin/health");
    assert.equal(response.status, 200);
    assert.equal(await response.text(), "OK");
    const gateway = await gw.fetch("/api/x");
    assert.equal(gateway.status, 503, "the gateway itself has no routes yet");
  });

  it("serves a document published with scripts/routes into the SQLite store, then rolls back", async () => {
    const first = await routes(gw, "publish", path.join(docs, "v1.json"));
    const v1 = first.match(/as version (\S+)/)?.[1];
    assert.ok(v1, `publish output: ${first}`);
    assert.equal((await gw.fetch("/api/ping")).status, 200);
    assert.equal((await gw.fetch("/v2-only")).status, 404, "not in v1");

    await new Promise((r) => setTimeout(r, 1100)); // a distinct version id (it has a seconds part)
    const second = await routes(gw, "publish", path.join(docs, "v2.json"));
    const v2 = second.match(/as version (\S+)/)?.[1];
    assert.ok(v2 && v2 !== v1, `publish output: ${second}`);
    const served = await gw.fetch("/v2-only");
    assert.equal(served.status, 200, "Spin reads the store on every request");
    assert.equal((await served.json()).path, "/v2-only");

    assert.match(await routes(gw, "rollback", v1), new RegExp(`rolled back to version ${v1}`));
    assert.equal((await gw.fetch("/v2-only")).status, 404, "rolled back");
    assert.equal((await gw.fetch("/api/ping")).status, 200);
    const current = await routes(gw, "current");
    assert.match(current, new RegExp(`current: +${v1}\\n`));
    assert.match(current, new RegExp(`last-good: +${v1}\\n`));
  });

  // Regression (issue 10): Spin appends its spin-client-addr after the client's; the adapter
  // read the first one, so the origin saw X-Forwarded-For: 6.6.6.6.
  it("never takes the client address from a client-sent spin-client-addr", async () => {
    const response = await rawRequest(gw.url, "/api/spoof", {
      headers: { "spin-client-addr": "6.6.6.6:1234", "spin-full-url": "http://evil.test/broken" },
    });
    assert.equal(response.status, 200, response.body.toString());
    const echoed = JSON.parse(response.body);
    assert.equal(echoed.path, "/spoof", "routed on the real URL, not the forged spin-full-url");
    assert.equal(echoed.headers["x-forwarded-for"], "127.0.0.1");
    assert.match(echoed.headers.forwarded, /^for=127\.0\.0\.1;/);
    assert.ok(!JSON.stringify(echoed.headers).includes("6.6.6.6"), JSON.stringify(echoed.headers));
    assert.ok(!Object.keys(echoed.headers).some((name) => name.startsWith("spin-")), "spin-* headers reach the origin");
  });

  // What Spin main does, and the test host with it: `Connection` never reaches the component,
  // so the gateway cannot know which headers it named; they are forwarded like any other.
  it("forwards headers named in Connection, which the component cannot see (documented gap)", async () => {
    const response = await rawRequest(gw.url, "/api/hop", { headers: { connection: "x-drop-me", "x-drop-me": "secret" } });
    assert.equal(response.status, 200);
    const echoed = JSON.parse(response.body);
    assert.equal(echoed.headers.connection, undefined);
    assert.equal(echoed.headers["x-drop-me"], "secret");
  });
});
