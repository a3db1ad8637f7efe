//! The oracle: Elastic's own Cursor pipeline on a real ingest engine (the OpenSearch node of
//! `scripts/services.sh`, with the ingest plugins and the test GeoIP databases).
//!
//! - every golden fixture line through the pipeline gives exactly its expected document;
//! - the differential test (`oracle_differential`): generated events through the pipeline and
//!   through the normalizer agree, apart from the differences listed in docs/normalization.md.

mod support;

use serde_json::Value;
use support::oracle::Oracle;
use support::{golden_cases, json_diff};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_through_the_pipeline_gives_its_expected_document() {
    let Some(oracle) = Oracle::start().await else {
        return;
    };
    let mut lines = Vec::new();
    let mut expected: Vec<(String, Value)> = Vec::new();
    for case in golden_cases() {
        let text = String::from_utf8(case.input.clone()).expect("fixture is UTF-8");
        let case_lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(
            case_lines.len(),
            case.expected.len(),
            "{}: one expected document per line",
            case.name
        );
        for (i, (line, want)) in case_lines.iter().zip(&case.expected).enumerate() {
            lines.push((*line).to_owned());
            expected.push((format!("{} #{i}", case.name), want.clone()));
        }
    }
    let outcomes = oracle.simulate(&lines, true).await;
    let mut failures = Vec::new();
    for ((name, want), got) in expected.iter().zip(&outcomes) {
        let Some(source) = &got.source else {
            failures.push(format!("{name}: the pipeline gave no document"));
            continue;
        };
        let mut want = want.clone();
        if let Some(event) = want.get_mut("event").and_then(Value::as_object_mut) {
            event.remove("ingested");
        }
        let mut diffs = Vec::new();
        json_diff(source, &want, "", &mut diffs);
        if !diffs.is_empty() {
            failures.push(format!("{name}:\n  {}", diffs.join("\n  ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(outcomes.len() >= 60, "{} fixture documents", outcomes.len());
    eprintln!(
        "oracle: {} fixture documents equal their expected documents",
        outcomes.len()
    );
}

/// How many generated events the differential test runs.
const DIFFERENTIAL_EVENTS: usize = 12_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oracle_differential() {
    let Some(oracle) = Oracle::start().await else {
        return;
    };
    let mut generator = support::edge_events::EdgeEvents::new(20);
    let lines: Vec<String> = (0..DIFFERENTIAL_EVENTS)
        .map(|_| generator.next_line())
        .collect();
    let outcomes = oracle.simulate(&lines, true).await;
    let report = support::oracle::compare_all(&lines, &outcomes);
    eprintln!("{}", report.summary());
    assert!(report.unexplained.is_empty(), "{}", report.details());
    assert!(report.total >= 10_000);
}

/// The differences the differential test allows are exactly the rows of the table in
/// docs/normalization.md §11.
#[test]
fn listed_differences_are_the_documented_ones() {
    let text = std::fs::read_to_string(support::repo_root().join("docs/normalization.md"))
        .expect("docs/normalization.md");
    let section = text
        .split("\n## §11 ")
        .nth(1)
        .expect("§11 in docs/normalization.md");
    let section = section.split("\n## ").next().unwrap_or(section);
    let mut documented: Vec<&str> = section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .collect();
    documented.sort_unstable();
    let mut allowed = support::oracle::all_listed();
    allowed.sort_unstable();
    assert_eq!(documented, allowed);
}
