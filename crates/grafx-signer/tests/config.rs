//! Loading configuration: flags and environment for one integration, TOML for several, and a
//! clear error naming the field for every mistake.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use grafx_signer::{ConfigArgs, ConfigSource, Error, OriginPolicy, Setting};

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "grafx-signer-config-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn single() -> ConfigArgs {
    ConfigArgs {
        client_id: Some("shop".into()),
        environment: Some("acme".into()),
        allowed_origins: Some("https://app.example.com".into()),
        ..ConfigArgs::default()
    }
}

fn env_secret() -> BTreeMap<String, String> {
    BTreeMap::from([("GRAFX_CLIENT_SECRET".to_owned(), "s3cret".to_owned())])
}

fn field_of(e: Error) -> String {
    match e {
        Error::Config { setting, .. } => setting.name().to_owned(),
        other => panic!("expected a config error, got {other}"),
    }
}

#[test]
fn single_integration_from_flags_and_environment() {
    let c = ConfigSource::new(single(), env_secret()).load().unwrap();
    let i = &c.integrations["default"];
    assert_eq!(c.default_integration, "default");
    assert_eq!(
        i.environment_api_url.as_str(),
        "https://acme.chili-publish.online/grafx/api/v1/environment/acme/"
    );
    assert_eq!(
        i.auth_url.as_str(),
        "https://integration-login.chiligrafx.com/oauth/token"
    );
    assert_eq!(i.audience, "https://chiligrafx.com");
    assert_eq!(i.browser_scopes, None);
    assert_eq!(c.listen.to_string(), "127.0.0.1:8787");
    // GRAFX_SANDBOX=true builds the sandbox host; SIGNER_BROWSER_SCOPES=read-only the policy.
    let sandbox = ConfigArgs {
        sandbox: true,
        browser_scopes: Some("read-only".into()),
        ..single()
    };
    let c = ConfigSource::new(sandbox, env_secret()).load().unwrap();
    let i = &c.integrations["default"];
    assert_eq!(
        i.environment_api_url.as_str(),
        "https://acme.chili-publish-sandbox.online/grafx/api/v1/environment/acme/"
    );
    assert_eq!(
        i.browser_scopes,
        Some(grafx_signer::BrowserScopes::ReadOnly)
    );
    assert_eq!(c.leeway.as_secs(), 300);
    assert!(i.allowed_origins.allows("https://app.example.com"));
    assert!(
        !format!("{c:?}").contains("s3cret"),
        "Debug never prints the secret"
    );
}

