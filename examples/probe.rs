use std::time::Instant;
#[global_allocator]
static A: mimalloc::MiMalloc = mimalloc::MiMalloc;
fn main() {
    let text = std::fs::read_to_string("/tmp/ev.ndjson").unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let n = lines.len() as f64;
    let t = Instant::now();
    let mut total = 0usize;
    for l in &lines { let v: serde_json::Value = serde_json::from_str(l).unwrap(); total += v.as_object().unwrap().len(); }
    println!("parse Value: {:.2} us/event", t.elapsed().as_secs_f64() * 1e6 / n);
    let norm = cursor_audit_forwarder::normalize::Normalizer::default();
    let t = Instant::now();
    let mut docs = Vec::new();
    for l in &lines { let d = norm.normalize_line(l.as_bytes()).unwrap(); total += d.document.len(); }
    println!("normalize+drop (incl parse): {:.2} us/event", t.elapsed().as_secs_f64() * 1e6 / n);
    let t = Instant::now();
    for l in &lines[..20000] { let d = norm.normalize_line(l.as_bytes()).unwrap(); docs.push(d.document); }
    let n = 20000.0;
    let t = Instant::now();
    let mut buf = Vec::new();
    for d in &docs { buf.clear(); serde_json::to_writer(&mut buf, d).unwrap(); total += buf.len(); }
    println!("serialize: {:.2} us/event", t.elapsed().as_secs_f64() * 1e6 / n);
    let t = Instant::now();
    drop(docs);
    println!("drop: {:.2} us/event {total}", t.elapsed().as_secs_f64() * 1e6 / n);
}
