//! `normalize`: NDJSON events on stdin → ECS documents on stdout.

use std::io::{self, BufReader};
use std::process::ExitCode;

use clap::Args;

use crate::config::{NormalizerArgs, build};
use crate::lines::LineReader;
use crate::normalize::Ids;
use crate::output::stdout_documents;
use crate::shipping::normalize_read_line;

/// `normalize`
#[derive(Debug, Args)]
pub(super) struct NormalizeArgs {
    #[command(flatten)]
    normalizer: NormalizerArgs,
}

pub(super) async fn run(args: &NormalizeArgs) -> ExitCode {
    let normalizer = match build::normalizer(&args.normalizer, None).await {
        Ok(normalizer) => normalizer,
        Err(err) => return super::config_error(err),
    };
    let max = args.normalizer.max_line_bytes;
    let stdin = io::stdin().lock();
    let mut lines = LineReader::new(BufReader::with_capacity(256 * 1024, stdin), max);
    let mut out = stdout_documents();
    let result: io::Result<()> = (|| {
        while let Some(line) = lines.next_line()? {
            if let Some(normalized) = normalize_read_line(&normalizer, &line, max, Ids::Skipped) {
                out.write_document(&normalized.document)?;
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
