// The Studio page: the SDK's own code comes from the npm package and runs offline; only the
// editor engine needs CHILI's CDN. The auth wiring works either way.
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
    await page.locator("#sdk-status", { hasText: "loaded (from the npm package)" }).waitFor({ timeout: 15000 });
    assert.match(await page.locator("#engine-status").textContent(), /CHILI's CDN/);
    await page.locator("#log", { hasText: "configuration handed to the SDK" }).waitFor();
    await page.click("#expire");
    await page.locator("#auth-count", { hasText: "1" }).waitFor();
    assert.match(await page.locator("#log").textContent(), /handler → \{"type":"grafxToken","token":"eyJ/);
  }));
