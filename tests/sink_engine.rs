//! The sink against the real search engine (and moto for the dead letter): templates,
//! exactly-once in effect, dead letters, retries through a fault proxy, outages.

mod support;

use serde_json::{Value, json};
use support::fault_proxy::{Fault, FaultProxy};
use support::services::{self, Engine};
use support::synthetic::EventGenerator;
use support::{
    CliRun, GoldenLine, event_id_fingerprint, file_fallback_id, geoip_test_dbs, json_diff, run_cli,
    scratch_dir, write_events, write_golden_file,
};

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

/// The tags shipping adds by default (`TAGS`, docs/normalization.md §10).
const DEFAULT_TAGS: [&str; 2] = ["forwarded", "cursor-audit"];

/// What `ship FILE` must store for a golden line: Elastic's expected document plus the §10
/// fields of a local file, written out here as literals (docs/normalization.md §10): the
/// data stream, `event.dataset`, the default tags after the document's own, `log.file.path`
/// (the path as given) and `log.offset` (the line's byte offset). No `input`, `aws` or
/// `cloud` fields: those belong to raw documents and S3 objects.
fn golden_as_shipped(golden: &GoldenLine, path: &str, namespace: &str) -> Value {
    let mut document = golden.expected.clone();
    let object = document
        .as_object_mut()
        .expect("golden documents are objects");
    for key in ["data_stream", "log", "input", "aws", "cloud"] {
        assert!(
            !object.contains_key(key),
            "golden document already has {key}: {document}"
        );
    }
    object.insert(
        "data_stream".into(),
        json!({"type": "logs", "dataset": "cursor.audit", "namespace": namespace}),
    );
    object.insert(
        "log".into(),
        json!({"file": {"path": path}, "offset": golden.offset}),
    );
    let event = object
        .get_mut("event")
        .and_then(Value::as_object_mut)
        .expect("golden documents have event");
    assert!(!event.contains_key("dataset"), "golden event.dataset");
    event.insert("dataset".into(), json!("cursor.audit"));
    let tags = object
        .entry("tags")
        .or_insert_with(|| json!([]))
        .as_array_mut()
        .expect("tags is a list");
    for tag in DEFAULT_TAGS {
        if !tags.iter().any(|t| t == tag) {
            tags.push(json!(tag));
        }
    }
    document
}

/// The `_id` of a golden line shipped from `path` (§9), computed independently: from the
/// `event.id` Elastic's expected document shows, or the file position without one.
fn golden_id(golden: &GoldenLine, path: &str) -> String {
    match &golden.expected["event"]["id"] {
        Value::String(id) => event_id_fingerprint(id),
        Value::Null => file_fallback_id(path, golden.offset),
        other => event_id_fingerprint(&other.to_string()),
    }
}

/// The settings the golden documents were produced with.
fn golden_settings() -> [(String, String); 3] {
    let (city, asn) = geoip_test_dbs();
    [
        ("PRESERVE_ORIGINAL_EVENT".into(), "true".into()),
        ("GEOIP_CITY_DB".into(), city.to_str().unwrap().into()),
        ("GEOIP_ASN_DB".into(), asn.to_str().unwrap().into()),
    ]
}

/// The event id of a raw line of either shape (§1: `event_id`, or `metadata.id`).
fn raw_event_id(line: &str) -> String {
    let event: Value = serde_json::from_str(line).unwrap();
    let id = if event["metadata"].is_object() {
        &event["metadata"]["id"]
    } else {
        &event["event_id"]
    };
    id.as_str()
        .unwrap_or_else(|| panic!("synthetic line without an id: {line}"))
        .to_owned()
}

both_engines!(
    setup_then_every_event_is_indexed_exactly_once,
    every_event_indexed_exactly_once
);

