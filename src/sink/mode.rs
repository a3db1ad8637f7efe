//! Where events are normalized (`NORMALIZE_IN`, docs/integration-pipeline.md):
//!
//! - `forwarder`: here; the cluster gets finished ECS documents (today's behaviour). When
//!   the data stream's default pipeline is the integration's, the bulk request says
//!   `pipeline=_none`, so that pipeline never re-parses a finished document (it would turn
//!   one carrying `event.original` into a `pipeline_error`).
//! - `cluster`: in the cluster, by Elastic's Cursor integration pipeline; the cluster gets
//!   what Elastic Agent sends: the raw line as `message`, with our `_id`.
//! - `auto` (default): `cluster` exactly when the integration's pipeline would run, that is
//!   when the data stream's effective default pipeline is the integration's
//!   (`logs-cursor.audit-<version>`) and no `ES_PIPELINE` replaces it; else `forwarder`.
//!   Decided once per process, at the first source.

use tokio::sync::OnceCell;

use super::connection::EsConnection;
use super::error::EsError;
use super::pipelines::{self, EffectivePipelines};

/// The setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NormalizeIn {
    /// Decide from the data stream's template.
    #[default]
    Auto,
    /// Always here.
    Forwarder,
    /// Always in the cluster.
    Cluster,
}

impl std::str::FromStr for NormalizeIn {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "auto" | "" => Ok(NormalizeIn::Auto),
            "forwarder" => Ok(NormalizeIn::Forwarder),
            "cluster" => Ok(NormalizeIn::Cluster),
            _ => Err("NORMALIZE_IN must be auto, forwarder or cluster".into()),
        }
    }
}

impl NormalizeIn {
    /// The mode without a cluster to ask (dry runs): `cluster` only when set.
    pub fn offline_mode(self) -> ShipMode {
        match self {
            NormalizeIn::Cluster => ShipMode::Cluster,
            NormalizeIn::Auto | NormalizeIn::Forwarder => ShipMode::Forwarder {
                skip_default_pipeline: false,
            },
        }
    }
}

/// What shipping sends, once decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShipMode {
    /// Finished documents; `skip_default_pipeline` adds `pipeline=_none` to bulk requests.
    Forwarder {
        /// The integration's pipeline is the default: skip it.
        skip_default_pipeline: bool,
    },
    /// Raw lines as `message` for the integration's pipeline.
    Cluster,
}

/// A decision and why it was made (`setup` prints it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModeDecision {
    /// The mode.
    pub mode: ShipMode,
    /// Why, in a sentence.
    pub reason: String,
}

/// True for the integration's ingest pipeline (`logs-cursor.audit-<version>`).
pub fn is_integration_pipeline(name: &str) -> bool {
    name.starts_with("logs-cursor.audit-")
}

/// Decides from the setting, an explicit `ES_PIPELINE` and the effective pipelines.
pub fn decide(
    setting: NormalizeIn,
    explicit_pipeline: Option<&str>,
    effective: Option<&EffectivePipelines>,
) -> ModeDecision {
    let integration_default = effective
        .and_then(|e| e.default_pipeline.as_deref())
        .filter(|name| is_integration_pipeline(name));
    match (setting, explicit_pipeline, integration_default) {
        (NormalizeIn::Cluster, _, _) => ModeDecision {
            mode: ShipMode::Cluster,
            reason: "NORMALIZE_IN=cluster".into(),
        },
        (NormalizeIn::Forwarder, _, default) => ModeDecision {
            mode: ShipMode::Forwarder {
                skip_default_pipeline: default.is_some() && explicit_pipeline.is_none(),
            },
            reason: match default {
                Some(name) => format!(
                    "NORMALIZE_IN=forwarder; the integration's default pipeline {name} is skipped (pipeline=_none)"
                ),
                None => "NORMALIZE_IN=forwarder".into(),
            },
        },
        (NormalizeIn::Auto, Some(pipeline), _) => ModeDecision {
            mode: ShipMode::Forwarder {
                skip_default_pipeline: false,
            },
            reason: format!("ES_PIPELINE={pipeline} replaces any default pipeline"),
        },
        (NormalizeIn::Auto, None, Some(name)) => ModeDecision {
            mode: ShipMode::Cluster,
            reason: format!(
                "the data stream's default pipeline {name} is Elastic's Cursor integration pipeline"
            ),
        },
        (NormalizeIn::Auto, None, None) => ModeDecision {
            mode: ShipMode::Forwarder {
                skip_default_pipeline: false,
            },
            reason: match effective.and_then(|e| e.default_pipeline.as_deref()) {
                Some(other) => {
                    format!("the data stream's default pipeline {other} is not the integration's")
                }
                None if effective.is_some() => {
                    "the data stream's template has no default pipeline".into()
                }
                None => "the data stream's template could not be read".into(),
            },
        },
    }
}

