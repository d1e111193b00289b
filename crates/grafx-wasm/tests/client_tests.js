// The grafx-wasm test bodies, written against the package's public API.
// Each receives env = {signerUrl, emulatorUrl}, make(options) -> GraFxClient, isGraFxError(e).
// Every `integration` named here must be declared in FIXTURE_INTEGRATIONS
// (crates/grafx-testkit/src/browser/integrations.rs), which a host test checks.

const fail = (msg) => { throw new Error(msg); };
const assert = (cond, msg) => cond || fail(`assertion failed: ${msg}`);
const eq = (actual, expected, msg) =>
  actual === expected || fail(`${msg}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
// JSON with sorted keys: the journal's bodies come back with their keys in another order.
const canonical = (v) => JSON.stringify(v, (_, x) =>
  x && typeof x === "object" && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1))) : x);
const same = (actual, expected, msg) => eq(canonical(actual), canonical(expected), msg);

async function signerCalls(env, path) {
  const stats = await (await fetch(`${env.signerUrl}/_test/stats`)).json();
  return stats[path] ?? 0;
}

async function control(env, path, body, method = "POST") {
  const res = await fetch(`${env.emulatorUrl}/_emulator/${path}`, {
    method,
    headers: body ? { "content-type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  assert(res.ok, `control ${path}: ${res.status}`);
}

// The emulator's request journal: what the helpers actually put on the wire.
async function journal(env) {
  const res = await fetch(`${env.emulatorUrl}/_emulator/requests`);
  assert(res.ok, `journal: ${res.status}`);
  return res.json();
}
const clearJournal = (env) => control(env, "requests", undefined, "DELETE");
const sent = async (env, method, pathPrefix) =>
  (await journal(env)).filter((r) => r.method === method && r.path.startsWith(pathPrefix));
const settings = (env, patch) => control(env, "settings", patch, "PUT");
const FLYER = "7a1c0e4d-0000-4000-8000-000000000001";

// Recovery on its own: during its failure backoff the signer answers the same failure (with
// Retry-After) instead of asking CHILI again; an app retries, as here, within a bound.
async function recovered(c) {
  let token;
  for (const deadline = Date.now() + 8000; !token && Date.now() < deadline; ) {
    token = await c.accessToken().catch(() => new Promise((r) => setTimeout(r, 250)));
  }
  return token;
}

const armApi = (env, fault) => control(env, "faults", { target: "api", ...fault });
const armToken = (env, fault) => control(env, "faults", { target: "token", ...fault });
const clearFaults = (env) => control(env, "faults", undefined, "DELETE");

async function rejects(promise, code, isGraFxError) {
  try {
    await promise;
  } catch (e) {
    assert(e instanceof Error, "a real Error");
    assert(isGraFxError(e), `a GraFxError, got ${e}`);
    eq(e.code, code, `error code (${e.message})`);
    return e;
  }
  fail(`expected a rejection with ${code}`);
}

function throws(fn, code, mention, isGraFxError) {
  try {
    fn();
  } catch (e) {
    assert(isGraFxError(e), `a GraFxError, got ${e}`);
    eq(e.code, code, "error code");
    assert(e.message.includes(mention), `message mentions ${mention}: ${e.message}`);
    assert(!e.message.startsWith("Error"), `a message of its own: ${e.message}`);
    return e;
  }
  fail("expected a throw");
}


// studio-ui's loader config: the base URL without its trailing slash, README's project URLs.
async function studioUiConfig(c, isErr) {
  const { uiLoaderConfig } = c.studio;
  const ui = await uiLoaderConfig({ selector: "studio-ui", projectId: "p 1", projectName: "Mine", uiOptions: { widgets: {} } });
  await c.accessToken();
  const base = c.token.environmentApiUrl.replace(/\/$/, "");
  eq(ui.graFxStudioEnvironmentApiBaseUrl, base, "no trailing slash");
  assert(ui.graFxStudioEnvironmentApiBaseUrl.split("/environment/")[1] === "demo", "studio-ui finds the environment name");
  eq(ui.authToken, c.token.accessToken, "authToken");
  eq(ui.selector, "studio-ui", "selector passed through");
  eq(ui.projectName, "Mine", "projectName passed through");
  eq(typeof ui.uiOptions, "object", "other options passed through");
  eq(ui.projectDownloadUrl, `${base}/projects/p%201/document`, "projectDownloadUrl");
  eq(ui.projectUploadUrl, `${base}/projects/p%201`, "projectUploadUrl");
  eq(typeof (await ui.refreshTokenAction()), "string", "refreshTokenAction");
  // studio-ui's hook for a connector's own authentication is the app's, passed through.
  const onConnectorAuthenticationRequested = async () => ({ type: "authentified" });
  const withHook = await uiLoaderConfig({ selector: "x", onConnectorAuthenticationRequested });
  eq(withHook.onConnectorAuthenticationRequested, onConnectorAuthenticationRequested, "studio-ui's connector hook passed through");
  const plain = await uiLoaderConfig({ selector: "x" });
  eq(plain.projectDownloadUrl, undefined, "no project, no project URLs");
  const own = await uiLoaderConfig({ selector: "x", projectId: "p", projectUploadUrl: "https://mine.example/save" });
  eq(own.projectUploadUrl, "https://mine.example/save", "given URLs are kept");
  await rejects(uiLoaderConfig({ projectId: "p" }), "invalid_options", isErr);
  await rejects(uiLoaderConfig(), "invalid_options", isErr);
}

// The name of an integration's refresh lock, read off the presence lock a client holds.
async function lockKey(env, make, integration) {
  const probe = make({ signerUrl: env.signerUrl, integration, crossTab: true });
  await probe.accessToken();
  const { held } = await navigator.locks.query();
  const presence = held.find((l) => l.name.includes(` ${integration} `) && l.name.endsWith(" presence"));
  assert(presence, `the presence lock of ${integration}`);
  probe.dispose();
  return presence.name.slice(0, -" presence".length);
}

const within = (promise, ms, what) =>
  Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error(`${what} hung for ${ms} ms`)), ms))]);

const tests = {
  async invalid_options_name_the_option(env, make, isErr) {
    throws(() => make({}), "invalid_options", "signerUrl", isErr);
    throws(() => make({ signerUrl: "ftp://x.example" }), "invalid_options", "signerUrl", isErr);
    throws(() => make({ signerUrl: env.signerUrl, leewaySeconds: -1 }), "invalid_options", "leewaySeconds", isErr);
    throws(() => make({ signerUrl: env.signerUrl, credentials: "always" }), "invalid_options", "credentials", isErr);
    throws(() => make({ signerUrl: env.signerUrl, timeoutMs: 0 }), "invalid_options", "timeoutMs", isErr);
    throws(() => make({ signerUrl: env.signerUrl, integration: "a/b" }), "invalid_options", "integration", isErr);
    throws(() => make({ signerUrl: env.signerUrl, signerHeaders: { x: 1 } }), "invalid_options", "signerHeaders.x", isErr);
    throws(() => make({ signerUrl: env.signerUrl, signerURL: "typo" }), "invalid_options", "signerURL", isErr);
    throws(() => make({ signerUrl: env.signerUrl, crossTab: "yes" }), "invalid_options", "crossTab", isErr);
    // Every option refuses a value of the wrong type by name, saying what it must be.
    const wrong = {
      signerUrl: null, integration: 7, leewaySeconds: "60", credentials: true, signerHeaders: "x: y",
      getSessionToken: "token", timeoutMs: "10s", crossTab: 1, shareKey: 7, autoRefresh: "no", now: 5,
    };
    for (const [name, value] of Object.entries(wrong)) {
      const e = throws(() => make({ signerUrl: env.signerUrl, [name]: value }), "invalid_options", `${name} must be`, isErr);
      assert(e.message.startsWith(name), `${name}: ${e.message}`);
    }
    const unknown = throws(() => make({ signerUrl: env.signerUrl, autorefresh: true }), "invalid_options", "autorefresh", isErr);
    assert(unknown.message.includes("autoRefresh"), `the known names are listed: ${unknown.message}`);
    const pairs = [["signerUrl", env.signerUrl]];
    for (const notPlain of [null, "x", pairs, new Map(pairs), new URLSearchParams(pairs), new Set(pairs)]) {
      throws(() => make(notPlain), "invalid_options", "options must be a plain object", isErr);
    }
    // Only the object's own enumerable keys are options (as serde-wasm-bindgen read them): an
    // inherited one is not, so a polluted Object.prototype sets nothing.
    throws(() => make(Object.create({ signerUrl: env.signerUrl })), "invalid_options", "signerUrl is required", isErr);
    const hidden = { signerUrl: env.signerUrl };
    Object.defineProperty(hidden, "crossTab", { value: "not read", enumerable: false });
    make(hidden).dispose();
    // A getter that throws is the caller's error, named, not an option left out.
    const getter = { signerUrl: env.signerUrl, get shareKey() { throw new Error("getter boom"); } };
    throws(() => make(getter), "invalid_options", "getter boom", isErr);
    const headerGetter = { signerUrl: env.signerUrl, signerHeaders: { get "x-app"() { throw new Error("header boom"); } } };
    throws(() => make(headerGetter), "invalid_options", "header boom", isErr);
    const revocable = Proxy.revocable({ signerUrl: env.signerUrl }, {});
    revocable.revoke();
    throws(() => make(revocable.proxy), "invalid_options", "could not be read", isErr);
    // Headers in a Map or a Headers object would be dropped, leaving the caller anonymous.
    for (const headers of [new Map([["x-app", "1"]]), new Headers({ "x-app": "1" })]) {
      throws(() => make({ signerUrl: env.signerUrl, signerHeaders: headers }), "invalid_options", "signerHeaders must be", isErr);
    }
    // A call's signal must be an AbortSignal: refused before anything is sent, never left pending.
    const s = make({ signerUrl: env.signerUrl, crossTab: false });
    for (const signal of [{}, "abort"]) {
      const e = await rejects(within(s.fetch("templates", { signal, timeoutMs: 1000 }), 5000, "fetch with a bad signal"), "invalid_options", isErr);
      assert(e.message.includes("AbortSignal"), e.message);
    }
    s.dispose();
    for (const name of Object.keys(wrong).filter((k) => k !== "signerUrl")) {
      for (const nothing of [null, undefined]) make({ signerUrl: env.signerUrl, [name]: nothing }).dispose();
    }
    // null and undefined are the defaults, as serde's Option reads them: the token comes from
    // the default integration's POST /token.
    const nulls = Object.fromEntries(Object.keys(wrong).filter((k) => k !== "signerUrl").map((k, i) => [k, i % 2 ? null : undefined]));
    const before = await signerCalls(env, "/token");
    // (crossTab off, so that no other instance's token is adopted instead.)
    const d = make({ ...nulls, signerUrl: env.signerUrl, crossTab: false });
    assert((await d.accessToken()).length > 0, "a token with every option null or undefined");
    eq((await signerCalls(env, "/token")) - before, 1, "one call to the default integration's /token");
    d.dispose();
    // A relative signerUrl resolves against the page (same-origin deployments).
    make({ signerUrl: "/" }).dispose();
  },

  async caching_and_the_leeway(env, make) {
    let now = Date.now();
    const c = make({ signerUrl: env.signerUrl, crossTab: false, now: () => now });
    const before = await signerCalls(env, "/token");
    const t1 = await c.accessToken();
    const t2 = await c.accessToken();
    eq(t2, t1, "second read is cached");
    eq((await signerCalls(env, "/token")) - before, 1, "one signer request");
    const token = c.token;
    eq(token.accessToken, t1, "token getter");
    eq(token.environment, "demo", "environment");
    assert(token.environmentApiUrl.startsWith(env.emulatorUrl), "environmentApiUrl");
    assert(token.scope.includes("template:read"), "scope");
    // On the local clock: `now` plus the lifetime the signer reports, which is what is left of
    // its cached token (the emulator's tokens live 86,399 s, and this suite's signer may have
    // obtained its token many minutes earlier): more than an hour ahead, at most a day.
    assert(
      token.expiresAt > now + 3_600_000 && token.expiresAt <= now + 86_400_000,
      `expiresAt on the local clock: ${token.expiresAt - now} ms ahead`,
    );
    // 30 s before expiry is inside the 60 s leeway: the next read asks the signer.
    now = token.expiresAt - 30_000;
    await c.accessToken();
    eq((await signerCalls(env, "/token")) - before, 2, "refreshed inside the leeway");
    eq(c.stats.signerRequests, 2, "stats");
    c.dispose();
    // leewaySeconds: 600 refreshes 5 minutes before expiry, where the default 60 s does not.
    const l = make({ signerUrl: env.signerUrl, crossTab: false, leewaySeconds: 600, now: () => now });
    now = Date.now();
    await l.accessToken();
    const expiresAt = l.token.expiresAt;
    const asked = await signerCalls(env, "/token");
    now = expiresAt - 900_000;
    await l.accessToken();
    eq((await signerCalls(env, "/token")) - asked, 0, "15 minutes before expiry: cached");
    now = expiresAt - 300_000;
    await l.accessToken();
    eq((await signerCalls(env, "/token")) - asked, 1, "5 minutes before expiry: inside a 600 s leeway");
    l.dispose();
  },

  async expiry_after_a_simulated_sleep(env, make) {
    let now = Date.now();
    const c = make({ signerUrl: env.signerUrl, crossTab: false, now: () => now });
    await c.accessToken();
    const before = await signerCalls(env, "/token");
    // The laptop slept for two days: no timer fired, but the read sees the expiry.
    now += 2 * 86_400_000;
    await c.accessToken();
    eq((await signerCalls(env, "/token")) - before, 1, "expired token replaced on read");
    assert(c.token.expiresAt > now, "new expiry is after the new now");
    c.dispose();
  },

  async single_flight(env, make) {
    const c = make({ signerUrl: env.signerUrl, integration: "solo", crossTab: false });
    const before = await signerCalls(env, "/token/solo");
    const tokens = await Promise.all(Array.from({ length: 25 }, () => c.accessToken()));
    eq(new Set(tokens).size, 1, "one token");
    eq((await signerCalls(env, "/token/solo")) - before, 1, "25 parallel calls, 1 signer request");
    c.dispose();
  },

  async cross_tab_two_instances_make_one_request(env, make) {
    // Two instances with the same signer and integration coordinate exactly as two tabs do:
    // through a Web Lock and a BroadcastChannel named by that pair.
    const a = make({ signerUrl: env.signerUrl, integration: "cross" });
    const b = make({ signerUrl: env.signerUrl, integration: "cross" });
    let seenByB = 0;
    const unsubscribe = b.onTokenChange(() => seenByB++);
    const before = await signerCalls(env, "/token/cross");
    const [ta, tb] = await Promise.all([a.accessToken(), b.accessToken()]);
    eq(ta, tb, "same token");
    eq((await signerCalls(env, "/token/cross")) - before, 1, "one signer request for two instances");
    // A later refresh by A reaches B without B asking.
    await a.accessToken({ forceRefresh: true });
    await new Promise((r) => setTimeout(r, 100));
    eq((await signerCalls(env, "/token/cross")) - before, 2, "the forced refresh");
    assert(seenByB >= 1, "B heard about the token");
    eq(b.stats.signerRequests + a.stats.signerRequests, 2, "per-instance counters add up");
    unsubscribe();
    a.dispose();
    b.dispose();
  },

  async without_cross_tab_each_instance_asks(env, make) {
    const a = make({ signerUrl: env.signerUrl, integration: "solo", crossTab: false });
    const b = make({ signerUrl: env.signerUrl, integration: "solo", crossTab: false });
    const before = await signerCalls(env, "/token/solo");
    await Promise.all([a.accessToken(), b.accessToken()]);
    eq((await signerCalls(env, "/token/solo")) - before, 2, "independent caches");
    a.dispose();
    b.dispose();
  },

  async retry_once_after_a_401(env, make) {
    const c = make({ signerUrl: env.signerUrl, crossTab: false });
    await c.accessToken();
    const before = await signerCalls(env, "/token");
    await armApi(env, { kind: "status", status: 401, times: 1 });
    const page = await c.json("templates?limit=2");
    eq(page.data.length, 2, "the retried call succeeded");
    eq((await signerCalls(env, "/token")) - before, 1, "one forced refresh");
    c.dispose();
  },

  // `fetch` sends `fetch(url, init)` without a Request object built first (js/browser.js
  // `fetchWithBearer`): the caller's init, the bearer over its Authorization, the 401 retry, a
  // refused init and a lost connection, each checked on the wire.
  async fetch_on_the_wire(env, make, isErr) {
    const c = make({ signerUrl: env.signerUrl, crossTab: false });
    await c.accessToken();
    const before = await signerCalls(env, "/token");
    await clearJournal(env);
    const mine = await c.fetch("templates?limit=1", { headers: { Authorization: "Bearer not-this-one", Accept: "application/json" } });
    eq(mine.status, 200, "the client's bearer replaced the caller's Authorization");
    for (const headers of [new Headers({ authorization: "Bearer not-this-one" }), [["AUTHORIZATION", "Bearer not-this-one"]]]) {
      eq((await c.fetch("templates?limit=1", { headers })).status, 200, "over a Headers object and over pairs too");
    }
    await rejects(c.fetch("templates", { headers: null }), "invalid_options", isErr);
    // A stream body without `duplex`, and an init whose getter throws: refused, never hanging.
    const stream = await rejects(c.fetch("templates", { method: "POST", body: new ReadableStream() }), "invalid_options", isErr);
    assert(stream.message.includes("the request init is invalid"), stream.message);
    const boom = await rejects(c.fetch("templates", { get body() { throw new Error("body boom"); } }), "invalid_options", isErr);
    assert(boom.message.includes("body boom"), boom.message);
    await c.fetch("templates", { method: "POST", headers: { "Content-Type": "application/json" }, body: '{"name":"init"}' });
    const [get] = await sent(env, "GET", "templates");
    same([get.query, get.bearer, get.accept], ["limit=1", true, "application/json"], "the GET as the caller asked");
    const [post] = await sent(env, "POST", "templates");
    same([post.bearer, post.content_type, post.body], [true, "application/json", { name: "init" }], "the POST's init");
    eq((await signerCalls(env, "/token")) - before, 0, "no refresh");

    await armApi(env, { kind: "status", status: 401, times: 1 });
    await clearJournal(env);
    const retried = await c.fetch("templates?limit=2");
    eq(retried.status, 200, "the retried call succeeded");
    eq((await retried.json()).data.length, 2, "and its body is the API's");
    same((await sent(env, "GET", "templates")).map((r) => [r.query, r.bearer]), [["limit=2", true], ["limit=2", true]], "sent twice, with a bearer each time");
    eq((await signerCalls(env, "/token")) - before, 1, "one forced refresh");

    await clearJournal(env);
    const refused = await rejects(c.fetch("templates", { method: "GET", body: "x" }), "invalid_options", isErr);
    assert(refused.message.includes("the request init is invalid"), refused.message);
    eq((await sent(env, "GET", "templates")).length, 0, "nothing sent");

    // Several times: Chromium sends a GET once more itself when a reused connection drops.
    await armApi(env, { kind: "drop", times: 5 });
    const lost = await rejects(c.fetch("templates"), "api_error", isErr);
    eq(lost.status, 0, "no HTTP status");
    assert(lost.message.includes("network error"), lost.message);
    await clearFaults(env);
    eq((await c.fetch("templates?limit=1")).status, 200, "and afterwards it works");
    c.dispose();
  },

  // A call with a fresh token and neither `signal` nor `timeoutMs` is sent before `fetch`
  // returns, with no Rust future on its way (issue #28: entering the wasm's future cost 6% of a
  // loopback call); any other call goes through the future. Both send the same request.
  async fetch_with_a_fresh_token_is_sent_at_once(env, make, isErr) {
    const c = make({ signerUrl: env.signerUrl, crossTab: false });
    const token = await c.accessToken();
    const real = globalThis.fetch;
    const calls = [];
    globalThis.fetch = function (url, init) {
      calls.push([String(url), init]);
      return real.call(this, url, init);
    };
    try {
      const now = c.fetch("templates?limit=1", { headers: { accept: "application/json" } });
      eq(calls.length, 1, "sent before fetch returned");
      const [url, init] = calls[0];
      eq(url, `${c.token.environmentApiUrl}templates?limit=1`, "to the API");
      const headers = new Headers(init.headers);
      same([headers.get("authorization"), headers.get("accept"), init.redirect], [`Bearer ${token}`, "application/json", "manual"], "the bearer over the caller's headers, no redirect");
      eq((await now).status, 200, "answered");
      for (const init of [{ signal: new AbortController().signal }, { timeoutMs: 5000 }]) {
        calls.length = 0;
        const later = c.fetch("templates?limit=1", init);
        eq(calls.length, 0, `with ${Object.keys(init)[0]}: through the future`);
        eq((await later).status, 200, "answered");
        eq(calls.length, 1, "sent once");
        eq(new Headers(calls[0][1].headers).get("authorization"), `Bearer ${token}`, "with the bearer");
      }
      calls.length = 0;
      await rejects(c.fetch(""), "invalid_options", isErr);
      eq(calls.length, 0, "an empty path is refused, not sent");
    } finally {
      globalThis.fetch = real;
    }
    // Through the future, the same retry: after a 401, with a timeout running.
    await armApi(env, { kind: "status", status: 401, times: 1 });
    await clearJournal(env);
    const retried = await c.fetch("templates?limit=2", { timeoutMs: 10000 });
    eq((await retried.json()).data.length, 2, "the retry's body, read under the timeout");
    eq((await sent(env, "GET", "templates")).length, 2, "sent twice");
    // And a lost connection with a signal: a network error, not an abort.
    await armApi(env, { kind: "drop", times: 5 });
    const lost = await rejects(c.fetch("templates", { signal: new AbortController().signal }), "api_error", isErr);
    eq(lost.status, 0, "no HTTP status");
    await clearFaults(env);
    c.dispose();
  },

  async unauthorized_after_the_retry(env, make, isErr) {
    const c = make({ signerUrl: env.signerUrl, crossTab: false });
    await armApi(env, { kind: "status", status: 401, times: 2, body: '{"title":"Unauthorized","detail":"nope","status":401}' });
    const e = await rejects(c.json("templates"), "unauthorized", isErr);
    eq(e.status, 401, "status");
    eq(e.detail, "nope", "detail");
    const res = await c.fetch("templates");
    eq(res.status, 200, "and afterwards it works");
    await clearFaults(env);
    c.dispose();
  },

  async no_bearer_to_a_foreign_origin(env, make, isErr) {
    const c = make({ signerUrl: env.signerUrl, crossTab: false });
    const origin = new URL(env.emulatorUrl);
    for (const url of [
      "https://evil.example/steal",
      `http://${origin.hostname}:${Number(origin.port) + 1}/x`,
      `http://localhost:${origin.port}/x`,
      "//evil.example/x",
      "../../../oauth/token",
      "/oauth/token",
    ]) {
      await rejects(c.fetch(url), "invalid_options", isErr);
    }
    // Encoded dot segments are dot segments: they cannot climb out of the API either.
    await rejects(c.fetch("%2e%2e/%2E%2e/%2e%2e/%2e%2e/%2e%2e/oauth/token"), "invalid_options", isErr);
    // A redirect is never followed with the token: not even to the Platform API route.
    await c.accessToken();
    await clearJournal(env);
    await armApi(env, { kind: "redirect", status: 302, location: `http://localhost:${origin.port}/api/v1/environments/demo`, times: 1 });
    const redirected = await rejects(c.fetch("templates"), "api_error", isErr);
    assert(redirected.message.includes("redirect"), redirected.message);
    eq((await sent(env, "GET", "/api/v1/environments/demo")).length, 0, "the redirect target was never called");
    // An absolute URL on the API's own origin is fine.
    const res = await c.fetch(`${c.token.environmentApiUrl}media?limit=1`);
    eq(res.status, 200, "same-origin absolute URL");
    c.dispose();
    // The Platform API's origin (named by the signer) also gets the bearer, and nothing else does.
    const p = make({ signerUrl: env.signerUrl, integration: "platform", crossTab: false });
    await p.accessToken();
    const platform = p.token.platformApiUrl;
    eq(new URL(platform).hostname, "localhost", "the signer named the Platform API");
    await clearJournal(env);
    const reply = await p.json(`${platform}api/v1/environments/demo`);
    same([typeof reply.totalRenders, reply.totalWatermarkedRenders], ["number", 0], "the fields the release notes name");
    const [call] = await sent(env, "GET", "/api/v1/environments/demo");
    eq(call.bearer, true, "with the bearer");
    await rejects(p.fetch(`http://localhost:${Number(origin.port) + 1}/x`), "invalid_options", isErr);
    await rejects(p.fetch("https://api.chiligrafx.com.evil.example/x"), "invalid_options", isErr);
    p.dispose();
  },

  async abort_and_timeout(env, make, isErr) {
    const c = make({ signerUrl: env.signerUrl, crossTab: false });
    await c.accessToken();
    const ctrl = new AbortController();
    ctrl.abort();
    await rejects(c.fetch("templates", { signal: ctrl.signal }), "aborted", isErr);
    const ctrl2 = new AbortController();
    await armApi(env, { kind: "delay", ms: 1500, times: 1 });
    const pending = c.fetch("templates", { signal: ctrl2.signal });
    setTimeout(() => ctrl2.abort(), 100);
    await rejects(pending, "aborted", isErr);
    await armApi(env, { kind: "delay", ms: 1500, times: 1 });
    await rejects(c.fetch("templates", { timeoutMs: 150 }), "timeout", isErr);
    await clearFaults(env);
    c.dispose();
  },

  async signer_down(env, make, isErr) {
    const c = make({ signerUrl: "http://127.0.0.1:9", crossTab: false });
    const errors = [];
    c.onError((e) => errors.push(e));
    const e = await rejects(c.accessToken(), "signer_unreachable", isErr);
    assert(e.message.includes("127.0.0.1:9"), e.message);
    eq(errors.length, 1, "onError");
    eq(errors[0].code, "signer_unreachable", "onError code");
    c.dispose();
  },

  async forbidden_origin(env, make, isErr) {
    // The signer answers no preflight for an origin it does not allow, so the browser hides its
    // reply; the error must say what to check.
    const c = make({ signerUrl: env.signerUrl, integration: "locked", crossTab: false });
    const e = await rejects(c.accessToken(), "signer_unreachable", isErr);
    assert(e.message.includes(location.origin) && e.message.includes("SIGNER_ALLOWED_ORIGINS"), e.message);
    c.dispose();
  },

  async over_scoped_integration(env, make, isErr) {
    const c = make({ signerUrl: env.signerUrl, integration: "writer", crossTab: false });
    const e = await rejects(c.accessToken(), "signer_rejected", isErr);
    eq(e.signerCode, "scope_not_allowed", "signer code");
    c.dispose();
  },

  async upstream_unavailable(env, make, isErr) {
    await armToken(env, { kind: "status", status: 503, times: 3 });
    const c = make({ signerUrl: env.signerUrl, integration: "cold", crossTab: false });
    const e = await rejects(c.accessToken(), "upstream_unavailable", isErr);
    eq(e.status, 503, "status");
    await clearFaults(env);
    // Recovery once CHILI is back (after the signer's failure backoff).
    assert((await recovered(c)).length > 20, "a token after recovery");
    c.dispose();
  },

  // The browser half of RELIABILITY.md's fault matrix: each upstream fault, on a cold signer
  // integration, reaches the page as a typed GraFxError, and the same client recovers once the
  // fault clears. (The signer half, with the cached-token checks, is tests/fault_matrix.rs.)
  async fault_matrix_in_the_browser(env, make, isErr) {
    const status = (status, retry_after) => ({ kind: "status", status, body: '{"error":"server_error"}', ...(retry_after ? { retry_after } : {}) });
    const reply = (body) => ({ kind: "status", status: 200, body });
    const unavailable = { code: "upstream_unavailable", status: 503 };
    const cases = [
      ["upstream_500", status(500), unavailable],
      ["upstream_502", status(502), unavailable],
      ["upstream_503", status(503), unavailable],
      ["upstream_429_retry_after", status(429, 1), unavailable],
      ["upstream_timeout", { kind: "delay", ms: 3000 }, unavailable],
      ["connection_reset", { kind: "drop" }, unavailable],
      ["malformed_json", { kind: "malformed_json" }, unavailable],
      ["html_error_page", { kind: "html", status: 502 }, unavailable],
      ["wrong_token_type", reply('{"access_token":"eyJ.a.b","token_type":"mac","expires_in":86400}'), unavailable],
      ["missing_expires_in", reply('{"access_token":"eyJ.a.b","token_type":"Bearer"}'), unavailable],
      ["negative_expires_in", reply('{"access_token":"eyJ.a.b","token_type":"Bearer","expires_in":-60}'), unavailable],
      ["huge_expires_in", reply('{"access_token":"eyJ.a.b","token_type":"Bearer","expires_in":1e300}'), unavailable],
      ["credentials_revoked", "revoke", { code: "signer_rejected", status: 502, signerCode: "upstream_rejected" }],
    ];
    let i = 0;
    for (const [name, fault, expected] of cases) {
      const c = make({ signerUrl: env.signerUrl, integration: `matrix-${i++}`, crossTab: false });
      const errors = [];
      c.onError((e) => errors.push(e.code));
      if (fault === "revoke") await control(env, "clients/matrix-reader", undefined, "DELETE");
      else await armToken(env, { times: 50, ...fault });
      try {
        const e = await rejects(c.accessToken(), expected.code, isErr);
        eq(e.status, expected.status, `${name}: status`);
        if (expected.signerCode) eq(e.signerCode, expected.signerCode, `${name}: signerCode`);
        assert(!e.message.includes("matrix-reader-secret"), `${name}: no secret in ${e.message}`);
        eq(errors.join(), expected.code, `${name}: onError saw it once`);
      } finally {
        await clearFaults(env);
        if (fault === "revoke") {
          await control(env, "clients/matrix-reader", { secret: "matrix-reader-secret" }, "PUT");
        }
      }
      const token = await recovered(c);
      assert(typeof token === "string" && token.length > 20, `${name}: recovered`);
      c.dispose();
    }
  },

  // Caller authentication, cookie session: the app's login sets an HttpOnly cookie on the
  // signer's site; `credentials: "include"` sends it. Signed out, the page gets
  // `caller_unauthenticated` once (no retry loop); signed in, the same client gets a token.
  async caller_cookie_session(env, make, isErr) {
    const signOut = () => fetch(`${env.signerUrl}/_test/login`, { credentials: "include" });
    await signOut();
    const path = "/token/session-cookie";
    const c = make({ signerUrl: env.signerUrl, integration: "session-cookie", credentials: "include", crossTab: false });
    const errors = [];
    c.onError((e) => errors.push(e.code));
    const before = await signerCalls(env, path);
    const e = await rejects(c.accessToken(), "caller_unauthenticated", isErr);
    eq(e.status, 401, "status");
    eq(e.signerCode, "caller_unauthenticated", "signerCode");
    assert(e.message.includes("sign in"), e.message);
    await new Promise((r) => setTimeout(r, 300));
    eq((await signerCalls(env, path)) - before, 1, "asked once, never in a loop");
    eq(errors.join(), "caller_unauthenticated", "onError once");
    const login = await fetch(`${env.signerUrl}/_test/login?sub=alice`, { credentials: "include" });
    assert(login.ok, "login");
    const token = await c.accessToken();
    assert(token.length > 20, "a token once signed in");
    // The token works against the Environment API.
    const page = await c.json("templates?limit=1");
    eq(page.data.length, 1, "an API call with it");
    // A client that does not send credentials is refused even while signed in.
    const anon = make({ signerUrl: env.signerUrl, integration: "session-cookie", crossTab: false });
    await rejects(anon.accessToken(), "caller_unauthenticated", isErr);
    await signOut();
    c.dispose();
    anon.dispose();
  },

  // Caller authentication, bearer session: `getSessionToken` supplies the app's JWT.
  async caller_bearer_session(env, make, isErr) {
    const jwt = await (await fetch(`${env.signerUrl}/_test/login?sub=bob`)).text();
    assert(jwt.split(".").length === 3, "a JWT from the login");
    const path = "/token/session-bearer";
    let session = "not-a-session";
    const c = make({ signerUrl: env.signerUrl, integration: "session-bearer", crossTab: false, getSessionToken: async () => session });
    const e = await rejects(c.accessToken(), "caller_unauthenticated", isErr);
    eq(e.status, 401, "status");
    session = jwt;
    assert((await c.accessToken()).length > 20, "a token with the session");
    c.dispose();
    // A session getter that throws (signed out) fails the same way without asking the signer.
    const before = await signerCalls(env, path);
    const d = make({ signerUrl: env.signerUrl, integration: "session-bearer", crossTab: false, getSessionToken: async () => { throw new Error("signed out"); } });
    const e2 = await rejects(d.accessToken(), "caller_unauthenticated", isErr);
    assert(e2.message.includes("signed out"), e2.message);
    eq((await signerCalls(env, path)) - before, 0, "the signer was not asked");
    d.dispose();
    // Rejecting with something that cannot be shown as text still fails the call, never hangs it.
    const odd = make({ signerUrl: env.signerUrl, integration: "session-bearer", crossTab: false, getSessionToken: async () => { throw Object.create(null); } });
    await rejects(within(odd.accessToken(), 5000, "a session getter rejecting with a bare object"), "caller_unauthenticated", isErr);
    odd.dispose();
  },

  async tokens_are_shared_only_as_the_same_caller_and_sign_out_reaches_all(env, make, isErr) {
    const jwt = await (await fetch(`${env.signerUrl}/_test/login?sub=carol`)).text();
    const path = "/token/session-bearer";
    const signedIn = () => make({ signerUrl: env.signerUrl, integration: "session-bearer", getSessionToken: async () => jwt, shareKey: "carol" });
    const first = signedIn();
    const token = await first.accessToken();
    // A signed-out instance next to it asks as nobody: it must not adopt carol's token.
    const anonymous = make({ signerUrl: env.signerUrl, integration: "session-bearer" });
    await rejects(anonymous.accessToken(), "caller_unauthenticated", isErr);
    // An identified instance without a shareKey keeps to itself: it asks the signer.
    let before = await signerCalls(env, path);
    const unkeyed = make({ signerUrl: env.signerUrl, integration: "session-bearer", getSessionToken: async () => jwt });
    await unkeyed.accessToken();
    eq((await signerCalls(env, path)) - before, 1, "no sharing without a shareKey");
    // The same caller under the same key shares: no signer call.
    before = await signerCalls(env, path);
    const second = signedIn();
    eq(await second.accessToken(), token, "the peer's token");
    eq((await signerCalls(env, path)) - before, 0, "shared, not fetched");
    // signOut() in one forgets the token in every instance of that caller, and only there.
    first.signOut();
    eq(first.token, undefined, "signed out here");
    for (let i = 0; i < 50 && second.token !== undefined; i++) await new Promise((r) => setTimeout(r, 20));
    eq(second.token, undefined, "signed out in the other instance");
    assert(unkeyed.token !== undefined, "another caller's instance keeps its token");
    for (const c of [first, anonymous, unkeyed, second]) c.dispose();
  },

  async sign_out_holds_against_late_broadcasts_and_background_refresh(env, make) {
    const jwt = await (await fetch(`${env.signerUrl}/_test/login?sub=erin`)).text();
    const options = { signerUrl: env.signerUrl, integration: "session-bearer", getSessionToken: async () => jwt, shareKey: "erin", autoRefresh: true };
    const c = make(options);
    await c.accessToken();
    // The channel of this caller's instances, as another tab of the app sees it.
    const channel = new BroadcastChannel(`grafx-wasm/v2 ${env.signerUrl} session-bearer same-origin caller:id:erin`);
    const apiUrl = c.token.environmentApiUrl;
    const before = Date.now() - 1000;
    c.signOut();
    // A peer's token asked for before the sign-out, arriving after it, is not adopted.
    channel.postMessage({ v: 1, type: "token", accessToken: "eyJ.before-sign-out", requestedAt: before, receivedAt: Date.now(), expiresAt: Date.now() + 3_600_000, environment: "demo", environmentApiUrl: apiUrl, platformApiUrl: null, scope: "" });
    await new Promise((r) => setTimeout(r, 100));
    eq(c.token, undefined, "a broadcast from before the sign-out is refused");
    // Background refresh does not sign the user back in.
    const calls = await signerCalls(env, "/token/session-bearer");
    window.dispatchEvent(new Event("focus"));
    await new Promise((r) => setTimeout(r, 300));
    eq((await signerCalls(env, "/token/session-bearer")) - calls, 0, "no refresh after the sign-out");
    // The channel works: a token asked for after the sign-out (a new sign-in elsewhere) is taken.
    channel.postMessage({ v: 1, type: "token", accessToken: "eyJ.after-sign-in", requestedAt: Date.now(), receivedAt: Date.now(), expiresAt: Date.now() + 3_600_000, environment: "demo", environmentApiUrl: apiUrl, platformApiUrl: null, scope: "" });
    for (let i = 0; i < 50 && c.token === undefined; i++) await new Promise((r) => setTimeout(r, 20));
    eq(c.token && c.token.accessToken, "eyJ.after-sign-in", "a later token is adopted");
    channel.close();
    c.dispose();
  },

  async a_failed_refresher_fails_its_waiters_at_once(env, make, isErr) {
    // Two instances of one caller; the one holding the refresh lock fails after 300 ms.
    const failing = () => new Promise((_, reject) => setTimeout(() => reject(new Error("session store down")), 300));
    const holder = make({ signerUrl: env.signerUrl, integration: "failing", shareKey: "dave", getSessionToken: failing });
    const waiter = make({ signerUrl: env.signerUrl, integration: "failing", shareKey: "dave", getSessionToken: async () => "", timeoutMs: 5000 });
    const before = await signerCalls(env, "/token/failing");
    const first = holder.accessToken();
    await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    const second = waiter.accessToken();
    await rejects(first, "caller_unauthenticated", isErr);
    const e = await rejects(second, "caller_unauthenticated", isErr);
    assert(e.message.includes("another tab"), `the holder's failure: ${e.message}`);
    assert(!e.message.includes("session store down"), `only the code crosses tabs: ${e.message}`);
    assert(Date.now() - started < 2000, `at once, not after a timeout: ${Date.now() - started} ms`);
    eq((await signerCalls(env, "/token/failing")) - before, 0, "the waiter did not ask again in turn");
    holder.dispose();
    waiter.dispose();
  },

  async malformed_signer_reply(env, make, isErr) {
    const c = make({ signerUrl: `${env.signerUrl}/_test/malformed`, crossTab: false });
    const e = await rejects(c.accessToken(), "invalid_response", isErr);
    assert(e.body.includes("access_token"), "raw body kept");
    c.dispose();
    // A reply holding a token, but not a valid one: the error never carries the token.
    for (const [path, token] of [["invalid", "leaked-token-value"], ["cut", "cut-token-val"]]) {
      const d = make({ signerUrl: `${env.signerUrl}/_test/${path}`, crossTab: false });
      const e2 = await rejects(d.accessToken(), "invalid_response", isErr);
      assert(e2.body.includes("[redacted]"), `${path}: ${e2.body}`);
      for (const field of ["message", "body", "detail", "stack"]) {
        assert(!String(e2[field] ?? "").includes(token), `${path}: no token in ${field}`);
      }
      d.dispose();
    }
  },

  async api_errors_carry_problem_details(env, make, isErr) {
    const c = make({ signerUrl: env.signerUrl, crossTab: false });
    const e = await rejects(c.json("templates/does-not-exist"), "api_error", isErr);
    eq(e.status, 404, "status");
    assert(e.detail.includes("does-not-exist"), e.detail);
    assert(JSON.parse(e.body).title === "Not Found", "raw problem body");
    const w = await rejects(c.projects.create({ templateId: "x" }), "api_error", isErr);
    eq(w.status, 403, "a read-only token cannot create projects");
    await rejects(c.projects.create({}), "invalid_options", isErr);
    c.dispose();
  },

  async pagination_and_async_iteration(env, make) {
    const c = make({ signerUrl: env.signerUrl, crossTab: false });
    const first = await c.templates.list({ limit: 4, sortBy: "name" });
    eq(first.items.length, 4, "page size");
    eq(first.total, 9, "total");
    assert(typeof first.nextPageToken === "string", "next page token");
    const second = await c.templates.list({ limit: 4, sortBy: "name", pageToken: first.nextPageToken });
    assert(second.items[0].id !== first.items[0].id, "second page differs");
    const names = [];
    for await (const t of c.templates.all({ limit: 2 })) names.push(t.name);
    eq(names.length, 9, "iterated every template");
    eq(new Set(names).size, 9, "no duplicates");
    const flyers = await c.templates.list({ search: "flyer" });
    eq(flyers.items.length, 2, "search");
    eq(flyers.nextPageToken, null, "last page");
    // CHILI may send links.nextPage as the bare token (its media connector reads it so): the
    // helpers page on, and hand it back as nextPageToken on the wire.
    await settings(env, { next_page_as_token: true });
    try {
      const bare = await c.templates.list({ limit: 4, sortBy: "name" });
      assert(typeof bare.nextPageToken === "string" && !bare.nextPageToken.includes("?"), `a bare token: ${bare.nextPageToken}`);
      await clearJournal(env);
      const again = await c.templates.list({ limit: 4, sortBy: "name", pageToken: bare.nextPageToken });
      eq(again.items[0].id, second.items[0].id, "the same second page");
      const sent = (await journal(env)).find((r) => r.method === "GET" && r.path === "templates");
      assert(new URLSearchParams(sent.query).get("nextPageToken") === bare.nextPageToken, `the token on the wire: ${sent.query}`);
      const all = [];
      for await (const t of c.templates.all({ limit: 2 })) all.push(t.name);
      eq(all.length, 9, "iterated every template over bare tokens");
      const media = [];
      for await (const m of c.media.all({ limit: 2 })) media.push(m.id);
      eq(media.length, 6, "every media item over bare tokens");
    } finally {
      await settings(env, { next_page_as_token: false });
    }
    const { list } = c.media; // bound: destructuring works
    eq((await list({ limit: 5 })).total, 6, "media");
    const outputSettings = await c.output.settings();
    eq(outputSettings.length, 6, "output settings: one per format");
    eq((await c.output.setting(outputSettings[0].id)).id, outputSettings[0].id, "one output setting");
    c.dispose();
  },

  async previews_follow_the_task_flow_on_the_wire(env, make, isErr) {
    const c = make({ signerUrl: env.signerUrl, crossTab: false });
    const { items } = await c.templates.list({ limit: 1, sortBy: "name", sortOrder: "desc" });
    const id = items[0].id;
    await clearJournal(env);
    const progress = [];
    const blob = await c.templates.preview(id, "medium", { intervalMs: 100, onProgress: (p) => progress.push(p) });
    eq(blob.type, "image/png", "blob type");
    const head = new Uint8Array(await blob.slice(0, 4).arrayBuffer());
    eq(head[1], 0x50, "PNG magic");
    // On the wire: the preview (202 with a task), polls of the task, then its links.download.
    const gets = (await journal(env)).filter((r) => r.method === "GET").map((r) => r.path);
    eq(gets[0], `templates/${id}/preview/medium`, "first the preview");
    // The workshop's code polls projects/preview/tasks for templates too.
    const polls = gets.filter((p) => /^projects\/preview\/tasks\/[^/]+$/.test(p));
    assert(polls.length >= 1, `polled the task: ${gets.join(", ")}`);
    const taskId = polls[0].split("/").pop();
    assert(gets[gets.length - 1].endsWith(`preview/tasks/${taskId}/download`), "then downloaded links.download");
    assert((await journal(env)).every((r) => r.bearer), "every request carried the bearer");
    assert(progress.length >= 1 && typeof progress[0].taskId === "string", "progress names the task");
    eq(gets.filter((p) => p === `templates/${id}/preview/medium`).length, 1, "the preview URL is not re-requested");
    // Rendered now: the next request answers 200 at once, no task.
    await clearJournal(env);
    await c.templates.preview(id, "medium");
    eq((await journal(env)).length, 1, "one request once rendered");
    // Abort and timeout while a preview renders.
    const ctrl = new AbortController();
    const pending = c.templates.preview(id, "highest", { intervalMs: 50, signal: ctrl.signal });
    setTimeout(() => ctrl.abort(), 30);
    await rejects(pending, "aborted", isErr);
    await rejects(c.templates.preview("7a1c0e4d-0000-4000-8000-000000000003", "thumbnail", { intervalMs: 50, timeoutMs: 60 }), "timeout", isErr);
    const media = await c.media.list({ limit: 1 });
    const mediaId = media.items[0].id;
    eq((await c.media.preview(mediaId)).type, "image/png", "media preview");
    // CHILI answers 202 while it generates a media preview: the same URL again, with backoff.
    await settings(env, { media_preview_render_ms: 250 });
    try {
      await clearJournal(env);
      const seen = [];
      const big = await c.media.preview(mediaId, "x4096", { intervalMs: 50, onProgress: (p) => seen.push(p) });
      eq(big.type, "image/png", "the preview once generated");
      assert(seen.length >= 1 && seen[0].attempt === 1, `progress while generating: ${JSON.stringify(seen)}`);
      const asked = (await journal(env)).filter((r) => r.method === "GET").map((r) => r.path);
      assert(asked.length >= 2 && asked.every((p) => p === `media/${mediaId}/preview/x4096`), `the same URL asked again: ${asked.join(", ")}`);
      await rejects(c.media.preview(mediaId, "fullOrVector", { intervalMs: 50, timeoutMs: 100 }), "timeout", isErr);
    } finally {
      await settings(env, { media_preview_render_ms: 0 });
    }
    for (const size of ["highestOrVector", "fullOrVector"]) eq((await c.media.preview(mediaId, size)).type, "image/png", size);
    c.dispose();
  },

  async projects_on_the_wire(env, make, isErr) {
    const c = make({ signerUrl: env.signerUrl, integration: "rw", crossTab: false });
    const template = await c.templates.get(FLYER);
    eq(template.name, "Summer Sale Flyer", "templates.get unwraps CHILI's {data}");
    await clearJournal(env);
    const project = await c.projects.create({ templateId: FLYER, name: "Mine" });
    const [post] = await sent(env, "POST", "projects");
    same(post.body, { template: { id: FLYER }, name: "Mine" }, "CHILI's create body");
    eq(post.content_type, "application/json", "JSON");
    eq(project.name, "Mine", "created project");
    eq(project.template.id, FLYER, "project.template.id");
    const got = await c.projects.get(project.id);
    eq(got.id, project.id, "projects.get");
    await c.projects.saveDocument(project.id, { edited: true });
    const [put] = await sent(env, "PUT", `projects/${project.id}/document`);
    same(put.body, { edited: true }, "document body");
    same(await c.projects.document(project.id), { edited: true }, "document read back");
    // The SDK hands the document over as a JSON string: it goes on the wire as the document.
    await clearJournal(env);
    await c.projects.saveDocument(project.id, JSON.stringify({ fromSdk: 1 }));
    same((await sent(env, "PUT", `projects/${project.id}/document`))[0].body, { fromSdk: 1 }, "a string document is sent as is");
    await rejects(c.projects.saveDocument(project.id, "{not json"), "invalid_options", isErr);
    eq((await c.projects.preview(project.id, "thumbnail", { intervalMs: 100 })).type, "image/png", "project preview");
    const projectPolls = (await journal(env)).filter((r) => /^projects\/preview\/tasks\/[^/]+$/.test(r.path));
    assert(projectPolls.length >= 1, "project previews poll projects/preview/tasks");
    // The caller's own projects, and extra list parameters on the wire.
    await clearJournal(env);
    const mine = await c.projects.list({ limit: 50, collectionId: "c1" });
    assert(mine.items.some((p) => p.id === project.id), "projects.list has the new project");
    const [listed] = await sent(env, "GET", "projects");
    eq(listed.path, "projects", "GET projects");
    eq(listed.query, "limit=50&collectionId=c1", "the list's query on the wire");
    // A new project's document is marked as CHILI marks one (templates-vs-projects).
    const fresh = await c.projects.create({ templateId: FLYER });
    const doc = await c.projects.document(fresh.id);
    same([doc.properties.type, doc.properties.templateId, doc.selectedLayoutId], ["project", FLYER, "0"], "a project's document");
    await c.projects.delete(fresh.id);
    // Rename: `{name}` first; where only a JSON Patch is taken, that after the refusal.
    await clearJournal(env);
    eq((await c.projects.rename(project.id, "Renamed")).name, "Renamed", "renamed");
    const patches = await sent(env, "PATCH", `projects/${project.id}`);
    eq(patches.length, 1, "one PATCH");
    same(patches[0].body, { name: "Renamed" }, "the rename body");
    eq(patches[0].content_type, "application/json", "JSON");
    await settings(env, { project_rename_body: "json_patch" });
    try {
      await clearJournal(env);
      eq((await c.projects.rename(project.id, "Patched")).name, "Patched", "renamed by JSON Patch");
      const both = await sent(env, "PATCH", `projects/${project.id}`);
      eq(both.length, 2, "{name} refused, then the JSON Patch");
      same(both[1].body, [{ op: "replace", path: "/name", value: "Patched" }], "the JSON Patch");
      eq(both[1].content_type, "application/json-patch+json", "JSON Patch's media type");
    } finally {
      await settings(env, { project_rename_body: "either" });
    }
    eq((await c.projects.get(project.id)).name, "Patched", "the name read back");
    // A rename answered 204 without a body (the release notes do not show the reply): the
    // project is read back.
    await settings(env, { project_rename_no_content: true });
    try {
      await clearJournal(env);
      eq((await c.projects.rename(project.id, "Read back")).name, "Read back", "a 204 rename gives the project");
      eq((await sent(env, "GET", `projects/${project.id}`)).length, 1, "read back with GET projects/{id}");
    } finally {
      await settings(env, { project_rename_no_content: false });
    }
    await rejects(c.projects.rename(project.id, " "), "invalid_options", isErr);
    await c.projects.delete(project.id);
    eq((await sent(env, "DELETE", `projects/${project.id}`)).length, 1, "DELETE projects/{id}");
    c.dispose();
  },

  async media_folders_items_and_downloads(env, make, isErr) {
    const c = make({ signerUrl: env.signerUrl, crossTab: false });
    await clearJournal(env);
    const photos = await c.media.list({ folder: "/photos", includeFolders: true, includeItemsFromSubfolders: false, sortBy: "name" });
    const [listed] = await sent(env, "GET", "media");
    same(Object.fromEntries(new URLSearchParams(listed.query)), { folder: "/photos", includeFolders: "true", includeItemsFromSubfolders: "false", sortBy: "name" }, "the media connector's parameters on the wire");
    same(photos.items.map((m) => [m.name, m.type]), [["beach.png", 0], ["products", 1], ["storefront.png", 0], ["team.png", 0]], "the folder's items and its subfolder");
    const beach = photos.items[0];
    same(Object.keys(beach).sort(), ["extension", "height", "id", "metaData", "name", "relativePath", "type", "width"], "the Swagger's Asset");
    same([beach.relativePath, beach.extension, beach.width, beach.height], ["/photos", "png", 1600, 1067], "an item");
    same([photos.items[1].relativePath, photos.items[1].width, photos.items[1].metaData], ["/photos", null, null], "a folder: its parent's path, no size");
    eq((await c.media.list({ folder: "/photos", includeItemsFromSubfolders: true })).total, 4, "with the subfolder's item, no folders");
    eq((await c.media.list({ folder: "/" })).total, 2, "the root's own items");
    eq((await c.media.list()).total, 6, "without a folder: every item");
    // A folder alone: both flags go out as false, so CHILI's undocumented defaults do not matter
    // (here the emulator's default is to include subfolders).
    await settings(env, { subfolders_by_default: true });
    try {
      await clearJournal(env);
      eq((await c.media.list({ folder: "/photos" })).total, 3, "the folder's own items only");
      same(Object.fromEntries(new URLSearchParams((await sent(env, "GET", "media"))[0].query)), { folder: "/photos", includeItemsFromSubfolders: "false", includeFolders: "false" }, "both flags on the wire");
      const names = [];
      for await (const m of c.media.all({ folder: "/photos", limit: 1 })) names.push(m.name);
      same(names, ["beach.png", "storefront.png", "team.png"], "all() pages one folder");
      eq((await sent(env, "GET", "media")).length, 4, "one request a page");
    } finally {
      await settings(env, { subfolders_by_default: false });
    }
    // A list honours its signal.
    await clearJournal(env);
    const stop = new AbortController();
    stop.abort();
    await rejects(c.media.list({ signal: stop.signal }), "aborted", isErr);
    eq((await sent(env, "GET", "media")).length, 0, "an aborted list sends nothing");
    await clearJournal(env);
    await c.media.list({ tag: ["a", "b"], limit: 3 });
    eq(new URLSearchParams((await sent(env, "GET", "media"))[0].query).getAll("tag").join(","), "a,b", "an array repeats its parameter");
    await rejects(c.media.list({ folder: { path: "/" } }), "invalid_options", isErr);
    await rejects(c.media.list({ folder: "photos" }), "api_error", isErr);
    // GET media/{id}: CHILI's {data, links} unwrapped, a bare item taken too; type by name too.
    const one = await c.media.get(beach.id);
    same([one.id, one.name, one.type], [beach.id, "beach.png", 0], "media.get unwraps {data}");
    await settings(env, { bare_media_item: true, media_type_names: true });
    try {
      const bare = await c.media.get(beach.id);
      same([bare.id, bare.name, bare.type], [beach.id, "beach.png", "Item"], "a bare item");
      const named = await c.media.list({ includeFolders: true });
      same([...new Set(named.items.map((m) => m.type))].sort(), ["Directory", "Item"], "types by name");
    } finally {
      await settings(env, { bare_media_item: false, media_type_names: false });
    }
    // The original file.
    await clearJournal(env);
    const file = await c.media.download(beach.id);
    eq(file.type, "image/png", "the original");
    const png = new Uint8Array(await file.arrayBuffer());
    eq(new DataView(png.buffer).getUint32(16), 1600, "at its own width");
    const [dl] = await sent(env, "GET", `media/${beach.id}/download`);
    eq(dl && dl.bearer, true, "GET media/{id}/download with the bearer");
    await rejects(c.media.download("no-such-media"), "api_error", isErr);
    c.dispose();
  },

  async templates_dates_folders_and_layout_previews(env, make, isErr) {
    const c = make({ signerUrl: env.signerUrl, crossTab: false });
    const flyer = await c.templates.get(FLYER);
    assert(/^\d{4}-\d\d-\d\dT/.test(flyer.dateCreated) && /^\d{4}-/.test(flyer.lastModifiedContentUtc), `camelCase dates: ${JSON.stringify(flyer)}`);
    eq(flyer.relativePath, "/print", "its folder");
    await settings(env, { pascal_case_template_dates: true });
    try {
      const pascal = (await c.templates.list({ search: "Summer Sale" })).items[0];
      same([pascal.DateCreated, pascal.LastModifiedContentUtc, pascal.dateCreated], [flyer.dateCreated, flyer.lastModifiedContentUtc, undefined], "the release notes' casing");
    } finally {
      await settings(env, { pascal_case_template_dates: false });
    }
    // Extra list parameters reach CHILI: a folder.
    await clearJournal(env);
    const social = await c.templates.list({ folder: "/social", includeItemsFromSubfolders: true });
    eq(social.items.length, 2, "the social folder");
    assert(social.items.every((t) => t.relativePath === "/social"), "only its templates");
    same(Object.fromEntries(new URLSearchParams((await sent(env, "GET", "templates"))[0].query)), { folder: "/social", includeItemsFromSubfolders: "true" }, "on the wire");
    // A preview of one layout and page: query parameters (release notes 2026-05-21).
    await clearJournal(env);
    eq((await c.templates.preview(FLYER, "thumbnail", { layoutId: "0", pageId: "0", intervalMs: 50 })).type, "image/png", "a layout's preview");
    const first = (await journal(env)).find((r) => r.method === "GET" && r.path === `templates/${FLYER}/preview/thumbnail`);
    eq(first && first.query, "layoutId=0&pageId=0", "layoutId and pageId on the wire");
    const refused = await rejects(c.templates.preview(FLYER, "thumbnail", { layoutId: "no-such-layout" }), "api_error", isErr);
    eq(refused.status, 400, "an unknown layout");
    c.dispose();
  },

  async output_render_with_progress(env, make) {
    const c = make({ signerUrl: env.signerUrl, crossTab: false });
    const pdfSetting = (await c.output.settings()).find((s) => s.type === "pdf" && s.default);
    await clearJournal(env);
    const progress = [];
    const result = await c.output.render(
      "pdf",
      { templateId: FLYER },
      { intervalMs: 100, onProgress: (p) => progress.push(p) },
    );
    assert(progress.length >= 2, `progress reported ${progress.length} times`);
    eq(progress[0].taskId, result.taskId, "progress names the task");
    assert(progress[progress.length - 1].elapsedMs > progress[0].elapsedMs, "elapsed grows");
    assert(result.downloadUrl.includes(result.taskId), "download URL");
    eq(result.blob.type, "application/pdf", "a PDF");
    eq(await result.blob.slice(0, 5).text(), "%PDF-", "PDF magic");
    // On the wire: the environment's default setting filled in, then polls, then links.download.
    const [post] = await sent(env, "POST", "output/pdf");
    same(post.body, { templateId: FLYER, outputSettingsId: pdfSetting.id }, "output body");
    assert((await sent(env, "GET", `output/tasks/${result.taskId}`)).length >= 3, "polled, then downloaded");
    // Every format, and CHILI's batch body (documentContent, layoutsToExport, variables rows).
    for (const [format, type] of [["png", "image/png"], ["jpg", "image/jpeg"], ["gif", "image/gif"], ["mp4", "video/mp4"], ["html", "text/html"]]) {
      const { blob } = await c.output.render(format, { templateId: FLYER }, { intervalMs: 100 });
      assert(blob.type.startsWith(type), `${format}: ${blob.type}`);
    }
    const documentContent = await c.templates.download(FLYER);
    await clearJournal(env);
    const batch = { documentContent, outputSettingsId: pdfSetting.id, layoutsToExport: ["0"], variables: [{ Headline: "Red" }, { Headline: null }] };
    const { blob } = await c.output.render("pdf", batch, { intervalMs: 100 });
    assert((await blob.text()).includes("Batch of 2 data rows"), "batch rendered");
    const [batchPost] = await sent(env, "POST", "output/pdf");
    same(batchPost.body, batch, "batch body sent as given");
    // The steps on their own, and older versions' 202 while running.
    await settings(env, { legacy_task_status: true });
    try {
      const task = await c.output.create("png", { templateId: "7a1c0e4d-0000-4000-8000-000000000002" });
      const url = await c.output.wait(task, { intervalMs: 100 });
      eq((await c.output.download(url)).type, "image/png", "png download by URL");
      eq((await c.output.download(task)).type, "image/png", "png download by task id");
    } finally {
      await settings(env, { legacy_task_status: false });
    }
    c.dispose();
  },

  async via_the_signer_proxy(env, make, isErr) {
    const c = make({ signerUrl: env.signerUrl, crossTab: false });
    // The page's own token is read-only, and CHILI refuses a write with it.
    const own = await c.accessToken();
    assert(!c.token.scope.includes(":write"), `a read-only token: ${c.token.scope}`);
    const refused = await rejects(c.projects.create({ templateId: FLYER }), "api_error", isErr);
    eq(refused.status, 403, "the read-only token cannot write");
    // Every reply the page gets from the proxy, to look for tokens in afterwards.
    const seen = [];
    const original = globalThis.fetch;
    globalThis.fetch = async (input, init) => {
      const res = await original(input, init);
      const url = typeof input === "string" ? input : input.url;
      if (url.includes("/api/proxied/")) seen.push({ url, headers: [...res.headers], body: await res.clone().text() });
      return res;
    };
    try {
      const w = c.via("proxied");
      eq(w.integration, "proxied", "via names its integration");
      const pdfSetting = (await w.output.settings()).find((s) => s.type === "pdf" && s.default);
      await clearJournal(env);
      const project = await w.projects.create({ templateId: FLYER, name: "Via the proxy" });
      eq(project.name, "Via the proxy", "created through the proxy");
      const [post] = await sent(env, "POST", "projects");
      same(post.body, { template: { id: FLYER }, name: "Via the proxy" }, "CHILI's create body, on the wire");
      assert(post.bearer, "the signer added the writer's token");
      await w.projects.saveDocument(project.id, { edited: "via" });
      same((await sent(env, "PUT", `projects/${project.id}/document`))[0].body, { edited: "via" }, "document body");
      // studio-ui's project callbacks for it, through the same proxy (checkEnvironment: false,
      // since studio-ui itself would refuse the emulator's URL).
      await clearJournal(env);
      const ui = await c.studio.uiLoaderConfig({ selector: "x", projectId: project.id, via: "proxied", checkEnvironment: false });
      eq(ui.via, undefined, "via is grafx's option, not studio-ui's");
      eq(ui.checkEnvironment, undefined, "so is checkEnvironment");
      eq(ui.projectDownloadUrl, undefined, "the callbacks replace the loader's own URLs");
      same(await ui.onProjectInfoRequested(project.id), { id: project.id, name: "Via the proxy", template: { id: FLYER } }, "studio-ui's Project");
      same(JSON.parse(await ui.onProjectDocumentRequested(project.id)), { edited: "via" }, "the document, as JSON text");
      const saved = await ui.onProjectSave(async () => JSON.stringify({ edited: "studio-ui" }));
      eq(saved.id, project.id, "a save resolves to the project");
      same((await sent(env, "PUT", `projects/${project.id}/document`))[0].body, { edited: "studio-ui" }, "the save, on the wire");
      assert((await sent(env, "GET", `projects/${project.id}/document`)).length === 1, "the document read, on the wire");
      const link = await ui.onProjectGetDownloadLink("pdf", undefined);
      assert(link.success && link.status === 200 && link.data.startsWith("blob:"), JSON.stringify(link));
      eq(await (await (await fetch(link.data)).blob()).slice(0, 5).text(), "%PDF-", "the rendered file");
      same((await sent(env, "POST", "output/pdf"))[0].body.layoutsToExport, ["0"], "the layout studio-ui asked for");
      await rejects(c.studio.uiLoaderConfig({ selector: "x", via: "proxied" }), "invalid_options", isErr);
      await clearJournal(env);
      const progress = [];
      const result = await w.output.render("pdf", { projectId: project.id }, { intervalMs: 100, onProgress: (p) => progress.push(p) });
      assert(progress.length >= 1, "progress through the proxy");
      eq(result.blob.type, "application/pdf", "a PDF");
      eq(await result.blob.slice(0, 5).text(), "%PDF-", "PDF magic");
      assert(result.downloadUrl.startsWith(`${env.signerUrl}/api/proxied/output/tasks/`), `downloaded through the proxy: ${result.downloadUrl}`);
      const [render] = await sent(env, "POST", "output/pdf");
      same(render.body, { projectId: project.id, outputSettingsId: pdfSetting.id }, "output body, on the wire");
      assert((await sent(env, "GET", `output/tasks/${result.taskId}/download`)).length === 1, "one download");
      // Outside the allow-list: the signer refuses, CHILI never hears of it.
      await clearJournal(env);
      const outside = await rejects(w.projects.delete(project.id), "signer_rejected", isErr);
      eq(outside.signerCode, "proxy_path_not_allowed", "the signer's code");
      eq(outside.status, 403, "403");
      eq((await rejects(w.templates.list(), "signer_rejected", isErr)).signerCode, "proxy_path_not_allowed", "reads outside too");
      eq((await journal(env)).length, 0, "nothing reached CHILI");
      // The page cannot aim the proxy elsewhere.
      await rejects(w.fetch("https://elsewhere.example/x"), "invalid_options", isErr);
      await rejects(w.fetch("../default/templates"), "invalid_options", isErr);
      // No token of any kind in what the page received, nor an Authorization header.
      assert(seen.length >= 6, `${seen.length} proxied replies`);
      const jwt = /eyJ[\w-]+\.eyJ[\w-]+\./;
      for (const r of seen) {
        for (const [name, value] of r.headers) {
          assert(name !== "authorization", `${r.url}: an Authorization header`);
          assert(!jwt.test(value) && !value.includes(own), `${r.url}: a token in ${name}`);
        }
        assert(!jwt.test(r.body), `${r.url}: a token in the body`);
      }
    } finally {
      globalThis.fetch = original;
    }
    // Over the quota (one render an hour): 429 from the signer, with its code.
    const q = c.via("quota");
    await q.output.create("png", { templateId: FLYER });
    const over = await rejects(q.output.create("png", { templateId: FLYER }), "signer_rejected", isErr);
    eq(over.signerCode, "quota_exceeded", "quota code");
    eq(over.status, 429, "429");
    throws(() => c.via("no such"), "invalid_options", "via(integration)", isErr);
    c.dispose();
  },

  async output_mistakes_and_expired_downloads(env, make, isErr) {
    const c = make({ signerUrl: env.signerUrl, crossTab: false });
    await clearJournal(env);
    await rejects(c.output.render("bmp", { templateId: FLYER }), "invalid_options", isErr);
    await rejects(c.output.render("pdf", { templateId: FLYER, projectId: "p" }), "invalid_options", isErr);
    await rejects(c.output.render("pdf", {}), "invalid_options", isErr);
    eq((await sent(env, "POST", "output")).length, 0, "nothing sent for a bad call");
    // An environment without a setting for the format: a clear error, and no render started.
    await c.accessToken();
    await armApi(env, { kind: "status", status: 200, body: JSON.stringify({ data: [], pageSize: 100, links: {} }), times: 1 });
    const none = await rejects(c.output.render("gif", { templateId: FLYER }), "invalid_options", isErr);
    assert(none.message.includes("no gif output setting"), none.message);
    eq((await sent(env, "POST", "output")).length, 0, "no render without a setting");
    const task = await c.output.create("png", { templateId: FLYER });
    const url = await c.output.wait(task, { intervalMs: 100 });
    // Five hours later the output is gone: CHILI keeps downloads about four.
    await control(env, "clock", { advance_ms: 5 * 3600 * 1000 });
    try {
      const e = await rejects(c.output.download(url), "api_error", isErr);
      eq(e.status, 404, "status");
      assert(e.message.includes("no longer available") && e.message.includes("4 hours"), e.message);
      assert(e.detail.includes("expired"), e.detail);
    } finally {
      await control(env, "clock", { advance_ms: -5 * 3600 * 1000 });
    }
    c.dispose();
  },

  async failed_output_is_an_api_error(env, make, isErr) {
    const c = make({ signerUrl: env.signerUrl, crossTab: false });
    const e = await rejects(c.output.render("pdf", { templateId: "7a1c0e4d-0000-4000-8000-000000000009" }, { intervalMs: 100 }), "api_error", isErr);
    eq(e.status, 500, "status");
    assert(e.detail.includes("failed"), e.detail);
    const ctrl = new AbortController();
    const task = await c.output.create("pdf", { templateId: "7a1c0e4d-0000-4000-8000-000000000001" });
    setTimeout(() => ctrl.abort(), 150);
    await rejects(c.output.wait(task, { intervalMs: 100, signal: ctrl.signal }), "aborted", isErr);
    await rejects(c.output.wait(task, { intervalMs: 100, timeoutMs: 150 }), "timeout", isErr);
    // A duration of 0, below 0 or not a number is refused before anything is sent, in every call
    // that takes one: 0 means neither "no timeout" nor "the default".
    await clearJournal(env);
    for (const bad of [0, -1, NaN, "100", 3e9]) {
      const calls = {
        "output.wait timeoutMs": () => c.output.wait(task, { timeoutMs: bad }),
        "output.wait intervalMs": () => c.output.wait(task, { intervalMs: bad }),
        "output.render timeoutMs": () => c.output.render("pdf", { templateId: FLYER }, { timeoutMs: bad }),
        "templates.preview timeoutMs": () => c.templates.preview(FLYER, "thumbnail", { timeoutMs: bad }),
        "projects.preview intervalMs": () => c.projects.preview(FLYER, "thumbnail", { intervalMs: bad }),
        "media.preview timeoutMs": () => c.media.preview("m1", "thumbnail", { timeoutMs: bad }),
        "media.preview intervalMs": () => c.media.preview("m1", "thumbnail", { intervalMs: bad }),
        "fetch timeoutMs": () => c.fetch("templates", { timeoutMs: bad }),
      };
      for (const [what, call] of Object.entries(calls)) {
        const e = await rejects(call(), "invalid_options", isErr);
        const field = what.split(" ")[1];
        assert(e.message.includes(`${field} must be a number of milliseconds above 0, at most 2147483647`), `${what} ${bad}: ${e.message}`);
      }
    }
    eq((await journal(env)).length, 0, "nothing sent for a refused duration");
    c.dispose();
  },

  // Options given as null are no options, in every helper that takes them (and a null preview
  // type or size is the default one): what goes on the wire is what absent options send. Any
  // other value is refused, naming the helper, before anything is sent.
  async null_options_are_the_defaults_and_other_values_are_refused(env, make, isErr) {
    const c = make({ signerUrl: env.signerUrl, integration: "rw", crossTab: false });
    eq((await c.media.list(null)).items.length > 0, true, "media.list(null)");
    // A template and a media item no other test previews: Chromium caches previews (max-age),
    // and this test reads its requests on the wire.
    const CARD = "7a1c0e4d-0000-4000-8000-000000000002";
    let mediaId;
    for await (const m of c.media.all(null)) if (m.name === "storefront.png") mediaId = m.id;
    assert(mediaId, "media.all(null) found storefront.png");
    const project = await c.projects.create({ templateId: FLYER });
    try {
      await clearJournal(env);
      let listed = 0;
      for await (const _ of c.templates.all(null)) listed++;
      eq(listed, (await c.templates.list({ limit: 100 })).items.length, "templates.all(null) walked the list");
      eq((await c.templates.list(null)).items.length > 0, true, "templates.list(null)");
      assert(Array.isArray((await c.projects.list(null)).items), "projects.list(null)");
      let mine = 0;
      for await (const p of c.projects.all(null)) if (p.id === project.id) mine++;
      eq(mine, 1, "projects.all(null)");
      eq((await c.templates.preview(CARD, null, null)).type, "image/png", "templates.preview");
      eq((await c.projects.preview(project.id, null, null)).type, "image/png", "projects.preview");
      eq((await c.media.preview(mediaId, null, null)).type, "image/png", "media.preview");
      assert((await c.media.download(mediaId, null)).size > 0, "media.download");
      const { taskId, downloadUrl, blob } = await c.output.render("pdf", { templateId: FLYER }, null);
      eq(await c.output.wait(taskId, null), downloadUrl, "output.wait");
      eq((await c.output.download(taskId, null)).size, blob.size, "output.download");
      const gets = (await journal(env)).filter((r) => r.method === "GET").map((r) => r.path);
      for (const path of [
        `templates/${CARD}/preview/thumbnail`,
        `projects/${project.id}/preview/thumbnail`,
        `media/${mediaId}/preview/thumbnail`,
        `media/${mediaId}/download`,
      ]) assert(gets.includes(path), `${path} on the wire: ${gets.join(", ")}`);
      // render's own download, then output.download's.
      eq(gets.filter((p) => p === `output/tasks/${taskId}/download`).length, 2, "two downloads");
      eq((await sent(env, "POST", "output/pdf")).length, 1, "one render");
      await clearJournal(env);
      const refused = {
        "templates.list": () => c.templates.list("limit=1"),
        "media.list": () => c.media.list(["folder"]),
        "templates.preview": () => c.templates.preview(FLYER, "thumbnail", 5000),
        "media.preview": () => c.media.preview(mediaId, "thumbnail", "fast"),
        "media.download": () => c.media.download(mediaId, true),
        "output.wait": () => c.output.wait(taskId, 1),
        "output.download": () => c.output.download(taskId, "now"),
        "output.render": () => c.output.render("pdf", { templateId: FLYER }, [{ intervalMs: 100 }]),
        "output.wait onProgress": () => c.output.wait(taskId, { onProgress: "log" }),
        "output.render onProgress": () => c.output.render("pdf", { templateId: FLYER }, { onProgress: 1 }),
      };
      for (const [what, call] of Object.entries(refused)) {
        const e = await rejects(call(), "invalid_options", isErr);
        assert(e.message.startsWith(what.split(" ")[0]), `${what}: ${e.message}`);
      }
      const fn = await rejects(c.templates.list({ folder: () => "/" }), "invalid_options", isErr);
      assert(fn.message.includes("list option folder"), fn.message);
      throws(() => c.projects.all("mine"), "invalid_options", "projects.all", isErr);
      eq((await journal(env)).length, 0, "nothing sent for refused options");
    } finally {
      await c.projects.delete(project.id);
      c.dispose();
    }
  },

  // One clock: a wait's deadline is read on the client's clock (its `now` option), like token
  // expiry. Two minutes pass on it after the first poll: the 60 s wait times out at once, on a
  // render that takes a minute of real time.
  async waits_run_on_the_clients_clock(env, make, isErr) {
    let offset = 0;
    const c = make({ signerUrl: env.signerUrl, crossTab: false, now: () => Date.now() + offset });
    // A render that outlasts the test on the real clock, however loaded the machine (the
    // emulator judges a task's state by its render time when polled); restored as it was.
    const was = (await (await fetch(`${env.emulatorUrl}/_emulator/settings`)).json()).output_render_ms;
    assert(Number.isInteger(was), `the emulator's render time: ${was}`);
    await settings(env, { output_render_ms: 60_000 });
    try {
      const task = await c.output.create("pdf", { templateId: FLYER });
      const polls = [];
      const started = Date.now();
      const e = await rejects(c.output.wait(task, {
        intervalMs: 100, timeoutMs: 60_000,
        onProgress: (p) => { polls.push(p); offset += 120_000; },
      }), "timeout", isErr);
      assert(e.message.includes("60000 ms"), e.message);
      // The next poll has no time left on the client's clock (its request, 1 ms, may land).
      assert(polls.length >= 1 && polls.length <= 2, `stopped after the clock jumped: ${polls.length} polls`);
      assert(Date.now() - started < 5_000, "well before the real deadline");
    } finally {
      await settings(env, { output_render_ms: was });
    }
    // On the real clock (no jump), a render of the usual length finishes.
    const quick = await c.output.create("pdf", { templateId: FLYER });
    const url = await c.output.wait(quick, { intervalMs: 100 });
    assert(url.includes(quick), url);
    c.dispose();
  },

  // A frozen tab (mobile browsers freeze background tabs) holds the refresh lock forever: this
  // tab waits at most its timeout, then asks the signer itself.
  async a_frozen_peer_does_not_hang_this_tab(env, make, isErr) {
    const key = await lockKey(env, make, "frozen");
    let thaw;
    const frozen = new Promise((resolve) => { thaw = resolve; });
    const held = new Promise((taken) => navigator.locks.request(key, () => { taken(); return frozen; }));
    await held;
    const c = make({ signerUrl: env.signerUrl, integration: "frozen", crossTab: true, timeoutMs: 700 });
    const before = await signerCalls(env, "/token/frozen");
    const token = await within(c.accessToken(), 5000, "accessToken behind a frozen lock holder");
    assert(token.length > 20, "a token without the frozen peer");
    eq((await signerCalls(env, "/token/frozen")) - before, 1, "fetched for itself");
    thaw();
    c.dispose();
    // A session callback that never settles is bounded by the same timeout.
    const d = make({ signerUrl: env.signerUrl, crossTab: false, timeoutMs: 500, getSessionToken: () => new Promise(() => {}) });
    const e = await within(rejects(d.accessToken(), "timeout", isErr), 5000, "getSessionToken");
    assert(e.message.includes("getSessionToken"), e.message);
    d.dispose();
  },

  // React StrictMode mounts, unmounts and mounts again: a refresh that finishes after dispose
  // stores nothing, arms nothing, holds no lock; the pending call rejects; a new instance works.
  async dispose_stops_work_already_in_flight(env, make, isErr) {
    // The session callback keeps the signer call in flight for 200 ms: dispose lands inside it.
    const slowSession = () => new Promise((resolve) => setTimeout(() => resolve("session"), 200));
    const c = make({ signerUrl: env.signerUrl, integration: "disposal", crossTab: true, shareKey: "strict-mode-user", autoRefresh: true, getSessionToken: slowSession });
    const pending = c.accessToken();
    await new Promise((r) => setTimeout(r, 50));
    c.dispose();
    const e = await rejects(pending, "invalid_options", isErr);
    assert(e.message.includes("disposed"), e.message);
    await new Promise((r) => setTimeout(r, 300));
    eq(c.token, undefined, "nothing stored after dispose");
    const { held } = await navigator.locks.query();
    assert(!held.some((l) => l.name.includes(" disposal ") && l.name.endsWith(" presence")), "no presence lock left behind");
    await rejects(c.accessToken(), "invalid_options", isErr);
    const again = make({ signerUrl: env.signerUrl, integration: "disposal", crossTab: true });
    assert((await within(again.accessToken(), 5000, "the remount")).length > 20, "the remount works at once");
    // Unsubscribing twice (effects clean up twice) is harmless.
    const off = again.onTokenChange(() => {});
    off();
    off();
    again.dispose();
  },

  // One AbortSignal for the page's lifetime, reused by every call: no listener piles up on it.
  async parallel_and_later_401s_make_one_signer_call(env, make) {
    const c = make({ signerUrl: env.signerUrl, crossTab: false });
    await c.accessToken();
    const before = await signerCalls(env, "/token");
    await armApi(env, { kind: "status", status: 401, times: 5 });
    const pages = await Promise.all([1, 2, 3, 4, 5].map(() => c.json("templates?limit=1")));
    eq(pages.filter((p) => p.data.length === 1).length, 5, "every refused call retried and succeeded");
    eq((await signerCalls(env, "/token")) - before, 1, "five parallel 401s share one forced refresh");
    // A later 401 on the token that refresh just confirmed (the signer hands out the same token
    // until shortly before expiry) retries with it rather than asking the signer again.
    await armApi(env, { kind: "status", status: 401, times: 1 });
    eq((await c.json("templates?limit=1")).data.length, 1, "the later call retried");
    eq((await signerCalls(env, "/token")) - before, 1, "no second refresh for the same refused token");
    c.dispose();
  },

  async timers_are_released_on_every_path(env, make, isErr) {
    // Count the page's live timers: set, not yet fired or cleared.
    const live = new Set();
    const realSet = globalThis.setTimeout, realClear = globalThis.clearTimeout;
    globalThis.setTimeout = (f, ms, ...args) => {
      const id = realSet(() => { live.delete(id); if (typeof f === "function") f(...args); }, ms);
      live.add(id);
      return id;
    };
    globalThis.clearTimeout = (id) => { live.delete(id); realClear(id); };
    try {
      const ok = make({ signerUrl: env.signerUrl });
      await ok.accessToken();
      await ok.json("templates?limit=1", { timeoutMs: 5000 });
      await rejects(ok.json("templates/nope"), "api_error", isErr);
      const ctrl = new AbortController();
      const aborted = ok.fetch("templates", { signal: ctrl.signal, timeoutMs: 5000 });
      ctrl.abort();
      await rejects(aborted, "aborted", isErr);
      await ok.output.render("pdf", { templateId: FLYER }, { intervalMs: 50 });
      const down = make({ signerUrl: "http://127.0.0.1:9", crossTab: false, timeoutMs: 3000 });
      await rejects(down.accessToken(), "signer_unreachable", isErr);
      const hung = make({ signerUrl: env.signerUrl, integration: "cold", timeoutMs: 150, getSessionToken: () => new Promise(() => {}) });
      await rejects(hung.accessToken(), "timeout", isErr);
      const refused = make({ signerUrl: env.signerUrl, integration: "writer", crossTab: false });
      await rejects(refused.accessToken(), "signer_rejected", isErr);
      const auto = make({ signerUrl: env.signerUrl, integration: "auto", autoRefresh: true, crossTab: false });
      await auto.accessToken();
      assert(live.size > 0, "auto-refresh arms a timer");
      // Another context holds the refresh lock: waiting for it arms a timer, released whether
      // the wait times out or the lock comes free in time.
      const key = await lockKey(env, make, "timers");
      for (const [timeoutMs, holdMs] of [[150, 400], [2000, 100]]) {
        let thaw;
        const held = new Promise((taken) => navigator.locks.request(key, () => { taken(); return new Promise((r) => { thaw = r; }); }));
        await held;
        realSet(() => thaw(), holdMs);
        const waiting = make({ signerUrl: env.signerUrl, integration: "timers", timeoutMs });
        await waiting.accessToken();
        waiting.dispose();
      }
      // Browsers without AbortSignal.any: the timeout is a timer of ours, which also covers the
      // body read, so it is let go at the deadline (or at once when aborted).
      const any = AbortSignal.any;
      AbortSignal.any = undefined;
      try {
        await ok.json("templates?limit=1", { timeoutMs: 200 });
        const again = new AbortController();
        const stopped = ok.fetch("templates", { signal: again.signal, timeoutMs: 200 });
        again.abort();
        await rejects(stopped, "aborted", isErr);
        await rejects(ok.json("templates/nope", { timeoutMs: 200 }), "api_error", isErr);
        await new Promise((r) => realSet(r, 300));
      } finally {
        AbortSignal.any = any;
      }
      for (const c of [ok, down, hung, refused, auto]) c.dispose();
      await new Promise((r) => realSet(r, 50));
      eq(live.size, 0, "live timers after every path and dispose");
    } finally {
      globalThis.setTimeout = realSet;
      globalThis.clearTimeout = realClear;
    }
  },

  async timeout_covers_reading_the_body(env, make, isErr) {
    const c = make({ signerUrl: env.signerUrl, crossTab: false });
    await c.accessToken();
    // Headers at once, the body two seconds later: a 300 ms timeout must stop the read.
    await armApi(env, { kind: "slow_body", ms: 2000 });
    let started = Date.now();
    await rejects(c.json("templates?limit=1", { timeoutMs: 300 }), "timeout", isErr);
    assert(Date.now() - started < 1500, `json() timed out while reading: ${Date.now() - started} ms`);
    await armApi(env, { kind: "slow_body", ms: 2000 });
    started = Date.now();
    const res = await c.fetch("templates?limit=1", { timeoutMs: 300 });
    eq(res.status, 200, "the headers came in time");
    const read = await res.text().then(() => "read", (e) => e.name);
    eq(read, "TimeoutError", "fetch()'s body read is cut off by the same timeout");
    assert(Date.now() - started < 1500, `cut off in time: ${Date.now() - started} ms`);
    // The same without AbortSignal.any (older browsers): our own timer covers the read.
    const any = AbortSignal.any;
    AbortSignal.any = undefined;
    try {
      await armApi(env, { kind: "slow_body", ms: 2000 });
      started = Date.now();
      await rejects(c.json("templates?limit=1", { timeoutMs: 300 }), "timeout", isErr);
      assert(Date.now() - started < 1500, `json() without AbortSignal.any: ${Date.now() - started} ms`);
      await armApi(env, { kind: "slow_body", ms: 2000 });
      started = Date.now();
      const slow = await c.fetch("templates?limit=1", { timeoutMs: 300 });
      const cut = await slow.text().then(() => "read", (e) => "cut");
      eq(cut, "cut", "fetch()'s body read is cut off without AbortSignal.any too");
      assert(Date.now() - started < 1500, `cut off in time: ${Date.now() - started} ms`);
    } finally {
      AbortSignal.any = any;
    }
    c.dispose();
  },

  async a_reused_signal_gathers_no_listeners(env, make) {
    const c = make({ signerUrl: env.signerUrl, crossTab: false });
    const ctrl = new AbortController();
    const signal = ctrl.signal;
    let live = 0;
    const add = signal.addEventListener.bind(signal);
    const remove = signal.removeEventListener.bind(signal);
    signal.addEventListener = (type, f, o) => { if (type === "abort") live++; add(type, f, o); };
    signal.removeEventListener = (type, f, o) => { if (type === "abort") live--; remove(type, f, o); };
    for (let i = 0; i < 1000; i++) {
      const res = await c.fetch("media?limit=1", { signal, timeoutMs: i % 2 ? 5000 : undefined });
      await res.arrayBuffer();
    }
    eq(live, 0, "abort listeners left on the caller's signal after 1000 calls");
    c.dispose();
  },

  async studio_adapters(env, make, isErr) {
    const c = make({ signerUrl: env.signerUrl, integration: "studio", crossTab: false });
    const { onAuthExpired, refreshTokenAction, configuration } = c.studio; // unbound, as the SDK calls them
    const before = await signerCalls(env, "/token/studio");
    const creds = await onAuthExpired({ type: "grafxToken" });
    eq(creds.type, "grafxToken", "credential type");
    eq(creds.token, c.token.accessToken, "the refreshed token");
    eq((await signerCalls(env, "/token/studio")) - before, 1, "a forced refresh");
    eq(await onAuthExpired({ type: "any", connectorId: "x", remoteConnectorId: "y", headerValue: null }), null, "other requests");
    // Exactly how the SDK's SubscriberController calls it: a JSON string in, a JSON string out.
    const subscriber = async (t) => { const n = await onAuthExpired(JSON.parse(t)); return n != null ? JSON.stringify(n) : null; };
    const out = JSON.parse(await subscriber(JSON.stringify({ type: "grafxToken" })));
    eq(out.type, "grafxToken", "round trip type");
    eq(out.token, c.token.accessToken, "round trip token");
    eq(await subscriber(JSON.stringify({ type: "any" })), null, "round trip null");
    // A connector's own authentication (the SDK's AnyAuthRefreshRequest) goes to the app's hook;
    // its RefreshedAuthCredendentials come back; GraFx token requests are still answered here.
    const asked = [];
    const withConnectors = c.studio.onAuthExpiredWith(async (request) => {
      asked.push(request);
      return request.connectorId === "dam" ? { type: "refreshed", headers: { "x-api-key": "k2" } } : null;
    });
    const anyRequest = { type: "any", connectorId: "dam", remoteConnectorId: "r1", headerValue: "Static, 1234", connectorDefinition: { id: "r1", name: "DAM", type: "media", supportedAuthentication: { browser: ["staticKey"], server: [] } } };
    same(await withConnectors(anyRequest), { type: "refreshed", headers: { "x-api-key": "k2" } }, "the app's connector credentials");
    same(asked, [anyRequest], "the hook got the SDK's request as it came");
    eq(await withConnectors({ ...anyRequest, connectorId: "other" }), null, "the hook's null");
    const viaHook = await signerCalls(env, "/token/studio");
    eq((await withConnectors({ type: "grafxToken" })).token, c.token.accessToken, "GraFx requests still refresh");
    eq((await signerCalls(env, "/token/studio")) - viaHook, 1, "one forced refresh, not the hook");
    eq(asked.length, 2, "the hook is not asked for GraFx tokens");
    const throwing = c.studio.onAuthExpiredWith(() => { throw new Error("hook failed"); });
    eq(await throwing(anyRequest), null, "a failing hook gives null, never a rejection");
    const rejecting = c.studio.onAuthExpiredWith(async () => { throw new Error("hook failed"); });
    eq(await rejecting(anyRequest), null, "a rejecting hook gives null");
    throws(() => c.studio.onAuthExpiredWith("not a function"), "invalid_options", "onAuthExpiredWith", isErr);
    eq(typeof (await refreshTokenAction()), "string", "refreshTokenAction resolves to the token");
    const cfg = await configuration();
    eq(cfg.ENVIRONMENT_API, c.token.environmentApiUrl, "ENVIRONMENT_API");
    eq(cfg.GRAFX_AUTH_TOKEN, c.token.accessToken, "GRAFX_AUTH_TOKEN");
    // studio-ui refuses an Environment API that is not https://{env}.…/environment/{env}: the
    // helper says so instead of letting studio-ui alert.
    const refused = await rejects(c.studio.uiLoaderConfig({ selector: "x" }), "invalid_options", isErr);
    assert(refused.message.includes("studio-ui only accepts"), refused.message);
    c.dispose();
    // An integration whose Environment API is named like CHILI's (the call itself needs no API).
    const ui_client = make({ signerUrl: env.signerUrl, integration: "studioui", crossTab: false });
    await studioUiConfig(ui_client, isErr);
    ui_client.dispose();

    // When the signer is down, refreshTokenAction resolves to an Error (it never rejects).
    const down = make({ signerUrl: "http://127.0.0.1:9", crossTab: false });
    const err = await down.studio.refreshTokenAction();
    assert(err instanceof Error && isErr(err), "an Error value");
    eq(err.code, "signer_unreachable", "its code");
    eq(await down.studio.onAuthExpired({ type: "grafxToken" }), null, "onAuthExpired resolves null on failure");
    down.dispose();

    // Once the client is freed, each adapter still answers as documented (null, an Error value,
    // or a rejection), and a connector hook is no longer asked.
    const freed = make({ signerUrl: env.signerUrl, integration: "studio", crossTab: false });
    const adapters = freed.studio;
    let hookAsked = 0;
    const hooked = adapters.onAuthExpiredWith(async () => { hookAsked++; return { type: "refreshed" }; });
    const callsBeforeFree = await signerCalls(env, "/token/studio");
    freed.free();
    eq(await adapters.onAuthExpired({ type: "grafxToken" }), null, "onAuthExpired after free");
    eq(await hooked({ type: "any", connectorId: "dam" }), null, "a hooked onAuthExpired after free");
    eq(hookAsked, 0, "the hook is not asked after free");
    const gone = await adapters.refreshTokenAction();
    assert(gone instanceof Error && isErr(gone), "refreshTokenAction resolves to an Error after free");
    eq(gone.code, "invalid_options", "the disposed error");
    await rejects(adapters.configuration(), "invalid_options", isErr);
    await rejects(adapters.uiLoaderConfig({ selector: "x" }), "invalid_options", isErr);
    eq(await signerCalls(env, "/token/studio"), callsBeforeFree, "no signer call after free");
  },

  async subscriptions(env, make) {
    let now = Date.now();
    const c = make({ signerUrl: env.signerUrl, crossTab: false, now: () => now });
    const seen = [];
    const off = c.onTokenChange((t) => seen.push(t));
    eq(c.token, undefined, "no token before the first call");
    await c.accessToken();
    await c.accessToken();
    eq(seen.length, 1, "one change");
    eq(seen[0].accessToken, c.token.accessToken, "the new token");
    off();
    now += 2 * 86_400_000;
    await c.accessToken();
    eq(seen.length, 1, "unsubscribed");
    c.dispose();
  },

  async auto_refresh_rearms_and_backs_off(env, make) {
    // Record the client's timers; keep the long auto-refresh one to fire it by hand ("early").
    const realSet = globalThis.setTimeout;
    const armed = [];
    globalThis.setTimeout = (f, ms, ...args) => { armed.push({ f, ms }); return realSet(f, ms, ...args); };
    let offset = 0, failures = 0;
    try {
      const c = make({
        signerUrl: env.signerUrl, integration: "auto", crossTab: false, autoRefresh: true, timeoutMs: 200,
        now: () => Date.now() + offset,
        // While "offline" the attempt does not get through (it times out), as a fetch that never
        // reaches the network would.
        getSessionToken: () => { if (failures > 0) { failures--; return new Promise(() => {}); } return ""; },
      });
      await c.accessToken();
      const long = armed.filter((t) => t.ms > 1e6);
      assert(long.length === 1, `one auto-refresh timer, got ${JSON.stringify(armed.map((t) => t.ms))}`);
      // It fires early against the wall clock (the token is still fresh): it re-arms for the
      // true due time instead of giving up.
      armed.length = 0;
      long[0].f();
      await new Promise((r) => realSet(r, 50));
      assert(armed.some((t) => t.ms > 1e6), `re-armed after an early fire: ${JSON.stringify(armed.map((t) => t.ms))}`);
      // The machine wakes past the refresh point with the network still down: two attempts
      // fail, each re-arming with backoff (1 s, then 2 s), and the third refreshes.
      const before = await signerCalls(env, "/token/auto");
      offset = c.token.expiresAt - 10_000 - Date.now();
      failures = 2;
      armed.length = 0;
      window.dispatchEvent(new Event("focus"));
      for (let i = 0; i < 100 && (await signerCalls(env, "/token/auto")) === before; i++) {
        await new Promise((r) => realSet(r, 50));
      }
      eq(failures, 0, "both failing attempts were made");
      eq((await signerCalls(env, "/token/auto")) - before, 1, "the third attempt refreshed");
      const backoff = armed.map((t) => t.ms).filter((ms) => ms === 1000 || ms === 2000);
      eq(JSON.stringify(backoff), "[1000,2000]", "backoff delays");
      c.dispose();
    } finally {
      globalThis.setTimeout = realSet;
    }
  },

  async auto_refresh_on_wake(env, make) {
    let now = Date.now();
    const c = make({ signerUrl: env.signerUrl, integration: "auto", crossTab: false, autoRefresh: true, now: () => now });
    await c.accessToken();
    const before = await signerCalls(env, "/token/auto");
    // The tab wakes (focus) after a long sleep: it refreshes without anyone asking for a token.
    now = c.token.expiresAt - 10_000;
    window.dispatchEvent(new Event("focus"));
    for (let i = 0; i < 50 && (await signerCalls(env, "/token/auto")) === before; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    eq((await signerCalls(env, "/token/auto")) - before, 1, "refreshed on wake");
    c.dispose();
  },
};

