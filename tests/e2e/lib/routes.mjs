// Publishing a routes document into a runtime's KV the way scripts/routes does, and waiting
// until the gateway serves it.

/** Writes the document (object or JSON text) as `routes/versions/<id>`, then both pointers. */
export async function publish(gw, id, doc) {
  await gw.put(`routes/versions/${id}`, typeof doc === "string" ? doc : JSON.stringify(doc));
  await gw.put("routes/current", id);
  await gw.put("routes/last-good", id);
}

/** Polls `path` until it answers 200, for at most `ms` (the config TTL plus a margin). */
export async function untilServed(gw, path, ms = 5000) {
  const deadline = Date.now() + ms;
  while ((await gw.fetch(path)).status !== 200 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
  }
}
