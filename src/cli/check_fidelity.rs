//! `check-fidelity`: the drift check of [`crate::fidelity`] against a cluster where Elastic's
//! Cursor integration pipeline is installed. Exit codes: 0 no difference, 1 differences (or
//! the check failed), 2 configuration.

use std::process::ExitCode;

use clap::Args;

use crate::config::{SinkArgs, build};

/// `check-fidelity`
#[derive(Debug, Args)]
pub(super) struct CheckFidelityArgs {
    #[command(flatten)]
    sink: SinkArgs,
    /// The integration's pipeline to check (default: the newest `logs-cursor.audit-<version>`
    /// on the cluster).
    #[arg(long, value_name = "NAME")]
    pipeline: Option<String>,
}

pub(super) async fn run(args: &CheckFidelityArgs) -> ExitCode {
    if !args.sink.is_configured() {
        return super::config_error(
            "check-fidelity needs a cluster: set ES_URL, ES_CLOUD_ID or ES_SECRET_ARN",
        );
    }
    // The same connection as `setup` and shipping: secrets, SigV4, CA, timeouts.
    let connection = match build::connection(&args.sink, None).await {
        Ok(connection) => connection,
        Err(err) => return super::config_error(err),
    };
    let pipeline = match &args.pipeline {
        Some(name) => name.clone(),
        None => match crate::fidelity::find_integration_pipeline(&connection).await {
            Ok(Some(name)) => name,
            Ok(None) => {
                eprintln!(
                    "error: no pipeline of Elastic's Cursor integration (logs-cursor.audit-<version>) on the cluster; install the integration or name one with --pipeline"
                );
                return ExitCode::FAILURE;
            }
            Err(err) => {
                eprintln!("error: {err}");
                return ExitCode::FAILURE;
            }
        },
    };
    let report = match crate::fidelity::check(&connection, &pipeline).await {
        Ok(report) => report,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    for difference in &report.differences {
        println!("drift: {difference}");
    }
    if report.differences.is_empty() {
        eprintln!(
            "no drift: {} sample events give the same documents through {} and through the normalizer",
            report.samples, report.pipeline
        );
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "drift: {} difference(s) over {} sample events between {} and the normalizer, in: {}",
            report.differences.len(),
            report.samples,
            report.pipeline,
            report.fields().join(", ")
        );
        ExitCode::FAILURE
    }
}
