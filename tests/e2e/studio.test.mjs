// The Studio page: the SDK's own code comes from the npm package and runs offline; only the
// editor engine needs CHILI's CDN. The auth wiring works either way.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { DEMO_URL, EMULATOR_URL, launch, signerTokenRequests, withPage } from "./helpers.mjs";

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test("the studio page hands the SDK the signer's configuration, and the SDK's own SubscriberController refreshes the token through grafx (the editor engine needs CHILI's CDN and does not load here)", () =>
  withPage(browser, "studio", async (page) => {
    await page.goto(new URL("studio.html", DEMO_URL).href);
    await page.locator("#cfg-api", { hasText: `${EMULATOR_URL}/grafx/api/v1/environment/demo/` }).waitFor();
    await page.locator("#sdk-status", { hasText: "loaded (from the npm package)" }).waitFor({ timeout: 15000 });
    // Offline, the engine cannot load: the page says so rather than hang.
    assert.match(await page.locator("#engine-status").textContent(), /CHILI's CDN/);
    await page.locator("#log", { hasText: "configuration handed to the SDK" }).waitFor();
    // The real SDK's controller, as the engine calls it: a JSON string in, a JSON string out.
    const before = await signerTokenRequests();
    const direct = await page.evaluate(async () => {
      const reply = await window.SDK.subscriber.onAuthExpired(JSON.stringify({ type: "grafxToken" }));
      const other = await window.SDK.subscriber.onAuthExpired(JSON.stringify({ type: "any", connectorId: "c", remoteConnectorId: "r", headerValue: null }));
      const dam = await window.SDK.subscriber.onAuthExpired(JSON.stringify({ type: "any", connectorId: "demo-dam", remoteConnectorId: "r", headerValue: null }));
      return { reply, other, dam };
    });
    assert.equal(typeof direct.reply, "string", "the controller answers a JSON string");
    const parsed = JSON.parse(direct.reply);
    assert.equal(parsed.type, "grafxToken");
    assert.match(parsed.token, /^eyJ/);
    assert.equal(direct.other, null, "a connector the app does not know: the app's null");
    assert.deepEqual(JSON.parse(direct.dam), { type: "refreshed", headers: { "x-demo-dam-session": "renewed" } }, "the app's connector credentials, through the SDK's controller");
    assert.match(await page.locator("#log").textContent(), /connector demo-dam asked to re-authenticate/);
    assert.equal((await signerTokenRequests()) - before, 1, "one forced refresh reached the signer");
    // The page's button takes the same path.
    await page.click("#expire");
    await page.locator("#auth-count", { hasText: "1" }).waitFor();
    assert.match(await page.locator("#log").textContent(), /SubscriberController → \{"type":"grafxToken","token":"eyJ/);
    assert.equal((await signerTokenRequests()) - before, 2);
  }));
