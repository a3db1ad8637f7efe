//! Focused tests, one per rule of docs/normalization.md that the golden vectors do not show.

use chrono::TimeZone;
use serde_json::{Value, json};

use super::*;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap()
}

fn normalizer() -> Normalizer {
    Normalizer::default()
}

fn doc(line: &str) -> Value {
    normalize(line).to_value()
}

fn normalize(line: &str) -> Normalized {
    normalizer()
        .normalize_line_at(line.as_bytes(), now())
        .expect("non-blank line gives a document")
}

fn at<'a>(doc: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(doc, |v, step| &v[step])
}

fn api(event_type: &str, data: Value) -> String {
    json!({"event_id": "e-1", "timestamp": "2026-05-04T10:00:00.000Z", "ip_address": "unknown",
           "user_email": "admin@example.com", "event_type": event_type, "event_data": data})
    .to_string()
}

fn errors(doc: &Value) -> Vec<String> {
    at(doc, "error.message")
        .as_array()
        .map(|a| a.iter().map(|m| m.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

#[test]
fn document_ids_match_known_values() {
    assert_eq!(
        document_id("d2e8a91c-5b33-4f0e-9a6d-1c7f83e04b55"),
        "jX9odO1U9SoQItc0/wRempqKw1w="
    );
    assert_eq!(
        document_id("c9d0e1f2-a3b4-5678-cddd-aaaa11100001"),
        "lZQmNUNL7MTfe2AdTrFYgEBWaqU="
    );
    assert_eq!(
        normalize(&api("login", json!({}))).id.as_deref(),
        Some(document_id("e-1").as_str())
    );
}

#[test]
fn both_shapes_give_the_same_id() {
    let s3 = json!({"login": {}, "metadata": {"id": "e-1", "timestamp": "2026-05-04T10:00:00Z"}});
    assert_eq!(
        normalize(&s3.to_string()).id,
        normalize(&api("login", json!({}))).id
    );
}

#[test]
fn bugbot_row() {
    let d = doc(&api(
        "bugbot_repo_settings",
        json!({"repo_url": "https://github.com/a/b", "enabled": true}),
    ));
    assert_eq!(at(&d, "event.category"), &json!(["configuration"]));
    assert_eq!(at(&d, "event.type"), &json!(["change"]));
    assert_eq!(at(&d, "event.outcome"), &json!("success"));
    assert_eq!(at(&d, "cursor.audit.enabled"), &json!(true));
}

#[test]
fn default_row() {
    let d = doc(&api("brand_new_thing", json!({"x": 1})));
    assert_eq!(at(&d, "event.action"), &json!("brand_new_thing"));
    assert_eq!(at(&d, "event.kind"), &json!("event"));
    assert_eq!(at(&d, "event.category"), &json!(["configuration"]));
    assert_eq!(at(&d, "event.type"), &json!(["info"]));
    assert_eq!(at(&d, "event.outcome"), &json!("unknown"));
    assert_eq!(at(&d, "cursor.audit.event_data"), &json!({"x": 1}));
}

#[test]
fn no_event_type_sets_no_event_categorization() {
    let line = json!({"event_id": "e-2", "timestamp": "2026-05-04T10:00:00Z", "user_email": "a@x"})
        .to_string();
    let d = doc(&line);
    let event = at(&d, "event").as_object().unwrap();
    for absent in ["action", "kind", "category", "type", "outcome"] {
        assert!(!event.contains_key(absent), "{absent} must be unset: {d}");
    }
    assert_eq!(at(&d, "event.id"), &json!("e-2"));
    assert_eq!(at(&d, "event.provider"), &json!("cursor"));

    let s3_without_type =
        json!({"metadata": {"id": "e-3", "timestamp": "2026-05-04T10:00:00Z"}, "team_id": "7"});
    let d = doc(&s3_without_type.to_string());
    assert!(at(&d, "event.action").is_null());
    assert_eq!(at(&d, "cursor.audit.team_id"), &json!("7"));
}

#[test]
fn scalar_and_null_s3_payloads() {
    let meta = json!({"id": "e-4", "timestamp": "2026-05-04T10:00:00Z"});
    let d = doc(&json!({"team_settings": "enabled", "metadata": meta}).to_string());
    assert_eq!(at(&d, "event.action"), &json!("team_settings"));
    // {"value": v} and then the `value` → new_value alias.
    assert_eq!(at(&d, "cursor.audit.new_value"), &json!("enabled"));

    let d = doc(&json!({"some_event": [1, 2], "metadata": meta}).to_string());
    assert_eq!(at(&d, "cursor.audit.new_value"), &json!([1, 2]));

    let d = doc(&json!({"logout": null, "metadata": meta}).to_string());
    assert_eq!(at(&d, "event.action"), &json!("logout"));
    assert!(at(&d, "cursor").is_null(), "{d}");
}

#[test]
fn several_dynamic_keys_keep_the_first_and_the_rest_unmapped() {
    let line = r#"{"team_id":"9","login":{"success":false},"logout":{"a":1},"extra":"x","metadata":{"id":"e-5","timestamp":"2026-05-04T10:00:00Z"}}"#;
    let d = doc(line);
    assert_eq!(at(&d, "event.action"), &json!("login"));
    assert_eq!(at(&d, "event.outcome"), &json!("failure"));
    assert_eq!(
        at(&d, "cursor.audit.unmapped"),
        &json!({"logout": {"a": 1}, "extra": "x"})
    );
}

#[test]
fn document_order_decides_the_event_type() {
    let line = r#"{"zeta_event":{},"alpha_event":{},"metadata":{"id":"e"}}"#;
    assert_eq!(at(&doc(line), "event.action"), &json!("zeta_event"));
}

#[test]
fn unknown_envelope_and_context_keys_are_unmapped() {
    let line = json!({"event_id": "e", "timestamp": "2026-05-04T10:00:00Z", "event_type": "logout",
                      "event_data": {}, "client": {"version": "1.2"}, "auth_id": "a1"})
    .to_string();
    let d = doc(&line);
    assert_eq!(
        at(&d, "cursor.audit.unmapped"),
        &json!({"client": {"version": "1.2"}})
    );
    assert_eq!(at(&d, "cursor.audit.auth_id"), &json!("a1"));

    let s3 = json!({"logout": {}, "metadata": {"id": "e", "timestamp": "2026-05-04T10:00:00Z",
                    "context": {"request_id": "r", "client_version": "0.50", "ghost_mode": false}}});
    let d = doc(&s3.to_string());
    assert_eq!(
        at(&d, "cursor.audit.unmapped"),
        &json!({"client_version": "0.50"})
    );
    assert_eq!(at(&d, "cursor.audit.request_id"), &json!("r"));
    assert_eq!(at(&d, "cursor.audit.ghost_mode"), &json!(false));
}

#[test]
fn context_does_not_overwrite_top_level() {
    let s3 = json!({"logout": {}, "user_email": "top@x", "metadata": {"id": "e",
                    "context": {"user_email": "ctx@x"}}});
    assert_eq!(at(&doc(&s3.to_string()), "user.email"), &json!("top@x"));
}

#[test]
fn privacy_mode_json_string() {
    let s3 = |pm: &str| {
        json!({"logout": {}, "metadata": {"id": "e", "timestamp": "2026-05-04T10:00:00Z", "context": {"privacy_mode": pm}}}).to_string()
    };
    let d = doc(&s3(r#"{"privacyMode":"PRIVACY_MODE_NO_TRAINING"}"#));
    assert_eq!(
        at(&d, "cursor.audit.privacy_mode"),
        &json!("PRIVACY_MODE_NO_TRAINING")
    );
    assert!(errors(&d).is_empty());

    let d = doc(&s3("PRIVACY_MODE_RAW"));
    assert_eq!(
        at(&d, "cursor.audit.privacy_mode"),
        &json!("PRIVACY_MODE_RAW")
    );
    assert_eq!(errors(&d).len(), 1);
    assert!(errors(&d)[0].contains("privacy_mode"));
    assert_eq!(at(&d, "event.kind"), &json!("event"));
    assert_eq!(at(&d, "tags"), &json!(["preserve_original_event"]));

    // Valid JSON without privacyMode: left as it is, no error.
    let d = doc(&s3(r#"{"other":1}"#));
    assert_eq!(
        at(&d, "cursor.audit.privacy_mode"),
        &json!(r#"{"other":1}"#)
    );
    assert!(errors(&d).is_empty());
}

#[test]
fn api_privacy_mode_is_not_parsed() {
    let mut event: Value = serde_json::from_str(&api("logout", json!({}))).unwrap();
    event["privacy_mode"] = json!(r#"{"privacyMode":"X"}"#);
    let d = doc(&event.to_string());
    assert_eq!(
        at(&d, "cursor.audit.privacy_mode"),
        &json!(r#"{"privacyMode":"X"}"#)
    );
}

#[test]
fn if_unset_rules_fill_only_empty_targets() {
    // Each pair: (action, payload, field, expected value, key left in event_data).
    let cases = [
        (
            "add_user",
            json!({"user_email": "u@x", "email": "e@x"}),
            "user.target.email",
            json!("u@x"),
            Some("email"),
        ),
        (
            "remove_user",
            json!({"email": "e@x"}),
            "user.target.email",
            json!("e@x"),
            None,
        ),
        (
            "user_spend_limit",
            json!({"target_user_email": "t@x", "userEmail": "u@x"}),
            "user.target.email",
            json!("t@x"),
            Some("userEmail"),
        ),
        (
            "user_spend_limit",
            json!({"userEmail": "u@x"}),
            "user.target.email",
            json!("u@x"),
            None,
        ),
        (
            "add_user_to_directory_group",
            json!({"directory_group_id": "d1", "group_id": "g1"}),
            "user.target.group.id",
            json!("d1"),
            Some("group_id"),
        ),
        (
            "remove_user_from_directory_group",
            json!({"group_id": "g1", "user_id": "u9"}),
            "user.target.group.id",
            json!("g1"),
            None,
        ),
        (
            "team_settings",
            json!({"method": "dashboard", "source": "api"}),
            "cursor.audit.source",
            json!("dashboard"),
            Some("source"),
        ),
        (
            "team_settings",
            json!({"source": "api"}),
            "cursor.audit.source",
            json!("api"),
            None,
        ),
        (
            "team_settings",
            json!({"setting_name": "a", "setting": "b"}),
            "cursor.audit.setting_name",
            json!("a"),
            Some("setting"),
        ),
        (
            "team_settings",
            json!({"setting": "b"}),
            "cursor.audit.setting_name",
            json!("b"),
            None,
        ),
        (
            "team_settings",
            json!({"old_value": "1", "previous": "0"}),
            "cursor.audit.old_value",
            json!("1"),
            Some("previous"),
        ),
        (
            "team_settings",
            json!({"previous": "0"}),
            "cursor.audit.old_value",
            json!("0"),
            None,
        ),
        (
            "team_settings",
            json!({"new_value": "1", "new": "2", "value": "3"}),
            "cursor.audit.new_value",
            json!("1"),
            Some("new"),
        ),
        (
            "team_settings",
            json!({"new": "2", "value": "3"}),
            "cursor.audit.new_value",
            json!("2"),
            Some("value"),
        ),
        (
            "team_settings",
            json!({"value": "3"}),
            "cursor.audit.new_value",
            json!("3"),
            None,
        ),
        (
            "update_user_role",
            json!({"old_role": "member", "previous_role": "x"}),
            "cursor.audit.old_role",
            json!("member"),
            Some("previous_role"),
        ),
        (
            "update_user_role",
            json!({"previous_role": "admin"}),
            "cursor.audit.old_role",
            json!("admin"),
            None,
        ),
        (
            "team_rule",
            json!({"rule_name": "r", "name": "n"}),
            "cursor.audit.rule_name",
            json!("r"),
            Some("name"),
        ),
        (
            "bugbot_team_rule",
            json!({"name": "n"}),
            "cursor.audit.rule_name",
            json!("n"),
            None,
        ),
        (
            "team_command",
            json!({"name": "c"}),
            "cursor.audit.command_name",
            json!("c"),
            None,
        ),
        (
            "team_command",
            json!({"command_name": "x", "name": "c"}),
            "cursor.audit.command_name",
            json!("x"),
            Some("name"),
        ),
        (
            "create_directory_group",
            json!({"name": "Eng"}),
            "cursor.audit.directory_group_name",
            json!("Eng"),
            None,
        ),
        (
            "update_directory_group",
            json!({"name": "Eng", "directory_group_name": "Old"}),
            "cursor.audit.directory_group_name",
            json!("Eng"),
            Some("directory_group_name"),
        ),
        (
            "team_repo",
            json!({"repos_updated": 3, "repo_count": "4"}),
            "cursor.audit.repos_updated",
            json!(3),
            Some("repo_count"),
        ),
        (
            "team_repo",
            json!({"repo_count": "4"}),
            "cursor.audit.repos_updated",
            json!(4),
            None,
        ),
        (
            "team_api_key",
            json!({"api_key_id": "k1", "key_id": "k2"}),
            "cursor.audit.api_key_id",
            json!("k1"),
            Some("key_id"),
        ),
    ];
    for (action, payload, field, expected, left) in cases {
        let d = doc(&api(action, payload.clone()));
        assert_eq!(at(&d, field), &expected, "{action} {payload} → {d}");
        let event_data = at(&d, "cursor.audit.event_data");
        match left {
            Some(key) => assert!(
                event_data.get(key).is_some(),
                "{action} {payload}: {key} should stay: {d}"
            ),
            None => assert!(
                event_data.is_null(),
                "{action} {payload}: nothing should stay: {d}"
            ),
        }
    }
}

#[test]
fn name_is_left_for_other_actions() {
    let d = doc(&api("team_settings", json!({"name": "n"})));
    assert_eq!(at(&d, "cursor.audit.event_data"), &json!({"name": "n"}));
}

#[test]
fn target_rules_only_for_their_actions() {
    let d = doc(&api(
        "team_settings",
        json!({"user_email": "u@x", "user_id": "9", "group_id": "g"}),
    ));
    assert!(at(&d, "user.target").is_null());
    assert_eq!(at(&d, "cursor.audit.user_id"), &json!("9"));
    assert_eq!(
        at(&d, "cursor.audit.event_data"),
        &json!({"user_email": "u@x", "group_id": "g"})
    );

    let d = doc(&api("add_user_to_directory_group", json!({"user_id": "9"})));
    assert_eq!(at(&d, "user.target.id"), &json!("9"));
    assert!(at(&d, "cursor.audit.user_id").is_null());
}

#[test]
fn plain_move_onto_occupied_target_keeps_the_source() {
    // `team_id` envelope → cursor.audit.team_id; the payload's copy is an envelope leak
    // (dropped), while `user_id` of a directory-group action fills user.target.id and a
    // second user id under an alias stays in event_data.
    let d = doc(&api(
        "add_user",
        json!({"role": "Admin", "user_email": "a@x"}),
    ));
    assert_eq!(at(&d, "cursor.audit.role"), &json!("admin"));
    // Two payload keys for one target: the first (plain) wins, the second stays.
    let d = doc(&api(
        "team_settings",
        json!({"value": "v", "new_value": "n"}),
    ));
    assert_eq!(at(&d, "cursor.audit.new_value"), &json!("n"));
    assert_eq!(at(&d, "cursor.audit.event_data"), &json!({"value": "v"}));
}

#[test]
fn role_is_lowercased_only_for_add_user() {
    assert_eq!(
        at(
            &doc(&api("add_user", json!({"role": "MEMBER"}))),
            "cursor.audit.role"
        ),
        &json!("member")
    );
    assert_eq!(
        at(
            &doc(&api("invite_link", json!({"role": "MEMBER"}))),
            "cursor.audit.role"
        ),
        &json!("MEMBER")
    );
    assert_eq!(
        at(
            &doc(&api("add_user", json!({"role": 3}))),
            "cursor.audit.role"
        ),
        &json!(3)
    );
}

#[test]
fn sentinels() {
    // "" auth_id, "unknown" ip/email, "" invite fields, "0" inviter.
    let line = json!({"event_id": "e", "timestamp": "2026-05-04T10:00:00Z", "ip_address": "unknown",
                      "user_email": "unknown", "auth_id": "", "event_type": "add_user",
                      "event_data": {"user_email": "unknown", "invite_id": "", "invited_by_email": "",
                                     "invited_by_user_id": "0", "git_enterprise_uuid": ""}})
    .to_string();
    let d = doc(&line);
    assert!(at(&d, "source").is_null());
    assert!(at(&d, "user.email").is_null());
    assert!(at(&d, "cursor.audit.auth_id").is_null());
    assert!(at(&d, "related").is_null(), "{d}");
    assert_eq!(
        at(&d, "cursor.audit.event_data"),
        &json!({"user_email": "unknown"})
    );
    assert!(at(&d, "cursor.audit.invite_id").is_null());

    let d = doc(&api(
        "invite_email_sent",
        json!({"recipient_email": "unknown", "sender_email": "", "sender_user_id": "0"}),
    ));
    assert!(at(&d, "user.target").is_null());
    assert_eq!(
        at(&d, "cursor.audit.event_data"),
        &json!({"recipient_email": "unknown"})
    );
    // "" is skipped in related.user, "0" is a real id there.
    assert_eq!(at(&d, "related.user"), &json!(["admin@example.com", "0"]));
}

#[test]
fn related_user_order_and_duplicates() {
    let line = json!({"event_id": "e", "timestamp": "2026-05-04T10:00:00Z", "user_email": "a@x",
                      "event_type": "invite_link",
                      "event_data": {"creator_email": "c@x", "sender_email": "a@x", "sender_user_id": 42}})
    .to_string();
    assert_eq!(
        at(&doc(&line), "related.user"),
        &json!(["a@x", "c@x", "42"])
    );
}

#[test]
fn integer_coercion() {
    let d = doc(&api(
        "user_spend_limit",
        json!({"old_limit_cents": "1000", "new_limit_cents": 2000,
        "spendLimitDollars": "-5", "expires_in_seconds": "604800"}),
    ));
    assert_eq!(at(&d, "cursor.audit.old_limit_cents"), &json!(1000));
    assert_eq!(at(&d, "cursor.audit.new_limit_cents"), &json!(2000));
    assert_eq!(at(&d, "cursor.audit.spend_limit_dollars"), &json!(-5));
    assert_eq!(at(&d, "cursor.audit.expires_in_seconds"), &json!(604800));
    assert!(errors(&d).is_empty());

    let d = doc(&api(
        "user_spend_limit",
        json!({"old_limit_cents": "ten", "new_limit_cents": 1.5,
        "expires_in_seconds": {"s": 1}, "repos_updated": true}),
    ));
    let audit = at(&d, "cursor.audit");
    for removed in [
        "old_limit_cents",
        "new_limit_cents",
        "expires_in_seconds",
        "repos_updated",
    ] {
        assert!(
            audit.get(removed).is_none(),
            "{removed} should be removed: {d}"
        );
    }
    assert_eq!(errors(&d).len(), 4, "{d}");
    assert!(errors(&d).iter().any(|e| e.contains("[ten]")), "{d}");
    assert!(at(&d, "event.original").is_string());
    assert_eq!(at(&d, "tags"), &json!(["preserve_original_event"]));
}

#[test]
fn objects_in_keyword_fields_become_json_text() {
    let d = doc(&api(
        "create_directory_group",
        json!({
            "metadata": {"display_name": "Eng", "priority": 1},
            "permissions": [{"p": "read"}],
            "operating_systems": ["linux", "darwin"],
            "is_active": {"odd": true},
            "unknown_thing": {"kept": "as object"}
        }),
    ));
    assert_eq!(
        at(&d, "cursor.audit.metadata"),
        &json!(r#"{"display_name":"Eng","priority":1}"#)
    );
    assert_eq!(
        at(&d, "cursor.audit.permissions"),
        &json!(r#"[{"p":"read"}]"#)
    );
    assert_eq!(
        at(&d, "cursor.audit.operating_systems"),
        &json!(["linux", "darwin"])
    );
    // Booleans are not keyword fields: left for the mapping to judge.
    assert_eq!(at(&d, "cursor.audit.is_active"), &json!({"odd": true}));
    assert_eq!(
        at(&d, "cursor.audit.event_data"),
        &json!({"unknown_thing": {"kept": "as object"}})
    );

    let line = json!({"event_id": {"odd": 1}, "user_email": {"e": "x"}, "event_type": "logout", "team_id": [{"t": 1}]}).to_string();
    let d = doc(&line);
    assert_eq!(at(&d, "event.id"), &json!(r#"{"odd":1}"#));
    assert_eq!(at(&d, "user.email"), &json!(r#"{"e":"x"}"#));
    assert_eq!(at(&d, "cursor.audit.team_id"), &json!(r#"[{"t":1}]"#));
    assert_eq!(at(&d, "related.user"), &json!([r#"{"e":"x"}"#]));
}

#[test]
fn url_parts_of_team_hooks() {
    let d = doc(&api(
        "team_hook",
        json!({"url": "https://u:p@hooks.example.com:8443/run/check.py?a=1#frag"}),
    ));
    assert_eq!(
        at(&d, "url"),
        &json!({"original": "https://u:p@hooks.example.com:8443/run/check.py?a=1#frag", "scheme": "https",
                "domain": "hooks.example.com", "port": 8443, "path": "/run/check.py", "extension": "py",
                "query": "a=1", "fragment": "frag", "user_info": "u:p", "username": "u", "password": "p"})
    );
    assert!(errors(&d).is_empty());

    let d = doc(&api("team_hook", json!({"url": "not a url"})));
    assert_eq!(at(&d, "url"), &json!({"original": "not a url"}));
    assert_eq!(
        errors(&d),
        vec!["unable to parse URI [not a url]".to_owned()]
    );

    // Only team_hook, only strings.
    let d = doc(&api("team_settings", json!({"url": "https://x.example"})));
    assert!(at(&d, "url").is_null());
    assert_eq!(
        at(&d, "cursor.audit.event_data"),
        &json!({"url": "https://x.example"})
    );
    let d = doc(&api(
        "team_hook",
        json!({"url": {"href": "https://x.example"}}),
    ));
    assert!(at(&d, "url").is_null());
}

#[test]
fn invalid_ip_is_not_copied() {
    let mut event: Value = serde_json::from_str(&api("login", json!({}))).unwrap();
    event["ip_address"] = json!("999.1.1.1");
    let d = doc(&event.to_string());
    assert!(at(&d, "source").is_null());
    assert!(at(&d, "related.ip").is_null());
    assert_eq!(errors(&d).len(), 1);
    assert!(errors(&d)[0].contains("999.1.1.1"));
    assert_eq!(at(&d, "event.kind"), &json!("event"));

    event["ip_address"] = json!("2001:db8::7");
    let d = doc(&event.to_string());
    assert_eq!(at(&d, "source.ip"), &json!("2001:db8::7"));
    assert_eq!(at(&d, "related.ip"), &json!(["2001:db8::7"]));
}

#[test]
fn timestamps() {
    let with_ts = |ts: Value| {
        let mut event: Value = serde_json::from_str(&api("logout", json!({}))).unwrap();
        event["timestamp"] = ts;
        doc(&event.to_string())
    };
    let d = with_ts(json!("2026-05-04T12:00:00.123456+02:00"));
    assert_eq!(at(&d, "@timestamp"), &json!("2026-05-04T10:00:00.123Z"));
    assert!(errors(&d).is_empty());

    let d = with_ts(json!("last tuesday"));
    assert_eq!(at(&d, "@timestamp"), &json!("2026-11-25T12:00:00.000Z"));
    assert_eq!(
        errors(&d),
        vec!["unable to parse date [last tuesday]".to_owned()]
    );
    assert!(at(&d, "event.original").is_string());

    let d = with_ts(json!(1777900000000_u64));
    assert_eq!(at(&d, "@timestamp"), &json!("2026-11-25T12:00:00.000Z"));
    assert_eq!(errors(&d).len(), 1);

    let line = json!({"event_id": "e", "event_type": "logout"}).to_string();
    let d = doc(&line);
    assert_eq!(at(&d, "@timestamp"), &json!("2026-11-25T12:00:00.000Z"));
    assert!(
        errors(&d).is_empty(),
        "a missing timestamp is not an error: {d}"
    );
}

#[test]
fn missing_event_id_has_no_id() {
    let line =
        json!({"timestamp": "2026-05-04T10:00:00Z", "event_type": "logout", "event_data": {}})
            .to_string();
    let n = normalize(&line);
    assert_eq!(n.id, None);
    assert!(n.to_value()["event"].get("id").is_none());
    assert!(!n.has_error);
}

fn assert_error_document(line: &[u8], expected_original: &str, message_part: &str) {
    let n = normalizer()
        .normalize_line_at(line, now())
        .expect("a document");
    let d = n.to_value();
    assert!(n.has_error);
    assert_eq!(n.id, None);
    assert_eq!(at(&d, "event.kind"), &json!("pipeline_error"));
    assert_eq!(at(&d, "event.original"), &json!(expected_original));
    assert_eq!(at(&d, "event.provider"), &json!("cursor"));
    assert_eq!(at(&d, "ecs.version"), &json!("9.3.0"));
    assert_eq!(at(&d, "@timestamp"), &json!("2026-11-25T12:00:00.000Z"));
    assert_eq!(at(&d, "tags"), &json!(["preserve_original_event"]));
    let errors = errors(&d);
    assert_eq!(errors.len(), 1);
    assert!(errors[0].contains(message_part), "{errors:?}");
}

#[test]
fn malformed_json_becomes_an_error_document() {
    assert_error_document(
        br#"{"event_id": "x", "#,
        r#"{"event_id": "x", "#,
        "malformed JSON",
    );
    assert_error_document(
        br#"{"a":1} trailing"#,
        r#"{"a":1} trailing"#,
        "malformed JSON",
    );
}

#[test]
fn json_that_is_not_an_object_becomes_an_error_document() {
    assert_error_document(b"[1,2]", "[1,2]", "an array");
    assert_error_document(b"42", "42", "a number");
    assert_error_document(b"\"text\"", "\"text\"", "a string");
}

#[test]
fn the_line_null_is_the_document_of_an_empty_event() {
    let n = normalize("null");
    assert!(!n.has_error);
    assert_eq!(n.id, None);
    assert_eq!(n.to_value(), normalize("{}").to_value());
}

#[test]
fn invalid_utf8_becomes_an_error_document() {
    assert_error_document(
        b"{\"a\":\"\xff\xfe\"}",
        "{\"a\":\"\u{fffd}\u{fffd}\"}",
        "not valid UTF-8",
    );
}

#[test]
fn blank_lines_are_skipped_and_crlf_is_a_line_end() {
    assert!(normalizer().normalize_line(b"").is_none());
    assert!(normalizer().normalize_line(b"  \t\r").is_none());
    let line = format!("{}\r", api("logout", json!({})));
    let n = Normalizer::new(
        NormalizeOptions {
            preserve_original: true,
        },
        GeoIp::default(),
    )
    .normalize_line_at(line.as_bytes(), now())
    .unwrap();
    assert_eq!(
        n.to_value()["event"]["original"],
        json!(api("logout", json!({})))
    );
}

#[test]
fn preserve_original_only_when_asked_or_on_error() {
    let line = api("logout", json!({}));
    let d = doc(&line);
    assert!(at(&d, "event.original").is_null());
    assert!(at(&d, "tags").is_null());
    let with = Normalizer::new(
        NormalizeOptions {
            preserve_original: true,
        },
        GeoIp::default(),
    );
    let d = with
        .normalize_line_at(line.as_bytes(), now())
        .unwrap()
        .to_value();
    assert_eq!(at(&d, "event.original"), &json!(line));
    assert_eq!(at(&d, "tags"), &json!(["preserve_original_event"]));
}

#[test]
fn login_outcomes() {
    let outcome = |data: Value| at(&doc(&api("login", data)), "event.outcome").clone();
    assert_eq!(outcome(json!({"success": true})), json!("success"));
    assert_eq!(outcome(json!({"success": false})), json!("failure"));
    assert_eq!(outcome(json!({})), json!("success"));
    assert_eq!(outcome(json!({"success": "nope"})), Value::Null);
}

#[test]
fn access_check_outcomes() {
    let outcome = |data: Value| {
        at(
            &doc(&api("protected_git_scope_access_check", data)),
            "event.outcome",
        )
        .clone()
    };
    assert_eq!(outcome(json!({"result": "allowed"})), json!("success"));
    assert_eq!(outcome(json!({"result": "blocked"})), json!("failure"));
    assert_eq!(outcome(json!({"result": "maybe"})), Value::Null);
    assert_eq!(outcome(json!({})), Value::Null);
}

#[test]
fn envelope_leaks_are_dropped() {
    let d = doc(&api(
        "logout",
        json!({"team_id": "1", "ip_address": "1.2.3.4", "user_agent": "ua"}),
    ));
    assert!(at(&d, "cursor").is_null(), "{d}");
}

#[test]
fn non_object_api_event_data_is_kept() {
    let line =
        json!({"event_id": "e", "event_type": "brand_new", "event_data": "text"}).to_string();
    assert_eq!(at(&doc(&line), "cursor.audit.new_value"), &json!("text"));
}

// Fixes found by the oracle (tests/oracle.rs, Elastic's pipeline on a real ingest engine).

#[test]
fn a_repeated_key_makes_the_line_malformed() {
    let top = r#"{"event_type":"login","event_type":"logout","event_id":"e"}"#;
    let nested = r#"{"event_type":"login","event_data":{"a":1,"a":2}}"#;
    for line in [top, nested] {
        let n = normalize(line);
        assert!(n.has_error, "{line}");
        assert_eq!(at(&n.to_value(), "event.kind"), &json!("pipeline_error"));
        assert!(
            errors(&n.to_value())[0].contains("duplicate field"),
            "{line}"
        );
    }
}

#[test]
fn event_data_that_is_not_an_object_is_an_error_in_the_api_shape() {
    let d = doc(&api("team_settings", json!(7)));
    assert_eq!(errors(&d), ["event_data [7] is not an object"]);
    assert_eq!(at(&d, "cursor.audit.new_value"), &json!(7));
    let line = json!({"event_id": "e", "event_type": "logout", "event_data": null}).to_string();
    assert!(!normalize(&line).has_error);
}

#[test]
fn event_type_that_is_not_a_string_is_an_error() {
    let line = json!({"event_id": "e", "event_type": ["login"]}).to_string();
    let d = doc(&line);
    assert_eq!(errors(&d), [r#"event_type [["login"]] is not a string"#]);
}

#[test]
fn add_user_role_lowercases_lists_and_refuses_other_values() {
    let d = doc(&api("add_user", json!({"role": ["ADMIN", "Member"]})));
    assert_eq!(at(&d, "cursor.audit.role"), &json!(["admin", "member"]));
    let d = doc(&api("add_user", json!({"role": false})));
    assert_eq!(errors(&d).len(), 1);
    assert_eq!(at(&d, "cursor.audit.role"), &json!(false));
}

#[test]
fn privacy_mode_json_that_is_not_an_object_is_an_error() {
    let line = |mode: &str| {
        json!({"logout": {}, "metadata": {"id": "e", "context": {"privacy_mode": mode}}})
            .to_string()
    };
    assert!(normalize(&line("[1,2]")).has_error);
    assert!(normalize(&line("3")).has_error);
    assert!(!normalize(&line("null")).has_error);
    assert!(!normalize(&line(r#"{"other":1}"#)).has_error);
}

#[test]
fn related_user_keeps_an_unknown_sender_user_id() {
    let d = doc(&api(
        "invite_email_sent",
        json!({"sender_user_id": "unknown", "sender_email": "unknown"}),
    ));
    assert_eq!(
        at(&d, "related.user"),
        &json!(["admin@example.com", "unknown"])
    );
}

#[test]
fn integer_fields_convert_each_element_of_a_list() {
    let d = doc(&api("team_repo", json!({"repos_updated": ["3", 4]})));
    assert_eq!(at(&d, "cursor.audit.repos_updated"), &json!([3, 4]));
    let d = doc(&api("team_repo", json!({"repos_updated": []})));
    assert_eq!(at(&d, "cursor.audit.repos_updated"), &json!([]));
    let d = doc(&api("team_repo", json!({"repos_updated": ["x"]})));
    assert_eq!(errors(&d).len(), 1);
}

#[test]
fn null_envelope_values_are_null_fields_as_in_the_integration() {
    let line = json!({"event_id": null, "event_type": "logout", "team_id": null, "auth_id": null,
                      "ghost_mode": null, "request_id": null, "privacy_mode": null, "user_email": null})
    .to_string();
    let n = normalize(&line);
    assert_eq!(n.id, None);
    let d = n.to_value();
    assert_eq!(d["event"]["id"], Value::Null);
    assert!(d["event"].as_object().unwrap().contains_key("id"));
    assert_eq!(
        d["cursor"]["audit"],
        json!({"team_id": null, "ghost_mode": null, "request_id": null, "privacy_mode": null})
    );
    assert!(d.get("user").is_none());
}

#[test]
fn a_non_string_event_id_is_hashed_as_the_integrations_fingerprint() {
    let id_of = |event_id: Value| {
        normalize(&json!({"event_id": event_id, "event_type": "logout"}).to_string())
            .id
            .expect("an _id")
    };
    // Confirmed against the pipeline (tests/oracle.rs): an empty list hashes nothing, a
    // string inside a list hashes as the string itself.
    assert_eq!(id_of(json!([])), "2jmj7l5rSw0yVb/vlWAYkK/YBwk=");
    assert_eq!(id_of(json!({})), "2jmj7l5rSw0yVb/vlWAYkK/YBwk=");
    assert_eq!(id_of(json!(["e-1"])), document_id("e-1"));
    assert_eq!(id_of(json!("e-1")), document_id("e-1"));
    assert_ne!(id_of(json!(true)), id_of(json!(false)));
    assert_ne!(id_of(json!({"a": "b"})), id_of(json!({"b": "a"})));
}

#[test]
fn an_empty_privacy_mode_is_no_error() {
    let line = |mode: &str| {
        json!({"logout": {}, "metadata": {"id": "e", "context": {"privacy_mode": mode}}})
            .to_string()
    };
    for mode in ["", "  "] {
        let d = doc(&line(mode));
        assert!(d.get("error").is_none(), "{mode:?}");
        assert_eq!(at(&d, "cursor.audit.privacy_mode"), &json!(mode));
    }
}
