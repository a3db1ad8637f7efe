//! Events for the differential test against the oracle: every known event type in both
//! shapes (from `synthetic.rs`), unknown types, and the edge values of each field.
//! Deterministic for a given seed.

use serde_json::{Map, Value, json};

use super::synthetic::{EVENT_TYPES, EventGenerator};

/// Values any field may take.
const ANY: &[&str] = &[
    r#""""#,
    r#""unknown""#,
    "null",
    "42",
    r#""42""#,
    "-7",
    "1.5",
    "true",
    "false",
    r#""true""#,
    r#"{"a":{"b":[1,{"c":null}]}}"#,
    r#"["x","y"]"#,
    "[]",
    "{}",
    r#""Ünïcødé ✓ 😀 \u0000 tab\t""#,
    r#""  padded  ""#,
    r#""line\nbreak""#,
    r#""UPPER""#,
];

const IPS: &[&str] = &[
    r#""2001:db8::1""#,
    r#""::1""#,
    r#""::ffff:192.0.2.7""#,
    r#""2001:0db8:0000:0000:0000:0000:0000:0001""#,
    r#""fe80::1%eth0""#,
    r#""192.0.2.300""#,
    r#""192.0.2.1 ""#,
    r#""10.0.0.1""#,
    r#""198.51.100.255""#,
    r#""203.0.113.9""#,
    r#""not-an-ip""#,
    r#""0.0.0.0""#,
];

const TIMESTAMPS: &[&str] = &[
    r#""2026-05-04T11:14:58Z""#,
    r#""2026-05-04T11:14:58.1Z""#,
    r#""2026-05-04T11:14:58.123456789Z""#,
    r#""2026-05-04T11:14:58.999999Z""#,
    r#""2026-05-04T11:14:58+02:00""#,
    r#""2026-05-04T11:14:58.5-05:00""#,
    r#""2026-05-04T11:14:58-0500""#,
    r#""2026-05-04T11:14:58""#,
    r#""2026-05-04T11:14""#,
    r#""2026-05-04""#,
    r#""2026-05-04 11:14:58""#,
    r#""2026-13-40T99:00:00Z""#,
    r#""yesterday""#,
    "1775000000000",
    r#""1775000000000""#,
    r#""2026-05-04T11:14:58.123+00:00""#,
    r#""1999-12-31T23:59:59.999Z""#,
];

const URLS: &[&str] = &[
    r#""https://hooks.example.com/ci/run.sh?ref=main#top""#,
    r#""http://user:pw@example.com:8080/a/b.tar.gz?x=1&y=%20z""#,
    r#""https://[2001:db8::1]:8443/p.json""#,
    r#""hooks.example.com/path""#,
    r#""/relative/only.sh""#,
    r#""mailto:someone@example.com""#,
    r#""file:///tmp/x.sh""#,
    r#""https://example.com""#,
    r#""https://example.com/""#,
    r#""https://exa mple.com/bad""#,
    r#""https://example.com/%E2%9C%93/a%2Fb?q=%E2%9C%93""#,
    r#""http://example.com:/p""#,
    r#""ftp://files.example.com/pub/file.""#,
    r#""https://user@example.com/""#,
    r#""https://例え.jp/パス""#,
    r#""https://example.com/a?""#,
    r#""https://example.com/a#""#,
    r#""""#,
    r#""::::""#,
    r#""http://""#,
];

const LONGS: &[&str] = &[
    r#""604800""#,
    r#""-5""#,
    r#""+5""#,
    "5.0",
    r#""5.0""#,
    r#""1e3""#,
    r#"" 1""#,
    r#""99999999999999999999""#,
    "99999999999999999999",
    "0",
    r#""""#,
    "null",
    "true",
    r#""abc""#,
];

const PRIVACY: &[&str] = &[
    r#""{\"privacyMode\":\"PRIVACY_MODE_NO_TRAINING\"}""#,
    r#""{\"privacyMode\":null}""#,
    r#""{\"other\":1}""#,
    r#""[1,2]""#,
    r#""{bad json""#,
    r#""PRIVACY_MODE_NO_STORAGE""#,
    r#""""#,
    "null",
    "3",
];

