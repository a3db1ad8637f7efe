//! The typed ECS document. ECS fields are struct fields (static names, serialized without
//! building maps); only the open-ended parts (`cursor.audit`, `user`, `url`, GeoIP objects)
//! are JSON maps. Field order follows the alphabetical order of Elastic's expected documents.

use serde::Serialize;
use serde_json::{Map, Value};

/// One ECS document, as the normalizer and the shipper build it.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct EcsDocument {
    /// ECS `@timestamp`: the event's `timestamp`, or the processing time when absent or invalid.
    #[serde(rename = "@timestamp")]
    pub timestamp: String,
    /// §10 (S3 input): `aws.s3.*`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws: Option<Value>,
    /// §10 (S3 input): `cloud.*`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud: Option<CloudFields>,
    /// `cursor.*`: set when `cursor.audit` has any field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<CursorFields>,
    /// §10: `data_stream.*`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_stream: Option<DataStreamFields>,
    /// ECS `ecs.version`.
    pub ecs: EcsFields,
    /// ECS `error.message`: set when normalization found errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorFields>,
    /// ECS `event.*`.
    pub event: EventFields,
    /// §10: `log.file.path`, `log.offset`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<LogFields>,
    /// ECS `related.*`: set when it has an IP or a user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub related: Option<RelatedFields>,
    /// ECS `source.*`: set when the event has a valid `ip_address`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceFields>,
    /// ECS `tags`: `preserve_original_event` and the configured tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// ECS `url.*`, built from the payload.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<Map<String, Value>>,
    /// ECS `user.*` (including `user.target.*`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<Map<String, Value>>,
}

/// `cursor.*`
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CursorFields {
    /// `cursor.audit`: Cursor-specific fields not mapped to ECS (with `unmapped`).
    pub audit: Map<String, Value>,
}

/// `ecs.*`
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EcsFields {
    /// `ecs.version`: always [`super::ECS_VERSION`].
    pub version: &'static str,
}

impl Default for EcsFields {
    fn default() -> Self {
        EcsFields {
            version: super::ECS_VERSION,
        }
    }
}

/// `error.*`
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorFields {
    /// `error.message`: every problem found while normalizing the event.
    pub message: Vec<String>,
}

/// `event.*`
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct EventFields {
    /// `event.action`: the Cursor event type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// `event.category`, from the categorization table.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<&'static [&'static str]>,
    /// §10.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset: Option<&'static str>,
    /// `event.id`: the event's `event_id`, as given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Value>,
    /// `event.kind`: `event`, or `pipeline_error` for unreadable input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    /// `event.original`: the raw input, on errors or when preserving originals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original: Option<String>,
    /// `event.outcome`, from the categorization table or the payload.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<&'static str>,
    /// `event.provider`: always `cursor`.
    pub provider: &'static str,
    /// `event.type`, from the categorization table.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind_of: Option<&'static [&'static str]>,
}

/// `related.*`
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct RelatedFields {
    /// `related.ip`: the source IP.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ip: Vec<String>,
    /// `related.user`: the users the event names, without duplicates.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub user: Vec<String>,
}

/// `source.*`
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceFields {
    /// ECS `source.as`, from the ASN database.
    #[serde(rename = "as", skip_serializing_if = "Option::is_none")]
    pub as_fields: Option<Map<String, Value>>,
    /// ECS `source.geo`, from the City database.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub geo: Option<Map<String, Value>>,
    /// ECS `source.ip`: the event's `ip_address`.
    pub ip: String,
}

/// `data_stream.*`
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DataStreamFields {
    /// `data_stream.dataset`: always `cursor.audit`.
    pub dataset: &'static str,
    /// `data_stream.namespace`: the configured namespace.
    pub namespace: String,
    /// `data_stream.type`: always `logs`.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// `log.*`
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogFields {
    /// `log.file.*`.
    pub file: LogFile,
    /// `log.offset`: the line's byte offset in the (decompressed) file or object.
    pub offset: u64,
}

/// `log.file.*`
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogFile {
    /// `log.file.path`: the file path, or the S3 object's URL.
    pub path: String,
}

/// `cloud.*`
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CloudFields {
    /// `cloud.provider`: always `aws`.
    pub provider: &'static str,
    /// `cloud.region`: the S3 object's region.
    pub region: String,
}

impl EcsDocument {
    /// The document as a JSON value (for comparisons and tests).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// `cursor.audit`, if any field is set.
    pub fn cursor_audit(&self) -> Option<&Map<String, Value>> {
        self.cursor.as_ref().map(|c| &c.audit)
    }
}
