//! The API proxy's fixtures: the `writer` integration behind a proxy, requests to it, sessions.
#![allow(dead_code, clippy::unwrap_used)]

use grafx_emulator::{Fault, FaultSpec, FaultTarget};
use grafx_signer::ProxyAllowList;
use grafx_signer::{ClientSecret, OriginPolicy, ProxyPolicy, SignerConfig};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::json;

use super::{http, Harness, ORIGIN};

pub const TEMPLATE: &str = "7a1c0e4d-0000-4000-8000-000000000001";
pub const HS_SECRET: &str = "an-app-session-secret-of-at-least-32-bytes";

/// The issue's allow-list, with the document read that goes with its write (grafx-testkit's,
/// shared with the browser suites).
pub const ALLOW: [&str; 8] = grafx_testkit::PROXY_ALLOW;

pub fn proxy_policy() -> ProxyPolicy {
    ProxyPolicy {
        allow: ProxyAllowList::parse(ALLOW).unwrap(),
        allowed_origins: OriginPolicy::parse_list(ORIGIN).unwrap(),
        quotas: Vec::new(),
        max_request_bytes: 4 * 1024 * 1024,
        require_caller: false,
        shared_identity: true,
    }
}

/// Adds `writer` (the emulator's `demo-writer`): server-side, with a proxy shaped by `policy`.
pub fn with_writer(policy: impl FnOnce(&mut ProxyPolicy)) -> impl FnOnce(&mut SignerConfig) {
    move |config: &mut SignerConfig| {
        let reader = config.integrations.values().next().unwrap().clone();
        let mut writer = grafx_signer::Integration {
            name: "writer".into(),
            client_id: "demo-writer".into(),
            client_secret: ClientSecret::new("demo-writer-secret".into()),
            allowed_origins: OriginPolicy::ServerSideOnly,
            proxy: Some(proxy_policy()),
            ..reader
        };
        policy(writer.proxy.as_mut().unwrap());
        config.integrations.insert("writer".into(), writer);
    }
}

impl Harness {
    pub fn api(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        http()
            .request(method, format!("{}/api/writer/{path}", self.url))
            .header("origin", ORIGIN)
            .header("x-csrf", "1")
    }

    /// `POST projects` through the writer's proxy, from the flyer template.
    pub async fn post_project(&self) -> reqwest::Response {
        self.api(reqwest::Method::POST, "projects")
            .json(&serde_json::json!({ "template": { "id": TEMPLATE } }))
            .send()
            .await
            .unwrap()
    }

    pub fn api_requests(&self) -> u64 {
        self.emulator.emulator().stats().api_requests
    }

    /// CHILI's next Environment API reply: 401 with its problem+json.
    pub fn arm_chili_401(&self) {
        let problem = r#"{"type":"about:blank","title":"Unauthorized","status":401}"#;
        self.emulator
            .emulator()
            .arm_fault(FaultSpec {
                target: FaultTarget::Api,
                times: 1,
                fault: Fault::Status {
                    status: 401,
                    body: Some(problem.into()),
                    content_type: Some("application/problem+json".into()),
                    retry_after: None,
                },
            })
            .unwrap();
    }

    /// The writer's token, as the signer holds it.
    pub async fn writer_token(&self) -> String {
        let cache = self.state.cache("writer").unwrap();
        let (t, _) = cache.get().await.unwrap();
        t.access_token.secret().to_owned()
    }
}

/// Neither the token nor an `Authorization` header in anything the browser receives.
pub fn assert_no_token(headers: &reqwest::header::HeaderMap, body: &[u8], token: &str) {
    assert!(!headers.contains_key("authorization"));
    for (name, value) in headers {
        assert!(
            !value
                .as_bytes()
                .windows(token.len())
                .any(|w| w == token.as_bytes()),
            "{name}"
        );
    }
    assert!(!body.windows(token.len()).any(|w| w == token.as_bytes()));
}

/// A session for `sub`, signed with [`HS_SECRET`] for the audience `grafx-signer`.
pub fn session(sub: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    encode(
        &Header::new(Algorithm::HS256),
        &json!({ "sub": sub, "aud": "grafx-signer", "exp": now + 600 }),
        &EncodingKey::from_secret(HS_SECRET.as_bytes()).unwrap(),
    )
    .unwrap()
}

/// Arms CHILI's next API reply as exactly this.
pub fn arm_reply(h: &Harness, status: u16, headers: &[(&str, &str)], body: String, gzip: bool) {
    h.emulator
        .emulator()
        .arm_fault(FaultSpec {
            target: FaultTarget::Api,
            times: 1,
            fault: Fault::Reply {
                status,
                headers: headers
                    .iter()
                    .map(|(n, v)| ((*n).into(), (*v).into()))
                    .collect(),
                body,
                gzip,
            },
        })
        .unwrap();
}
