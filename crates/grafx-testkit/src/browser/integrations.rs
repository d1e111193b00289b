//! The integrations the browser suites name (`crates/grafx-wasm/tests/client_tests.js` and
//! `browser.rs`), declared once in [`FIXTURE_INTEGRATIONS`]: the stack refuses to start unless
//! it creates exactly these, and this crate's `browser_fixtures` test fails when a suite names
//! another. Each test has its own, so that no cached token or cross-tab peer of one test reaches
//! another.

use std::time::Duration;

use anyhow::{bail, Result};
use grafx_core::EnvironmentApiUrl;
use grafx_emulator::{ClientSpec, Emulator};
use grafx_signer::{
    CallerConfig, CallerMethod, Integration, OriginPolicy, ProxyAllowList, ProxyPolicy, ProxyQuota,
    ProxyRule, SessionKey, SignerConfig,
};

use super::routes::{SESSION_COOKIE, SESSION_ISSUER, SESSION_SECRET};
use crate::{read_only_integration, PROXY_ALLOW};

/// Cold integrations `matrix-0…` for the browser half of the fault matrix.
pub const FAULT_MATRIX_INTEGRATIONS: usize = 16;

/// Every integration the browser suites name, besides `default` and `matrix-N`.
pub const FIXTURE_INTEGRATIONS: &[&str] = &[
    "cold",
    "cross",
    "solo",
    "studio",
    "auto",
    "frozen",
    "disposal",
    "lifetime",
    "timers",
    "failing",
    "locked",
    "writer",
    "rw",
    "studioui",
    "platform",
    "session-cookie",
    "session-bearer",
    "proxied",
    "quota",
];

/// Readers with nothing special, one per test that needs a token of its own.
const PLAIN_READERS: [&str; 10] = [
    "cold", "cross", "solo", "studio", "auto", "frozen", "disposal", "lifetime", "timers",
    "failing",
];

/// Whether `name` is an integration the browser stack creates.
pub fn is_fixture(name: &str) -> bool {
    name == "default"
        || FIXTURE_INTEGRATIONS.contains(&name)
        || name
            .strip_prefix("matrix-")
            .and_then(|n| n.parse::<usize>().ok())
            .is_some_and(|n| n < FAULT_MATRIX_INTEGRATIONS)
}

/// The signer configuration the browser suites run against, for a page on `page_origin`: every
/// fixture integration, quick upstream failures (2 s, no retries) and no refresh spacing.
pub fn fixture_config(em: &Emulator, page_origin: &str) -> Result<SignerConfig> {
    let mut config = SignerConfig::single(read_only_integration(
        em,
        "default",
        "demo-reader",
        page_origin,
    )?);
    let mut add = |i: Integration| config.integrations.insert(i.name.clone(), i);
    for name in PLAIN_READERS {
        add(read_only_integration(em, name, "demo-reader", page_origin)?);
    }
    for i in special_integrations(em, page_origin)? {
        add(i);
    }
    for i in fault_matrix(em, page_origin)? {
        add(i);
    }
    for i in sessions(em, page_origin)? {
        add(i);
    }
    for i in proxied(em, page_origin)? {
        add(i);
    }
    check_declared(&config)?;
    config.upstream_timeout = Duration::from_secs(2);
    config.upstream_retries = 0;
    config.min_refresh_interval = Duration::ZERO;
    Ok(config)
}

/// The integrations with one thing of their own: another origin, writes, CHILI's API name, the
/// Platform API elsewhere.
fn special_integrations(em: &Emulator, page_origin: &str) -> Result<Vec<Integration>> {
    // The Platform API on another origin than the Environment API (localhost vs 127.0.0.1):
    // the bearer may go to both, and only to them.
    let platform = em.base_url().replace("127.0.0.1", "localhost");
    Ok(vec![
        read_only_integration(em, "locked", "demo-reader", "https://elsewhere.example")?,
        read_only_integration(em, "writer", "demo-writer", page_origin)?,
        // A browser-facing integration that may write (no scope policy), for the project
        // helpers' wire tests.
        Integration {
            browser_scopes: None,
            ..read_only_integration(em, "rw", "demo-writer", page_origin)?
        },
        // An Environment API named like CHILI's, as studio-ui demands: for the loader-config
        // test, which needs only the token.
        Integration {
            environment_api_url: EnvironmentApiUrl::parse(
                "https://demo.chili-publish.online/grafx/api/v1/environment/demo/",
            )?,
            ..read_only_integration(em, "studioui", "demo-reader", page_origin)?
        },
        Integration {
            platform_api_url: EnvironmentApiUrl::parse(&platform)?,
            ..read_only_integration(em, "platform", "demo-reader", page_origin)?
        },
    ])
}

