// A demo identity provider on loopback: a JWKS endpoint and an OpenID Connect discovery document,
// with keys generated at start, rotation on demand, and stop/start to simulate an outage.
// Tokens are signed here with node's crypto (RS256 and ES256), independently of the gateway.
import crypto from "node:crypto";
import http from "node:http";

const b64url = (data) => Buffer.from(data).toString("base64url");

function newKey(alg, kid) {
  const { privateKey, publicKey } =
    alg === "RS256"
      ? crypto.generateKeyPairSync("rsa", { modulusLength: 2048 })
      : crypto.generateKeyPairSync("ec", { namedCurve: "P-256" });
  const jwk = { ...publicKey.export({ format: "jwk" }), kid, alg, use: "sig" };
  return { alg, kid, privateKey, jwk };
}

/** Starts the IdP. `issuer` is the `iss` its tokens carry. */
export async function startIdp({ issuer = "https://idp.demo.test", maxAge = 1 } = {}) {
  let generation = 1;
  let keys = [newKey("RS256", "rs-1"), newKey("ES256", "es-1")];
  const hits = { jwks: 0, discovery: 0 };
  let server;
  let port = 0;
  const handler = (req, res) => {
    if (req.url === "/jwks.json") {
      hits.jwks += 1;
      res.writeHead(200, { "content-type": "application/json", "cache-control": `max-age=${maxAge}` });
      return res.end(JSON.stringify({ keys: keys.map((k) => k.jwk) }));
    }
    if (req.url === "/.well-known/openid-configuration") {
      hits.discovery += 1;
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify({ issuer, jwks_uri: `http://127.0.0.1:${port}/jwks.json` }));
    }
    res.writeHead(404).end();
  };
  const listen = () =>
    new Promise((resolve) => {
      server = http.createServer(handler);
      server.listen(port, "127.0.0.1", () => {
        port = server.address().port;
        resolve();
      });
    });
  await listen();
  const url = `http://127.0.0.1:${port}`;
  return {
    issuer,
    url,
    jwksUri: `${url}/jwks.json`,
    discoveryUrl: `${url}/.well-known/openid-configuration`,
    hits,
    /** A compact JWS over `claims` (iss, iat, exp filled in unless given) with the current key for `alg`. */
    sign(claims, { alg = "RS256", kid } = {}) {
      const key = keys.find((k) => k.alg === alg && (!kid || k.kid === kid));
      const now = Math.floor(Date.now() / 1000);
      const header = b64url(JSON.stringify({ alg, kid: key.kid, typ: "JWT" }));
      const payload = b64url(JSON.stringify({ iss: issuer, iat: now, exp: now + 600, ...claims }));
      const input = `${header}.${payload}`;
      const options = alg === "ES256" ? { key: key.privateKey, dsaEncoding: "ieee-p1363" } : key.privateKey;
      return `${input}.${b64url(crypto.sign("sha256", Buffer.from(input), options))}`;
    },
    /** Replaces every key with new ones under new kids (the old tokens stop verifying). */
    rotate() {
      generation += 1;
      keys = [newKey("RS256", `rs-${generation}`), newKey("ES256", `es-${generation}`)];
    },
    /** Simulates an outage: the port refuses connections until `start`. */
    stop: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
    start: listen,
    close: () =>
      new Promise((resolve) => {
        if (!server.listening) return resolve();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
