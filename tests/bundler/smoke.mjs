// The `--target bundler` build (crates/grafx-wasm/pkg-bundler), loaded the
// way a bundler loads it: the `.wasm` as an ES module (Node's --experimental-wasm-modules), so
// every import the `.wasm` names must be an export of grafx_wasm_bg.js; then the `--target web`
// build (crates/grafx-wasm/pkg, the npm package) through its `initSync`. `cargo xtask test` runs
// it after `cargo xtask package`, which renames those imports (crates/xtask/src/import_names.rs).
//
// A loopback server plays the signer and the Environment API, and the test checks what reached
// it: the token call, then the API call with the token as bearer.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import http from "node:http";

const bundler = new URL("../../crates/grafx-wasm/pkg-bundler/", import.meta.url);
const web = new URL("../../crates/grafx-wasm/pkg/", import.meta.url);

// The builds under test are the renamed ones: each import from the glue has a short name.
async function renamedImports(pkg) {
  const module = new WebAssembly.Module(await readFile(new URL("grafx_wasm_bg.wasm", pkg)));
  const glueImports = WebAssembly.Module.imports(module).filter((i) => i.module === "./grafx_wasm_bg.js");
  assert.ok(glueImports.length > 50, `the .wasm imports ${glueImports.length} functions from its glue`);
  for (const i of glueImports) assert.match(i.name, /^_[0-9a-zA-Z]{1,3}$/, "a renamed import");
  return glueImports.length;
}

const seen = [];
const server = http.createServer((req, res) => {
  let body = "";
  req.on("data", (c) => (body += c));
  req.on("end", () => {
    seen.push({ method: req.method, path: req.url, authorization: req.headers.authorization, app: req.headers["x-app-session"], body });
    const { port } = server.address();
    const reply = (status, json) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(json));
    };
    if (req.method === "POST" && req.url === "/token") {
      const now = Math.floor(Date.now() / 1000);
      reply(200, {
        access_token: "bundler-token-1",
        token_type: "Bearer",
        expires_in: 3600,
        expires_at: now + 3600,
        scope: "template:read",
        environment: "demo",
        environment_api_url: `http://127.0.0.1:${port}/grafx/api/v1/environment/demo/`,
      });
    } else if (req.method === "GET" && req.url.startsWith("/grafx/api/v1/environment/demo/templates")) {
      reply(200, { data: [{ id: "t1", name: "Flyer" }], pageSize: 1, links: { nextPage: null } });
    } else {
      reply(404, { title: "not found" });
    }
  });
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const base = `http://127.0.0.1:${server.address().port}`;

/** A token, an API call on the wire, an error and bad options, through one build's exports. */
async function exercise({ GraFxClient, isGraFxError }) {
  seen.length = 0;
  const client = new GraFxClient({ signerUrl: base, crossTab: false });
  assert.equal(await client.accessToken(), "bundler-token-1");
  const list = await client.json("templates?limit=1");
  assert.deepEqual(list.data, [{ id: "t1", name: "Flyer" }]);
  assert.deepEqual(
    seen.map(({ method, path, authorization }) => [method, path, authorization]),
    [
      ["POST", "/token", undefined],
      ["GET", "/grafx/api/v1/environment/demo/templates?limit=1", "Bearer bundler-token-1"],
    ],
  );
  assert.equal(client.stats.signerRequests, 1);
  client.dispose();

  // signerHeaders go to the signer, and only there: the token call carries the app's header
  // (and its Authorization), the API call carries neither.
  seen.length = 0;
  const session = new GraFxClient({ signerUrl: base, crossTab: false, signerHeaders: { "X-App-Session": "s-1", Authorization: "Bearer app-session" } });
  await session.json("templates?limit=1");
  assert.deepEqual(
    seen.map(({ method, path, authorization, app }) => [method, path, authorization, app]),
    [
      ["POST", "/token", "Bearer app-session", "s-1"],
      ["GET", "/grafx/api/v1/environment/demo/templates?limit=1", "Bearer bundler-token-1", undefined],
    ],
  );
  session.dispose();

  // An error crosses the boundary as a GraFxError with its code.
  const down = new GraFxClient({ signerUrl: "http://127.0.0.1:9", crossTab: false });
  const error = await down.accessToken().then(() => null, (e) => e);
  assert.ok(isGraFxError(error), `a GraFxError, not ${error}`);
  assert.equal(error.code, "signer_unreachable");
  down.dispose();

  // Bad options are refused in Rust and reported in JavaScript.
  assert.throws(() => new GraFxClient({ signerUrl: base, signerURL: base }), (e) => e.code === "invalid_options");
}

try {
  const bundlerImports = await renamedImports(bundler);
  await exercise(await import(new URL("grafx_wasm.js", bundler)));
  const webImports = await renamedImports(web);
  const webBuild = await import(new URL("grafx_wasm.js", web));
  webBuild.initSync({ module: await readFile(new URL("grafx_wasm_bg.wasm", web)) });
  await exercise(webBuild);
  console.log(`bundler and web builds: ${bundlerImports} and ${webImports} renamed imports link; token and API calls on the wire as expected`);
} finally {
  server.close();
}
