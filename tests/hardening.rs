//! Hostile or mistaken answers and settings: the real binary against loopback servers that
//! misbehave (tests/support/hostile.rs), the fake Admin API, moto and the engine. Every case
//! checks that nothing panics (no exit 101), the exit status and message, the summary
//! counts, and that nothing was acknowledged that was not stored.

mod support;

use std::time::{Duration, Instant};

use support::fake_cursor::{FakeCursorApi, api_event};
use support::hostile::{Answer, HostileServer};
use support::services;
use support::synthetic::EventGenerator;
use support::{CliRun, run_cli, run_cli_exact, scratch_dir, write_events};

const API_KEY: &str = "key_hardening_0123456789";

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn s3_lines(count: usize) -> Vec<String> {
    let mut generator = EventGenerator::new(11);
    (0..count).map(|_| generator.next_s3_line()).collect()
}

/// A gzip file of `count` events in a fresh scratch directory.
fn events_file(name: &str, count: usize) -> (std::path::PathBuf, String) {
    let dir = scratch_dir(name);
    let path = write_events(&dir, "events.jsonl.gz", &s3_lines(count), true);
    let path_text = path.display().to_string();
    (dir, path_text)
}

fn assert_no_panic(run: &CliRun) {
    assert_ne!(run.code, Some(101), "exit 101 (panic):\n{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}

/// `poll --once --dry-run` against `url` with the extra settings.
fn poll_dry_run(url: &str, extra: &[(&str, &str)]) -> CliRun {
    let dir = scratch_dir("poll");
    let checkpoint = dir.join("checkpoint.json").display().to_string();
    let mut settings = vec![
        ("CURSOR_API_URL", url),
        ("CURSOR_API_KEY", API_KEY),
        ("CHECKPOINT_FILE", checkpoint.as_str()),
    ];
    settings.extend_from_slice(extra);
    run_cli(&["poll", "--once", "--dry-run"], &env(&settings))
}

const EMPTY_PAGE: &str = r#"{"events":[],"pagination":{"page":1,"pageSize":500,"totalCount":0,"totalPages":0,"hasNextPage":false}}"#;

#[test]
fn a_retry_after_beyond_any_clock_is_capped_and_never_panics() {
    for value in ["1e300", "18446744073709551615"] {
        // The sink: the wait is capped at the backoff's 20 s, more than the 2 s budget.
        let es = HostileServer::start(
            vec![Answer::with_header(429, "Retry-After", value)],
            Answer::created(),
        );
        let (_dir, file) = events_file("retry-after", 5);
        let run = run_cli(
            &["ship", &file],
            &env(&[("ES_URL", &es.url), ("ES_RETRY_TIMEOUT_SECONDS", "2")]),
        );
        assert_no_panic(&run);
        assert_eq!(run.code, Some(1), "{}", run.stderr);
        assert!(run.stderr.contains("429"), "{}", run.stderr);
        assert_eq!(run.summary("indexed"), 0);
        assert_eq!(run.summary("failed"), 5);
        assert_eq!(
            es.bulk_requests().len(),
            1,
            "gave up instead of waiting forever"
        );

        // The Admin API client.
        let api = HostileServer::start(
            vec![Answer::with_header(429, "Retry-After", value)],
            Answer::json(200, EMPTY_PAGE),
        );
        let run = poll_dry_run(&api.url, &[("CURSOR_RETRY_TIMEOUT_SECONDS", "2")]);
        assert_no_panic(&run);
        assert_eq!(run.code, Some(1), "{}", run.stderr);
        assert!(run.stderr.contains("outcome=failed"), "{}", run.stderr);
    }
    // Within the bounds it is honoured: one second, then success.
    let es = HostileServer::start(
        vec![Answer::with_header(503, "Retry-After", "1")],
        Answer::created(),
    );
    let (_dir, file) = events_file("retry-after-ok", 5);
    let started = Instant::now();
    let run = run_cli(&["ship", &file], &env(&[("ES_URL", &es.url)]));
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.summary("indexed"), 5);
    assert!(started.elapsed() >= Duration::from_secs(1));
    let api = HostileServer::start(
        vec![Answer::with_header(429, "Retry-After", "1")],
        Answer::json(200, EMPTY_PAGE),
    );
    let run = poll_dry_run(&api.url, &[]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stderr.contains("outcome=caught_up"), "{}", run.stderr);
    assert_eq!(api.requests().len(), 2);
}

#[test]
fn settings_that_used_to_panic_exit_2_naming_the_setting() {
    let api = HostileServer::start(Vec::new(), Answer::json(200, EMPTY_PAGE));
    for (name, value) in [
        ("CURSOR_OVERLAP", "9999999999999999w"),
        ("CURSOR_INITIAL_LOOKBACK", "100000000d"),
        ("CURSOR_MAX_WINDOW", "99999999999999999999d"),
        ("CURSOR_LEASE_SECONDS", "18446744073709551615"),
        ("CURSOR_RETRY_TIMEOUT_SECONDS", "18446744073709551615"),
        ("CURSOR_REQUEST_TIMEOUT_SECONDS", "0"),
        ("CURSOR_PAGE_SIZE", "501"),
        ("ES_RETRY_TIMEOUT_SECONDS", "18446744073709551615"),
        ("CURSOR_POLL_INTERVAL", "0"),
    ] {
        let run = poll_dry_run(&api.url, &[(name, value)]);
        assert_no_panic(&run);
        assert_eq!(run.code, Some(2), "{name}={value}: {}", run.stderr);
        assert!(run.stderr.contains(name), "{name}: {}", run.stderr);
    }
    let (_dir, file) = events_file("settings", 1);
    for (name, value) in [
        ("ES_RETRY_TIMEOUT_SECONDS", "18446744073709551615"),
        ("ES_REQUEST_TIMEOUT_SECONDS", "99999999"),
        ("BULK_MAX_BYTES", "0"),
        ("MAX_LINE_BYTES", "99999999999"),
        ("MAX_OBJECT_INFLATED_BYTES", "0"),
    ] {
        let run = run_cli(&["ship", "--dry-run", &file], &env(&[(name, value)]));
        assert_no_panic(&run);
        assert_eq!(run.code, Some(2), "{name}={value}: {}", run.stderr);
        assert!(run.stderr.contains(name), "{name}: {}", run.stderr);
    }
    assert!(api.requests().is_empty(), "nothing was sent");
}

#[test]
fn a_namespace_or_pipeline_never_reroutes_a_request() {
    let es = HostileServer::start(Vec::new(), Answer::created());
    let (_dir, file) = events_file("namespace", 3);
    for bad in [
        "x/../../_security/role/evil",
        "a#b",
        "",
        "Prod",
        "-x",
        "a b",
    ] {
        let run = run_cli(
            &["ship", &file],
            &env(&[("ES_URL", &es.url), ("DATA_STREAM_NAMESPACE", bad)]),
        );
        assert_no_panic(&run);
        assert_eq!(run.code, Some(2), "{bad:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("DATA_STREAM_NAMESPACE"),
            "{bad:?}: {}",
            run.stderr
        );
    }
    assert!(es.requests().is_empty(), "nothing reached the cluster");
    let run = run_cli(
        &["ship", &file],
        &env(&[("ES_URL", &es.url), ("ES_PIPELINE", "p&refresh=wait_for")]),
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.summary("indexed"), 3);
    let requests = es.bulk_requests();
    assert_eq!(requests.len(), 1);
    let path = &requests[0].path;
    assert!(
        path.starts_with("/logs-cursor.audit-default/_bulk?"),
        "{path}"
    );
    assert!(path.contains("pipeline=p%26refresh%3Dwait_for"), "{path}");
    assert!(!path.contains("&refresh="), "{path}");
}

#[test]
fn unusable_urls_fail_at_start_instead_of_being_retried() {
    let (_dir, file) = events_file("urls", 2);
    for bad in ["not a url", "ftp://127.0.0.1:9/", "http://127.0.0.1:9/?a=1"] {
        let started = Instant::now();
        let run = run_cli(&["ship", &file], &env(&[("ES_URL", bad)]));
        assert_no_panic(&run);
        assert_eq!(run.code, Some(2), "{bad}: {}", run.stderr);
        assert!(run.stderr.contains("cluster URL"), "{bad}: {}", run.stderr);
        assert!(started.elapsed() < Duration::from_secs(10));
    }
    for bad in [
        "not a url",
        "ftp://127.0.0.1:9",
        "http://h?a=",
        "http://cursor.example.com",
    ] {
        let run = poll_dry_run(bad, &[]);
        assert_no_panic(&run);
        assert_eq!(run.code, Some(2), "{bad}: {}", run.stderr);
        assert!(
            run.stderr.contains("CURSOR_API_URL"),
            "{bad}: {}",
            run.stderr
        );
    }
}

#[test]
fn redirects_are_not_followed_by_either_client() {
    let elsewhere = HostileServer::start(Vec::new(), Answer::created());
    let es = HostileServer::start(
        Vec::new(),
        Answer::with_header(307, "Location", &format!("{}/_bulk", elsewhere.url)),
    );
    let (_dir, file) = events_file("redirect", 4);
    let run = run_cli(&["ship", &file], &env(&[("ES_URL", &es.url)]));
    assert_no_panic(&run);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("307"), "{}", run.stderr);
    assert_eq!(run.summary("indexed"), 0);
    assert_eq!(run.summary("failed"), 4);
    assert_eq!(es.bulk_requests().len(), 1, "a redirect is not retried");
    assert!(
        elsewhere.requests().is_empty(),
        "the batch went nowhere else"
    );

    let api = HostileServer::start(
        Vec::new(),
        Answer::with_header(302, "Location", &elsewhere.url),
    );
    let run = poll_dry_run(&api.url, &[]);
    assert_no_panic(&run);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("redirect"), "{}", run.stderr);
    assert!(run.stderr.contains("outcome=failed"), "{}", run.stderr);
    assert!(elsewhere.requests().is_empty());
}

