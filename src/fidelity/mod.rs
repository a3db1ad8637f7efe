//! Drift check (`check-fidelity`): runs a built-in sample of Cursor audit events through the
//! `_simulate` API of Elastic's Cursor integration pipeline as installed on a cluster, and
//! through this normalizer, and reports every field where the two documents differ.
//!
//! The normalizer reproduces the integration's pipeline (docs/normalization.md §11); a new
//! integration version can change that pipeline. This check says, on the user's own cluster,
//! whether the documents still agree. Compared: whole documents and `_id`s, with
//! `event.ingested` ignored and `source.geo` / `source.as` set aside (they depend on the GeoIP
//! databases each side has, not on the pipeline). `null` differs from absent.

mod samples;

use serde_json::{Value, json};

use crate::normalize::{GeoIp, NormalizeOptions, Normalizer};
use crate::sink::connection::EsConnection;
use crate::sink::error::EsError;

pub use samples::sample_lines;

/// Documents per `_simulate` request.
const BATCH: usize = 500;

/// Why the check could not run.
#[derive(Debug, thiserror::Error)]
pub enum FidelityError {
    /// The cluster could not be asked.
    #[error(transparent)]
    Es(#[from] EsError),
    /// The cluster answered with an error.
    #[error("{what}: HTTP {status}: {body}")]
    Status {
        /// The request.
        what: String,
        /// The HTTP status.
        status: u16,
        /// The answer, shortened.
        body: String,
    },
    /// The answer was not the expected JSON.
    #[error("{what}: unexpected answer: {detail}")]
    Answer {
        /// The request.
        what: String,
        /// What was wrong.
        detail: String,
    },
}

/// One field where the pipeline's document and ours differ.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    /// Index of the sample line.
    pub sample: usize,
    /// The sample's event type and shape, e.g. `login (S3)`.
    pub label: String,
    /// The field, dotted (`cursor.audit.setting_name`), or `_id`.
    pub field: String,
    /// The pipeline's value (`None`: absent).
    pub pipeline: Option<Value>,
    /// The normalizer's value (`None`: absent).
    pub normalizer: Option<Value>,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |v: &Option<Value>| v.as_ref().map_or("absent".to_owned(), Value::to_string);
        write!(
            f,
            "{}: sample #{} ({}): pipeline {}, normalizer {}",
            self.field,
            self.sample,
            self.label,
            show(&self.pipeline),
            show(&self.normalizer)
        )
    }
}

/// What the check found.
#[derive(Debug, Clone)]
pub struct FidelityReport {
    /// The pipeline that was run.
    pub pipeline: String,
    /// How many sample events were compared.
    pub samples: usize,
    /// Every difference, by sample then field.
    pub differences: Vec<Difference>,
}

impl FidelityReport {
    /// The fields that differ, each once, sorted.
    pub fn fields(&self) -> Vec<&str> {
        let mut fields: Vec<&str> = self.differences.iter().map(|d| d.field.as_str()).collect();
        fields.sort_unstable();
        fields.dedup();
        fields
    }
}

/// The integration's main pipeline on the cluster (`logs-cursor.audit-<version>`, not a
/// routed sub-pipeline such as `…-s3`); the newest name when several versions are there.
pub async fn find_integration_pipeline(
    connection: &EsConnection,
) -> Result<Option<String>, FidelityError> {
    let path = "_ingest/pipeline/logs-cursor.audit-*";
    let response = connection
        .send(path, connection.request(reqwest::Method::GET, path))
        .await?;
    let status = response.status().as_u16();
    if status == 404 {
        return Ok(None);
    }
    let body = answer(response, "GET _ingest/pipeline/logs-cursor.audit-*", status).await?;
    let mut names: Vec<&String> = body
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    names.retain(|name| crate::sink::mode::is_integration_pipeline(name) && !name.ends_with("-s3"));
    names.sort_by_key(|name| version_key(name));
    Ok(names.last().map(|name| (*name).clone()))
}

/// Sorts `logs-cursor.audit-1.10.0` after `logs-cursor.audit-1.9.0`.
fn version_key(name: &str) -> Vec<(u64, String)> {
    name.trim_start_matches("logs-cursor.audit-")
        .split(['.', '-'])
        .map(|part| (part.parse().unwrap_or(0), part.to_owned()))
        .collect()
}

