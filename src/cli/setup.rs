//! `setup`: the index and component templates, unless Elastic's integration has its own.

use std::process::ExitCode;

use clap::Args;

use crate::config::{SinkArgs, build};
use crate::sink::retention::{CUSTOM_COMPONENT, ISM_POLICY, LIFECYCLE_COMPONENT};
use crate::sink::templates::{INDEX_TEMPLATE, INTEGRATION_TEMPLATE, MAPPINGS_COMPONENT, PRIORITY};
use crate::sink::{RetentionOutcome, SetupResult, ShipMode};

/// `setup`
#[derive(Debug, Args)]
pub(super) struct SetupArgs {
    #[command(flatten)]
    sink: SinkArgs,
}

pub(super) async fn run(args: &SetupArgs) -> ExitCode {
    if !args.sink.is_configured() {
        return super::config_error(
            "setup needs a cluster: set ES_URL, ES_CLOUD_ID or ES_SECRET_ARN",
        );
    }
    let sink = match build::cluster(&args.sink, None).await {
        Ok(sink) => sink,
        Err(err) => return super::config_error(err),
    };
    if let Some(signer) = sink.connection().signer() {
        eprintln!(
            "signing requests with AWS SigV4 (service {}, region {})",
            crate::sink::sigv4::SERVICE,
            signer.region()
        );
    }
    let report = match sink.setup(args.sink.data_retention).await {
        Ok(report) => report,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    match report.templates {
        SetupResult::Installed {
            engine,
            version,
            retention,
        } => {
            eprintln!(
                "installed index template {INDEX_TEMPLATE} (priority {PRIORITY}) and component template {MAPPINGS_COMPONENT} for logs-cursor.audit-* on {engine:?} {version}"
            );
            eprintln!("{}", describe_retention(&retention));
        }
        SetupResult::IntegrationTemplatePresent => eprintln!(
            "index template {INTEGRATION_TEMPLATE} from Elastic's Cursor integration is installed: left alone, nothing to do"
        ),
    }
    let mode = match report.mode.mode {
        ShipMode::Cluster => "cluster (raw events, normalized by the integration's pipeline)",
        ShipMode::Forwarder { .. } => "forwarder (finished documents)",
    };
    eprintln!(
        "shipping to {} will normalize in the {mode}: {}",
        sink.target(),
        report.mode.reason
    );
    ExitCode::SUCCESS
}

/// What `setup` did about retention, in a sentence.
fn describe_retention(outcome: &RetentionOutcome) -> String {
    match outcome {
        RetentionOutcome::Lifecycle(retention) => format!(
            "retention: data stream lifecycle {retention} in component template {LIFECYCLE_COMPONENT} (new data streams; {CUSTOM_COMPONENT}, if you add it, wins)"
        ),
        RetentionOutcome::LifecycleUnsupported => {
            "retention: this Elasticsearch has no data stream lifecycle (8.11+): none installed; use an ILM policy".into()
        }
        RetentionOutcome::IsmPolicy(retention) => {
            format!("retention: ISM policy {ISM_POLICY} keeps {retention}")
        }
        RetentionOutcome::IsmPolicyNotOurs => format!(
            "retention: an ISM policy named {ISM_POLICY} exists and is not ours: left alone"
        ),
        RetentionOutcome::IsmUnavailable => {
            "warning: retention: Index State Management is not installed on this cluster: no retention policy installed".into()
        }
    }
}
