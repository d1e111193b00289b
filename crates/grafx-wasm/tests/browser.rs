//! grafx-wasm in headless Chromium against the real signer and emulator that `cargo xtask test`
//! starts. The test bodies are JavaScript (`client_tests.js`) that use the package the way an app
//! does; each Rust test below runs one of them with a factory for `GraFxClient`.
#![cfg(target_arch = "wasm32")]

use grafx_wasm::GraFxClient;
use js_sys::Function;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen(module = "/tests/client_tests.js")]
extern "C" {
    #[wasm_bindgen(catch)]
    async fn run_test(
        name: &str,
        env: JsValue,
        make: &Function,
        is_error: &Function,
    ) -> Result<JsValue, JsValue>;
}

fn env_url(value: Option<&'static str>, name: &str) -> JsValue {
    match value {
        Some(v) => JsValue::from_str(v),
        None => panic!("{name} is unset: run these tests with `cargo xtask test`"),
    }
}

async fn run(name: &str) {
    let env = js_sys::Object::new();
    let set =
        |k: &str, v: JsValue| js_sys::Reflect::set(&env, &JsValue::from_str(k), &v).map(|_| ());
    let signer = env_url(
        option_env!("GRAFX_TEST_SIGNER_URL"),
        "GRAFX_TEST_SIGNER_URL",
    );
    let emulator = env_url(
        option_env!("GRAFX_TEST_EMULATOR_URL"),
        "GRAFX_TEST_EMULATOR_URL",
    );
    set("signerUrl", signer)
        .and(set("emulatorUrl", emulator))
        .expect("env object");
    let make = Closure::<dyn Fn(JsValue) -> Result<JsValue, JsValue>>::new(|opts| {
        GraFxClient::new(opts).map(JsValue::from)
    })
    .into_js_value();
    let is_error =
        Closure::<dyn Fn(JsValue) -> bool>::new(|v: JsValue| grafx_wasm::is_grafx_error(&v))
            .into_js_value();
    if let Err(e) = run_test(
        name,
        env.into(),
        make.unchecked_ref(),
        is_error.unchecked_ref(),
    )
    .await
    {
        let msg = js_sys::Reflect::get(&e, &"stack".into())
            .ok()
            .and_then(|s| s.as_string())
            .unwrap_or_else(|| format!("{e:?}"));
        panic!("{name} failed: {msg}");
    }
}

macro_rules! js_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[wasm_bindgen_test]
            async fn $name() {
                run(stringify!($name)).await;
            }
        )*
    };
}

js_tests!(
    invalid_options_name_the_option,
    caching_and_the_leeway,
    expiry_after_a_simulated_sleep,
    single_flight,
    cross_tab_two_instances_make_one_request,
    without_cross_tab_each_instance_asks,
    retry_once_after_a_401,
    unauthorized_after_the_retry,
    no_bearer_to_a_foreign_origin,
    abort_and_timeout,
    signer_down,
    forbidden_origin,
    over_scoped_integration,
    upstream_unavailable,
    fault_matrix_in_the_browser,
    caller_cookie_session,
    caller_bearer_session,
    malformed_signer_reply,
    api_errors_carry_problem_details,
    pagination_and_async_iteration,
    previews_follow_the_task_flow_on_the_wire,
    projects_on_the_wire,
    output_render_with_progress,
    output_mistakes_and_expired_downloads,
    failed_output_is_an_api_error,
    studio_adapters,
    a_frozen_peer_does_not_hang_this_tab,
    dispose_stops_work_already_in_flight,
    a_reused_signal_gathers_no_listeners,
    subscriptions,
    auto_refresh_on_wake,
);
