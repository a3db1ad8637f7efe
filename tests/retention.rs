//! `setup`'s retention (`DATA_RETENTION`): a data stream lifecycle on the Elasticsearch node,
//! a user's `cursor-audit-forwarder@custom` winning over it and never overwritten; on
//! OpenSearch, whose node here has no ISM plugin, the warning, and against a loopback
//! server that answers like ISM, exactly the requests `setup` sends: create when absent,
//! update ours (with its sequence number), leave a user's policy alone.

mod support;

use serde_json::{Value, json};
use support::hostile::{Answer, HostileServer};
use support::services::Engine;
use support::{CliRun, run_cli};

fn setup(url: &str, retention: &str) -> CliRun {
    run_cli(
        &["setup"],
        &[
            ("ES_URL".into(), url.to_owned()),
            ("DATA_RETENTION".into(), retention.to_owned()),
        ],
    )
}

/// `setup` from a blocking thread (the test's runtime keeps serving), which must succeed.
async fn setup_ok(url: &str, retention: &'static str) -> CliRun {
    let url = url.to_owned();
    let run = tokio::task::spawn_blocking(move || setup(&url, retention))
        .await
        .unwrap();
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    run
}

async fn put(engine: &Engine, path: &str, body: &Value) {
    let response = reqwest::Client::new()
        .put(format!("{}/{path}", engine.url))
        .json(body)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.text().await.unwrap()
    );
}

