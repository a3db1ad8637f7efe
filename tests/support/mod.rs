//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod cargo_lambda;
pub mod edge_events;
pub mod fake_cursor;
pub mod fault_proxy;
pub mod hostile;
pub mod http;
pub mod oracle;
pub mod services;
pub mod sigv4_proxy;
pub mod synthetic;

use std::path::{Path, PathBuf};

use serde_json::Value;

/// One test per engine for a test body that takes the engine to run against:
/// `both_engines!(name, body)` makes a module `name` holding two tests, `elasticsearch`
/// (the Elasticsearch node) and `opensearch` (the OpenSearch node), each running
/// `body(engine).await` for its engine (`body` is an `async fn(Engine)` of the calling file).
/// Select one with `cargo test --test FILE name::opensearch`, both with `name::`.
#[macro_export]
macro_rules! both_engines {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn elasticsearch() {
                super::$body($crate::support::services::Engine::new()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn opensearch() {
                super::$body($crate::support::services::Engine::opensearch()).await;
            }
        }
    };
}

/// Serves connections on a free loopback port from a thread of its own (a current-thread
/// runtime, one task per connection) for as long as the test process lives; returns
/// `http://127.0.0.1:PORT`. The test servers (fault proxy, fake Admin API) are built on it.
pub fn serve_loopback<F, Fut>(handle: F) -> String
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    std_listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", std_listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        tokio::spawn(handle(stream));
                    }
                    // E.g. out of file descriptors: do not spin.
                    Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
                }
            }
        });
    });
    url
}

/// The repository root.
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A path under `tests/fixtures/`.
pub fn fixture(relative: &str) -> PathBuf {
    repo_root().join("tests/fixtures").join(relative)
}

/// The test City and ASN databases.
pub fn geoip_test_dbs() -> (PathBuf, PathBuf) {
    (
        fixture("geoip/GeoLite2-City-Test.mmdb"),
        fixture("geoip/GeoLite2-ASN-Test.mmdb"),
    )
}

/// One golden vector file: the raw lines and the expected documents.
pub struct GoldenCase {
    pub name: String,
    pub input: Vec<u8>,
    pub expected: Vec<Value>,
}

/// Every `*.log` with its `*.log-expected.json` in the golden fixture directories.
pub fn golden_cases() -> Vec<GoldenCase> {
    let mut cases = Vec::new();
    for dir in [
        "elastic-cursor-pipeline",
        "elastic-cursor-pipeline-upstream",
    ] {
        let mut logs: Vec<PathBuf> = std::fs::read_dir(fixture(dir))
            .expect("fixture directory")
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "log"))
            .collect();
        logs.sort();
        for log in logs {
            let expected_path = PathBuf::from(format!("{}-expected.json", log.display()));
            let expected: Value =
                serde_json::from_slice(&std::fs::read(&expected_path).expect("expected file"))
                    .expect("expected JSON");
            cases.push(GoldenCase {
                name: format!("{dir}/{}", log.file_name().unwrap().to_string_lossy()),
                input: std::fs::read(&log).expect("log file"),
                expected: expected["expected"]
                    .as_array()
                    .expect("expected list")
                    .clone(),
            });
        }
    }
    assert!(cases.len() >= 22, "golden fixtures missing");
    cases
}

/// One golden line as written by [`write_golden_file`]: its byte offset in that file, the
/// raw line, and the document Elastic's integration produced from it (`*-expected.json`).
pub struct GoldenLine {
    pub offset: u64,
    pub raw: String,
    pub expected: Value,
}

/// Writes every non-blank line of every golden fixture (in [`golden_cases`] order) to
/// `dir/name` as NDJSON (`\n` after each line, a trailing `\r` dropped); returns the path and
/// each line with its byte offset in that file and its golden document. The golden documents
/// were produced with `preserve_original_event` on and the test GeoIP databases.
pub fn write_golden_file(dir: &Path, name: &str) -> (PathBuf, Vec<GoldenLine>) {
    let mut text = Vec::new();
    let mut lines = Vec::new();
    for case in golden_cases() {
        let raw_lines: Vec<&[u8]> = case
            .input
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
            .collect();
        assert_eq!(
            raw_lines.len(),
            case.expected.len(),
            "{}: one expected document per non-blank line",
            case.name
        );
        for (raw, expected) in raw_lines.into_iter().zip(case.expected) {
            lines.push(GoldenLine {
                offset: text.len() as u64,
                raw: String::from_utf8(raw.to_vec()).expect("golden lines are UTF-8"),
                expected,
            });
            text.extend_from_slice(raw);
            text.push(b'\n');
        }
    }
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    (path, lines)
}

