//! The drift check (`check-fidelity`) on the oracle node: with Elastic's pipeline as given it
//! finds no difference; with one processor removed it exits 1 and names the field.

mod support;

use serde_json::Value;
use support::oracle::{Oracle, S3_PIPELINE, oracle_dir, pipeline_bodies};
use support::run_cli;

const GIVEN: &str = "logs-cursor.audit-9.9.7-drift";
const BROKEN: &str = "logs-cursor.audit-0.0.1-drift";
/// The processor taken out: it moves `event_data.setting_name` to `cursor.audit.setting_name`.
const REMOVED_TAG: &str = "rename_event_data_setting_name";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_fidelity_finds_no_drift_then_names_the_field_of_a_removed_processor() {
    let Some(dir) = oracle_dir() else {
        return;
    };
    let oracle = Oracle::start().await.expect("oracle folder present");
    let (s3, default) = pipeline_bodies(&dir);
    oracle.put_pipeline(S3_PIPELINE, &s3).await;
    oracle.put_pipeline(GIVEN, &default).await;
    let mut broken = default.clone();
    let processors = broken["processors"].as_array_mut().expect("processors");
    let before = processors.len();
    processors.retain(|p| {
        p.as_object()
            .and_then(|m| m.values().next())
            .and_then(|c| c.get("tag"))
            .and_then(Value::as_str)
            != Some(REMOVED_TAG)
    });
    assert_eq!(
        processors.len(),
        before - 1,
        "{REMOVED_TAG} is in the pipeline"
    );
    oracle.put_pipeline(BROKEN, &broken).await;

    let env = [("ES_URL".to_owned(), oracle.url.clone())];
    let given = run_cli(&["check-fidelity", "--pipeline", GIVEN], &env);
    assert_eq!(given.code, Some(0), "{}\n{}", given.stdout, given.stderr);
    assert!(given.stderr.contains("no drift"), "{}", given.stderr);

    let drifted = run_cli(&["check-fidelity", "--pipeline", BROKEN], &env);
    assert_eq!(
        drifted.code,
        Some(1),
        "{}\n{}",
        drifted.stdout,
        drifted.stderr
    );
    assert!(
        drifted
            .stdout
            .contains("drift: cursor.audit.setting_name: sample #"),
        "{}",
        drifted.stdout
    );
    assert!(
        drifted.stderr.contains("cursor.audit.setting_name"),
        "{}",
        drifted.stderr
    );

    // Without --pipeline: the newest logs-cursor.audit-<version> on the node is found.
    let found = run_cli(&["check-fidelity"], &env);
    assert!(
        found.stderr.contains("logs-cursor.audit-"),
        "{}\n{}",
        found.stdout,
        found.stderr
    );

    let http = reqwest::Client::new();
    for name in [GIVEN, BROKEN] {
        let _ = http
            .delete(format!("{}/_ingest/pipeline/{name}", oracle.url))
            .send()
            .await;
    }
}
