//! `cargo lambda watch` (from the PyPI wheel in target/venv) as a local Lambda runtime for a
//! test: started once with an environment file, invoked over HTTP, killed (with its process
//! group) when dropped.

use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The function's name under the local runtime (the binary's).
pub const FUNCTION: &str = "cursor-audit-forwarder";

/// A running `cargo lambda watch`; killed with its process group when dropped.
pub struct Watch {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

/// True for the variables `cargo test` sets for a test process (not the user's settings):
/// build scripts watching them would rebuild the binary.
fn inherited_from_cargo_test(name: &str) -> bool {
    const EXACT: [&str; 8] = [
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
        "CARGO_MANIFEST_LINKS",
        "CARGO_CRATE_NAME",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_TMPDIR",
        "CARGO_RUSTC_CURRENT_DIR",
        "OUT_DIR",
    ];
    EXACT.contains(&name) || name.starts_with("CARGO_PKG_") || name.starts_with("CARGO_BIN_")
}

/// `cargo lambda ARGS` from the venv's cargo-lambda, in the repository, without the
/// variables `cargo test` gives this process (build scripts that declare
/// `rerun-if-env-changed` on them, ring's among them, would rebuild the binary).
pub fn command(args: &[&str]) -> Command {
    let venv_bin = super::repo_root().join("target/venv/bin");
    assert!(
        venv_bin.join("cargo-lambda").exists(),
        "cargo-lambda is missing: scripts/services.sh start installs it from tests/requirements.txt"
    );
    let mut command = Command::new("cargo");
    command
        .arg("lambda")
        .args(args)
        .current_dir(super::repo_root())
        .env(
            "PATH",
            format!(
                "{}:{}",
                venv_bin.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        );
    for (name, _) in std::env::vars_os() {
        if inherited_from_cargo_test(&name.to_string_lossy()) {
            command.env_remove(&name);
        }
    }
    command
}

/// Starts `cargo lambda watch` (the dev profile: the binary `cargo test` built) with the
/// variables of `env`, logging to `dir/watch.log`; waits until it listens.
pub fn watch(env: &[(String, String)], dir: &Path) -> Watch {
    watch_profile(env, dir, false)
}

/// [`watch`] on the release binary (`scripts/test.sh` builds it first).
pub fn watch_release(env: &[(String, String)], dir: &Path) -> Watch {
    watch_profile(env, dir, true)
}

fn watch_profile(env: &[(String, String)], dir: &Path, release: bool) -> Watch {
    let env_file = dir.join("lambda.env");
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
    let port_text = port.to_string();
    let env_path = env_file.to_string_lossy().into_owned();
    let mut args = vec!["watch"];
    if release {
        args.push("--release");
    }
    args.extend([
        "--ignore-changes",
        "-A",
        "127.0.0.1",
        "-P",
        &port_text,
        "--env-file",
        &env_path,
    ]);
    let child = command(&args)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .stdin(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let watch = Watch { child, port };
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "cargo lambda watch did not start"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    watch
}

impl Watch {
    /// Invokes the function with `event`; returns what it answered (its result, or the
    /// runtime's error document).
    pub async fn invoke(&self, event: &serde_json::Value) -> serde_json::Value {
        let url = format!(
            "http://127.0.0.1:{}/2015-03-31/functions/{FUNCTION}/invocations",
            self.port
        );
        let response = reqwest::Client::new()
            .post(url)
            .timeout(Duration::from_secs(900))
            .json(event)
            .send()
            .await
            .unwrap();
        let text = response.text().await.unwrap();
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    }
}
