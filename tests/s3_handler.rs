//! The S3 path end to end against moto (S3, DynamoDB) and the real engine: SQS batches of
//! notifications, odd keys, redelivery, a deadline mid-object, bad input, bounded memory.

mod support;

use std::io::Write;
use std::time::Duration;

use clap::Parser;
use cursor_audit_forwarder::config::LambdaArgs;
use cursor_audit_forwarder::lambda::{Handlers, handle};
use cursor_audit_forwarder::shipping::deadline::Deadline;
use serde_json::{Value, json};
use support::fault_proxy::{Fault, FaultProxy};
use support::services::{self, Engine};
use support::synthetic::EventGenerator;

struct Fixture {
    bucket: String,
    stream: String,
    table: String,
    s3: aws_sdk_s3::Client,
    engine: Engine,
}

async fn fixture(name: &str) -> Fixture {
    fixture_on(name, Engine::new()).await
}

async fn fixture_on(name: &str, engine: Engine) -> Fixture {
    services::export_aws_env();
    let namespace = services::unique_namespace(name);
    let fixture = Fixture {
        bucket: format!("audit-{namespace}").to_lowercase(),
        stream: format!("logs-cursor.audit-{namespace}"),
        table: format!("progress-{namespace}"),
        s3: services::s3().await,
        engine,
    };
    services::create_bucket(&fixture.s3, &fixture.bucket).await;
    services::create_table(&fixture.table).await;
    let setup = support::run_cli(&["setup"], &[("ES_URL".into(), fixture.engine.url.clone())]);
    assert_eq!(setup.code, Some(0), "{}", setup.stderr);
    fixture
}

impl Fixture {
    fn namespace(&self) -> &str {
        self.stream.trim_start_matches("logs-cursor.audit-")
    }

    async fn forwarder(&self, es_url: &str, extra: &[&str]) -> Handlers {
        let mut argv = vec![
            "lambda",
            "--es-url",
            es_url,
            "--namespace",
            self.namespace(),
            "--checkpoint-table",
            &self.table,
        ];
        argv.extend_from_slice(extra);
        let args = LambdaArgs::try_parse_from(argv).unwrap();
        Handlers::build(args).await.unwrap()
    }
}

fn s3_lines(count: usize, seed: u64) -> Vec<String> {
    let mut generator = EventGenerator::new(seed);
    (0..count).map(|_| generator.next_s3_line()).collect()
}

fn gzip(text: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(text).unwrap();
    encoder.finish().unwrap()
}

fn ndjson(lines: &[String]) -> Vec<u8> {
    lines
        .iter()
        .flat_map(|l| format!("{l}\n").into_bytes())
        .collect()
}

/// How S3 encodes a key in notifications.
fn encode_key(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b' ' => "+".to_owned(),
            b if b.is_ascii_alphanumeric() || b"/-_.".contains(&b) => (b as char).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

fn s3_notification(bucket: &str, key: &str) -> Value {
    json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-25T12:00:00.000Z", "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "EXAMPLE"}, "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {}, "s3": {"s3SchemaVersion": "1.0", "configurationId": "c",
            "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
            "object": {"key": encode_key(key), "size": 1, "sequencer": "1"}}
    }]})
}

fn sqs_batch(messages: &[(&str, Value)]) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|(id, body)| json!({"messageId": id, "receiptHandle": "r", "body": body.to_string(),
                                 "attributes": {}, "messageAttributes": {}, "md5OfBody": "x",
                                 "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:1:q",
                                 "awsRegion": "us-east-1"}))
        .collect();
    json!({"Records": records})
}

