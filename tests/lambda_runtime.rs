//! The release binary under cargo-lambda's local Lambda runtime (`cargo lambda watch`, from
//! the PyPI wheel in target/venv), invoked with the `events/` payloads (S3 notifications and
//! the poller's schedule, against the fake Admin API); documents checked in the engine.

mod support;

use support::cargo_lambda::{command as cargo_lambda, watch_release};
use support::fake_cursor::{FakeCursorApi, api_event};
use support::services::{self, Engine};

const SAMPLE_KEY: &str = "2026/11/25/cursor-audit-20261125T1200Z.jsonl.gz";
const SAMPLE_BUCKET: &str = "cursor-audit-example";

/// `cargo lambda invoke` on the local runtime, the payload given by `data` (`--data-file
/// PATH` or `--data-ascii JSON`).
fn invoke_with(port: u16, data: [&str; 2]) -> std::process::Output {
    let port = port.to_string();
    cargo_lambda(&[
        "invoke",
        "-A",
        "127.0.0.1",
        "-P",
        &port,
        data[0],
        data[1],
        "cursor-audit-forwarder",
    ])
    .output()
    .unwrap()
}

fn invoke(port: u16, event: &str) -> serde_json::Value {
    let output = invoke_with(port, ["--data-file", event]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "invoke {event} failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|_| panic!("not JSON: {stdout}"))
}

/// Invokes with `payload`, expecting the function to fail; returns what cargo-lambda printed.
fn invoke_failing(port: u16, payload: &str) -> String {
    let output = invoke_with(port, ["--data-ascii", payload]);
    let printed = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !output.status.success(),
        "{payload} did not fail: {printed}"
    );
    printed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handler_runs_under_the_local_lambda_runtime_with_the_events_payloads() {
    services::export_aws_env();
    let engine = Engine::new();
    let namespace = services::unique_namespace("lambda");
    let table = format!("progress-{namespace}");
    services::create_table(&table).await;
    let s3 = services::s3().await;
    services::create_bucket(&s3, SAMPLE_BUCKET).await;
    let sample =
        std::fs::read(support::repo_root().join("events/sample").join(SAMPLE_KEY)).unwrap();
    let lines = {
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::MultiGzDecoder::new(&sample[..]),
            &mut text,
        )
        .unwrap();
        text.lines().filter(|l| !l.trim().is_empty()).count() as u64
    };
    services::put_object(&s3, SAMPLE_BUCKET, SAMPLE_KEY, sample).await;
    // The GeoIP databases come from S3 too, as the template deploys them.
    let (city_db, asn_db) = support::geoip_test_dbs();
    for (key, file) in [("geoip/City.mmdb", city_db), ("geoip/ASN.mmdb", asn_db)] {
        services::put_object(&s3, SAMPLE_BUCKET, key, std::fs::read(file).unwrap()).await;
    }
    let setup = support::run_cli(&["setup"], &[("ES_URL".into(), engine.url.clone())]);
    assert_eq!(setup.code, Some(0), "{}", setup.stderr);

    // The Admin API (fake) with a few events, its key in Secrets Manager as JSON.
    let api = FakeCursorApi::start("key_lambda_0001");
    let now = chrono::Utc::now();
    let api_events: Vec<serde_json::Value> = (0..7)
        .map(|i| {
            api_event(
                &format!("lambda-api-{i}"),
                now - chrono::TimeDelta::minutes(5 * i + 1),
                ["login", "add_user", "team_settings"][i as usize % 3],
            )
        })
        .collect();
    api.add_events(api_events.clone());
    let key_secret = services::create_secret(
        &format!("cursor-key-{namespace}"),
        r#"{"api_key": "key_lambda_0001"}"#,
    )
    .await;

    let dir = support::scratch_dir("lambda");
    let mut env = services::aws_env();
    env.push(("ES_URL".into(), engine.url.clone()));
    env.push(("DATA_STREAM_NAMESPACE".into(), namespace.clone()));
    env.push(("CHECKPOINT_TABLE".into(), table));
    env.push(("RUST_LOG".into(), "info".into()));
    env.push(("CURSOR_API_URL".into(), api.url.clone()));
    env.push(("CURSOR_API_KEY_SECRET_ARN".into(), key_secret));
    env.push(("CURSOR_INITIAL_LOOKBACK".into(), "2h".into()));
    env.push((
        "GEOIP_CITY_DB".into(),
        format!("s3://{SAMPLE_BUCKET}/geoip/City.mmdb"),
    ));
    env.push((
        "GEOIP_ASN_DB".into(),
        format!("s3://{SAMPLE_BUCKET}/geoip/ASN.mmdb"),
    ));
    let watch = watch_release(&env, &dir);
    let port = watch.port;
    let stream = format!("logs-cursor.audit-{namespace}");

    let response =
        tokio::task::spawn_blocking(move || invoke(port, "events/sqs-s3-notification.json"))
            .await
            .unwrap();
    assert_eq!(
        response,
        serde_json::json!({"batchItemFailures": []}),
        "see {}",
        dir.display()
    );
    assert_eq!(engine.count(&stream).await, lines);
    // Enriched from the databases fetched from S3 at the cold start.
    let documents = engine.all_documents(&stream).await;
    let enriched = documents
        .iter()
        .find(|(_, s)| s["source"]["ip"] == "192.0.2.110")
        .map(|(_, s)| s.clone())
        .expect("the sample's documentation-network address");
    assert_eq!(
        enriched["source"]["geo"]["city_name"], "Las Vegas",
        "{enriched}"
    );
    assert_eq!(enriched["source"]["as"]["number"], 64500, "{enriched}");

    // The same object announced directly by S3: already complete, nothing new.
    let response = tokio::task::spawn_blocking(move || invoke(port, "events/s3-put.json"))
        .await
        .unwrap();
    assert_eq!(response, serde_json::json!({"objects": 1}));
    assert_eq!(engine.count(&stream).await, lines);

    // The EventBridge schedule: one poll of the Admin API into the same data stream.
    let response = tokio::task::spawn_blocking(move || invoke(port, "events/schedule.json"))
        .await
        .unwrap();
    assert_eq!(response["outcome"], "caught_up", "{response}");
    assert_eq!(response["indexed"], api_events.len(), "{response}");
    assert_eq!(response["requests"], 1, "{response}");
    assert_eq!(engine.count(&stream).await, lines + api_events.len() as u64);

    // Each invocation wrote one summary log line and one EMF record (parsed from the
    // function's output as CloudWatch Logs would receive it).
    let output = std::fs::read_to_string(dir.join("watch.log")).unwrap();
    let records: Vec<serde_json::Value> = output
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.get("_aws").is_some())
        .collect();
    assert_eq!(records.len(), 3, "{output}");
    for record in &records {
        let declared = &record["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(declared["Namespace"], "CursorAuditForwarder");
        assert_eq!(
            declared["Dimensions"],
            serde_json::json!([["FunctionName"]])
        );
        assert!(record["FunctionName"].is_string());
        for metric in declared["Metrics"].as_array().unwrap() {
            assert!(
                record[metric["Name"].as_str().unwrap()].is_number(),
                "{record}"
            );
        }
    }
    assert_eq!(records[0]["Handler"], "s3");
    assert_eq!(records[0]["EventsRead"], lines);
    assert_eq!(records[0]["EventsIndexed"], lines);
    assert!(records[0]["LagSeconds"].as_f64().unwrap() > 0.0);
    assert_eq!(records[1]["EventsIndexed"], 0);
    assert_eq!(records[2]["Handler"], "poller");
    assert_eq!(records[2]["EventsIndexed"], api_events.len());
    assert_eq!(records[2]["ApiRequests"], 1);
    // The newest event was a minute old when the fake got it; starting cargo-lambda (and a
    // build, should the release binary be stale) took a while since.
    let lag = records[2]["LagSeconds"].as_f64().unwrap();
    let since_events = (chrono::Utc::now() - now).as_seconds_f64();
    assert!(
        (55.0..=60.0 + since_events + 5.0).contains(&lag),
        "lag {lag}, events added {since_events} s ago"
    );
    let summaries = output
        .lines()
        .filter(|l| l.contains("\"message\":\"summary: read="))
        .count();
    assert_eq!(summaries, 3, "one summary line per invocation");

    // A failed invocation names its cause in errorType (not a Rust type name), with the
    // message the handler gave.
    let printed = tokio::task::spawn_blocking(move || invoke_failing(port, r#"{"foo": 1}"#))
        .await
        .unwrap();
    assert!(printed.contains("UnsupportedEvent"), "{printed}");
    assert!(printed.contains("unsupported event"), "{printed}");
    assert!(!printed.contains("alloc::boxed::Box"), "{printed}");
}
