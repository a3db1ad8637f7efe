//! A stalled S3 body (the connection stays open, no more bytes come) must not hold an
//! invocation until Lambda kills it: reading is bounded by the invocation deadline, so the
//! handler answers in time, with the progress of the acknowledged lines saved for the
//! redelivery. Its own process: it points S3 (only) at a server that stalls.

mod support;

use std::time::{Duration, Instant};

use clap::Parser;
use cursor_audit_forwarder::config::LambdaArgs;
use cursor_audit_forwarder::lambda::{Handlers, handle};
use cursor_audit_forwarder::shipping::deadline::Deadline;
use support::hostile::{Answer, HostileServer};
use support::services;
use support::synthetic::EventGenerator;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_ends_at_the_deadline_with_progress_saved() {
    services::export_aws_env();
    let namespace = services::unique_namespace("stall");
    let table = format!("progress-{namespace}");
    services::create_table(&table).await;
    let mut generator = EventGenerator::new(5);
    let body: Vec<u8> = (0..100)
        .flat_map(|_| format!("{}\n", generator.next_s3_line()).into_bytes())
        .collect();
    let s3 = HostileServer::start(
        Vec::new(),
        Answer::Stall {
            headers: vec![("ETag".into(), "\"stalled-etag\"".into())],
            declared: body.len() + 10_000_000,
            body,
            // A byte every 200 ms after the 100 lines: line 101 never ends, and only the
            // deadline can end the read (a silent body is ended by the SDK after ~5 s, so a
            // silent one would need a deadline under 5 s, too tight for a loaded machine).
            trickle: Some(Duration::from_millis(200)),
        },
    );
    let es = HostileServer::start(Vec::new(), Answer::created());
    // SAFETY (test process only): set before any AWS client is built in this process.
    unsafe { std::env::set_var("AWS_ENDPOINT_URL_S3", &s3.url) };
    let args = LambdaArgs::try_parse_from([
        "lambda",
        "--es-url",
        &es.url,
        "--namespace",
        &namespace,
        "--checkpoint-table",
        &table,
        "--bulk-max-actions",
        "10",
    ])
    .unwrap();
    let handlers = Handlers::build(args).await.unwrap();
    let event = serde_json::json!({"Records": [{
        "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "stalled"}, "object": {"key": "2026/11/25/a.jsonl"}}
    }]});
    // 10 s for the invocation: the 100 lines that arrive (10 bulk requests and their
    // progress writes) have 9.5 s, far more than a loaded machine needs (with 4 s they could
    // miss the deadline). The handler must answer at the deadline: 6 s after it is room for
    // wrapping up on a slow machine, and far short of the minute the body goes on for.
    let started = Instant::now();
    let deadline = Deadline {
        hard: Some(tokio::time::Instant::now() + Duration::from_secs(10)),
        per_batch: Duration::from_secs(30),
        stop_margin: Duration::from_millis(500),
    };
    let result = handle(&handlers, event, deadline).await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(16), "took {took:?}");
    let err = result.unwrap_err();
    assert!(err.to_string().contains("deadline"), "{err}");
    assert_eq!(err.error_type(), "Timeout");
    // The 100 lines that arrived were shipped in 10 batches and their progress saved.
    let bulk = es
        .requests()
        .iter()
        .filter(|r| r.path.contains("_bulk"))
        .count();
    assert_eq!(bulk, 10);
    let item = aws_sdk_dynamodb::Client::new(&services::moto_config().await)
        .get_item()
        .table_name(&table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(
                "object#stalled/2026/11/25/a.jsonl#stalled-etag".into(),
            ),
        )
        .send()
        .await
        .unwrap()
        .item
        .expect("progress saved");
    assert_eq!(item["lines_acknowledged"].as_n().unwrap(), "100");
    assert_eq!(item["complete"].as_bool().unwrap(), &false);
}
