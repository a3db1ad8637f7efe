//! The mapping of `logs-cursor.audit-*`, as data: an explicit type for every field the
//! normalizer and the shipper can write, in the open-ended type of the engine at hand.

use serde_json::{Value, json};

use crate::normalize::{BOOLEAN_FIELDS, LONG_FIELDS};

/// Which search engine answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// Elasticsearch.
    Elasticsearch,
    /// OpenSearch.
    OpenSearch,
}

impl Engine {
    /// The open-ended object type: `flattened` (Elasticsearch) or `flat_object` (OpenSearch).
    pub fn flat_type(self) -> &'static str {
        match self {
            Engine::Elasticsearch => "flattened",
            Engine::OpenSearch => "flat_object",
        }
    }
}

fn keyword() -> Value {
    json!({"type": "keyword", "ignore_above": 1024})
}

/// The `cursor.audit` properties: keyword unless the normalizer types the field.
fn cursor_audit_properties(engine: Engine) -> Value {
    const KEYWORDS: &[&str] = &[
        "team_id",
        "auth_id",
        "privacy_mode",
        "request_id",
        "action",
        "source",
        "setting_name",
        "old_value",
        "new_value",
        "role",
        "old_role",
        "new_role",
        "rule_id",
        "rule_name",
        "command_id",
        "command_name",
        "hook_id",
        "hook_step",
        "hook_type",
        "script_name",
        "operating_systems",
        "prompt_model",
        "installation_id",
        "github_app_type",
        "github_hostname",
        "repo_url",
        "repo_node_id",
        "repo_name",
        "operation",
        "provider",
        "secret_name",
        "scope",
        "server_name",
        "server_type",
        "scoped_to_repos",
        "service_account_id",
        "service_account_name",
        "api_key_id",
        "api_key_name",
        "repo_scope",
        "organization_id",
        "scope_id",
        "git_org_owner",
        "git_provider",
        "git_enterprise_uuid",
        "user_id",
        "reason",
        "result",
        "login_type",
        "invite_id",
        "invited_by_email",
        "invited_by_user_id",
        "creator_email",
        "creator_user_id",
        "sender_email",
        "sender_user_id",
        "personal_message",
        "old_privacy_mode",
        "new_privacy_mode",
        "directory_group_name",
        "permissions",
        "metadata",
    ];
    let mut properties = serde_json::Map::new();
    for name in KEYWORDS {
        properties.insert((*name).into(), keyword());
    }
    // Free text that can be long: searchable, never truncated away.
    for name in ["script_content", "prompt_content"] {
        properties.insert(
            name.into(),
            json!({"type": "text", "fields": {"keyword": keyword()}}),
        );
    }
    for name in BOOLEAN_FIELDS {
        properties.insert((*name).into(), json!({"type": "boolean"}));
    }
    for name in LONG_FIELDS {
        properties.insert((*name).into(), json!({"type": "long"}));
    }
    for name in ["event_data", "unmapped"] {
        properties.insert(name.into(), json!({"type": engine.flat_type()}));
    }
    Value::Object(properties)
}

/// The full mapping.
pub fn mappings(engine: Engine) -> Value {
    let k = keyword;
    json!({
        "dynamic": true,
        "properties": {
            "@timestamp": {"type": "date"},
            "tags": k(),
            "ecs": {"properties": {"version": k()}},
            "data_stream": {"properties": {"type": k(), "dataset": k(), "namespace": k()}},
            "event": {"properties": {
                "action": k(), "kind": k(), "category": k(), "type": k(), "outcome": k(),
                "id": k(), "provider": k(), "dataset": k(),
                "original": {"type": "keyword", "index": false, "doc_values": false}
            }},
            "error": {"properties": {"message": {"type": "text"}}},
            "user": {"properties": {
                "email": k(),
                "target": {"properties": {"email": k(), "id": k(), "group": {"properties": {"id": k()}}}}
            }},
            "source": {"properties": {
                "ip": {"type": "ip"},
                "geo": {"properties": {
                    "city_name": k(), "continent_name": k(), "country_iso_code": k(),
                    "country_name": k(), "region_iso_code": k(), "region_name": k(),
                    "location": {"type": "geo_point"}
                }},
                "as": {"properties": {"number": {"type": "long"}, "organization": {"properties": {
                    "name": {"type": "keyword", "fields": {"text": {"type": "text"}}}
                }}}}
            }},
            "related": {"properties": {"ip": {"type": "ip"}, "user": k()}},
            "url": {"properties": {
                "original": {"type": "keyword", "ignore_above": 8192}, "scheme": k(), "domain": k(),
                "port": {"type": "long"}, "path": k(), "query": k(), "fragment": k(),
                "username": k(), "password": k(), "user_info": k(), "extension": k()
            }},
            "cursor": {"properties": {"audit": {"properties": cursor_audit_properties(engine)}}},
            "aws": {"properties": {"s3": {"properties": {
                "bucket": {"properties": {"name": k(), "arn": k()}},
                "object": {"properties": {"key": k()}}
            }}}},
            "log": {"properties": {"file": {"properties": {"path": k()}}, "offset": {"type": "long"}}},
            "cloud": {"properties": {"provider": k(), "region": k()}}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_ended_fields_use_the_engine_type() {
        let es = mappings(Engine::Elasticsearch);
        let audit = &es["properties"]["cursor"]["properties"]["audit"]["properties"];
        assert_eq!(audit["event_data"]["type"], "flattened");
        assert_eq!(audit["unmapped"]["type"], "flattened");
        assert_eq!(audit["success"]["type"], "boolean");
        assert_eq!(audit["repos_updated"]["type"], "long");
        assert_eq!(audit["team_id"]["type"], "keyword");
        let os = mappings(Engine::OpenSearch);
        assert_eq!(
            os["properties"]["cursor"]["properties"]["audit"]["properties"]["event_data"]["type"],
            "flat_object"
        );
    }
}