/// Runs the built-in samples through `pipeline` and through the normalizer.
pub async fn check(
    connection: &EsConnection,
    pipeline: &str,
) -> Result<FidelityReport, FidelityError> {
    let lines = sample_lines();
    let normalizer = Normalizer::new(
        NormalizeOptions {
            preserve_original: true,
        },
        GeoIp::default(),
    );
    let mut differences = Vec::new();
    let path = format!("_ingest/pipeline/{pipeline}/_simulate");
    let what = format!("POST {path}");
    for (chunk_index, chunk) in lines.chunks(BATCH).enumerate() {
        let docs: Vec<Value> = chunk
            .iter()
            .map(|(_, line)| {
                json!({"_index": "logs-cursor.audit-default",
                       "_source": {"message": line, "tags": ["preserve_original_event"]}})
            })
            .collect();
        let request = connection
            .request(reqwest::Method::POST, &path)
            .json(&json!({ "docs": docs }));
        let response = connection.send(&path, request).await?;
        let status = response.status().as_u16();
        let body = answer(response, &what, status).await?;
        let results = body["docs"]
            .as_array()
            .filter(|r| r.len() == chunk.len())
            .ok_or_else(|| FidelityError::Answer {
                what: what.clone(),
                detail: format!("not {} documents", chunk.len()),
            })?;
        for (i, ((label, line), result)) in chunk.iter().zip(results).enumerate() {
            let sample = chunk_index * BATCH + i;
            let ours = normalizer.normalize_line(line.as_bytes());
            let (ours_doc, ours_id) = match ours {
                Some(n) => (n.to_value(), n.id),
                None => (Value::Null, None),
            };
            let (theirs_doc, theirs_id) = match result.get("doc") {
                Some(doc) => (
                    doc["_source"].clone(),
                    doc["_id"].as_str().map(str::to_owned),
                ),
                None => (json!({"error": result.get("error").cloned()}), None),
            };
            for (field, pipeline_value, normalizer_value) in compare(&theirs_doc, &ours_doc) {
                differences.push(Difference {
                    sample,
                    label: label.clone(),
                    field,
                    pipeline: pipeline_value,
                    normalizer: normalizer_value,
                });
            }
            if theirs_id != ours_id {
                differences.push(Difference {
                    sample,
                    label: label.clone(),
                    field: "_id".into(),
                    pipeline: theirs_id.map(Value::String),
                    normalizer: ours_id.map(Value::String),
                });
            }
        }
    }
    Ok(FidelityReport {
        pipeline: pipeline.to_owned(),
        samples: lines.len(),
        differences,
    })
}

/// The JSON body of a successful answer.
async fn answer(
    response: reqwest::Response,
    what: &str,
    status: u16,
) -> Result<Value, FidelityError> {
    let text = response.text().await.unwrap_or_default();
    if !(200..300).contains(&status) {
        return Err(FidelityError::Status {
            what: what.to_owned(),
            status,
            body: text.chars().take(500).collect(),
        });
    }
    serde_json::from_str(&text).map_err(|err| FidelityError::Answer {
        what: what.to_owned(),
        detail: err.to_string(),
    })
}

/// The fields where the pipeline's document and ours differ: (field, pipeline, ours).
pub fn compare(pipeline: &Value, ours: &Value) -> Vec<(String, Option<Value>, Option<Value>)> {
    let mut pipeline = pipeline.clone();
    let mut ours = ours.clone();
    if let Some(event) = pipeline.get_mut("event").and_then(Value::as_object_mut) {
        event.remove("ingested");
    }
    for doc in [&mut pipeline, &mut ours] {
        if let Some(source) = doc.get_mut("source").and_then(Value::as_object_mut) {
            source.remove("geo");
            source.remove("as");
        }
    }
    let mut out = Vec::new();
    diff(Some(&pipeline), Some(&ours), "", &mut out);
    out
}

fn diff(
    pipeline: Option<&Value>,
    ours: Option<&Value>,
    path: &str,
    out: &mut Vec<(String, Option<Value>, Option<Value>)>,
) {
    match (pipeline, ours) {
        (Some(Value::Object(p)), Some(Value::Object(o))) => {
            let mut keys: Vec<&String> = p.keys().chain(o.keys()).collect();
            keys.sort_unstable();
            keys.dedup();
            for key in keys {
                let sub = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                diff(p.get(key), o.get(key), &sub, out);
            }
        }
        (p, o) if p != o => out.push((path.to_owned(), p.cloned(), o.cloned())),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_names_each_differing_field_and_sets_enrichment_aside() {
        let pipeline = json!({"event": {"ingested": "x", "id": "a", "kind": "event"},
                              "source": {"ip": "192.0.2.1", "geo": {"city_name": "X"}},
                              "cursor": {"audit": {"team_id": null}}});
        let ours = json!({"event": {"id": "a", "kind": "alert"},
                          "source": {"ip": "192.0.2.1", "as": {"number": 1}},
                          "cursor": {"audit": {}}, "extra": 1});
        let found = compare(&pipeline, &ours);
        assert_eq!(
            found,
            vec![
                ("cursor.audit.team_id".to_owned(), Some(Value::Null), None),
                (
                    "event.kind".to_owned(),
                    Some(json!("event")),
                    Some(json!("alert"))
                ),
                ("extra".to_owned(), None, Some(json!(1))),
            ]
        );
    }

    #[test]
    fn the_samples_cover_every_event_type_in_both_shapes_and_normalize_cleanly() {
        let normalizer = Normalizer::new(
            NormalizeOptions {
                preserve_original: true,
            },
            GeoIp::default(),
        );
        let lines = sample_lines();
        for event_type in [
            "login",
            "team_hook",
            "user_spend_limit",
            "some_future_event",
        ] {
            assert!(
                lines
                    .iter()
                    .any(|(l, _)| *l == format!("{event_type} (API)"))
            );
            assert!(
                lines
                    .iter()
                    .any(|(l, _)| *l == format!("{event_type} (S3)"))
            );
        }
        for (label, line) in &lines {
            let n = normalizer.normalize_line(line.as_bytes());
            assert!(n.as_ref().is_some_and(|n| !n.has_error), "{label}: {line}");
        }
    }

    #[test]
    fn versions_sort_numerically() {
        let mut names = ["logs-cursor.audit-1.10.0", "logs-cursor.audit-1.9.0"];
        names.sort_by_key(|n| version_key(n));
        assert_eq!(
            names,
            ["logs-cursor.audit-1.9.0", "logs-cursor.audit-1.10.0"]
        );
    }
}