#[test]
fn every_missing_or_bad_field_is_named() {
    let cases: Vec<(ConfigArgs, BTreeMap<String, String>, &str)> = vec![
        (
            ConfigArgs {
                client_id: None,
                ..single()
            },
            env_secret(),
            "GRAFX_CLIENT_ID",
        ),
        (single(), BTreeMap::new(), "GRAFX_CLIENT_SECRET"),
        (
            ConfigArgs {
                environment: None,
                ..single()
            },
            env_secret(),
            "GRAFX_ENVIRONMENT",
        ),
        (
            ConfigArgs {
                environment: Some("bad name".into()),
                ..single()
            },
            env_secret(),
            "GRAFX_ENVIRONMENT",
        ),
        (
            ConfigArgs {
                environment_api_url: Some("http://api.example.com".into()),
                ..single()
            },
            env_secret(),
            "GRAFX_ENVIRONMENT_API_URL",
        ),
        (
            ConfigArgs {
                auth_url: Some("http://login.example.com/oauth/token".into()),
                ..single()
            },
            env_secret(),
            "GRAFX_AUTH_URL",
        ),
        // Plain http only for loopback addresses, decided on the address: this is a domain.
        (
            ConfigArgs {
                auth_url: Some("http://127.evil.example/oauth/token".into()),
                ..single()
            },
            env_secret(),
            "GRAFX_AUTH_URL",
        ),
        (
            ConfigArgs {
                platform_api_url: Some("http://api.example.com".into()),
                ..single()
            },
            env_secret(),
            "GRAFX_PLATFORM_API_URL",
        ),
        (
            ConfigArgs {
                browser_scopes: Some("readonly".into()),
                ..single()
            },
            env_secret(),
            "SIGNER_BROWSER_SCOPES",
        ),
        (
            ConfigArgs {
                browser_scopes: Some(String::new()),
                ..single()
            },
            env_secret(),
            "SIGNER_BROWSER_SCOPES",
        ),
        (
            ConfigArgs {
                sandbox: true,
                environment_api_url: Some("https://x.example/grafx/api/v1/environment/x".into()),
                ..single()
            },
            env_secret(),
            "GRAFX_SANDBOX",
        ),
        (
            ConfigArgs {
                allowed_origins: None,
                ..single()
            },
            env_secret(),
            "SIGNER_ALLOWED_ORIGINS",
        ),
        (
            ConfigArgs {
                allowed_origins: Some("*".into()),
                ..single()
            },
            env_secret(),
            "SIGNER_ALLOWED_ORIGINS",
        ),
        (
            ConfigArgs {
                allowed_origins: Some("app.example.com".into()),
                ..single()
            },
            env_secret(),
            "SIGNER_ALLOWED_ORIGINS",
        ),
        (
            ConfigArgs {
                leeway_secs: Some(3600),
                ..single()
            },
            env_secret(),
            "SIGNER_LEEWAY_SECS",
        ),
        (
            ConfigArgs {
                upstream_timeout_secs: Some(0),
                ..single()
            },
            env_secret(),
            "SIGNER_UPSTREAM_TIMEOUT_SECS",
        ),
        (
            ConfigArgs {
                static_dir: Some("/definitely/not/here".into()),
                ..single()
            },
            env_secret(),
            "SIGNER_STATIC_DIR",
        ),
        (
            ConfigArgs {
                client_secret_file: Some("/definitely/not/here".into()),
                ..single()
            },
            BTreeMap::new(),
            "GRAFX_CLIENT_SECRET_FILE",
        ),
    ];
    for (args, env, field) in cases {
        let err = ConfigSource::new(args, env).load().unwrap_err();
        let msg = err.to_string();
        assert_eq!(field_of(err), field, "{msg}");
        assert!(!msg.contains("s3cret"), "{msg}");
    }
}

#[test]
fn wildcard_only_with_the_development_flag() {
    let args = ConfigArgs {
        allowed_origins: None,
        dev_allow_any_origin: true,
        ..single()
    };
    let c = ConfigSource::new(args, env_secret()).load().unwrap();
    assert_eq!(
        c.integrations["default"].allowed_origins,
        OriginPolicy::AnyForDevelopment
    );
    // A server-side integration (`allowed_origins = []`) stays closed under the flag.
    let args = ConfigArgs {
        config: Some(toml_file(TOML)),
        dev_allow_any_origin: true,
        ..ConfigArgs::default()
    };
    let c = ConfigSource::new(args, BTreeMap::new()).load().unwrap();
    assert_eq!(
        c.integrations["writer"].allowed_origins,
        OriginPolicy::ServerSideOnly
    );
    assert_eq!(
        c.integrations["reader"].allowed_origins,
        OriginPolicy::AnyForDevelopment
    );
}

#[test]
fn secret_from_a_file_is_trimmed() {
    let d = dir();
    std::fs::write(d.join("secret"), "from-file\n").unwrap();
    let args = ConfigArgs {
        client_secret_file: Some(d.join("secret")),
        ..single()
    };
    assert!(ConfigSource::new(args.clone(), BTreeMap::new())
        .load()
        .is_ok());
    std::fs::write(d.join("secret"), "  \n").unwrap();
    assert_eq!(
        field_of(ConfigSource::new(args, BTreeMap::new()).load().unwrap_err()),
        "GRAFX_CLIENT_SECRET_FILE"
    );
}

