//! Session JWTs: HS256 with a shared secret, or RS256/ES256 with a JWKS key; `exp` and `nbf` on
//! the signer's clock with [`CALLER_LEEWAY`], `iss` and `aud` when configured.

use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::{CallerAuth, CallerRefusal, RefusalReason, CALLER_LEEWAY};
use crate::SessionKey;

#[derive(Deserialize)]
struct Claims {
    sub: Option<String>,
    /// Checked on the signer's clock (not by jsonwebtoken, which reads the system's). Kept as
    /// written (`null` included) so that anything but a non-negative number is refused.
    #[serde(default, deserialize_with = "as_written")]
    exp: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "as_written")]
    nbf: Option<serde_json::Value>,
}

/// A claim as written: `Some(Value::Null)` for `null`, `None` only when it is absent.
fn as_written<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(d).map(Some)
}

/// A NumericDate claim: a non-negative number of seconds; `Err` for anything else.
fn numeric_date(claim: Option<&serde_json::Value>) -> Result<Option<f64>, ()> {
    match claim {
        None => Ok(None),
        Some(v) => v.as_f64().filter(|t| *t >= 0.0).map(Some).ok_or(()),
    }
}

impl CallerAuth {
    fn validation(&self, alg: Algorithm) -> Validation {
        let mut v = Validation::new(alg);
        // `exp` and `nbf` are checked in `decode_with`, on the signer's clock.
        v.validate_nbf = false;
        v.validate_exp = false;
        // A configured issuer or audience is a required claim: a session without one (or an OIDC
        // token minted for another app of the same tenant) is refused, not waved through.
        let mut required = vec!["exp"];
        match &self.config.issuer {
            Some(iss) => {
                v.set_issuer(&[iss]);
                required.push("iss");
            }
            None => v.iss = None,
        }
        match &self.config.audience {
            Some(aud) => {
                v.set_audience(&[aud]);
                required.push("aud");
            }
            None => v.validate_aud = false,
        }
        v.set_required_spec_claims(&required);
        v
    }

    fn decode_with(
        &self,
        token: &str,
        key: &DecodingKey,
        alg: Algorithm,
    ) -> Result<Option<String>, CallerRefusal> {
        use jsonwebtoken::errors::ErrorKind;
        match decode::<Claims>(token, key, &self.validation(alg)) {
            Ok(data) => {
                self.check_times(&data.claims)?;
                Ok(data.claims.sub)
            }
            Err(e) => {
                let (reason, what) = match e.kind() {
                    ErrorKind::ExpiredSignature => {
                        (RefusalReason::Expired, "the session has expired")
                    }
                    ErrorKind::ImmatureSignature => (
                        RefusalReason::NotYetValid,
                        "the session is not valid yet (nbf)",
                    ),
                    ErrorKind::InvalidIssuer => (
                        RefusalReason::WrongIssuer,
                        "the session was issued by another issuer (iss)",
                    ),
                    ErrorKind::InvalidAudience => (
                        RefusalReason::WrongAudience,
                        "the session is for another audience (aud)",
                    ),
                    ErrorKind::InvalidSignature => (
                        RefusalReason::InvalidSignature,
                        "the session's signature does not verify",
                    ),
                    ErrorKind::MissingRequiredClaim(claim) => {
                        let what = match claim.as_str() {
                            "iss" => "the session has no issuer (iss), and one is required",
                            "aud" => "the session has no audience (aud), and one is required",
                            _ => "the session has no expiry (exp)",
                        };
                        (RefusalReason::MissingClaim, what)
                    }
                    ErrorKind::InvalidAlgorithm => (
                        RefusalReason::AlgorithmNotAllowed,
                        "the session's algorithm is not the configured one",
                    ),
                    _ => (RefusalReason::Malformed, "the session is not a valid JWT"),
                };
                Err(CallerRefusal::unauthenticated(
                    reason,
                    format!("{what}; sign in again"),
                ))
            }
        }
    }

