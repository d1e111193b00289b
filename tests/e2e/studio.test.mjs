// The Studio page: offline, the engine cannot load from CHILI's CDN; the wiring still works.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { DEMO_URL, EMULATOR_URL, launch, withPage } from "./helpers.mjs";

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test("the studio page is wired to the signer and survives a missing editor engine", () =>
  withPage(browser, "studio", async (page) => {
    await page.goto(new URL("studio.html", DEMO_URL).href);
    await page.locator("#cfg-api", { hasText: `${EMULATOR_URL}/grafx/api/v1/environment/demo/` }).waitFor();
    await page.locator("#engine-status", { hasText: /unavailable|loaded/ }).waitFor({ timeout: 15000 });
    if ((await page.locator("#engine-status").textContent()).startsWith("unavailable")) {
      assert.match(await page.locator("#editor").textContent(), /could not be loaded/);
    }
    await page.click("#expire");
    await page.locator("#auth-count", { hasText: "1" }).waitFor();
    assert.match(await page.locator("#log").textContent(), /handler → \{"type":"grafxToken","token":"eyJ/);
  }));
