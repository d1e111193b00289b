import { grafx, showError, describe, isGraFxError } from "./grafx.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const projectId = params.get("projectId") ?? undefined;
const projectName = params.get("projectName") ?? undefined;

// studio-ui is served only by CHILI's CDN (it is not on npm), as its README loads it.
const STUDIO_UI = "https://studio-cdn.chiligrafx.com/studio-ui/latest/bundle.js";
let refreshes = 0;

function show(config) {
  // Everything studio-ui will get, the token shortened for the screen.
  const shown = { ...config, authToken: `${config.authToken.slice(0, 16)}…`, refreshTokenAction: "[function]" };
  $("ui-config").textContent = JSON.stringify(shown, null, 2);
  $("ui-base").textContent = config.graFxStudioEnvironmentApiBaseUrl;
}

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const s = document.createElement("script");
    s.src = src;
    s.onload = resolve;
    s.onerror = () => reject(new Error(`could not load ${src}`));
    setTimeout(() => reject(new Error("timed out")), 5000);
    document.head.append(s);
  });
}

$("ui-refresh").addEventListener("click", async () => {
  // What studio-ui does on a 401: it resolves to a token, or to an Error (it never rejects).
  const result = await grafx.studio.refreshTokenAction();
  if (result instanceof Error) {
    showError(result);
    return;
  }
  refreshes++;
  $("ui-refreshes").textContent = String(refreshes);
});

try {
  await grafx.accessToken();
  $("ui-base").textContent = grafx.token.environmentApiUrl.replace(/\/$/, "");
  if (projectId) $("ui-project").textContent = `${projectName ?? ""} (${projectId})`;
  const config = await grafx.studio.uiLoaderConfig({ selector: "studio-ui-container", projectId, projectName });
  show(config);
  try {
    await loadScript(STUDIO_UI);
    // studio-ui answers null (after an alert) when it refuses the config.
    const loaded = window.StudioUI.studioUILoaderConfig(config);
    $("ui-status").textContent = loaded === null ? "refused the config (see its alert)" : "loaded";
  } catch (e) {
    $("ui-status").textContent = "unavailable (offline?)";
    $("ui-editor").textContent =
      "studio-ui could not be loaded from CHILI's CDN (no internet here?). The configuration above is " +
      "what it would receive.";
    console.info(`studio-ui not loaded: ${describe(e)}`);
  }
} catch (e) {
  if (isGraFxError(e) && e.code === "invalid_options") {
    // The emulator's URL: studio-ui would refuse it, and grafx says why before it does.
    $("ui-status").textContent = "not for this environment";
    $("ui-config").textContent = e.message;
    $("ui-editor").textContent =
      "studio-ui runs against CHILI GraFx: start the demo with `cargo xtask demo --chili` and your " +
      "GRAFX_* credentials to see it load here.";
  } else {
    showError(e);
  }
}
