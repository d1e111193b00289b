import { grafx, showError, showOk, describe, signedInUser } from "./grafx.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const projectId = params.get("projectId") ?? undefined;
const projectName = params.get("projectName") ?? undefined;

// studio-ui is served only by CHILI's CDN (it is not on npm), as its README loads it.
const STUDIO_UI = "https://studio-cdn.chiligrafx.com/studio-ui/latest/bundle.js";
let refreshes = 0;

function show(config) {
  // Everything studio-ui will get: the token shortened for the screen, functions by name.
  const shown = Object.fromEntries(Object.entries(config).map(([k, v]) => [k, typeof v === "function" ? "[function]" : v]));
  shown.authToken = `${config.authToken.slice(0, 16)}…`;
  $("ui-config").textContent = JSON.stringify(shown, null, 2);
  $("ui-base").textContent = config.graFxStudioEnvironmentApiBaseUrl;
}

// What studio-ui accepts: https://{env}.{domain}/grafx/api/v1/environment/{env}.
const studioUiAccepts = (base) => /^https:\/\/([^./]+)\.[^/]+\/grafx\/api\/v1\/environment\/([^/]+)$/.exec(base)?.slice(1).every((v, _, a) => v === a[0]) ?? false;

// studio-ui's own first steps with the config: the project and its document, through the proxy.
async function loadProject(config) {
  const project = await config.onProjectInfoRequested(projectId);
  $("ui-project").textContent = `${project.name} (${project.id}), from template ${project.template.id}`;
  const documentJson = await config.onProjectDocumentRequested(projectId);
  $("ui-document").textContent = `${documentJson.length} bytes, through the signer's API proxy`;
  $("ui-save").disabled = false;
  $("ui-save").onclick = async () => {
    try {
      // studio-ui hands its callback a function that serialises the editor's document.
      const saved = await config.onProjectSave(async () => documentJson);
      showOk(`Saved “${saved.name}” through the signer's API proxy`);
      $("ui-document").textContent = `${documentJson.length} bytes, saved through the signer's API proxy`;
    } catch (e) {
      showError(e);
    }
  };
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
  if (signedInUser) $("ui-user").textContent = signedInUser;
  if (projectId) $("ui-project").textContent = `${projectName ?? ""} (${projectId})`;
  // The project is the writer's: studio-ui's project callbacks go through the signer's proxy.
  const via = projectId ? { via: "writer" } : {};
  const config = await grafx.studio.uiLoaderConfig({ selector: "studio-ui-container", projectId, projectName, ...via, checkEnvironment: false });
  show(config);
  if (projectId) await loadProject(config).catch(showError);
  if (!studioUiAccepts(config.graFxStudioEnvironmentApiBaseUrl)) {
    // The emulator's URL: studio-ui would refuse it; everything above works the same on CHILI.
    $("ui-status").textContent = "not for this environment";
    $("ui-editor").textContent =
      "studio-ui only accepts an Environment API at https://{environment}.{domain}/grafx/api/v1/environment/{environment}, " +
      "so it runs against CHILI GraFx, not this emulator: start the demo with `cargo xtask demo --chili` and your " +
      "GRAFX_* credentials to see it load here. The config above, and its project callbacks, are what it would receive.";
  } else try {
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
  showError(e);
}
