// The typed Environment API helpers (`grafx.templates`, `projects`, `media`, `output`, and
// through the proxy `grafx.via(name)`). Plain HTTP plumbing on the client's `fetch` and `json`,
// so it lives here rather than in the wasm, where it would cost several times its size.
import { asGraFx, baseHref, grafxError, messageOf } from "./browser.js";

/** An async iterable over every item of every page; `fetchPage(pageToken)` resolves to a page. */
function pagesIterable(fetchPage) {
  return {
    async *[Symbol.asyncIterator]() {
      let token;
      do {
        const page = await fetchPage(token).catch((e) => { throw asGraFx(e); });
        for (const item of page.items) yield item;
        token = page.nextPageToken;
      } while (token);
    },
  };
}

// `links.nextPage` as CHILI may send it: a URL carrying `nextPageToken` (its documentation), or
// the bare token (its media example connector, written from CHILI's Swagger, hands it back
// verbatim). A URL without the parameter ends the paging.
function nextPageTokenOf(next) {
  if (typeof next !== "string" || next === "") return null;
  const isUrl = /^[a-z][a-z0-9+.-]*:/i.test(next) || next.startsWith("/") || next.includes("?");
  return isUrl ? new URL(next, baseHref()).searchParams.get("nextPageToken") : next;
}

const options = (msg) => grafxError("invalid_options", msg);
// The waits' defaults, in milliseconds: an output (render) and a preview.
const WAIT_DEFAULTS = {
  output: { timeoutMs: 300000, intervalMs: 1000 },
  preview: { timeoutMs: 30000, intervalMs: 500 },
};
// The longest duration a timer can wait (setTimeout fires at once beyond it).
const MAX_MS = 2147483647;
// `o[name]`, a duration in milliseconds: `fallback` when absent; otherwise a number above 0 and
// at most MAX_MS.
// 0 has no meaning of its own (not "no timeout", not "the default"): it is refused, as in the
// constructor's and `fetch`'s `timeoutMs`.
const millis = (o, name, fallback) => {
  const v = o == null ? undefined : o[name];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== "number" || !(v > 0 && v <= MAX_MS)) throw options(`${name} must be a number of milliseconds above 0, at most ${MAX_MS}`);
  return v;
};
// A wait's options, checked, with `kind`'s defaults (see WAIT_DEFAULTS).
const waitTiming = (o, kind) => ({
  timeoutMs: millis(o, "timeoutMs", WAIT_DEFAULTS[kind].timeoutMs),
  intervalMs: millis(o, "intervalMs", WAIT_DEFAULTS[kind].intervalMs),
});
const ID = (v, what) => {
  if (typeof v !== "string" || v === "") throw options(`${what} must be a non-empty string`);
  return encodeURIComponent(v);
};
const postJson = (method, body) => {
  let text;
  try { text = JSON.stringify(body); } catch (e) { throw options(`the body cannot be sent as JSON: ${messageOf(e)}`); }
  return { method, headers: { "content-type": "application/json" }, body: text };
};
// Every helper rejects with a GraFxError only; `all()` throws one at once for options that are
// not an object, and its iteration rejects with one for any other mistake.
const guarded = (group) => Object.fromEntries(Object.entries(group).map(([k, f]) => [k, (...args) => {
  try {
    const out = f(...args);
    return out && typeof out.then === "function" ? out.catch((e) => { throw asGraFx(e); }) : out;
  } catch (e) {
    throw asGraFx(e);
  }
}]));
// CHILI wraps some single resources in `data` (`GET templates/{id}`) and not others
// (`GET projects/{id}`): the helpers hand back the resource itself either way.
const unwrap = (v) => (v && typeof v === "object" && !("id" in v) && v.data && typeof v.data === "object" && !Array.isArray(v.data) ? v.data : v);
// Resolves after `ms`, or rejects with `aborted` when `signal` aborts; no listener outlives it.
const pause = (ms, signal) => new Promise((resolve, reject) => {
  if (signal && signal.aborted) return reject(grafxError("aborted", "the operation was aborted"));
  const onAbort = () => { clearTimeout(timer); reject(grafxError("aborted", "the operation was aborted")); };
  const timer = setTimeout(() => { if (signal) signal.removeEventListener("abort", onAbort); resolve(); }, ms);
  if (signal) signal.addEventListener("abort", onAbort, { once: true });
});
const FORMATS = ["pdf", "png", "jpg", "gif", "mp4", "html"];