fn failed_ids(response: &Value) -> Vec<String> {
    let mut ids: Vec<String> = response["batchItemFailures"]
        .as_array()
        .unwrap_or_else(|| panic!("not a batch response: {response}"))
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

fn generous() -> Deadline {
    Deadline {
        hard: Some(tokio::time::Instant::now() + Duration::from_secs(120)),
        per_batch: Duration::from_secs(30),
        stop_margin: Duration::from_secs(2),
    }
}

both_engines!(
    an_sqs_batch_is_forwarded_once_whatever_the_keys_and_redeliveries,
    sqs_batch_forwarded_once_on
);

async fn sqs_batch_forwarded_once_on(engine: Engine) {
    let name = if engine.opensearch {
        "ossqsbatch"
    } else {
        "sqsbatch"
    };
    sqs_batch_forwarded_once(fixture_on(name, engine).await).await;
}

/// Notifications in an SQS batch (multi-member gzip, odd keys, a skipped suffix, a test
/// event), redelivered, direct and SNS-wrapped: every line lands once.
async fn sqs_batch_forwarded_once(f: Fixture) {
    let multi_key = "2026/11/25/multi member audit.jsonl.gz";
    let plain_key = "2026/11/25/plain-é.ndjson";
    let skipped_key = "2026/11/25/readme.txt";
    let first = s3_lines(120, 1);
    let second = s3_lines(80, 2);
    let mut multi = gzip(&ndjson(&first));
    multi.extend(gzip(&ndjson(&second)));
    let plain = s3_lines(30, 3);
    services::put_object(&f.s3, &f.bucket, multi_key, multi).await;
    services::put_object(&f.s3, &f.bucket, plain_key, ndjson(&plain)).await;
    services::put_object(&f.s3, &f.bucket, skipped_key, b"not audit data".to_vec()).await;
    let forwarder = f.forwarder(&f.engine.url, &[]).await;

    let test_event = json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-11-25T12:00:00Z", "Bucket": f.bucket});
    let batch = sqs_batch(&[
        ("m1", s3_notification(&f.bucket, multi_key)),
        ("m2", s3_notification(&f.bucket, plain_key)),
        ("m3", s3_notification(&f.bucket, skipped_key)),
        ("m4", test_event),
    ]);
    let response = handle(&forwarder, batch.clone(), generous()).await.unwrap();
    assert_eq!(failed_ids(&response), Vec::<String>::new());
    assert_eq!(f.engine.count(&f.stream).await, 230);

    // The provenance fields of an S3 document.
    let documents = f.engine.all_documents(&f.stream).await;
    let plain_doc = documents
        .iter()
        .map(|(_, d)| d)
        .find(|d| d["aws"]["s3"]["object"]["key"] == plain_key)
        .expect("a document from the plain object");
    assert_eq!(plain_doc["aws"]["s3"]["bucket"]["name"], f.bucket.as_str());
    assert_eq!(plain_doc["cloud"]["provider"], "aws");
    assert!(
        plain_doc["log"]["file"]["path"]
            .as_str()
            .unwrap()
            .starts_with(&format!("https://{}.s3.", f.bucket))
    );

    // The same notifications again: nothing new, nothing failed.
    let response = handle(&forwarder, batch, generous()).await.unwrap();
    assert_eq!(failed_ids(&response), Vec::<String>::new());
    assert_eq!(f.engine.count(&f.stream).await, 230);

    // Direct S3 and SNS-wrapped notifications take the same path.
    let direct = handle(
        &forwarder,
        s3_notification(&f.bucket, plain_key),
        generous(),
    )
    .await;
    assert!(direct.is_ok(), "{direct:?}");
    let sns = json!({"Type": "Notification", "MessageId": "n", "Message": s3_notification(&f.bucket, plain_key).to_string()});
    let response = handle(&forwarder, sqs_batch(&[("m5", sns)]), generous())
        .await
        .unwrap();
    assert_eq!(failed_ids(&response), Vec::<String>::new());
    assert_eq!(f.engine.count(&f.stream).await, 230);

    // An unknown event is an error that says what arrived.
    let err = handle(&forwarder, json!({"hello": "world"}), generous())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("hello"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_mid_object_is_resumed_by_the_redelivery() {
    let f = fixture("deadline").await;
    let key = "2026/11/25/big.jsonl.gz";
    services::put_object(&f.s3, &f.bucket, key, gzip(&ndjson(&s3_lines(300, 4)))).await;
    let proxy = FaultProxy::start(&f.engine.url);
    let forwarder = f.forwarder(&proxy.url, &["--bulk-max-actions", "50"]).await;
    let batch = sqs_batch(&[("m1", s3_notification(&f.bucket, key))]);
    // The invocation has 20 s and starts no batch in its last 10 s. The first bulk request
    // is held by the proxy until 12 s, past that point, and answered well before the end:
    // exactly one batch of 50 gets through. The first batch has 10 s to start (reading the
    // object takes well under 1 s) and 8 s to come back, so a slow machine changes nothing;
    // with a 3 s invocation, a 2 s margin and a 2 s delay, a first batch starting later than
    // 1 s in let nothing through.
    let now = tokio::time::Instant::now();
    proxy.inject(&[Fault::HoldUntil((now + Duration::from_secs(12)).into_std())]);
    let tight = Deadline {
        hard: Some(now + Duration::from_secs(20)),
        per_batch: Duration::from_secs(30),
        stop_margin: Duration::from_secs(10),
    };
    let response = handle(&forwarder, batch.clone(), tight).await.unwrap();
    assert_eq!(failed_ids(&response), vec!["m1".to_owned()]);
    assert_eq!(f.engine.count(&f.stream).await, 50);

    let response = handle(&forwarder, batch.clone(), generous()).await.unwrap();
    assert_eq!(failed_ids(&response), Vec::<String>::new());
    assert_eq!(f.engine.count(&f.stream).await, 300);
    // The redelivery resumed: lines 1–50 were not sent again.
    let sent: usize = proxy
        .requests()
        .iter()
        .filter(|r| r.path.contains("_bulk"))
        .map(|r| {
            let mut text = String::new();
            std::io::Read::read_to_string(
                &mut flate2::read::GzDecoder::new(&r.body[..]),
                &mut text,
            )
            .unwrap();
            text.lines().count() / 2
        })
        .sum();
    assert_eq!(sent, 300);
    // And once complete, a third delivery ships nothing.
    let before = proxy.requests().len();
    let response = handle(&forwarder, batch, generous()).await.unwrap();
    assert_eq!(failed_ids(&response), Vec::<String>::new());
    assert_eq!(proxy.requests().len(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_indexed_as_error_documents_and_only_broken_objects_fail() {
    let f = fixture("badinput").await;
    // A truncated gzip: what was readable is indexed, the object fails.
    let truncated_lines = s3_lines(2000, 5);
    let mut truncated = gzip(&ndjson(&truncated_lines));
    truncated.truncate(truncated.len() * 2 / 3);
    services::put_object(&f.s3, &f.bucket, "2026/11/25/truncated.jsonl.gz", truncated).await;
    // Good lines with a malformed one and a 5 MB one among them.
    let mut mixed = s3_lines(10, 6);
    mixed.insert(3, "{not json".to_owned());
    mixed.insert(
        7,
        format!("{{\"huge\":\"{}\"}}", "x".repeat(5 * 1024 * 1024)),
    );
    services::put_object(
        &f.s3,
        &f.bucket,
        "2026/11/25/mixed.jsonl.gz",
        gzip(&ndjson(&mixed)),
    )
    .await;
    let forwarder = f.forwarder(&f.engine.url, &[]).await;
    let batch = sqs_batch(&[
        (
            "broken",
            s3_notification(&f.bucket, "2026/11/25/truncated.jsonl.gz"),
        ),
        (
            "fine",
            s3_notification(&f.bucket, "2026/11/25/mixed.jsonl.gz"),
        ),
        (
            "missing",
            s3_notification(&f.bucket, "2026/11/25/deleted.jsonl.gz"),
        ),
        ("garbage", json!({"not": "a notification"})),
    ]);
    let response = handle(&forwarder, batch, generous()).await.unwrap();
    assert_eq!(failed_ids(&response), vec!["broken", "garbage", "missing"]);

    let documents = f.engine.all_documents(&f.stream).await;
    let from = |key: &str| {
        documents
            .iter()
            .filter(|(_, d)| d["aws"]["s3"]["object"]["key"] == key)
            .count()
    };
    let readable = from("2026/11/25/truncated.jsonl.gz");
    assert!(
        readable > 100 && readable < 2000,
        "{readable} documents from the truncated object"
    );
    assert_eq!(from("2026/11/25/mixed.jsonl.gz"), 12);
    let errors: Vec<&Value> = documents
        .iter()
        .map(|(_, d)| d)
        .filter(|d| d["event"]["kind"] == "pipeline_error")
        .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors.iter().any(|d| d["event"]["original"] == "{not json"));
    assert!(errors.iter().any(|d| {
        d["error"]["message"][0]
            .as_str()
            .unwrap()
            .contains("MAX_LINE_BYTES")
    }));
}

/// `ship s3://bucket/prefix/` through the CLI; returns the run and its peak RSS in MB.
async fn ship_prefix(f: &Fixture, prefix: &str) -> (support::CliRun, f64) {
    let mut env = services::aws_env();
    env.push(("ES_URL".into(), f.engine.url.clone()));
    env.push(("DATA_STREAM_NAMESPACE".into(), f.namespace().to_owned()));
    env.push(("CHECKPOINT_TABLE".into(), f.table.clone()));
    let url = format!("s3://{}/{prefix}", f.bucket);
    let run = tokio::task::spawn_blocking(move || support::run_cli(&["ship", &url], &env))
        .await
        .unwrap();
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let line = run
        .stderr
        .lines()
        .rev()
        .find(|l| l.starts_with("summary:"))
        .unwrap()
        .to_owned();
    let peak: f64 = line
        .split_whitespace()
        .find_map(|p| p.strip_prefix("peak_rss_mb="))
        .unwrap()
        .parse()
        .unwrap();
    (run, peak)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_object_ships_in_bounded_memory_through_the_cli() {
    let f = fixture("large").await;
    // The same command on a small object gives the process's own footprint (the test
    // binary is a debug build, whose code and relocations alone take tens of MB).
    services::put_object(
        &f.s3,
        &f.bucket,
        "2026/11/24/small.jsonl.gz",
        gzip(&ndjson(&s3_lines(200, 3))),
    )
    .await;
    let (small, baseline) = ship_prefix(&f, "2026/11/24/").await;
    assert_eq!(small.summary("indexed"), 200);

    let lines = s3_lines(110_000, 7);
    let text = ndjson(&lines);
    assert!(text.len() >= 50 * 1024 * 1024, "{} bytes", text.len());
    let key = "2026/11/25/large.jsonl.gz";
    services::put_object(&f.s3, &f.bucket, key, gzip(&text)).await;
    drop(text);
    let (run, peak) = ship_prefix(&f, "2026/11/25/").await;
    assert_eq!(run.summary("read"), 110_000);
    assert_eq!(run.summary("indexed"), 110_000);
    eprintln!("peak RSS {peak} MB; the same command on 200 lines: {baseline} MB");
    // What a 53 MB object adds is the pipeline's bounded buffers (a few batches and
    // chunks in flight), nowhere near the object's size. The release binary's absolute
    // figures are in BENCHMARKS.md.
    assert!(
        peak - baseline < 40.0,
        "peak RSS {peak} MB against {baseline} MB for 200 lines"
    );
    assert_eq!(f.engine.count(&f.stream).await, 110_200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_never_read_back_as_audit_events() {
    let f = fixture("deadletters").await;
    let audit = s3_lines(40, 11);
    services::put_object(
        &f.s3,
        &f.bucket,
        "2026/11/25/audit.jsonl.gz",
        gzip(&ndjson(&audit)),
    )
    .await;
    // A dead-letter record is NDJSON with an accepted suffix, and holds an event that would
    // normalize: only where it lies tells it apart.
    let dead_letter = serde_json::json!({"document": {"event": {"id": "x"}}, "original": s3_lines(1, 12)[0], "reason": "mapper_parsing_exception"});
    let dead_key = "dead-letter/2026/11/25/1764072000000-abc.ndjson";
    services::put_object(
        &f.s3,
        &f.bucket,
        dead_key,
        format!("{dead_letter}\n{}\n", s3_lines(1, 13)[0]).into_bytes(),
    )
    .await;

    // `ship s3://bucket/` lists both, ships the audit object and says what it left out.
    let (run, _) = ship_prefix(&f, "").await;
    assert_eq!(run.summary("read"), 40, "{}", run.stderr);
    assert!(
        run.stderr.contains("skipped 1 objects under dead-letter/"),
        "{}",
        run.stderr
    );
    assert_eq!(f.engine.count(&f.stream).await, 40);

    // A notification naming the dead letter (a bucket notified without a suffix filter) is
    // acknowledged without reading it.
    let forwarder = f.forwarder(&f.engine.url, &[]).await;
    let batch = sqs_batch(&[("dl", s3_notification(&f.bucket, dead_key))]);
    let response = handle(&forwarder, batch, generous()).await.unwrap();
    assert_eq!(failed_ids(&response), Vec::<String>::new());
    assert_eq!(f.engine.count(&f.stream).await, 40);

    // Named explicitly, it is skipped too.
    let mut env = services::aws_env();
    env.push(("ES_URL".into(), f.engine.url.clone()));
    env.push(("DATA_STREAM_NAMESPACE".into(), f.namespace().to_owned()));
    let url = format!("s3://{}/{dead_key}", f.bucket);
    let run = tokio::task::spawn_blocking(move || support::run_cli(&["ship", &url], &env))
        .await
        .unwrap();
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.summary("read"), 0, "{}", run.stderr);
    assert_eq!(f.engine.count(&f.stream).await, 40);
}
