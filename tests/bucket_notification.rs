//! The bucket-notification custom resource of `template.yaml` (its inline Python, run with
//! the test virtualenv's boto3) against moto's S3: it adds only its own notification, keeps
//! the bucket's others, removes only its own, succeeds on Delete when its notification or
//! the bucket is already gone, and reports any other failure with its message.

mod support;

use support::services;

/// The inline code under `ZipFile: |` in template.yaml.
fn inline_code() -> String {
    let template = std::fs::read_to_string(support::repo_root().join("template.yaml")).unwrap();
    let mut lines = template
        .lines()
        .skip_while(|l| !l.trim_end().ends_with("ZipFile: |"));
    lines.next().expect("a ZipFile block");
    let body: Vec<&str> = lines
        .take_while(|l| l.trim().is_empty() || l.starts_with("          "))
        .collect();
    body.iter()
        .map(|l| l.get(10..).unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_custom_resource_adds_and_removes_only_its_own_notification() {
    services::export_aws_env();
    let bucket = format!("notify-{}", services::unique_namespace("cr")).to_lowercase();
    let s3 = services::s3().await;
    services::create_bucket(&s3, &bucket).await;
    let dir = support::scratch_dir("custom-resource");
    std::fs::write(dir.join("index.py"), inline_code()).unwrap();
    let python = support::repo_root().join("target/venv/bin/python");
    let driver = support::fixture("custom_resource/drive.py");
    let output = std::process::Command::new(python)
        .arg(driver)
        .arg(&dir)
        .arg(&bucket)
        .arg("arn:aws:sqs:us-east-1:123456789012:cursor-audit")
        .envs(services::aws_env())
        .env("AWS_DEFAULT_REGION", &services::env()["AWS_REGION"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The handler prints its own log lines; the driver's report is the last line.
    let report = stdout.lines().last().unwrap_or_default();
    let steps: serde_json::Value = serde_json::from_str(report).unwrap();
    let status = |step: &str| steps[step][0]["Status"].as_str().unwrap().to_owned();
    let ids = |step: &str| steps[step][1].clone();
    assert_eq!(status("create"), "SUCCESS", "{steps}");
    assert_eq!(
        ids("create"),
        serde_json::json!(["stack-cursor-audit-forwarder", "theirs"])
    );
    assert_eq!(status("delete"), "SUCCESS", "{steps}");
    assert_eq!(ids("delete"), serde_json::json!(["theirs"]));
    // Already gone: nothing to remove is a success, not DELETE_FAILED.
    assert_eq!(status("delete_again"), "SUCCESS", "{steps}");
    assert_eq!(ids("delete_again"), serde_json::json!(["theirs"]));
    assert_eq!(status("delete_no_bucket"), "SUCCESS", "{steps}");
    // Any other failure is reported with its message.
    assert_eq!(status("create_no_bucket"), "FAILED", "{steps}");
    let reason = steps["create_no_bucket"][0]["Reason"].as_str().unwrap();
    assert!(reason.contains("NoSuchBucket"), "{reason}");
}