const TOML: &str = r#"
listen = "127.0.0.1:9999"
default_integration = "reader"
allowed_origins = ["https://app.example.com"]
leeway_secs = 120

[integrations.reader]
client_id = "r"
client_secret_file = "SECRET_FILE"
environment = "acme"
browser_scopes = ["template:read", "media:read"]

[integrations.writer]
client_id = "w"
client_secret = "inline-secret"
environment = "acme"
environment_api_url = "https://acme.chili-publish-sandbox.online/grafx/api/v1/environment/acme"
allowed_origins = []

[integrations.sandboxed]
client_id = "s"
client_secret = "sandbox-secret"
environment = "trial"
sandbox = true
browser_scopes = "read-only"
platform_api_url = "https://platform.example.com"
"#;

fn toml_file(text: &str) -> PathBuf {
    let d = dir();
    std::fs::write(d.join("reader-secret"), "reader-secret").unwrap();
    let text = text.replace(
        "SECRET_FILE",
        &d.join("reader-secret").display().to_string(),
    );
    std::fs::write(d.join("signer.toml"), text).unwrap();
    d.join("signer.toml")
}

#[test]
fn several_integrations_from_toml() {
    let args = ConfigArgs {
        config: Some(toml_file(TOML)),
        ..ConfigArgs::default()
    };
    let c = ConfigSource::new(args, BTreeMap::new()).load().unwrap();
    assert_eq!(c.default_integration, "reader");
    assert_eq!(c.listen.to_string(), "127.0.0.1:9999");
    assert_eq!(c.leeway.as_secs(), 120);
    let reader = &c.integrations["reader"];
    assert!(reader.allowed_origins.allows("https://app.example.com"));
    assert_eq!(
        reader.browser_scopes.as_ref().unwrap().to_string(),
        "media:read template:read"
    );
    let writer = &c.integrations["writer"];
    assert!(
        writer.allowed_origins == OriginPolicy::ServerSideOnly,
        "an empty list keeps it server-side"
    );
    assert_eq!(
        writer.environment_api_url.as_str(),
        "https://acme.chili-publish-sandbox.online/grafx/api/v1/environment/acme/"
    );
    assert_eq!(
        writer.platform_api_url.as_str(),
        "https://api.chiligrafx.com/"
    );
    let sandboxed = &c.integrations["sandboxed"];
    assert_eq!(
        sandboxed.environment_api_url.as_str(),
        "https://trial.chili-publish-sandbox.online/grafx/api/v1/environment/trial/"
    );
    assert_eq!(
        sandboxed.browser_scopes,
        Some(grafx_signer::BrowserScopes::ReadOnly)
    );
    assert_eq!(
        sandboxed.platform_api_url.as_str(),
        "https://platform.example.com/"
    );
    // Flags override the file.
    let args = ConfigArgs {
        config: Some(toml_file(TOML)),
        leeway_secs: Some(60),
        ..ConfigArgs::default()
    };
    assert_eq!(
        ConfigSource::new(args, BTreeMap::new())
            .load()
            .unwrap()
            .leeway
            .as_secs(),
        60
    );
}

