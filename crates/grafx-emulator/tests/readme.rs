//! The README's "Try it" block, run as a user would (bash and curl) against a running emulator:
//! if the block stops working, this fails.
#![allow(clippy::unwrap_used)]

use grafx_emulator::{start, EmulatorConfig};

/// The first ```` ```sh ```` block after "Try it:" in the README's emulator section.
fn try_it_block() -> String {
    let readme = include_str!("../../../README.md");
    let section = &readme[readme.find("## The emulator").unwrap()..];
    let after = &section[section.find("Try it:").unwrap()..];
    let start = after.find("```sh\n").unwrap() + "```sh\n".len();
    let end = after[start..].find("```").unwrap();
    after[start..start + end].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_try_it_block_lists_the_demo_templates() {
    let em = start(EmulatorConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let block = try_it_block();
    assert!(
        block.contains("localhost:4010") && block.contains("TOKEN="),
        "the block sets the token it uses:\n{block}"
    );
    let script = block.replace("localhost:4010", &em.addr().to_string());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("bash")
            .args(["-euo", "pipefail", "-c", &script])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The last command's output: the template list, which needs a valid bearer.
    let list: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert!(
        !list["data"].as_array().unwrap().is_empty(),
        "a list with templates: {stdout}"
    );
    assert_eq!(
        em.emulator().stats().api_requests,
        1,
        "one authorised API call"
    );
}