/// The lifecycle a new data stream would get (the data stream lifecycle service itself is
/// a module the test node does not have, so what it would apply is read from the template).
async fn simulated_lifecycle(engine: &Engine, data_stream: &str) -> Value {
    let response = reqwest::Client::new()
        .post(format!(
            "{}/_index_template/_simulate_index/{data_stream}",
            engine.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["template"]["lifecycle"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elasticsearch_gets_a_lifecycle_that_a_users_custom_template_overrides() {
    let engine = Engine::new();
    let run = setup_ok(&engine.url, "30d").await;
    assert!(
        run.stderr.contains("data stream lifecycle 30d"),
        "{}",
        run.stderr
    );
    let (status, component) = engine
        .get("_component_template/cursor-audit-forwarder@lifecycle")
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        component["component_templates"][0]["component_template"]["template"]["lifecycle"],
        json!({"enabled": true, "data_retention": "30d"})
    );
    let (_, template) = engine.get("_index_template/cursor-audit-forwarder").await;
    assert_eq!(
        template["index_templates"][0]["index_template"]["composed_of"],
        json!([
            "cursor-audit-forwarder@mappings",
            "cursor-audit-forwarder@lifecycle",
            "cursor-audit-forwarder@custom"
        ])
    );
    let stream = "logs-cursor.audit-retention";
    assert_eq!(
        simulated_lifecycle(&engine, stream).await["data_retention"],
        "30d"
    );

    // A user's own component template wins, and setup leaves it alone.
    let custom = json!({"template": {"lifecycle": {"data_retention": "7d"}}});
    put(
        &engine,
        "_component_template/cursor-audit-forwarder@custom",
        &custom,
    )
    .await;
    assert_eq!(
        simulated_lifecycle(&engine, stream).await["data_retention"],
        "7d"
    );
    setup_ok(&engine.url, "90d").await;
    assert_eq!(
        simulated_lifecycle(&engine, stream).await["data_retention"],
        "7d"
    );
    let (_, kept) = engine
        .get("_component_template/cursor-audit-forwarder@custom")
        .await;
    // Still the user's (Elasticsearch adds `"enabled": true` to what it stores).
    assert_eq!(
        kept["component_templates"][0]["component_template"]["template"]["lifecycle"]["data_retention"],
        "7d"
    );
    let deleted = reqwest::Client::new()
        .delete(format!(
            "{}/_component_template/cursor-audit-forwarder@custom",
            engine.url
        ))
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success());
    assert_eq!(
        simulated_lifecycle(&engine, stream).await["data_retention"],
        "90d"
    );

    // `none`: a lifecycle without retention (kept forever).
    setup_ok(&engine.url, "none").await;
    assert_eq!(
        simulated_lifecycle(&engine, stream).await,
        json!({"enabled": true})
    );
    // Back to the default for the other tests.
    setup_ok(&engine.url, "365d").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opensearch_without_ism_says_so_and_installs_the_templates() {
    let engine = Engine::opensearch();
    let run = setup_ok(&engine.url, "30d").await;
    assert!(
        run.stderr
            .contains("Index State Management is not installed"),
        "{}",
        run.stderr
    );
    let (status, _) = engine.get("_index_template/cursor-audit-forwarder").await;
    assert_eq!(status, 200);
}

/// What an OpenSearch 2.19 node answers before the ISM request (engine, templates).
fn opensearch_preamble() -> Vec<Answer> {
    vec![
        Answer::json(
            200,
            r#"{"name":"n","version":{"distribution":"opensearch","number":"2.19.6"}}"#,
        ),
        Answer::json(404, r#"{"error":{"type":"resource_not_found_exception"}}"#),
        Answer::json(200, r#"{"acknowledged":true}"#),
        Answer::json(200, r#"{"acknowledged":true}"#),
    ]
}

fn ism_requests(server: &HostileServer) -> Vec<(String, String, String)> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("_plugins/_ism"))
        .map(|r| (r.method.clone(), r.path.clone(), r.text()))
        .collect()
}

#[test]
fn on_an_engine_with_ism_our_policy_is_created_updated_and_never_replaces_a_users() {
    // Absent: created.
    let mut script = opensearch_preamble();
    script.push(Answer::json(
        404,
        r#"{"error":{"root_cause":[{"type":"status_exception","reason":"Policy not found"}],"type":"status_exception","reason":"Policy not found"},"status":404}"#,
    ));
    script.push(Answer::json(201, r#"{"_id":"cursor-audit-forwarder"}"#));
    let server = HostileServer::start(script, Answer::json(200, "{}"));
    let run = setup(&server.url, "30d");
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("ISM policy cursor-audit-forwarder keeps 30d"),
        "{}",
        run.stderr
    );
    let sent = ism_requests(&server);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[0].0, "GET");
    assert_eq!(
        (sent[1].0.as_str(), sent[1].1.as_str()),
        ("PUT", "/_plugins/_ism/policies/cursor-audit-forwarder")
    );
    let policy: Value = serde_json::from_str(&sent[1].2).unwrap();
    assert_eq!(
        policy["policy"]["states"][0]["transitions"][0]["conditions"]["min_index_age"],
        "30d"
    );
    assert_eq!(
        policy["policy"]["ism_template"][0]["index_patterns"],
        json!([".ds-logs-cursor.audit-*"])
    );

    // Ours already: updated in place, with its sequence number.
    let mut script = opensearch_preamble();
    script.push(Answer::json(
        200,
        r#"{"_id":"cursor-audit-forwarder","_seq_no":7,"_primary_term":2,"policy":{"description":"cursor-audit-forwarder: logs-cursor.audit-* retention"}}"#,
    ));
    script.push(Answer::json(200, r#"{"_id":"cursor-audit-forwarder"}"#));
    let server = HostileServer::start(script, Answer::json(200, "{}"));
    let run = setup(&server.url, "90d");
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let sent = ism_requests(&server);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(
        sent[1].1,
        "/_plugins/_ism/policies/cursor-audit-forwarder?if_seq_no=7&if_primary_term=2"
    );

    // A user's policy under that name: read, never written.
    let mut script = opensearch_preamble();
    script.push(Answer::json(
        200,
        r#"{"_id":"cursor-audit-forwarder","_seq_no":1,"_primary_term":1,"policy":{"description":"ours, keep 10 years"}}"#,
    ));
    let server = HostileServer::start(script, Answer::json(200, "{}"));
    let run = setup(&server.url, "30d");
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stderr.contains("is not ours: left alone"),
        "{}",
        run.stderr
    );
    let sent = ism_requests(&server);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].0, "GET");
}
