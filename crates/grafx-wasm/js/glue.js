// Small pieces of browser plumbing that are simpler in JavaScript than through web-sys.

/** Resolves after `ms` milliseconds. */
export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Whether the Web Locks API is available (secure contexts, modern browsers). */
export function hasLocks() {
  return typeof navigator !== "undefined" && !!navigator.locks && typeof navigator.locks.request === "function";
}

/**
 * Runs `task()` while holding the exclusive lock `name`. With `ifAvailable`, resolves to
 * `undefined` at once (without running `task`) when another context holds the lock.
 */
export function withLock(name, ifAvailable, task) {
  return navigator.locks.request(name, { ifAvailable }, (lock) => (lock ? task() : undefined));
}

/** An async iterable over every item of every page; `fetchPage(pageToken)` resolves to a page. */
export function pagesIterable(fetchPage) {
  return {
    async *[Symbol.asyncIterator]() {
      let token;
      do {
        const page = await fetchPage(token);
        for (const item of page.items) yield item;
        token = page.nextPageToken;
      } while (token);
    },
  };
}

/**
 * An AbortSignal that aborts when `outer` aborts or after `timeoutMs` (when > 0). The abort reason
 * tells them apart: "timeout", or the outer signal's reason.
 */
export function linkedSignal(outer, timeoutMs) {
  const controller = new AbortController();
  let timer;
  if (timeoutMs > 0) timer = setTimeout(() => controller.abort("timeout"), timeoutMs);
  if (outer) {
    if (outer.aborted) controller.abort(outer.reason ?? "aborted");
    else outer.addEventListener("abort", () => controller.abort(outer.reason ?? "aborted"), { once: true });
  }
  controller.signal.addEventListener("abort", () => clearTimeout(timer), { once: true });
  return { signal: controller.signal, done: () => clearTimeout(timer) };
}

/** Builds a Request from a URL and a user's RequestInit, overriding the signal. */
export function buildRequest(url, init, signal) {
  return new Request(url, { ...(init || {}), signal });
}

/** Calls `cb` on `visibilitychange` (when visible) and `focus`; returns a function that stops it. */
export function onWake(cb) {
  if (typeof document === "undefined" || typeof window === "undefined") return () => {};
  const vis = () => { if (document.visibilityState === "visible") cb(); };
  document.addEventListener("visibilitychange", vis);
  window.addEventListener("focus", cb);
  return () => {
    document.removeEventListener("visibilitychange", vis);
    window.removeEventListener("focus", cb);
  };
}

/** The one constructor of GraFxError values (Rust builds its errors through it too). */
export function grafxError(code, message, status, detail, signerCode, body) {
  const e = new Error(message);
  e.name = "GraFxError";
  e.code = code;
  e.status = status;
  e.detail = detail;
  e.signerCode = signerCode;
  e.body = body;
  return e;
}

