//! `_bulk` request bodies built incrementally within size and count limits, and the typed
//! `_bulk` response.

use std::collections::HashMap;
use std::io::Write;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Batch limits (`BULK_MAX_BYTES`, `BULK_MAX_ACTIONS`).
#[derive(Debug, Clone, Copy)]
pub struct BatchLimits {
    /// Maximum uncompressed body size in bytes.
    pub max_bytes: usize,
    /// Maximum number of documents.
    pub max_actions: usize,
}

impl Default for BatchLimits {
    fn default() -> Self {
        BatchLimits {
            max_bytes: 5 * 1024 * 1024,
            max_actions: 2000,
        }
    }
}

/// One document of a batch: where its action and source lines are in the body, and what
/// the dead letter needs if it is rejected.
#[derive(Debug, Clone)]
pub struct BatchItem {
    /// The document `_id`, if any.
    pub id: Option<String>,
    action_start: usize,
    source_start: usize,
    end: usize,
    /// Where the raw input line (for the dead letter) is in the batch's originals.
    original_start: usize,
    original_end: usize,
    /// 1-based line number in its source.
    pub line: u64,
}

/// A `_bulk` body of `create` actions for one target.
#[derive(Debug, Default)]
pub struct BulkBatch {
    body: Vec<u8>,
    items: Vec<BatchItem>,
    /// The raw lines, back to back (kept for the dead letter).
    originals: Vec<u8>,
    /// The last input line this batch covers (blank lines included), for progress.
    pub last_line: u64,
}

#[derive(Serialize)]
struct CreateAction<'a> {
    create: CreateMeta<'a>,
}

#[derive(Serialize)]
struct CreateMeta<'a> {
    #[serde(rename = "_index", skip_serializing_if = "Option::is_none")]
    index: Option<&'a str>,
    #[serde(rename = "_id", skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
}

impl BulkBatch {
    /// An empty batch.
    pub fn new() -> BulkBatch {
        BulkBatch::default()
    }

    /// Appends one document with its `_id` and, when it is not the request's data stream
    /// (a team's namespace), its `_index`.
    pub fn push<D: Serialize>(
        &mut self,
        (id, index): (Option<String>, Option<String>),
        document: &D,
        original: &str,
        line: u64,
    ) {
        let original_start = self.originals.len();
        self.originals.extend_from_slice(original.as_bytes());
        let action_start = self.body.len();
        let action = CreateAction {
            create: CreateMeta {
                index: index.as_deref(),
                id: id.as_deref(),
            },
        };
        // Serializing plain maps and strings into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut self.body, &action);
        self.body.push(b'\n');
        let source_start = self.body.len();
        let _ = serde_json::to_writer(&mut self.body, document);
        self.body.push(b'\n');
        self.items.push(BatchItem {
            id,
            action_start,
            source_start,
            end: self.body.len(),
            original_start,
            original_end: self.originals.len(),
            line,
        });
        self.last_line = self.last_line.max(line);
    }

    /// Number of documents.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when there is no document.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Body size in bytes (uncompressed), originals not counted.
    pub fn body_bytes(&self) -> usize {
        self.body.len()
    }

    /// True when one more document could exceed the limits.
    pub fn is_full(&self, limits: &BatchLimits) -> bool {
        self.items.len() >= limits.max_actions || self.body.len() >= limits.max_bytes
    }

    /// The items.
    pub fn items(&self) -> &[BatchItem] {
        &self.items
    }

    /// The raw input line of item `index`.
    pub fn original(&self, index: usize) -> &str {
        let item = &self.items[index];
        std::str::from_utf8(&self.originals[item.original_start..item.original_end]).unwrap_or("")
    }

    /// Empties the batch, keeping its buffers for reuse (no reallocation churn).
    pub fn clear(&mut self) {
        self.body.clear();
        self.items.clear();
        self.originals.clear();
        self.last_line = 0;
    }

    /// The document JSON of item `index`.
    pub fn source(&self, index: usize) -> &[u8] {
        let item = &self.items[index];
        &self.body[item.source_start..item.end - 1]
    }

    /// The gzip-compressed body for the given items (all of them when `subset` is `None`).
    pub fn gzip_body(&self, subset: Option<&[usize]>) -> std::io::Result<Vec<u8>> {
        let mut encoder = flate2::write::GzEncoder::new(
            Vec::with_capacity(self.body.len() / 6),
            flate2::Compression::fast(),
        );
        match subset {
            None => encoder.write_all(&self.body)?,
            Some(indices) => {
                for &i in indices {
                    let item = &self.items[i];
                    encoder.write_all(&self.body[item.action_start..item.end])?;
                }
            }
        }
        encoder.finish()
    }
}

