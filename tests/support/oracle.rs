//! The oracle: Elastic's Cursor ingest pipeline (translated for OpenSearch, see
//! `../shared/oracle/README.md`) running on the OpenSearch node that `scripts/services.sh`
//! starts with the ingest plugins and the test GeoIP databases.
//!
//! The pipeline files are test data that stay outside the repository: they are read from
//! `CURSOR_ORACLE_DIR`, or `../shared/oracle` beside the repository. Where the folder is
//! absent the oracle tests say so and skip, except under CI (`CI=true`), where they fail.

use std::path::PathBuf;

use serde_json::{Value, json};

/// Name of the routed S3 pipeline (what Fleet names `{{ IngestPipeline "s3" }}`).
pub const S3_PIPELINE: &str = "cursor-audit-s3";
/// Name of the main pipeline.
pub const PIPELINE: &str = "cursor-audit";
/// Documents per `_simulate` request.
pub const BATCH: usize = 500;

/// The oracle folder, or `None` (after saying so) when it is absent outside CI.
pub fn oracle_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("CURSOR_ORACLE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| super::repo_root().join("../shared/oracle"));
    if dir.join("json/default.json").is_file() && dir.join("json/s3.json").is_file() {
        return Some(dir);
    }
    let ci = std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
    assert!(
        !ci,
        "CI=true but the oracle folder {} (json/default.json, json/s3.json) is missing; set CURSOR_ORACLE_DIR",
        dir.display()
    );
    eprintln!(
        "SKIPPED: the oracle folder {} (json/default.json, json/s3.json) is absent; set CURSOR_ORACLE_DIR to run the oracle tests",
        dir.display()
    );
    None
}

/// The pipelines as JSON bodies: (s3.json, default.json).
pub fn pipeline_bodies(dir: &std::path::Path) -> (Value, Value) {
    let read = |name: &str| -> Value {
        let path = dir.join("json").join(name);
        serde_json::from_slice(&std::fs::read(&path).expect("read oracle pipeline"))
            .expect("oracle pipeline JSON")
    };
    (read("s3.json"), read("default.json"))
}

/// What the pipeline made of one input line.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The `_source` (without `event.ingested`), when the simulation gave a document.
    pub source: Option<Value>,
    /// The `_id` the pipeline set (from the fingerprint), if any.
    pub id: Option<String>,
    /// True when the pipeline's document is an error document: `_simulate` answered with an
    /// error, the pipeline failed (`event.kind: pipeline_error`), or a processor's `on_failure`
    /// recorded `error.message`.
    pub failed: bool,
}

/// A client for the oracle node with the pipelines installed.
pub struct Oracle {
    pub url: String,
    pub pipeline: String,
    http: reqwest::Client,
}

impl Oracle {
    /// Installs the two pipelines on the OpenSearch node; `None` when the oracle folder is
    /// absent (outside CI).
    pub async fn start() -> Option<Oracle> {
        let dir = oracle_dir()?;
        let oracle = Oracle {
            url: super::services::opensearch_url(),
            pipeline: PIPELINE.to_owned(),
            http: reqwest::Client::new(),
        };
        let (s3, default) = pipeline_bodies(&dir);
        oracle.put_pipeline(S3_PIPELINE, &s3).await;
        oracle.put_pipeline(PIPELINE, &default).await;
        Some(oracle)
    }

    /// `PUT _ingest/pipeline/NAME`, which must succeed.
    pub async fn put_pipeline(&self, name: &str, body: &Value) {
        let response = self
            .http
            .put(format!("{}/_ingest/pipeline/{name}", self.url))
            .json(body)
            .send()
            .await
            .expect("PUT pipeline");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert!(
            status.is_success(),
            "PUT _ingest/pipeline/{name}: {status} {text}"
        );
    }

    /// The input document elastic-package builds from a `.log` line.
    pub fn input_doc(line: &str, preserve_original: bool) -> Value {
        let mut source = json!({ "message": line });
        if preserve_original {
            source["tags"] = json!(["preserve_original_event"]);
        }
        json!({ "_index": "logs-cursor.audit-default", "_source": source })
    }

    /// Runs `lines` through the pipeline's `_simulate`, `BATCH` per request.
    pub async fn simulate(&self, lines: &[String], preserve_original: bool) -> Vec<Outcome> {
        let mut out = Vec::with_capacity(lines.len());
        for chunk in lines.chunks(BATCH) {
            let docs: Vec<Value> = chunk
                .iter()
                .map(|l| Self::input_doc(l, preserve_original))
                .collect();
            let response = self
                .http
                .post(format!(
                    "{}/_ingest/pipeline/{}/_simulate",
                    self.url, self.pipeline
                ))
                .json(&json!({ "docs": docs }))
                .send()
                .await
                .expect("POST _simulate");
            let status = response.status();
            let body: Value = response.json().await.expect("_simulate JSON");
            assert!(status.is_success(), "_simulate: {status} {body}");
            let results = body["docs"].as_array().expect("_simulate docs");
            assert_eq!(
                results.len(),
                chunk.len(),
                "_simulate answered for every doc"
            );
            out.extend(results.iter().map(outcome));
        }
        out
    }
}

