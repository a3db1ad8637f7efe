//! The sink against the real search engine (and moto for the dead letter): templates,
//! exactly-once in effect, dead letters, retries through a fault proxy, outages.

mod support;

use cursor_audit_forwarder::normalize::Normalizer;
use cursor_audit_forwarder::shipping::{Provenance, ShipFields, add_shipping_fields};
use serde_json::Value;
use support::fault_proxy::{Fault, FaultProxy};
use support::services::{self, Engine};
use support::synthetic::EventGenerator;
use support::{CliRun, run_cli, scratch_dir, write_events};

fn env_with(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = services::aws_env();
    env.extend(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    env
}

fn generated(count: usize, seed: u64) -> Vec<String> {
    let mut generator = EventGenerator::new(seed);
    (0..count).map(|_| generator.next_line()).collect()
}

/// `ship FILE` in a child process (on a blocking thread, so the async test can go on).
async fn ship(path: &std::path::Path, env: &[(String, String)]) -> CliRun {
    let (path, env) = (path.to_owned(), env.to_vec());
    tokio::task::spawn_blocking(move || run_cli(&["ship", path.to_str().unwrap()], &env))
        .await
        .unwrap()
}

fn setup(env: &[(String, String)]) {
    let run = run_cli(&["setup"], env);
    assert_eq!(run.code, Some(0), "setup failed: {}", run.stderr);
}

/// The documents the normalizer plus §10 fields give for `lines` read from `path`.
fn expected_documents(lines: &[String], path: &str, namespace: &str) -> Vec<(String, Value)> {
    let normalizer = Normalizer::default();
    let fields = ShipFields {
        namespace: namespace.to_owned(),
        tags: vec!["forwarded".into(), "cursor-audit".into()],
    };
    let provenance = Provenance::File {
        path: path.to_owned(),
    };
    let mut offset = 0u64;
    let mut out = Vec::new();
    for line in lines {
        let normalized = normalizer.normalize_line(line.as_bytes()).unwrap();
        let mut doc = normalized.document;
        add_shipping_fields(&mut doc, &fields, &provenance, offset);
        out.push((normalized.id.unwrap(), doc.to_value()));
        offset += line.len() as u64 + 1;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_then_every_event_is_indexed_exactly_once() {
    every_event_indexed_exactly_once(Engine::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_opensearch_setup_then_every_event_is_indexed_exactly_once() {
    every_event_indexed_exactly_once(Engine::opensearch()).await;
}

/// `setup` twice, `ship` twice: templates, the typed mapping, one document per line equal
/// to the normalizer's output plus the shipping fields, duplicates reported.
async fn every_event_indexed_exactly_once(engine: Engine) {
    let namespace = services::unique_namespace("once");
    let stream = format!("logs-cursor.audit-{namespace}");
    let env = env_with(&[
        ("ES_URL", &engine.url),
        ("DATA_STREAM_NAMESPACE", &namespace),
    ]);
    setup(&env);
    setup(&env); // idempotent

    let (status, template) = engine.get("_index_template/cursor-audit-forwarder").await;
    assert_eq!(status, 200);
    assert_eq!(
        template["index_templates"][0]["index_template"]["priority"],
        250
    );

    let lines = generated(600, 11);
    let dir = scratch_dir("once");
    let path = write_events(&dir, "events.jsonl.gz", &lines, true);
    let run = ship(&path, &env).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.summary("read"), 600);
    assert_eq!(run.summary("indexed"), 600);
    assert_eq!(run.summary("failed"), 0);

    // The data stream came from our template, with the typed mapping.
    let (status, data_stream) = engine.get(&format!("_data_stream/{stream}")).await;
    assert_eq!(status, 200, "{data_stream}");
    assert_eq!(
        data_stream["data_streams"][0]["template"],
        "cursor-audit-forwarder"
    );
    let (_, mapping) = engine.get(&format!("{stream}/_mapping")).await;
    let index_mapping = mapping.as_object().unwrap().values().next().unwrap();
    let props = &index_mapping["mappings"]["properties"];
    assert_eq!(props["source"]["properties"]["ip"]["type"], "ip");
    assert_eq!(
        props["source"]["properties"]["geo"]["properties"]["location"]["type"],
        "geo_point"
    );
    assert_eq!(
        props["cursor"]["properties"]["audit"]["properties"]["event_data"]["type"],
        engine.flat_type()
    );

    // Every _source is the normalizer's output plus the §10 fields, under the event's _id.
    let expected = expected_documents(&lines, path.to_str().unwrap(), &namespace);
    let mut stored: std::collections::HashMap<String, Value> =
        engine.all_documents(&stream).await.into_iter().collect();
    assert_eq!(stored.len(), 600);
    for (id, document) in expected {
        let source = stored
            .remove(&id)
            .unwrap_or_else(|| panic!("no document with _id {id}"));
        assert_eq!(source, document, "document {id}");
    }

    // Shipping the same file again adds nothing and reports duplicates.
    let again = ship(&path, &env).await;
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    assert_eq!(again.summary("duplicates"), 600);
    // The existing data stream's pipelines were read, not guessed after retries.
    assert!(!again.stderr.contains("WARN"), "{}", again.stderr);
    assert_eq!(again.summary("indexed"), 0);
    assert_eq!(engine.count(&stream).await, 600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapping_conflict_is_dead_lettered_and_the_rest_indexed() {
    mapping_conflict_dead_lettered(Engine::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_opensearch_a_mapping_conflict_is_dead_lettered_and_the_rest_indexed() {
    mapping_conflict_dead_lettered(Engine::opensearch()).await;
}

/// A document the mapping refuses goes to the dead letter with its reason; the rest land.
async fn mapping_conflict_dead_lettered(engine: Engine) {
    let namespace = services::unique_namespace("deadletter");
    let stream = format!("logs-cursor.audit-{namespace}");
    let bucket = format!("dead-{namespace}").to_lowercase();
    let s3 = services::s3().await;
    services::create_bucket(&s3, &bucket).await;
    let env = env_with(&[
        ("ES_URL", &engine.url),
        ("DATA_STREAM_NAMESPACE", &namespace),
        ("DEAD_LETTER_BUCKET", &bucket),
    ]);
    setup(&env);
    let mut lines = generated(20, 3);
    // `success` is a boolean in the mapping: "maybe" cannot be indexed.
    let bad = r#"{"event_id":"bad-1","timestamp":"2026-05-04T10:00:00.000Z","ip_address":"192.0.2.1","user_email":"a@example.com","event_type":"login","event_data":{"success":"maybe"}}"#;
    lines.insert(7, bad.to_owned());
    let dir = scratch_dir("deadletter");
    let path = write_events(&dir, "with-conflict.jsonl", &lines, false);
    let run = ship(&path, &env).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.summary("indexed"), 20);
    assert_eq!(run.summary("dead_lettered"), 1);
    assert_eq!(engine.count(&stream).await, 20);

    let objects = services::objects(&s3, &bucket, "dead-letter/").await;
    assert_eq!(objects.len(), 1, "{objects:?}");
    let record: Value = serde_json::from_str(objects[0].1.lines().next().unwrap()).unwrap();
    assert_eq!(record["status"], 400);
    assert_eq!(record["original"], bad);
    assert_eq!(record["line"], 8);
    assert_eq!(record["document"]["cursor"]["audit"]["success"], "maybe");
    assert!(
        record["reason"].as_str().unwrap().contains("success"),
        "{record}"
    );

    // Without a dead letter the rejected document is a failure, never reported as delivered.
    let env = env_with(&[
        ("ES_URL", &engine.url),
        ("DATA_STREAM_NAMESPACE", &namespace),
    ]);
    let single = write_events(
        &dir,
        "only-bad.jsonl",
        &[bad.replace("bad-1", "bad-2")],
        false,
    );
    let run = ship(&single, &env).await;
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_eq!(run.summary("failed"), 1);
    assert_eq!(run.summary("dead_lettered"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_and_outages_are_retried_to_success_with_auth_and_gzip() {
    let engine = Engine::new();
    let proxy = FaultProxy::start(&engine.url);
    let namespace = services::unique_namespace("retries");
    let stream = format!("logs-cursor.audit-{namespace}");
    setup(&env_with(&[("ES_URL", &engine.url)]));
    proxy.inject(&[
        Fault::Status(503),
        Fault::Status(429),
        Fault::EveryItem(429),
        Fault::EveryItem(503),
    ]);
    let env = env_with(&[
        ("ES_URL", &proxy.url),
        ("ES_API_KEY", "test-id:test-secret"),
        ("DATA_STREAM_NAMESPACE", &namespace),
    ]);
    let dir = scratch_dir("retries");
    let path = write_events(&dir, "events.jsonl", &generated(50, 5), false);
    let run = ship(&path, &env).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.summary("indexed"), 50);
    assert_eq!(engine.count(&stream).await, 50);

    let bulk: Vec<_> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("_bulk"))
        .collect();
    assert_eq!(bulk.len(), 5, "four faults, then success");
    let faults: Vec<_> = bulk.iter().map(|r| r.fault).collect();
    assert_eq!(
        faults,
        [
            Some(Fault::Status(503)),
            Some(Fault::Status(429)),
            Some(Fault::EveryItem(429)),
            Some(Fault::EveryItem(503)),
            None
        ]
    );
    for request in &bulk {
        assert_eq!(
            request.header("authorization"),
            Some("ApiKey dGVzdC1pZDp0ZXN0LXNlY3JldA==")
        );
        assert_eq!(request.header("content-encoding"), Some("gzip"));
        assert!(request.body.starts_with(&[0x1f, 0x8b]), "gzip body");
        assert!(request.path.starts_with(&format!("/{stream}/_bulk")));
    }

    // Basic auth and the pipeline parameter.
    let pipeline = format!("p-{namespace}");
    let put = reqwest::Client::new()
        .put(format!("{}/_ingest/pipeline/{pipeline}", engine.url))
        .json(&serde_json::json!({"processors": []}))
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success(), "{:?}", put.text().await);
    let env = env_with(&[
        ("ES_URL", &proxy.url),
        ("ES_USERNAME", "elastic"),
        ("ES_PASSWORD", "changeme"),
        ("ES_PIPELINE", &pipeline),
        ("DATA_STREAM_NAMESPACE", &namespace),
    ]);
    let path = write_events(&dir, "more.jsonl", &generated(10, 6), false);
    let run = ship(&path, &env).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let last = proxy
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.path.contains("_bulk"))
        .unwrap();
    assert_eq!(
        last.header("authorization"),
        Some("Basic ZWxhc3RpYzpjaGFuZ2VtZQ==")
    );
    assert!(
        last.path.contains(&format!("pipeline={pipeline}")),
        "{}",
        last.path
    );
    assert_eq!(engine.count(&stream).await, 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_success_status_without_a_bulk_answer_is_retried_and_every_document_lands_once() {
    let engine = Engine::new();
    let proxy = FaultProxy::start(&engine.url);
    proxy.inject(&[Fault::MaintenancePage, Fault::MaintenancePage]);
    let namespace = services::unique_namespace("maintenance");
    let stream = format!("logs-cursor.audit-{namespace}");
    let env = env_with(&[
        ("ES_URL", &proxy.url),
        ("DATA_STREAM_NAMESPACE", &namespace),
    ]);
    setup(&env_with(&[("ES_URL", &engine.url)]));
    let dir = scratch_dir("maintenance");
    let path = write_events(&dir, "events.jsonl", &generated(30, 12), false);
    let run = ship(&path, &env).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.summary("indexed"), 30);
    assert_eq!(run.summary("failed"), 0);
    assert!(
        run.stderr.contains("not a _bulk answer"),
        "the retries say why: {}",
        run.stderr
    );
    let bulk: Vec<_> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("_bulk"))
        .map(|r| r.fault)
        .collect();
    assert_eq!(
        bulk,
        [
            Some(Fault::MaintenancePage),
            Some(Fault::MaintenancePage),
            None
        ]
    );
    // Exactly once: the pages acknowledged nothing, the real answer everything.
    let documents = engine.all_documents(&stream).await;
    assert_eq!(documents.len(), 30);
    let ids: std::collections::HashSet<_> = documents.iter().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_error_fails_at_once_without_retrying() {
    let engine = Engine::new();
    let proxy = FaultProxy::start(&engine.url);
    proxy.inject(&[Fault::Status(401)]);
    let namespace = services::unique_namespace("unauthorized");
    let env = env_with(&[
        ("ES_URL", &proxy.url),
        ("DATA_STREAM_NAMESPACE", &namespace),
    ]);
    let dir = scratch_dir("unauthorized");
    let path = write_events(&dir, "events.jsonl", &generated(5, 8), false);
    let run = ship(&path, &env).await;
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_eq!(run.summary("failed"), 5);
    assert_eq!(run.summary("indexed"), 0);
    assert!(run.stderr.contains("401"), "{}", run.stderr);
    assert_eq!(
        proxy
            .requests()
            .iter()
            .filter(|r| r.path.contains("_bulk"))
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_engine_is_a_failure_with_nothing_acknowledged() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let env = env_with(&[("ES_URL", &url), ("ES_RETRY_TIMEOUT_SECONDS", "2")]);
    let dir = scratch_dir("unreachable");
    let path = write_events(&dir, "events.jsonl", &generated(30, 9), false);
    let started = std::time::Instant::now();
    let run = ship(&path, &env).await;
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_eq!(run.summary("read"), 30);
    assert_eq!(run.summary("indexed"), 0);
    assert_eq!(run.summary("failed"), 30);
    assert!(
        run.stderr.contains("cannot reach Elasticsearch"),
        "{}",
        run.stderr
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

#[test]
fn without_a_cluster_ship_prints_the_documents_it_would_index() {
    let dir = scratch_dir("dryrun");
    let lines = generated(25, 10);
    let path = write_events(&dir, "events.jsonl.gz", &lines, true);
    let run = run_cli(&["ship", path.to_str().unwrap()], &[]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let documents: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let expected: Vec<Value> = expected_documents(&lines, path.to_str().unwrap(), "default")
        .into_iter()
        .map(|(_, doc)| doc)
        .collect();
    assert_eq!(documents, expected);
    assert_eq!(run.summary("read"), 25);

    // --dry-run with a cluster configured does the same and never connects.
    let run = run_cli(
        &["ship", "--dry-run", path.to_str().unwrap()],
        &[("ES_URL".into(), "http://127.0.0.1:1".into())],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 25);

    // A missing file is an error with a non-zero exit.
    let run = run_cli(&["ship", "/nonexistent/file.jsonl"], &[]);
    assert_eq!(run.code, Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_from_secrets_manager_and_bounded_batches() {
    use std::io::Read;
    let engine = Engine::new();
    let proxy = FaultProxy::start(&engine.url);
    let namespace = services::unique_namespace("secret");
    let stream = format!("logs-cursor.audit-{namespace}");
    let secret = serde_json::json!({"url": proxy.url, "api_key": "sid:skey"}).to_string();
    let arn = services::create_secret(&format!("es-{namespace}"), &secret).await;
    setup(&env_with(&[("ES_URL", &engine.url)]));
    let env = env_with(&[
        ("ES_SECRET_ARN", &arn),
        ("BULK_MAX_ACTIONS", "7"),
        ("BULK_MAX_BYTES", "3000"),
        ("DATA_STREAM_NAMESPACE", &namespace),
    ]);
    let dir = scratch_dir("secret");
    let lines = generated(50, 12);
    let largest_line = lines.iter().map(String::len).max().unwrap();
    let path = write_events(&dir, "events.jsonl", &lines, false);
    let run = ship(&path, &env).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.summary("indexed"), 50);
    assert!(
        !run.stderr.contains("skey"),
        "the secret must not be logged"
    );
    assert_eq!(engine.count(&stream).await, 50);

    let bulk: Vec<_> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("_bulk"))
        .collect();
    assert!(
        bulk.len() >= 50_usize.div_ceil(7),
        "{} requests",
        bulk.len()
    );
    let mut documents = 0;
    for request in &bulk {
        assert_eq!(request.header("authorization"), Some("ApiKey c2lkOnNrZXk="));
        let mut body = String::new();
        flate2::read::GzDecoder::new(&request.body[..])
            .read_to_string(&mut body)
            .unwrap();
        let actions = body.lines().count() / 2;
        documents += actions;
        assert!(actions <= 7, "{actions} actions in one request");
        // The byte limit is soft by at most one document (a document is never split).
        assert!(
            body.len() <= 3000 + 4 * largest_line,
            "{} bytes in one request",
            body.len()
        );
    }
    assert_eq!(documents, 50);
}
