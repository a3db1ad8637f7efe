//! A benchmark, not part of the suite (`#[ignore]`; run by `scripts/bench-poll.sh`): the
//! first run backfills 30 days of 100,000 events through the release binary at the default
//! pace (18 requests/min) against the fake Admin API enforcing Cursor's 20 per rolling
//! minute, into the real engine. Prints the figures recorded in BENCHMARKS.md.

mod support;

use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use support::fake_cursor::{FakeCursorApi, api_event};
use support::services::{self, Engine};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a 13-minute benchmark; scripts/bench-poll.sh runs it"]
async fn backfill_30_days_of_100k_events_at_the_default_pace() {
    let events: usize = std::env::var("BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    services::export_aws_env();
    let engine = Engine::new();
    let namespace = services::unique_namespace("backfill-bench");
    let table = format!("poll-{namespace}");
    services::create_table(&table).await;
    let setup = support::run_cli(&["setup"], &[("ES_URL".into(), engine.url.clone())]);
    assert_eq!(setup.code, Some(0), "{}", setup.stderr);

    let api = FakeCursorApi::start("key_bench");
    // Spread over the servable 30 days (the poller starts one hour inside them).
    let now = Utc::now();
    let span = TimeDelta::days(30) - TimeDelta::hours(2);
    let types = [
        "login",
        "add_user",
        "team_settings",
        "remove_user",
        "team_api_key",
    ];
    api.add_events((0..events).map(|i| {
        let at = now - TimeDelta::minutes(1) - span * (i as i32) / (events as i32);
        api_event(&format!("bench-{i:06}"), at, types[i % types.len()])
    }));

    let binary = support::repo_root().join("target/release/cursor-audit-forwarder");
    assert!(
        binary.exists(),
        "build the release binary first (cargo build --release)"
    );
    let mut env = services::aws_env();
    for (k, v) in [
        ("ES_URL", engine.url.as_str()),
        ("DATA_STREAM_NAMESPACE", namespace.as_str()),
        ("CHECKPOINT_TABLE", table.as_str()),
        ("CURSOR_API_URL", api.url.as_str()),
        ("CURSOR_API_KEY", "key_bench"),
        ("CURSOR_INITIAL_LOOKBACK", "30d"),
        ("RUST_LOG", "warn"),
    ] {
        env.push((k.to_owned(), v.to_owned()));
    }
    let started = Instant::now();
    let output = std::process::Command::new(&binary)
        .args(["poll", "--once"])
        .env_clear()
        .envs(env)
        .output()
        .unwrap();
    let seconds = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let summary = stderr
        .lines()
        .rev()
        .find(|l| l.starts_with("summary:"))
        .unwrap_or_default()
        .to_owned();
    let requests = api.requests();
    let throttled = requests.iter().filter(|r| r.status == 429).count();
    let busiest_minute = api.max_requests_in_window(Duration::from_secs(60));
    let count = engine
        .count(&format!("logs-cursor.audit-{namespace}"))
        .await;
    println!(
        "backfill: events={events} indexed_in_engine={count} seconds={seconds:.1} requests={} \
         throttled={throttled} busiest_60s_window={busiest_minute} pace_configured=18\n{summary}",
        requests.len()
    );
    assert_eq!(count, events as u64);
    assert_eq!(throttled, 0);
    assert!(
        busiest_minute <= 18,
        "{busiest_minute} requests in one minute"
    );
}
