// The adapters for CHILI's Studio SDK and studio-ui (`grafx.studio`), and studio-ui's project
// callbacks through the signer's API proxy. They are plain promise plumbing over the client, so
// they live here rather than in the wasm, where their async state machines cost several times
// their size (issue #28). The wasm hands them one function, `core`:
// - `core("check")` throws the `invalid_options` "disposed" error once the client is freed;
// - `core("token", fresh)` resolves to `{token, api, base, accepts}` (the access token, the
//   Environment API URL with and without its trailing slash, and whether studio-ui accepts it),
//   a fresh token when `fresh`; it rejects as `accessToken()` does;
// - `core("via", name)` returns the typed helpers through the signer's API proxy for `name`
//   (`grafx.via(name)`), or throws when the name is not an integration's.
import { grafxError, messageOf } from "./browser.js";

const options = (msg) => grafxError("invalid_options", msg);

/** Whether the client behind `core` is still there (not freed). */
function alive(core) {
  try {
    core("check");
    return true;
  } catch {
    return false;
  }
}

/**
 * The app's answer to a connector's authentication request, or null: without a handler, when it
 * throws or rejects (reported on the console, as the SDK would swallow it), or when it answers
 * anything but an object.
 */
async function connectorCredentials(handler, request) {
  if (!handler) return null;
  try {
    const answer = await handler(request);
    return answer !== null && typeof answer === "object" ? answer : null;
  } catch (e) {
    console.warn("grafx: the connector authentication handler failed:", e);
    return null;
  }
}

/**
 * The Studio SDK's `onAuthExpired`: credentials or null, never a rejection, also after dispose or
 * free. A GraFx token request (`{type: "grafxToken"}`) gets a fresh token; any other (the SDK's
 * `AnyAuthRefreshRequest`, for a connector's own authentication) goes to `connector`, whose
 * answer (`{type: "refreshed", headers?}` or null) is passed on; without one, null.
 */
function onAuthExpired(core, connector) {
  return async (request) => {
    if (!alive(core)) return null;
    if (request?.type !== "grafxToken") return connectorCredentials(connector, request);
    try {
      const { token } = await core("token", true);
      return { type: "grafxToken", token };
    } catch {
      // The editor then treats the request as not refreshed; the app hears about the failure
      // through onError (already emitted by the refresh).
      return null;
    }
  };
}

/** The options' `projectId` and `via`, checked (a selector is required). */
function loaderRequest(opts) {
  const needs = "uiLoaderConfig needs {selector, projectId?, projectName?, userInterfaceID?, …}";
  if (opts === null || typeof opts !== "object") throw options(needs);
  if (typeof opts.selector !== "string" || opts.selector === "") {
    throw options(`${needs}: selector (the id of the element studio-ui renders into) is missing`);
  }
  const text = (key, why) => {
    const v = opts[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v === "string" && v !== "") return v;
    throw options(`uiLoaderConfig: ${key} ${why}`);
  };
  const projectId = text("projectId", "must be a non-empty string");
  const via = text("via", "must name an integration behind the signer's API proxy, e.g. \"writer\"");
  if (via !== undefined && projectId === undefined) {
    throw options("uiLoaderConfig: via needs the projectId of the project to open");
  }
  return { projectId, via };
}

const PROJECT_CALLBACKS = ["onProjectInfoRequested", "onProjectDocumentRequested", "onProjectSave", "onProjectGetDownloadLink"];

/**
 * `grafx.studio.uiLoaderConfig(options)`: what `StudioUI.studioUILoaderConfig` takes. Every option
 * is passed through; added are the Environment API base URL *without* its trailing slash
 * (studio-ui splits it on `/environment/`), the token, `refreshTokenAction`, and for a project:
 * with `via` (an integration behind the signer's API proxy), studio-ui's project callbacks through
 * the proxy, so a project the page's read-only user does not own opens and saves without a write
 * token in the page; without it, studio-ui's README's `projectDownloadUrl` / `projectUploadUrl`,
 * unless given. `checkEnvironment: false` builds the config even for a URL studio-ui would refuse
 * (to show it, as the demo does on the emulator).
 */
async function uiLoaderConfig(core, refreshTokenAction, opts) {
  core("check");
  const { projectId, via } = loaderRequest(opts);
  const helpers = via === undefined ? undefined : core("via", via);
  const t = await core("token", false);
  if (opts.checkEnvironment !== false && !t.accepts) {
    // studio-ui would show an alert and load nothing; say why here instead.
    throw options(`studio-ui only accepts an Environment API at https://{environment}.{domain}/grafx/api/v1/environment/{environment}, not ${t.base}: it runs against CHILI GraFx, not a local emulator or a host named otherwise`);
  }
  const config = Object.assign({}, opts);
  delete config.via;
  delete config.checkEnvironment;
  Object.assign(config, { graFxStudioEnvironmentApiBaseUrl: t.base, authToken: t.token, refreshTokenAction });
  if (helpers) {
    const callbacks = studioProjectLoader(helpers, projectId);
    for (const key of PROJECT_CALLBACKS) if (opts[key] === undefined) config[key] = callbacks[key];
  } else if (projectId !== undefined) {
    const id = encodeURIComponent(projectId);
    if (opts.projectDownloadUrl === undefined) config.projectDownloadUrl = `${t.base}/projects/${id}/document`;
    if (opts.projectUploadUrl === undefined) config.projectUploadUrl = `${t.base}/projects/${id}`;
  }
  return config;
}

