//! `setup`: the component and index templates for `logs-cursor.audit-*` data streams, with an
//! explicit mapping for every field the normalizer and the shipper can write.

use serde_json::{Value, json};

use super::connection::EsConnection;
use super::error::EsError;
use crate::normalize::{BOOLEAN_FIELDS, LONG_FIELDS};

/// Our index template's name.
pub const INDEX_TEMPLATE: &str = "cursor-audit-forwarder";
/// Our component template's name.
pub const MAPPINGS_COMPONENT: &str = "cursor-audit-forwarder@mappings";
/// The index template Elastic's Cursor integration (Fleet) installs.
pub const INTEGRATION_TEMPLATE: &str = "logs-cursor.audit";
/// Above the built-in `logs` template (100) and Fleet's integration templates (200).
pub const PRIORITY: u64 = 250;

/// The most of an answer to `GET /` that is read.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

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

/// What `setup` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetupResult {
    /// Our templates were installed.
    Installed {
        /// The engine that answered.
        engine: Engine,
        /// Its version.
        version: String,
    },
    /// The integration's own template is there; nothing was installed.
    IntegrationTemplatePresent,
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

/// Asks the cluster which engine it is.
pub async fn detect_engine(connection: &EsConnection) -> Result<(Engine, String), EsError> {
    let url = connection.base_url.clone();
    let response = connection
        .send("/", connection.request(reqwest::Method::GET, "/"))
        .await?;
    let mut response = response;
    let status = response.status().as_u16();
    let bytes = crate::http_body::read_limited(&mut response, MAX_ANSWER_BYTES)
        .await
        .map_err(|err| EsError::BadResponse {
            url: url.clone(),
            message: err.to_string(),
        })?;
    let body: Value = serde_json::from_slice(&bytes).map_err(|err| EsError::BadResponse {
        url: url.clone(),
        message: err.to_string(),
    })?;
    if status != 200 {
        return Err(EsError::Status {
            url,
            status,
            body: body.to_string(),
            retry_after: None,
        });
    }
    let version = body["version"]["number"]
        .as_str()
        .unwrap_or("unknown")
        .to_owned();
    let engine = if body["version"]["distribution"] == "opensearch" {
        Engine::OpenSearch
    } else {
        Engine::Elasticsearch
    };
    Ok((engine, version))
}

async fn put(connection: &EsConnection, path: &str, body: &Value) -> Result<(), EsError> {
    let url = connection.url_for(path);
    let response = connection
        .send(
            path,
            connection.request(reqwest::Method::PUT, path).json(body),
        )
        .await?;
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(());
    }
    let mut response = response;
    let prefix = crate::http_body::read_prefix(&mut response, 2000).await;
    let body = String::from_utf8_lossy(&prefix).into_owned();
    Err(EsError::Status {
        url,
        status,
        body,
        retry_after: None,
    })
}

/// Installs (or updates to the same content) our templates, unless the integration's own
/// template is there.
pub async fn setup(connection: &EsConnection) -> Result<SetupResult, EsError> {
    let (engine, version) = detect_engine(connection).await?;
    let probe_path = format!("_index_template/{INTEGRATION_TEMPLATE}");
    let probe = connection
        .send(
            &probe_path,
            connection.request(reqwest::Method::GET, &probe_path),
        )
        .await?;
    if probe.status().as_u16() == 200 {
        return Ok(SetupResult::IntegrationTemplatePresent);
    }
    let meta =
        json!({"managed_by": "cursor-audit-forwarder", "version": env!("CARGO_PKG_VERSION")});
    put(
        connection,
        &format!("_component_template/{MAPPINGS_COMPONENT}"),
        &json!({"template": {"mappings": mappings(engine)}, "_meta": meta}),
    )
    .await?;
    put(
        connection,
        &format!("_index_template/{INDEX_TEMPLATE}"),
        &json!({
            "index_patterns": ["logs-cursor.audit-*"],
            "data_stream": {},
            "priority": PRIORITY,
            "composed_of": [MAPPINGS_COMPONENT],
            "_meta": meta,
        }),
    )
    .await?;
    Ok(SetupResult::Installed { engine, version })
}

