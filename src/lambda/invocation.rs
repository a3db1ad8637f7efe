//! Which kind of event arrived: an SQS batch, an S3 notification, an EventBridge "Object
//! Created" event, the poller's schedule, a replay (`{"replay": …}`), or a function URL
//! request (the webhook).

use aws_lambda_events::event::sqs::SqsEvent;
use serde_json::Value;

use super::error::HandlerError;
use super::poll::ReplayRequest;
use crate::s3::{ObjectRef, S3Notification, object_of_eventbridge};
use crate::webhook::FunctionUrlRequest;

/// What kind of event arrived.
#[derive(Debug)]
pub enum Invocation {
    /// S3 notifications through SQS (the deployed S3 path).
    Sqs(SqsEvent),
    /// An S3 notification invoking the function directly.
    S3(S3Notification),
    /// An EventBridge "Object Created" event.
    EventBridgeObject(ObjectRef),
    /// The poller's schedule.
    Schedule,
    /// An operator's replay of a window.
    Replay(ReplayRequest),
    /// A function URL request (payload format 2.0): the webhook.
    FunctionUrl(Box<FunctionUrlRequest>),
}

/// Recognizes the event's shape, or says what was received.
pub fn classify(event: Value) -> Result<Invocation, HandlerError> {
    if event.pointer("/requestContext/http/method").is_some() {
        return serde_json::from_value(event)
            .map(|request| Invocation::FunctionUrl(Box::new(request)))
            .map_err(|err| {
                // Only a missing field is named: other messages may quote a header's value.
                let detail = err.to_string();
                let detail = if detail.starts_with("missing field") {
                    detail
                } else {
                    "a field has the wrong type".into()
                };
                HandlerError::UnknownEvent(format!("malformed function URL request: {detail}"))
            });
    }
    if let Some(replay) = event.get("replay") {
        return serde_json::from_value(replay.clone())
            .map(Invocation::Replay)
            .map_err(|err| {
                HandlerError::Replay(format!(
                    "expected {{\"replay\": {{\"from\": RFC 3339, \"to\": RFC 3339, \"team\": optional name}}}}: {err}"
                ))
            });
    }
    let first_source = event
        .get("Records")
        .and_then(|r| r.get(0))
        .and_then(|r| r.get("eventSource"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    match first_source.as_deref() {
        Some("aws:sqs") => {
            return serde_json::from_value(event)
                .map(Invocation::Sqs)
                .map_err(|err| HandlerError::UnknownEvent(format!("malformed SQS event: {err}")));
        }
        Some("aws:s3") => {
            return serde_json::from_value(event)
                .map(Invocation::S3)
                .map_err(|err| HandlerError::UnknownEvent(format!("malformed S3 event: {err}")));
        }
        _ => {}
    }
    match event.get("detail-type").and_then(Value::as_str) {
        Some("Object Created") => {
            return object_of_eventbridge(&event)
                .map(Invocation::EventBridgeObject)
                .ok_or_else(|| {
                    HandlerError::UnknownEvent("malformed EventBridge Object Created event".into())
                });
        }
        Some("Scheduled Event") => return Ok(Invocation::Schedule),
        _ => {}
    }
    let shape = match &event {
        Value::Object(map) => format!("an object with keys {:?}", map.keys().collect::<Vec<_>>()),
        other => format!("{other}").chars().take(200).collect(),
    };
    Err(HandlerError::UnknownEvent(format!(
        "expected an SQS batch of S3 notifications, an S3 notification, an EventBridge Object Created event, a replay or a function URL request; got {shape}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_shapes_and_names_unknown_ones() {
        let sqs = serde_json::json!({"Records": [{"messageId": "m1", "eventSource": "aws:sqs", "body": "{}"}]});
        assert!(matches!(classify(sqs).unwrap(), Invocation::Sqs(_)));
        let schedule = serde_json::json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}});
        assert!(matches!(classify(schedule).unwrap(), Invocation::Schedule));
        let url = serde_json::json!({"version": "2.0", "rawPath": "/", "body": "{}",
            "isBase64Encoded": false, "requestContext": {"http": {"method": "POST"}}});
        assert!(matches!(classify(url).unwrap(), Invocation::FunctionUrl(_)));
        let replay = serde_json::json!({"replay": {"from": "2026-11-29T00:00:00Z", "to": "2026-11-30T00:00:00Z", "team": "eng"}});
        let Invocation::Replay(request) = classify(replay).unwrap() else {
            panic!("not a replay")
        };
        assert_eq!(request.team.as_deref(), Some("eng"));
        assert_eq!(request.to, crate::test_time::at("2026-11-30T00:00:00Z"));
        let bad = classify(serde_json::json!({"replay": {"from": "yesterday"}}))
            .unwrap_err()
            .to_string();
        assert!(bad.starts_with("replay: expected"), "{bad}");
        let err = classify(serde_json::json!({"foo": 1}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("foo"), "{err}");
        let err = classify(serde_json::json!([1, 2])).unwrap_err().to_string();
        assert!(err.contains("[1,2]"), "{err}");
    }
}