/**
 * The Studio adapters object: `onAuthExpired`, `onAuthExpiredWith`, `refreshTokenAction`,
 * `uiLoaderConfig`, `configuration`, each usable unbound (the SDK calls them so).
 */
export function studioAdapters(core) {
  // studio-ui's `refreshTokenAction`: resolves to the token or to an Error, never rejects.
  const refreshTokenAction = () => {
    try {
      return core("token", true).then(({ token }) => token, (e) => e);
    } catch (e) {
      return Promise.resolve(e);
    }
  };
  return {
    onAuthExpired: onAuthExpired(core),
    /** An `onAuthExpired` that also answers connectors' authentication with `handler`. */
    onAuthExpiredWith: (handler) => {
      if (typeof handler !== "function") {
        throw options("onAuthExpiredWith needs a function (request) => Promise<{type: \"refreshed\", headers?} | null>");
      }
      return onAuthExpired(core, handler);
    },
    refreshTokenAction,
    uiLoaderConfig: (opts) => uiLoaderConfig(core, refreshTokenAction, opts),
    configuration: async () => {
      const { token, api } = await core("token", false);
      return { ENVIRONMENT_API: api, GRAFX_AUTH_TOKEN: token };
    },
  };
}

// The document studio-ui's editor holds now, from its SDK (`window.StudioUISDK`), as studio-ui's
// own download sends it; `undefined` when no editor is on the page or it cannot tell.
async function currentDocument() {
  const sdk = typeof window === "undefined" ? undefined : window.StudioUISDK;
  const getState = sdk && sdk.document && sdk.document.getCurrentState;
  if (typeof getState !== "function") return undefined;
  try {
    const state = await getState.call(sdk.document);
    const doc = state && (state.parsedData ?? state.data);
    if (doc == null) return undefined;
    return typeof doc === "string" ? JSON.parse(doc) : doc;
  } catch {
    return undefined;
  }
}

/**
 * studio-ui's project callbacks through the signer's API proxy (`via`, from `grafx.via(name)`):
 * the project, its document and its saves, and a render's download link, never with a token that
 * can write. They replace studio-ui's default loader, which would read the project with the
 * page's own (read-only) token: on CHILI that token's user does not own a project the writer
 * created, so studio-ui would answer "Project not found".
 */
function studioProjectLoader(via, projectId) {
  const info = async () => {
    const p = await via.projects.get(projectId);
    return { id: p.id, name: p.name, template: { id: p.template ? p.template.id : undefined } };
  };
  return {
    onProjectInfoRequested: async () => info(),
    // studio-ui wants the document as JSON text.
    onProjectDocumentRequested: async () => JSON.stringify(await via.projects.document(projectId)),
    onProjectSave: async (generateJson) => {
      await via.projects.saveDocument(projectId, await generateJson());
      return info();
    },
    // Renders the project through the proxy and hands studio-ui a `blob:` URL of the file: it
    // needs no token to download it. Like studio-ui's own download, the document as the editor
    // has it now (unsaved edits too) goes with the project id, when the editor's SDK is on the
    // page (studio-ui puts it at `window.StudioUISDK`); else the saved project is rendered.
    onProjectGetDownloadLink: async (extension, selectedLayoutID, outputSettingsId) => {
      try {
        const body = { projectId, layoutsToExport: [selectedLayoutID || "0"] };
        if (outputSettingsId) body.outputSettingsId = outputSettingsId;
        const format = String(extension).toLowerCase();
        const current = await currentDocument();
        let rendered;
        if (current === undefined) {
          rendered = await via.output.render(format, body);
        } else {
          // A document too large for the proxy (413), or no room for it now (503 proxy_busy):
          // the saved project is rendered instead of failing the download.
          rendered = await via.output.render(format, { ...body, documentContent: current }).catch((e) => {
            if (e && (e.status === 413 || e.signerCode === "proxy_busy" || e.signerCode === "payload_too_large")) return via.output.render(format, body);
            throw e;
          });
        }
        const { blob } = rendered;
        const url = URL.createObjectURL(blob);
        return { status: 200, success: true, error: undefined, parsedData: url, data: url };
      } catch (e) {
        return { status: (e && e.status) || 0, success: false, error: messageOf(e), parsedData: undefined, data: undefined };
      }
    },
  };
}
