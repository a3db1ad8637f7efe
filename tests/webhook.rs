//! The webhook receiver under cargo-lambda's local runtime, with function URL events (payload
//! format 2.0): the three framings and gzip, both event shapes, tokens and their rotation,
//! refused requests, an S3 outage, no token in `trace` logs; then end to end through the S3
//! path into the engine: as many documents as events, the same documents the S3 path makes
//! of the same lines, nothing added by a repeated POST.

mod support;

use std::io::{Read, Write};

use base64::Engine as _;
use serde_json::{Value, json};

use clap::Parser;
use cursor_audit_forwarder::config::LambdaArgs;
use cursor_audit_forwarder::lambda::{Handlers, handle};
use cursor_audit_forwarder::shipping::deadline::Deadline;
use support::cargo_lambda::{self, Watch};
use support::services::{self, Engine};
use support::synthetic::EventGenerator;

const TOKEN_A: &str = "tok_webhook_AAAAAAAAAAAAAAAAAAAAAAAA1";
const TOKEN_B: &str = "tok_webhook_BBBBBBBBBBBBBBBBBBBBBBBB2";

/// A function URL event.
fn url_event(
    request_id: &str,
    method: &str,
    token: Option<&str>,
    body: &[u8],
    gzip: bool,
) -> Value {
    let mut headers =
        json!({"content-type": "application/json", "user-agent": "cursor-webhook-test"});
    if let Some(token) = token {
        headers["authorization"] = json!(format!("Bearer {token}"));
    }
    let (body, base64) = if gzip {
        headers["content-encoding"] = json!("gzip");
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(body).unwrap();
        let zipped = encoder.finish().unwrap();
        (
            base64::engine::general_purpose::STANDARD.encode(zipped),
            true,
        )
    } else {
        (String::from_utf8(body.to_vec()).unwrap(), false)
    };
    json!({
        "version": "2.0", "routeKey": "$default", "rawPath": "/", "rawQueryString": "",
        "headers": headers, "body": body, "isBase64Encoded": base64,
        "requestContext": {
            "accountId": "anonymous", "apiId": "abc123", "domainName": "abc123.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abc123", "requestId": request_id, "routeKey": "$default", "stage": "$default",
            "time": "04/Dec/2026:13:00:00 +0000", "timeEpoch": 1_796_389_200_000u64,
            "http": {"method": method, "path": "/", "protocol": "HTTP/1.1", "sourceIp": "192.0.2.44",
                     "userAgent": "cursor-webhook-test"}
        }
    })
}

/// The archive's objects as (key, lines).
async fn archived(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for (key, bytes) in services::object_bytes(s3, bucket, "webhook/").await {
        let mut text = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .unwrap();
        out.push((key, text.lines().map(str::to_owned).collect()));
    }
    out
}

/// The S3 notification of one object, as S3 sends it.
fn s3_event(bucket: &str, key: &str) -> Value {
    json!({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
               "object": {"key": key}}}]})
}

/// Posts `event`, expecting `status`; returns the answer's JSON body.
async fn post(watch: &Watch, event: &Value, status: u16) -> Value {
    let response = watch.invoke(event).await;
    assert_eq!(response["statusCode"], status, "{response}");
    serde_json::from_str(response["body"].as_str().unwrap()).unwrap()
}

