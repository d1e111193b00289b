import { grafx, writer, showError, showOk, describe } from "./grafx.js";

const $ = (id) => document.getElementById(id);
const log = (line) => { $("log").textContent += `${new Date().toLocaleTimeString()}  ${line}\n`; };

// The SDK's own code is served from the npm package (@chili-publish/studio-sdk, its UMD bundle),
// so it runs offline; only the editor engine it loads into an iframe comes from CHILI's CDN.
const SDK_URL = "vendor/studio-sdk.js";
let authRefreshes = 0;
const projectId = new URLSearchParams(location.search).get("projectId");

// The project is the writer's (created through the signer's API proxy): its document is loaded
// and saved through the proxy as the signed-in user, never with a write token in the page.
async function loadProject(sdk) {
  const project = await writer.projects.get(projectId);
  const doc = await writer.projects.document(projectId);
  const json = JSON.stringify(doc);
  $("sdk-project").textContent = `${project.name} (${project.id}): ${json.length} bytes through the API proxy`;
  log(`document of ${project.id} loaded through /api/writer/projects/${project.id}/document`);
  // Resolves once the engine has connected: offline, never. Do not wait for it.
  sdk?.document.load(json).then(() => log("the editor engine loaded the document"));
  $("save").disabled = false;
  $("save").addEventListener("click", async () => {
    try {
      // The editor's current state when the engine is there, else the document as loaded.
      const state = sdk
        ? await Promise.race([sdk.document.getCurrentState().then((r) => r.parsedData), new Promise((r) => setTimeout(r, 1500))])
        : undefined;
      await writer.projects.saveDocument(projectId, state ?? json);
      log(`saved through PUT /api/writer/projects/${projectId}/document`);
      showOk("Saved through the signer's API proxy");
    } catch (e) {
      showError(e);
    }
  });
}

function loadSdk() {
  return new Promise((resolve, reject) => {
    const s = document.createElement("script");
    s.src = SDK_URL;
    s.onload = () => (window.StudioSDK?.default ? resolve(window.StudioSDK.default) : reject(new Error("no StudioSDK global")));
    s.onerror = () => reject(new Error(`could not load ${SDK_URL}`));
    document.head.append(s);
  });
}

async function configure() {
  const config = await grafx.studio.configuration();
  $("cfg-api").textContent = config.ENVIRONMENT_API;
  $("cfg-token").textContent = `${config.GRAFX_AUTH_TOKEN.slice(0, 24)}…`;
  return config;
}

// The Studio SDK, once loaded: the expiry button goes through its own SubscriberController.
let sdk;

// What the editor engine does when its token expires: it calls the SDK's
// `window.SDK.subscriber.onAuthExpired` with a JSON string, and the SDK's SubscriberController
// hands the parsed request to the `onAuthExpired` this page configured (grafx's), then returns
// its answer as a JSON string. The button makes that same call on the real controller.
$("expire").addEventListener("click", async () => {
  log('engine → SDK.subscriber.onAuthExpired(\'{"type":"grafxToken"}\')');
  try {
    if (!sdk) throw new Error("the Studio SDK did not load");
    const reply = await sdk.subscriber.onAuthExpired(JSON.stringify({ type: "grafxToken" }));
    const parsed = JSON.parse(reply);
    authRefreshes++;
    $("auth-count").textContent = String(authRefreshes);
    log(`SubscriberController → {"type":"${parsed.type}","token":"${parsed.token.slice(0, 16)}…"}`);
    await configure();
  } catch (e) {
    showError(e);
    log(`failed: ${describe(e)}`);
  }
});

try {
  const config = await configure();
  log("configuration ready from grafx.studio.configuration()");
  try {
    const StudioSDK = await loadSdk();
    // GraFx token requests are grafx's to answer; a connector's own authentication (an
    // `AnyAuthRefreshRequest`) is the app's. This demo's app knows one connector, "demo-dam",
    // and would fetch its credentials from its own backend; every other connector gets null.
    const connectorAuth = async (request) => {
      log(`connector ${request.connectorId} asked to re-authenticate: the app answers`);
      return request.connectorId === "demo-dam" ? { type: "refreshed", headers: { "x-demo-dam-session": "renewed" } } : null;
    };
    sdk = new StudioSDK({ editorId: "studio-editor", onAuthExpired: grafx.studio.onAuthExpiredWith(connectorAuth) });
    // Where the editor engine looks for the SDK (CHILI's getting-started does the same).
    window.SDK = sdk;
    $("sdk-status").textContent = "loaded (from the npm package)";
    log("Studio SDK loaded from the npm package");
    sdk.loadEditor();
    $("engine-status").textContent = "requested from CHILI's CDN (needs the internet)";
    $("editor").textContent =
      "The editor engine loads from CHILI's CDN into this frame; without the internet it stays empty. " +
      "The token wiring works either way: use the button to run the editor's auth-expired path.";
    // setValue resolves once the engine has connected: offline, never. Do not wait for it.
    Promise.all([
      sdk.configuration.setValue("ENVIRONMENT_API", config.ENVIRONMENT_API),
      sdk.configuration.setValue("GRAFX_AUTH_TOKEN", config.GRAFX_AUTH_TOKEN),
    ]).then(() => {
      $("engine-status").textContent = "loaded";
      log("the editor engine took the configuration");
    });
    log("configuration handed to the SDK (applied once the engine connects)");
    if (projectId) await loadProject(sdk).catch(showError);
  } catch (e) {
    $("sdk-status").textContent = `failed: ${e.message}`;
    log(`Studio SDK not loaded: ${e.message}`);
    if (projectId) await loadProject(null).catch(showError);
  }
} catch (e) {
  showError(e);
}