// A helper's options: absent or null mean none (the defaults); anything else must be an object,
// and, for a helper that reports progress (`progress`), its `onProgress` a function when given.
const optionsOf = (o, what, progress = false) => {
  if (o === undefined || o === null) return {};
  if (typeof o !== "object" || Array.isArray(o)) throw options(`${what}'s options must be an object (or absent), not ${Array.isArray(o) ? "an array" : typeof o}`);
  if (progress && o.onProgress !== undefined && o.onProgress !== null && typeof o.onProgress !== "function") throw options(`${what}: onProgress must be a function`);
  return o;
};

// The client's clock (clock.rs reads it the same way): its `now` option, else Date.now; a
// reading that is not a finite number falls back to Date.now.
const clockOf = (now) => () => {
  let t = NaN;
  try { if (typeof now === "function") t = now(); } catch { /* Date.now, as clock.rs */ }
  return typeof t === "number" && Number.isFinite(t) ? t : Date.now();
};

// Lists and single resources on the client's `json`: `list`, `all` (every page), `mediaList`
// and `one`.
function listing(json) {
  // A list's query: the named options, and every other option as CHILI's own parameter
  // (`folder`, `includeFolders`, `collectionId`…; an array repeats it), so that parameters CHILI
  // adds work without a release of this package.
  const list = async (path, o) => {
    o = optionsOf(o, `${path}.list`);
    const q = new URLSearchParams();
    const named = { search: "search", limit: "limit", sortBy: "sortBy", sortOrder: "sortOrder", pageToken: "nextPageToken" };
    for (const [opt, value] of Object.entries(o)) {
      if (value === undefined || value === null || opt === "signal") continue;
      const param = Object.hasOwn(named, opt) ? named[opt] : opt;
      for (const v of Array.isArray(value) ? value : [value]) {
        if (v !== null && (typeof v === "object" || typeof v === "function")) throw options(`list option ${opt} must be a string, number or boolean (or an array of them)`);
        q.append(param, String(v));
      }
    }
    const query = q.toString();
    const page = await json(query ? `${path}?${query}` : path, { signal: o.signal });
    if (!page || !Array.isArray(page.data)) throw grafxError("invalid_response", `${path} did not return a list`);
    const nextPageToken = nextPageTokenOf(page.links && page.links.nextPage);
    return { items: page.data, nextPageToken, total: page.total, pageSize: page.pageSize };
  };
  const all = (path, list_ = list) => (o) => {
    o = optionsOf(o, `${path}.all`);
    return pagesIterable((pageToken) => list_(path, { ...o, pageToken }));
  };
  // A media folder's list says whether subfolders' items and the folders themselves are wanted:
  // CHILI's media connector always sends both flags, so CHILI's defaults are not known.
  const mediaList = async (path, o) => {
    o = optionsOf(o, `${path}.list`);
    return list(path, o.folder !== undefined && o.folder !== null
      ? { includeItemsFromSubfolders: false, includeFolders: false, ...o }
      : o);
  };
  const one = async (path) => unwrap(await json(path));
  return { list, all, mediaList, one };
}

// Polls `path` until it answers 200 (202, 204, or a 200 without a body: still running), with
// progress, abort and an overall timeout that also bounds each request. Resolves to the finished
// reply's JSON and URL (its links are relative to it when they come through the signer's proxy).
// `o.fallbackPath`: where to poll instead if the first poll fails. `o`'s `timeoutMs` and
// `intervalMs` have been checked by waitTiming.
function poller({ fetch, errorFrom, clock }) {
  const poll = async (path, what, o, started) => {
    const interval = o.intervalMs, timeout = o.timeoutMs;
    for (let attempt = 1; ; attempt++) {
      const left = Math.max(1, timeout - (clock() - started));
      const res = await fetch(path, { signal: o.signal, timeoutMs: left }).catch((e) => {
        throw e && e.code === "timeout" ? grafxError("timeout", `${what} did not finish within ${timeout} ms`) : e;
      });
      if (res.status === 200) {
        const text = await res.text();
        if (text.trim() !== "" && text.trim() !== "null") {
          try { return { reply: JSON.parse(text), url: res.url }; } catch { throw grafxError("invalid_response", `${what}: the finished task is not JSON`, 200, undefined, undefined, text); }
        }
      } else if (res.status !== 202 && res.status !== 204) {
        // Only "no such route here" moves to the other documented path; on its failure the
        // first error is the one reported.
        if (attempt === 1 && o.fallbackPath && (res.status === 404 || res.status === 405)) {
          const first = await errorFrom(res, what);
          return poll(o.fallbackPath, what, { ...o, fallbackPath: undefined }, started).catch((e) => {
            throw e && e.status === res.status ? first : e;
          });
        }
        throw await errorFrom(res, what);
      }
      const elapsedMs = clock() - started;
      if (o.onProgress) o.onProgress({ taskId: o.taskId, attempt, elapsedMs });
      if (elapsedMs > timeout) throw grafxError("timeout", `${what} did not finish within ${timeout} ms`);
      await pause(interval, o.signal);
    }
  };
  return poll;
}