/// The ingest pipelines that run on documents written to a data stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EffectivePipelines {
    /// `index.default_pipeline` (replaced by a request's `pipeline` parameter).
    pub default_pipeline: Option<String>,
    /// `index.final_pipeline` (always runs).
    pub final_pipeline: Option<String>,
}

impl EffectivePipelines {
    /// Reads both settings from an index `settings` object, nested or flat.
    fn from_settings(settings: &Value) -> EffectivePipelines {
        let read = |name: &str| {
            settings["index"][name]
                .as_str()
                .or_else(|| settings[format!("index.{name}")].as_str())
                .map(str::to_owned)
        };
        EffectivePipelines {
            default_pipeline: read("default_pipeline"),
            final_pipeline: read("final_pipeline"),
        }
    }
}

/// GET or POST `path`; the status and the JSON answer (`Null` when it is not JSON).
async fn read_json(
    connection: &EsConnection,
    method: reqwest::Method,
    path: &str,
) -> Result<(u16, Value), EsError> {
    let mut response = connection
        .send(path, connection.request(method, path))
        .await?;
    let status = response.status().as_u16();
    let bytes = crate::http_body::read_limited(&mut response, MAX_ANSWER_BYTES)
        .await
        .map_err(|err| EsError::BadResponse {
            url: connection.url_for(path),
            message: err.to_string(),
        })?;
    Ok((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

/// The pipelines that run on what is written to `data_stream`: its write index's settings
/// when it exists, else those of the template that would create it (asked only then:
/// OpenSearch answers 500 when simulating a name an existing data stream holds). `None`
/// when neither can be read (the key lacks `view_index_metadata` and
/// `manage_index_templates`). A cluster that cannot be reached or fails is an error.
pub async fn effective_pipelines(
    connection: &EsConnection,
    data_stream: &str,
) -> Result<Option<EffectivePipelines>, EsError> {
    let retryable = |status: u16, path: &str, body: &Value| {
        (status == 429 || status >= 500).then(|| EsError::Status {
            url: connection.url_for(path),
            status,
            body: body.to_string().chars().take(2000).collect(),
            retry_after: None,
        })
    };
    let settings_path = format!(
        "{data_stream}/_settings/index.default_pipeline,index.final_pipeline?flat_settings=true"
    );
    let (status, body) = read_json(connection, reqwest::Method::GET, &settings_path).await?;
    if let Some(err) = retryable(status, &settings_path, &body) {
        return Err(err);
    }
    if status == 200
        && let Some(indices) = body.as_object()
    {
        // The stream exists. Backing indices are named .ds-<stream>-<date>-<generation>:
        // the last is the write index. None listed (`{}`, on Elasticsearch and OpenSearch
        // alike) means neither setting is set on any of them.
        let write_settings =
            indices.keys().max().map_or(
                &Value::Null,
                |write_index| &indices[write_index]["settings"],
            );
        return Ok(Some(EffectivePipelines::from_settings(write_settings)));
    }
    let simulate_path = format!("_index_template/_simulate_index/{data_stream}");
    let (status, body) = read_json(connection, reqwest::Method::POST, &simulate_path).await?;
    if let Some(err) = retryable(status, &simulate_path, &body) {
        return Err(err);
    }
    if status != 200 {
        return Ok(None);
    }
    Ok(Some(EffectivePipelines::from_settings(
        &body["template"]["settings"],
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipelines_are_read_nested_or_flat() {
        let nested = json!({"index": {"default_pipeline": "logs-cursor.audit-1.3.0",
                                      "final_pipeline": ".fleet_final_pipeline-1"}});
        let flat = json!({"index.default_pipeline": "logs-cursor.audit-1.3.0",
                          "index.final_pipeline": ".fleet_final_pipeline-1"});
        let expected = EffectivePipelines {
            default_pipeline: Some("logs-cursor.audit-1.3.0".into()),
            final_pipeline: Some(".fleet_final_pipeline-1".into()),
        };
        assert_eq!(EffectivePipelines::from_settings(&nested), expected);
        assert_eq!(EffectivePipelines::from_settings(&flat), expected);
        assert_eq!(
            EffectivePipelines::from_settings(&json!({})),
            EffectivePipelines::default()
        );
    }

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
