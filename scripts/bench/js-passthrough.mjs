// Benchmark baseline: the fastest proxy this runtime can run — a plain JavaScript pass-through.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    return fetch(new URL(url.pathname + url.search, env.UPSTREAM), request);
  },
};
