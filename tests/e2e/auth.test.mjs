// End-to-end authentication on both runtimes: a demo IdP on loopback (JWKS + OIDC discovery),
// real origin shields and the demo origin. What the origin saw is what crossed the edge.
//
//   E2E_RUNTIMES=workerd,spin (default both)   node --test tests/e2e/auth.test.mjs
import { after, afterEach, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";

import { routesDocument } from "./cases.mjs";
import { startIdp } from "./lib/idp.mjs";
import { startOrigin } from "./lib/origin.mjs";
import { startShield } from "./lib/procs.mjs";
import { startSpin } from "./lib/spin.mjs";
import { publish } from "./lib/routes.mjs";
import { startWorkers } from "./lib/workers.mjs";

const runtimes = { workerd: startWorkers, spin: startSpin };
const selected = (process.env.E2E_RUNTIMES ?? "workerd,spin").split(",").map((s) => s.trim()).filter(Boolean);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sha256 = (text) => crypto.createHash("sha256").update(text).digest("hex");

const world = {};
before(async () => {
  world.origin = await startOrigin({ name: "auth-origin" });
  world.eu = await startShield("eu-west", world.origin.url);
  world.idp = await startIdp({ maxAge: 1 });
});
after(async () => {
  await world.eu?.stop();
  await world.origin?.close();
  await world.idp?.close();
});

/** The shared routes plus an auth section whose caches are short enough to watch them work. */
function authRoutes() {
  const doc = routesDocument({ eu: world.eu.url, us: world.eu.url, dead: world.eu.url });
  const cache = { min_ttl_ms: 1000, max_ttl_ms: 1000, max_stale_ms: 120000, refetch_interval_ms: 1000 };
  doc.auth = {
    issuers: {
      demo: { issuer: world.idp.issuer, jwks_uri: world.idp.jwksUri, audiences: ["edge-api"],
              algorithms: ["RS256", "ES256"], tenant_claim: "org", jwks_cache: cache },
      oidc: { issuer: world.idp.issuer, discovery_url: world.idp.discoveryUrl, audiences: ["oidc-api"],
              algorithms: ["ES256"], jwks_cache: cache },
    },
    api_keys: { header: "x-api-key", cache_ttl_ms: 1000 },
  };
  // The shared routes strip prefixes (/api, /failover): beside protected routes on the same
  // shield they would forward /api/private/x as /private/x, which validation refuses. Here
  // they forward paths as they are.
  for (const route of doc.routes) delete route.strip_prefix;
  doc.routes.unshift(
    { id: "private", path: "/private/{*rest}", pool: "main", auth: { jwt: ["demo"],
      rules: [{ methods: ["POST"], scopes: ["orders:write"] }] } },
    { id: "oidc", path: "/oidc", pool: "main", auth: { jwt: ["oidc"] } },
    { id: "partner", path: "/partner", pool: "main", auth: { api_key: true } },
  );
  return doc;
}

const token = (claims = {}, options) =>
  world.idp.sign({ sub: "alice", aud: "edge-api", org: "acme", scope: "orders:read", ...claims }, options);

for (const name of selected) {
  describe(`auth on ${name}`, () => {
    let gw;
    let passed = 0;
    afterEach((t) => { if (!t.error) passed += 1; });
    before(async () => {
      gw = await runtimes[name]();
      await publish(gw, "auth-1", authRoutes());
      const deadline = Date.now() + 5000;
      while ((await gw.fetch("/api/ready")).status !== 200 && Date.now() < deadline) await sleep(200);
    });
    after(async () => {
      await gw?.close();
      console.log(`e2e: auth on ${name}: ${passed} tests passed`);
    });

    const call = (path, headers = {}, init = {}) => gw.fetch(path, { headers, ...init });
    const echoed = async (response) => {
      const text = await response.text();
      assert.equal(response.status, 200, text.slice(0, 300));
      return JSON.parse(text);
    };

    it("answers 401 with a Bearer challenge and problem+json when no token is sent", async () => {
      const response = await call("/private/orders");
      assert.equal(response.status, 401);
      assert.equal(response.headers.get("www-authenticate"), 'Bearer realm="edge-gateway"');
      assert.equal(response.headers.get("content-type"), "application/problem+json");
      assert.equal((await response.json()).type, "urn:edge-gateway:problem:unauthorized");
    });

    it("passes a valid RS256 token with identity headers set and spoofed ones replaced", async () => {
      const seen = await echoed(await call("/private/orders", {
        authorization: `Bearer ${token()}`,
        "x-auth-subject": "mallory",
        "x-auth-tenant": "evil-corp",
      }));
      assert.equal(seen.headers["x-auth-subject"], "alice");
      assert.equal(seen.headers["x-auth-tenant"], "acme");
      assert.equal(seen.headers["x-auth-method"], "jwt");
      assert.equal(seen.headers["x-auth-scopes"], "orders:read");
      assert.equal(seen.headers.authorization, undefined, "Authorization is not forwarded by default");
    });

    it("passes ES256 tokens of an issuer configured by OIDC discovery", async () => {
      const es = world.idp.sign({ sub: "bob", aud: "oidc-api" }, { alg: "ES256" });
      const seen = await echoed(await call("/oidc", { authorization: `Bearer ${es}` }));
      assert.equal(seen.headers["x-auth-subject"], "bob");
      assert.equal(seen.headers["x-auth-issuer"], "oidc");
    });

    it("refuses bad tokens with RFC 6750 invalid_token and a scope-less POST with 403", async () => {
      // A signature moved onto another payload: only the signature check (Web Crypto on Workers,
      // Rust on Spin) can refuse these.
      const swap = (signed, other) => {
        const [h, , sig] = signed.split(".");
        return `${h}.${other.split(".")[1]}.${sig}`;
      };
      const forged = [
        swap(token(), token({ sub: "mallory" })),
        swap(world.idp.sign({ aud: "edge-api" }, { alg: "ES256" }), world.idp.sign({ aud: "edge-api", sub: "mallory" }, { alg: "ES256" })),
      ];
      for (const bad of [token({ exp: Math.floor(Date.now() / 1000) - 60 }), token({ aud: "other" }), `${token()}x`, ...forged]) {
        const response = await call("/private/orders", { authorization: `Bearer ${bad}` });
        assert.equal(response.status, 401);
        assert.match(response.headers.get("www-authenticate"), /error="invalid_token"/);
        await response.arrayBuffer();
      }
      const response = await call("/private/orders", { authorization: `Bearer ${token()}` }, { method: "POST" });
      assert.equal(response.status, 403);
      assert.match(response.headers.get("www-authenticate"), /error="insufficient_scope", scope="orders:write"/);
      await response.arrayBuffer();
    });

    it("never lets spoofed identity headers reach the origin on an open route", async () => {
      const seen = await echoed(await call("/api/open", { "x-auth-subject": "root", "x-auth-scopes": "admin" }));
      assert.equal(seen.headers["x-auth-subject"], undefined);
      assert.equal(seen.headers["x-auth-scopes"], undefined);
    });

    it("accepts tokens signed with a rotated key (new kid) through a refetch", async () => {
      world.idp.rotate();
      await sleep(1100); // past the refetch interval
      const seen = await echoed(await call("/private/orders", { authorization: `Bearer ${token({ sub: "carol" })}` }));
      assert.equal(seen.headers["x-auth-subject"], "carol");
    });

    it("keeps verifying with stale keys while the IdP is down", async () => {
      const fresh = token({ sub: "dave" });
      await echoed(await call("/private/orders", { authorization: `Bearer ${fresh}` }));
      await world.idp.stop();
      try {
        await sleep(1500); // past the 1 s TTL: a refresh is attempted and fails
        const again = token({ sub: "erin" }); // not in any verified-token cache
        const seen = await echoed(await call("/private/orders", { authorization: `Bearer ${again}` }));
        assert.equal(seen.headers["x-auth-subject"], "erin");
      } finally {
        await world.idp.start();
      }
    });

    it("accepts an API key once added and refuses it after revocation (within the cache TTL)", async () => {
      const key = `egk_${crypto.randomBytes(16).toString("hex")}`;
      const hash = sha256(key);
      const record = { key_sha256: hash, id: "k_e2e", tenant: "partner-co", scopes: ["orders:read"], status: "active", description: "e2e" };
      const before = await call("/partner", { "x-api-key": key });
      assert.equal(before.status, 401);
      assert.equal(before.headers.get("www-authenticate"), 'ApiKey realm="edge-gateway"');
      await before.arrayBuffer();
      await gw.put(`apikeys/${hash}`, JSON.stringify(record));
      await sleep(5100); // an unknown key is remembered as unknown for at most 5 s
      const seen = await echoed(await call("/partner", { "x-api-key": key }));
      assert.equal(seen.headers["x-auth-subject"], "apikey:k_e2e");
      assert.equal(seen.headers["x-auth-tenant"], "partner-co");
      assert.equal(seen.headers["x-api-key"], undefined, "the plain key never reaches the origin");
      await gw.put(`apikeys/${hash}`, JSON.stringify({ ...record, status: "revoked" }));
      await sleep(1100);
      const after = await call("/partner", { "x-api-key": key });
      assert.equal(after.status, 401);
      await after.arrayBuffer();
    });
  });
}
