// Shared by the end-to-end suites: a headless Chromium (Debian's), the demo's URLs, the signer's
// request counter, the emulator's fault injection, and screenshots of failing pages.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

export const DEMO_URL = process.env.DEMO_URL ?? fail("DEMO_URL is unset: run with `cargo xtask test`");
export const EMULATOR_URL = process.env.EMULATOR_URL ?? fail("EMULATOR_URL is unset");
const ARTIFACTS = process.env.E2E_ARTIFACTS ?? "target/e2e-artifacts";
// Debian's chromium, as `cargo xtask test` installs it and names it (xtask's bootstrap::CHROMIUM).
const CHROMIUM = process.env.CHROMIUM ?? fail("CHROMIUM is unset: run with `cargo xtask test`");

function fail(msg) {
  throw new Error(msg);
}

/** Headless Chromium; `options` are playwright's launch options, merged over ours. */
export async function launch(options = {}) {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run"],
    ...options,
  });
}

/** Runs `fn(page)` in a fresh context; on failure saves a screenshot as a test artifact. */
export async function withPage(browser, name, fn, context) {
  const ctx = context ?? (await browser.newContext({ viewport: { width: 1280, height: 900 } }));
  const page = await ctx.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  try {
    await fn(page);
  } catch (e) {
    mkdirSync(ARTIFACTS, { recursive: true });
    const file = join(ARTIFACTS, `${name.replace(/\W+/g, "_")}.png`);
    await page.screenshot({ path: file, fullPage: true }).catch(() => {});
    e.message += `\n(screenshot: ${file}; page errors: ${JSON.stringify(errors)})`;
    throw e;
  } finally {
    if (!context) await ctx.close();
  }
}

/** Token requests the signer has answered (from its Prometheus metrics). */
export async function signerTokenRequests() {
  const text = await (await fetch(new URL("metrics", DEMO_URL))).text();
  const line = text.split("\n").find((l) => l.startsWith('grafx_signer_http_requests_total{route="/token",status="200"}'));
  return line ? Number(line.split(" ").pop()) : 0;
}

export async function armFault(fault) {
  const res = await fetch(`${EMULATOR_URL}/_emulator/faults`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(fault),
  });
  if (!res.ok) throw new Error(`arming a fault failed: ${res.status}`);
}

export async function clearFaults() {
  await fetch(`${EMULATOR_URL}/_emulator/faults`, { method: "DELETE" });
}

/** The emulator's journal of API requests: what the page put on the wire. */
export async function requests() {
  const res = await fetch(`${EMULATOR_URL}/_emulator/requests`);
  if (!res.ok) throw new Error(`reading the request journal failed: ${res.status}`);
  return res.json();
}

export async function clearRequests() {
  await fetch(`${EMULATOR_URL}/_emulator/requests`, { method: "DELETE" });
}