// Files and bodiless replies on the client's `fetch`: the finished task's `downloadLink`,
// `getFile` to download it, and `send` for replies without a body that matters.
function files({ fetch, errorFrom }) {
  // A finished task's file. `links.download` is on the Environment API, and gets the bearer; if
  // CHILI ever points it at another origin (a storage URL), it is fetched without the token.
  const getFile = async (url, what, signal, expires = true) => {
    let res;
    try {
      res = await fetch(url, { signal });
    } catch (e) {
      if (!e || e.code !== "invalid_options" || !url.includes("://")) throw e;
      res = await globalThis.fetch(url, { signal });
    }
    if (expires && (res.status === 404 || res.status === 410)) {
      const e = await errorFrom(res, what);
      e.message = `the output is no longer available (CHILI keeps rendered outputs for about 4 hours): render it again. ${e.message}`;
      throw e;
    }
    if (!res.ok) throw await errorFrom(res, what);
    return res.blob();
  };
  // The finished task's `links.download`, absolute: CHILI's is already; the signer's proxy makes
  // it relative to the poll's URL, so that it leads back through the proxy.
  const downloadLink = ({ reply, url: base }, what) => {
    const url = reply && reply.links && reply.links.download;
    if (typeof url !== "string") throw grafxError("invalid_response", `${what}: the finished task has no links.download`);
    try { return new URL(url, base || baseHref()).href; } catch { return url; }
  };
  // A request whose reply body does not matter (204, or 200 with or without a body).
  const send = async (path, init, what) => {
    const res = await fetch(path, init);
    if (!res.ok) throw await errorFrom(res, what);
  };
  return { getFile, downloadLink, send };
}

// CHILI's preview flow for a template or project (`kind`): 200 is the image; 202
// `{data:{taskId}}` means poll `{kind}/preview/tasks/{taskId}` until 200 `links.download`, then
// download it with the bearer.
function documentPreview({ fetch, errorFrom, clock, poll, getFile, downloadLink }) {
  return async (kind, id, type, o) => {
    o = optionsOf(o, `${kind}.preview`, true);
    const what = `${kind} preview of ${id}`;
    const started = clock();
    // A layout or page of the document (release notes 2026-05-21): query parameters.
    const q = new URLSearchParams();
    for (const k of ["layoutId", "pageId"]) {
      if (o[k] !== undefined && o[k] !== null) q.append(k, String(o[k]));
    }
    const query = q.toString();
    const path = `${kind}/${ID(id, "id")}/preview/${ID(type ?? "thumbnail", "type")}${query ? `?${query}` : ""}`;
    const timing = waitTiming(o, "preview");
    const res = await fetch(path, { signal: o.signal, timeoutMs: timing.timeoutMs, headers: { accept: "image/png, application/json" } });
    if (res.status === 200) return res.blob();
    if (res.status !== 202) throw await errorFrom(res, `GET ${path}`);
    const body = await res.json().catch(() => null);
    const taskId = body && body.data && body.data.taskId;
    if (typeof taskId !== "string") throw grafxError("invalid_response", `${what}: a 202 without data.taskId`, 202);
    // CHILI's docs name the poll under projects/ (the workshop's code, for both kinds) and
    // templates/ (the API table): projects/ first, the other if this environment refuses it.
    const taskPath = (k) => `${k}/preview/tasks/${encodeURIComponent(taskId)}`;
    const done = await poll(taskPath("projects"), what, { ...o, ...timing, taskId, fallbackPath: taskPath("templates") }, started);
    return getFile(downloadLink(done, what), `${what} download`, o.signal, false);
  };
}

// `grafx.templates`: environment-wide, read-only.
function templates({ list, all, one, json, preview }) {
  return {
    list: (o) => list("templates", o),
    all: all("templates"),
    get: async (id) => one(`templates/${ID(id, "id")}`),
    download: async (id) => json(`templates/${ID(id, "id")}/download`),
    preview: async (id, type, o) => preview("templates", id, type, o),
  };
}

