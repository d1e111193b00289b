// The npm package in real front-end toolchains: `npm pack`, then installed into a plain-ESM page
// and into fresh Vite 7, Vite 8 and webpack 5 projects (no wasm plugin), built, served by the demo's signer (same origin) and
// used from Chromium.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { DEMO_URL, launch, withPage } from "./helpers.mjs";

const ROOT = process.cwd();
const SITE = process.env.DEMO_SITE ?? join(ROOT, "target/demo");
const WORK = join(ROOT, "target/npm-consumers");
let browser;
let tarball;

const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, stdio: ["ignore", "pipe", "pipe"], encoding: "utf8", timeout: 300_000 });
const npm = (args, cwd) => run("npm", [...args, "--no-audit", "--no-fund", "--loglevel=error"], cwd);

const APP = `
import init, { GraFxClient, isGraFxError } from "grafx-wasm";
await init();
const grafx = new GraFxClient({ signerUrl: "/" });
try {
  const page = await grafx.templates.list({ limit: 3 });
  document.body.dataset.result = JSON.stringify({
    total: page.total, items: page.items.length, environment: grafx.token.environment,
    guard: isGraFxError(new Error("plain")),
  });
} catch (e) {
  document.body.dataset.result = JSON.stringify({ error: String(e && e.message || e) });
}
`;

before(async () => {
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
  const out = npm(["pack", "--pack-destination", WORK, join(ROOT, "crates/grafx-wasm/pkg")], ROOT);
  tarball = join(WORK, out.trim().split("\n").pop());
  browser = await launch();
});
after(async () => { await browser?.close(); });

async function expectWorking(url, name) {
  await withPage(browser, name, async (page) => {
    await page.goto(url);
    await page.waitForFunction(() => document.body.dataset.result, null, { timeout: 20000 });
    const result = JSON.parse(await page.evaluate(() => document.body.dataset.result));
    assert.deepEqual(result, { total: 9, items: 3, environment: "demo", guard: false });
  });
}

test("the packed package has its manifest, types, wasm and README", () => {
  const listing = run("tar", ["-tzf", tarball], WORK);
  for (const file of ["package.json", "grafx_wasm.js", "grafx_wasm.d.ts", "grafx_wasm_bg.wasm", "README.md", "LICENSE-MIT", "LICENSE-APACHE"]) {
    assert.ok(listing.includes(`package/${file}`), `${file} in ${listing}`);
  }
  const manifest = JSON.parse(run("tar", ["-xzOf", tarball, "package/package.json"], WORK));
  assert.equal(manifest.name, "grafx-wasm");
  assert.deepEqual(manifest.exports["."], { types: "./grafx_wasm.d.ts", import: "./grafx_wasm.js" });
  for (const key of ["version", "description", "license", "repository", "files", "sideEffects", "keywords", "homepage", "bugs"]) {
    assert.ok(manifest[key], `package.json has ${key}`);
  }
});

test("a plain ES module page (import map, no bundler)", async () => {
  const dir = join(WORK, "plain");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "plain-consumer", private: true, type: "module" }));
  npm(["install", tarball], dir);
  writeFileSync(join(dir, "index.html"), `<!doctype html><meta charset="utf-8"><title>plain</title>
<script type="importmap">{ "imports": { "grafx-wasm": "./node_modules/grafx-wasm/grafx_wasm.js" } }</script>
<script type="module">${APP}</script><body>plain ESM consumer</body>`);
  const served = join(SITE, "consumers/plain");
  rmSync(served, { recursive: true, force: true });
  cpSync(dir, served, { recursive: true });
  await expectWorking(new URL("consumers/plain/index.html", DEMO_URL).href, "plain esm consumer");
});

for (const vite of ["7", "8"]) {
  test(`a fresh Vite ${vite} project`, async () => {
    const dir = join(WORK, `vite${vite}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "package.json"), JSON.stringify({ name: `vite${vite}-consumer`, private: true, type: "module" }));
    writeFileSync(join(dir, "index.html"), `<!doctype html><meta charset="utf-8"><title>vite</title><script type="module" src="./main.js"></script><body>vite consumer</body>`);
    writeFileSync(join(dir, "main.js"), APP);
    npm(["install", `vite@${vite}`, tarball], dir);
    run(join(dir, "node_modules/.bin/vite"), ["build", "--base", "./", "--logLevel", "warn"], dir);
    const assets = readdirSync(join(dir, "dist/assets"));
    assert.ok(assets.some((f) => f.endsWith(".wasm")), `Vite emitted the wasm as an asset: ${assets}`);
    const served = join(SITE, `consumers/vite${vite}`);
    rmSync(served, { recursive: true, force: true });
    cpSync(join(dir, "dist"), served, { recursive: true });
    await expectWorking(new URL(`consumers/vite${vite}/index.html`, DEMO_URL).href, `vite ${vite} consumer`);
  });
}

test("a fresh webpack 5 project (no wasm plugin: the .wasm is an asset by new URL)", async () => {
  const dir = join(WORK, "webpack5");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "webpack5-consumer", private: true, type: "module" }));
  writeFileSync(join(dir, "main.js"), APP);
  writeFileSync(join(dir, "webpack.config.mjs"), `
import { fileURLToPath } from "node:url";
export default {
  mode: "production",
  entry: "./main.js",
  output: { path: fileURLToPath(new URL("dist", import.meta.url)), filename: "main.js", publicPath: "auto", clean: true },
};
`);
  npm(["install", "webpack@5.113.0", "webpack-cli@5.1.4", tarball], dir);
  run(join(dir, "node_modules/.bin/webpack"), ["--config", "webpack.config.mjs"], dir);
  const emitted = readdirSync(join(dir, "dist"));
  assert.ok(emitted.some((f) => f.endsWith(".wasm")), `webpack emitted the wasm as an asset: ${emitted}`);
  writeFileSync(join(dir, "dist/index.html"), `<!doctype html><meta charset="utf-8"><title>webpack</title><script src="./main.js"></script><body>webpack consumer</body>`);
  const served = join(SITE, "consumers/webpack5");
  rmSync(served, { recursive: true, force: true });
  cpSync(join(dir, "dist"), served, { recursive: true });
  await expectWorking(new URL("consumers/webpack5/index.html", DEMO_URL).href, "webpack 5 consumer");
});
