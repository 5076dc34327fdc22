// Runs the built Worker under workerd through Miniflare's API, with a local KV namespace.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const workerDir = path.join(root, "edge-gateway/workers");

/**
 * One gateway Worker. `bindings` adds to the default ones (e.g. `{ PROBE_ROUNDS: "1" }`).
 * Besides `fetch`/`dispatch`/`put`/`del`: `get(key)` reads the routes KV (null when absent),
 * `scheduled()` runs the cron handler once, as a cron trigger would.
 */
export async function startWorkers({ bindings = {} } = {}) {
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
    bindings: { PURGE_SECRET: "e2e-purge-secret", SHIELD_PURGE_SECRET: "e2e-shield-secret", ...bindings },
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
    get: async (key) => {
      const value = await kv.get(key, "arrayBuffer");
      return value === null ? null : Buffer.from(value);
    },
    scheduled: async (cron = "* * * * *") => (await mf.getWorker()).scheduled({ cron }),
    close: () => mf.dispose(),
  };
}

const gatewayScript = {
  scriptPath: path.join(workerDir, "entry.mjs"),
  modules: true,
  modulesRoot: workerDir,
  modulesRules: [
    { type: "ESModule", include: ["**/*.js", "**/*.mjs"] },
    { type: "CompiledWasm", include: ["**/*.wasm"] },
  ],
  compatibilityDate: "2026-04-01",
};

/**
 * Several gateway Workers (the same built script) in one Miniflare, each its own isolate, as
 * separate edge locations. They share one routes KV namespace and one `RateLimiter` Durable
 * Object class, hosted by a further worker named `limiter`: the gateway itself, or `limiter`
 * (a JavaScript module's source) standing in for it, e.g. one that throws. `unbound` names
 * edges started without a `RATE_LIMITER` binding at all; `faultyKv` edges whose `ROUTES` is the
 * same namespace behind a wrapper whose `put` fails for `ratelimit/…` keys (reads, lists and
 * other writes pass through), as a KV write failing in production would.
 *
 * Returns `edges[name].fetch(path, init)` (straight to that isolate), `put(key, value)` into the
 * routes KV, `list(prefix)` of its keys (with metadata), `limiterStats(key)` (the object's
 * `GET /stats` for a counter key), `logs` (the runtime's output lines so far, also printed)
 * and `close()`.
 */
export async function startEdges({ names = ["edge-a", "edge-b", "edge-c"], limiter, unbound = [], faultyKv = [] } = {}) {
  const shared = { ...gatewayScript, kvNamespaces: { ROUTES: "routes" } };
  const bound = { RATE_LIMITER: { className: "RateLimiter", scriptName: "limiter" } };
  const workers = [
    ...names.map((name) => ({ ...shared, name, durableObjects: bound })),
    ...unbound.map((name) => ({ ...shared, name })),
    ...faultyKv.map((name) => ({ ...gatewayScript, name, durableObjects: bound, wrappedBindings: { ROUTES: { scriptName: "faulty-kv" } } })),
    ...(faultyKv.length ? [{ name: "faulty-kv", modules: true, kvNamespaces: { INNER: "routes" }, script: FAULTY_KV }] : []),
    limiter
      ? { name: "limiter", modules: true, script: limiter, compatibilityDate: "2026-04-01",
          durableObjects: { RATE_LIMITER: { className: "RateLimiter", useSQLite: true } } }
      : { ...shared, name: "limiter", durableObjects: { RATE_LIMITER: { className: "RateLimiter", useSQLite: true } } },
  ];
  const logs = [];
  const collect = (stream, out) => stream.on("data", (chunk) => {
    out.write(chunk);
    logs.push(...chunk.toString().split("\n").filter(Boolean));
  });
  const handleRuntimeStdio = (stdout, stderr) => { collect(stdout, process.stdout); collect(stderr, process.stderr); };
  const mf = new Miniflare({ workers, port: 0, host: "127.0.0.1", handleRuntimeStdio });
  await mf.ready;
  const kv = await mf.getKVNamespace("ROUTES", names[0] ?? unbound[0]);
  const namespace = await mf.getDurableObjectNamespace("RATE_LIMITER", "limiter");
  const edges = {};
  for (const name of [...names, ...unbound, ...faultyKv]) {
    const worker = await mf.getWorker(name);
    edges[name] = { name, fetch: (p, init) => worker.fetch(`http://gateway.test${p}`, { redirect: "manual", ...init }) };
  }
  return {
    edges,
    logs,
    put: (key, value) => kv.put(key, value),
    limiterStats: async (key) => {
      const response = await namespace.get(namespace.idFromName(key)).fetch("http://limiter/stats");
      if (response.status !== 200) throw new Error(`stats of ${key}: ${response.status} ${await response.text()}`);
      return response.json();
    },
    limiterFetch: (key, p, init) => namespace.get(namespace.idFromName(key)).fetch(`http://limiter${p}`, init),
    // Every key of the routes KV under `prefix`, with its `expiration` and `metadata`.
    list: async (prefix) => {
      const keys = [];
      let cursor;
      do {
        const page = await kv.list({ prefix, cursor });
        keys.push(...page.keys);
        cursor = page.list_complete ? undefined : page.cursor;
      } while (cursor);
      return keys;
    },
    close: () => mf.dispose(),
  };
}

// The wrapped `ROUTES` of `faultyKv` edges: the shared namespace, with share writes failing.
const FAULTY_KV = `export default function (env) {
  const kv = env.INNER;
  return {
    get: (...args) => kv.get(...args),
    getWithMetadata: (...args) => kv.getWithMetadata(...args),
    list: (...args) => kv.list(...args),
    delete: (...args) => kv.delete(...args),
    put: (key, ...args) => key.startsWith("ratelimit/") ? Promise.reject(new Error("KV PUT failed: 503 Service Unavailable (injected)")) : kv.put(key, ...args),
  };
}`;