/// One element of a `_simulate` answer.
fn outcome(result: &Value) -> Outcome {
    if result.get("error").is_some() || result.get("doc").is_none() {
        return Outcome {
            source: None,
            id: None,
            failed: true,
        };
    }
    let doc = &result["doc"];
    let mut source = doc["_source"].clone();
    if let Some(event) = source.get_mut("event").and_then(Value::as_object_mut) {
        event.remove("ingested");
    }
    // An error document: the pipeline failed (its on_failure handler ran) or a processor's own
    // on_failure recorded an error and went on.
    let failed =
        source["event"]["kind"] == "pipeline_error" || source.pointer("/error/message").is_some();
    let id = doc["_id"]
        .as_str()
        .filter(|id| !id.is_empty() && *id != "_id")
        .map(str::to_owned);
    Outcome {
        source: Some(source),
        id,
        failed,
    }
}

/// The result of comparing the normalizer with the pipeline on many lines.
#[derive(Debug, Default)]
pub struct Report {
    pub total: usize,
    /// The same document (and `_id`).
    pub identical: usize,
    /// Both failed: the pipeline's document is a `pipeline_error` (or no document), ours has
    /// `error.message`.
    pub both_failed: usize,
    /// Documents equal once listed differences are taken into account.
    pub listed_docs: usize,
    /// The same, by difference (one document can have several).
    pub listed: std::collections::BTreeMap<&'static str, usize>,
    /// Differences not in the list: (signature, count, a sample line and its diff).
    pub unexplained: std::collections::BTreeMap<String, (usize, String, String)>,
}

impl Report {
    pub fn summary(&self) -> String {
        let mut s = format!(
            "oracle differential: {} events: {} identical, {} both failed, {} with listed differences, {} unexplained",
            self.total,
            self.identical,
            self.both_failed,
            self.listed_docs,
            self.unexplained.values().map(|v| v.0).sum::<usize>()
        );
        for (name, n) in &self.listed {
            s.push_str(&format!("\n  listed {name}: {n}"));
        }
        s
    }

    pub fn details(&self) -> String {
        let mut s = self.summary();
        for (sig, (n, line, diff)) in &self.unexplained {
            s.push_str(&format!("\n--- {n}x {sig}\n  input: {line}\n  {diff}"));
        }
        s
    }
}

/// Compares the normalizer's documents (preserve_original on, the test GeoIP databases) with
/// the pipeline's outcomes.
pub fn compare_all(lines: &[String], outcomes: &[Outcome]) -> Report {
    use cursor_audit_forwarder::normalize::{GeoIp, NormalizeOptions, Normalizer};
    let (city, asn) = super::geoip_test_dbs();
    let normalizer = Normalizer::new(
        NormalizeOptions {
            preserve_original: true,
        },
        GeoIp::open(Some(&city), Some(&asn)).expect("test GeoIP databases"),
    );
    let mut report = Report::default();
    for (line, theirs) in lines.iter().zip(outcomes) {
        report.total += 1;
        let Some(ours) = normalizer.normalize_line(line.as_bytes()) else {
            record(
                &mut report,
                "normalizer skipped the line".into(),
                line,
                String::new(),
            );
            continue;
        };
        let ours_doc = ours.to_value();
        if several_s3_event_keys(line) {
            *report.listed.entry(S3_SEVERAL_KEYS).or_default() += 1;
            report.listed_docs += 1;
            continue;
        }
        match (theirs.failed, ours.has_error) {
            (true, true) => report.both_failed += 1,
            (true, false) if listed_pipeline_only_failure(line, theirs).is_some() => {
                let name = listed_pipeline_only_failure(line, theirs).unwrap_or_default();
                *report.listed.entry(name).or_default() += 1;
                report.listed_docs += 1;
            }
            (false, true) if listed_normalizer_only_error(&ours_doc).is_some() => {
                let name = listed_normalizer_only_error(&ours_doc).unwrap_or_default();
                *report.listed.entry(name).or_default() += 1;
                report.listed_docs += 1;
            }
            (true, false) => {
                let why = theirs
                    .source
                    .as_ref()
                    .map(|s| s["error"]["message"].to_string())
                    .unwrap_or_default();
                record(
                    &mut report,
                    format!("pipeline failed, normalizer did not: {}", error_kind(&why)),
                    line,
                    why,
                );
            }
            (false, true) => record(
                &mut report,
                format!(
                    "normalizer failed, pipeline did not: {}",
                    error_kind(&ours_doc["error"]["message"].to_string())
                ),
                line,
                ours_doc["error"]["message"].to_string(),
            ),
            (false, false) => {
                let theirs_doc = theirs.source.clone().unwrap_or(Value::Null);
                let mut theirs_doc = theirs_doc;
                let mut ours_doc = ours_doc;
                let mut applied = apply_listed(&mut theirs_doc, &mut ours_doc);
                let mut diffs = Vec::new();
                super::json_diff(&ours_doc, &theirs_doc, "", &mut diffs);
                if theirs.id != ours.id && numeric_event_id(line) {
                    applied.push(NUMERIC_EVENT_ID);
                } else if theirs.id != ours.id {
                    diffs.push(format!("_id: got {:?}, want {:?}", ours.id, theirs.id));
                }
                if diffs.is_empty() {
                    if applied.is_empty() {
                        report.identical += 1;
                    } else {
                        report.listed_docs += 1;
                        for name in applied {
                            *report.listed.entry(name).or_default() += 1;
                        }
                    }
                } else {
                    let _ = &applied;
                    let sig: Vec<String> = diffs
                        .iter()
                        .map(|d| d.split(':').next().unwrap_or_default().to_owned())
                        .collect();
                    record(&mut report, sig.join(" "), line, diffs.join("\n  "));
                }
            }
        }
    }
    report
}