/// The `_bulk` response, as far as the sink reads it.
#[derive(Debug, Deserialize)]
pub struct BulkResponse {
    /// True when at least one item failed.
    pub errors: bool,
    /// One result per item, keyed by action (`create`).
    #[serde(default)]
    pub items: Vec<HashMap<String, BulkItemResult>>,
}

/// One item's result.
#[derive(Debug, Deserialize)]
pub struct BulkItemResult {
    /// The item's HTTP status.
    pub status: u16,
    /// Why it failed, if it did.
    #[serde(default)]
    pub error: Option<BulkItemError>,
}

/// Why an item failed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BulkItemError {
    /// The error `type`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The error `reason`.
    #[serde(default)]
    pub reason: Option<String>,
    /// The underlying error (`caused_by`), as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caused_by: Option<Value>,
}

impl BulkItemError {
    /// `type: reason`, with the first cause.
    pub fn describe(&self) -> String {
        let mut text = format!("{}: {}", self.kind, self.reason.as_deref().unwrap_or(""));
        if let Some(cause) = self
            .caused_by
            .as_ref()
            .and_then(|c| c.get("reason"))
            .and_then(Value::as_str)
        {
            text.push_str(" (");
            text.push_str(cause);
            text.push(')');
        }
        text
    }
}

impl BulkResponse {
    /// The per-item results in request order (each item is `{"<action>": result}`).
    pub fn into_results(self) -> Vec<BulkItemResult> {
        self.items
            .into_iter()
            .filter_map(|item| item.into_values().next())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::io::Read;

    fn doc(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn body_is_ndjson_create_actions() {
        let mut batch = BulkBatch::new();
        batch.push((Some("id1".into()), None), &doc(json!({"a": 1})), "raw1", 1);
        batch.push(
            (None, Some("logs-cursor.audit-eng".into())),
            &doc(json!({"b": 2})),
            "raw2",
            3,
        );
        assert_eq!(batch.len(), 2);
        assert_eq!(batch.last_line, 3);
        assert_eq!(batch.source(1), br#"{"b":2}"#);
        assert_eq!(batch.original(0), "raw1");
        assert_eq!(batch.original(1), "raw2");
        let mut text = String::new();
        flate2::read::GzDecoder::new(&batch.gzip_body(None).unwrap()[..])
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(
            text,
            "{\"create\":{\"_id\":\"id1\"}}\n{\"a\":1}\n{\"create\":{\"_index\":\"logs-cursor.audit-eng\"}}\n{\"b\":2}\n"
        );
        let mut subset = String::new();
        flate2::read::GzDecoder::new(&batch.gzip_body(Some(&[1])).unwrap()[..])
            .read_to_string(&mut subset)
            .unwrap();
        assert_eq!(
            subset,
            "{\"create\":{\"_index\":\"logs-cursor.audit-eng\"}}\n{\"b\":2}\n"
        );
    }

    #[test]
    fn limits() {
        let limits = BatchLimits {
            max_bytes: 40,
            max_actions: 3,
        };
        let mut batch = BulkBatch::new();
        batch.push((None, None), &doc(json!({"a": 1})), "", 1);
        assert!(!batch.is_full(&limits));
        batch.push(
            (None, None),
            &doc(json!({"a": "a long enough value"})),
            "",
            2,
        );
        assert!(batch.is_full(&limits));
    }

    #[test]
    fn parses_item_results() {
        let response: BulkResponse = serde_json::from_value(json!({
            "errors": true,
            "items": [
                {"create": {"status": 201}},
                {"create": {"status": 409, "error": {"type": "version_conflict_engine_exception", "reason": "exists"}}},
                {"create": {"status": 400, "error": {"type": "document_parsing_exception", "reason": "bad",
                            "caused_by": {"type": "x", "reason": "not a boolean"}}}}
            ]
        }))
        .unwrap();
        let results = response.into_results();
        assert_eq!(
            results.iter().map(|r| r.status).collect::<Vec<_>>(),
            [201, 409, 400]
        );
        assert_eq!(
            results[2].error.as_ref().unwrap().describe(),
            "document_parsing_exception: bad (not a boolean)"
        );
    }
}
