// The demo's flows through the real signer and emulator, in headless Chromium.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { DEMO_URL, EMULATOR_URL, armFault, clearFaults, clearRequests, launch, requests, signerTokenRequests, withPage } from "./helpers.mjs";

let browser;
before(async () => { browser = await launch(); });
after(async () => { await clearFaults(); await browser?.close(); });

const text = (page, sel) => page.locator(sel).textContent();

test("the token panel shows the environment, scope and a live countdown", () =>
  withPage(browser, "token panel", async (page) => {
    await page.goto(DEMO_URL);
    await page.locator("#t-environment", { hasText: "demo" }).waitFor();
    assert.match(await text(page, "#t-scope"), /template:read/);
    // The page's token cannot write: the panel says so, and why writes still work.
    await page.locator("#t-write", { hasText: "no: read-only" }).waitFor();
    assert.match(await text(page, "#t-countdown"), /^2[34]h \d\dm \d\ds$/);
    assert.equal(await text(page, "#t-requests"), "1");
    assert.match(await text(page, "#api-url"), new RegExp(`^${EMULATOR_URL}/grafx/api/v1/environment/demo/$`));
    const before = await signerTokenRequests();
    await page.click("#force-refresh");
    await page.locator("#t-requests", { hasText: "2" }).waitFor();
    assert.equal((await signerTokenRequests()) - before, 1, "force refresh asked the signer once");
    await page.locator("#banner", { hasText: "Token refreshed" }).waitFor();
  }));

test("the template browser searches, pages and shows thumbnails", () =>
  withPage(browser, "template browser", async (page) => {
    await page.goto(DEMO_URL);
    const cards = page.locator("#templates li");
    await cards.nth(5).waitFor();
    assert.equal(await cards.count(), 6);
    assert.equal(await text(page, "#page-info"), "1–6 of 9");
    // Thumbnails arrive after the emulator's 202 "rendering" replies.
    await page.waitForFunction(() => [...document.querySelectorAll("#templates img")].every((i) => i.src.startsWith("blob:") && i.complete && i.naturalWidth > 0));
    await page.click("#next");
    await page.locator("#page-info", { hasText: "7–9 of 9" }).waitFor();
    assert.equal(await cards.count(), 3);
    assert.ok(await page.locator("#next").isDisabled());
    await page.click("#prev");
    await page.locator("#page-info", { hasText: "1–6 of 9" }).waitFor();
    await page.fill("#search", "flyer");
    await page.click("#search-form button");
    await page.locator("#page-info", { hasText: "1–2 of 2" }).waitFor();
    const names = await page.locator("#templates .name").allTextContents();
    assert.deepEqual(names, ["Summer Sale Flyer", "Unrenderable Flyer (error demo)"]);
  }));

test("rendering a PDF shows progress, then a download link to a real PDF", () =>
  withPage(browser, "render pdf", async (page) => {
    await page.goto(DEMO_URL);
    // What the page sends: the render goes through the signer's API proxy, with no token.
    const sentByPage = [];
    page.on("request", (r) => sentByPage.push({ method: r.method(), url: new URL(r.url()).pathname, auth: r.headers().authorization, body: r.postData() }));
    await clearRequests();
    await page.locator("#templates li", { hasText: "Business Card" }).click();
    await page.click("#render-pdf");
    await page.locator("#render-progress").waitFor({ state: "visible" });
    const link = page.locator("#render-download");
    await link.waitFor({ state: "visible", timeout: 15000 });
    assert.match(await link.textContent(), /business-card\.pdf/);
    assert.equal(await page.locator("#render-progress").evaluate((p) => p.value), 100);
    const head = await link.evaluate(async (a) => (await (await fetch(a.href)).text()).slice(0, 5));
    assert.equal(head, "%PDF-");
    const posts = sentByPage.filter((r) => r.method === "POST" && r.url === "/api/writer/output/pdf");
    assert.equal(posts.length, 1, JSON.stringify(sentByPage.map((r) => `${r.method} ${r.url}`)));
    assert.deepEqual(JSON.parse(posts[0].body).templateId, "7a1c0e4d-0000-4000-8000-000000000002");
    // No GraFx token from the page: only the signed-in user's app session (the demo's JWT).
    const session = JSON.parse(Buffer.from(posts[0].auth.replace(/^Bearer /, "").split(".")[1], "base64url"));
    assert.equal(session.sub, "demo-user@example.com", "the app session, not a GraFx token");
    assert.equal(session.aud, "grafx-demo");
    assert.ok(sentByPage.some((r) => r.url.startsWith("/api/writer/output/tasks/") && r.url.endsWith("/download")), "downloaded through the proxy");
    // On CHILI's side: the signer's request, with the writer's bearer.
    const onWire = (await requests()).filter((r) => r.method === "POST" && r.path === "output/pdf");
    assert.equal(onWire.length, 1);
    assert.ok(onWire[0].bearer);
  }));

