//! How long documents are kept (`DATA_RETENTION`), installed by `setup` in each engine's own
//! way, never over a policy the user has:
//!
//! - Elasticsearch (8.11+): a data stream lifecycle (`data_retention`) in our component
//!   template `cursor-audit-forwarder@lifecycle`, composed before the optional
//!   `cursor-audit-forwarder@custom`, so what a user puts there (another retention, or an
//!   ILM policy, which a data stream prefers) wins. It applies to data streams created
//!   after `setup`; an existing one keeps what it has (docs/deployment-options.md, "Retention",
//!   says how to change it).
//! - OpenSearch: an Index State Management policy `cursor-audit-forwarder` for
//!   `.ds-logs-cursor.audit-*` (rollover every 30 days or 50 GB, delete at the retention),
//!   created when absent and updated only when it is ours; without the ISM plugin nothing is
//!   installed and `setup` says so.

use serde_json::{Value, json};

use super::connection::EsConnection;
use super::error::EsError;
use super::pipelines::read_json;

/// Our lifecycle component template (Elasticsearch).
pub const LIFECYCLE_COMPONENT: &str = "cursor-audit-forwarder@lifecycle";
/// The component template a user may add to override ours (Elasticsearch).
pub const CUSTOM_COMPONENT: &str = "cursor-audit-forwarder@custom";
/// Our ISM policy (OpenSearch).
pub const ISM_POLICY: &str = "cursor-audit-forwarder";
/// How our ISM policy tells itself apart from a user's.
const ISM_DESCRIPTION: &str = "cursor-audit-forwarder: logs-cursor.audit-* retention";

/// `DATA_RETENTION`: days to keep documents, or forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// Keep documents this many days.
    Days(u32),
    /// Never delete.
    Forever,
}

impl std::str::FromStr for Retention {
    type Err = String;

    fn from_str(text: &str) -> Result<Retention, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("none") || text.eq_ignore_ascii_case("forever") {
            return Ok(Retention::Forever);
        }
        match text.strip_suffix('d').map(str::parse::<u32>) {
            Some(Ok(days)) if (1..=36_500).contains(&days) => Ok(Retention::Days(days)),
            _ => Err(format!(
                "DATA_RETENTION must be a number of days from 1d to 36500d, or none (got {text:?})"
            )),
        }
    }
}

impl std::fmt::Display for Retention {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Retention::Days(days) => write!(f, "{days}d"),
            Retention::Forever => f.write_str("none"),
        }
    }
}

/// What `setup` did about retention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetentionOutcome {
    /// Elasticsearch: the lifecycle component template holds this retention.
    Lifecycle(Retention),
    /// Elasticsearch older than 8.11: no data stream lifecycle to set.
    LifecycleUnsupported,
    /// OpenSearch: our ISM policy holds this retention (created or updated).
    IsmPolicy(Retention),
    /// OpenSearch: a policy of that name exists and is not ours: left alone.
    IsmPolicyNotOurs,
    /// OpenSearch: Index State Management is not installed; nothing was installed.
    IsmUnavailable,
}

/// The lifecycle component template's body (Elasticsearch).
pub fn lifecycle_component(retention: Retention, meta: &Value) -> Value {
    let lifecycle = match retention {
        Retention::Days(days) => json!({"enabled": true, "data_retention": format!("{days}d")}),
        Retention::Forever => json!({"enabled": true}),
    };
    json!({"template": {"lifecycle": lifecycle}, "_meta": meta})
}

/// True for Elasticsearch versions with data stream lifecycles (8.11 and later).
pub fn has_data_stream_lifecycle(version: &str) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    major > 8 || (major == 8 && minor >= 11)
}