fn error_kind(message: &str) -> String {
    // the processor tag names the failing step
    message
        .split("with tag '")
        .nth(1)
        .and_then(|s| s.split('\'').next())
        .map(str::to_owned)
        .unwrap_or_else(|| message.chars().take(60).collect())
}

fn record(report: &mut Report, sig: String, line: &str, diff: String) {
    let entry = report
        .unexplained
        .entry(sig)
        .or_insert_with(|| (0, line.to_owned(), diff));
    entry.0 += 1;
}

/// The differences from the pipeline that docs/normalization.md lists ("Differences from the
/// pipeline"), by name. The test allows exactly these.
pub const LISTED: &[&str] = &[
    "related.user empty string",
    "url null parts",
    "cursor.audit.unmapped",
    "@timestamp processing time",
    "objects as JSON text",
];

const S3_SEVERAL_KEYS: &str = "S3 line with several event-type keys";
const NUMERIC_EVENT_ID: &str = "numbers in event_id";

/// Every listed difference, as docs/normalization.md names them.
pub fn all_listed() -> Vec<&'static str> {
    let mut all = LISTED.to_vec();
    all.extend([
        S3_SEVERAL_KEYS,
        NUMERIC_EVENT_ID,
        "ip_address not an IP",
        "text after the JSON value",
        "related.user from non-string values",
        "rename onto a set field",
    ]);
    all
}

fn parse(line: &str) -> Option<serde_json::Map<String, Value>> {
    serde_json::from_str::<Value>(line)
        .ok()
        .and_then(|v| v.as_object().cloned())
}

/// An S3 line (non-null `metadata`) with more than one key that can name the event type: the
/// pipeline's script takes the first in its map's (hash) order, the normalizer the first in
/// document order.
fn several_s3_event_keys(line: &str) -> bool {
    parse(line).is_some_and(|event| {
        event.get("metadata").is_some_and(|m| !m.is_null())
            && event
                .keys()
                .filter(|k| {
                    !matches!(
                        k.as_str(),
                        "metadata" | "team_id" | "ip_address" | "user_email"
                    )
                })
                .count()
                > 1
    })
}

/// The event id is or holds a number.
fn numeric_event_id(line: &str) -> bool {
    fn has_number(v: &Value) -> bool {
        match v {
            Value::Number(_) => true,
            Value::Array(items) => items.iter().any(has_number),
            Value::Object(map) => map.values().any(has_number),
            _ => false,
        }
    }
    parse(line).is_some_and(|event| {
        let id = event
            .get("event_id")
            .or_else(|| event.get("metadata").and_then(|m| m.get("id")));
        id.is_some_and(has_number)
    })
}

/// The pipeline failed where the normalizer did not, for a listed reason.
fn listed_pipeline_only_failure(line: &str, theirs: &Outcome) -> Option<&'static str> {
    let message = theirs
        .source
        .as_ref()
        .map(|s| s["error"]["message"].to_string())
        .unwrap_or_default();
    // The oracle's fingerprint (a Painless emulation) refuses numbers; Elasticsearch hashes
    // their bytes, which the normalizer reproduces unverified.
    if message.contains("fingerprint_event_id") && numeric_event_id(line) {
        return Some(NUMERIC_EVENT_ID);
    }
    // A rename onto a field that is already there (null included) fails the pipeline; the
    // normalizer leaves the source key in cursor.audit.event_data.
    if message.contains("already exists") {
        return Some("rename onto a set field");
    }
    None
}

