//! S3 notifications: which objects an S3 event, an SNS-wrapped one, an EventBridge
//! "Object Created" event or an SQS message body points at; key decoding and the suffix
//! filter.

use serde::Deserialize;

use crate::aws::normalize_etag;

/// One object a notification points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    /// The bucket name.
    pub bucket: String,
    /// The decoded key (notifications carry it URL-encoded).
    pub key: String,
    /// The ETag, without quotes.
    pub etag: Option<String>,
    /// The bucket's region, when the notification gives it.
    pub region: Option<String>,
}

/// What an S3 notification message holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// `s3:TestEvent`, sent when a notification is configured: acknowledged and ignored.
    Test,
    /// The objects created.
    Objects(Vec<ObjectRef>),
}

/// Why a message is not a notification this path can act on.
#[derive(Debug, thiserror::Error)]
pub enum NotificationError {
    /// The body is not JSON.
    #[error("message body is not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    /// It has `Records` but they do not locate an object.
    #[error("not an S3 event notification: {0}")]
    BadS3Event(#[source] serde_json::Error),
    /// Some other JSON.
    #[error("not an S3 notification (keys: {keys:?})")]
    Unrecognized {
        /// The keys of the JSON object received.
        keys: Vec<String>,
    },
}

/// Decodes an S3 notification key: `+` is a space and `%xx` a byte (UTF-8).
pub fn decode_key(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hex = raw
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(byte) => {
                        out.push(byte);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// True when `key` ends with one of `suffixes` (case-insensitive).
pub fn has_accepted_suffix(key: &str, suffixes: &[String]) -> bool {
    let key = key.to_ascii_lowercase();
    suffixes.is_empty()
        || suffixes
            .iter()
            .any(|s| key.ends_with(&s.to_ascii_lowercase()))
}

#[derive(Deserialize)]
struct SnsEnvelope {
    #[serde(rename = "Type")]
    kind: String,
    #[serde(rename = "Message")]
    message: String,
}

#[derive(Deserialize)]
struct TestEvent {
    #[serde(rename = "Event")]
    event: String,
}

#[derive(Deserialize)]
struct ObjectCreatedDetail {
    bucket: NamedBucket,
    object: DetailObject,
}

#[derive(Deserialize)]
struct NamedBucket {
    name: String,
}

#[derive(Deserialize)]
struct DetailObject {
    key: String,
    #[serde(default)]
    etag: Option<String>,
}

/// An S3 event notification, read leniently: only what locating the object needs is
/// required (emulators and some relays leave out `userIdentity`, `requestParameters` …).
#[derive(Debug, Clone, Deserialize)]
pub struct S3Notification {
    /// `Records`.
    #[serde(rename = "Records")]
    pub records: Vec<S3Record>,
}

/// One record of an S3 event notification.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct S3Record {
    /// `eventName`, e.g. `ObjectCreated:Put`.
    #[serde(default)]
    pub event_name: Option<String>,
    /// `awsRegion`.
    #[serde(default)]
    pub aws_region: Option<String>,
    /// `s3`.
    pub s3: S3Entity,
}

/// `Records[].s3`.
#[derive(Debug, Clone, Deserialize)]
pub struct S3Entity {
    /// `bucket`.
    pub bucket: S3Bucket,
    /// `object`.
    pub object: S3Object,
}

/// `Records[].s3.bucket`.
#[derive(Debug, Clone, Deserialize)]
pub struct S3Bucket {
    /// `name`: the bucket name.
    pub name: String,
}

/// `Records[].s3.object` (the key as S3 encodes it in notifications).
#[derive(Debug, Clone, Deserialize)]
pub struct S3Object {
    /// `key`: URL-encoded.
    pub key: String,
    /// `eTag`.
    #[serde(default, rename = "eTag")]
    pub e_tag: Option<String>,
}

/// The created objects of an S3 event notification (other event types are ignored).
pub fn objects_of_s3_event(event: S3Notification) -> Vec<ObjectRef> {
    event
        .records
        .into_iter()
        .filter(|r| {
            r.event_name
                .as_deref()
                .is_none_or(|n| n.starts_with("ObjectCreated"))
        })
        .map(|record| ObjectRef {
            bucket: record.s3.bucket.name,
            key: decode_key(&record.s3.object.key),
            etag: record.s3.object.e_tag.as_deref().map(normalize_etag),
            region: record.aws_region,
        })
        .collect()
}

/// The object of an EventBridge "Object Created" event, if it is one.
pub fn object_of_eventbridge(value: &serde_json::Value) -> Option<ObjectRef> {
    let event: aws_lambda_events::event::eventbridge::EventBridgeEvent<serde_json::Value> =
        serde_json::from_value(value.clone()).ok()?;
    if event.detail_type != "Object Created" {
        return None;
    }
    let detail: ObjectCreatedDetail = serde_json::from_value(event.detail).ok()?;
    Some(ObjectRef {
        bucket: detail.bucket.name,
        key: decode_key(&detail.object.key),
        etag: detail.object.etag.as_deref().map(normalize_etag),
        region: event.region,
    })
}

/// Parses an SQS message body: an S3 notification, the same wrapped by SNS, an EventBridge
/// "Object Created" event, or the `s3:TestEvent`.
pub fn parse_notification(body: &str) -> Result<Notification, NotificationError> {
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(NotificationError::NotJson)?;
    if let Ok(envelope) = serde_json::from_value::<SnsEnvelope>(value.clone())
        && envelope.kind == "Notification"
    {
        return parse_notification(&envelope.message);
    }
    if let Ok(test) = serde_json::from_value::<TestEvent>(value.clone())
        && test.event == "s3:TestEvent"
    {
        return Ok(Notification::Test);
    }
    if value.get("Records").is_some() {
        let event: S3Notification =
            serde_json::from_value(value).map_err(NotificationError::BadS3Event)?;
        return Ok(Notification::Objects(objects_of_s3_event(event)));
    }
    if let Some(object) = object_of_eventbridge(&value) {
        return Ok(Notification::Objects(vec![object]));
    }
    let keys = value
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    Err(NotificationError::Unrecognized { keys })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_url_decoded() {
        assert_eq!(
            decode_key("2026/11/25/audit+log+%C3%A9t%C3%A9.jsonl.gz"),
            "2026/11/25/audit log été.jsonl.gz"
        );
        assert_eq!(decode_key("a%2Bb%20c"), "a+b c");
        assert_eq!(decode_key("bad%zz"), "bad%zz");
    }

    #[test]
    fn suffix_filter() {
        let suffixes = vec![".jsonl.gz".to_owned(), ".ndjson".to_owned()];
        assert!(has_accepted_suffix("2026/11/25/a.JSONL.GZ", &suffixes));
        assert!(has_accepted_suffix("x.ndjson", &suffixes));
        assert!(!has_accepted_suffix("readme.txt", &suffixes));
    }

    #[test]
    fn notification_shapes() {
        let s3 = r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"eu-west-1","eventTime":"2026-11-25T10:00:00.000Z","eventName":"ObjectCreated:Put","userIdentity":{"principalId":"x"},"requestParameters":{"sourceIPAddress":"1.2.3.4"},"responseElements":{},"s3":{"s3SchemaVersion":"1.0","configurationId":"c","bucket":{"name":"audit","arn":"arn:aws:s3:::audit"},"object":{"key":"2026/11/25/a+b.jsonl.gz","size":10,"eTag":"abc","sequencer":"1"}}}]}"#;
        let expected = Notification::Objects(vec![ObjectRef {
            bucket: "audit".into(),
            key: "2026/11/25/a b.jsonl.gz".into(),
            etag: Some("abc".into()),
            region: Some("eu-west-1".into()),
        }]);
        assert_eq!(parse_notification(s3).unwrap(), expected);
        let sns = serde_json::json!({"Type": "Notification", "MessageId": "m", "Message": s3})
            .to_string();
        assert_eq!(parse_notification(&sns).unwrap(), expected);
        let bridge = r#"{"version":"0","id":"e","detail-type":"Object Created","source":"aws.s3","account":"1","time":"2026-11-25T10:00:00Z","region":"eu-west-1","resources":[],"detail":{"version":"0","bucket":{"name":"audit"},"object":{"key":"2026/11/25/a+b.jsonl.gz","size":10,"etag":"abc"}}}"#;
        assert_eq!(parse_notification(bridge).unwrap(), expected);
        let test = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-11-25T10:00:00Z","Bucket":"audit"}"#;
        assert_eq!(parse_notification(test).unwrap(), Notification::Test);
        let err = parse_notification(r#"{"hello":"world"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("hello"), "{err}");
        assert!(parse_notification("not json").is_err());
    }

    #[test]
    fn notifications_need_only_what_locates_the_object() {
        // moto (and some relays) leave out userIdentity, requestParameters and the ETag.
        let sparse = r#"{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"audit"},"object":{"key":"2026/11/25/a.jsonl.gz"}}},{"eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"audit"},"object":{"key":"old.jsonl.gz"}}}]}"#;
        assert_eq!(
            parse_notification(sparse).unwrap(),
            Notification::Objects(vec![ObjectRef {
                bucket: "audit".into(),
                key: "2026/11/25/a.jsonl.gz".into(),
                etag: None,
                region: None,
            }])
        );
        // A record that does not say which object is an error, never silently skipped.
        let no_key = r#"{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"audit"},"object":{}}}]}"#;
        let err = parse_notification(no_key).unwrap_err().to_string();
        assert!(err.contains("key"), "{err}");
    }
}