const options = (msg) => grafxError("invalid_options", msg);
const ID = (v, what) => {
  if (typeof v !== "string" || v === "") throw options(`${what} must be a non-empty string`);
  return encodeURIComponent(v);
};
const postJson = (method, body) => ({ method, headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

/**
 * The typed Environment API helpers, built on the client's `fetch` (bearer, origin guard, 401
 * retry, abort, timeout) and `json` (problem-details errors). Plain HTTP plumbing, so it lives
 * here rather than in the wasm, where it would cost several times its size.
 */
export function resources(fetch, json, errorFrom) {
  const list = async (path, o = {}) => {
    const q = new URLSearchParams();
    for (const [opt, param] of [["search", "search"], ["limit", "limit"], ["sortBy", "sortBy"], ["sortOrder", "sortOrder"], ["pageToken", "nextPageToken"]]) {
      if (o[opt] !== undefined && o[opt] !== null) q.append(param, String(o[opt]));
    }
    const query = q.toString();
    const page = await json(query ? `${path}?${query}` : path);
    if (!page || !Array.isArray(page.data)) throw grafxError("invalid_response", `${path} did not return a list`);
    const nextUrl = page.links && page.links.nextPage;
    const nextPageToken = nextUrl ? new URL(nextUrl, location.href).searchParams.get("nextPageToken") : null;
    return { items: page.data, nextPageToken, total: page.total, pageSize: page.pageSize };
  };
  const all = (path) => (o = {}) => pagesIterable((pageToken) => list(path, { ...o, pageToken }));
  const sleepFor = (res) => Math.min(5000, (Number(res.headers.get("retry-after")) || 0.5) * 1000);
  // Waits through 202 ("still rendering") replies, then returns the image.
  const pollBlob = async (path, o = {}) => {
    const deadline = Date.now() + (o.timeoutMs || 30000);
    for (;;) {
      const res = await fetch(path);
      if (res.status === 200) return res.blob();
      if (res.status !== 202) throw await errorFrom(res, `GET ${path}`);
      if (Date.now() > deadline) throw grafxError("timeout", `${path} was still rendering after ${o.timeoutMs || 30000} ms`);
      await sleep(sleepFor(res));
    }
  };
  const create = async (format, body) => {
    const reply = await json(`output/${ID(format, "format")}`, postJson("POST", body));
    const taskId = reply && reply.data && reply.data.taskId;
    if (typeof taskId !== "string") throw grafxError("invalid_response", "output reply has no data.taskId");
    return taskId;
  };
  // Polls the task: 204 while running (reported through onProgress), 200 when done.
  const wait = async (taskId, o = {}) => {
    const id = ID(taskId, "taskId");
    const interval = o.intervalMs || 1000, timeout = o.timeoutMs || 300000, started = Date.now();
    for (let attempt = 1; ; attempt++) {
      const res = await fetch(`output/tasks/${id}`, { signal: o.signal });
      if (res.status === 200) {
        const body = await res.json();
        const url = body && body.links && body.links.download;
        if (typeof url !== "string") throw grafxError("invalid_response", "finished task has no links.download");
        return url;
      }
      if (res.status !== 204) throw await errorFrom(res, `output task ${id}`);
      const elapsedMs = Date.now() - started;
      if (o.onProgress) o.onProgress({ taskId, attempt, elapsedMs });
      if (elapsedMs > timeout) throw grafxError("timeout", `output task ${id} did not finish within ${timeout} ms`);
      await sleep(interval);
      if (o.signal && o.signal.aborted) throw grafxError("aborted", "waiting for the output was aborted");
    }
  };
  const download = async (taskId) => {
    const path = `output/tasks/${ID(taskId, "taskId")}/download`;
    const res = await fetch(path);
    if (!res.ok) throw await errorFrom(res, `GET ${path}`);
    return res.blob();
  };
  return {
    templates: {
      list: (o) => list("templates", o),
      all: all("templates"),
      get: async (id) => json(`templates/${ID(id, "id")}`),
      download: async (id) => json(`templates/${ID(id, "id")}/download`),
      preview: async (id, type = "thumbnail", o) => pollBlob(`templates/${ID(id, "id")}/preview/${ID(type, "type")}`, o),
    },
    projects: {
      create: async (body) => {
        if (!body || typeof body.templateId !== "string") throw options("projects.create needs {templateId, name?}");
        return json("projects", postJson("POST", body));
      },
      get: async (id) => json(`projects/${ID(id, "id")}`),
      document: async (id) => json(`projects/${ID(id, "id")}/document`),
      saveDocument: async (id, doc) => { await json(`projects/${ID(id, "id")}/document`, postJson("PUT", doc)); },
    },
    media: {
      list: (o) => list("media", o),
      all: all("media"),
      get: async (id) => json(`media/${ID(id, "id")}`),
      preview: async (id, size = "thumbnail", o) => pollBlob(`media/${ID(id, "id")}/preview/${ID(size, "size")}`, o),
    },
    output: {
      settings: async () => (await list("output/settings")).items,
      create,
      wait,
      download,
      render: async (format, body, o) => {
        const taskId = await create(format, body);
        const downloadUrl = await wait(taskId, o);
        return { taskId, downloadUrl, blob: await download(taskId) };
      },
    },
  };
}

/**
 * Holds the shared lock `name` until `release()` is called: "this tab holds a token". Other tabs
 * see it through `peersPresent`, so a cold tab knows whether to wait for a peer's answer.
 */
export function holdPresence(name) {
  if (!hasLocks()) return () => {};
  let release;
  const held = new Promise((resolve) => { release = resolve; });
  navigator.locks.request(name, { mode: "shared" }, () => held).catch(() => {});
  return () => release();
}

/** Whether any context of this origin holds the presence lock `name`. */
export async function peersPresent(name) {
  if (!hasLocks() || !navigator.locks.query) return false;
  const { held } = await navigator.locks.query();
  return held.some((lock) => lock.name === name);
}
