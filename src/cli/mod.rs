//! The command line: `cursor-audit-forwarder <command>`. Each command parses its settings,
//! builds its components through [`crate::config::build`] and calls the same library code
//! the Lambda handlers use. Exit codes: 0 done, 1 failed, 2 configuration.

mod check_fidelity;
mod normalize;
mod poll;
mod setup;
mod ship;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "cursor-audit-forwarder",
    version,
    about = "Ships Cursor Enterprise audit logs into Elasticsearch as ECS documents"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: the size of its largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Normalize NDJSON audit events (either shape) from stdin into ECS documents on stdout.
    Normalize(normalize::NormalizeArgs),
    /// Ship audit files (gzip or plain NDJSON) to Elasticsearch; without a cluster, or with
    /// --dry-run, print the documents that would be indexed.
    Ship(ship::ShipArgs),
    /// Install the index and component templates for logs-cursor.audit-* (idempotent).
    Setup(setup::SetupArgs),
    /// Poll the Cursor Admin API into Elasticsearch (the scheduled handler's code); the
    /// checkpoint lives in DynamoDB when CHECKPOINT_TABLE is set, else in a local file.
    Poll(poll::PollArgs),
    /// Compare Elastic's Cursor integration pipeline on the cluster with this normalizer on a
    /// built-in sample of events; exit 1 naming each field that differs.
    CheckFidelity(check_fidelity::CheckFidelityArgs),
}

/// The command line's definition: every command with its flags, environment variables and
/// defaults (what docs/configuration.md lists; tests/config_reference.rs compares the two).
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    Cli::command()
}

/// The exit code of a configuration error.
const EXIT_CONFIG: u8 = 2;

/// Parses the command line and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Command::Normalize(args) => run_async(normalize::run(args)),
        Command::Ship(args) => run_async(ship::run(args)),
        Command::Setup(args) => run_async(setup::run(args)),
        Command::Poll(args) => run_async(poll::run(args)),
        Command::CheckFidelity(args) => run_async(check_fidelity::run(args)),
    }
}

/// Runs an async command on a multi-thread runtime.
fn run_async(command: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(command),
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Prints a configuration error and returns its exit code.
fn config_error(err: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {err}");
    ExitCode::from(EXIT_CONFIG)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