// `PATCH projects/{id}` (release notes 2023-05-16, which do not show the body): `{name}` first;
// if CHILI refuses that form (400, 415, 422), the JSON Patch replacing /name.
function projectRename({ fetch, errorFrom, one }) {
  const malformed = [400, 415, 422];
  return async (id, name) => {
    if (typeof name !== "string" || name.trim() === "") throw options("projects.rename needs a non-empty name");
    const path = `projects/${ID(id, "id")}`;
    // The renamed project: the reply's, or (a reply without one) read back.
    const renamed = async (res) => {
      const text = (await res.text()).trim();
      if (text) { try { return unwrap(JSON.parse(text)); } catch { /* read back below */ } }
      return one(path);
    };
    const res = await fetch(path, postJson("PATCH", { name }));
    if (res.ok) return renamed(res);
    if (!malformed.includes(res.status)) throw await errorFrom(res, `PATCH ${path}`);
    const first = await errorFrom(res, `PATCH ${path}`);
    const patch = await fetch(path, { method: "PATCH", headers: { "content-type": "application/json-patch+json" }, body: JSON.stringify([{ op: "replace", path: "/name", value: name }]) });
    // Both forms refused as malformed: the first refusal says why (the name, most likely).
    if (!patch.ok) throw malformed.includes(patch.status) ? first : await errorFrom(patch, `PATCH ${path}`);
    return renamed(patch);
  };
}

// `grafx.projects`: the caller's own projects (an integration is a user: scope myproject:*).
function projects(api) {
  const { list, all, one, json, send, preview } = api;
  return {
    list: (o) => list("projects", o),
    all: all("projects"),
    create: async (body) => {
      if (!body || typeof body.templateId !== "string" || body.templateId === "") throw options("projects.create needs {templateId, name?}");
      if (body.name !== undefined && (typeof body.name !== "string" || body.name.trim() === "")) throw options("projects.create: name must be a non-empty string");
      // CHILI's body: {"template": {"id": …}} (the template-store workshop).
      const payload = { template: { id: body.templateId } };
      if (body.name !== undefined) payload.name = body.name;
      return unwrap(await json("projects", postJson("POST", payload)));
    },
    get: async (id) => one(`projects/${ID(id, "id")}`),
    rename: projectRename(api),
    document: async (id) => json(`projects/${ID(id, "id")}/document`),
    // The document as an object, or as the JSON string the SDK's getCurrentState() gives (sent
    // as is: CHILI wants the document, not a JSON string literal of it).
    saveDocument: async (id, doc) => {
      const path = `projects/${ID(id, "id")}/document`;
      const parsed = typeof doc === "string" ? (() => { try { return JSON.parse(doc); } catch { return undefined; } })() : doc;
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw options("projects.saveDocument needs the document: an object, or its JSON string");
      const body = typeof doc === "string" ? doc : JSON.stringify(doc);
      await send(path, { method: "PUT", headers: { "content-type": "application/json" }, body }, `PUT ${path}`);
    },
    // `DELETE projects/{id}` (release notes 2023-05-16).
    delete: async (id) => send(`projects/${ID(id, "id")}`, { method: "DELETE" }, `DELETE projects/${id}`),
    preview: async (id, type, o) => preview("projects", id, type, o),
  };
}

// CHILI answers 202 while it generates a media preview: the same URL is asked again, with a
// growing pause (intervalMs, ×1.5, at most 5 s), until 200 or timeoutMs (30 s).
function mediaPreview({ fetch, errorFrom, clock }) {
  return async (id, size, o) => {
    o = optionsOf(o, "media.preview", true);
    const path = `media/${ID(id, "id")}/preview/${ID(size ?? "thumbnail", "size")}`;
    const what = `media preview of ${id}`;
    const started = clock(), timing = waitTiming(o, "preview"), timeout = timing.timeoutMs;
    let interval = timing.intervalMs;
    for (let attempt = 1; ; attempt++) {
      const left = Math.max(1, timeout - (clock() - started));
      const res = await fetch(path, { signal: o.signal, timeoutMs: left });
      if (res.status === 200) return res.blob();
      if (res.status !== 202) throw await errorFrom(res, `GET ${path}`);
      const elapsedMs = clock() - started;
      if (o.onProgress) o.onProgress({ taskId: "", attempt, elapsedMs });
      if (elapsedMs + interval > timeout) throw grafxError("timeout", `${what} was still being generated after ${timeout} ms`);
      await pause(interval, o.signal);
      interval = Math.min(interval * 1.5, 5000);
    }
  };
}

