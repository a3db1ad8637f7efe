//! The document of `cluster` mode (sink/mode.rs, docs/integration-pipeline.md): what
//! Elastic Agent sends for one event — the raw line as `message`, the collection time as
//! `@timestamp`, the data stream, dataset, tags, input type and, for S3, where the line
//! came from — for the integration's ingest pipeline to normalize.

use serde::Serialize;

use super::fields::{DATASET, Provenance, ProvenanceFields, ShipFields, data_stream_fields};
use crate::normalize::{CloudFields, DataStreamFields, LogFields, PRESERVE_ORIGINAL_TAG};

/// `event.*` of a raw document.
#[derive(Debug, Serialize)]
pub struct RawEventFields {
    /// `event.dataset`: `cursor.audit`.
    pub dataset: &'static str,
}

/// `input.*` of a raw document.
#[derive(Debug, Serialize)]
pub struct InputFields {
    /// The Elastic Agent input that would have read the line.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// One raw event for the integration's pipeline.
#[derive(Debug, Serialize)]
pub struct RawDocument {
    /// The collection time (the pipeline replaces it with the event's own).
    #[serde(rename = "@timestamp")]
    pub timestamp: String,
    /// The line, as read (invalid UTF-8 replaced).
    pub message: String,
    /// `data_stream.*`.
    pub data_stream: DataStreamFields,
    /// `event.dataset`.
    pub event: RawEventFields,
    /// `preserve_original_event` when `PRESERVE_ORIGINAL_EVENT` is on, then `TAGS`.
    pub tags: Vec<String>,
    /// `input.type`.
    pub input: InputFields,
    /// `log.*` (files and S3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<LogFields>,
    /// `aws.s3.*` (S3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws: Option<serde_json::Value>,
    /// `cloud.*` (S3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud: Option<CloudFields>,
}

/// The raw document of `line` (read at `offset` from `provenance`) collected at `timestamp`.
pub fn raw_document(
    line: &[u8],
    timestamp: String,
    fields: &ShipFields,
    preserve_original: bool,
    provenance: &Provenance,
    offset: u64,
) -> RawDocument {
    let mut tags = Vec::with_capacity(fields.tags.len() + 1);
    if preserve_original {
        tags.push(PRESERVE_ORIGINAL_TAG.to_owned());
    }
    for tag in &fields.tags {
        if !tags.contains(tag) {
            tags.push(tag.clone());
        }
    }
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let ProvenanceFields { log, aws, cloud } = provenance.fields(offset);
    RawDocument {
        timestamp,
        message: String::from_utf8_lossy(line).into_owned(),
        data_stream: data_stream_fields(fields),
        event: RawEventFields { dataset: DATASET },
        tags,
        input: InputFields {
            kind: provenance.input_type(),
        },
        log,
        aws,
        cloud,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_raw_document_is_what_elastic_agents_s3_input_sends() {
        let fields = ShipFields {
            namespace: "prod".into(),
            tags: vec!["forwarded".into(), "cursor-audit".into()],
        };
        let provenance = Provenance::S3 {
            bucket: "audit".into(),
            key: "2026/11/25/a.jsonl.gz".into(),
            region: "eu-west-1".into(),
            etag: None,
        };
        let doc = raw_document(
            br#"{"event_id":"e1"}"#,
            "2026-11-25T12:00:00.000Z".into(),
            &fields,
            true,
            &provenance,
            42,
        );
        assert_eq!(
            serde_json::to_value(&doc).unwrap(),
            json!({
                "@timestamp": "2026-11-25T12:00:00.000Z",
                "message": "{\"event_id\":\"e1\"}",
                "data_stream": {"type": "logs", "dataset": "cursor.audit", "namespace": "prod"},
                "event": {"dataset": "cursor.audit"},
                "tags": ["preserve_original_event", "forwarded", "cursor-audit"],
                "input": {"type": "aws-s3"},
                "log": {"file": {"path": "https://audit.s3.eu-west-1.amazonaws.com/2026/11/25/a.jsonl.gz"}, "offset": 42},
                "aws": {"s3": {"bucket": {"name": "audit", "arn": "arn:aws:s3:::audit"},
                               "object": {"key": "2026/11/25/a.jsonl.gz"}}},
                "cloud": {"provider": "aws", "region": "eu-west-1"}
            })
        );
        let api = raw_document(
            b"not json\r",
            "2026-11-25T12:00:00.000Z".into(),
            &fields,
            false,
            &Provenance::CursorApi,
            0,
        );
        let value = serde_json::to_value(&api).unwrap();
        assert_eq!(value["message"], "not json");
        assert_eq!(value["input"]["type"], "cel");
        assert_eq!(value["tags"], json!(["forwarded", "cursor-audit"]));
        assert!(value.get("log").is_none() && value.get("aws").is_none());
    }
}
