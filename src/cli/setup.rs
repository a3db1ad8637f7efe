//! `setup`: the index and component templates, unless Elastic's integration has its own.

use std::process::ExitCode;

use clap::Args;

use crate::config::{SinkArgs, build};
use crate::sink::mode::decide;
use crate::sink::templates::{self, SetupResult};
use crate::sink::{EsConnection, ShipMode};

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
    let connection = match build::connection(&args.sink, None).await {
        Ok(connection) => connection,
        Err(err) => return super::config_error(err),
    };
    if let Some(signer) = connection.signer() {
        eprintln!(
            "signing requests with AWS SigV4 (service {}, region {})",
            crate::sink::sigv4::SERVICE,
            signer.region()
        );
    }
    match templates::setup(&connection).await {
        Ok(SetupResult::Installed { engine, version }) => {
            eprintln!(
                "installed index template {} (priority {}) and component template {} for logs-cursor.audit-* on {engine:?} {version}",
                templates::INDEX_TEMPLATE,
                templates::PRIORITY,
                templates::MAPPINGS_COMPONENT
            );
        }
        Ok(SetupResult::IntegrationTemplatePresent) => {
            eprintln!(
                "index template {} from Elastic's Cursor integration is installed: left alone, nothing to do",
                templates::INTEGRATION_TEMPLATE
            );
        }
        Err(err) => {
            eprintln!("error: setup failed: {err}");
            return ExitCode::FAILURE;
        }
    }
    report_mode(&args.sink, &connection).await
}

/// Says which `NORMALIZE_IN` mode shipping to the configured data stream will use, and why.
async fn report_mode(sink: &SinkArgs, connection: &EsConnection) -> ExitCode {
    let data_stream = sink.ship_fields().data_stream();
    let effective = match templates::effective_pipelines(connection, &data_stream).await {
        Ok(effective) => effective,
        Err(err) => {
            eprintln!("error: cannot read the pipelines of {data_stream}: {err}");
            return ExitCode::FAILURE;
        }
    };
    let pipeline = sink.pipeline();
    let decision = decide(sink.normalize_in, pipeline.as_deref(), effective.as_ref());
    let mode = match decision.mode {
        ShipMode::Cluster => "cluster (raw events, normalized by the integration's pipeline)",
        ShipMode::Forwarder { .. } => "forwarder (finished documents)",
    };
    eprintln!(
        "shipping to {data_stream} will normalize in the {mode}: {}",
        decision.reason
    );
    ExitCode::SUCCESS
}
