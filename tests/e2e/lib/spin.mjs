// Runs the Spin component under the project's wasmtime-based test host (tests/spin-host),
// with spin.toml's allowed_outbound_hosts and key-value stores enforced.
import path from "node:path";
import { bins, freePort, root, startProcess } from "./procs.mjs";

export async function startSpin() {
  const [port, admin] = [await freePort(), await freePort()];
  const proc = await startProcess(
    bins.spinHost,
    [
      "--manifest", path.join(root, "spin.toml"),
      "--component", bins.spinComponent,
      "--listen", `127.0.0.1:${port}`,
      "--admin", `127.0.0.1:${admin}`,
    ],
    { ready: /listening on/, name: "spin-test-host" },
  );
  const url = `http://127.0.0.1:${port}`;
  const kvUrl = (key) => `http://127.0.0.1:${admin}/kv/default/${key.split("/").map(encodeURIComponent).join("/")}`;
  const check = async (r) => { if (!r.ok) throw new Error(`spin host admin: ${r.status} ${await r.text()}`); };
  return {
    name: "spin",
    url,
    fetch: (p, init) => fetch(url + p, { redirect: "manual", ...init }),
    dispatch: null, // no geo injection on Spin
    put: async (key, value) => check(await fetch(kvUrl(key), { method: "PUT", body: value })),
    del: async (key) => check(await fetch(kvUrl(key), { method: "DELETE" })),
    close: proc.stop,
    output: proc.output,
  };
}