/// The setting and, once decided, the mode (asked of the cluster once per process).
#[derive(Debug, Default)]
pub struct ModeChoice {
    setting: NormalizeIn,
    decided: OnceCell<ModeDecision>,
}

impl ModeChoice {
    /// A choice from the setting.
    pub fn new(setting: NormalizeIn) -> ModeChoice {
        ModeChoice {
            setting,
            decided: OnceCell::new(),
        }
    }

    /// The decision, once made.
    pub fn decided(&self) -> Option<&ModeDecision> {
        self.decided.get()
    }

    /// The mode for writing to `data_stream` (with `explicit_pipeline` from `ES_PIPELINE`),
    /// decided on first use and kept. A cluster that cannot be reached is an error (retried
    /// with the source). One that does not let us read the pipelines gives `forwarder`,
    /// with a warning, and is asked again next time: once the data stream exists,
    /// `view_index_metadata` is enough.
    pub async fn resolve(
        &self,
        connection: &EsConnection,
        data_stream: &str,
        explicit_pipeline: Option<&str>,
    ) -> Result<ModeDecision, EsError> {
        if let Some(decision) = self.decided.get() {
            return Ok(decision.clone());
        }
        let effective = match self.setting {
            NormalizeIn::Cluster => None,
            NormalizeIn::Auto | NormalizeIn::Forwarder => {
                pipelines::effective_pipelines(connection, data_stream).await?
            }
        };
        let decision = decide(self.setting, explicit_pipeline, effective.as_ref());
        if self.setting != NormalizeIn::Cluster && effective.is_none() {
            tracing::warn!(
                data_stream,
                "cannot read the data stream's pipelines (the key needs view_index_metadata once the data stream exists, or manage_index_templates): sending finished documents, and asking again for the next source; set NORMALIZE_IN to choose"
            );
            return Ok(decision);
        }
        tracing::info!(mode = ?decision.mode, reason = %decision.reason, "normalization mode");
        let _ = self.decided.set(decision.clone());
        Ok(decision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn effective(default: Option<&str>) -> EffectivePipelines {
        EffectivePipelines {
            default_pipeline: default.map(str::to_owned),
            final_pipeline: Some(".fleet_final_pipeline-1".into()),
        }
    }

    #[test]
    fn auto_chooses_the_cluster_only_for_the_integrations_pipeline() {
        let integration = effective(Some("logs-cursor.audit-1.3.0"));
        assert_eq!(
            decide(NormalizeIn::Auto, None, Some(&integration)).mode,
            ShipMode::Cluster
        );
        // The built-in logs template's pipeline only sets @timestamp: normalize here.
        let builtin = effective(Some("logs@default-pipeline"));
        assert_eq!(
            decide(NormalizeIn::Auto, None, Some(&builtin)).mode,
            ShipMode::Forwarder {
                skip_default_pipeline: false
            }
        );
        assert_eq!(
            decide(NormalizeIn::Auto, None, Some(&effective(None))).mode,
            ShipMode::Forwarder {
                skip_default_pipeline: false
            }
        );
        assert_eq!(
            decide(NormalizeIn::Auto, Some("mine"), Some(&integration)).mode,
            ShipMode::Forwarder {
                skip_default_pipeline: false
            }
        );
        assert_eq!(
            decide(NormalizeIn::Forwarder, None, Some(&integration)).mode,
            ShipMode::Forwarder {
                skip_default_pipeline: true
            }
        );
        assert_eq!(
            decide(NormalizeIn::Cluster, None, None).mode,
            ShipMode::Cluster
        );
        assert!("Cluster".parse::<NormalizeIn>().is_ok());
        assert!("elsewhere".parse::<NormalizeIn>().is_err());
    }
}
