// A page that holds a token can still enter the back/forward cache, and while it sits there it
// does not claim to be a peer (it could not answer a cold tab's query, which would then wait for
// nothing): the presence lock is let go on pagehide and taken again on pageshow. (Held Web Locks
// also keep pages out of the cache in some browsers.)
// Playwright turns the cache off by default; this browser turns it back on.
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { DEMO_URL, launch, withPage } from "./helpers.mjs";

const SITE = process.env.DEMO_SITE ?? join(process.cwd(), "target/demo");
let browser;

before(async () => {
  const dir = join(SITE, "bfcache-test");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "index.html"), `<!doctype html><meta charset="utf-8"><title>bfcache</title>
<script type="module">
import init, { GraFxClient } from "../pkg/grafx_wasm.js";
window.addEventListener("pageshow", (e) => { if (e.persisted) document.body.dataset.restored = "yes"; });
await init();
window.grafx = new GraFxClient({ signerUrl: "/" });
await window.grafx.accessToken();
document.body.dataset.ready = "yes";
</script><body>bfcache</body>`);
  writeFileSync(join(dir, "other.html"), `<!doctype html><meta charset="utf-8"><title>other</title><body>other page</body>`);
  browser = await launch({ ignoreDefaultArgs: ["--disable-back-forward-cache"] });
});
after(async () => { await browser?.close(); });

test("a page holding a token is restored from the back/forward cache, and still works", async () => {
  await withPage(browser, "bfcache", async (page) => {
    await page.goto(new URL("bfcache-test/index.html", DEMO_URL).href);
    await page.waitForFunction(() => document.body.dataset.ready === "yes", null, { timeout: 20000 });
    const held = await page.evaluate(async () => (await navigator.locks.query()).held.map((l) => l.name));
    assert.ok(held.some((n) => n.endsWith(" presence")), `the page holds its presence lock: ${held}`);
    await page.goto(new URL("bfcache-test/other.html", DEMO_URL).href);
    // While it sits in the cache it cannot answer a cold tab's query, so it must not look present.
    const away = await page.evaluate(async () => (await navigator.locks.query()).held.map((l) => l.name));
    assert.ok(!away.some((n) => n.endsWith(" presence")), `no presence held by the cached page: ${away}`);
    await page.goBack({ waitUntil: "commit" });
    await page.waitForFunction(() => document.body.dataset.ready === "yes", null, { timeout: 20000 });
    const restored = await page.evaluate(() => document.body.dataset.restored);
    assert.equal(restored, "yes", "restored from the back/forward cache (not reloaded)");
    // Back in the page: the presence lock is held again and the client works.
    const again = await page.evaluate(async () => (await navigator.locks.query()).held.map((l) => l.name));
    assert.ok(again.some((n) => n.endsWith(" presence")), `presence taken again: ${again}`);
    assert.ok((await page.evaluate(() => window.grafx.accessToken())).length > 20);
  });
});
