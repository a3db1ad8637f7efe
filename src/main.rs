//! Thin entry point; see the library crate.

fn main() -> std::process::ExitCode {
    cursor_audit_forwarder::cli::main()
}
