//! `setup`: the index and component templates, unless Elastic's integration has its own.

use std::process::ExitCode;

use clap::Args;

use crate::config::{SinkArgs, build};
use crate::sink::templates::{self, SetupResult};

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
    match templates::setup(&connection).await {
        Ok(SetupResult::Installed { engine, version }) => {
            eprintln!(
                "installed index template {} (priority {}) and component template {} for logs-cursor.audit-* on {engine:?} {version}",
                templates::INDEX_TEMPLATE,
                templates::PRIORITY,
                templates::MAPPINGS_COMPONENT
            );
            ExitCode::SUCCESS
        }
        Ok(SetupResult::IntegrationTemplatePresent) => {
            eprintln!(
                "index template {} from Elastic's Cursor integration is installed: left alone, nothing to do",
                templates::INTEGRATION_TEMPLATE
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: setup failed: {err}");
            ExitCode::FAILURE
        }
    }
}