export async function run_test(name, env, make, isGraFxError) {
  const test = tests[name] ?? fail(`no test named ${name}`);
  // Every client a test makes is freed when it ends, as an app frees what it is done with:
  // left to the garbage collector, they would be freed at any later time, in the middle of the
  // Rust leak test that counts live clients.
  const made = [];
  const tracked = (options) => {
    const c = make(options);
    made.push(c);
    // A client the test frees itself is not freed again at the end.
    const free = c.free.bind(c);
    let freed = false;
    c.free = () => {
      if (!freed) free();
      freed = true;
    };
    return c;
  };
  try {
    // A test that never settles fails with its name (and what the page reported meanwhile),
    // rather than stalling the whole run until the runner's timeout with no output at all.
    const reported = [];
    const report = (e) => reported.push(String(e.reason ?? e.message ?? e));
    addEventListener("unhandledrejection", report);
    addEventListener("error", report);
    let timer;
    const late = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${name} did not settle within 60 s; the page reported: ${reported.join(" | ") || "nothing"}`)), 60_000);
    });
    try {
      await Promise.race([test(env, tracked, isGraFxError), late]);
    } finally {
      clearTimeout(timer);
      removeEventListener("unhandledrejection", report);
      removeEventListener("error", report);
    }
  } finally {
    for (const c of made) c.free();
  }
}
