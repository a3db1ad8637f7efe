//! Realistic synthetic Cursor audit events of both shapes, for tests, benchmarks and the
//! event generator example. Deterministic for a given seed; no external randomness.
//! Shared by path: `benches/` and `examples/` include this file with `#[path]`.

use serde_json::{Value, json};

/// Every event type of the categorization table plus a Bugbot and an unknown one.
pub const EVENT_TYPES: &[&str] = &[
    "login",
    "logout",
    "add_user",
    "remove_user",
    "update_user_role",
    "team_settings",
    "team_api_key",
    "user_api_key",
    "organization_api_key",
    "api_key",
    "service_account",
    "invite_link",
    "invite_email_sent",
    "cloud_agent_secret",
    "cloud_agent_user_settings",
    "protected_git_scope",
    "protected_git_scope_access_check",
    "privacy_mode",
    "mcp_server_config",
    "user_spend_limit",
    "team_rule",
    "team_repo",
    "team_hook",
    "team_command",
    "create_directory_group",
    "delete_directory_group",
    "update_directory_group",
    "update_directory_group_permissions",
    "add_user_to_directory_group",
    "remove_user_from_directory_group",
    "bugbot_repo_settings",
    "some_future_event",
];

/// A small deterministic generator (xorshift64*).
#[derive(Debug, Clone)]
pub struct EventGenerator {
    state: u64,
    sequence: u64,
    /// Milliseconds since the epoch of the first event; each event is a few seconds later.
    clock_ms: i64,
}

impl EventGenerator {
    /// A generator whose output depends only on `seed`.
    pub fn new(seed: u64) -> Self {
        EventGenerator {
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            sequence: 0,
            clock_ms: 1_775_000_000_000,
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

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next_u64() % items.len() as u64) as usize]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    /// The next event as one NDJSON line (no newline), alternating shapes at random.
    pub fn next_line(&mut self) -> String {
        if self.chance(50) {
            self.next_s3_line()
        } else {
            self.next_api_line()
        }
    }

    fn envelope(&mut self) -> (String, String, String, String) {
        self.sequence += 1;
        self.clock_ms += (self.next_u64() % 5_000) as i64;
        let id = format!(
            "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
            self.next_u64() as u32,
            self.next_u64() as u16,
            self.next_u64() % 0x1000,
            self.next_u64() % 0x1000,
            self.sequence
        );
        let timestamp = chrono::DateTime::from_timestamp_millis(self.clock_ms)
            .map(|dt| cursor_audit_forwarder::normalize::format_millis(&dt))
            .unwrap_or_default();
        let ip = if self.chance(10) {
            "unknown".to_owned()
        } else {
            let network = self.pick(&["192.0.2", "198.51.100", "203.0.113", "100.64.7"]);
            format!("{network}.{}", self.next_u64() % 254 + 1)
        };
        let email = if self.chance(5) {
            "unknown".to_owned()
        } else {
            format!("user{}@example.com", self.next_u64() % 500)
        };
        (id, timestamp, ip, email)
    }

