//! The built-in sample of the drift check: one event of every event type the integration
//! categorizes, plus a Bugbot and an unknown one, each in the Admin API shape and in the S3
//! shape. Well-formed events only: the check looks for drift in the pipeline, not for the
//! listed differences on odd input (docs/normalization.md §11).

use serde_json::{Map, Value, json};

/// (event type, payload) of every sample.
fn payloads() -> Vec<(&'static str, Value)> {
    vec![
        (
            "login",
            json!({"login_type": "LOGIN_TYPE_WEB", "success": true}),
        ),
        (
            "login",
            json!({"login_type": "LOGIN_TYPE_APP", "success": false}),
        ),
        ("logout", json!({})),
        (
            "add_user",
            json!({"user_email": "new@example.com", "role": "MEMBER", "source": "invite_email",
                            "invite_id": "inv1", "invited_by_email": "admin@example.com", "invited_by_user_id": "9001"}),
        ),
        ("remove_user", json!({"user_email": "leaver@example.com"})),
        (
            "update_user_role",
            json!({"user_email": "u@example.com", "old_role": "member", "new_role": "admin"}),
        ),
        (
            "team_settings",
            json!({"setting_name": "enforce_privacy_mode", "old_value": "disabled", "new_value": "enabled"}),
        ),
        (
            "team_api_key",
            json!({"action": "create", "key_id": "key_01"}),
        ),
        (
            "user_api_key",
            json!({"action": "revoke", "key_id": "key_02"}),
        ),
        (
            "organization_api_key",
            json!({"action": "create", "api_key_id": "7", "api_key_name": "ci",
                                        "repo_scope": ["repo-a", "repo-b"], "repo_scope_enabled": true}),
        ),
        (
            "api_key",
            json!({"action": "delete", "api_key_id": "8", "api_key_name": "old"}),
        ),
        (
            "service_account",
            json!({"action": "create", "service_account_id": "sa_1", "service_account_name": "bot"}),
        ),
        (
            "invite_link",
            json!({"action": "create", "creator_email": "admin@example.com", "creator_user_id": "1",
                               "expires_in_seconds": "604800", "role": "member"}),
        ),
        (
            "invite_email_sent",
            json!({"invite_id": "inv2", "recipient_email": "r@example.com",
                                     "sender_email": "admin@example.com", "sender_user_id": "1", "personal_message": "hi"}),
        ),
        (
            "cloud_agent_secret",
            json!({"action": "create", "scope": "team", "secret_name": "GITHUB_TOKEN", "scoped_to_repos": ["repo-a"]}),
        ),
        (
            "cloud_agent_user_settings",
            json!({"setting": "default_model", "previous": "a", "new": "b"}),
        ),
        (
            "protected_git_scope",
            json!({"action": "create", "git_enterprise_uuid": "", "git_org_owner": "acme",
                                       "git_provider": "github", "scope_id": "pgs_1", "user_id": "24"}),
        ),
        (
            "protected_git_scope_access_check",
            json!({"result": "allowed", "reason": "scope", "repo_url": "https://github.com/acme/app"}),
        ),
        (
            "protected_git_scope_access_check",
            json!({"result": "blocked", "reason": "scope", "repo_url": "https://github.com/acme/lib"}),
        ),
        (
            "privacy_mode",
            json!({"old_privacy_mode": "PRIVACY_MODE_NO_STORAGE", "new_privacy_mode": "PRIVACY_MODE_DEFAULT", "scope": "team"}),
        ),
        (
            "mcp_server_config",
            json!({"action": "create", "scope": "user", "server_name": "docs", "server_type": "HTTP"}),
        ),
        (
            "user_spend_limit",
            json!({"target_user_email": "s@example.com", "old_limit_cents": "1000", "new_limit_cents": 2500,
                                    "spendLimitDollars": "25"}),
        ),
        (
            "team_rule",
            json!({"action": "update", "rule_id": "r1", "name": "No secrets", "is_active": true, "is_required": false}),
        ),
        (
            "team_repo",
            json!({"action": "update", "repo_url": "https://github.com/acme/app", "repo_count": "3"}),
        ),
        (
            "team_hook",
            json!({"action": "create", "hook_id": "hook_1", "hook_step": "post_tool_call", "hook_type": "command",
                             "script_name": "lint.sh", "is_active": true, "operating_systems": ["linux", "darwin"],
                             "url": "https://hooks.example.com:8443/ci/run.sh?ref=main#top"}),
        ),
        (
            "team_command",
            json!({"action": "create", "command_id": "c1", "name": "deploy"}),
        ),
        (
            "create_directory_group",
            json!({"directory_group_id": "dg1", "name": "Engineering"}),
        ),
        (
            "delete_directory_group",
            json!({"directory_group_id": "dg2"}),
        ),
        (
            "update_directory_group",
            json!({"directory_group_id": "dg3", "name": "Platform"}),
        ),
        (
            "update_directory_group_permissions",
            json!({"directory_group_id": "dg4", "permissions": ["read", "admin"]}),
        ),
        (
            "add_user_to_directory_group",
            json!({"directory_group_id": "dg5", "user_email": "m@example.com", "user_id": "55"}),
        ),
        (
            "remove_user_from_directory_group",
            json!({"group_id": "dg6", "email": "n@example.com", "user_id": "56"}),
        ),
        (
            "bugbot_repo_settings",
            json!({"repo_url": "https://github.com/acme/app", "bugbot_enabled": true, "repos_updated": 2}),
        ),
        (
            "some_future_event",
            json!({"new_field": 1, "nested": {"k": "v"}}),
        ),
    ]
}

/// Every sample line with its label (`<event type> (API)` or `<event type> (S3)`).
pub fn sample_lines() -> Vec<(String, String)> {
    let mut lines = Vec::new();
    for (i, (event_type, payload)) in payloads().into_iter().enumerate() {
        let id = format!("c0ffee00-0000-4000-8000-{i:012}");
        let timestamp = format!(
            "2026-05-04T11:{:02}:{:02}.{:03}Z",
            i % 60,
            (i * 7) % 60,
            i * 37 % 1000
        );
        let ip = ["192.0.2.10", "198.51.100.20", "203.0.113.30", "2001:db8::5"][i % 4];
        let email = format!("user{i}@example.com");
        let api = json!({"event_id": id, "timestamp": timestamp, "ip_address": ip, "user_email": email,
                         "event_type": event_type, "event_data": payload.clone()});
        lines.push((format!("{event_type} (API)"), api.to_string()));

        let s3_id = format!("c0ffee00-0000-4000-9000-{i:012}");
        let mut s3 = Map::new();
        let mut s3_payload = payload;
        if let Some(map) = s3_payload.as_object_mut() {
            map.insert("team_id".into(), json!("15767141"));
        }
        s3.insert(event_type.to_owned(), s3_payload);
        s3.insert("ip_address".into(), json!(ip));
        s3.insert(
            "metadata".into(),
            json!({"id": s3_id, "timestamp": timestamp,
                   "context": {"auth_id": format!("auth0|{i}"), "ghost_mode": i % 3 == 0,
                               "privacy_mode": "{\"privacyMode\":\"PRIVACY_MODE_NO_TRAINING\"}",
                               "request_id": format!("req_{i}")}}),
        );
        s3.insert("team_id".into(), json!("15767141"));
        s3.insert("user_email".into(), json!(email));
        lines.push((format!("{event_type} (S3)"), Value::Object(s3).to_string()));
    }
    lines
}