#[test]
fn toml_mistakes_are_named() {
    let load = |text: &str| {
        let args = ConfigArgs {
            config: Some(toml_file(text)),
            ..ConfigArgs::default()
        };
        ConfigSource::new(args, BTreeMap::new()).load().unwrap_err()
    };
    let e = load(&TOML.replace("\"read-only\"", "\"readonly\""));
    assert_eq!(field_of(e), "integrations.sandboxed.browser_scopes");
    let e = load(&TOML.replace("https://platform.example.com", "ftp://x"));
    assert_eq!(field_of(e), "integrations.sandboxed.platform_api_url");
    let e = load(&TOML.replace("leeway_secs", "leeway_seconds")).to_string();
    assert!(e.contains("leeway_seconds"), "{e}");
    let e = load(&TOML.replace("client_secret = \"inline-secret\"\n", ""));
    assert_eq!(field_of(e), "integrations.writer.client_secret_file");
    let e = load(&TOML.replace(
        "default_integration = \"reader\"",
        "default_integration = \"nobody\"",
    ));
    assert_eq!(field_of(e), "default_integration");
    let e = load(&TOML.replace(
        "environment = \"acme\"\nbrowser",
        "environment = \"a b\"\nbrowser",
    ));
    assert_eq!(field_of(e), "integrations.reader.environment");
    let e = load("this is not toml").to_string();
    assert!(e.contains("signer.toml"), "{e}");
    let args = ConfigArgs {
        config: Some(toml_file(TOML)),
        client_id: Some("x".into()),
        ..ConfigArgs::default()
    };
    assert_eq!(
        field_of(ConfigSource::new(args, BTreeMap::new()).load().unwrap_err()),
        "GRAFX_CLIENT_ID"
    );
}

#[test]
fn a_flag_the_tables_inherit_is_named_as_the_flag() {
    for (args, key) in [
        (
            ConfigArgs {
                auth_url: Some("ftp://login.example".into()),
                ..ConfigArgs::default()
            },
            "GRAFX_AUTH_URL",
        ),
        (
            ConfigArgs {
                platform_api_url: Some("not a url".into()),
                ..ConfigArgs::default()
            },
            "GRAFX_PLATFORM_API_URL",
        ),
    ] {
        let args = ConfigArgs {
            config: Some(toml_file(TOML)),
            ..args
        };
        let e = ConfigSource::new(args, BTreeMap::new()).load().unwrap_err();
        assert_eq!(field_of(e), key);
    }
}

#[test]
fn caller_authentication_globally_and_per_integration_in_toml() {
    let text = r#"
allowed_origins = ["https://app.example.com"]

[caller]
jwks_url = "https://login.example.com/.well-known/jwks.json"
issuer = "https://login.example.com/"
audience = "https://api.example.com"
cookie = "session"

[integrations.reader]
client_id = "r"
client_secret_file = "SECRET_FILE"
environment = "acme"

[integrations.partner]
client_id = "p"
client_secret_file = "SECRET_FILE"
environment = "acme"

[integrations.partner.caller]
forward_auth_url = "http://auth.internal:4180/oauth2/auth"
cache_secs = 5
"#;
    let args = ConfigArgs {
        config: Some(toml_file(text)),
        ..ConfigArgs::default()
    };
    let c = ConfigSource::new(args, BTreeMap::new()).load().unwrap();
    let reader = c.integrations["reader"].caller.as_ref().unwrap();
    assert!(matches!(reader.method, grafx_signer::CallerMethod::Jwks(_)));
    assert_eq!(reader.cookie.as_deref(), Some("session"));
    assert_eq!(reader.issuer.as_deref(), Some("https://login.example.com/"));
    let partner = c.integrations["partner"].caller.as_ref().unwrap();
    match &partner.method {
        grafx_signer::CallerMethod::ForwardAuth {
            cache_for,
            user_header,
            ..
        } => {
            assert_eq!(cache_for.as_secs(), 5);
            assert_eq!(user_header.as_deref(), Some("x-auth-request-user"));
        }
        other => panic!("forward auth expected, got {other:?}"),
    }
    // A typo in the caller table is named.
    let args = ConfigArgs {
        config: Some(toml_file(&text.replace("cache_secs", "cache_sec"))),
        ..ConfigArgs::default()
    };
    let e = ConfigSource::new(args, BTreeMap::new())
        .load()
        .unwrap_err()
        .to_string();
    assert!(e.contains("cache_sec"), "{e}");
}

