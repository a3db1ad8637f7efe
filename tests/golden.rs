//! Golden vectors: every document Elastic's Cursor integration produced for the fixture
//! events must equal the normalizer's output as a JSON value, through the library and
//! through the `normalize` command.

mod support;

use cursor_audit_forwarder::normalize::{GeoIp, NormalizeOptions, Normalizer};
use serde_json::Value;
use support::{geoip_test_dbs, golden_cases, json_diff};

fn compare(name: &str, got: &[Value], expected: &[Value], failures: &mut Vec<String>) {
    if got.len() != expected.len() {
        failures.push(format!(
            "{name}: {} documents, want {}",
            got.len(),
            expected.len()
        ));
    }
    for (i, (g, w)) in got.iter().zip(expected).enumerate() {
        let mut diffs = Vec::new();
        json_diff(g, w, "", &mut diffs);
        if !diffs.is_empty() {
            failures.push(format!("{name} #{i}:\n  {}", diffs.join("\n  ")));
        }
    }
}

#[test]
fn library_output_equals_every_golden_document() {
    let (city, asn) = geoip_test_dbs();
    let normalizer = Normalizer::new(
        NormalizeOptions {
            preserve_original: true,
        },
        GeoIp::open(Some(&city), Some(&asn)).unwrap(),
    );
    let mut failures = Vec::new();
    let mut compared = 0;
    for case in golden_cases() {
        let got: Vec<Value> = case
            .input
            .split(|&b| b == b'\n')
            .filter_map(|line| normalizer.normalize_line(line))
            .map(|n| n.to_value())
            .collect();
        compared += got.len();
        compare(&case.name, &got, &case.expected, &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(compared >= 22);
}

#[test]
fn normalize_command_output_equals_every_golden_document() {
    let (city, asn) = geoip_test_dbs();
    let cases = golden_cases();
    // One process for all files: the concatenated input, the concatenated expectations.
    let mut input = Vec::new();
    let mut expected = Vec::new();
    for case in &cases {
        input.extend_from_slice(&case.input);
        if !input.ends_with(b"\n") {
            input.push(b'\n');
        }
        expected.extend(case.expected.iter().cloned());
    }
    let output = support::run_with_stdin(
        &[
            "normalize",
            "--preserve-original",
            "--geoip-city",
            city.to_str().unwrap(),
            "--geoip-asn",
            asn.to_str().unwrap(),
        ],
        &[],
        &input,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let got: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut failures = Vec::new();
    compare("normalize command", &got, &expected, &mut failures);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
