//! `setup`: which engine answers, and the component and index templates for
//! `logs-cursor.audit-*` data streams (the mapping itself is in `mappings.rs`), unless
//! Elastic's integration installed its own.

use serde_json::{Value, json};

use super::client::EsSink;
use super::connection::EsConnection;
use super::error::EsError;
use super::mappings::{Engine, mappings};
use super::mode::ModeDecision;
use super::retention::{
    CUSTOM_COMPONENT, LIFECYCLE_COMPONENT, Retention, RetentionOutcome, has_data_stream_lifecycle,
    install_ism_policy, lifecycle_component,
};

/// Our index template's name.
pub const INDEX_TEMPLATE: &str = "cursor-audit-forwarder";
/// Our component template's name.
pub const MAPPINGS_COMPONENT: &str = "cursor-audit-forwarder@mappings";
/// The index template Elastic's Cursor integration (Fleet) installs.
pub const INTEGRATION_TEMPLATE: &str = "logs-cursor.audit";
/// Above the built-in `logs` template (100) and Fleet's integration templates (200).
pub const PRIORITY: u64 = 250;

/// The most of an answer to `GET /` that is read.
pub(super) const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// What `setup` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetupResult {
    /// Our templates were installed.
    Installed {
        /// The engine that answered.
        engine: Engine,
        /// Its version.
        version: String,
        /// What was done about retention.
        retention: RetentionOutcome,
    },
    /// The integration's own template is there; nothing was installed.
    IntegrationTemplatePresent,
}

/// Asks the cluster which engine it is.
pub async fn detect_engine(connection: &EsConnection) -> Result<(Engine, String), EsError> {
    let url = connection.base_url.clone();
    let response = connection
        .send("/", connection.request(reqwest::Method::GET, "/"))
        .await?;
    let mut response = response;
    let status = response.status().as_u16();
    let bytes = crate::http::body::read_limited(&mut response, MAX_ANSWER_BYTES)
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

pub(super) async fn put(
    connection: &EsConnection,
    path: &str,
    body: &Value,
) -> Result<(), EsError> {
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
    let prefix = crate::http::body::read_prefix(&mut response, 2000).await;
    let body = String::from_utf8_lossy(&prefix).into_owned();
    Err(EsError::Status {
        url,
        status,
        body,
        retry_after: None,
    })
}

/// Installs (or updates to the same content) our templates and the retention, unless the
/// integration's own template is there.
pub async fn setup(
    connection: &EsConnection,
    retention: Retention,
) -> Result<SetupResult, EsError> {
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
    let mut template = json!({
        "index_patterns": ["logs-cursor.audit-*"],
        "data_stream": {},
        "priority": PRIORITY,
        "composed_of": [MAPPINGS_COMPONENT],
        "_meta": meta,
    });
    let lifecycle = engine == Engine::Elasticsearch && has_data_stream_lifecycle(&version);
    if lifecycle {
        put(
            connection,
            &format!("_component_template/{LIFECYCLE_COMPONENT}"),
            &lifecycle_component(retention, &meta),
        )
        .await?;
        template["composed_of"] =
            json!([MAPPINGS_COMPONENT, LIFECYCLE_COMPONENT, CUSTOM_COMPONENT]);
        template["ignore_missing_component_templates"] = json!([CUSTOM_COMPONENT]);
    }
    put(
        connection,
        &format!("_index_template/{INDEX_TEMPLATE}"),
        &template,
    )
    .await?;
    let retention = match engine {
        Engine::Elasticsearch if lifecycle => RetentionOutcome::Lifecycle(retention),
        Engine::Elasticsearch => RetentionOutcome::LifecycleUnsupported,
        Engine::OpenSearch => install_ism_policy(connection, retention).await?,
    };
    Ok(SetupResult::Installed {
        engine,
        version,
        retention,
    })
}

/// What `setup` found and did: the templates, and where events will be normalized.
#[derive(Debug, Clone)]
pub struct SetupReport {
    /// The templates.
    pub templates: SetupResult,
    /// The `NORMALIZE_IN` decision for the configured data stream, and why.
    pub mode: ModeDecision,
}

impl EsSink {
    /// Installs the templates (unless the integration's are there), then decides the mode
    /// for the configured data stream once, as shipping will (no retries: a person waits).
    pub async fn setup(&self, retention: Retention) -> Result<SetupReport, SetupError> {
        let templates = setup(self.connection(), retention)
            .await
            .map_err(SetupError::Templates)?;
        let mode = self
            .mode(tokio::time::Instant::now())
            .await
            .map_err(|source| SetupError::Pipelines {
                data_stream: self.target().to_owned(),
                source,
            })?;
        Ok(SetupReport { templates, mode })
    }
}

/// Why `setup` failed.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The templates could not be installed.
    #[error("setup failed: {0}")]
    Templates(#[source] EsError),
    /// The data stream's pipelines could not be read.
    #[error("cannot read the pipelines of {data_stream}: {source}")]
    Pipelines {
        /// The data stream.
        data_stream: String,
        /// Why.
        #[source]
        source: EsError,
    },
}
