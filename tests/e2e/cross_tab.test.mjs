// Five tabs of the demo opened at once share one token: one signer request.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { DEMO_URL, launch, signerTokenRequests, withPage } from "./helpers.mjs";

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test("five pages opened at once make one signer request", async () => {
  const context = await browser.newContext();
  try {
    const before = await signerTokenRequests();
    const pages = await Promise.all(Array.from({ length: 5 }, () => context.newPage()));
    await Promise.all(pages.map((p) => p.goto(DEMO_URL)));
    await Promise.all(pages.map((p) => p.locator("#t-environment", { hasText: "demo" }).waitFor()));
    const tokens = await Promise.all(pages.map((p) => p.evaluate(async () => (await import("./grafx.js")).grafx.token.accessToken)));
    assert.equal(new Set(tokens).size, 1, "every tab holds the same token");
    assert.equal((await signerTokenRequests()) - before, 1, "one tab asked; the others got it over the BroadcastChannel");
    // No tab keeps the token in storage.
    const stored = await pages[0].evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie);
    assert.ok(!stored.includes(tokens[0].slice(0, 20)), "tokens live in memory only");
  } finally {
    await context.close();
  }
});

test("a separate browser profile is another origin partition: it asks on its own", async () => {
  const before = await signerTokenRequests();
  await withPage(browser, "second profile", async (page) => {
    await page.goto(DEMO_URL);
    await page.locator("#t-environment", { hasText: "demo" }).waitFor();
  });
  assert.equal((await signerTokenRequests()) - before, 1);
});