/// A document without the fields that name where it came from (object, data stream, time
/// of ingestion).
fn without_provenance(mut source: Value) -> Value {
    let map = source.as_object_mut().unwrap();
    for field in ["data_stream", "log", "aws", "input"] {
        map.remove(field);
    }
    if let Some(event) = map.get_mut("event").and_then(Value::as_object_mut) {
        event.remove("ingested");
    }
    source
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_requests_are_archived_then_shipped_through_the_s3_path() {
    services::export_aws_env();
    let engine = Engine::new();
    let namespace = services::unique_namespace("webhook");
    let table = format!("progress-{namespace}");
    services::create_table(&table).await;
    let s3 = services::s3().await;
    let bucket = format!("hooks-{namespace}");
    services::create_bucket(&s3, &bucket).await;
    let secret_name = format!("webhook-token-{namespace}");
    let secret =
        services::create_secret(&secret_name, &json!({"tokens": [TOKEN_A]}).to_string()).await;
    let setup = support::run_cli(&["setup"], &[("ES_URL".into(), engine.url.clone())]);
    assert_eq!(setup.code, Some(0), "{}", setup.stderr);

    let dir = support::scratch_dir("webhook");
    let mut env = services::aws_env();
    for (key, value) in [
        ("ES_URL", engine.url.clone()),
        ("DATA_STREAM_NAMESPACE", namespace.clone()),
        ("CHECKPOINT_TABLE", table),
        ("WEBHOOK_ARCHIVE_URI", format!("s3://{bucket}/webhook/")),
        ("WEBHOOK_TOKEN_SECRET_ARN", secret.clone()),
        ("WEBHOOK_MAX_BODY_BYTES", "65536".into()),
        ("WEBHOOK_MAX_INFLATED_BYTES", "262144".into()),
        ("WEBHOOK_TOKEN_RECHECK_SECONDS", "1".into()),
        ("RUST_LOG", "trace".into()),
    ] {
        env.push((key.into(), value));
    }
    let watch = cargo_lambda::watch(&env, &dir);

    // Both shapes, in each framing; each request is one archive object, its lines the
    // events as sent.
    let mut generator = EventGenerator::new(24);
    let api_lines: Vec<String> = (0..8).map(|_| generator.next_api_line()).collect();
    let s3_lines: Vec<String> = (0..10).map(|_| generator.next_s3_line()).collect();
    let object = vec![api_lines[0].clone()];
    let array: Vec<String> = [&s3_lines[0..3], &api_lines[1..3]].concat();
    let ndjson: Vec<String> = [&api_lines[3..6], &s3_lines[3..6]].concat();
    let zipped: Vec<String> = [&s3_lines[6..10], &api_lines[6..8]].concat();
    let array_body = format!("[\n  {}\n]\n", array.join(",\n  "));
    let posts: [(&str, &Vec<String>, Vec<u8>, bool); 4] = [
        ("req-object", &object, object[0].clone().into_bytes(), false),
        ("req-array", &array, array_body.clone().into_bytes(), false),
        (
            "req-ndjson",
            &ndjson,
            format!("{}\n", ndjson.join("\n")).into_bytes(),
            false,
        ),
        (
            "req-gzip",
            &zipped,
            format!("{}\r\n", zipped.join("\r\n")).into_bytes(),
            true,
        ),
    ];
    for (id, lines, body, gzip) in &posts {
        let answer = post(
            &watch,
            &url_event(id, "POST", Some(TOKEN_A), body, *gzip),
            200,
        )
        .await;
        assert_eq!(answer, json!({"accepted": lines.len()}), "{id}");
    }
    let objects = archived(&s3, &bucket).await;
    assert_eq!(objects.len(), posts.len(), "{objects:?}");
    for (id, lines, _, _) in &posts {
        let (key, archived_lines) = objects
            .iter()
            .find(|(key, _)| key.ends_with(&format!("-{id}.jsonl.gz")))
            .unwrap_or_else(|| panic!("no object for {id}: {objects:?}"));
        assert!(key.starts_with("webhook/20"), "{key}");
        assert_eq!(&archived_lines, lines, "{key}: the events exactly as sent");
    }

    // Refused requests store nothing.
    let ndjson_body = format!("{}\n", ndjson.join("\n")).into_bytes();
    let answer = post(
        &watch,
        &url_event("req-bad-token", "POST", Some(TOKEN_B), &ndjson_body, false),
        401,
    )
    .await;
    assert!(
        answer["error"].as_str().unwrap().contains("bearer token"),
        "{answer}"
    );
    post(
        &watch,
        &url_event("req-no-token", "POST", None, &ndjson_body, false),
        401,
    )
    .await;
    let response = watch
        .invoke(&url_event("req-get", "GET", Some(TOKEN_A), b"", false))
        .await;
    assert_eq!(response["statusCode"], 405, "{response}");
    assert_eq!(response["headers"]["allow"], "POST", "{response}");
    let broken = format!("{}\n{{\"event_id\": NotEchoedWord}}\n", api_lines[0]);
    let answer = post(
        &watch,
        &url_event(
            "req-broken",
            "POST",
            Some(TOKEN_A),
            broken.as_bytes(),
            false,
        ),
        400,
    )
    .await;
    let error = answer["error"].as_str().unwrap();
    assert!(error.starts_with("line 2 column "), "{error}");
    assert!(!error.contains("NotEchoedWord"), "{error}");
    let answer = post(
        &watch,
        &url_event(
            "req-scalar",
            "POST",
            Some(TOKEN_A),
            b"[{\"a\":1}, 2]",
            false,
        ),
        400,
    )
    .await;
    assert_eq!(
        answer["error"],
        "line 1: element 2 of the array is not a JSON object"
    );
    let large = format!(
        "{{\"event_id\": \"x\", \"pad\": \"{}\"}}",
        "x".repeat(70_000)
    );
    post(
        &watch,
        &url_event("req-large", "POST", Some(TOKEN_A), large.as_bytes(), false),
        413,
    )
    .await;
    let bomb = vec![b' '; 300_000];
    post(
        &watch,
        &url_event("req-bomb", "POST", Some(TOKEN_A), &bomb, true),
        413,
    )
    .await;
    assert_eq!(archived(&s3, &bucket).await.len(), posts.len());

    // A rotation: the secret now holds the new token and the previous one; the new one is
    // accepted without a cold start (the tokens are read again when one matches none and
    // the cache is older than WEBHOOK_TOKEN_RECHECK_SECONDS), the previous one still works.
    services::secrets()
        .await
        .put_secret_value()
        .secret_id(&secret)
        .secret_string(json!({"tokens": [TOKEN_B, TOKEN_A]}).to_string())
        .send()
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let again = [
        ("req-rotated-b", TOKEN_B, &posts[1]),
        ("req-rotated-a", TOKEN_A, &posts[3]),
    ];
    for (id, token, (_, lines, body, gzip)) in again {
        let answer = post(
            &watch,
            &url_event(id, "POST", Some(token), body, *gzip),
            200,
        )
        .await;
        assert_eq!(answer, json!({"accepted": lines.len()}), "{id}");
    }

    // The S3 path ships every archive object (as the bucket notification would have it):
    // one document per event, the repeated POSTs adding nothing.
    let stream = format!("logs-cursor.audit-{namespace}");
    let objects = archived(&s3, &bucket).await;
    assert_eq!(objects.len(), posts.len() + 2);
    for (key, _) in &objects {
        assert_eq!(
            watch.invoke(&s3_event(&bucket, key)).await,
            json!({"objects": 1}),
            "{key}"
        );
    }
    let events = api_lines.len() + s3_lines.len();
    assert_eq!(engine.count(&stream).await, events as u64);
    let answer = post(
        &watch,
        &url_event(
            "req-repeat",
            "POST",
            Some(TOKEN_B),
            &array_body.clone().into_bytes(),
            false,
        ),
        200,
    )
    .await;
    assert_eq!(answer["accepted"], array.len());
    let repeat = archived(&s3, &bucket).await;
    let (key, _) = repeat
        .iter()
        .find(|(k, _)| k.ends_with("-req-repeat.jsonl.gz"))
        .unwrap();
    assert_eq!(
        watch.invoke(&s3_event(&bucket, key)).await,
        json!({"objects": 1})
    );
    assert_eq!(
        engine.count(&stream).await,
        events as u64,
        "a repeated POST adds nothing"
    );

    // The same documents as the S3 path makes of the same lines from an object of Cursor's.
    let reference_namespace = format!("{namespace}ref");
    let all_lines: Vec<String> = [&api_lines[..], &s3_lines[..]].concat();
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder
        .write_all(format!("{}\n", all_lines.join("\n")).as_bytes())
        .unwrap();
    let reference_key = "cursor/2026/12/04/reference.jsonl.gz";
    services::put_object(&s3, &bucket, reference_key, encoder.finish().unwrap()).await;
    let mut cli_env = services::aws_env();
    cli_env.push(("ES_URL".into(), engine.url.clone()));
    cli_env.push(("DATA_STREAM_NAMESPACE".into(), reference_namespace.clone()));
    let shipped = support::run_cli(
        &["ship", &format!("s3://{bucket}/{reference_key}")],
        &cli_env,
    );
    assert_eq!(shipped.code, Some(0), "{}", shipped.stderr);
    let reference: std::collections::HashMap<String, Value> = engine
        .all_documents(&format!("logs-cursor.audit-{reference_namespace}"))
        .await
        .into_iter()
        .collect();
    let documents = engine.all_documents(&stream).await;
    assert_eq!((documents.len(), reference.len()), (events, events));
    for (id, source) in documents {
        let want = reference
            .get(&id)
            .unwrap_or_else(|| panic!("{id} not made by the S3 path"));
        let (got, want) = (without_provenance(source), without_provenance(want.clone()));
        let mut diff = Vec::new();
        support::json_diff(&got, &want, "", &mut diff);
        assert!(diff.is_empty(), "{id}: {diff:?}");
    }

    // An S3 outage (the archive bucket is gone): 503, so the sender retries; nothing stored,
    // nothing indexed.
    for (key, _) in archived(&s3, &bucket).await {
        s3.delete_object()
            .bucket(&bucket)
            .key(key)
            .send()
            .await
            .unwrap();
    }
    s3.delete_object()
        .bucket(&bucket)
        .key(reference_key)
        .send()
        .await
        .unwrap();
    s3.delete_bucket().bucket(&bucket).send().await.unwrap();
    let fresh: Vec<String> = (0..3).map(|_| generator.next_s3_line()).collect();
    let body = fresh.join("\n").into_bytes();
    let answer = post(
        &watch,
        &url_event("req-outage", "POST", Some(TOKEN_A), &body, false),
        503,
    )
    .await;
    assert!(
        answer["error"].as_str().unwrap().contains("retry"),
        "{answer}"
    );
    assert_eq!(engine.count(&stream).await, events as u64);

    // RUST_LOG=trace: neither token in anything the function printed.
    drop(watch);
    let log = std::fs::read_to_string(dir.join("watch.log")).unwrap();
    assert!(log.contains("\"level\":\"TRACE\""), "trace logging was on");
    for token in [TOKEN_A, TOKEN_B] {
        assert!(!log.contains(token), "a token in {}", dir.display());
        assert!(
            !log.contains(&token[12..]),
            "part of a token in {}",
            dir.display()
        );
    }
}

/// The webhook function has no cluster: it starts without ES_* and archives; an S3 event
/// there fails as a configuration error instead of a failed start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_only_function_starts_without_a_cluster() {
    services::export_aws_env();
    let s3 = services::s3().await;
    let bucket = format!("hookonly-{}", services::unique_namespace("webhook"));
    services::create_bucket(&s3, &bucket).await;
    let uri = format!("s3://{bucket}/webhook/");
    let argv = [
        "lambda",
        "--es-url",
        "",
        "--webhook-archive-uri",
        &uri,
        "--webhook-token",
        TOKEN_A,
    ];
    let handlers = Handlers::build(LambdaArgs::try_parse_from(argv).unwrap())
        .await
        .unwrap();
    let deadline = || Deadline::unbounded(std::time::Duration::from_secs(30));
    let line = EventGenerator::new(7).next_s3_line();
    let event = url_event("req-only", "POST", Some(TOKEN_A), line.as_bytes(), true);
    let response = handle(&handlers, event, deadline()).await.unwrap();
    assert_eq!(response["statusCode"], 200, "{response}");
    let objects = archived(&s3, &bucket).await;
    assert_eq!(objects.len(), 1);
    assert_eq!(objects[0].1, vec![line]);
    let err = handle(&handlers, s3_event(&bucket, &objects[0].0), deadline())
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Configuration", "{err}");
}
