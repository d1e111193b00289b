//! A page on one origin calls the emulator's Environment API on another, with a bearer token, the
//! way grafx-wasm and the Studio editor do. Chromium enforces CORS for real here.
#![cfg(target_arch = "wasm32")]
// clippy's allow-unwrap-in-tests does not recognise #[wasm_bindgen_test] functions as tests.
#![allow(clippy::unwrap_used)]

use grafx_core::EnvironmentApiUrl;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;
use web_sys::{Request, RequestInit, RequestMode, Response};

wasm_bindgen_test_configure!(run_in_browser);

fn api_url() -> EnvironmentApiUrl {
    let url = match option_env!("GRAFX_EMULATOR_API_URL") {
        Some(v) => v,
        None => panic!("GRAFX_EMULATOR_API_URL is unset: run these tests with `cargo xtask test`"),
    };
    EnvironmentApiUrl::parse(url).expect("valid emulator URL")
}

fn token() -> &'static str {
    match option_env!("GRAFX_EMULATOR_TOKEN") {
        Some(v) => v,
        None => panic!("GRAFX_EMULATOR_TOKEN is unset: run these tests with `cargo xtask test`"),
    }
}

async fn fetch(
    url: &str,
    method: &str,
    bearer: Option<&str>,
) -> Result<Response, wasm_bindgen::JsValue> {
    let init = RequestInit::new();
    init.set_method(method);
    init.set_mode(RequestMode::Cors);
    let req = Request::new_with_str_and_init(url, &init)?;
    if let Some(t) = bearer {
        req.headers().set("Authorization", &format!("Bearer {t}"))?;
    }
    let window = web_sys::window().expect("a window");
    let res = JsFuture::from(window.fetch_with_request(&req)).await?;
    Ok(res.unchecked_into())
}

async fn json(res: &Response) -> serde_json::Value {
    let text = JsFuture::from(res.text().unwrap())
        .await
        .unwrap()
        .as_string()
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

#[wasm_bindgen_test]
async fn the_page_is_on_another_origin() {
    let page = web_sys::window().unwrap().location().origin().unwrap();
    assert_ne!(
        page,
        api_url().origin(),
        "the test must cross origins to exercise CORS"
    );
}

#[wasm_bindgen_test]
async fn a_bearer_call_crosses_origins() {
    let url = api_url().join("templates?limit=3").unwrap();
    let res = fetch(&url, "GET", Some(token()))
        .await
        .expect("CORS must allow the bearer call");
    assert_eq!(res.status(), 200);
    let body = json(&res).await;
    assert_eq!(body["pageSize"], 3);
    assert_eq!(body["total"], 9);
    assert!(body["links"]["nextPage"]
        .as_str()
        .unwrap()
        .starts_with(api_url().as_str()));
}

#[wasm_bindgen_test]
async fn a_401_and_its_challenge_are_readable_cross_origin() {
    let url = api_url().join("templates").unwrap();
    let res = fetch(&url, "GET", Some("not-a-valid-token"))
        .await
        .expect("the 401 reply carries CORS headers");
    assert_eq!(res.status(), 401);
    let challenge = res
        .headers()
        .get("www-authenticate")
        .unwrap()
        .expect("WWW-Authenticate is exposed to JS");
    assert!(challenge.contains("invalid_token"), "{challenge}");
    assert_eq!(json(&res).await["status"], 401);
}

#[wasm_bindgen_test]
async fn binary_previews_load_cross_origin() {
    let url = api_url().join("media").unwrap();
    let list = json(&fetch(&url, "GET", Some(token())).await.unwrap()).await;
    let id = list["data"][0]["id"].as_str().unwrap().to_owned();
    let res = fetch(
        &api_url()
            .join(&format!("media/{id}/preview/thumbnail"))
            .unwrap(),
        "GET",
        Some(token()),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    let buf = JsFuture::from(res.array_buffer().unwrap()).await.unwrap();
    let bytes = js_sys::Uint8Array::new(&buf).to_vec();
    assert_eq!(&bytes[..4], b"\x89PNG");
}

#[wasm_bindgen_test]
async fn the_token_endpoint_is_not_open_to_browsers() {
    // Client-credentials secrets belong on servers: the auth server sends no CORS headers, so a
    // page cannot read its replies. grafx-signer exists because of this.
    let url = format!("{}/oauth/token", api_url().origin());
    // The same server is up and readable through its CORS-enabled API...
    let api = fetch(&api_url().join("templates").unwrap(), "GET", None).await;
    assert_eq!(
        api.expect("the emulator must be up for this test to mean anything")
            .status(),
        401
    );
    // ...but the page may not read the token endpoint's reply.
    let res = fetch(&url, "POST", None).await;
    assert!(
        res.is_err(),
        "a cross-origin read of /oauth/token must be blocked by CORS"
    );
}
