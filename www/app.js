import { grafx, writer, writerOrPage, showError, showOk } from "./grafx.js";

const $ = (id) => document.getElementById(id);
$("signer-url").textContent = location.origin;

// --- Token panel -------------------------------------------------------------------------------
function renderToken() {
  const t = grafx.token;
  const s = grafx.stats;
  $("t-refreshes").textContent = String(s.refreshes);
  $("t-requests").textContent = String(s.signerRequests);
  $("t-last").textContent = s.lastSignerCall ? new Date(s.lastSignerCall).toLocaleTimeString() : "never";
  if (!t) return;
  $("t-environment").textContent = t.environment;
  $("t-scope").textContent = t.scope;
  const writes = t.scope.split(" ").filter((s) => s.endsWith(":write"));
  $("t-write").textContent = writes.length
    ? `yes (${writes.join(" ")})`
    : "no: read-only; writes go through the signer's API proxy";
  $("t-token").textContent = `${t.accessToken.slice(0, 24)}…`;
  $("api-url").textContent = t.environmentApiUrl;
  const left = Math.max(0, Math.round((t.expiresAt - Date.now()) / 1000));
  const h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), sec = left % 60;
  $("t-countdown").textContent = `${h}h ${String(m).padStart(2, "0")}m ${String(sec).padStart(2, "0")}s`;
}
grafx.onTokenChange(renderToken);
setInterval(renderToken, 1000);

$("force-refresh").addEventListener("click", async () => {
  try {
    await grafx.accessToken({ forceRefresh: true });
    renderToken();
    showOk("Token refreshed.");
  } catch (e) {
    showError(e);
  }
});

// --- Template browser --------------------------------------------------------------------------
const PAGE = 6;
let search = "";
let tokens = [undefined]; // page tokens of the pages seen so far
let pageIndex = 0;
let selected = null;
let objectUrls = [];
let healthy = true;

let loadSeq = 0; // responses of superseded loads (e.g. a search typed while loading) are dropped

async function loadTemplates() {
  const list = $("templates");
  const seq = ++loadSeq;
  try {
    const page = await grafx.templates.list({ search, limit: PAGE, sortBy: "name", pageToken: tokens[pageIndex] });
    if (seq !== loadSeq) return;
    tokens[pageIndex + 1] = page.nextPageToken ?? undefined;
    objectUrls.forEach((u) => URL.revokeObjectURL(u));
    objectUrls = [];
    list.replaceChildren(...page.items.map(card));
    const from = page.total === 0 ? 0 : pageIndex * PAGE + 1;
    $("page-info").textContent = `${from}–${pageIndex * PAGE + page.items.length} of ${page.total}`;
    $("prev").disabled = pageIndex === 0;
    $("next").disabled = !page.nextPageToken;
    recovered();
  } catch (e) {
    if (seq === loadSeq) failed(e);
  }
}

function card(t) {
  const li = document.createElement("li");
  li.dataset.id = t.id;
  li.setAttribute("aria-selected", String(selected?.id === t.id));
  const img = document.createElement("img");
  img.alt = `Preview of ${t.name}`;
  const name = document.createElement("div");
  name.className = "name";
  name.textContent = t.name;
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.textContent = `${t.width}×${t.height} · ${(t.tags ?? []).join(", ")}`;
  li.append(img, name, meta);
  li.addEventListener("click", () => select(t, li));
  // Thumbnails render on the server first (202), the client waits them out.
  grafx.templates.preview(t.id, "thumbnail").then((blob) => {
    const url = URL.createObjectURL(blob);
    objectUrls.push(url);
    img.src = url;
  }, () => { img.alt = "Preview unavailable"; });
  return li;
}

function select(t, li) {
  selected = t;
  for (const other of $("templates").children) other.setAttribute("aria-selected", "false");
  li.setAttribute("aria-selected", "true");
  $("render-selected").textContent = `Selected: ${t.name}`;
  $("render-pdf").disabled = $("render-png").disabled = false;
  $("new-project").disabled = false;
}

$("search-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  search = $("search").value.trim();
  tokens = [undefined];
  pageIndex = 0;
  loadTemplates();
});
$("next").addEventListener("click", () => { pageIndex++; loadTemplates(); });
$("prev").addEventListener("click", () => { pageIndex = Math.max(0, pageIndex - 1); loadTemplates(); });

// --- Render ------------------------------------------------------------------------------------
async function render(format) {
  if (!selected) return;
  const bar = $("render-progress"), status = $("render-status"), link = $("render-download");
  $("render-pdf").disabled = $("render-png").disabled = true;
  link.hidden = true;
  bar.hidden = false;
  bar.value = 5;
  status.textContent = `Rendering ${format.toUpperCase()} of ${selected.name}…`;
  try {
    // Through the signer's API proxy: renders cost money, so they are the signer's to allow
    // (its allow-list and per-user quota), not the page's.
    const api = await writerOrPage();
    const { blob, taskId } = await api.output.render(format, { templateId: selected.id }, {
      intervalMs: 250,
      onProgress: ({ elapsedMs }) => { bar.value = Math.min(95, 5 + elapsedMs / 25); },
    });
    bar.value = 100;
    link.href = URL.createObjectURL(blob);
    link.download = `${selected.name.toLowerCase().replace(/\s+/g, "-")}.${format}`;
    link.textContent = `Download ${link.download} (${Math.round(blob.size / 1024)} KB)`;
    link.hidden = false;
    status.textContent = `Done: task ${taskId}.`;
  } catch (e) {
    bar.hidden = true;
    status.textContent = "Render failed.";
    showError(e);
  } finally {
    $("render-pdf").disabled = $("render-png").disabled = false;
  }
}
$("render-pdf").addEventListener("click", () => render("pdf"));
$("render-png").addEventListener("click", () => render("png"));

// --- Projects ----------------------------------------------------------------------------------
$("new-project").addEventListener("click", async () => {
  if (!selected) return;
  const status = $("project-status");
  $("new-project").disabled = true;
  $("project-figure").hidden = true;
  status.textContent = `Creating a project from ${selected.name}…`;
  try {
    // POST projects with CHILI's body {template: {id}}; then its preview through the task flow.
    const project = await writer.projects.create({ templateId: selected.id, name: `${selected.name} (demo copy)` });
    status.textContent = `Created project “${project.name}” (${project.id}) from template ${project.template?.id}.`;
    const blob = await writer.projects.preview(project.id, "thumbnail");
    $("project-preview").src = URL.createObjectURL(blob);
    const query = `projectId=${encodeURIComponent(project.id)}&projectName=${encodeURIComponent(project.name)}`;
    $("project-open").href = `studio-ui.html?${query}`;
    $("project-open-sdk").href = `studio.html?${query}`;
    $("project-figure").hidden = false;
  } catch (e) {
    status.textContent = "Could not create the project.";
    showError(e);
  } finally {
    $("new-project").disabled = false;
  }
});

// --- Errors and recovery -----------------------------------------------------------------------
// When GraFx or the signer is unreachable, say so, then check every few seconds and recover.
function failed(e) {
  showError(e);
  if (healthy) {
    healthy = false;
    const probe = setInterval(async () => {
      try {
        await grafx.json("templates?limit=1", { timeoutMs: 3000 });
        clearInterval(probe);
        await loadTemplates();
      } catch { /* still down */ }
    }, 3000);
  }
}

function recovered() {
  if (!healthy) {
    healthy = true;
    showOk("Connection restored.");
  }
}

try {
  await grafx.accessToken();
  renderToken();
} catch (e) {
  showError(e);
}
loadTemplates();
