//! The `normalize` command's contract (docs/ARCHITECTURE.md "CLI"): stdin NDJSON of either shape,
//! one document per non-blank line in order, error documents for bad lines, exit 2 for bad
//! flags and unreadable databases.

mod support;

use std::process::Output;

use serde_json::{Value, json};

fn normalize(args: &[&str], env: &[(&str, &str)], input: &[u8]) -> Output {
    let mut all = vec!["normalize"];
    all.extend_from_slice(args);
    support::run_with_stdin(&all, env, input)
}

fn documents(output: &Output) -> Vec<Value> {
    String::from_utf8(output.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

const API_LINE: &str = r#"{"event_id":"e1","timestamp":"2026-05-04T10:00:00.000Z","ip_address":"192.0.2.9","user_email":"a@example.com","event_type":"logout","event_data":{}}"#;
const S3_LINE: &str = r#"{"login":{"success":true},"ip_address":"203.0.113.5","metadata":{"id":"e2","timestamp":"2026-05-04T11:00:00.000Z"},"team_id":"1","user_email":"b@example.com"}"#;

#[test]
fn one_document_per_non_blank_line_in_order_with_bad_lines_as_error_documents() {
    let input = format!("{API_LINE}\n\n   \n{{bad json\n{S3_LINE}\r\n[1,2]\n\u{0}\n");
    let mut bytes = input.into_bytes();
    bytes.extend_from_slice(b"{\"x\":\"\xff\"}\n");
    let output = normalize(&[], &[], &bytes);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let docs = documents(&output);
    assert_eq!(docs.len(), 6, "{docs:#?}");
    assert_eq!(docs[0]["event"]["id"], "e1");
    assert_eq!(docs[1]["event"]["kind"], "pipeline_error");
    assert_eq!(docs[1]["event"]["original"], "{bad json");
    assert_eq!(docs[2]["event"]["id"], "e2");
    assert_eq!(docs[2]["event"]["action"], "login");
    assert_eq!(docs[3]["event"]["kind"], "pipeline_error");
    assert_eq!(docs[4]["event"]["kind"], "pipeline_error");
    assert_eq!(docs[5]["event"]["kind"], "pipeline_error");
    // Without --preserve-original good documents carry no original and no tag.
    assert!(docs[0]["event"].get("original").is_none());
    assert!(docs[0].get("tags").is_none());
    // No GeoIP configured: no enrichment, no §10 fields.
    assert!(docs[0]["source"].get("geo").is_none());
    for doc in &docs {
        for shipped_only in ["data_stream", "_id", "aws", "log", "cloud"] {
            assert!(doc.get(shipped_only).is_none(), "{shipped_only} in {doc}");
        }
        assert!(doc["event"].get("dataset").is_none());
    }
}

#[test]
fn flags_and_env_configure_the_normalizer() {
    let (city, asn) = support::geoip_test_dbs();
    let (city, asn) = (city.to_str().unwrap(), asn.to_str().unwrap());
    let input = format!("{API_LINE}\n");
    let by_flag = documents(&normalize(
        &[
            "--preserve-original",
            "--geoip-city",
            city,
            "--geoip-asn",
            asn,
        ],
        &[],
        input.as_bytes(),
    ));
    let by_env = documents(&normalize(
        &[],
        &[
            ("PRESERVE_ORIGINAL_EVENT", "true"),
            ("GEOIP_CITY_DB", city),
            ("GEOIP_ASN_DB", asn),
        ],
        input.as_bytes(),
    ));
    assert_eq!(by_flag, by_env);
    let doc = &by_flag[0];
    assert_eq!(doc["source"]["geo"]["city_name"], "Las Vegas");
    assert_eq!(doc["source"]["as"]["number"], 64500);
    assert_eq!(doc["event"]["original"], API_LINE);
    assert_eq!(doc["tags"], json!(["preserve_original_event"]));
}

#[test]
fn asn_database_alone_is_enough() {
    let (_, asn) = support::geoip_test_dbs();
    let docs = documents(&normalize(
        &["--geoip-asn", asn.to_str().unwrap()],
        &[],
        format!("{S3_LINE}\n").as_bytes(),
    ));
    assert_eq!(docs[0]["source"]["as"]["number"], 64502);
    assert!(docs[0]["source"].get("geo").is_none());
}

#[test]
fn a_line_over_the_cap_becomes_an_error_document_and_the_next_line_still_counts() {
    let huge = format!(
        "{{\"event_id\":\"big\",\"event_data\":{{\"blob\":\"{}\"}}}}",
        "x".repeat(5000)
    );
    let input = format!("{huge}\n{API_LINE}\n");
    let output = normalize(&["--max-line-bytes", "1000"], &[], input.as_bytes());
    assert!(output.status.success());
    let docs = documents(&output);
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0]["event"]["kind"], "pipeline_error");
    assert_eq!(docs[0]["event"]["original"].as_str().unwrap().len(), 1000);
    assert!(
        docs[0]["error"]["message"][0]
            .as_str()
            .unwrap()
            .contains("MAX_LINE_BYTES")
    );
    assert_eq!(docs[1]["event"]["id"], "e1");
}

#[test]
fn unknown_flag_exits_2() {
    let output = normalize(&["--no-such-flag"], &[], b"");
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    assert!(!output.stderr.is_empty());
}

#[test]
fn unreadable_database_exits_2_with_a_clear_message() {
    let output = normalize(
        &["--geoip-city", "/nonexistent/GeoLite2-City.mmdb"],
        &[],
        API_LINE.as_bytes(),
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("/nonexistent/GeoLite2-City.mmdb"),
        "{stderr}"
    );

    // A file that exists but is not a MaxMind database.
    let not_a_db =
        support::fixture("elastic-cursor-pipeline/test-cursor-audit-api-login-sample.log");
    let output = normalize(
        &["--geoip-asn", not_a_db.to_str().unwrap()],
        &[],
        API_LINE.as_bytes(),
    );
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn empty_input_gives_no_output() {
    let output = normalize(&[], &[], b"\n\n");
    assert!(output.status.success());
    assert!(output.stdout.is_empty());
}