/// Keys of `event_data` the pipeline knows (a sample of each rule's sources).
const PAYLOAD_KEYS: &[&str] = &[
    "user_email",
    "email",
    "target_user_email",
    "userEmail",
    "recipient_email",
    "directory_group_id",
    "group_id",
    "user_id",
    "success",
    "result",
    "url",
    "action",
    "method",
    "source",
    "setting_name",
    "setting",
    "old_value",
    "new_value",
    "previous",
    "new",
    "value",
    "role",
    "old_role",
    "previous_role",
    "name",
    "rule_name",
    "command_name",
    "directory_group_name",
    "hook_id",
    "is_active",
    "repo_count",
    "repos_updated",
    "expires_in_seconds",
    "old_limit_cents",
    "new_limit_cents",
    "spendLimitDollars",
    "key_id",
    "api_key_id",
    "git_enterprise_uuid",
    "invite_id",
    "invited_by_email",
    "invited_by_user_id",
    "creator_email",
    "sender_email",
    "sender_user_id",
    "team_id",
    "ip_address",
    "user_agent",
    "metadata",
    "permissions",
    "bugbot_enabled",
    "new_privacy_mode",
    "unmapped_thing",
];

const UNKNOWN_TYPES: &[&str] = &[
    "some_future_event",
    "bugbot_new_thing",
    "Login",
    "LOGIN",
    "",
    "unknown",
    "événement",
];

/// Lines that are not events.
const NOT_EVENTS: &[&str] = &[
    "[1,2]",
    "42",
    r#""just a string""#,
    "null",
    "{bad json",
    r#"{"event_id":"x"} trailing"#,
    "{}",
    "true",
];

/// A deterministic generator of edge-value events (xorshift64*).
pub struct EdgeEvents {
    state: u64,
    base: EventGenerator,
    count: u64,
}

impl EdgeEvents {
    pub fn new(seed: u64) -> EdgeEvents {
        EdgeEvents {
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            base: EventGenerator::new(seed ^ 0x5555),
            count: 0,
        }
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    fn value(&mut self, items: &[&str]) -> Value {
        serde_json::from_str(self.pick(items)).unwrap_or(Value::Null)
    }

    /// The next line: mostly an event of a known type in one of both shapes, with 0–3 edge
    /// values; sometimes an unknown type, an event without some envelope key, repeated keys, or
    /// a line that is no event at all.
    pub fn next_line(&mut self) -> String {
        self.count += 1;
        // Every event type in both shapes, plainly, before any mutation.
        let plain = EVENT_TYPES.len() as u64 * 2;
        if self.count <= plain {
            let i = ((self.count - 1) / 2) as usize;
            let s3 = self.count.is_multiple_of(2);
            return self.event_of(EVENT_TYPES[i], s3).to_string();
        }
        if self.chance(2) {
            return self.pick(NOT_EVENTS).to_owned();
        }
        let s3 = self.chance(50);
        let event_type = if self.chance(8) {
            self.pick(UNKNOWN_TYPES)
        } else {
            self.pick(EVENT_TYPES)
        };
        let mut event = self.event_of(event_type, s3);
        let mutations = self.below(4);
        for _ in 0..mutations {
            self.mutate(&mut event, s3, event_type);
        }
        let line = event.to_string();
        if self.chance(2) && line.contains("\"event_data\":{") {
            // a repeated key inside a nested object
            return line.replacen(
                "\"event_data\":{",
                "\"event_data\":{\"dup\":1,\"dup\":\"2\",",
                1,
            );
        }
        if self.chance(2) {
            // a repeated key: the same key twice in one object
            if let Some(rest) = line.strip_prefix('{') {
                let key = if s3 { "user_email" } else { "event_type" };
                return format!("{{\"{key}\":\"first@example.com\",{rest}");
            }
        }
        line
    }

    /// An event of this type: the synthetic generator's API or S3 shape.
    fn event_of(&mut self, event_type: &str, s3: bool) -> Value {
        loop {
            let line = if s3 {
                self.base.next_s3_line()
            } else {
                self.base.next_api_line()
            };
            let mut event: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            let Some(map) = event.as_object_mut() else {
                continue;
            };
            let current = if s3 {
                map.keys()
                    .find(|k| {
                        !matches!(
                            k.as_str(),
                            "metadata" | "team_id" | "ip_address" | "user_email"
                        )
                    })
                    .cloned()
            } else {
                map.get("event_type")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            let Some(current) = current else { continue };
            if s3 {
                let data = map.remove(&current).unwrap_or(json!({}));
                let data = if EVENT_TYPES.contains(&event_type) && event_type != current {
                    self.payload_for(event_type, data)
                } else {
                    data
                };
                map.insert(event_type.to_owned(), data);
            } else {
                if EVENT_TYPES.contains(&event_type) && event_type != current {
                    let data = map.remove("event_data").unwrap_or(json!({}));
                    let data = self.payload_for(event_type, data);
                    map.insert("event_data".into(), data);
                }
                map.insert("event_type".into(), json!(event_type));
            }
            return event;
        }
    }

    /// A payload of `event_type` (from the synthetic generator), or `fallback`.
    fn payload_for(&mut self, event_type: &str, fallback: Value) -> Value {
        for _ in 0..200 {
            let line = self.base.next_api_line();
            if let Ok(v) = serde_json::from_str::<Value>(&line)
                && v["event_type"] == event_type
            {
                return v["event_data"].clone();
            }
        }
        fallback
    }

    fn payload<'a>(
        event: &'a mut Value,
        s3: bool,
        event_type: &str,
    ) -> Option<&'a mut Map<String, Value>> {
        let key = if s3 { event_type } else { "event_data" };
        let map = event.as_object_mut()?;
        if !map.get(key).is_some_and(Value::is_object) {
            return None;
        }
        map.get_mut(key)?.as_object_mut()
    }

