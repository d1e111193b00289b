// grafx-wasm in a dedicated module Worker: no `window`, the global fetch and timers, Web Locks and
// BroadcastChannel where the worker has them. The worker script is served by the demo's signer
// (same origin), imports the package from /pkg/, and reports back what it got; the emulator's
// journal shows what it put on the wire.
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { DEMO_URL, clearRequests, launch, requests, withPage } from "./helpers.mjs";

const SITE = process.env.DEMO_SITE ?? join(process.cwd(), "target/demo");
let browser;

const WORKER = `
import init, { GraFxClient, isGraFxError } from "../pkg/grafx_wasm.js";
await init();
const report = {};
try {
  report.hasWindow = typeof window !== "undefined";
  const grafx = new GraFxClient({ signerUrl: "/" });
  report.token = (await grafx.accessToken()).length > 0;
  report.environment = grafx.token.environment;
  const page = await grafx.templates.list({ limit: 2 });
  report.items = page.items.length;
  report.json = (await grafx.json("templates?limit=1")).data.length;
  const png = await grafx.output.render("png", { templateId: page.items[0].id }, { intervalMs: 100 });
  report.render = png.blob.size > 0;
  const refused = await grafx.fetch("https://evil.example/x").catch((e) => e);
  report.refused = isGraFxError(refused) ? refused.code : String(refused);
  const bad = (() => { try { new GraFxClient({ signerUrl: "/", signerURL: "typo" }); } catch (e) { return e; } })();
  report.badOption = isGraFxError(bad) && bad.code === "invalid_options" && bad.message.includes("signerURL");
  grafx.dispose();
} catch (e) {
  report.error = String((e && e.stack) || e);
}
postMessage(report);
`;

before(async () => {
  const dir = join(SITE, "worker-test");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "worker.mjs"), WORKER);
  writeFileSync(join(dir, "index.html"), `<!doctype html><meta charset="utf-8"><title>worker</title>
<script type="module">
const worker = new Worker("./worker.mjs", { type: "module" });
worker.onmessage = (e) => { document.body.dataset.result = JSON.stringify(e.data); };
worker.onerror = (e) => { document.body.dataset.result = JSON.stringify({ error: e.message }); };
</script><body>worker</body>`);
  browser = await launch();
});
after(async () => { await browser?.close(); });

test("the package works the same in a dedicated module Worker", async () => {
  await clearRequests();
  await withPage(browser, "module worker", async (page) => {
    await page.goto(new URL("worker-test/index.html", DEMO_URL).href);
    await page.waitForFunction(() => document.body.dataset.result, null, { timeout: 30000 });
    const result = JSON.parse(await page.evaluate(() => document.body.dataset.result));
    assert.deepEqual(result, {
      hasWindow: false, token: true, environment: "demo", items: 2, json: 1, render: true,
      refused: "invalid_options", badOption: true,
    });
  });
  const sent = await requests();
  const list = sent.find((r) => r.method === "GET" && r.path === "templates" && (r.query ?? "").includes("limit=2"));
  assert.ok(list, `the worker's list call on the wire: ${JSON.stringify(sent.map((r) => `${r.method} ${r.path}`))}`);
  assert.equal(list.bearer, true, "with the bearer");
  const render = sent.find((r) => r.method === "POST" && r.path === "output/png");
  assert.ok(render, "the worker's render on the wire");
  assert.ok(typeof render.body.templateId === "string" && typeof render.body.outputSettingsId === "string", JSON.stringify(render.body));
});