    /// `exp` (required, checked by the validation) and `nbf`, with [`CALLER_LEEWAY`] either way.
    fn check_times(&self, claims: &Claims) -> Result<(), CallerRefusal> {
        let malformed = |claim: &str| {
            CallerRefusal::unauthenticated(
                RefusalReason::Malformed,
                format!(
                    "the session's `{claim}` is not a date (seconds since 1970); sign in again"
                ),
            )
        };
        let exp = numeric_date(claims.exp.as_ref()).map_err(|()| malformed("exp"))?;
        let nbf = numeric_date(claims.nbf.as_ref()).map_err(|()| malformed("nbf"))?;
        let now = self.clock.now().as_millis() as f64 / 1000.0;
        let leeway = CALLER_LEEWAY.as_secs_f64();
        if exp.is_some_and(|exp| exp + leeway < now) {
            return Err(CallerRefusal::unauthenticated(
                RefusalReason::Expired,
                "the session has expired; sign in again",
            ));
        }
        if nbf.is_some_and(|nbf| nbf - leeway > now) {
            return Err(CallerRefusal::unauthenticated(
                RefusalReason::NotYetValid,
                "the session is not valid yet (nbf); sign in again",
            ));
        }
        Ok(())
    }

    fn header_alg(token: &str) -> Result<jsonwebtoken::Header, CallerRefusal> {
        // `alg: none` (and any algorithm this crate does not know) fails here.
        decode_header(token).map_err(|_| {
            CallerRefusal::unauthenticated(
                RefusalReason::Malformed,
                "the session is not a valid JWT (or uses `alg: none`); sign in again",
            )
        })
    }

    pub(super) fn verify_hs256(
        &self,
        token: &str,
        secret: &SessionKey,
    ) -> Result<Option<String>, CallerRefusal> {
        let header = Self::header_alg(token)?;
        if header.alg != Algorithm::HS256 {
            return Err(CallerRefusal::unauthenticated(
                RefusalReason::AlgorithmNotAllowed,
                format!("sessions must be signed with HS256, not {:?}", header.alg),
            ));
        }
        let key = DecodingKey::from_secret(secret.expose().as_bytes()).map_err(|_| {
            CallerRefusal::unavailable(
                RefusalReason::JwtSecretInvalid,
                "the session secret is not usable",
            )
        })?;
        self.decode_with(token, &key, Algorithm::HS256)
    }

    pub(super) async fn verify_jwks(&self, token: &str) -> Result<Option<String>, CallerRefusal> {
        let header = Self::header_alg(token)?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(CallerRefusal::unauthenticated(
                RefusalReason::AlgorithmNotAllowed,
                format!(
                    "sessions must be signed with RS256 or ES256, not {:?}",
                    header.alg
                ),
            ));
        }
        let kid = header.kid.clone().unwrap_or_default();
        let key = self.jwk(&kid).await?;
        let decoding = DecodingKey::from_jwk(&key).map_err(|_| {
            CallerRefusal::unavailable(
                RefusalReason::JwksInvalid,
                format!("the JWKS key `{kid}` is not usable"),
            )
        })?;
        // The key's own algorithm, when it declares one, must match the token's.
        if let Some(key_alg) = key.common.key_algorithm {
            // A key for an encryption algorithm (`RSA-OAEP`…) converts to no signing algorithm.
            if Algorithm::try_from(key_alg).ok() != Some(header.alg) {
                return Err(CallerRefusal::unauthenticated(
                    RefusalReason::AlgorithmNotAllowed,
                    "the session's algorithm does not match its key",
                ));
            }
        }
        self.decode_with(token, &decoding, header.alg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_dates_are_non_negative_numbers() {
        use serde_json::json;
        assert_eq!(numeric_date(None), Ok(None));
        assert_eq!(
            numeric_date(Some(&json!(1_700_000_000))),
            Ok(Some(1_700_000_000.0))
        );
        assert_eq!(numeric_date(Some(&json!(1.5))), Ok(Some(1.5)));
        for bad in [
            json!(null),
            json!(-1),
            json!("1700000000"),
            json!([1]),
            json!({}),
        ] {
            assert_eq!(numeric_date(Some(&bad)), Err(()), "{bad}");
        }
    }
}
