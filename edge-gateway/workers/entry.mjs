// Entry module of the Worker: the worker-build output, with one safety net around `fetch`.
//
// Rust panics abort the wasm instance (stable Rust cannot unwind on wasm32). worker-build's shim
// re-initializes the instance for the next request; this wrapper makes sure the request that hit
// the panic still gets an RFC 9457 problem response (500) instead of the runtime's error page,
// without internals in the body.
import Gateway, * as built from "./build/index.js";

// The Durable Object class of exact rate limits (edge-gateway/workers/src/limiter.rs), bound as
// RATE_LIMITER in wrangler.toml. Read off the namespace so that a module without it (the panic
// boundary test's stand-in) still loads: workerd refuses an undefined export, so such a module
// gets a class whose every call fails, and each policy's `on_store_error` decides.
export const RateLimiter =
  built.RateLimiter ??
  class RateLimiter {
    fetch() {
      return new Response(null, { status: 501 });
    }
  };

const PROBLEM = {
  type: "urn:edge-gateway:problem:internal-error",
  title: "Internal Server Error",
  status: 500,
  detail: "the gateway failed to handle the request",
};

export default class EdgeGateway extends Gateway {
  async fetch(request) {
    try {
      return await super.fetch(request);
    } catch (error) {
      if (error instanceof WebAssembly.RuntimeError && globalThis.__worker_init_state) {
        globalThis.__worker_init_state.criticalError = true;
      }
      console.error("edge-gateway: request failed inside the wasm module:", error);
      return new Response(JSON.stringify({ ...PROBLEM, request_id: "-" }), {
        status: 500,
        headers: { "content-type": "application/problem+json", "cache-control": "no-store" },
      });
    }
  }
}
