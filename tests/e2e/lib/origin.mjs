// The demo origin: echoes what it received as JSON, so tests can assert what crossed the edge
// and the shield. Also: `/slow?ms=N` answers after N ms, `/status/N` answers with status N,
// `/bytes/N` streams N bytes; `/early/…` sends 103 and 102 before answering as for `/…`. Counts requests per path and keeps every raw target (`seen`);
// `GET /healthz` (a health check) answers 200 and is only counted (`healthChecks`).
import http from "node:http";

export function startOrigin({ port = 0, name = "origin" } = {}) {
  const counts = new Map();
  const seen = []; // every request target as it arrived, with its method
  let healthChecks = 0;
  const server = http.createServer(async (req, res) => {
    if (req.method === "GET" && req.url === "/healthz") {
      // A health check (the gateway's prober, when a region points straight at an origin):
      // answered, counted apart, and kept out of `seen` and the per-path counts.
      healthChecks += 1;
      res.writeHead(200, { "content-type": "application/json" });
      return res.end('{"status":"ok"}');
    }
    seen.push({ method: req.method, target: req.url });
    const url = new URL(req.url, "http://origin");
    if (url.pathname.startsWith("/early/")) {
      // Interim responses first (103 Early Hints, 102 Processing), then the usual answer.
      res.writeEarlyHints({ link: "</style.css>; rel=preload; as=style" });
      res.writeProcessing();
    }
    counts.set(url.pathname, (counts.get(url.pathname) ?? 0) + 1);
    let received = 0;
    const hash = await new Promise((resolve) => {
      let sum = 0;
      req.on("data", (chunk) => {
        received += chunk.length;
        for (const b of chunk) sum = (sum + b) % 65521;
      });
      req.on("end", () => resolve(sum));
    });
    if (url.pathname.startsWith("/slow")) {
      await new Promise((r) => setTimeout(r, Number(url.searchParams.get("ms") ?? 1000)));
    }
    const status = url.pathname.match(/^\/status\/(\d{3})$/);
    if (status) {
      res.writeHead(Number(status[1]), { "content-type": "text/plain" });
      return res.end(`status ${status[1]}`);
    }
    if (url.pathname.includes("/cache/")) {
      // Cacheable answers: `cc` (Cache-Control), `etag` (304 when If-None-Match matches it),
      // `vary`, `tag` (Cache-Tag), `date` (Date), `lm` (Last-Modified), `status` (instead of
      // 200), `len=1` (Content-Length instead of chunked), `te` (a Transfer-Encoding put before
      // `chunked`); the body names the request count for this path.
      const q = url.searchParams;
      const headers = { "content-type": "text/plain", "x-origin": name };
      if (q.get("lm")) headers["last-modified"] = q.get("lm");
      if (q.get("te")) headers["transfer-encoding"] = `${q.get("te")}, chunked`;
      if (q.get("cc")) headers["cache-control"] = q.get("cc");
      if (q.get("etag")) headers.etag = `"${q.get("etag")}"`;
      if (q.get("vary")) headers.vary = q.get("vary");
      if (q.get("tag")) headers["cache-tag"] = q.get("tag");
      if (q.get("date")) headers.date = q.get("date"); // the origin's clock, as given
      if (q.get("etag") && req.headers["if-none-match"] === headers.etag) {
        counts.set(`304 ${url.pathname}`, (counts.get(`304 ${url.pathname}`) ?? 0) + 1);
        res.writeHead(304, headers);
        return res.end();
      }
      const body = `${url.pathname} #${counts.get(url.pathname)} lang=${req.headers["accept-language"] ?? "-"}`;
      const code = Number(q.get("status") ?? 200);
      const empty = code === 204 || code === 304;
      if (q.get("len") && !empty) headers["content-length"] = Buffer.byteLength(body);
      res.writeHead(code, headers);
      return res.end(empty ? undefined : body);
    }
    const bytes = url.pathname.match(/^\/bytes\/(\d+)$/);
    if (bytes) {
      res.writeHead(200, { "content-type": "application/octet-stream", "x-origin": name });
      return res.end(Buffer.alloc(Number(bytes[1]), 120));
    }
    res.writeHead(200, {
      "content-type": "application/json",
      "x-origin": name,
      connection: "keep-alive, x-origin-hop",
      "x-origin-hop": "must-not-reach-the-client",
    });
    res.end(
      JSON.stringify({
        origin: name,
        method: req.method,
        path: url.pathname,
        query: url.search,
        headers: req.headers,
        body: { bytes: received, checksum: hash },
      }),
    );
  });
  return new Promise((resolve) => {
    server.listen(port, "127.0.0.1", () => {
      resolve({
        url: `http://127.0.0.1:${server.address().port}`,
        port: server.address().port,
        count: (path) => counts.get(path) ?? 0,
        seen: () => seen.slice(),
        healthChecks: () => healthChecks,
        close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }),
      });
    });
  });
}

// Run alone: `node tests/e2e/lib/origin.mjs 9000`
if (import.meta.url === `file://${process.argv[1]}`) {
  const origin = await startOrigin({ port: Number(process.argv[2] ?? 9000), name: process.argv[3] ?? "demo-origin" });
  console.log(`demo origin listening on ${origin.url}`);
}
