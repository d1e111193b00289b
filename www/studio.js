import { grafx, showError, describe } from "./grafx.js";

const $ = (id) => document.getElementById(id);
const log = (line) => { $("log").textContent += `${new Date().toLocaleTimeString()}  ${line}\n`; };

// The SDK's own code is served from the npm package (@chili-publish/studio-sdk, its UMD bundle),
// so it runs offline; only the editor engine it loads into an iframe comes from CHILI's CDN.
const SDK_URL = "vendor/studio-sdk.js";
let authRefreshes = 0;

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

// What the SDK's SubscriberController does with our handler when the engine reports expiry.
async function subscriberOnAuthExpired(request) {
  const result = await grafx.studio.onAuthExpired(JSON.parse(request));
  return result != null ? JSON.stringify(result) : null;
}

$("expire").addEventListener("click", async () => {
  log('engine → onAuthExpired(\'{"type":"grafxToken"}\')');
  try {
    const reply = await subscriberOnAuthExpired(JSON.stringify({ type: "grafxToken" }));
    const parsed = JSON.parse(reply);
    authRefreshes++;
    $("auth-count").textContent = String(authRefreshes);
    log(`handler → {"type":"${parsed.type}","token":"${parsed.token.slice(0, 16)}…"}`);
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
    const sdk = new StudioSDK({ editorId: "studio-editor", onAuthExpired: grafx.studio.onAuthExpired });
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
  } catch (e) {
    $("sdk-status").textContent = `failed: ${e.message}`;
    log(`Studio SDK not loaded: ${e.message}`);
  }
} catch (e) {
  showError(e);
}