test("a failing render shows a typed error where people see it", () =>
  withPage(browser, "failing render", async (page) => {
    await page.goto(DEMO_URL);
    // The form is the page's once its script has run (it awaits the package first): before
    // that, a submit would reload the page.
    await page.locator("#templates li").first().waitFor();
    await page.fill("#search", "unrenderable");
    await page.click("#search-form button");
    await page.locator("#templates li", { hasText: "Unrenderable" }).click();
    await page.click("#render-png");
    const banner = page.locator("#banner.error");
    await banner.waitFor({ timeout: 15000 });
    assert.match(await banner.textContent(), /\[api_error\].*could not be rendered/);
    assert.equal(await text(page, "#render-status"), "Render failed.");
  }));

test("when GraFx goes away the page says so, then recovers by itself", () =>
  withPage(browser, "outage and recovery", async (page) => {
    await page.goto(DEMO_URL);
    await page.locator("#templates li").nth(5).waitFor();
    // Let the thumbnails finish their 202 polling first, or they would consume the faults below.
    await page.waitForFunction(() => [...document.querySelectorAll("#templates img")].every((i) => i.src.startsWith("blob:") && i.complete));
    // The Environment API is down behind its proxy for a while. (A dropped connection would not
    // do: Chromium silently retries a GET whose reused connection is reset.)
    await armFault({ target: "api", kind: "html", status: 503, times: 3 });
    await page.click("#search-form button");
    const banner = page.locator("#banner");
    await page.locator("#banner.error").waitFor();
    assert.match(await banner.textContent(), /\[api_error\]/);
    // The page probes every 3 s; once the faults are spent it recovers on its own.
    await page.locator("#banner.ok", { hasText: "Connection restored" }).waitFor({ timeout: 20000 });
    await page.locator("#templates li").first().waitFor();
  }));

test("a new project from a template: CHILI's body on the wire, its preview, a link to studio-ui", () =>
  withPage(browser, "new project", async (page) => {
    await page.goto(DEMO_URL);
    await clearRequests();
    const sentByPage = [];
    page.on("request", (r) => sentByPage.push(`${r.method()} ${new URL(r.url()).pathname}`));
    await page.locator("#templates li", { hasText: "Business Card" }).click();
    await page.click("#new-project");
    await page.locator("#project-status", { hasText: "Created project" }).waitFor({ timeout: 15000 });
    await page.waitForFunction(() => {
      const img = document.getElementById("project-preview");
      return img.src.startsWith("blob:") && img.complete && img.naturalWidth > 0;
    });
    const created = (await requests()).filter((r) => r.method === "POST" && r.path === "projects");
    assert.equal(created.length, 1);
    assert.deepEqual(created[0].body, { template: { id: "7a1c0e4d-0000-4000-8000-000000000002" }, name: "Business Card (demo copy)" });
    const href = await page.locator("#project-open").getAttribute("href");
    assert.match(href, /^studio-ui\.html\?projectId=[0-9a-f-]{36}&projectName=/);
    // The page's own token stayed read-only: the write went through the signer's API proxy.
    assert.doesNotMatch(await text(page, "#t-scope"), /:write/);
    assert.ok(sentByPage.includes("POST /api/writer/projects"), sentByPage.join(", "));
    assert.ok(!sentByPage.some((r) => r.includes("/token/writer")), "the page never asked for the writer's token");
  }));

test("the studio-ui page shows its whole config, explains that studio-ui needs CHILI's URL, and refreshes through grafx", () =>
  withPage(browser, "studio-ui", async (page) => {
    await page.goto(new URL("studio-ui.html", DEMO_URL).href);
    const base = `${EMULATOR_URL}/grafx/api/v1/environment/demo`;
    await page.locator("#ui-base", { hasText: base }).waitFor();
    // The emulator is on http://127.0.0.1: studio-ui would refuse it; the page shows the config
    // it would get all the same, and says why it cannot load here.
    await page.locator("#ui-status", { hasText: "not for this environment" }).waitFor({ timeout: 15000 });
    const config = JSON.parse(await text(page, "#ui-config"));
    assert.equal(config.graFxStudioEnvironmentApiBaseUrl, base);
    assert.equal(config.refreshTokenAction, "[function]");
    assert.equal(config.selector, "studio-ui-container");
    assert.match(await text(page, "#ui-editor"), /cargo xtask demo --chili/);
    // Nothing in it stretches the page past the window.
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth));
    const before = await signerTokenRequests();
    await page.click("#ui-refresh");
    await page.locator("#ui-refreshes", { hasText: "1" }).waitFor();
    assert.equal((await signerTokenRequests()) - before, 1, "refreshTokenAction asked the signer");
  }));

