//! The fields shipping adds to every document (docs/normalization.md §10): the data stream,
//! the dataset, the tags, and where the line came from (provenance), plus the stable `_id`
//! of documents that have no `event_id`.

use base64::Engine as _;
use sha1::{Digest, Sha1};

use crate::normalize::{CloudFields, DataStreamFields, EcsDocument, LogFields, LogFile};

/// The dataset every document belongs to.
pub const DATASET: &str = "cursor.audit";

/// The fields shipping adds to every document (docs/normalization.md §10), apart from provenance.
#[derive(Debug, Clone)]
pub struct ShipFields {
    /// `data_stream.namespace` (`DATA_STREAM_NAMESPACE`).
    pub namespace: String,
    /// Tags added to every document (`TAGS`).
    pub tags: Vec<String>,
}

impl ShipFields {
    /// The data stream documents go to.
    pub fn data_stream(&self) -> String {
        format!("logs-{DATASET}-{}", self.namespace)
    }
}

/// Where lines come from; S3 provenance is what Elastic Agent's S3 input writes.
#[derive(Debug, Clone)]
pub enum Provenance {
    /// A local file.
    File {
        /// Its path as given.
        path: String,
    },
    /// An S3 object.
    S3 {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
        /// The bucket's region.
        region: String,
        /// The object version's ETag, if known.
        etag: Option<String>,
    },
    /// The Cursor Admin API: no provenance fields (Elastic's API input adds none either).
    CursorApi,
}

impl Provenance {
    /// A name for logs and dead-letter records.
    pub fn name(&self) -> String {
        match self {
            Provenance::File { path } => path.clone(),
            Provenance::S3 { bucket, key, .. } => format!("s3://{bucket}/{key}"),
            Provenance::CursorApi => "Cursor Admin API".into(),
        }
    }

    /// The `log.*`, `aws.*` and `cloud.*` fields of a line at `offset`.
    pub(crate) fn fields(&self, offset: u64) -> ProvenanceFields {
        match self {
            Provenance::File { path } => ProvenanceFields {
                log: Some(LogFields {
                    file: LogFile { path: path.clone() },
                    offset,
                }),
                ..ProvenanceFields::default()
            },
            Provenance::S3 {
                bucket,
                key,
                region,
                ..
            } => ProvenanceFields {
                aws: Some(serde_json::json!({"s3": {
                    "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
                    "object": {"key": key}
                }})),
                log: Some(LogFields {
                    file: LogFile {
                        path: format!("https://{bucket}.s3.{region}.amazonaws.com/{key}"),
                    },
                    offset,
                }),
                cloud: Some(CloudFields {
                    provider: "aws",
                    region: region.clone(),
                }),
            },
            Provenance::CursorApi => ProvenanceFields::default(),
        }
    }

    /// `input.type` of Elastic Agent's input for this source.
    pub(crate) fn input_type(&self) -> &'static str {
        match self {
            Provenance::File { .. } => "filestream",
            Provenance::S3 { .. } => "aws-s3",
            Provenance::CursorApi => "cel",
        }
    }

    /// A stable `_id` for a document without `event_id` (error documents), so that
    /// shipping the same input again does not duplicate it: the position in a file or
    /// object, or for API events (which have no stable position) the event's own bytes.
    pub(crate) fn fallback_id(&self, offset: u64, raw: &[u8]) -> String {
        let mut digest = Sha1::new();
        match self {
            Provenance::File { path } => digest.update(format!("file:{path}#{offset}")),
            Provenance::S3 {
                bucket, key, etag, ..
            } => digest.update(format!(
                "s3:{bucket}/{key}@{}#{offset}",
                etag.as_deref().unwrap_or("")
            )),
            Provenance::CursorApi => {
                digest.update(b"cursor-api:");
                digest.update(raw);
            }
        }
        base64::engine::general_purpose::STANDARD.encode(digest.finalize())
    }
}

/// The provenance fields of one line.
#[derive(Debug, Default)]
pub(crate) struct ProvenanceFields {
    pub(crate) log: Option<LogFields>,
    pub(crate) aws: Option<serde_json::Value>,
    pub(crate) cloud: Option<CloudFields>,
}

/// The `data_stream.*` fields.
pub(crate) fn data_stream_fields(fields: &ShipFields) -> DataStreamFields {
    DataStreamFields {
        dataset: DATASET,
        namespace: fields.namespace.clone(),
        kind: "logs",
    }
}

/// Adds the docs/normalization.md §10 fields to a normalized document.
pub fn add_shipping_fields(
    doc: &mut EcsDocument,
    fields: &ShipFields,
    provenance: &Provenance,
    offset: u64,
) {
    doc.data_stream = Some(data_stream_fields(fields));
    doc.event.dataset = Some(DATASET);
    for tag in &fields.tags {
        if !doc.tags.contains(tag) {
            doc.tags.push(tag.clone());
        }
    }
    let ProvenanceFields { log, aws, cloud } = provenance.fields(offset);
    doc.log = log;
    doc.aws = aws;
    doc.cloud = cloud;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shipping_fields_for_s3() {
        let normalizer = crate::normalize::Normalizer::new(
            crate::normalize::NormalizeOptions {
                preserve_original: true,
            },
            crate::normalize::GeoIp::default(),
        );
        let mut doc = normalizer
            .normalize_line(
                br#"{"event_id":"x","event_type":"logout","timestamp":"2026-05-04T10:00:00.000Z"}"#,
            )
            .unwrap()
            .document;
        let fields = ShipFields {
            namespace: "prod".into(),
            tags: vec![
                "forwarded".into(),
                "cursor-audit".into(),
                "preserve_original_event".into(),
            ],
        };
        let provenance = Provenance::S3 {
            bucket: "audit".into(),
            key: "2026/11/25/a b.jsonl.gz".into(),
            region: "eu-west-1".into(),
            etag: None,
        };
        add_shipping_fields(&mut doc, &fields, &provenance, 1234);
        let value = doc.to_value();
        assert_eq!(value["event"]["dataset"], "cursor.audit");
        assert_eq!(
            value["tags"],
            json!(["preserve_original_event", "forwarded", "cursor-audit"])
        );
        assert_eq!(
            value["data_stream"],
            json!({"type": "logs", "dataset": "cursor.audit", "namespace": "prod"})
        );
        assert_eq!(
            value["aws"],
            json!({"s3": {"bucket": {"name": "audit", "arn": "arn:aws:s3:::audit"},
                          "object": {"key": "2026/11/25/a b.jsonl.gz"}}})
        );
        assert_eq!(
            value["log"],
            json!({"file": {"path": "https://audit.s3.eu-west-1.amazonaws.com/2026/11/25/a b.jsonl.gz"}, "offset": 1234})
        );
        assert_eq!(
            value["cloud"],
            json!({"provider": "aws", "region": "eu-west-1"})
        );
        assert_eq!(fields.data_stream(), "logs-cursor.audit-prod");
    }
}
