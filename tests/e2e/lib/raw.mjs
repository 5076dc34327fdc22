// A raw HTTP/1.1 client: unlike fetch, it sends Host, Connection and the path exactly as given
// (no URL normalization), which the header-hygiene and path-safety cases need.
import http from "node:http";

export function rawRequest(base, path, { method = "GET", headers = {}, body } = {}) {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: url.hostname, port: url.port, method, path, headers, agent: false },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode,
            headers: { get: (name) => (name in res.headers ? String(res.headers[name]) : null) },
            body: Buffer.concat(chunks),
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}
