//! Normalizer throughput over a realistic mix of both input shapes and every event type,
//! with and without GeoIP. Each iteration normalizes one event and serializes the document
//! to JSON, as the `normalize` command and the sink do.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use cursor_audit_forwarder::normalize::{GeoIp, NormalizeOptions, Normalizer};
#[path = "../tests/support/synthetic.rs"]
mod synthetic;

use std::hint::black_box;
use std::path::Path;
use synthetic::EventGenerator;

/// The same allocator as the binary (src/main.rs), so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BATCH: usize = 10_000;

fn lines() -> Vec<String> {
    let mut generator = EventGenerator::new(42);
    (0..BATCH).map(|_| generator.next_line()).collect()
}

fn run(normalizer: &Normalizer, lines: &[String], out: &mut Vec<u8>) {
    for line in lines {
        out.clear();
        if let Some(normalized) = normalizer.normalize_line(line.as_bytes()) {
            serde_json::to_writer(&mut *out, &normalized.document).unwrap_or_default();
        }
        black_box(&out);
    }
}

fn bench(c: &mut Criterion) {
    let lines = lines();
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    eprintln!(
        "input: {BATCH} events, {bytes} bytes ({:.0} bytes/event)",
        bytes as f64 / BATCH as f64
    );
    let dbs = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/geoip");
    let geoip = GeoIp::open(
        Some(&dbs.join("GeoLite2-City-Test.mmdb")),
        Some(&dbs.join("GeoLite2-ASN-Test.mmdb")),
    )
    .expect("test GeoIP databases");
    let plain = Normalizer::new(NormalizeOptions::default(), GeoIp::default());
    let enriched = Normalizer::new(NormalizeOptions::default(), geoip);

    let mut group = c.benchmark_group("normalize");
    group.throughput(Throughput::Elements(BATCH as u64));
    let mut out = Vec::with_capacity(4096);
    group.bench_function("mixed_events_without_geoip", |b| {
        b.iter(|| run(&plain, &lines, &mut out))
    });
    group.bench_function("mixed_events_with_geoip", |b| {
        b.iter(|| run(&enriched, &lines, &mut out))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
