//! SigV4 signing for Amazon OpenSearch Service domains with IAM access control, against the
//! real OpenSearch node behind a proxy that recomputes every signature with botocore and
//! refuses unsigned or wrongly signed requests with 403, as AWS does.

mod support;

use std::collections::BTreeSet;

use serde_json::Value;
use support::services::{self, Engine};
use support::sigv4_proxy::{ProxyOptions, SigV4Proxy};
use support::synthetic::EventGenerator;
use support::{CliRun, run_cli, scratch_dir, write_events};

/// Not the services' region: the signing region must come from the settings.
const REGION: &str = "eu-west-1";
const LONG_TERM: (&str, &str) = ("AKIDLONGTERMTEST", "long-term-secret-key");
const SESSION: (&str, &str, &str) = (
    "ASIASESSIONTEST",
    "session-secret-key",
    "session-token-value",
);

fn keys() -> Vec<String> {
    vec![
        format!("{}:{}", LONG_TERM.0, LONG_TERM.1),
        format!("{}:{}:{}", SESSION.0, SESSION.1, SESSION.2),
    ]
}

/// `issued`: the advertised lifetime of the credentials `GET /credentials` issues, and how
/// long the proxy accepts them.
fn proxy(name: &str, issued: Option<(f64, f64)>, bulk_delay_seconds: f64) -> SigV4Proxy {
    let keys = keys();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    SigV4Proxy::start(
        name,
        ProxyOptions {
            upstream: &services::opensearch_url(),
            region: REGION,
            keys: &keys,
            lifetime_seconds: issued.map(|(lifetime, _)| lifetime),
            accepted_seconds: issued.map(|(_, accepted)| accepted),
            bulk_delay_seconds,
        },
    )
}

/// The environment of a signed run through `proxy` with these credentials.
fn signed_env(
    proxy: &SigV4Proxy,
    namespace: &str,
    credentials: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("ES_URL", proxy.url.as_str()),
        ("ES_AWS_SIGV4", "true"),
        ("AWS_REGION", REGION),
        ("DATA_STREAM_NAMESPACE", namespace),
        ("BULK_MAX_ACTIONS", "100"),
        ("ES_RETRY_TIMEOUT_SECONDS", "20"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    env.extend(
        credentials
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    env
}

fn long_term() -> [(&'static str, &'static str); 2] {
    [
        ("AWS_ACCESS_KEY_ID", LONG_TERM.0),
        ("AWS_SECRET_ACCESS_KEY", LONG_TERM.1),
    ]
}

fn generated(count: usize, seed: u64) -> Vec<String> {
    let mut generator = EventGenerator::new(seed);
    (0..count).map(|_| generator.next_line()).collect()
}

async fn cli(args: &[&str], env: &[(String, String)]) -> CliRun {
    let (args, env): (Vec<String>, _) =
        (args.iter().map(|a| (*a).to_owned()).collect(), env.to_vec());
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_cli(&args, &env)
    })
    .await
    .unwrap()
}

