//! Several signer replicas sharing one token per integration through a real redis-server (the
//! Debian package), started on a free loopback port and stopped when the test ends.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use common::redis::*;
use common::*;
use grafx_emulator::{Fault, FaultSpec, FaultTarget, RunningEmulator, Settings};
use grafx_signer::{
    AppState, ChiliAuthClient, Clock, RedisStore, SignerConfig, StoreKey, SystemClock,
};

/// These tests measure upstream calls exactly; run one at a time so that three replica sets,
/// three Redis servers and 300-request bursts do not starve each other on a 2-core machine.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// A replica: its own state, Redis connection and port, sharing the emulator.
struct Replica {
    state: AppState,
    url: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.state.stop_refreshers();
        self.server.abort();
    }
}

async fn replica(
    em: &RunningEmulator,
    redis_url: &str,
    refreshers: bool,
    tweak: impl Fn(&mut SignerConfig),
) -> Replica {
    replica_with_clock(em, redis_url, refreshers, tweak, Arc::new(SystemClock)).await
}

/// A replica on its own clock (replicas on different hosts never agree to the millisecond).
async fn replica_with_clock(
    em: &RunningEmulator,
    redis_url: &str,
    refreshers: bool,
    tweak: impl Fn(&mut SignerConfig),
    clock: Arc<dyn Clock>,
) -> Replica {
    let mut config = SignerConfig::single(integration(em, "default", "demo-reader"));
    config.upstream_timeout = Duration::from_secs(3);
    tweak(&mut config);
    let store = RedisStore::new(redis_url, StoreKey::from_text(KEY).unwrap()).unwrap();
    let state = AppState::with_parts(
        config.clone(),
        Arc::new(ChiliAuthClient::new(config.upstream_timeout).unwrap()),
        Arc::new(store),
        clock,
    );
    if refreshers {
        state.start_refreshers();
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let router = grafx_signer::SignerService::new(state.clone());
    let server = tokio::spawn(async move {
        let _ = grafx_signer::serve(
            listener,
            router,
            config.serve_options(),
            std::future::pending(),
        )
        .await;
    });
    Replica { state, url, server }
}

async fn three(
    em: &RunningEmulator,
    redis: &Redis,
    refreshers: bool,
    tweak: impl Fn(&mut SignerConfig),
) -> Vec<Replica> {
    let mut v = Vec::new();
    for _ in 0..3 {
        v.push(replica(em, &redis.url(), refreshers, &tweak).await);
    }
    v
}

/// Three replicas with refreshers on tokens of `lifetime` seconds, re-issued by the emulator in
/// their last 2 s; the signers refresh 1 s before expiry.
async fn short_lived(redis: &Redis, lifetime: u64) -> (RunningEmulator, Vec<Replica>) {
    let em = emulator(Settings {
        token_lifetime_secs: lifetime,
        reissue_window_secs: 2,
        ..fast_settings()
    })
    .await;
    let replicas = three(&em, redis, true, |c| {
        c.leeway = Duration::from_secs(1);
        c.min_refresh_interval = Duration::from_secs(1);
    })
    .await;
    (em, replicas)
}

async fn token_from(url: &str) -> Result<grafx_core::SignerToken, String> {
    let res = http()
        .post(format!("{url}/token"))
        .header("origin", ORIGIN)
        .header("x-csrf", "1")
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if res.status() != 200 {
        return Err(format!("HTTP {}: {:?}", res.status(), res.text().await));
    }
    res.json().await.map_err(|e| e.to_string())
}

async fn metric(url: &str, name: &str) -> f64 {
    let text = get_text(&format!("{url}/metrics")).await;
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().last()?.parse().ok())
        .unwrap_or(f64::NAN)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_cold_requests_across_three_replicas_make_one_upstream_call() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let redis = Redis::start();
    let em = emulator(fast_settings()).await;
    let replicas = three(&em, &redis, false, |_| {}).await;
    // A slow upstream widens the window in which the replicas race.
    em.emulator()
        .arm_fault(FaultSpec {
            target: FaultTarget::Token,
            times: 1,
            fault: Fault::Delay { ms: 300 },
        })
        .unwrap();
    let requests = (0..300).map(|i| token_from(&replicas[i % 3].url));
    let replies = futures_util::future::join_all(requests).await;
    let tokens: HashSet<String> = replies
        .into_iter()
        .map(|r| r.unwrap().access_token.secret().to_owned())
        .collect();
    assert_eq!(tokens.len(), 1, "one token everywhere");
    assert_eq!(em.emulator().stats().token_requests, 1, "one upstream call");
    // And it is stored encrypted: the token is nowhere in the stored bytes.
    let client = ::redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let raw: Vec<u8> = ::redis::cmd("GET")
        .arg("grafx-signer:token:default:demo-reader")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(raw.len() > 20, "a value is stored: {} bytes", raw.len());
    let token = tokens.iter().next().unwrap();
    assert!(
        !raw.windows(token.len()).any(|w| w == token.as_bytes()),
        "the token is stored in clear"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_upstream_call_per_refresh_across_replicas() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let redis = Redis::start();
    let (em, replicas) = short_lived(&redis, 3).await;
    let mut seen = HashSet::new();
    let mut failures = Vec::new();
    let started = std::time::Instant::now();
    let mut i = 0;
    while started.elapsed() < Duration::from_secs(14) {
        let batch = (0..6).map(|k| token_from(&replicas[(i + k) % 3].url));
        for r in futures_util::future::join_all(batch).await {
            match r {
                Ok(t) => {
                    assert!(t.expires_in.as_secs() <= 3, "{:?}", t.expires_in);
                    seen.insert(t.access_token.secret().to_owned());
                }
                Err(e) => failures.push(e),
            }
        }
        i += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Collect whatever token is current everywhere, so the last refresh is seen too.
    for r in futures_util::future::join_all(replicas.iter().map(|r| token_from(&r.url))).await {
        match r {
            Ok(t) => {
                seen.insert(t.access_token.secret().to_owned());
            }
            Err(e) => failures.push(e),
        }
    }
    let upstream = em.emulator().stats().token_requests;
    assert!(failures.is_empty(), "{failures:?}");
    assert!(
        seen.len() >= 5,
        "several refreshes happened: {}",
        seen.len()
    );
    // The background refreshers keep running: one refresh may land between the last request and
    // the count, unseen. Replicas that each refreshed would show up as two or three calls per
    // token (21 for these 7), not one more.
    let seen = seen.len() as u64;
    let mut store_errors = 0.0;
    for r in &replicas {
        store_errors += metric(&r.url, "grafx_signer_store_errors_total").await;
    }
    assert!(
        upstream == seen || upstream == seen + 1,
        "one upstream call per token across the three replicas: {upstream} calls for {seen} tokens \
         ({store_errors} Redis failures made replicas refresh alone)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_whose_clocks_disagree_still_share_one_token() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let redis = Redis::start();
    let em = emulator(fast_settings()).await;
    // One replica's clock runs 800 ms behind, another's 800 ms ahead: to the one behind, the
    // token arrived "in its future", which must not read as its own clock jumping backwards.
    let behind = replica_with_clock(
        &em,
        &redis.url(),
        false,
        |_| {},
        Arc::new(SimClock::offset_ms(-800)),
    )
    .await;
    let ahead = replica_with_clock(
        &em,
        &redis.url(),
        false,
        |_| {},
        Arc::new(SimClock::offset_ms(800)),
    )
    .await;
    let first = token_from(&ahead.url).await.unwrap();
    assert_eq!(em.emulator().stats().token_requests, 1);
    for _ in 0..3 {
        let adopted = token_from(&behind.url).await.unwrap();
        assert_eq!(adopted.access_token.secret(), first.access_token.secret());
        // Never a longer life than upstream granted: the 1.6 s of skew is not added to it.
        let granted = fast_settings().token_lifetime_secs;
        assert!(
            adopted.expires_in.as_secs() <= granted,
            "{:?}",
            adopted.expires_in
        );
    }
    assert_eq!(
        em.emulator().stats().token_requests,
        1,
        "the replica whose clock is behind adopted the shared token instead of asking upstream"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_is_never_an_outage_and_replicas_converge_after_it() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let mut redis = Redis::start();
    let port = redis.port();
    let (em, replicas) = short_lived(&redis, 4).await;
    let ask_all = || async {
        let mut tokens = Vec::new();
        for r in &replicas {
            tokens.push(token_from(&r.url).await);
        }
        tokens
    };
    for t in ask_all().await {
        t.unwrap();
    }
    assert_eq!(
        metric(&replicas[0].url, "grafx_signer_store_degraded").await,
        0.0
    );

    // Redis dies. For 7 s (more than one token lifetime) every request still succeeds.
    redis.kill();
    let outage = std::time::Instant::now();
    while outage.elapsed() < Duration::from_secs(7) {
        for t in ask_all().await {
            t.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        metric(&replicas[0].url, "grafx_signer_store_degraded").await,
        1.0,
        "degraded is visible"
    );
    assert!(metric(&replicas[0].url, "grafx_signer_store_errors_total").await >= 1.0);

    // Redis is back (same port, empty): the replicas reconnect by themselves and converge on
    // one shared token again.
    let _redis = Redis::start_on(port);
    let mut converged = false;
    let back = std::time::Instant::now();
    while back.elapsed() < Duration::from_secs(15) {
        let tokens: Vec<String> = ask_all()
            .await
            .into_iter()
            .map(|t| t.unwrap().access_token.secret().to_owned())
            .collect();
        if tokens.iter().all(|t| *t == tokens[0])
            && metric(&replicas[0].url, "grafx_signer_store_degraded").await == 0.0
        {
            converged = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(converged, "the replicas share one token again");
    // Converged for good: over the next refreshes, one upstream call per token again.
    let before = em.emulator().stats().token_requests;
    let mut seen = HashSet::new();
    let settle = std::time::Instant::now();
    while settle.elapsed() < Duration::from_secs(8) {
        for t in ask_all().await {
            seen.insert(t.unwrap().access_token.secret().to_owned());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let calls = em.emulator().stats().token_requests - before;
    assert!(seen.len() >= 2, "refreshes happened: {}", seen.len());
    assert!(
        calls <= seen.len() as u64,
        "one upstream call per new token: {calls} calls for {} tokens",
        seen.len()
    );
}

#[test]
fn a_redis_url_needs_an_encryption_key() {
    let dir = std::env::temp_dir().join(format!("grafx-redis-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let base = grafx_signer::ConfigArgs {
        client_id: Some("id".into()),
        environment: Some("acme".into()),
        allowed_origins: Some("https://app.example".into()),
        redis_url: Some(grafx_signer::RedisUrl::new(
            "redis://:hunter2@127.0.0.1:6379/",
        )),
        ..Default::default()
    };
    let env =
        std::collections::BTreeMap::from([("GRAFX_CLIENT_SECRET".to_owned(), "s3cr3t".to_owned())]);
    let load =
        |args: grafx_signer::ConfigArgs| grafx_signer::ConfigSource::new(args, env.clone()).load();
    let e = load(base.clone()).unwrap_err().to_string();
    assert!(e.contains("SIGNER_REDIS_KEY_FILE"), "{e}");
    let bad = dir.join("bad.key");
    std::fs::write(&bad, "not a key").unwrap();
    let e = load(grafx_signer::ConfigArgs {
        redis_key_file: Some(bad),
        ..base.clone()
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("64 hex digits"), "{e}");
    let good = dir.join("good.key");
    std::fs::write(&good, format!("{KEY}\n")).unwrap();
    let config = load(grafx_signer::ConfigArgs {
        redis_key_file: Some(good),
        ..base.clone()
    })
    .unwrap();
    let debug = format!("{config:?}");
    assert!(config.redis.is_some());
    assert!(
        !debug.contains("hunter2") && !debug.contains(KEY),
        "{debug}"
    );
    // A URL that is not a usable Redis URL is refused at load, naming the variable, why and what
    // to write, never the URL (which may hold a password); every scheme the client opens loads.
    for (bad, why) in [
        ("http://:hunter2@cache.internal:6379/", "another scheme"),
        ("redis://:hunter2@/0", "not a URL"),
        ("redis:///0?password=hunter2", "no host"),
        ("hunter2", "not a URL"),
        ("redis+unix://:hunter2@", "not a URL"),
        ("redis+unix://?pass=hunter2", "no socket path"),
    ] {
        let e = load(grafx_signer::ConfigArgs {
            redis_url: Some(grafx_signer::RedisUrl::new(bad)),
            redis_key_file: Some(dir.join("good.key")),
            ..base.clone()
        })
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("SIGNER_REDIS_URL")
                && e.contains(&format!("({why})"))
                && e.contains("redis://[:password@]host"),
            "{bad}: {e}"
        );
        assert!(!e.contains("hunter2"), "{e}");
    }
    for good in [
        "redis://[::1]/0",
        "redis://cache",
        "rediss://:pw@cache.internal:6380/1",
        "redis+unix:///run/redis.sock",
        "unix:///run/redis.sock",
        "valkey://cache:6379",
        "valkeys://cache",
        "valkey+unix:///run/valkey.sock",
    ] {
        let loaded = load(grafx_signer::ConfigArgs {
            redis_url: Some(grafx_signer::RedisUrl::new(good)),
            redis_key_file: Some(dir.join("good.key")),
            ..base.clone()
        });
        assert!(loaded.is_ok(), "{good}: {:?}", loaded.err());
    }
}

/// `rediss://` works: TLS to a server whose certificate comes from a private CA given as
/// `SIGNER_REDIS_CA_FILE`; without that CA the server is not trusted and the store is degraded.
#[tokio::test]
async fn rediss_with_a_private_ca_and_refused_without_it() {
    use grafx_signer::TokenStore;
    let _one = ONE_AT_A_TIME.lock().await;
    let dir = std::env::temp_dir().join(format!("grafx-redis-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (redis, ca) = Redis::start_tls(&dir);
    let url = format!("rediss://127.0.0.1:{}/", redis.port());
    let key = StoreKey::from_text(KEY).unwrap();
    let trusted = RedisStore::with_tls_roots(&url, key.clone(), Some(&ca)).unwrap();
    let lock = trusted
        .try_lock("tls-check", Duration::from_secs(5))
        .await
        .expect("a TLS connection with the private CA");
    assert!(lock.is_some(), "took the lock over TLS");
    assert!(!trusted.is_degraded());
    let untrusted = RedisStore::new(&url, key).unwrap();
    assert!(
        untrusted
            .try_lock("tls-check-2", Duration::from_secs(5))
            .await
            .is_err(),
        "the system roots do not vouch for a private CA"
    );
    assert!(untrusted.is_degraded());
    drop(redis);
    std::fs::remove_dir_all(&dir).unwrap();
}
