// Child processes for the end-to-end tests: free ports, start-and-wait-for-a-line, shields.
import { spawn } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const targetDir = process.env.CARGO_TARGET_DIR ?? path.join(root, "target");
export const bins = {
  shield: process.env.SHIELD_BIN ?? path.join(targetDir, "debug/origin-shield"),
  spinHost: process.env.SPIN_HOST_BIN ?? path.join(targetDir, "debug/spin-test-host"),
  spinComponent:
    process.env.SPIN_COMPONENT ?? path.join(targetDir, "wasm32-wasip2/release/edge_gateway_spin.wasm"),
};

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Spawns `cmd` and resolves once a line of its stdout matches `ready`. */
export function startProcess(cmd, args, { ready, timeoutMs = 60_000, name = path.basename(cmd), env } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env: env ? { ...process.env, ...env } : process.env });
    let output = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${name} did not become ready in ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    const onData = (chunk) => {
      output += chunk;
      if (output.length > 100_000) output = output.slice(-50_000);
      if (ready.test(output)) {
        clearTimeout(timer);
        resolve({
          child,
          output: () => output,
          stop: () => new Promise((r) => {
            if (child.exitCode !== null) return r();
            child.once("exit", () => r());
            child.kill("SIGTERM");
            setTimeout(() => child.kill("SIGKILL"), 3000).unref();
          }),
        });
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", (chunk) => { output += chunk; });
    child.on("error", (e) => { clearTimeout(timer); reject(new Error(`${name}: ${e.message}`)); });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before it was ready:\n${output}`));
    });
  });
}

/** Starts one origin shield for `region` in front of `origin` (on `port`, e.g. to restart one). */
export async function startShield(region, origin, { env, args = [], port: fixed } = {}) {
  const port = fixed ?? (await freePort());
  const proc = await startProcess(
    bins.shield,
    ["--listen", `127.0.0.1:${port}`, "--region", region, "--origin", origin, ...args],
    { ready: /listening on/, name: `origin-shield ${region}`, env },
  );
  // `kill`: SIGKILL, as a region that dies (no graceful shutdown), resolved once it exited.
  const kill = () => new Promise((r) => {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) return r();
    proc.child.once("exit", () => r());
    proc.child.kill("SIGKILL");
  });
  return { region, port, url: `http://127.0.0.1:${port}`, stop: proc.stop, kill };
}
