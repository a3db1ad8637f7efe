//! The release binary under cargo-lambda's local Lambda runtime (`cargo lambda watch`, from
//! the PyPI wheel in target/venv), invoked with the `events/` payloads; documents checked in
//! the engine.

mod support;

use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::services::{self, Engine};

const SAMPLE_KEY: &str = "2026/11/25/cursor-audit-20261125T1200Z.jsonl.gz";
const SAMPLE_BUCKET: &str = "cursor-audit-example";

/// Kills the whole `cargo lambda watch` process group when dropped.
struct Watch(Child);

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0.id())])
            .status();
        let _ = self.0.wait();
    }
}

fn cargo_lambda(args: &[&str]) -> Command {
    let venv_bin = support::repo_root().join("target/venv/bin");
    assert!(
        venv_bin.join("cargo-lambda").exists(),
        "cargo-lambda is missing: scripts/services.sh start installs it from tests/requirements.txt"
    );
    let path = format!(
        "{}:{}",
        venv_bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut command = Command::new("cargo");
    command
        .arg("lambda")
        .args(args)
        .current_dir(support::repo_root())
        .env("PATH", path);
    command
}

fn invoke(port: u16, event: &str) -> serde_json::Value {
    let output = cargo_lambda(&[
        "invoke",
        "-A",
        "127.0.0.1",
        "-P",
        &port.to_string(),
        "--data-file",
        event,
        "cursor-audit-forwarder",
    ])
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "invoke {event} failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|_| panic!("not JSON: {stdout}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handler_runs_under_the_local_lambda_runtime_with_the_events_payloads() {
    services::export_aws_env();
    let engine = Engine::new();
    let namespace = services::unique_namespace("lambda");
    let table = format!("progress-{namespace}");
    services::create_table(&table).await;
    let s3 = services::s3().await;
    services::create_bucket(&s3, SAMPLE_BUCKET).await;
    let sample =
        std::fs::read(support::repo_root().join("events/sample").join(SAMPLE_KEY)).unwrap();
    let lines = {
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::MultiGzDecoder::new(&sample[..]),
            &mut text,
        )
        .unwrap();
        text.lines().filter(|l| !l.trim().is_empty()).count() as u64
    };
    services::put_object(&s3, SAMPLE_BUCKET, SAMPLE_KEY, sample).await;
    let setup = support::run_cli(&["setup"], &[("ES_URL".into(), engine.url.clone())]);
    assert_eq!(setup.code, Some(0), "{}", setup.stderr);

    let dir = support::scratch_dir("lambda");
    let env_file = dir.join("lambda.env");
    let mut env = services::aws_env();
    env.push(("ES_URL".into(), engine.url.clone()));
    env.push(("DATA_STREAM_NAMESPACE".into(), namespace.clone()));
    env.push(("CHECKPOINT_TABLE".into(), table));
    env.push(("RUST_LOG".into(), "info".into()));
    std::fs::write(
        &env_file,
        env.iter()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect::<String>(),
    )
    .unwrap();

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = std::fs::File::create(dir.join("watch.log")).unwrap();
    let _watch = Watch(
        cargo_lambda(&[
            "watch",
            "--release",
            "--ignore-changes",
            "-A",
            "127.0.0.1",
            "-P",
            &port.to_string(),
            "--env-file",
            env_file.to_str().unwrap(),
        ])
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .stdin(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap(),
    );
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "cargo lambda watch did not start"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let stream = format!("logs-cursor.audit-{namespace}");

    let response =
        tokio::task::spawn_blocking(move || invoke(port, "events/sqs-s3-notification.json"))
            .await
            .unwrap();
    assert_eq!(
        response,
        serde_json::json!({"batchItemFailures": []}),
        "see {}",
        dir.display()
    );
    assert_eq!(engine.count(&stream).await, lines);

    // The same object announced directly by S3: already complete, nothing new.
    let response = tokio::task::spawn_blocking(move || invoke(port, "events/s3-put.json"))
        .await
        .unwrap();
    assert_eq!(response, serde_json::json!({"objects": 1}));
    assert_eq!(engine.count(&stream).await, lines);
}