/// The normalizer recorded an error where the pipeline did not, for a listed reason.
fn listed_normalizer_only_error(ours: &Value) -> Option<&'static str> {
    let errors: Vec<&str> = ours["error"]["message"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let only = |pred: &dyn Fn(&str) -> bool| !errors.is_empty() && errors.iter().all(|e| pred(e));
    if only(&|e| e.ends_with("is not an IP string literal (ip_address)")) {
        return Some("ip_address not an IP");
    }
    if only(&|e| e.starts_with("malformed JSON: trailing characters")) {
        return Some("text after the JSON value");
    }
    None
}

/// Takes the listed differences out of both documents; returns the names of those that
/// applied.
pub fn apply_listed(theirs: &mut Value, ours: &mut Value) -> Vec<&'static str> {
    let mut applied = Vec::new();
    // user_email "" (or another related field ""): the pipeline appends "" to related.user.
    if let Some(users) = theirs
        .pointer_mut("/related/user")
        .and_then(Value::as_array_mut)
        && users.iter().any(|u| u == "")
    {
        users.retain(|u| u != "");
        if users.is_empty() {
            remove_path(theirs, &["related", "user"]);
        }
        applied.push(LISTED[0]);
    }
    // A URL without host or scheme: the pipeline writes null, the normalizer leaves it out.
    for part in ["domain", "scheme"] {
        if theirs.pointer(&format!("/url/{part}")) == Some(&Value::Null)
            && ours.pointer(&format!("/url/{part}")).is_none()
        {
            remove_path(theirs, &["url", part]);
            if !applied.contains(&LISTED[1]) {
                applied.push(LISTED[1]);
            }
        }
    }
    // Unknown top-level keys: kept under cursor.audit.unmapped, dropped by the pipeline.
    if ours.pointer("/cursor/audit/unmapped").is_some() {
        remove_path(ours, &["cursor", "audit", "unmapped"]);
        applied.push(LISTED[2]);
    }
    // No usable timestamp: the pipeline's document has no @timestamp (a data stream refuses
    // it); ours has the processing time.
    if theirs.get("@timestamp").is_none()
        && let Some(map) = ours.as_object_mut()
        && map.remove("@timestamp").is_some()
    {
        applied.push(LISTED[3]);
    }
    // related.user from a list or object: the pipeline appends Painless's text of it
    // ("{0=x, 1=y}"), the normalizer leaves it out.
    if let Some(users) = theirs
        .pointer_mut("/related/user")
        .and_then(Value::as_array_mut)
        && users.iter().any(|u| {
            u.as_str()
                .is_some_and(|t| t.starts_with('{') || t.starts_with('['))
        })
    {
        let text = |u: &Value| {
            u.as_str()
                .is_some_and(|t| t.starts_with('{') || t.starts_with('['))
        };
        users.retain(|u| !text(u));
        if users.is_empty() {
            remove_path(theirs, &["related", "user"]);
        }
        if let Some(users) = ours
            .pointer_mut("/related/user")
            .and_then(Value::as_array_mut)
        {
            users.retain(|u| !text(u));
            if users.is_empty() {
                remove_path(ours, &["related", "user"]);
            }
        }
        applied.push("related.user from non-string values");
    }
    // An object (or a list holding one) where the mapping has a keyword: the normalizer writes
    // its JSON text.
    if json_text_where_object(ours, theirs) {
        applied.push(LISTED[4]);
    }
    applied
}

/// Replaces, in `ours`, a string that is the compact JSON text of the object or array at the
/// same place in `theirs` by that value; true when it did.
fn json_text_where_object(ours: &mut Value, theirs: &Value) -> bool {
    match (ours, theirs) {
        (Value::Object(o), Value::Object(t)) => {
            let mut any = false;
            for (key, value) in o.iter_mut() {
                if let Some(tv) = t.get(key) {
                    any |= json_text_where_object(value, tv);
                }
            }
            any
        }
        (ours @ Value::String(_), theirs @ (Value::Object(_) | Value::Array(_)))
            if Some(ours.as_str().unwrap_or_default())
                == serde_json::to_string(theirs).ok().as_deref() =>
        {
            *ours = theirs.clone();
            true
        }
        _ => false,
    }
}

/// Removes the field at `path` and then every object on the way that became empty.
fn remove_path(doc: &mut Value, path: &[&str]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    if parents.is_empty() {
        if let Some(map) = doc.as_object_mut() {
            map.remove(*last);
        }
        return;
    }
    if let Some(parent) = doc.get_mut(parents[0]) {
        remove_path(parent, &path[1..]);
        if parent.as_object().is_some_and(|m| m.is_empty())
            && let Some(map) = doc.as_object_mut()
        {
            map.remove(parents[0]);
        }
    }
}
