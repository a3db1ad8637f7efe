//! Property tests: whatever the input, the normalizer never panics and gives exactly one
//! document per non-blank line, each one fit to index.

use cursor_audit_forwarder::normalize::{GeoIp, Ids, NormalizeOptions, Normalizer};
use cursor_audit_forwarder::shipping::lines::LineReader;
use cursor_audit_forwarder::shipping::normalize_read_line;
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Field names the normalizer treats specially, so that generated events hit real rules.
const KNOWN_KEYS: &[&str] = &[
    "event_id",
    "timestamp",
    "ip_address",
    "user_email",
    "event_type",
    "event_data",
    "team_id",
    "auth_id",
    "ghost_mode",
    "request_id",
    "privacy_mode",
    "metadata",
    "context",
    "id",
    "login",
    "add_user",
    "team_hook",
    "user_spend_limit",
    "success",
    "result",
    "url",
    "role",
    "name",
    "email",
    "group_id",
    "directory_group_id",
    "user_id",
    "value",
    "new",
    "previous",
    "source",
    "method",
    "key_id",
    "repo_count",
    "expires_in_seconds",
    "old_limit_cents",
    "invite_id",
    "invited_by_user_id",
    "git_enterprise_uuid",
    "metadata",
    "permissions",
    "creator_email",
    "sender_user_id",
    "privacyMode",
    "bugbot_x",
    "unknown",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(KNOWN_KEYS).prop_map(str::to_owned),
        1 => "\\PC{0,8}",
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        prop::sample::select(
            &[
                "unknown",
                "",
                "0",
                "192.0.2.1",
                "2001:db8::1",
                "not-an-ip",
                "2026-05-04T10:00:00Z",
                "2026-05-04T12:00:00+02:00",
                "https://u:p@h.example.com:8080/a/b.sh?q#f",
                "::::",
                "{\"privacyMode\":\"PRIVACY_MODE_NO_TRAINING\"}",
                "{bad",
                "604800",
                "-3",
                "login",
                "team_hook",
                "add_user",
                "MEMBER",
            ][..]
        )
        .prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn json_object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((key(), json_value()), 0..10)
        .prop_map(|entries| entries.into_iter().collect())
}

fn normalizer(preserve_original: bool) -> Normalizer {
    Normalizer::new(NormalizeOptions { preserve_original }, GeoIp::default())
}

fn assert_indexable(doc: &Value) {
    assert!(doc["@timestamp"].is_string(), "{doc}");
    assert_eq!(doc["ecs"]["version"], "9.3.0");
    assert_eq!(doc["event"]["provider"], "cursor");
    if let Some(messages) = doc.get("error").and_then(|e| e.get("message")) {
        assert!(messages.as_array().is_some_and(|m| !m.is_empty()));
        assert!(doc["event"]["original"].is_string());
        assert_eq!(doc["tags"], serde_json::json!(["preserve_original_event"]));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn any_json_object_gives_exactly_one_indexable_document(
        object in json_object(),
        preserve in any::<bool>(),
    ) {
        let line = Value::Object(object).to_string();
        let normalized = normalizer(preserve)
            .normalize_line(line.as_bytes())
            .expect("a JSON object is never blank");
        let document = normalized.to_value();
        assert_indexable(&document);
        if preserve || normalized.has_error {
            prop_assert_eq!(document["event"]["original"].as_str(), Some(line.as_str()));
        }
    }

    #[test]
    fn any_bytes_give_one_document_per_non_blank_line(
        lines in prop::collection::vec(
            prop_oneof![
                2 => prop::collection::vec(any::<u8>(), 0..80),
                1 => json_object().prop_map(|o| Value::Object(o).to_string().into_bytes()),
                1 => Just(Vec::new()),
                1 => Just(b" \t\r".to_vec()),
            ],
            0..12,
        ),
        max_line_bytes in 16usize..200,
    ) {
        let mut input = Vec::new();
        for line in &lines {
            input.extend_from_slice(line);
            input.push(b'\n');
        }
        let expected = input
            .split(|&b| b == b'\n')
            .filter(|raw| {
                let l = raw.strip_suffix(b"\r").unwrap_or(raw);
                // Over-long lines are never blank: they become error documents.
                raw.len() > max_line_bytes || !l.iter().all(u8::is_ascii_whitespace)
            })
            .count();
        let normalizer = normalizer(false);
        let mut reader = LineReader::new(&input[..], max_line_bytes);
        let mut documents = 0;
        while let Some(line) = reader.next_line().unwrap() {
            if let Some(n) = normalize_read_line(&normalizer, &line, max_line_bytes, Ids::Computed) {
                assert_indexable(&n.to_value());
                documents += 1;
            }
        }
        prop_assert_eq!(documents, expected);
    }
}