/// The `_id` of an event with this `event_id` (docs/normalization.md §9), computed here
/// independently: standard base64 (padded) of SHA-1 over the byte 0x00 and the id's UTF-8
/// bytes (the integration's fingerprint).
pub fn event_id_fingerprint(event_id: &str) -> String {
    use base64::Engine as _;
    use sha1::Digest as _;
    let mut digest = sha1::Sha1::new();
    digest.update([0u8]);
    digest.update(event_id.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(digest.finalize())
}

/// The fallback `_id` of a line without `event_id` read from a local file (§9): base64
/// SHA-1 of `file:<path>#<offset>`.
pub fn file_fallback_id(path: &str, offset: u64) -> String {
    use base64::Engine as _;
    use sha1::Digest as _;
    let mut digest = sha1::Sha1::new();
    digest.update(format!("file:{path}#{offset}"));
    base64::engine::general_purpose::STANDARD.encode(digest.finalize())
}

/// A readable description of where two JSON values differ.
pub fn json_diff(got: &Value, want: &Value, path: &str, out: &mut Vec<String>) {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => {
            for key in g.keys().chain(w.keys().filter(|k| !g.contains_key(*k))) {
                let sub = format!("{path}.{key}");
                match (g.get(key), w.get(key)) {
                    (Some(a), Some(b)) => json_diff(a, b, &sub, out),
                    (Some(a), None) => out.push(format!("{sub}: unexpected {a}")),
                    (None, Some(b)) => out.push(format!("{sub}: missing, want {b}")),
                    (None, None) => {}
                }
            }
        }
        _ if got != want => out.push(format!("{path}: got {got}, want {want}")),
        _ => {}
    }
}

/// A fresh scratch directory under `target/test-scratch/`.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = repo_root()
        .join("target/test-scratch")
        .join(services::unique_namespace(name));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Writes `lines` as NDJSON, gzip-compressed when `gzip`; returns the path.
pub fn write_events(dir: &Path, name: &str, lines: &[String], gzip: bool) -> PathBuf {
    use std::io::Write;
    let path = dir.join(name);
    let mut text = Vec::new();
    for line in lines {
        text.extend_from_slice(line.as_bytes());
        text.push(b'\n');
    }
    let bytes = if gzip {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(&text).unwrap();
        encoder.finish().unwrap()
    } else {
        text
    };
    std::fs::write(&path, bytes).unwrap();
    path
}

/// The result of running the binary.
pub struct CliRun {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl CliRun {
    /// The value of `key=` in the summary line.
    pub fn summary(&self, key: &str) -> u64 {
        let line = self
            .stderr
            .lines()
            .rev()
            .find(|l| l.starts_with("summary:"))
            .unwrap_or_else(|| panic!("no summary line in:\n{}", self.stderr));
        line.split_whitespace()
            .find_map(|part| part.strip_prefix(&format!("{key}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {line}"))
    }
}

/// Runs the binary with exactly these environment variables (logging at `warn`).
pub fn run_cli(args: &[&str], env: &[(String, String)]) -> CliRun {
    let mut env = env.to_vec();
    env.retain(|(k, _)| k != "RUST_LOG");
    env.push(("RUST_LOG".into(), "warn".into()));
    run_cli_exact(args, &env)
}

/// Runs the binary with exactly these environment variables, `RUST_LOG` included.
pub fn run_cli_exact(args: &[&str], env: &[(String, String)]) -> CliRun {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_cursor-audit-forwarder"))
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("run the binary");
    CliRun {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Starts the binary in the background with `args` and exactly these environment
/// variables (`RUST_LOG=warn`), its output discarded: for a test that kills it midway.
pub fn spawn_cli(args: &[&str], env: &[(String, String)]) -> std::process::Child {
    use std::process::{Command, Stdio};
    Command::new(env!("CARGO_BIN_EXE_cursor-audit-forwarder"))
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the binary")
}

/// Runs the binary with `args`, exactly these environment variables and `input` on stdin.
pub fn run_with_stdin(args: &[&str], env: &[(&str, &str)], input: &[u8]) -> std::process::Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_cursor-audit-forwarder"))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the binary");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        // The command may exit before reading (bad flags): ignore a broken pipe.
        let _ = stdin.write_all(&input);
    });
    let output = child.wait_with_output().expect("wait for the binary");
    writer.join().expect("stdin writer");
    output
}