#[test]
fn a_setting_is_named_the_way_it_was_given() {
    let setting_of = |e: Error| match e {
        Error::Config { setting, .. } => setting,
        other => panic!("expected a config error, got {other}"),
    };
    let from_file = |text: &str, args: ConfigArgs| {
        let args = ConfigArgs {
            config: Some(toml_file(text)),
            ..args
        };
        setting_of(ConfigSource::new(args, BTreeMap::new()).load().unwrap_err())
    };
    // The same check, given in the file and then by the flag (or its variable).
    assert_eq!(
        from_file(
            &TOML.replace("leeway_secs = 120", "leeway_secs = 7200"),
            ConfigArgs::default()
        ),
        Setting::Toml("leeway_secs".into())
    );
    assert_eq!(
        from_file(
            TOML,
            ConfigArgs {
                leeway_secs: Some(7200),
                ..ConfigArgs::default()
            }
        ),
        Setting::Env("SIGNER_LEEWAY_SECS".into())
    );
    let star = TOML.replace(
        r#"allowed_origins = ["https://app.example.com"]"#,
        r#"allowed_origins = ["*"]"#,
    );
    assert_eq!(
        from_file(&star, ConfigArgs::default()),
        Setting::Toml("allowed_origins".into())
    );
    assert_eq!(
        from_file(
            TOML,
            ConfigArgs {
                allowed_origins: Some("*".into()),
                ..ConfigArgs::default()
            }
        ),
        Setting::Env("SIGNER_ALLOWED_ORIGINS".into())
    );
    // The Redis key file, bad in the file's setting and in the variable's.
    let bad_key = dir().join("bad.key");
    std::fs::write(&bad_key, "not a key").unwrap();
    let with_redis = format!(
        "redis_url = \"redis://127.0.0.1:1/\"\nredis_key_file = \"{}\"\n{TOML}",
        bad_key.display()
    );
    let e = from_file(&with_redis, ConfigArgs::default());
    assert_eq!(e, Setting::Toml("redis_key_file".into()));
    assert_eq!(e.to_string(), "`redis_key_file` in the config file");
    let e = from_file(
        TOML,
        ConfigArgs {
            redis_url: Some("redis://127.0.0.1:1/".parse().unwrap()),
            redis_key_file: Some(bad_key.clone()),
            ..ConfigArgs::default()
        },
    );
    assert_eq!(e, Setting::Env("SIGNER_REDIS_KEY_FILE".into()));
    assert_eq!(e.to_string(), "SIGNER_REDIS_KEY_FILE (or its flag)");
    // A caller setting inside an integration's table.
    let caller = format!(
        "{TOML}\n[integrations.reader.caller]\njwks_url = \"ftp://keys\"\naudience = \"a\"\n"
    );
    assert_eq!(
        from_file(&caller, ConfigArgs::default()),
        Setting::Toml("integrations.reader.caller.jwks_url".into())
    );
}

const PROXY_TOML: &str = r#"
allowed_origins = ["https://app.example.com"]

[integrations.reader]
client_id = "r"
client_secret = "reader-secret"
environment = "acme"

[integrations.writer]
client_id = "w"
client_secret = "writer-secret"
environment = "acme"

[integrations.writer.proxy]
allow = ["POST projects", "GET output/tasks/*", "GET media/**"]
quotas = [{ rule = "POST output/*", per_hour = 20 }]
max_request_bytes = 1000000
require_caller = false
shared_identity = true
"#;

