//! The command line: `cursor-audit-forwarder <command>`. Each command calls the same library
//! functions the Lambda handlers use.

use std::io::{self, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::normalize::{GeoIp, NormalizeOptions, Normalized, Normalizer};
use crate::source::lines::LineReader;

/// Default cap on one input line (`MAX_LINE_BYTES`).
pub const DEFAULT_MAX_LINE_BYTES: usize = 1024 * 1024;

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

#[derive(Debug, Subcommand)]
enum Command {
    /// Normalize NDJSON audit events (either shape) from stdin into ECS documents on stdout.
    Normalize(NormalizeArgs),
    /// Ship audit files (gzip or plain NDJSON) to Elasticsearch; without a cluster, or with
    /// --dry-run, print the documents that would be indexed.
    Ship(ShipArgs),
    /// Install the index and component templates for logs-cursor.audit-* (idempotent).
    Setup(SetupArgs),
    /// Poll the Cursor Admin API into Elasticsearch (the scheduled handler's code); the
    /// checkpoint lives in DynamoDB when CHECKPOINT_TABLE is set, else in a local file.
    Poll(PollArgs),
}

/// Options shared by every command that normalizes events.
#[derive(Debug, Args)]
pub struct NormalizerArgs {
    /// Keep `event.original` on every document.
    #[arg(long, env = "PRESERVE_ORIGINAL_EVENT")]
    pub preserve_original: bool,
    /// MaxMind-format City database for `source.geo`.
    #[arg(long, env = "GEOIP_CITY_DB", value_name = "FILE")]
    pub geoip_city: Option<PathBuf>,
    /// MaxMind-format ASN database for `source.as`.
    #[arg(long, env = "GEOIP_ASN_DB", value_name = "FILE")]
    pub geoip_asn: Option<PathBuf>,
    /// Longer lines become error documents holding the line's beginning.
    #[arg(long, env = "MAX_LINE_BYTES", value_name = "BYTES", default_value_t = DEFAULT_MAX_LINE_BYTES,
          value_parser = parse_positive_size)]
    pub max_line_bytes: usize,
}

impl NormalizerArgs {
    /// Builds the normalizer, opening the GeoIP databases.
    pub fn build(&self) -> Result<Normalizer, crate::normalize::GeoIpOpenError> {
        let geoip = GeoIp::open(self.geoip_city.as_deref(), self.geoip_asn.as_deref())?;
        Ok(Normalizer::new(
            NormalizeOptions {
                preserve_original: self.preserve_original,
            },
            geoip,
        ))
    }
}

fn parse_positive_size(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(err) => Err(err.to_string()),
    }
}

#[derive(Debug, Args)]
struct NormalizeArgs {
    #[command(flatten)]
    normalizer: NormalizerArgs,
}

/// Normalizes one line read by a [`LineReader`], turning an over-long line into an error
/// document that keeps its beginning.
pub fn normalize_read_line(
    normalizer: &Normalizer,
    line: &crate::source::lines::Line<'_>,
    max_line_bytes: usize,
) -> Option<Normalized> {
    if line.is_truncated() {
        let original = String::from_utf8_lossy(line.bytes);
        let message = format!(
            "line {} is {} bytes, longer than MAX_LINE_BYTES ({max_line_bytes}); event.original holds its first {} bytes",
            line.number,
            line.length,
            line.bytes.len()
        );
        return Some(normalizer.error_document(&original, message));
    }
    normalizer.normalize_line(line.bytes)
}

fn run_normalize(args: &NormalizeArgs) -> ExitCode {
    let normalizer = match args.normalizer.build() {
        Ok(normalizer) => normalizer,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    let max = args.normalizer.max_line_bytes;
    let stdin = io::stdin().lock();
    let mut lines = LineReader::new(BufReader::with_capacity(256 * 1024, stdin), max);
    let mut out = BufWriter::with_capacity(256 * 1024, io::stdout().lock());
    let mut buffer = Vec::with_capacity(4096);
    let result: io::Result<()> = (|| {
        while let Some(line) = lines.next_line()? {
            if let Some(normalized) = normalize_read_line(&normalizer, &line, max) {
                // One write per document: serde_json's many small writes are slow through a BufWriter.
                buffer.clear();
                serde_json::to_writer(&mut buffer, &normalized.document)?;
                buffer.push(b'\n');
                out.write_all(&buffer)?;
            }
        }
        out.flush()
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: normalize: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Parses the command line and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Command::Normalize(args) => run_normalize(args),
        Command::Ship(args) => run_async(ship::run(args)),
        Command::Setup(args) => run_async(ship::setup(args)),
        Command::Poll(args) => run_async(poll::run(args)),
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

/// JSON logs on stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_current_span(false)
        .try_init();
}

pub use poll::{CursorArgs, PollArgs, log_outcome, parse_duration, poll_summary_line};
pub use ship::{CheckpointArgs, S3Args, SetupArgs, ShipArgs, SinkArgs, summary_line};
mod poll;
mod ship;

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
