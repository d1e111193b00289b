// One GraFxClient for the page, and a banner that shows typed errors where people will see them.
import init, { GraFxClient, isGraFxError } from "./pkg/grafx_wasm.js";

await init();

// The signer serves this page, so it is on the same origin: "/" is enough.
export const grafx = new GraFxClient({ signerUrl: "/", autoRefresh: true });

// Writing (creating projects) needs `myproject:write`, which the read-only token above does not
// carry: the demo's signer has a separate `writer` integration for it, created on first use.
let writerClient;
export const writer = () => (writerClient ??= new GraFxClient({ signerUrl: "/", integration: "writer" }));

const banner = document.getElementById("banner");

/** What a person should read for an error. */
export function describe(e) {
  if (!isGraFxError(e)) return String(e?.message ?? e);
  const hints = {
    signer_unreachable: "The signer cannot be reached.",
    signer_rejected: "The signer refused to hand out a token.",
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
