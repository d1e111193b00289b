// Browser plumbing that is simpler in JavaScript than through web-sys: timers, Web Locks and
// presence, abort signals, requests, the GraFxError constructor. The Environment API helpers
// are in resources.js.

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
 * `undefined` at once (without running `task`) when another context holds the lock. Otherwise it
 * waits at most `waitMs` (when > 0) for the lock and then resolves to `"timeout"` without running
 * `task`: a frozen tab holding the lock must not hang this one.
 */
export function withLock(name, ifAvailable, task, waitMs) {
  if (ifAvailable || !(waitMs > 0)) {
    return navigator.locks.request(name, { ifAvailable }, (lock) => (lock ? task() : undefined));
  }
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), waitMs);
  return navigator.locks
    .request(name, { signal: controller.signal }, (lock) => {
      clearTimeout(timer);
      return task();
    })
    .catch((e) => {
      clearTimeout(timer);
      if (e && e.name === "AbortError" && controller.signal.aborted) return "timeout";
      throw e;
    });
}

/**
 * `promise`, or a rejection with the GraFxError `timeout` after `ms` (the timer is cleared either
 * way): for callbacks of the app (such as `getSessionToken`) that might never settle.
 */
export function withTimeout(promise, ms, what) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(grafxError("timeout", `${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([Promise.resolve(promise), late]).finally(() => clearTimeout(timer));
}

/**
 * An AbortSignal that aborts when `outer` aborts or after `timeoutMs` (when > 0), and `done()`,
 * which releases what it holds. With `AbortSignal.any` and `AbortSignal.timeout` (every current
 * browser) it holds nothing: no listener on the caller's signal, no timer to clear. Otherwise a
 * timer and a listener, released by `done()` or when it aborts (at the deadline at the latest).
 */
export function linkedSignal(outer, timeoutMs) {
  if (typeof AbortSignal.any === "function" && typeof AbortSignal.timeout === "function") {
    const signals = outer ? [outer] : [];
    if (timeoutMs > 0) signals.push(AbortSignal.timeout(timeoutMs));
    const signal = signals.length === 1 ? signals[0] : AbortSignal.any(signals);
    return { signal, done() {} };
  }
  const controller = new AbortController();
  let timer;
  // The reason `AbortSignal.timeout` gives, so that every path reads it alike.
  if (timeoutMs > 0) timer = setTimeout(() => controller.abort(new DOMException("signal timed out", "TimeoutError")), timeoutMs);
  const follow = () => controller.abort(outer.reason ?? "aborted");
  if (outer) {
    if (outer.aborted) follow();
    else outer.addEventListener("abort", follow, { once: true });
  }
  const done = () => {
    clearTimeout(timer);
    if (outer) outer.removeEventListener("abort", follow);
  };
  // Released when it aborts, too: a call that keeps its body read under the timeout (no `done()`
  // on return) lets go at the deadline at the latest.
  controller.signal.addEventListener("abort", done, { once: true });
  return { signal: controller.signal, done };
}

/** Whether `signal` aborted because its time ran out (rather than by its owner). */
export function timedOut(signal) {
  if (!signal || !signal.aborted) return false;
  const r = signal.reason;
  return r === "timeout" || (r && typeof r === "object" && r.name === "TimeoutError");
}

/**
 * Whether a RequestInit's body is a stream, which a retry cannot send again (with `locked`: one
 * that a `fetch` already holds). False when the init cannot be read (a throwing getter).
 */
export function hasStreamBody(init, locked) {
  try {
    const body = init && init.body;
    return typeof ReadableStream !== "undefined" && body instanceof ReadableStream && (!locked || body.locked);
  } catch {
    return false;
  }
}

/**
 * Builds a Request from a URL and a user's RequestInit, overriding the signal. Redirects are not
 * followed: these requests carry a bearer (or the app's session), which must never ride a redirect
 * to another origin.
 */
export function buildRequest(url, init, signal) {
  return new Request(url, { ...(init || {}), signal, redirect: "manual" });
}

/**
 * `fetch(url)` with a user's RequestInit, the bearer over its `Authorization`, the signal
 * overridden and no redirects: `buildRequest` and the header set in one step, without a `Request`
 * object (the browser builds one inside `fetch` anyway). The init is read as `buildRequest` reads
 * it (its own enumerable fields, spread). A refused init or bearer makes the promise reject, as a
 * network error does: the caller tells them apart by building the request, on that rare path only.
 */
export function fetchWithBearer(url, init, signal, bearer) {
  try {
    const options = { ...(init || {}), signal, redirect: "manual" };
    if (options.headers === undefined) {
      options.headers = { authorization: bearer };
    } else {
      const headers = new Headers(options.headers);
      headers.set("authorization", bearer);
      options.headers = headers;
    }
    return fetch(url, options);
  } catch (e) {
    return Promise.reject(e);
  }
}

/**
 * `fetchWithBearer`, its reply handed on as it is, with no call into the wasm, unless it is a 401
 * or a redirect, or the call failed: those go to `after(outcome, [url, init, signal, bearer])`,
 * the client's handler in the wasm.
 */
export function fetchAnswered(url, init, signal, bearer, after) {
  const sent = () => [url, init, signal, bearer];
  return Promise.resolve(fetchWithBearer(url, init, signal, bearer)).then(
    (res) => (res.status === 401 || res.type === "opaqueredirect" ? after(res, sent()) : res),
    (e) => after(e, sent()),
  );
}

/**
 * A request to the signer's API proxy from a user's RequestInit: the signer's headers (`X-CSRF`,
 * the app's session, `signerHeaders`) over the caller's, the client's credentials mode, no
 * redirects.
 */
export function buildProxyRequest(url, init, signal, credentials, extra) {
  const headers = new Headers((init && init.headers) || undefined);
  for (const [name, value] of extra) headers.set(name, value);
  return new Request(url, { ...(init || {}), headers, signal, credentials, redirect: "manual" });
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

/**
 * The one constructor of GraFxError values, from its fields in order or as one object
 * `{code, message, status?, detail?, signerCode?, body?}`; Rust builds its errors through it too.
 */
export function grafxError(code, message, status, detail, signerCode, body) {
  const fields = typeof code === "object" ? code : { code, message, status, detail, signerCode, body };
  const e = new Error(fields.message);
  e.name = "GraFxError";
  e.code = fields.code;
  e.status = fields.status;
  e.detail = fields.detail;
  e.signerCode = fields.signerCode;
  e.body = fields.body;
  return e;
}

/** The message of any thrown value. */
export function messageOf(e) {
  // Never throws: it runs inside the wasm's futures, where a thrown error would leave the call
  // pending for ever (an object without a prototype, or a getter that throws).
  try {
    return e && typeof e === "object" && "message" in e ? String(e.message) : String(e);
  } catch {
    return "(an error that cannot be shown as text)";
  }
}

/** The URL relative URLs resolve against: the page's, or the worker script's. */
export function baseHref() {
  return typeof location !== "undefined" ? location.href : undefined;
}

/** This page's or worker's origin. */
export function selfOrigin() {
  return typeof origin === "string" ? origin : "";
}

/**
 * Any failure as a GraFxError: what the browser throws while a body is read or a plain fetch
 * runs (an abort, a timeout, a network error) gets the code an app branches on.
 */
export function asGraFx(e) {
  if (e && e.name === "GraFxError") return e;
  const name = e && e.name;
  if (name === "TimeoutError") return grafxError("timeout", `the request did not finish in time: ${messageOf(e)}`);
  if (name === "AbortError") return grafxError("aborted", "the request was aborted");
  return grafxError("api_error", `calling the Environment API failed: ${messageOf(e)}`, 0);
}

/**
 * Holds the shared lock `name` until `release()` is called: "this tab holds a token". Other tabs
 * see it through `peersPresent`, so a cold tab knows whether to wait for a peer's answer. A held
 * lock keeps a page out of the back/forward cache, so it is let go on `pagehide` and taken again
 * on `pageshow`.
 */
export function holdPresence(name) {
  if (!hasLocks()) return () => {};
  let release = null;
  let stopped = false;
  const take = () => {
    if (stopped || release) return;
    const held = new Promise((resolve) => { release = resolve; });
    navigator.locks.request(name, { mode: "shared" }, () => held).catch(() => {});
  };
  const drop = () => {
    if (release) release();
    release = null;
  };
  const page = typeof window !== "undefined" && typeof window.addEventListener === "function";
  if (page) {
    window.addEventListener("pagehide", drop);
    window.addEventListener("pageshow", take);
  }
  take();
  return () => {
    stopped = true;
    drop();
    if (page) {
      window.removeEventListener("pagehide", drop);
      window.removeEventListener("pageshow", take);
    }
  };
}

/** Whether any context of this origin holds the presence lock `name`. */
export async function peersPresent(name) {
  if (!hasLocks() || !navigator.locks.query) return false;
  const { held } = await navigator.locks.query();
  return held.some((lock) => lock.name === name);
}