/// The fault matrix: one cold integration per fault, on a client of its own so that revoking its
/// credentials touches no other suite.
fn fault_matrix(em: &Emulator, page_origin: &str) -> Result<Vec<Integration>> {
    em.upsert_client(ClientSpec::new(
        "matrix-reader",
        "matrix-reader-secret",
        ClientSpec::read_scopes(),
    ));
    let matrix = (0..FAULT_MATRIX_INTEGRATIONS)
        .map(|i| read_only_integration(em, &format!("matrix-{i}"), "matrix-reader", page_origin))
        .collect::<Result<_, _>>()?;
    Ok(matrix)
}

/// Caller authentication end to end: a cookie session and a bearer session, both HS256 JWTs
/// minted by `/_test/login` (the app's login, in a real deployment).
fn sessions(em: &Emulator, page_origin: &str) -> Result<Vec<Integration>> {
    let session = CallerMethod::JwtSecret(SessionKey::new(SESSION_SECRET.into()));
    [
        ("session-cookie", Some(SESSION_COOKIE)),
        ("session-bearer", None),
    ]
    .into_iter()
    .map(|(name, cookie)| {
        let mut caller = CallerConfig::new(session.clone()).with_issuer(SESSION_ISSUER);
        if let Some(c) = cookie {
            caller = caller.with_cookie(c);
        }
        Ok(Integration {
            caller: Some(caller),
            ..read_only_integration(em, name, "demo-reader", page_origin)?
        })
    })
    .collect()
}

/// The API proxy: `demo-writer` server-side, reachable only through `/api/{name}/…`: `proxied`
/// with [`PROXY_ALLOW`], `quota` allowing one render an hour.
fn proxied(em: &Emulator, page_origin: &str) -> Result<Vec<Integration>> {
    let proxy = |allow: &[&str], quota: Option<&str>| -> Result<ProxyPolicy> {
        Ok(ProxyPolicy {
            allow: ProxyAllowList::parse(allow.iter().copied())?,
            allowed_origins: OriginPolicy::parse_list(page_origin)?,
            quotas: quota
                .map(|rule| {
                    anyhow::Ok(ProxyQuota {
                        rule: ProxyRule::parse(rule)?,
                        per_hour: std::num::NonZeroU32::MIN,
                    })
                })
                .transpose()?
                .into_iter()
                .collect(),
            max_request_bytes: grafx_signer::DEFAULT_PROXY_MAX_REQUEST_BYTES,
            require_caller: false,
            shared_identity: true,
        })
    };
    let server_side = |name: &str, policy: ProxyPolicy| Integration {
        proxy: Some(policy),
        ..crate::emulator_integration(em, name, "demo-writer", None)
    };
    Ok(vec![
        server_side("proxied", proxy(&PROXY_ALLOW, None)?),
        server_side(
            "quota",
            proxy(
                &["GET output/settings", "POST output/*"],
                Some("POST output/*"),
            )?,
        ),
    ])
}

/// The declaration is the contract with the suites: exactly these, no more, no fewer.
fn check_declared(config: &SignerConfig) -> Result<()> {
    if let Some(extra) = config.integrations.keys().find(|n| !is_fixture(n)) {
        bail!("integration `{extra}` is not in FIXTURE_INTEGRATIONS");
    }
    if let Some(missing) = FIXTURE_INTEGRATIONS
        .iter()
        .find(|n| !config.integrations.contains_key(**n))
    {
        bail!("FIXTURE_INTEGRATIONS names `{missing}`, which the stack does not create");
    }
    Ok(())
}
