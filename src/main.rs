//! Thin entry point: the Lambda runtime when `AWS_LAMBDA_RUNTIME_API` is set, else the CLI.

#![warn(missing_docs, clippy::unwrap_used, clippy::expect_used)]

/// mimalloc: the normalizer allocates many small strings and maps; this allocator makes it
/// about 20% faster than the system one (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        let runtime = match tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(err) => {
                eprintln!("error: cannot start the async runtime: {err}");
                return std::process::ExitCode::FAILURE;
            }
        };
        return match runtime.block_on(cursor_audit_forwarder::lambda::run()) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("error: {err}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    cursor_audit_forwarder::cli::main()
}
