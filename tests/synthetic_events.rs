//! The synthetic event generator used by tests, benchmarks and the example: deterministic,
//! valid JSON, and every event normalizes without error.

mod support;

use serde_json::Value;
use support::synthetic::EventGenerator;

#[test]
fn deterministic_and_valid_json() {
    let a: Vec<String> = {
        let mut g = EventGenerator::new(7);
        (0..200).map(|_| g.next_line()).collect()
    };
    let mut g = EventGenerator::new(7);
    for line in &a {
        assert_eq!(line, &g.next_line());
        let value: Value = serde_json::from_str(line).unwrap();
        assert!(value.is_object());
    }
}

#[test]
fn normalizes_without_errors() {
    let normalizer = cursor_audit_forwarder::normalize::Normalizer::default();
    let mut g = EventGenerator::new(1);
    for _ in 0..2000 {
        let line = g.next_line();
        let n = normalizer.normalize_line(line.as_bytes()).unwrap();
        assert!(!n.has_error, "{line} → {:?}", n.to_value());
        assert!(n.id.is_some());
    }
}