#[test]
fn per_item_permission_errors_are_retried_then_failed_never_dead_lettered() {
    for status in [401, 403] {
        let es = HostileServer::start(
            Vec::new(),
            Answer::EveryItem {
                status,
                error_type: "security_exception".into(),
            },
        );
        let (dir, file) = events_file("permission", 6);
        let dead_letter = dir.join("dead-letter");
        let run = run_cli(
            &["ship", &file],
            &env(&[
                ("ES_URL", &es.url),
                ("ES_RETRY_TIMEOUT_SECONDS", "1"),
                ("DEAD_LETTER_DIR", &dead_letter.display().to_string()),
            ]),
        );
        assert_no_panic(&run);
        assert_eq!(run.code, Some(1), "{}", run.stderr);
        assert!(run.stderr.contains("security_exception"), "{}", run.stderr);
        assert_eq!(run.summary("dead_lettered"), 0);
        assert_eq!(run.summary("indexed"), 0);
        assert_eq!(run.summary("failed"), 6);
        assert!(es.bulk_requests().len() > 1, "retried within the budget");
        let stored = std::fs::read_dir(&dead_letter)
            .map(|entries| entries.count())
            .unwrap_or(0);
        assert_eq!(stored, 0, "nothing dead-lettered");
    }
}

#[test]
fn huge_bodies_and_hostile_pages_stay_in_bounded_memory() {
    // A 300 MB body on a 503 from the cluster: only its beginning is read.
    let es = HostileServer::start(
        Vec::new(),
        Answer::Huge {
            status: 503,
            bytes: 300 * 1024 * 1024,
        },
    );
    let (_dir, file) = events_file("huge", 3);
    let run = run_cli(
        &["ship", &file],
        &env(&[("ES_URL", &es.url), ("ES_RETRY_TIMEOUT_SECONDS", "2")]),
    );
    assert_no_panic(&run);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_eq!(run.summary("failed"), 3);
    let peak = peak_rss(&run);
    assert!(peak < 128.0, "peak RSS {peak} MB");

    // A 3 MB page of a million `{}` events where at most 500 were asked for.
    let mut page = String::from(r#"{"events":["#);
    page.push_str(&vec!["{}"; 1_000_000].join(","));
    page.push_str(r#"],"pagination":{"hasNextPage":false}}"#);
    let api = HostileServer::start(Vec::new(), Answer::json(200, &page));
    let run = poll_dry_run(&api.url, &[]);
    assert_no_panic(&run);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("1000000 events in a page of at most 500"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.is_empty(),
        "nothing printed from a rejected page"
    );
    let peak = peak_rss(&run);
    assert!(peak < 128.0, "peak RSS {peak} MB");
}

fn peak_rss(run: &CliRun) -> f64 {
    let line = run
        .stderr
        .lines()
        .rev()
        .find(|l| l.starts_with("summary:"))
        .unwrap_or_else(|| panic!("no summary: {}", run.stderr));
    line.split_whitespace()
        .find_map(|p| p.strip_prefix("peak_rss_mb="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no peak_rss_mb in {line}"))
}

#[test]
fn a_gzip_bomb_fails_naming_the_object() {
    use std::io::Write;
    let dir = scratch_dir("bomb");
    let path = dir.join("bomb.jsonl.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    for _ in 0..1_000_000 {
        gz.write_all(b"{}\n").unwrap();
    }
    std::fs::write(&path, gz.finish().unwrap()).unwrap();
    let file = path.display().to_string();
    let run = run_cli(
        &["ship", "--dry-run", &file],
        &env(&[("MAX_OBJECT_INFLATED_BYTES", "1000000")]),
    );
    assert_no_panic(&run);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains(&file), "{}", run.stderr);
    assert!(
        run.stderr.contains("MAX_OBJECT_INFLATED_BYTES"),
        "{}",
        run.stderr
    );
    let printed = run.stdout.lines().count();
    assert!(printed <= 333_334, "{printed} documents from 1 MB");
}

#[test]
fn a_last_request_time_in_the_future_is_clamped_not_waited_for() {
    let api = FakeCursorApi::start(API_KEY);
    let now = chrono::Utc::now();
    api.add_events([api_event(
        "future-1",
        now - chrono::TimeDelta::minutes(10),
        "login",
    )]);
    let es = HostileServer::start(Vec::new(), Answer::created());
    let dir = scratch_dir("future");
    let checkpoint = dir.join("checkpoint.json");
    let year_ahead = (now + chrono::TimeDelta::days(365)).timestamp_millis();
    std::fs::write(
        &checkpoint,
        format!(r#"{{"collected_until":null,"window":null,"newest_event":null,"last_request_at":{year_ahead}}}"#),
    )
    .unwrap();
    let started = Instant::now();
    let run = run_cli(
        &["poll", "--once"],
        &env(&[
            ("CURSOR_API_URL", &api.url),
            ("CURSOR_API_KEY", API_KEY),
            ("CHECKPOINT_FILE", &checkpoint.display().to_string()),
            ("ES_URL", &es.url),
            ("CURSOR_INITIAL_LOOKBACK", "1h"),
        ]),
    );
    assert_no_panic(&run);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stderr.contains("outcome=caught_up"), "{}", run.stderr);
    assert!(run.stderr.contains("clamped to now"), "{}", run.stderr);
    assert_eq!(run.summary("indexed"), 1);
    assert!(started.elapsed() < Duration::from_secs(30));
    let saved = std::fs::read_to_string(&checkpoint).unwrap();
    let saved: serde_json::Value = serde_json::from_str(&saved).unwrap();
    let last = saved["last_request_at"].as_i64().unwrap();
    assert!(
        last < year_ahead,
        "the clamped time is what is written back"
    );
}

/// Every way a secret could leak: as is, base64 (in a header), percent-encoded (in a URL).
fn encodings(secret: &str) -> Vec<String> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    vec![
        secret.to_owned(),
        b64.encode(secret),
        b64.encode(format!("{secret}:")),
        url_encode(secret),
    ]
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credential_is_printed_at_trace_level() {
    let url_password = "UrlPw-4711-secret";
    let es_password = "EsPw-0815-secret";
    let es_api_key = "EsKeyId:EsKeyValue-secret";
    let secret_password = "SmPw-2342-secret";
    let cursor_key = "key_CursorSecret_99";
    let secret_arn = services::create_secret(
        &services::unique_namespace("hardening-secret"),
        &format!(r#"{{"username":"sm-user","password":"{secret_password}"}}"#),
    )
    .await;
    let es = HostileServer::start(Vec::new(), Answer::json(401, r#"{"error":"no"}"#));
    let api = HostileServer::start(Vec::new(), Answer::json(401, r#"{"error":"no"}"#));
    let host = es.url.trim_start_matches("http://");
    let secret_url_password = "SecretUrlPw-77-secret";
    let url_secret_arn = services::create_secret(
        &services::unique_namespace("hardening-url-secret"),
        &format!(r#"{{"url":"http://from-secret:{secret_url_password}@{host}"}}"#),
    )
    .await;
    let url_with_userinfo = format!("http://elastic:{url_password}@{host}");
    let (dir, file) = events_file("secrets", 2);
    let checkpoint = dir.join("checkpoint.json").display().to_string();
    let mut settings = services::aws_env();
    settings.extend(env(&[
        ("RUST_LOG", "trace"),
        ("ES_URL", &url_with_userinfo),
        ("ES_PASSWORD", es_password),
        ("ES_USERNAME", "someone"),
        ("ES_SECRET_ARN", &secret_arn),
        ("CURSOR_API_KEY", cursor_key),
        ("CURSOR_API_URL", &api.url),
        ("CHECKPOINT_FILE", &checkpoint),
    ]));
    let with_api_key = {
        let mut settings = settings.clone();
        settings.push(("ES_API_KEY".into(), es_api_key.into()));
        settings
    };
    let only_the_secret = {
        let mut settings = services::aws_env();
        settings.extend(env(&[
            ("RUST_LOG", "trace"),
            ("ES_SECRET_ARN", &url_secret_arn),
        ]));
        settings
    };
    let aws_secret_key = "AwsSecretKey-1234-secret";
    let aws_session_token = "AwsSessionToken-5678-secret";
    let signed = {
        let mut settings: Vec<(String, String)> = services::aws_env()
            .into_iter()
            .filter(|(k, _)| !k.starts_with("AWS_ACCESS_KEY_ID") && !k.starts_with("AWS_SECRET"))
            .collect();
        settings.extend(env(&[
            ("RUST_LOG", "trace"),
            ("ES_URL", &es.url),
            ("ES_AWS_SIGV4", "true"),
            ("AWS_ACCESS_KEY_ID", "ASIATRACETEST"),
            ("AWS_SECRET_ACCESS_KEY", aws_secret_key),
            ("AWS_SESSION_TOKEN", aws_session_token),
        ]));
        settings
    };
    let runs = [
        run_cli_exact(&["ship", &file], &signed),
        run_cli_exact(&["setup"], &signed),
        run_cli_exact(&["ship", &file], &only_the_secret),
        run_cli_exact(&["setup"], &only_the_secret),
        run_cli_exact(&["ship", &file], &settings),
        run_cli_exact(&["ship", &file], &with_api_key),
        run_cli_exact(&["setup"], &with_api_key),
        run_cli_exact(&["poll", "--once"], &with_api_key),
    ];
    let mut leaks = Vec::new();
    for run in &runs {
        assert_no_panic(run);
        assert_ne!(run.code, Some(0), "everything is refused: {}", run.stderr);
        for secret in [
            url_password,
            es_password,
            es_api_key,
            "EsKeyValue-secret",
            secret_password,
            secret_url_password,
            cursor_key,
            aws_secret_key,
            aws_session_token,
        ] {
            for encoded in encodings(secret) {
                if run.stdout.contains(&encoded) || run.stderr.contains(&encoded) {
                    leaks.push(format!("{secret} as {encoded}"));
                }
            }
        }
        for (user, password) in [
            ("elastic", url_password),
            ("someone", es_password),
            ("from-secret", secret_url_password),
        ] {
            use base64::Engine as _;
            let basic =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            if run.stderr.contains(&basic) || run.stdout.contains(&basic) {
                leaks.push(format!("basic credentials of {user}"));
            }
        }
    }
    assert!(leaks.is_empty(), "leaked: {leaks:?}");
    // The runs did reach the servers: the secrets were used, just never shown.
    assert!(!es.requests().is_empty() && !api.requests().is_empty());
    let from_secret = {
        use base64::Engine as _;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("from-secret:{secret_url_password}"))
        )
    };
    assert!(
        es.requests()
            .iter()
            .any(|r| r.header("authorization") == Some(from_secret.as_str())),
        "the secret's URL userinfo was sent as Basic credentials"
    );
    assert!(
        es.requests()
            .iter()
            .any(|r| r.header("x-amz-security-token") == Some(aws_session_token)),
        "the signed runs used the session token"
    );
}
