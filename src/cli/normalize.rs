//! `normalize`: NDJSON events on stdin → ECS documents on stdout.

use std::io::{self, BufReader};
use std::process::ExitCode;

use clap::Args;

use crate::config::{NormalizerArgs, build};
use crate::shipping::normalize_stream;
use crate::sink::stdout_documents;

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
    let stdin = BufReader::with_capacity(256 * 1024, io::stdin().lock());
    let max = args.normalizer.max_line_bytes;
    match normalize_stream(&normalizer, stdin, max, &mut stdout_documents()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: normalize: {err}");
            ExitCode::FAILURE
        }
    }
}
