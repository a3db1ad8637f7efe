//! The typed ECS document. ECS fields are struct fields (static names, serialized without
//! building maps); only the open-ended parts (`cursor.audit`, `user`, `url`, GeoIP objects)
//! are JSON maps. Field order follows the alphabetical order of Elastic's expected documents.

use serde::Serialize;
use serde_json::{Map, Value};

/// One ECS document, as the normalizer and the shipper build it.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct EcsDocument {
    #[serde(rename = "@timestamp")]
    pub timestamp: String,
    /// §10 (S3 input): `aws.s3.*`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws: Option<Value>,
    /// §10 (S3 input): `cloud.*`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud: Option<CloudFields>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<CursorFields>,
    /// §10: `data_stream.*`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_stream: Option<DataStreamFields>,
    pub ecs: EcsFields,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorFields>,
    pub event: EventFields,
    /// §10: `log.file.path`, `log.offset`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<LogFields>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub related: Option<RelatedFields>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceFields>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<Map<String, Value>>,
}

/// `cursor.*`
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CursorFields {
    pub audit: Map<String, Value>,
}

/// `ecs.*`
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EcsFields {
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
    pub message: Vec<String>,
}

/// `event.*`
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct EventFields {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<&'static [&'static str]>,
    /// §10.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<&'static str>,
    pub provider: &'static str,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind_of: Option<&'static [&'static str]>,
}

/// `related.*`
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct RelatedFields {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ip: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub user: Vec<String>,
}

/// `source.*`
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceFields {
    #[serde(rename = "as", skip_serializing_if = "Option::is_none")]
    pub as_fields: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub geo: Option<Map<String, Value>>,
    pub ip: String,
}

/// `data_stream.*`
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DataStreamFields {
    pub dataset: &'static str,
    pub namespace: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// `log.*`
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogFields {
    pub file: LogFile,
    pub offset: u64,
}

/// `log.file.*`
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogFile {
    pub path: String,
}

/// `cloud.*`
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CloudFields {
    pub provider: &'static str,
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
