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