/// The ISM policy's body (OpenSearch).
pub fn ism_policy(retention: Retention) -> Value {
    let mut hot = json!({
        "name": "hot",
        "actions": [{"rollover": {"min_index_age": "30d", "min_primary_shard_size": "50gb"}}],
        "transitions": []
    });
    let mut states = vec![];
    if let Retention::Days(days) = retention {
        hot["transitions"] =
            json!([{"state_name": "delete", "conditions": {"min_index_age": format!("{days}d")}}]);
        states.push(json!({"name": "delete", "actions": [{"delete": {}}], "transitions": []}));
    }
    states.insert(0, hot);
    json!({"policy": {
        "description": ISM_DESCRIPTION,
        "default_state": "hot",
        "states": states,
        "ism_template": [{"index_patterns": [".ds-logs-cursor.audit-*"], "priority": 100}]
    }})
}

/// Creates or updates our ISM policy, unless a user's holds the name or ISM is absent.
pub async fn install_ism_policy(
    connection: &EsConnection,
    retention: Retention,
) -> Result<RetentionOutcome, EsError> {
    let path = format!("_plugins/_ism/policies/{ISM_POLICY}");
    let (status, existing) = read_json(connection, reqwest::Method::GET, &path).await?;
    let put_path = match status {
        200 if existing["policy"]["description"] != ISM_DESCRIPTION => {
            return Ok(RetentionOutcome::IsmPolicyNotOurs);
        }
        200 => format!(
            "{path}?if_seq_no={}&if_primary_term={}",
            existing["_seq_no"].as_u64().unwrap_or(0),
            existing["_primary_term"].as_u64().unwrap_or(0)
        ),
        404 if existing["error"]["type"] == "status_exception"
            || existing["error"]["reason"]
                .as_str()
                .is_some_and(|r| r.contains("Policy not found")) =>
        {
            path.clone()
        }
        // No handler for the path: the plugin is not installed.
        400 | 404 | 405 => return Ok(RetentionOutcome::IsmUnavailable),
        _ => {
            return Err(EsError::Status {
                url: connection.url_for(&path),
                status,
                body: existing.to_string(),
                retry_after: None,
            });
        }
    };
    super::templates::put(connection, &put_path, &ism_policy(retention)).await?;
    Ok(RetentionOutcome::IsmPolicy(retention))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_is_days_or_none() {
        assert_eq!("90d".parse(), Ok(Retention::Days(90)));
        assert_eq!(" none ".parse(), Ok(Retention::Forever));
        for bad in ["0d", "90", "36501d", "1y", "-1d", ""] {
            assert!(bad.parse::<Retention>().is_err(), "{bad:?}");
        }
        assert_eq!(Retention::Days(365).to_string(), "365d");
    }

    #[test]
    fn lifecycles_exist_from_elasticsearch_8_11() {
        assert!(has_data_stream_lifecycle("8.19.21"));
        assert!(has_data_stream_lifecycle("8.11.0"));
        assert!(has_data_stream_lifecycle("9.1.0"));
        assert!(!has_data_stream_lifecycle("8.10.4"));
        assert!(!has_data_stream_lifecycle("7.17.0"));
        assert!(!has_data_stream_lifecycle("unknown"));
    }

    #[test]
    fn the_ism_policy_rolls_over_and_deletes_at_the_retention() {
        let policy = ism_policy(Retention::Days(30));
        let states = policy["policy"]["states"].as_array().unwrap();
        assert_eq!(states.len(), 2);
        assert_eq!(
            states[0]["transitions"][0],
            json!({"state_name": "delete", "conditions": {"min_index_age": "30d"}})
        );
        assert_eq!(states[1]["actions"][0], json!({"delete": {}}));
        assert_eq!(
            policy["policy"]["ism_template"][0]["index_patterns"][0],
            ".ds-logs-cursor.audit-*"
        );
        let forever = ism_policy(Retention::Forever);
        assert_eq!(forever["policy"]["states"].as_array().unwrap().len(), 1);
        assert_eq!(forever["policy"]["states"][0]["transitions"], json!([]));
        let component = lifecycle_component(Retention::Days(7), &json!({}));
        assert_eq!(component["template"]["lifecycle"]["data_retention"], "7d");
    }
}
