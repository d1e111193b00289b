//! Token issuance with CHILI's caching: asking again returns the same token (with a smaller
//! `expires_in`) until the re-issue window, then a new one. Tokens cannot be revoked: an old
//! token stays valid until its own expiry even after a new one was issued or the client removed.

use std::collections::HashMap;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use grafx_core::{Scopes, Timestamp};
use rand::RngCore;

use crate::config::{ClientSpec, Settings, AUDIENCE};

/// What the emulator remembers about a token it issued.
#[derive(Debug, Clone)]
pub(crate) struct IssuedToken {
    /// The client it was issued to: on CHILI an integration is a user, and what it creates
    /// (projects, outputs) is its own.
    pub(crate) client: String,
    pub(crate) scope: Scopes,
    pub(crate) expires_at: Timestamp,
}

/// Why a bearer token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenRejection {
    /// Never issued here.
    Unknown,
    /// Issued, but past its expiry.
    Expired,
}

/// A token reply: the token, its remaining lifetime and scope.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub(crate) access_token: String,
    pub(crate) expires_in: u64,
    pub(crate) scope: Scopes,
}

/// Issued tokens and each client's current one.
#[derive(Debug, Default)]
pub(crate) struct TokenIssuer {
    issued: HashMap<String, IssuedToken>,
    current: HashMap<String, String>,
    pub(crate) tokens_issued: u64,
}

impl TokenIssuer {
    /// The token for `client` at `now`: its current one while more than the re-issue window is
    /// left, otherwise a newly minted one.
    pub(crate) fn grant(
        &mut self,
        client: &ClientSpec,
        now: Timestamp,
        settings: &Settings,
        issuer: &str,
    ) -> Grant {
        // Reuse needs at least a second left, so `expires_in` never rounds down to 0.
        let reuse_above = settings.reissue_window().max(Duration::from_secs(1));
        if let Some(token) = self.current.get(&client.id) {
            if let Some(rec) = self.issued.get(token) {
                let remaining = rec.expires_at.since(now);
                if remaining > reuse_above {
                    return Grant {
                        access_token: token.clone(),
                        expires_in: remaining.as_secs(),
                        scope: rec.scope.clone(),
                    };
                }
            }
        }
        self.prune(now);
        let lifetime = settings.token_lifetime();
        let expires_at = now.saturating_add(lifetime);
        let token = mint_jwt_shaped(client, now, expires_at, issuer);
        self.issued.insert(
            token.clone(),
            IssuedToken {
                client: client.id.clone(),
                scope: client.scopes.clone(),
                expires_at,
            },
        );
        self.current.insert(client.id.clone(), token.clone());
        self.tokens_issued += 1;
        Grant {
            access_token: token,
            expires_in: lifetime.as_secs(),
            scope: client.scopes.clone(),
        }
    }

    /// Checks a bearer token presented to the API.
    pub(crate) fn validate(
        &self,
        token: &str,
        now: Timestamp,
    ) -> Result<&IssuedToken, TokenRejection> {
        let rec = self.issued.get(token).ok_or(TokenRejection::Unknown)?;
        if now >= rec.expires_at {
            return Err(TokenRejection::Expired);
        }
        Ok(rec)
    }

    /// Forgets tokens that expired more than a minute ago (they would be refused as unknown
    /// instead of expired after that, which is also what a real server eventually does).
    fn prune(&mut self, now: Timestamp) {
        self.issued
            .retain(|_, rec| rec.expires_at.saturating_add(Duration::from_secs(60)) > now);
        let issued = &self.issued;
        self.current.retain(|_, t| issued.contains_key(t));
    }
}

/// A token shaped like Auth0's RS256 JWTs (header.payload.signature). Only its shape is real:
/// the emulator recognises its tokens by lookup, not by signature.
fn mint_jwt_shaped(
    client: &ClientSpec,
    now: Timestamp,
    expires_at: Timestamp,
    issuer: &str,
) -> String {
    let mut rng = rand::rng();
    let mut jti = [0u8; 16];
    rng.fill_bytes(&mut jti);
    let mut sig = [0u8; 64];
    rng.fill_bytes(&mut sig);
    let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": "grafx-emulator"});
    let payload = serde_json::json!({
        "iss": issuer,
        "sub": format!("{}@clients", client.id),
        "aud": AUDIENCE,
        "iat": now.as_secs(),
        "exp": expires_at.as_secs(),
        "scope": client.scopes.to_string(),
        "gty": "client-credentials",
        "azp": client.id,
        "jti": URL_SAFE_NO_PAD.encode(jti),
    });
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string()),
        URL_SAFE_NO_PAD.encode(sig)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> ClientSpec {
        ClientSpec::new("c", "s", ClientSpec::read_scopes())
    }

    #[test]
    fn reuses_until_the_window_then_reissues() {
        let settings = Settings {
            token_lifetime_secs: 100,
            reissue_window_secs: 30,
            ..Settings::default()
        };
        let mut issuer = TokenIssuer::default();
        let t0 = Timestamp::from_millis(1_000_000);
        let a = issuer.grant(&client(), t0, &settings, "iss");
        assert_eq!(a.expires_in, 100);
        let b = issuer.grant(
            &client(),
            t0.saturating_add(Duration::from_secs(60)),
            &settings,
            "iss",
        );
        assert_eq!(b.access_token, a.access_token);
        assert_eq!(b.expires_in, 40);
        let c = issuer.grant(
            &client(),
            t0.saturating_add(Duration::from_secs(70)),
            &settings,
            "iss",
        );
        assert_ne!(c.access_token, a.access_token);
        assert_eq!(c.expires_in, 100);
        // The old token is still valid until its own expiry.
        assert!(issuer
            .validate(&a.access_token, t0.saturating_add(Duration::from_secs(99)))
            .is_ok());
        assert_eq!(
            issuer
                .validate(&a.access_token, t0.saturating_add(Duration::from_secs(100)))
                .unwrap_err(),
            TokenRejection::Expired
        );
        assert_eq!(
            issuer.validate("nope", t0).unwrap_err(),
            TokenRejection::Unknown
        );
        assert_eq!(issuer.tokens_issued, 2);
    }

    #[test]
    fn tokens_are_jwt_shaped_and_distinct() {
        let settings = Settings {
            token_lifetime_secs: 10,
            reissue_window_secs: 10,
            ..Settings::default()
        };
        let mut issuer = TokenIssuer::default();
        let t0 = Timestamp::from_millis(0);
        let a = issuer.grant(&client(), t0, &settings, "iss").access_token;
        let b = issuer.grant(&client(), t0, &settings, "iss").access_token;
        assert_ne!(a, b, "inside the window every request gets a new token");
        let parts: Vec<_> = a.split('.').collect();
        assert_eq!(parts.len(), 3);
        let payload: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(payload["aud"], AUDIENCE);
        assert_eq!(payload["exp"], 10);
        assert_eq!(payload["sub"], "c@clients");
    }
}
