// The Worker's last line of defence (edge-gateway/workers/entry.mjs), in workerd: when the wasm
// module traps (a Rust panic aborts on wasm32), the request still gets a 500 problem+json with
// no internals, and the instance is marked for re-initialization. The wasm module is replaced
// by a stand-in that traps on demand, so the real entry module is what is tested.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { Miniflare } from "miniflare";
import { root } from "./lib/procs.mjs";

const standIn = `
import { WorkerEntrypoint } from "cloudflare:workers";
globalThis.__worker_init_state = { criticalError: false, instanceId: 0 };
export default class extends WorkerEntrypoint {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/trap") throw new WebAssembly.RuntimeError("unreachable executed at secret.rs:42");
    if (url.pathname === "/state") return Response.json(globalThis.__worker_init_state);
    return new Response("fine");
  }
}`;

test("a trap in the wasm module becomes a 500 problem and marks the instance for reset", async () => {
  const mf = new Miniflare({
    modules: [
      { type: "ESModule", path: "entry.mjs", contents: fs.readFileSync(path.join(root, "edge-gateway/workers/entry.mjs"), "utf8") },
      { type: "ESModule", path: "build/index.js", contents: standIn },
    ],
    compatibilityDate: "2026-04-01",
  });
  try {
    assert.equal(await (await mf.dispatchFetch("http://gw.test/ok")).text(), "fine");
    const response = await mf.dispatchFetch("http://gw.test/trap");
    assert.equal(response.status, 500);
    assert.equal(response.headers.get("content-type"), "application/problem+json");
    const text = await response.text();
    assert.ok(!text.includes("secret.rs"), "no internals in the body");
    const problem = JSON.parse(text);
    assert.equal(problem.type, "urn:edge-gateway:problem:internal-error");
    assert.equal(problem.status, 500);
    const state = await (await mf.dispatchFetch("http://gw.test/state")).json();
    assert.equal(state.criticalError, true, "worker-build's shim re-initializes the module on the next call");
  } finally {
    await mf.dispose();
  }
});
