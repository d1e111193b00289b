// The baseline people write by hand, the way CHILI's workshop does it: an Express route that
// fetches a client-credentials token and caches it until it expires. No single-flight, no refresh
// ahead, no origin check. Used by `cargo xtask bench` only.
//
// Env: PORT, AUTH_URL, CLIENT_ID, CLIENT_SECRET, ENVIRONMENT, API_URL.
// POST /__clock {"advance_ms": N} moves its clock, so a 48-hour run can be simulated.
import express from "express";

const app = express();
app.use(express.json());
let offset = 0;
const now = () => Date.now() + offset;
let cached = null;

async function fetchToken() {
  const res = await fetch(process.env.AUTH_URL, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      grant_type: "client_credentials",
      client_id: process.env.CLIENT_ID,
      client_secret: process.env.CLIENT_SECRET,
      audience: "https://chiligrafx.com",
    }),
  });
  if (!res.ok) throw new Error(`token request failed: ${res.status}`);
  const body = await res.json();
  return { ...body, expiresAt: now() + body.expires_in * 1000 };
}

app.post("/token", async (req, res) => {
  try {
    if (!cached || now() >= cached.expiresAt) cached = await fetchToken();
    res.set("cache-control", "no-store").json({
      access_token: cached.access_token,
      token_type: "Bearer",
      expires_in: Math.floor((cached.expiresAt - now()) / 1000),
      expires_at: Math.floor(cached.expiresAt / 1000),
      scope: cached.scope,
      environment: process.env.ENVIRONMENT,
      environment_api_url: process.env.API_URL,
    });
  } catch (e) {
    res.status(502).json({ error: "upstream_error", error_description: String(e.message) });
  }
});

app.post("/__clock", (req, res) => {
  offset += Number(req.body.advance_ms) || 0;
  res.json({ now: now() });
});

const server = app.listen(Number(process.env.PORT || 0), "127.0.0.1", () => {
  console.log(`http://127.0.0.1:${server.address().port}`);
});