    fn payload(&mut self, event_type: &str) -> Value {
        let n = self.next_u64() % 1000;
        match event_type {
            "login" => {
                json!({"login_type": self.pick(&["LOGIN_TYPE_WEB", "LOGIN_TYPE_APP"]), "success": self.chance(90)})
            }
            "logout" => json!({}),
            "add_user" => {
                json!({"user_email": format!("new{n}@example.com"), "role": "MEMBER", "source": "invite_email",
                                "invite_id": format!("inv{n}"), "invited_by_email": "admin@example.com", "invited_by_user_id": "9001"})
            }
            "remove_user" => json!({"user_email": format!("leaver{n}@example.com")}),
            "update_user_role" => {
                json!({"user_email": format!("u{n}@example.com"), "old_role": "member", "new_role": "admin"})
            }
            "team_settings" => {
                json!({"setting_name": "enforce_privacy_mode", "old_value": "disabled", "new_value": "enabled"})
            }
            "team_api_key" | "user_api_key" => {
                json!({"action": "create", "key_id": format!("key_{n:06x}")})
            }
            "organization_api_key" | "api_key" => {
                json!({"action": "create", "api_key_id": format!("{n}"), "api_key_name": "ci",
                                "repo_scope": ["repo-a", "repo-b"], "repo_scope_enabled": true})
            }
            "service_account" => {
                json!({"action": "create", "service_account_id": format!("sa_{n}"), "service_account_name": "bot"})
            }
            "invite_link" => {
                json!({"action": "create", "creator_email": "admin@example.com", "creator_user_id": "1",
                                "expires_in_seconds": "604800", "role": "member"})
            }
            "invite_email_sent" => {
                json!({"invite_id": format!("inv{n}"), "recipient_email": format!("r{n}@example.com"),
                                "sender_email": "admin@example.com", "sender_user_id": "1", "personal_message": "no"})
            }
            "cloud_agent_secret" => {
                json!({"action": "create", "scope": "team", "secret_name": "GITHUB_TOKEN", "scoped_to_repos": ["repo-a"]})
            }
            "cloud_agent_user_settings" => {
                json!({"setting": "default_model", "previous": "a", "new": "b"})
            }
            "protected_git_scope" => {
                json!({"action": "create", "git_enterprise_uuid": "", "git_org_owner": "acme",
                                "git_provider": "github", "scope_id": format!("pgs_{n}"), "user_id": "24"})
            }
            "protected_git_scope_access_check" => {
                json!({"result": self.pick(&["allowed", "blocked"]), "reason": "scope",
                                "repo_url": "https://github.com/acme/app"})
            }
            "privacy_mode" => {
                json!({"old_privacy_mode": "PRIVACY_MODE_NO_STORAGE", "new_privacy_mode": "PRIVACY_MODE_DEFAULT", "scope": "team"})
            }
            "mcp_server_config" => {
                json!({"action": "create", "scope": "user", "server_name": "docs", "server_type": "HTTP"})
            }
            "user_spend_limit" => {
                json!({"target_user_email": format!("u{n}@example.com"), "old_limit_cents": "1000", "new_limit_cents": 2500})
            }
            "team_rule" => {
                json!({"action": "update", "rule_id": format!("r{n}"), "name": "No secrets", "is_active": true, "is_required": false})
            }
            "team_repo" => {
                json!({"action": "update", "repo_url": "https://github.com/acme/app", "repo_count": "3", "metadata": "{\"k\":1}"})
            }
            "team_hook" => {
                json!({"action": "create", "hook_id": format!("hook_{n}"), "hook_step": "post_tool_call",
                                "hook_type": "command", "script_name": "lint.sh", "is_active": true,
                                "operating_systems": ["linux", "darwin"], "url": "https://hooks.example.com/ci/run.sh?ref=main"})
            }
            "team_command" => {
                json!({"action": "create", "command_id": format!("c{n}"), "name": "deploy"})
            }
            "create_directory_group" | "update_directory_group" => {
                json!({"directory_group_id": format!("dg{n}"), "name": "Engineering"})
            }
            "delete_directory_group" => json!({"directory_group_id": format!("dg{n}")}),
            "update_directory_group_permissions" => {
                json!({"directory_group_id": format!("dg{n}"), "permissions": ["read", "admin"]})
            }
            "add_user_to_directory_group" | "remove_user_from_directory_group" => {
                json!({"directory_group_id": format!("dg{n}"),
                                "user_email": format!("m{n}@example.com"), "user_id": format!("{n}")})
            }
            "bugbot_repo_settings" => {
                json!({"repo_url": "https://github.com/acme/app", "bugbot_enabled": true, "repos_updated": 2})
            }
            _ => json!({"new_field": n, "nested": {"k": "v"}}),
        }
    }

    /// The next event in the Admin API shape.
    pub fn next_api_line(&mut self) -> String {
        let event_type = self.pick(EVENT_TYPES);
        let (id, timestamp, ip, email) = self.envelope();
        let data = self.payload(event_type);
        json!({"event_id": id, "timestamp": timestamp, "ip_address": ip, "user_email": email,
               "event_type": event_type, "event_data": data})
        .to_string()
    }

    /// The next event in the S3 streaming shape.
    pub fn next_s3_line(&mut self) -> String {
        let event_type = self.pick(EVENT_TYPES);
        let (id, timestamp, ip, email) = self.envelope();
        let mut data = self.payload(event_type);
        if let Some(map) = data.as_object_mut() {
            map.insert("team_id".into(), json!("15767141"));
        }
        let privacy = self.pick(&["PRIVACY_MODE_NO_TRAINING", "PRIVACY_MODE_NO_STORAGE"]);
        let mut line = serde_json::Map::new();
        line.insert(event_type.to_owned(), data);
        line.insert("ip_address".into(), json!(ip));
        line.insert(
            "metadata".into(),
            json!({"context": {"auth_id": format!("auth0|{}", self.sequence % 97), "ghost_mode": self.chance(20),
                               "privacy_mode": format!("{{\"privacyMode\":\"{privacy}\"}}"),
                               "request_id": format!("serverGenReqId_{id}")},
                   "id": id, "timestamp": timestamp}),
        );
        line.insert("team_id".into(), json!("15767141"));
        line.insert("user_email".into(), json!(email));
        Value::Object(line).to_string()
    }
}
