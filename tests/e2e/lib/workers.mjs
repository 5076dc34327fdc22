// Runs the built Worker under workerd through Miniflare's API, with a local KV namespace.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const workerDir = path.join(root, "edge-gateway/workers");

export async function startWorkers() {
  const mf = new Miniflare({
    scriptPath: path.join(workerDir, "entry.mjs"),
    modules: true,
    modulesRoot: workerDir,
    modulesRules: [
      { type: "ESModule", include: ["**/*.js", "**/*.mjs"] },
      { type: "CompiledWasm", include: ["**/*.wasm"] },
    ],
    compatibilityDate: "2026-04-01",
    kvNamespaces: ["ROUTES"],
    // Enables the purge endpoint (a Workers secret in production).
    bindings: { PURGE_SECRET: "e2e-purge-secret", SHIELD_PURGE_SECRET: "e2e-shield-secret" },
    port: 0,
    host: "127.0.0.1",
  });
  const url = (await mf.ready).toString().replace(/\/$/, "");
  const kv = await mf.getKVNamespace("ROUTES");
  return {
    name: "workerd",
    url,
    // Through the real HTTP socket, like a client: `cf` cannot be set this way.
    fetch: (p, init) => fetch(url + p, { redirect: "manual", ...init }),
    // Through Miniflare's dispatch, which can inject `request.cf` (geo).
    dispatch: (p, init) => mf.dispatchFetch(url + p, { redirect: "manual", ...init }),
    put: (key, value) => kv.put(key, value),
    del: (key) => kv.delete(key),
    close: () => mf.dispose(),
  };
}
