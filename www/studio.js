import { grafx, showError, describe } from "./grafx.js";

const $ = (id) => document.getElementById(id);
const log = (line) => { $("log").textContent += `${new Date().toLocaleTimeString()}  ${line}\n`; };

// The SDK's engine comes from CHILI's CDN, as in CHILI's integration guide.
const SDK_URL = "https://cdn.jsdelivr.net/npm/@chili-publish/studio-sdk@1.45.0/+esm";
let authRefreshes = 0;

async function loadSdk() {
  const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error("timed out")), 5000));
  return (await Promise.race([import(SDK_URL), timeout])).default;
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
    sdk.loadEditor();
    await sdk.configuration.setValue("ENVIRONMENT_API", config.ENVIRONMENT_API);
    await sdk.configuration.setValue("GRAFX_AUTH_TOKEN", config.GRAFX_AUTH_TOKEN);
    $("engine-status").textContent = "loaded";
    log("Studio SDK loaded and configured");
  } catch (e) {
    $("engine-status").textContent = "unavailable (offline?)";
    $("editor").textContent =
      "The Studio editor engine could not be loaded from CHILI's CDN (no internet here?). " +
      "The token wiring still works: use the button to run the editor's auth-expired path.";
    log(`editor engine not loaded: ${e.message}`);
  }
} catch (e) {
  showError(e);
}