test("the demo user's project opens in studio-ui and the Studio SDK page through the API proxy, and saves", () =>
  withPage(browser, "studio project", async (page) => {
    await page.goto(DEMO_URL);
    await page.locator("#templates li", { hasText: "Business Card" }).click();
    await page.click("#new-project");
    await page.locator("#project-status", { hasText: "Created project" }).waitFor({ timeout: 15000 });
    await page.waitForFunction(() => document.getElementById("project-open-sdk").href.includes("projectId="));
    const href = await page.locator("#project-open").getAttribute("href");
    const id = new URLSearchParams(href.split("?")[1]).get("projectId");
    const sdkHref = await page.locator("#project-open-sdk").getAttribute("href");
    await clearRequests();
    const sent = [];
    page.on("request", (r) => sent.push({ line: `${r.method()} ${new URL(r.url()).pathname}`, headers: r.headers() }));
    await page.goto(new URL(href, DEMO_URL).href);
    await page.locator("#ui-document", { hasText: "through the signer's API proxy" }).waitFor({ timeout: 15000 });
    assert.equal(await text(page, "#ui-user"), "demo-user@example.com");
    assert.match(await text(page, "#ui-project"), new RegExp(`\\(${id}\\), from template 7a1c0e4d-0000-4000-8000-000000000002`));
    const config = JSON.parse(await text(page, "#ui-config"));
    for (const cb of ["onProjectInfoRequested", "onProjectDocumentRequested", "onProjectSave", "onProjectGetDownloadLink"]) {
      assert.equal(config[cb], "[function]", cb);
    }
    assert.equal(config.via, undefined, "grafx's own options are not passed on to studio-ui");
    await page.click("#ui-save");
    await page.locator("#banner.ok", { hasText: "through the signer's API proxy" }).waitFor();
    const lines = sent.map((r) => r.line);
    for (const line of [`GET /api/writer/projects/${id}`, `GET /api/writer/projects/${id}/document`, `PUT /api/writer/projects/${id}/document`]) {
      assert.ok(lines.includes(line), `${line} in ${lines.join(", ")}`);
    }
    // The page never held a token that can write, nor called CHILI's project routes itself.
    assert.ok(!lines.some((l) => l.includes("/token/writer")), lines.join(", "));
    assert.ok(!lines.some((l) => l.includes("/grafx/api/v1/environment/demo/projects")), lines.join(", "));
    const pageToken = await page.evaluate(async () => (await import("./grafx.js")).grafx.token.accessToken);
    for (const r of sent.filter((r) => r.line.includes("/api/writer/"))) {
      assert.ok(!JSON.stringify(r.headers).includes(pageToken), `${r.line} carried the page's GraFx token`);
    }
    // CHILI got the save, with the proxy's bearer and the document as the page had it.
    const saves = (await requests()).filter((r) => r.method === "PUT" && r.path === `projects/${id}/document`);
    assert.equal(saves.length, 1);
    assert.ok(saves[0].bearer);
    assert.equal(typeof saves[0].body, "object");

    // The download link renders through the proxy: the saved project alone, or with the document
    // the editor holds now when studio-ui's SDK is on the page.
    await clearRequests();
    const links = await page.evaluate(async (projectId) => {
      const { grafx } = await import("./grafx.js");
      const c = await grafx.studio.uiLoaderConfig({ selector: "x", projectId, via: "writer", checkEnvironment: false });
      const saved = await c.onProjectGetDownloadLink("PDF", "0");
      window.StudioUISDK = { document: { getCurrentState: async () => ({ success: true, parsedData: JSON.stringify({ edited: "not saved yet" }) }) } };
      const current = await c.onProjectGetDownloadLink("PDF", "0", "5d1c8a0e-0000-4000-8000-000000000201");
      delete window.StudioUISDK;
      const bytes = async (l) => new Uint8Array(await (await fetch(l.data)).arrayBuffer()).slice(0, 4);
      return { saved: { ...saved, head: [...(await bytes(saved))] }, current: { ...current, head: [...(await bytes(current))] } };
    }, id);
    for (const l of [links.saved, links.current]) {
      assert.equal(l.success, true, JSON.stringify(l));
      assert.match(l.data, /^blob:/);
      assert.equal(String.fromCharCode(...l.head), "%PDF");
    }
    const renders = (await requests()).filter((r) => r.method === "POST" && r.path === "output/pdf");
    assert.equal(renders.length, 2, JSON.stringify(renders));
    assert.equal(renders[0].body.projectId, id);
    assert.deepEqual(renders[0].body.layoutsToExport, ["0"]);
    assert.equal(renders[0].body.documentContent, undefined, "no editor on the page: the saved project");
    assert.equal(renders[1].body.projectId, id);
    assert.equal(renders[1].body.outputSettingsId, "5d1c8a0e-0000-4000-8000-000000000201");
    assert.deepEqual(renders[1].body.documentContent, { edited: "not saved yet" });

    // The Studio SDK page loads and saves the same project the same way.
    sent.length = 0;
    await page.goto(new URL(sdkHref, DEMO_URL).href);
    await page.locator("#sdk-project", { hasText: "bytes through the API proxy" }).waitFor({ timeout: 15000 });
    await page.click("#save");
    await page.locator("#log", { hasText: `saved through PUT /api/writer/projects/${id}/document` }).waitFor({ timeout: 10000 });
    const sdkLines = sent.map((r) => r.line);
    assert.ok(sdkLines.includes(`GET /api/writer/projects/${id}/document`), sdkLines.join(", "));
    assert.ok(sdkLines.includes(`PUT /api/writer/projects/${id}/document`), sdkLines.join(", "));
  }));