    fn mutate(&mut self, event: &mut Value, s3: bool, event_type: &str) {
        match self.below(12) {
            // an envelope key gets an edge value or goes away
            0 | 1 => {
                let keys: &[&str] = if s3 {
                    &["ip_address", "user_email", "team_id"]
                } else {
                    &[
                        "event_id",
                        "timestamp",
                        "ip_address",
                        "user_email",
                        "event_type",
                    ]
                };
                let key = self.pick(keys);
                if key == "event_type" {
                    // keep the event type mostly: its edge values are covered by UNKNOWN_TYPES
                    if self.chance(70) {
                        return;
                    }
                }
                if self.chance(15) {
                    if let Some(map) = event.as_object_mut() {
                        map.remove(key);
                    }
                } else {
                    let v = self.value(ANY);
                    event[key] = v;
                }
            }
            2 => {
                let v = self.value(IPS);
                event["ip_address"] = v;
            }
            3 => {
                let v = self.value(TIMESTAMPS);
                if s3 {
                    if let Some(meta) = event.get_mut("metadata").and_then(Value::as_object_mut) {
                        meta.insert("timestamp".into(), v);
                    }
                } else {
                    event["timestamp"] = v;
                }
            }
            // a payload key of the pipeline's rules gets an edge value
            4..=6 => {
                let key = self.pick(PAYLOAD_KEYS);
                let v = match key {
                    "url" => self.value(URLS),
                    "repo_count" | "repos_updated" | "expires_in_seconds" | "old_limit_cents"
                    | "new_limit_cents" | "spendLimitDollars" => self.value(LONGS),
                    _ => self.value(ANY),
                };
                if let Some(data) = Self::payload(event, s3, event_type) {
                    data.insert(key.to_owned(), v);
                }
            }
            7 => {
                // a URL for a team_hook
                let v = self.value(URLS);
                if let Some(data) = Self::payload(event, s3, event_type) {
                    data.insert("url".into(), v);
                }
            }
            8 => {
                // the payload itself is odd
                let v = self.value(&[
                    "null",
                    r#""text""#,
                    "7",
                    "[1,2]",
                    "{}",
                    r#"{"nested":{"deep":{"x":[{"y":1}]}}}"#,
                ]);
                if s3 {
                    event[event_type] = v;
                } else {
                    event["event_data"] = v;
                }
            }
            9 if s3 => {
                // the S3 metadata
                let choice = self.below(7);
                let (key, v) = match choice {
                    0 => ("privacy_mode", self.value(PRIVACY)),
                    1 => ("ghost_mode", self.value(ANY)),
                    2 => ("auth_id", self.value(ANY)),
                    3 => ("client_version", json!("1.2.3")),
                    4 => ("context", self.value(&["null", r#""x""#, "[]", "{}"])),
                    5 => ("id", self.value(ANY)),
                    _ => ("request_id", self.value(ANY)),
                };
                let Some(meta) = event.get_mut("metadata").and_then(Value::as_object_mut) else {
                    return;
                };
                if matches!(key, "context" | "id") {
                    meta.insert(key.to_owned(), v);
                } else if let Some(context) = meta.get_mut("context").and_then(Value::as_object_mut)
                {
                    context.insert(key.to_owned(), v);
                }
            }
            9 => {
                let v = self.value(ANY);
                event["event_id"] = v;
            }
            10 => {
                // a top-level key that neither shape defines
                let v = self.value(ANY);
                event["zz_extra"] = v;
            }
            _ => {
                // a payload key of the synthetic event gets an edge value
                let v = self.value(ANY);
                if let Some(data) = Self::payload(event, s3, event_type)
                    && !data.is_empty()
                {
                    let keys: Vec<String> = data.keys().cloned().collect();
                    let key = keys[(v.to_string().len()) % keys.len()].clone();
                    data.insert(key, v);
                }
            }
        }
    }
}
