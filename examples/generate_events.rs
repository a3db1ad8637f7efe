//! Writes synthetic Cursor audit events (NDJSON, both shapes) to stdout.
//! `cargo run --release --example generate_events -- COUNT [SEED]`

use std::io::{BufWriter, Write};

use cursor_audit_forwarder::synthetic::EventGenerator;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let count: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(42);
    let mut generator = EventGenerator::new(seed);
    let mut out = BufWriter::new(std::io::stdout().lock());
    for _ in 0..count {
        out.write_all(generator.next_line().as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()
}