/// `setup` twice, `ship` twice: templates, the typed mapping, one document per event under
/// its §9 `_id`, every golden line's `_source` equal to Elastic's expected document plus the
/// literal §10 fields, duplicates reported.
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

    // 600 synthetic events (a gzip file) for counting: exactly once, each under its own _id.
    let lines = generated(600, 11);
    let dir = scratch_dir("once");
    let path = write_events(&dir, "events.jsonl.gz", &lines, true);
    let path_text = path.to_str().unwrap();
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

    // Every synthetic line is stored once under the §9 _id of its event id, with the local
    // file's §10 fields (the offset is the line's position in the decompressed file).
    let mut offset = 0u64;
    let mut expected_ids = std::collections::HashMap::new();
    for line in &lines {
        expected_ids.insert(event_id_fingerprint(&raw_event_id(line)), offset);
        offset += line.len() as u64 + 1;
    }
    assert_eq!(expected_ids.len(), 600, "synthetic event ids are unique");
    let stored = engine.all_documents(&stream).await;
    assert_eq!(stored.len(), 600);
    for (id, source) in &stored {
        let offset = expected_ids
            .remove(id)
            .unwrap_or_else(|| panic!("unexpected or repeated _id {id}: {source}"));
        assert_eq!(
            source["data_stream"],
            json!({"type": "logs", "dataset": "cursor.audit", "namespace": namespace}),
            "{id}"
        );
        assert_eq!(source["event"]["dataset"], "cursor.audit", "{id}");
        assert_eq!(
            source["log"],
            json!({"file": {"path": path_text}, "offset": offset}),
            "{id}"
        );
        let tags = source["tags"].as_array().unwrap();
        assert_eq!(
            tags[tags.len() - 2..],
            DEFAULT_TAGS.map(Value::from),
            "{id}"
        );
        for absent in ["input", "aws", "cloud"] {
            assert!(source.get(absent).is_none(), "{id}: {absent} in {source}");
        }
    }
    assert!(expected_ids.is_empty(), "never stored: {expected_ids:?}");

    // Shipping the same file again adds nothing and reports duplicates.
    let again = ship(&path, &env).await;
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    assert_eq!(again.summary("duplicates"), 600);
    // The existing data stream's pipelines were read, not guessed after retries.
    assert!(!again.stderr.contains("WARN"), "{}", again.stderr);
    assert_eq!(again.summary("indexed"), 0);
    assert_eq!(engine.count(&stream).await, 600);

    // The golden lines, field by field: each stored _source is Elastic's expected document
    // plus the literal §10 fields, under the independently computed _id. Lines whose event
    // id came earlier (the combined fixture files repeat events) are duplicates: the first
    // one is stored.
    let golden_namespace = services::unique_namespace("oncegolden");
    let golden_stream = format!("logs-cursor.audit-{golden_namespace}");
    let mut golden_env = env_with(&[
        ("ES_URL", &engine.url),
        ("DATA_STREAM_NAMESPACE", &golden_namespace),
    ]);
    golden_env.extend(golden_settings());
    let (golden_path, golden) = write_golden_file(&dir, "golden.ndjson");
    let golden_path_text = golden_path.to_str().unwrap();
    let mut want: std::collections::HashMap<String, Value> = std::collections::HashMap::new();
    for line in &golden {
        want.entry(golden_id(line, golden_path_text))
            .or_insert_with(|| golden_as_shipped(line, golden_path_text, &golden_namespace));
    }
    let run = ship(&golden_path, &golden_env).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.summary("read"), golden.len() as u64);
    assert_eq!(run.summary("indexed"), want.len() as u64);
    assert_eq!(
        run.summary("duplicates"),
        (golden.len() - want.len()) as u64
    );
    assert_eq!(run.summary("failed"), 0);
    let stored = engine.all_documents(&golden_stream).await;
    assert_eq!(stored.len(), want.len());
    let mut failures = Vec::new();
    for (id, source) in stored {
        let Some(document) = want.remove(&id) else {
            failures.push(format!("unexpected _id {id}: {source}"));
            continue;
        };
        let mut diffs = Vec::new();
        json_diff(&source, &document, "", &mut diffs);
        if !diffs.is_empty() {
            failures.push(format!("_id {id}:\n  {}", diffs.join("\n  ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(want.is_empty(), "never stored: {:?}", want.keys());
}

both_engines!(
    a_mapping_conflict_is_dead_lettered_and_the_rest_indexed,
    mapping_conflict_dead_lettered
);

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
    // The golden lines with the settings they were produced with: each printed document is
    // Elastic's expected document plus the literal §10 fields (namespace `default`), in order.
    let dir = scratch_dir("dryrun");
    let (path, golden) = write_golden_file(&dir, "golden.ndjson");
    let path_text = path.to_str().unwrap();
    let settings = golden_settings().to_vec();
    let run = run_cli(&["ship", path_text], &settings);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let documents: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(documents.len(), golden.len());
    let mut failures = Vec::new();
    for (i, (got, line)) in documents.iter().zip(&golden).enumerate() {
        let mut diffs = Vec::new();
        json_diff(
            got,
            &golden_as_shipped(line, path_text, "default"),
            "",
            &mut diffs,
        );
        if !diffs.is_empty() {
            failures.push(format!("line {}:\n  {}", i + 1, diffs.join("\n  ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(run.summary("read"), golden.len() as u64);

    // --dry-run with a cluster configured does the same and never connects.
    let mut env = settings;
    env.push(("ES_URL".into(), "http://127.0.0.1:1".into()));
    let run = run_cli(&["ship", "--dry-run", path_text], &env);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let again: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(again, documents);

    // A missing file is an error with a non-zero exit.
    let run = run_cli(&["ship", "/nonexistent/file.jsonl"], &[]);
    assert_eq!(run.code, Some(1));
}

/// The `Authorization` header of an ES API key given as `id:key`.
fn api_key_header(id_and_key: &str) -> String {
    use base64::Engine as _;
    format!(
        "ApiKey {}",
        base64::engine::general_purpose::STANDARD.encode(id_and_key)
    )
}

/// A key rotation while the process runs (a warm function): the secret gets a new key and
/// the cluster stops accepting the old one. The next request is refused (401), the
/// connection reads `ES_SECRET_ARN` again, sends that request once more with the new key,
/// and shipping goes on without a restart and without losing or repeating a document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_cluster_secret_is_read_again_on_a_401_and_shipping_goes_on() {
    use clap::Parser;
    use cursor_audit_forwarder::config::{LambdaArgs, build};
    services::export_aws_env();
    let engine = Engine::new();
    let proxy = FaultProxy::start(&engine.url);
    let namespace = services::unique_namespace("rotate");
    let stream = format!("logs-cursor.audit-{namespace}");
    setup(&env_with(&[("ES_URL", &engine.url)]));
    let (old, new) = ("rotid1:OldKeyValue", "rotid2:NewKeyValue");
    proxy.require_authorization(Some(api_key_header(old)));
    let secret = |key: &str| json!({"api_key": key}).to_string();
    let arn = services::create_secret(&format!("es-{namespace}"), &secret(old)).await;
    // The URL as a flag: it wins over an `ES_URL` this process may have in its environment.
    let args = LambdaArgs::try_parse_from([
        "lambda",
        "--es-url",
        &proxy.url,
        "--es-secret-arn",
        &arn,
        "--namespace",
        &namespace,
        "--bulk-max-actions",
        "10",
    ])
    .unwrap();
    let job = build::named_sources(
        &[],
        false,
        &args.normalizer,
        &args.sink,
        &args.s3,
        &args.checkpoint,
    )
    .await
    .unwrap();
    let dir = scratch_dir("rotate");
    let ship_file = |name: &str, lines: Vec<String>| {
        let path = write_events(&dir, name, &lines, false);
        path.to_str().unwrap().to_owned()
    };
    let before = ship_file("before.jsonl", generated(20, 41));
    let report = job.ship_all(&[before], &|_, _, _| {}).await;
    assert!(report.succeeded(), "{:?}", report.failures);
    assert_eq!(report.counts.indexed, 20);

    // Rotate: the new key into the secret, then the old one invalidated.
    services::secrets()
        .await
        .put_secret_value()
        .secret_id(&arn)
        .secret_string(secret(new))
        .send()
        .await
        .unwrap();
    proxy.require_authorization(Some(api_key_header(new)));
    let rotated_at = proxy.requests().len();

    let after = ship_file("after.jsonl", generated(30, 42));
    let report = job.ship_all(&[after], &|_, _, _| {}).await;
    assert!(report.succeeded(), "{:?}", report.failures);
    assert_eq!(report.counts.indexed, 30);
    assert_eq!(report.counts.failed, 0);
    engine.refresh(&stream).await;
    assert_eq!(engine.count(&stream).await, 50);

    // Exactly one request went out with the old key after the rotation (refused), the
    // same bulk request was sent again with the new key, and every later one used it.
    let since: Vec<_> = proxy.requests().split_off(rotated_at);
    let keys: Vec<&str> = since
        .iter()
        .map(|r| r.header("authorization").unwrap_or_default())
        .collect();
    let (old_header, new_header) = (api_key_header(old), api_key_header(new));
    assert_eq!(keys[0], old_header, "{keys:?}");
    assert!(keys[1..].iter().all(|k| *k == new_header), "{keys:?}");
    assert_eq!(since[0].path, since[1].path);
    assert_eq!(since[0].body, since[1].body);
    assert_eq!(
        since.len(),
        1 + 3,
        "one refused request and three batches of 10"
    );
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