fn verdicts(requests: &[Value]) -> BTreeSet<String> {
    requests
        .iter()
        .map(|r| r["verdict"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_and_a_gzip_ship_are_signed_with_long_term_and_session_credentials() {
    let engine = Engine::opensearch();
    let proxy = proxy("sigv4ok", None, 0.0);
    let namespace = services::unique_namespace("sigv4ok");
    let stream = format!("logs-cursor.audit-{namespace}");

    let setup = cli(&["setup"], &signed_env(&proxy, &namespace, &long_term())).await;
    assert_eq!(setup.code, Some(0), "{}", setup.stderr);
    assert!(
        setup.stderr.contains("on OpenSearch 2.19"),
        "{}",
        setup.stderr
    );
    assert!(
        setup
            .stderr
            .contains(&format!("AWS SigV4 (service es, region {REGION})")),
        "{}",
        setup.stderr
    );

    let lines = generated(300, 21);
    let path = write_events(&scratch_dir("sigv4ok"), "events.jsonl.gz", &lines, true);
    let session = [
        ("AWS_ACCESS_KEY_ID", SESSION.0),
        ("AWS_SECRET_ACCESS_KEY", SESSION.1),
        ("AWS_SESSION_TOKEN", SESSION.2),
    ];
    let env = signed_env(&proxy, &namespace, &session);
    let run = cli(&["ship", path.to_str().unwrap()], &env).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.summary("indexed"), 300);
    assert_eq!(engine.count(&stream).await, 300);
    let again = cli(&["ship", path.to_str().unwrap()], &env).await;
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    assert!(!again.stderr.contains("WARN"), "{}", again.stderr);
    assert_eq!(again.summary("duplicates"), 300);
    assert_eq!(engine.count(&stream).await, 300);

    let requests = proxy.requests();
    assert_eq!(
        verdicts(&requests),
        BTreeSet::from(["ok".to_owned()]),
        "{requests:#?}"
    );
    assert!(
        requests.iter().all(|r| r["status"].as_u64().unwrap() < 500),
        "no request failed on the node: {requests:#?}"
    );
    let seen = |method: &str, prefix: &str, key: &str| {
        requests.iter().any(|r| {
            r["method"] == method
                && r["path"].as_str().unwrap().starts_with(prefix)
                && r["key"] == key
        })
    };
    assert!(
        seen("GET", "/", LONG_TERM.0),
        "setup's engine check: {requests:#?}"
    );
    assert!(
        seen("PUT", "/_index_template/", LONG_TERM.0),
        "{requests:#?}"
    );
    assert!(
        seen("PUT", "/_component_template/", LONG_TERM.0),
        "{requests:#?}"
    );
    let bulks: Vec<&Value> = requests
        .iter()
        .filter(|r| r["path"].as_str().unwrap().contains("/_bulk"))
        .collect();
    assert_eq!(
        bulks.len(),
        6,
        "300 events in batches of 100, twice: {bulks:#?}"
    );
    for bulk in bulks {
        assert_eq!(bulk["key"], SESSION.0);
        assert_eq!(
            bulk["encoding"], "gzip",
            "the signature covers the gzip body"
        );
        assert_eq!(bulk["signed_sha256"], true);
        assert!(bulk["body_bytes"].as_u64().unwrap() > 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_missing_or_unsigned_credentials_are_refused_and_nothing_is_acknowledged() {
    let engine = Engine::opensearch();
    let proxy = proxy("sigv4bad", None, 0.0);
    let namespace = services::unique_namespace("sigv4bad");
    let stream = format!("logs-cursor.audit-{namespace}");
    let lines = generated(50, 22);
    let path = write_events(&scratch_dir("sigv4bad"), "events.jsonl.gz", &lines, true);

    /// A case's name, its settings, and the proxy's reason for refusing it.
    type Case = (
        &'static str,
        Vec<(&'static str, &'static str)>,
        &'static str,
    );
    let cases: [Case; 4] = [
        (
            "wrong secret",
            vec![
                ("AWS_ACCESS_KEY_ID", LONG_TERM.0),
                ("AWS_SECRET_ACCESS_KEY", "not-the-secret-key"),
            ],
            "does not match",
        ),
        (
            "session key without its token",
            vec![
                ("AWS_ACCESS_KEY_ID", SESSION.0),
                ("AWS_SECRET_ACCESS_KEY", SESSION.1),
            ],
            "session token",
        ),
        (
            "wrong session token",
            vec![
                ("AWS_ACCESS_KEY_ID", SESSION.0),
                ("AWS_SECRET_ACCESS_KEY", SESSION.1),
                ("AWS_SESSION_TOKEN", "stolen-token"),
            ],
            "session token",
        ),
        (
            "unsigned",
            vec![
                ("AWS_ACCESS_KEY_ID", LONG_TERM.0),
                ("AWS_SECRET_ACCESS_KEY", LONG_TERM.1),
                ("ES_AWS_SIGV4", "false"),
            ],
            "Missing Authentication Token",
        ),
    ];
    for (case, credentials, why) in cases {
        let before = proxy.requests().len();
        let mut env = signed_env(&proxy, &namespace, &[]);
        for (key, value) in &credentials {
            env.retain(|(k, _)| k != key);
            env.push(((*key).to_owned(), (*value).to_owned()));
        }
        let run = cli(&["ship", path.to_str().unwrap()], &env).await;
        assert_eq!(run.code, Some(1), "{case}: {}", run.stderr);
        assert_eq!(run.summary("indexed"), 0, "{case}");
        assert_eq!(run.summary("failed"), 50, "{case}");
        assert!(run.stderr.contains("403"), "{case}: {}", run.stderr);
        let refused = &proxy.requests()[before..];
        let bulks: Vec<&Value> = refused
            .iter()
            .filter(|r| r["path"].as_str().unwrap().contains("/_bulk"))
            .collect();
        assert!(!bulks.is_empty(), "{case}: {refused:#?}");
        for bulk in bulks {
            assert_eq!(bulk["status"], 403, "{case}");
            assert!(
                bulk["verdict"].as_str().unwrap().contains(why),
                "{case}: {bulk}"
            );
        }
        for secret in [
            LONG_TERM.1,
            SESSION.1,
            SESSION.2,
            "not-the-secret-key",
            "stolen-token",
        ] {
            assert!(
                !run.stderr.contains(secret) && !run.stdout.contains(secret),
                "{case}"
            );
        }
    }
    // Nothing reached the node, so the data stream was never created: 0, and only a missing
    // index counts as 0 (a failed count fails the test).
    assert_eq!(engine.count_or_zero_if_missing(&stream).await, 0);

    // Setup is refused the same way.
    let mut env = signed_env(&proxy, &namespace, &long_term());
    env.push(("AWS_SECRET_ACCESS_KEY".into(), "not-the-secret-key".into()));
    env.retain(|(k, v)| !(k == "AWS_SECRET_ACCESS_KEY" && v == LONG_TERM.1));
    let setup = cli(&["setup"], &env).await;
    assert_eq!(setup.code, Some(1), "{}", setup.stderr);
    assert!(setup.stderr.contains("403"), "{}", setup.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiring_role_credentials_are_refreshed_during_a_long_ship() {
    let engine = Engine::opensearch();
    // The proxy doubles as the container credentials endpoint (what Lambda, ECS and the SDK's
    // chain use for role credentials): each call issues new temporary credentials that
    // advertise an expiry 61 s away. The forwarder fetches again when less than 60 s are
    // left, so it should stop using a set after about a second. The proxy refuses every set
    // 3 s after issuing it (a compressed clock), and the ship below takes well over 3 s: a
    // forwarder that kept stale credentials would be refused (403) and fail the ship.
    let proxy = proxy("sigv4role", Some((61.0, 3.0)), 0.4);
    let namespace = services::unique_namespace("sigv4role");
    let stream = format!("logs-cursor.audit-{namespace}");
    let lines = generated(2000, 23);
    let path = write_events(&scratch_dir("sigv4role"), "events.jsonl.gz", &lines, true);
    let endpoint = format!("{}/credentials", proxy.url);
    let env = signed_env(
        &proxy,
        &namespace,
        &[("AWS_CONTAINER_CREDENTIALS_FULL_URI", endpoint.as_str())],
    );
    let started = std::time::Instant::now();
    let run = cli(&["ship", path.to_str().unwrap()], &env).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.summary("indexed"), 2000);
    assert_eq!(engine.count(&stream).await, 2000);
    assert!(
        started.elapsed().as_secs_f64() > 2.0 * 3.0,
        "the ship must outlive two sets of credentials"
    );

    let requests = proxy.requests();
    let issued: BTreeSet<String> = requests
        .iter()
        .filter(|r| r["verdict"] == "issued")
        .map(|r| r["key"].as_str().unwrap().to_owned())
        .collect();
    let signing: BTreeSet<String> = requests
        .iter()
        .filter(|r| r["verdict"] != "issued")
        .map(|r| r["key"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        requests
            .iter()
            .all(|r| r["verdict"] == "ok" || r["verdict"] == "issued"),
        "{requests:#?}"
    );
    assert!(
        signing.len() >= 2,
        "credentials were never refreshed: {signing:?}"
    );
    assert!(signing.is_subset(&issued), "{signing:?} not in {issued:?}");
}

#[test]
fn signing_settings_that_cannot_work_stop_before_anything_is_sent() {
    let base = |extra: &[(&str, &str)]| -> Vec<(String, String)> {
        let mut env = vec![
            ("ES_URL".to_owned(), "http://127.0.0.1:9".to_owned()),
            ("AWS_ACCESS_KEY_ID".to_owned(), LONG_TERM.0.to_owned()),
            ("AWS_SECRET_ACCESS_KEY".to_owned(), LONG_TERM.1.to_owned()),
        ];
        env.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        env
    };
    let cases: [(Vec<(String, String)>, &str); 3] = [
        (base(&[("ES_AWS_SIGV4", "true")]), "AWS_REGION"),
        (
            base(&[
                ("ES_AWS_SIGV4", "true"),
                ("AWS_REGION", REGION),
                ("ES_API_KEY", "id:key"),
            ]),
            "ES_API_KEY",
        ),
        (base(&[("ES_AWS_SIGV4", "sometimes")]), "ES_AWS_SIGV4"),
    ];
    let sample = support::repo_root().join("events/sample.ndjson");
    for (env, named) in cases {
        for command in ["setup", "ship"] {
            let mut args = vec![command];
            if command == "ship" {
                args.push(sample.to_str().unwrap());
            }
            let run = run_cli(&args, &env);
            assert_eq!(run.code, Some(2), "{command}: {}", run.stderr);
            assert!(run.stderr.contains(named), "{command}: {}", run.stderr);
            assert!(!run.stderr.contains(LONG_TERM.1), "{}", run.stderr);
        }
    }
}