#[test]
fn an_api_proxy_from_toml() {
    let load = |text: &str| {
        let args = ConfigArgs {
            config: Some(toml_file(text)),
            ..ConfigArgs::default()
        };
        ConfigSource::new(args, BTreeMap::new()).load()
    };
    let c = load(PROXY_TOML).unwrap();
    let writer = &c.integrations["writer"];
    assert_eq!(
        writer.allowed_origins,
        OriginPolicy::ServerSideOnly,
        "an integration with a proxy never hands its token to a browser"
    );
    let proxy = writer.proxy.as_ref().unwrap();
    assert!(
        proxy.allowed_origins.allows("https://app.example.com"),
        "the global origins"
    );
    assert_eq!(proxy.allow.rules().len(), 3);
    assert_eq!(proxy.quotas[0].per_hour.get(), 20);
    assert_eq!(proxy.max_request_bytes, 1_000_000);
    assert!(!proxy.require_caller);
    assert!(c.integrations["reader"].proxy.is_none());
    assert!(proxy.shared_identity);
    // Said at start and after every reload.
    let warnings = c.warnings();
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    assert!(
        warnings[0].contains("`writer`") && warnings[0].contains("require_caller = false"),
        "{warnings:?}"
    );
    assert!(
        warnings[1].contains("`writer`") && warnings[1].contains("shared_identity = true"),
        "{warnings:?}"
    );
    // The reader hands browsers a token that may carry output:* (no browser_scopes list).
    assert!(
        warnings[2].contains("`reader`") && warnings[2].contains("can start renders"),
        "{warnings:?}"
    );
    // Its own origins; with caller authentication the session is required by default.
    let own = PROXY_TOML
        .replace(
            "max_request_bytes = 1000000",
            "allowed_origins = [\"https://editor.example.com\"]",
        )
        .replace("require_caller = false\n", "")
        .replace("shared_identity = true\n", "")
        + "[integrations.writer.caller]\njwks_url = \"https://login.example.com/jwks.json\"\naudience = \"app\"\n";
    // Keeping owners apart needs somewhere durable to record them.
    let e = load(&own).unwrap_err();
    let text = e.to_string();
    assert_eq!(field_of(e), "data_dir", "{text}");
    assert!(text.contains("SIGNER_REDIS_URL"), "{text}");
    let own = format!("data_dir = \"/tmp/grafx-signer-config-test\"\n{own}");
    let c = load(&own).unwrap();
    assert_eq!(
        c.data_dir.as_deref(),
        Some(std::path::Path::new("/tmp/grafx-signer-config-test"))
    );
    let proxy = c.integrations["writer"].proxy.clone().unwrap();
    assert!(proxy.allowed_origins.allows("https://editor.example.com"));
    assert!(!proxy.allowed_origins.allows("https://app.example.com"));
    assert_eq!(
        proxy.max_request_bytes,
        grafx_signer::DEFAULT_PROXY_MAX_REQUEST_BYTES
    );
    assert!(proxy.require_caller);
    assert!(
        !proxy.shared_identity,
        "each signed-in user's projects are theirs"
    );
    assert!(proxy.keeps_owners());
    assert_eq!(
        c.warnings().len(),
        1,
        "only the reader's renders: {:?}",
        c.warnings()
    );
    // A browser_scopes list without output:* refuses such tokens: nothing to say.
    let scoped = |scopes: &str| {
        own.replace(
            "[integrations.reader]\n",
            &format!("[integrations.reader]\nbrowser_scopes = {scopes}\n"),
        )
    };
    let listed = scoped("[\"template:read\", \"template:list\"]");
    assert!(load(&listed).unwrap().warnings().is_empty());
    let read_only = scoped("\"read-only\"");
    assert_eq!(
        load(&read_only).unwrap().warnings().len(),
        1,
        "read-only lets output:* through"
    );

    // Mistakes, each named by its key.
    for (from, to, key, says) in [
        ("\"POST projects\"", "\"projects\"", "integrations.writer.proxy.allow", "not a proxy rule"),
        ("\"POST projects\"", "\"GET ../templates\"", "integrations.writer.proxy.allow", "`..`"),
        ("allow = [\"POST projects\", \"GET output/tasks/*\", \"GET media/**\"]", "allow = []", "integrations.writer.proxy.allow", "is empty"),
        ("per_hour = 20", "per_hour = 0", "integrations.writer.proxy.quotas", "at least 1"),
        ("require_caller = false", "require_caller = true", "integrations.writer.proxy.require_caller", "no caller authentication"),
        ("require_caller = false", "", "integrations.writer.proxy.require_caller", "anyone who forges an Origin"),
        ("shared_identity = true", "", "integrations.writer.proxy.shared_identity", "same CHILI user"),
        ("[integrations.writer]\nclient_id = \"w\"", "[integrations.writer]\nclient_id = \"r\"", "integrations.reader.client_id", "same token for browsers"),
        ("environment = \"acme\"\n\n[integrations.writer.proxy]", "environment = \"acme\"\nallowed_origins = [\"https://app.example.com\"]\n\n[integrations.writer.proxy]", "integrations.writer.allowed_origins", "proxy.allowed_origins"),
    ] {
        assert!(PROXY_TOML.contains(from), "{from}");
        let e = load(&PROXY_TOML.replace(from, to)).unwrap_err();
        let text = e.to_string();
        assert_eq!(field_of(e), key, "{text}");
        assert!(text.contains(says), "{text}");
    }
    // No origins anywhere: the proxy has no pages to serve.
    let e = load(&PROXY_TOML.replace("allowed_origins = [\"https://app.example.com\"]\n", ""))
        .unwrap_err();
    assert!(e.to_string().contains("allowed_origins"), "{e}");
    let e = load(&PROXY_TOML.replace("max_request_bytes", "max_body")).unwrap_err();
    assert!(e.to_string().contains("max_body"), "{e}");

    // A browser twin of the proxied client is refused however its auth server is spelled.
    let twin = PROXY_TOML
        .replace(
            "client_id = \"r\"",
            "client_id = \"w\"\nauth_url = \"http://localhost:9/oauth/token\"",
        )
        .replace(
            "client_secret = \"writer-secret\"",
            "client_secret = \"writer-secret\"\nauth_url = \"http://127.0.0.1:9/oauth/token\"",
        );
    let e = load(&twin).unwrap_err();
    let text = e.to_string();
    assert_eq!(field_of(e), "integrations.reader.client_id", "{text}");
    assert!(text.contains("same token for browsers"), "{text}");

    // An explicit empty origin list means none, with or without --dev-allow-any-origin.
    let none = PROXY_TOML.replace("max_request_bytes = 1000000", "allowed_origins = []");
    for dev in [false, true] {
        let args = ConfigArgs {
            config: Some(toml_file(&none)),
            dev_allow_any_origin: dev,
            ..ConfigArgs::default()
        };
        let e = ConfigSource::new(args, BTreeMap::new()).load().unwrap_err();
        let text = e.to_string();
        assert_eq!(
            field_of(e),
            "integrations.writer.proxy.allowed_origins",
            "{text}"
        );
        assert!(text.contains("no page could use the proxy"), "{text}");
    }

    // The connection and memory bounds.
    for (line, key) in [
        ("write_timeout_secs = 0", "write_timeout_secs"),
        ("proxy_held_body_bytes = 1000", "proxy_held_body_bytes"),
        ("proxy_timeout_secs = 0", "proxy_timeout_secs"),
        ("proxy_timeout_secs = 601", "proxy_timeout_secs"),
    ] {
        let e = load(&format!("{line}\n{PROXY_TOML}")).unwrap_err();
        let text = e.to_string();
        assert_eq!(field_of(e), key, "{text}");
    }
    let c = load(&format!(
        "write_timeout_secs = 5\nproxy_held_body_bytes = 3000000\nproxy_timeout_secs = 600\n{PROXY_TOML}"
    ))
    .unwrap();
    assert_eq!(c.proxy_timeout, std::time::Duration::from_secs(600));
    assert_eq!(
        load(PROXY_TOML).unwrap().proxy_timeout,
        grafx_signer::defaults::DEFAULT_PROXY_TIMEOUT
    );
    assert_eq!(c.write_timeout, std::time::Duration::from_secs(5));
    assert_eq!(
        c.serve_options().write_timeout,
        std::time::Duration::from_secs(5)
    );
    assert_eq!(c.proxy_held_body_bytes, 3_000_000);
}