// `grafx.media`: environment-wide.
function media(api) {
  const { mediaList, all, one, getFile } = api;
  return {
    list: (o) => mediaList("media", o),
    all: all("media", mediaList),
    // `{data, links}` on CHILI; a bare item is taken too.
    get: async (id) => one(`media/${ID(id, "id")}`),
    // The original file.
    download: async (id, o) => getFile(`media/${ID(id, "id")}/download`, `media download of ${id}`, optionsOf(o, "media.download").signal, false),
    preview: mediaPreview(api),
  };
}

// studio-ui sends documentContent together with the project (or template) it came from.
const checkOutputSource = (body) => {
  const has = (k) => body[k] !== undefined && body[k] !== null;
  if (has("templateId") && has("projectId")) throw options("output takes templateId or projectId, not both");
  if (!has("templateId") && !has("projectId") && !has("documentContent")) throw options("output needs templateId, projectId or documentContent");
};

// `POST output/{format}`: CHILI's body, with the environment's default setting for the format
// when no `outputSettingsId` is given. Resolves to the task id.
function outputCreate({ json, settings }) {
  return async (format, body) => {
    if (!FORMATS.includes(format)) throw options(`format must be one of ${FORMATS.join(", ")}, not ${JSON.stringify(format)}`);
    if (!body || typeof body !== "object") throw options("output needs a body {templateId | projectId | documentContent, outputSettingsId?, layoutsToExport?, variables?}");
    checkOutputSource(body);
    let outputSettingsId = body.outputSettingsId;
    if (outputSettingsId === undefined || outputSettingsId === null) {
      const candidates = (await settings()).filter((s) => String(s.type).toLowerCase() === format);
      const chosen = candidates.find((s) => s.default) || candidates[0];
      if (!chosen) throw options(`this environment has no ${format} output setting: create one in GraFx, or pass outputSettingsId`);
      outputSettingsId = chosen.id;
    }
    const reply = await json(`output/${format}`, postJson("POST", { ...body, outputSettingsId }));
    const taskId = reply && reply.data && reply.data.taskId;
    if (typeof taskId !== "string") throw grafxError("invalid_response", "output reply has no data.taskId");
    return taskId;
  };
}

// `grafx.output`: the environment's output settings, and the caller's own renders.
function output(api) {
  const { list, one, clock, poll, downloadLink, getFile } = api;
  const settings = async () => (await list("output/settings", { limit: 100 })).items;
  const create = outputCreate({ ...api, settings });
  // Polls the task (204 while running, or 202 from older versions); resolves to the download URL.
  const wait = async (taskId, o) => {
    o = optionsOf(o, "output.wait", true);
    const id = ID(taskId, "taskId");
    const done = await poll(`output/tasks/${id}`, `output task ${taskId}`, { ...o, ...waitTiming(o, "output"), taskId }, clock());
    return downloadLink(done, `output task ${taskId}`);
  };
  // Downloads a finished output by task id or by its `links.download` URL. CHILI keeps outputs
  // about 4 hours: a 404 or 410 then says the download expired.
  const download = async (taskIdOrUrl, o) => {
    const target = typeof taskIdOrUrl === "string" && taskIdOrUrl.includes("://") ? taskIdOrUrl : `output/tasks/${ID(taskIdOrUrl, "taskId")}/download`;
    return getFile(target, "output download", optionsOf(o, "output.download").signal);
  };
  const render = async (format, body, o) => {
    o = optionsOf(o, "output.render", true);
    // A bad duration is refused before a render starts: CHILI counts renders.
    waitTiming(o, "output");
    const taskId = await create(format, body);
    const downloadUrl = await wait(taskId, o);
    return { taskId, downloadUrl, blob: await download(downloadUrl, o) };
  };
  return { settings, setting: async (id) => one(`output/settings/${ID(id, "id")}`), create, wait, download, render };
}

/**
 * The typed Environment API helpers, built on the client's `fetch` (bearer, origin guard, 401
 * retry, abort, timeout) and `json` (problem-details errors), and its clock (`now`). Plain HTTP
 * plumbing, so it lives here rather than in the wasm, where it would cost several times its size.
 * They follow CHILI's documented contract (see the README's helper table for each endpoint and
 * its source). Each group is built by its own factory from the same parts.
 */
export function resources(fetch, json, errorFrom, now) {
  const api = { fetch, json, errorFrom, clock: clockOf(now), ...listing(json) };
  Object.assign(api, files(api), { poll: poller(api) });
  api.preview = documentPreview(api);
  const helpers = { templates: templates(api), projects: projects(api), media: media(api), output: output(api) };
  return Object.fromEntries(Object.entries(helpers).map(([k, group]) => [k, guarded(group)]));
}
