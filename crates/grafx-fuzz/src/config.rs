//! The signer's configuration: a TOML file, and the environment variables clap reads.
//!
//! ```
//! grafx_fuzz::config_toml(b"[integrations.a]\nclient_id = 'x'\nclient_secret = 'y'\nenvironment = 'acme'\nallowed_origins = ['https://a.example']");
//! grafx_fuzz::config_env(b"GRAFX_CLIENT_ID=x\nGRAFX_CLIENT_SECRET=y\nGRAFX_ENVIRONMENT=acme");
//! ```

use std::collections::BTreeMap;
use std::sync::Mutex;

use clap::Parser;
use grafx_signer::{ConfigArgs, ConfigSource, Error};

/// A secret in the inputs that must never come back in an error.
const CANARY: &str = "canary-secret-value";

fn check(result: Result<grafx_signer::SignerConfig, Error>) {
    match result {
        Ok(config) => {
            assert!(config
                .integrations
                .contains_key(&config.default_integration));
            assert!(!format!("{config:?}").contains(CANARY), "a secret in Debug");
        }
        Err(e) => {
            let text = e.to_string();
            assert!(!text.contains(CANARY), "a secret in an error: {text}");
            if let Error::Config { setting, .. } = &e {
                assert!(
                    !setting.name().is_empty(),
                    "an error that names no setting: {text}"
                );
            }
        }
    }
}

/// The values written on `client_secret` lines (at least 8 characters, so that short values
/// that also occur elsewhere in the file do not count).
fn secret_values(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.contains("client_secret") && !l.contains("client_secret_file"))
        .filter_map(|l| {
            l.split_once('=')
                .map(|(_, v)| v.trim().trim_matches(['"', '\'']))
        })
        .filter(|v| v.len() >= 8)
        .map(str::to_owned)
        .collect()
}

/// Parses `data` as the `--config` TOML file: a secret written in it never comes back in an
/// error or in `Debug`.
pub fn config_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let text = text.replace("SECRET", CANARY);
    let secrets = secret_values(&text);
    let source = ConfigSource::new(ConfigArgs::default(), BTreeMap::new());
    let result = source.load_toml("fuzz.toml", &text);
    let shown = match &result {
        Ok(config) => format!("{config:?}"),
        Err(e) => e.to_string(),
    };
    for s in &secrets {
        // A value that also appears on another line (as a name, an origin…) may be shown there.
        let elsewhere = text
            .lines()
            .any(|l| !l.contains("client_secret") && l.contains(s.as_str()));
        if !elsewhere {
            assert!(!shown.contains(s.as_str()), "a secret is shown: {shown}");
        }
    }
    if let Err(Error::Config { setting, .. }) = &result {
        assert!(!setting.name().is_empty(), "an error that names no setting");
    }
}

/// Every variable the signer reads (each flag's `env`), taken from its command line itself, so
/// a new setting is fuzzed without anyone adding it here; except those naming files and
/// directories, which would have the fuzzer read `/dev/zero` or a fifo.
fn variables() -> &'static [String] {
    static VARIABLES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    VARIABLES.get_or_init(|| {
        use clap::CommandFactory;
        Cli::command()
            .get_arguments()
            .filter_map(|a| a.get_env())
            .map(|e| e.to_string_lossy().into_owned())
            .filter(|name| !is_path(name))
            .collect()
    })
}

/// Variables whose value is a path.
fn is_path(name: &str) -> bool {
    name.ends_with("_FILE")
        || name == "SIGNER_CONFIG"
        || name == "SIGNER_STATIC_DIR"
        || name == "SIGNER_DATA_DIR"
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    config: ConfigArgs,
}

/// Parses `data` as `NAME=value` lines: the signer's variables are set in the process
/// environment (one input at a time) and read the way the binary reads them.
pub fn config_env(data: &[u8]) {
    static ENV: Mutex<()> = Mutex::new(());
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut secret = BTreeMap::new();
    let mut set = Vec::new();
    for line in text.lines() {
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        if value.contains('\0') {
            continue;
        }
        if name == "GRAFX_CLIENT_SECRET" {
            secret.insert(name.to_owned(), value.replace("SECRET", CANARY));
        } else if variables().iter().any(|v| v == name) {
            set.push((name, value));
        }
    }
    let _guard = ENV.lock().unwrap_or_else(|p| p.into_inner());
    for name in variables() {
        std::env::remove_var(name);
    }
    for (name, value) in &set {
        std::env::set_var(name, value);
    }
    let parsed = Cli::try_parse_from(["grafx-signer"]);
    for (name, _) in &set {
        std::env::remove_var(name);
    }
    // clap refuses unparsable values with its own message; those never reach the loader.
    if let Ok(cli) = parsed {
        check(ConfigSource::new(cli.config, secret).load());
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_variable_of_the_signer_is_fuzzed() {
        let vars = super::variables();
        for v in [
            "SIGNER_LISTEN",
            "SIGNER_REDIS_URL",
            "SIGNER_CALLER_JWKS_URL",
            "GRAFX_SANDBOX",
        ] {
            assert!(vars.iter().any(|x| x == v), "{v} in {vars:?}");
        }
        // 37 variables, of which 7 name files or directories.
        assert_eq!(vars.len(), 30, "{vars:?}");
        assert!(!vars.iter().any(|v| super::is_path(v)));
    }
}
