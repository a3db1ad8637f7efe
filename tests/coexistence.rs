//! Beside Elastic's installed integration assets (sink/mode.rs, docs/integration-pipeline.md):
//! with an index template shaped like the integration's — its name, pattern and priority,
//! and an `index.default_pipeline` named like the integration's pipeline (an empty one: the
//! local node has no ingest processors) — `NORMALIZE_IN=auto` sends what Elastic Agent
//! sends, the raw line as `message` under the integration's `_id`; without it, finished
//! documents as before. Its own test binary: the template governs every
//! `logs-cursor.audit-*` data stream while it exists, and is removed at the end.

mod support;

use base64::Engine as _;
use serde_json::{Value, json};
use sha1::Digest as _;
use support::fault_proxy::FaultProxy;
use support::services::{self, Engine};
use support::{CliRun, run_cli, scratch_dir, write_events};

const PIPELINE: &str = "logs-cursor.audit-9.9.9-test";

/// The integration's `_id` for an `event_id`, computed here independently: base64 of
/// SHA-1 over 0x00 and the id's UTF-8 bytes (its `fingerprint` processor).
fn integration_id(event_id: &str) -> String {
    let mut digest = sha1::Sha1::new();
    digest.update([0u8]);
    digest.update(event_id.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(digest.finalize())
}

fn api_line(event_id: &str, minute: u32) -> String {
    json!({
        "event_id": event_id,
        "timestamp": format!("2026-11-25T12:{minute:02}:00.000Z"),
        "ip_address": "203.0.113.7",
        "user_email": "ada@example.com",
        "event_type": "login",
        "event_data": {"success": true}
    })
    .to_string()
}

/// Puts the integration-shaped template and its pipeline in place; removes them (and
/// reinstalls ours) when dropped, whatever the test did.
struct IntegrationAssets {
    engine_url: String,
}

impl IntegrationAssets {
    async fn install(engine: &Engine) -> IntegrationAssets {
        let http = reqwest::Client::new();
        let put = |path: &str, body: Value| {
            let request = http.put(format!("{}/{path}", engine.url)).json(&body);
            async move {
                let response = request.send().await.unwrap();
                let status = response.status();
                assert!(
                    status.is_success(),
                    "{status}: {}",
                    response.text().await.unwrap()
                );
            }
        };
        put(
            &format!("_ingest/pipeline/{PIPELINE}"),
            json!({"processors": []}),
        )
        .await;
        put(
            "_index_template/logs-cursor.audit",
            json!({
                "index_patterns": ["logs-cursor.audit-*"],
                "data_stream": {},
                "priority": 200,
                "template": {"settings": {"index.default_pipeline": PIPELINE}},
                "_meta": {"managed_by": "fleet", "package": {"name": "cursor"}}
            }),
        )
        .await;
        // Ours would win (priority 250): the integration's template governs only without
        // it. (A template in use can be deleted only once another one matches its data
        // streams, hence the order.)
        let deleted = http
            .delete(format!(
                "{}/_index_template/cursor-audit-forwarder",
                engine.url
            ))
            .send()
            .await
            .unwrap();
        assert!(
            deleted.status().is_success() || deleted.status().as_u16() == 404,
            "{}",
            deleted.text().await.unwrap()
        );
        IntegrationAssets {
            engine_url: engine.url.clone(),
        }
    }
}

/// Runs `work` to its end on a runtime of its own, in a thread of its own (`Drop` may run
/// inside the test's runtime, which cannot be blocked on).
fn on_own_runtime<F>(work: F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(work);
    })
    .join()
    .unwrap();
}

impl Drop for IntegrationAssets {
    fn drop(&mut self) {
        let url = self.engine_url.clone();
        on_own_runtime(async move {
            // A template in use by data streams can be deleted only while another one
            // matches them: a placeholder stands in until ours is back.
            let http = reqwest::Client::new();
            let _ = http
                .put(format!("{url}/_index_template/coexistence-placeholder"))
                .json(&json!({"index_patterns": ["logs-cursor.audit-*"],
                              "data_stream": {}, "priority": 1}))
                .send()
                .await;
            for path in [
                "_index_template/logs-cursor.audit".to_owned(),
                format!("_ingest/pipeline/{PIPELINE}"),
            ] {
                let _ = http.delete(format!("{url}/{path}")).send().await;
            }
        });
        let setup = run_cli(&["setup"], &[("ES_URL".into(), self.engine_url.clone())]);
        assert_eq!(setup.code, Some(0), "{}", setup.stderr);
        let url = self.engine_url.clone();
        on_own_runtime(async move {
            let _ = reqwest::Client::new()
                .delete(format!("{url}/_index_template/coexistence-placeholder"))
                .send()
                .await;
        });
    }
}

/// The four documents of `namespace`'s data stream, each finished (no raw `message`).
async fn finished_documents(engine: &Engine, namespace: &str) -> Vec<(String, Value)> {
    let documents = engine
        .all_documents(&format!("logs-cursor.audit-{namespace}"))
        .await;
    assert_eq!(documents.len(), 4);
    assert!(documents.iter().all(|(_, s)| s.get("message").is_none()));
    documents
}

