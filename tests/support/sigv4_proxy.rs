//! The SigV4-checking front door of tests/support/sigv4_proxy.py (botocore recomputes every
//! signature) in front of the OpenSearch node, run as a child process for one test.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// A running proxy; killed when dropped.
pub struct SigV4Proxy {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    log: PathBuf,
    child: Child,
}

/// What the proxy is started with.
pub struct ProxyOptions<'a> {
    /// The node behind it.
    pub upstream: &'a str,
    /// The region signatures must be scoped to.
    pub region: &'a str,
    /// Accepted credentials: `KEY_ID:SECRET` or `KEY_ID:SECRET:SESSION_TOKEN`.
    pub keys: &'a [&'a str],
    /// When set, `GET /credentials` issues temporary credentials living this many seconds.
    pub lifetime_seconds: Option<f64>,
    /// When set, issued credentials are refused this many seconds after they were issued,
    /// whatever expiry they advertise.
    pub accepted_seconds: Option<f64>,
    /// A pause before forwarding each `_bulk` request.
    pub bulk_delay_seconds: f64,
}

impl SigV4Proxy {
    /// Starts the proxy (with the test virtualenv's Python, which has botocore).
    pub fn start(name: &str, options: ProxyOptions<'_>) -> SigV4Proxy {
        let root = super::repo_root();
        let log = super::scratch_dir(name).join("sigv4-requests.jsonl");
        let _ = std::fs::remove_file(&log);
        let python = root.join("target/venv/bin/python");
        assert!(
            python.exists(),
            "{} is missing: run scripts/services.sh install (scripts/test.sh does)",
            python.display()
        );
        let mut command = Command::new(python);
        command
            .arg(root.join("tests/support/sigv4_proxy.py"))
            .args(["--upstream", options.upstream, "--region", options.region])
            .args(["--log", log.to_str().unwrap()])
            .args(["--bulk-delay", &options.bulk_delay_seconds.to_string()]);
        for key in options.keys {
            command.args(["--key", key]);
        }
        if let Some(lifetime) = options.lifetime_seconds {
            command.args(["--lifetime", &lifetime.to_string()]);
        }
        if let Some(accepted) = options.accepted_seconds {
            command.args(["--accepted-for", &accepted.to_string()]);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the SigV4 proxy");
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let port = first
            .trim()
            .strip_prefix("listening ")
            .unwrap_or_else(|| panic!("the SigV4 proxy did not start: {first:?}"));
        SigV4Proxy {
            url: format!("http://127.0.0.1:{port}"),
            log,
            child,
        }
    }

    /// Every request seen so far, one JSON object each (see the script for the fields).
    pub fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}

impl Drop for SigV4Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
