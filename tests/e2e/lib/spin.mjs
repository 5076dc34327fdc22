// Runs the Spin component under the project's wasmtime-based test host (tests/spin-host), with
// spin.toml's allowed_outbound_hosts and key-value stores enforced. The store `default` is a
// SQLite file with Spin's own schema in a fresh temporary directory, as `spin up` keeps it in
// `.spin/sqlite_key_value.db`: `sqlite` is its path, for scripts/routes --spin-sqlite.
// `put`/`del` write the same file through the test host's admin API (quicker for many writes);
// `get` reads a value back (null when absent); `kvLatency(ms)` sets the host's wait before every
// wasi:keyvalue call (a slow store).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { bins, freePort, root, startProcess } from "./procs.mjs";

/** Starts the host; `args` are extra flags (e.g. `--kv-latency-ms 1`). */
export async function startSpin({ args = [] } = {}) {
  const [port, admin] = [await freePort(), await freePort()];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "e2e-spin-"));
  const sqlite = path.join(dir, ".spin", "sqlite_key_value.db");
  const proc = await startProcess(
    bins.spinHost,
    [
      "--manifest", path.join(root, "spin.toml"),
      "--component", bins.spinComponent,
      "--listen", `127.0.0.1:${port}`,
      "--admin", `127.0.0.1:${admin}`,
      "--sqlite", sqlite,
      ...args,
    ],
    { ready: /listening on/, name: "spin-test-host" },
  );
  const url = `http://127.0.0.1:${port}`;
  const kvUrl = (key) => `http://127.0.0.1:${admin}/kv/default/${key.split("/").map(encodeURIComponent).join("/")}`;
  const check = async (r) => { if (!r.ok) throw new Error(`spin host admin: ${r.status} ${await r.text()}`); };
  return {
    name: "spin",
    url,
    sqlite,
    fetch: (p, init) => fetch(url + p, { redirect: "manual", ...init }),
    dispatch: null, // no geo injection on Spin
    put: async (key, value) => check(await fetch(kvUrl(key), { method: "PUT", body: value })),
    del: async (key) => check(await fetch(kvUrl(key), { method: "DELETE" })),
    kvLatency: async (ms) => check(await fetch(`http://127.0.0.1:${admin}/kv-latency-ms`, { method: "PUT", body: String(ms) })),
    get: async (key) => {
      const r = await fetch(kvUrl(key));
      if (r.status === 404) return (await r.text(), null);
      await check(r);
      return Buffer.from(await r.arrayBuffer());
    },
    close: async () => {
      await proc.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
    output: proc.output,
  };
}