fn ship(file: &str, extra: &[(&str, &str)]) -> CliRun {
    let mut env: Vec<(String, String)> = vec![("ES_URL".into(), services::es_url())];
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    run_cli(&["ship", file], &env)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beside_the_integrations_assets_raw_events_go_to_its_pipeline_else_finished_documents() {
    let engine = Engine::new();
    let dir = scratch_dir("coexistence");
    let lines = vec![
        api_line("coexist-1", 1),
        api_line("coexist-2", 2),
        "this line is not JSON".to_owned(),
        api_line("coexist-3", 3),
    ];
    let file = write_events(&dir, "events.ndjson", &lines, false)
        .display()
        .to_string();
    let assets = IntegrationAssets::install(&engine).await;

    // setup steps aside and says which mode shipping will use.
    let namespace = services::unique_namespace("coexist");
    let setup = run_cli(
        &["setup"],
        &[
            ("ES_URL".into(), engine.url.clone()),
            ("DATA_STREAM_NAMESPACE".into(), namespace.clone()),
        ],
    );
    assert_eq!(setup.code, Some(0), "{}", setup.stderr);
    assert!(setup.stderr.contains("left alone"), "{}", setup.stderr);
    assert!(
        setup.stderr.contains("normalize in the cluster") && setup.stderr.contains(PIPELINE),
        "{}",
        setup.stderr
    );

    // auto: the raw lines, under the integration's _id.
    let stream = format!("logs-cursor.audit-{namespace}");
    let run = ship(
        &file,
        &[
            ("DATA_STREAM_NAMESPACE", &namespace),
            ("PRESERVE_ORIGINAL_EVENT", "true"),
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.summary("indexed"), 4);
    let documents = engine.all_documents(&stream).await;
    assert_eq!(documents.len(), 4);
    for (index, line) in lines.iter().enumerate() {
        let (id, source) = documents
            .iter()
            .find(|(_, source)| source["message"] == line.as_str())
            .unwrap_or_else(|| panic!("line {index} not stored as message: {documents:?}"));
        if let Some(event_id) = serde_json::from_str::<Value>(line)
            .ok()
            .and_then(|v| v["event_id"].as_str().map(str::to_owned))
        {
            assert_eq!(id, &integration_id(&event_id), "{line}");
        }
        assert_eq!(
            source["tags"],
            json!(["preserve_original_event", "forwarded", "cursor-audit"])
        );
        assert_eq!(source["data_stream"]["namespace"], namespace.as_str());
        assert_eq!(source["event"], json!({"dataset": "cursor.audit"}));
        assert_eq!(source["input"]["type"], "filestream");
        assert!(source["@timestamp"].is_string());
        // Nothing the integration's pipeline writes, nothing that would stop it.
        for absent in ["cursor", "user", "source", "related", "error", "ecs"] {
            assert!(source.get(absent).is_none(), "{absent} in {source}");
        }
        assert!(source["event"].get("original").is_none());
        assert!(source["event"].get("id").is_none());
    }

    // Shipping again: duplicates, not new documents.
    let again = ship(&file, &[("DATA_STREAM_NAMESPACE", &namespace)]);
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    assert_eq!(again.summary("duplicates"), 4);
    assert_eq!(again.summary("indexed"), 0);
    assert_eq!(engine.count(&stream).await, 4);

    // forwarder, explicitly, beside the integration: finished documents, and the
    // integration's pipeline is skipped (it would re-parse event.original).
    let proxy = FaultProxy::start(&engine.url);
    let forwarded_namespace = services::unique_namespace("coexistfwd");
    let run = run_cli(
        &["ship", &file],
        &[
            ("ES_URL".into(), proxy.url.clone()),
            ("DATA_STREAM_NAMESPACE".into(), forwarded_namespace.clone()),
            ("NORMALIZE_IN".into(), "forwarder".into()),
            ("PRESERVE_ORIGINAL_EVENT".into(), "true".into()),
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let bulk: Vec<_> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("_bulk"))
        .collect();
    assert!(!bulk.is_empty());
    assert!(
        bulk.iter().all(|r| r.path.contains("pipeline=_none")),
        "{:?}",
        bulk.iter().map(|r| &r.path).collect::<Vec<_>>()
    );
    let documents = finished_documents(&engine, &forwarded_namespace).await;
    assert!(
        documents
            .iter()
            .any(|(id, s)| id == &integration_id("coexist-1") && s["event"]["action"] == "login")
    );

    // Without the integration's template: auto ships finished documents, as before.
    drop(assets);
    let plain_namespace = services::unique_namespace("coexistplain");
    let run = ship(&file, &[("DATA_STREAM_NAMESPACE", &plain_namespace)]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let documents = finished_documents(&engine, &plain_namespace).await;
    assert!(
        documents
            .iter()
            .any(|(id, s)| id == &integration_id("coexist-2") && s["cursor"]["audit"].is_object())
    );
}
