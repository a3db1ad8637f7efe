//! Writes synthetic Cursor audit events (NDJSON) to stdout.
//! `cargo run --release --example generate_events -- COUNT [SEED] [mixed|s3|api]`
//! `s3` is what Cursor's S3 streaming objects hold; `api` is the Admin API shape.

use std::io::{BufWriter, Write};

#[path = "../tests/support/synthetic.rs"]
mod synthetic;

use synthetic::EventGenerator;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let count: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(42);
    let shape = args.next().unwrap_or_else(|| "mixed".into());
    let mut generator = EventGenerator::new(seed);
    let mut out = BufWriter::new(std::io::stdout().lock());
    for _ in 0..count {
        let line = match shape.as_str() {
            "s3" => generator.next_s3_line(),
            "api" => generator.next_api_line(),
            _ => generator.next_line(),
        };
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()
}
