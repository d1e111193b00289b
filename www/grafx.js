// One GraFxClient for the page, and a banner that shows typed errors where people will see them.
import init, { GraFxClient, isGraFxError } from "./pkg/grafx_wasm.js";

await init();

// The demo's signed-in user: the session the demo minted for `demo-user@example.com` (your app
// sends its own users' sessions). The API proxy knows whose projects are whose by it.
const session = await fetch("session.txt").then((r) => (r.ok ? r.text() : null), () => null);
export const signedInUser = session ? JSON.parse(atob(session.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))).sub : null;

// The signer serves this page, so it is on the same origin: "/" is enough.
// Tabs of the same signed-in user share one token (`shareKey`); anonymous tabs share theirs.
export const grafx = new GraFxClient({
  signerUrl: "/",
  autoRefresh: true,
  ...(session ? { getSessionToken: () => session, shareKey: signedInUser } : {}),
});

// Writing (creating projects, rendering) needs write scopes, which the page's read-only token does
// not carry. The same helpers go through the signer's API proxy instead: the signer adds its
// `writer` integration's token, which never reaches this page.
export const writer = grafx.via("writer");

// A signer without that proxy (`cargo xtask demo --chili` with only GRAFX_* variables): renders
// then use the page's own token, as far as its scopes allow.
let proxied;
export const writerOrPage = () =>
  (proxied ??= writer.json("output/settings?limit=1").then(
    () => writer,
    (e) => (e.signerCode === "unknown_integration" ? grafx : writer),
  ));

const banner = document.getElementById("banner");

/** What a person should read for an error. */
export function describe(e) {
  if (!isGraFxError(e)) return String(e?.message ?? e);
  const hints = {
    signer_unreachable: "The signer cannot be reached.",
    signer_rejected: "The signer refused the request.",
    upstream_unavailable: "CHILI GraFx's auth server is unavailable; the signer will retry.",
    unauthorized: "GraFx refused the token even after a refresh.",
    api_error: "The GraFx Environment API returned an error.",
    timeout: "The request timed out.",
    aborted: "The request was cancelled.",
    invalid_response: "A server sent an unexpected reply.",
    invalid_options: "This page is misconfigured.",
  };
  const code = e.signerCode ? `${e.code} (${e.signerCode})` : e.code;
  return `${hints[e.code] ?? "Something went wrong."} [${code}] ${e.message}`;
}

export function showError(e) {
  banner.textContent = describe(e);
  banner.className = "banner error";
  banner.dataset.code = isGraFxError(e) ? e.code : "error";
  banner.hidden = false;
}

export function showOk(message) {
  banner.textContent = message;
  banner.className = "banner ok";
  banner.dataset.code = "ok";
  banner.hidden = false;
  setTimeout(() => { if (banner.dataset.code === "ok") banner.hidden = true; }, 4000);
}

grafx.onError(showError);
export { isGraFxError };
