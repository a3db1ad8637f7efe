//! The documentation's quick-start commands, run as written against the local services.
//! A fenced `sh` block preceded by `<!-- tested: NAME -->` in README.md or docs/*.md is
//! extracted and run with `sh -e`; every marked block must have a case here, and every case
//! a block. Two substitutions only: `cargo run --release --` becomes this build's binary
//! (the same code, without a second, release build), and each case's placeholders (a
//! deployment's URL, `<admin key>`, `https://…`) become the local node and a key (the test
//! nodes run without security, so any key is accepted).

mod support;

use std::collections::BTreeMap;
use std::process::Command;

use support::services::{self, Engine};

/// Every `<!-- tested: NAME -->` block: name → (file, script).
fn marked_blocks() -> BTreeMap<String, (String, String)> {
    let root = support::repo_root();
    let mut files = vec![root.join("README.md")];
    let mut docs: Vec<_> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    let mut blocks = BTreeMap::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            let Some(name) = line
                .trim()
                .strip_prefix("<!-- tested: ")
                .and_then(|rest| rest.strip_suffix(" -->"))
            else {
                continue;
            };
            let fence = lines.next().unwrap_or_default().trim();
            assert_eq!(
                fence, "```sh",
                "{name}: the marked block must follow its marker"
            );
            let script: Vec<&str> = lines
                .by_ref()
                .take_while(|l| l.trim() != "```")
                .map(str::trim)
                .collect();
            let shown = file.strip_prefix(root).unwrap().display().to_string();
            let previous = blocks.insert(name.to_owned(), (shown, script.join("\n")));
            assert!(previous.is_none(), "two blocks are marked {name}");
        }
    }
    blocks
}

/// Runs `script` from the repository root with the placeholders replaced and `env` set;
/// returns (exit code, stdout, stderr).
fn run(script: &str, placeholders: &[(&str, &str)], env: &[(&str, &str)]) -> (i32, String, String) {
    let binary = env!("CARGO_BIN_EXE_cursor-audit-forwarder");
    let mut script = script.replace("cargo run --release --", binary);
    for (placeholder, value) in placeholders {
        script = script.replace(placeholder, value);
    }
    let mut command = Command::new("sh");
    command
        .args(["-e", "-c", &script])
        .current_dir(support::repo_root());
    for key in [
        "ES_URL",
        "ES_CLOUD_ID",
        "ES_SECRET_ARN",
        "ES_API_KEY",
        "DATA_STREAM_NAMESPACE",
    ] {
        command.env_remove(key);
    }
    command.envs(services::aws_env());
    command.envs(env.iter().copied());
    let output = command.output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn sample_lines() -> usize {
    let text = std::fs::read_to_string(support::repo_root().join("events/sample.ndjson")).unwrap();
    text.lines().filter(|l| !l.trim().is_empty()).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_marked_command_of_the_documentation_runs_as_written() {
    let blocks = marked_blocks();
    let cases = [
        "quickstart-sample",
        "quickstart-setup",
        "elastic-setup",
        "opensearch-setup",
    ];
    let names: Vec<&str> = blocks.keys().map(String::as_str).collect();
    assert_eq!(names, {
        let mut sorted = cases.to_vec();
        sorted.sort_unstable();
        sorted
    });
    let script = |name: &str| blocks[name].1.clone();

    // The first command: no cluster, so it prints the documents.
    let (code, stdout, stderr) = run(&script("quickstart-sample"), &[], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.lines().count(), sample_lines(), "{stderr}");
    assert!(stderr.contains("dry_run=true"), "{stderr}");

    // The Elastic Cloud quick start's local part: setup, then the sample shipped.
    let engine = Engine::new();
    let namespace = services::unique_namespace("docquick");
    let (code, _, stderr) = run(
        &script("quickstart-setup"),
        &[
            (
                "https://my-deployment.es.eu-west-1.aws.elastic.cloud",
                &engine.url,
            ),
            ("<admin key>", "docs-test-id:docs-test-key"),
        ],
        &[("DATA_STREAM_NAMESPACE", &namespace)],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("installed index template"), "{stderr}");
    let stream = format!("logs-cursor.audit-{namespace}");
    engine.refresh(&stream).await;
    assert_eq!(
        engine.count(&stream).await,
        sample_lines() as u64,
        "{stderr}"
    );

    // The Elastic guide's `setup` (option B).
    let (code, _, stderr) = run(
        &script("elastic-setup"),
        &[
            ("ES_URL=https://…", &format!("ES_URL={}", engine.url)),
            ("ES_API_KEY=…", "ES_API_KEY=docs-test-id:docs-test-key"),
        ],
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("will normalize in the forwarder"),
        "{stderr}"
    );

    // The OpenSearch guide's `setup` with a user and password.
    let opensearch = services::opensearch_url();
    let (code, _, stderr) = run(
        &script("opensearch-setup"),
        &[
            ("https://opensearch.example.com:9200", &opensearch),
            ("ES_PASSWORD=…", "ES_PASSWORD=docs-test-password"),
        ],
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("OpenSearch"), "{stderr}");
}
