//! The Admin API poller end to end: the release binary's `poll --once` against the fake
//! Cursor Admin API (tests/support/fake_cursor.rs), DynamoDB and Secrets Manager in moto,
//! and the real search engine.

mod support;

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, TimeDelta, Utc};
use support::fake_cursor::{ApiRequest, CursorFault, FakeCursorApi, FaultWhen, Gate, api_event};
use support::services::{self, Engine};
use support::{CliRun, run_cli, spawn_cli};

use cursor_audit_forwarder::admin_api::{
    ApiKey, ApiKeySource, CursorApiClient, CursorApiError, CursorApiSettings, Window, api_backoff,
};

const API_KEY: &str = "key_0123456789abcdef";

/// One poller under test: its own namespace, table and fake API.
struct Fixture {
    api: FakeCursorApi,
    engine: Engine,
    namespace: String,
    table: String,
}

fn setup_templates_once(engine: &Engine) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let run = run_cli(&["setup"], &[("ES_URL".into(), engine.url.clone())]);
        assert_eq!(run.code, Some(0), "setup failed: {}", run.stderr);
    });
}

impl Fixture {
    async fn new(name: &str) -> Fixture {
        services::export_aws_env();
        let engine = Engine::new();
        setup_templates_once(&engine);
        let namespace = services::unique_namespace(name);
        let table = format!("poll-{namespace}");
        services::create_table(&table).await;
        let api = FakeCursorApi::start(API_KEY);
        // Most tests are about paging, not pacing: a fast pace and a roomy limit.
        api.set_rate_limit(10_000, Duration::from_secs(60));
        Fixture {
            api,
            engine,
            namespace,
            table,
        }
    }

    fn stream(&self) -> String {
        format!("logs-cursor.audit-{}", self.namespace)
    }

    fn env(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let settings = [
            ("ES_URL", self.engine.url.as_str()),
            ("DATA_STREAM_NAMESPACE", &self.namespace),
            ("CHECKPOINT_TABLE", &self.table),
            ("CURSOR_API_URL", &self.api.url),
            ("CURSOR_API_KEY", API_KEY),
            ("CURSOR_REQUESTS_PER_MINUTE", "6000"),
            ("CURSOR_LEASE_SECONDS", "3"),
        ];
        services::aws_env_with(&settings, extra)
    }

    fn poll(&self, extra: &[(&str, &str)]) -> CliRun {
        run_cli(&["poll", "--once"], &self.env(extra))
    }

    /// The poller's item `poll#<namespace>#all#<kind>`, read consistently (`None` if absent).
    async fn poll_item(&self, kind: &str) -> Option<HashMap<String, AttributeValue>> {
        let client = aws_sdk_dynamodb::Client::new(&services::moto_config().await);
        client
            .get_item()
            .table_name(&self.table)
            .key(
                "pk",
                AttributeValue::S(format!("poll#{}#all#{kind}", self.namespace)),
            )
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
    }

    async fn checkpoint(&self) -> HashMap<String, AttributeValue> {
        self.poll_item("checkpoint").await.unwrap_or_default()
    }

    /// The lease item (`poll#<namespace>#all#lease`).
    async fn lease(&self) -> HashMap<String, AttributeValue> {
        self.poll_item("lease").await.expect("a lease item")
    }

    /// Lets a lease run out without waiting: its expiry becomes a moment ago, as if the
    /// clock had passed it (only if it still has the expiry `expected_ms`).
    async fn expire_lease(&self, expected_ms: i64) {
        let client = aws_sdk_dynamodb::Client::new(&services::moto_config().await);
        client
            .update_item()
            .table_name(&self.table)
            .key(
                "pk",
                AttributeValue::S(format!("poll#{}#all#lease", self.namespace)),
            )
            .update_expression("SET expires_at = :past")
            .condition_expression("expires_at = :expected")
            .expression_attribute_values(
                ":past",
                AttributeValue::N((Utc::now().timestamp_millis() - 1).to_string()),
            )
            .expression_attribute_values(":expected", AttributeValue::N(expected_ms.to_string()))
            .send()
            .await
            .expect("expire the lease");
    }

    /// The scheduled handler's settings for this fixture (cluster, table, fake API and its
    /// key), plus `extra` flags.
    fn lambda_args(&self, extra: &[&str]) -> cursor_audit_forwarder::config::LambdaArgs {
        use clap::Parser;
        let mut argv = vec![
            "lambda",
            "--es-url",
            &self.engine.url,
            "--namespace",
            &self.namespace,
            "--checkpoint-table",
            &self.table,
            "--cursor-api-url",
            &self.api.url,
            "--cursor-api-key",
            API_KEY,
        ];
        argv.extend_from_slice(extra);
        cursor_audit_forwarder::config::LambdaArgs::try_parse_from(argv).unwrap()
    }

    /// A checkpoint that has collected everything before `until` (lease generation 0).
    async fn put_collected_until(&self, until: DateTime<Utc>) {
        self.put_checkpoint(&[
            ("collected_until", AttributeValue::S(until.to_rfc3339())),
            ("generation", AttributeValue::N("0".into())),
        ])
        .await;
    }

    async fn put_checkpoint(&self, item: &[(&str, AttributeValue)]) {
        let client = aws_sdk_dynamodb::Client::new(&services::moto_config().await);
        let mut request = client.put_item().table_name(&self.table).item(
            "pk",
            AttributeValue::S(format!("poll#{}#all#checkpoint", self.namespace)),
        );
        for (k, v) in item {
            request = request.item(*k, v.clone());
        }
        request.send().await.unwrap();
    }
}

fn time_attr(item: &HashMap<String, AttributeValue>, name: &str) -> Option<DateTime<Utc>> {
    let text = item.get(name)?.as_s().ok()?;
    Some(
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc),
    )
}

fn number_attr(item: &HashMap<String, AttributeValue>, name: &str) -> Option<u64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

fn parse_time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|_| panic!("not RFC 3339: {text}"))
        .with_timezone(&Utc)
}

fn window_of(request: &ApiRequest) -> (DateTime<Utc>, DateTime<Utc>) {
    (
        parse_time(request.start_time.as_deref().expect("startTime")),
        parse_time(request.end_time.as_deref().expect("endTime")),
    )
}

/// `count` events spread evenly over `span` ending `end_ago` before now.
fn events_between(
    prefix: &str,
    count: usize,
    span: TimeDelta,
    end_ago: TimeDelta,
) -> Vec<serde_json::Value> {
    let end = Utc::now() - end_ago;
    let types = [
        "login",
        "add_user",
        "team_settings",
        "remove_user",
        "update_user_role",
    ];
    (0..count)
        .map(|i| {
            let at = end - span * (i as i32) / (count.max(1) as i32);
            api_event(&format!("{prefix}-{i:05}"), at, types[i % types.len()])
        })
        .collect()
}

fn summary_text(run: &CliRun) -> &str {
    run.stderr
        .lines()
        .rev()
        .find(|l| l.starts_with("summary:"))
        .unwrap_or_else(|| panic!("no summary line in:\n{}", run.stderr))
}

/// A resumed run asks for no page of the interrupted window before `first_page`; the only
/// events it sees twice are those of the overlap window the run reads afterwards.
fn assert_resumed_without_rereading(
    later: &[ApiRequest],
    window: (DateTime<Utc>, DateTime<Utc>),
    first_page: u32,
    run: &CliRun,
) {
    for request in later.iter().filter(|r| window_of(r) == window) {
        assert!(request.page >= Some(first_page), "re-read {request:?}");
    }
    let overlap: Vec<&ApiRequest> = later.iter().filter(|r| window_of(r) != window).collect();
    assert_eq!(overlap.len(), 1, "one overlap window after the resumed one");
    assert!(window_of(overlap[0]).0 < window.1);
    assert_eq!(run.summary("duplicates"), overlap[0].events_returned as u64);
}

fn assert_ok(run: &CliRun) {
    assert_eq!(run.code, Some(0), "poll failed:\n{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_run_backfills_in_contiguous_windows_then_steady_state_reads_only_the_overlap() {
    let f = Fixture::new("backfill").await;
    // 150 events over the last 6 days; 7 days of lookback; 1-day windows of 20-event pages.
    f.api.add_events(events_between(
        "bf",
        150,
        TimeDelta::days(6),
        TimeDelta::minutes(1),
    ));
    let before = Utc::now();
    let run = f.poll(&[
        ("CURSOR_INITIAL_LOOKBACK", "7d"),
        ("CURSOR_PAGE_SIZE", "20"),
    ]);
    assert_ok(&run);
    assert_eq!(run.summary("indexed"), 150);
    assert_eq!(run.summary("failed"), 0);
    assert_eq!(f.engine.count(&f.stream()).await, 150);

    let requests = f.api.requests();
    assert!(requests.iter().all(|r| r.status == 200));
    assert!(requests.iter().all(|r| r.page_size == Some(20)));
    let (first_start, _) = window_of(&requests[0]);
    let lookback = before - first_start;
    assert!(
        lookback >= TimeDelta::days(7) - TimeDelta::seconds(5) && lookback <= TimeDelta::days(7),
        "first window starts {lookback} back"
    );
    // Windows tile time: each at most a day, each starting where the previous ended, the
    // last ending at the run's start; pages of a window share its fixed endTime.
    let windows: Vec<(DateTime<Utc>, DateTime<Utc>)> = requests
        .iter()
        .filter(|r| r.page == Some(1))
        .map(window_of)
        .collect();
    assert_eq!(windows.len(), 7, "{windows:?}");
    for pair in windows.windows(2) {
        assert_eq!(pair[0].1, pair[1].0, "a gap or overlap between windows");
    }
    for (start, end) in &windows {
        assert!(*end - *start <= TimeDelta::days(1));
    }
    for request in &requests {
        let window = window_of(request);
        assert!(windows.contains(&window), "page of an unknown window");
    }
    let pages_total: usize = requests.len();
    assert!(
        pages_total > windows.len(),
        "some windows need several pages"
    );

    let checkpoint = f.checkpoint().await;
    let collected = time_attr(&checkpoint, "collected_until").expect("collected_until");
    assert_eq!(collected, windows.last().unwrap().1);
    assert!(
        !checkpoint.contains_key("window_start"),
        "no window left open"
    );

    // Steady state: three new events; the next run reads one window from the checkpoint
    // minus the 5-minute overlap, in one request.
    f.api.add_events(events_between(
        "new",
        3,
        TimeDelta::seconds(3),
        TimeDelta::seconds(1),
    ));
    let seen = f.api.requests().len();
    let run = f.poll(&[("CURSOR_PAGE_SIZE", "20")]);
    assert_ok(&run);
    assert_eq!(run.summary("indexed"), 3);
    assert_eq!(run.summary("requests"), 1);
    let steady = &f.api.requests()[seen];
    let (start, _) = window_of(steady);
    assert_eq!(start, collected - TimeDelta::minutes(5));
    assert_eq!(f.engine.count(&f.stream()).await, 153);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_pages_of_one_window_share_its_fixed_end() {
    let f = Fixture::new("pages").await;
    f.api.add_events(events_between(
        "p",
        25,
        TimeDelta::minutes(50),
        TimeDelta::minutes(2),
    ));
    let run = f.poll(&[
        ("CURSOR_INITIAL_LOOKBACK", "2h"),
        ("CURSOR_PAGE_SIZE", "10"),
    ]);
    assert_ok(&run);
    let requests = f.api.requests();
    let pages: Vec<Option<u32>> = requests.iter().map(|r| r.page).collect();
    assert_eq!(pages, [Some(1), Some(2), Some(3)]);
    let windows: BTreeSet<_> = requests.iter().map(window_of).collect();
    assert_eq!(windows.len(), 1, "startTime/endTime changed between pages");
    assert_eq!(run.summary("indexed"), 25);
    assert_eq!(run.summary("pages"), 3);
    // Every event is there once, under its event_id.
    let ids: BTreeSet<String> = f
        .engine
        .all_documents(&f.stream())
        .await
        .into_iter()
        .map(|(_, doc)| doc["event"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 25);
    assert!(ids.contains("p-00000") && ids.contains("p-00024"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_storm_is_waited_out_honouring_retry_after() {
    let f = Fixture::new("storm").await;
    f.api.add_events(events_between(
        "s",
        25,
        TimeDelta::minutes(30),
        TimeDelta::minutes(2),
    ));
    // Page 2: one 429 without Retry-After (1 s backoff), then three asking for 1 s.
    f.api.inject(
        FaultWhen::Page(2),
        CursorFault::TooManyRequests { retry_after: None },
        1,
    );
    f.api.inject(
        FaultWhen::Page(2),
        CursorFault::TooManyRequests {
            retry_after: Some("1".into()),
        },
        3,
    );
    let run = f.poll(&[
        ("CURSOR_INITIAL_LOOKBACK", "1h"),
        ("CURSOR_PAGE_SIZE", "10"),
    ]);
    assert_ok(&run);
    assert_eq!(run.summary("indexed"), 25);
    assert_eq!(run.summary("throttled"), 4);
    let page2: Vec<ApiRequest> = f
        .api
        .requests()
        .into_iter()
        .filter(|r| r.page == Some(2))
        .collect();
    assert_eq!(page2.len(), 5);
    assert_eq!(page2.iter().filter(|r| r.status == 429).count(), 4);
    for pair in page2.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(gap >= Duration::from_millis(950), "retried after {gap:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pacing_stays_under_the_team_limit_without_any_429() {
    let f = Fixture::new("pace").await;
    // The 20-per-minute rule with time scaled down tenfold: 20 per 6 s, paced at 180/min,
    // the default pace (18 per minute) scaled the same way. Paced at the limit itself
    // (200/min), the pacer's 500 ms guard per minute scales down to 50 ms between the 1st
    // and 21st arrival: scheduling jitter of a loaded machine exceeds that and a correct
    // pacer got a 429. At 180/min twenty intervals take 6.7 s, 0.7 s clear of the window;
    // a client that does not pace still sends its 30 requests within a few 6 s windows.
    f.api.set_rate_limit(20, Duration::from_secs(6));
    f.api.add_events(events_between(
        "r",
        60,
        TimeDelta::minutes(40),
        TimeDelta::minutes(2),
    ));
    let started = Instant::now();
    let run = f.poll(&[
        ("CURSOR_INITIAL_LOOKBACK", "1h"),
        ("CURSOR_PAGE_SIZE", "2"),
        ("CURSOR_REQUESTS_PER_MINUTE", "180"),
    ]);
    assert_ok(&run);
    assert_eq!(run.summary("indexed"), 60);
    assert_eq!(run.summary("throttled"), 0);
    assert_eq!(f.api.requests().len(), 30);
    assert!(f.api.max_requests_in_window(Duration::from_secs(6)) <= 20);
    assert!(
        started.elapsed() >= Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_mid_window_is_retried_and_when_it_persists_the_next_run_resumes_there() {
    let f = Fixture::new("fivehundred").await;
    f.api.add_events(events_between(
        "e",
        25,
        TimeDelta::minutes(30),
        TimeDelta::minutes(2),
    ));
    f.api
        .inject(FaultWhen::Page(2), CursorFault::Status(500), 2);
    let run = f.poll(&[
        ("CURSOR_INITIAL_LOOKBACK", "1h"),
        ("CURSOR_PAGE_SIZE", "10"),
    ]);
    assert_ok(&run);
    assert_eq!(run.summary("indexed"), 25);
    assert_eq!(f.api.requests().len(), 5);

    // A 503 that outlasts the retry budget (1 s backoff, then 2 s would pass 2 s).
    let g = Fixture::new("fivehundred-persist").await;
    g.api.add_events(events_between(
        "g",
        25,
        TimeDelta::minutes(30),
        TimeDelta::minutes(2),
    ));
    g.api
        .inject(FaultWhen::Page(2), CursorFault::Status(503), 2);
    let env = [
        ("CURSOR_INITIAL_LOOKBACK", "1h"),
        ("CURSOR_PAGE_SIZE", "10"),
        ("CURSOR_RETRY_TIMEOUT_SECONDS", "2"),
    ];
    let run = g.poll(&env);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(summary_text(&run).contains("outcome=failed"));
    assert!(run.stderr.contains("503"), "{}", run.stderr);
    let checkpoint = g.checkpoint().await;
    assert_eq!(number_attr(&checkpoint, "next_page"), Some(2));
    assert_eq!(number_attr(&checkpoint, "events_acknowledged"), Some(10));
    assert!(!checkpoint.contains_key("collected_until"));
    assert_eq!(g.engine.count(&g.stream()).await, 10);
    let failed_window = window_of(&g.api.requests()[0]);

    let seen = g.api.requests().len();
    let run = g.poll(&env);
    assert_ok(&run);
    let later = &g.api.requests()[seen..];
    assert_eq!(later[0].page, Some(2));
    assert_eq!(window_of(&later[0]), failed_window);
    assert_resumed_without_rereading(later, failed_window, 2, &run);
    assert_eq!(run.summary("indexed"), 15);
    assert_eq!(g.engine.count(&g.stream()).await, 25);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_page_2_resumes_at_page_3_without_loss_or_duplicates() {
    let f = Fixture::new("crash").await;
    f.api.add_events(events_between(
        "c",
        30,
        TimeDelta::minutes(30),
        TimeDelta::minutes(2),
    ));
    f.api.inject(
        FaultWhen::Page(3),
        CursorFault::Delay(Duration::from_secs(30)),
        1,
    );
    // A 600 s lease: the crashed run's lease is certainly still valid when the next run
    // starts, however slow the machine (with 3 s, renewed every 1 s, a debug build
    // starting under load could find it expired). Its expiry is then reached by moving the
    // stored expiry into the past, not by waiting.
    let env = [
        ("CURSOR_INITIAL_LOOKBACK", "1h"),
        ("CURSOR_PAGE_SIZE", "10"),
        ("CURSOR_LEASE_SECONDS", "600"),
    ];
    let mut child = spawn_cli(&["poll", "--once"], &f.env(&env));
    let started = Instant::now();
    while !f.api.requests().iter().any(|r| r.page == Some(3)) {
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "page 3 never requested"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The process dies while page 3 is in flight (pages 1 and 2 were acknowledged).
    child.kill().unwrap();
    child.wait().unwrap();
    let killed_at = Utc::now();
    let checkpoint = f.checkpoint().await;
    assert_eq!(number_attr(&checkpoint, "next_page"), Some(3));
    assert_eq!(number_attr(&checkpoint, "events_acknowledged"), Some(20));
    assert_eq!(f.engine.count(&f.stream()).await, 20);
    let crashed_window = window_of(&f.api.requests()[0]);

    // Its lease is still valid for a moment: a run now does nothing, cleanly.
    let seen = f.api.requests().len();
    let run = f.poll(&env);
    assert_ok(&run);
    assert!(
        summary_text(&run).contains("outcome=lease_held"),
        "{}",
        run.stderr
    );
    assert_eq!(f.api.requests().len(), seen);

    // The lease the crashed run left: taken for the configured 600 s (renewed at most
    // every 200 s), so it expires between 400 and 600 s after the crash, never later.
    let lease = f.lease().await;
    let expires_at = number_attr(&lease, "expires_at").expect("lease expiry") as i64;
    let expires_in = expires_at - killed_at.timestamp_millis();
    assert!(
        (390_000..=600_000).contains(&expires_in),
        "the lease expires {expires_in} ms after the crash: {lease:?}"
    );

    // Once it expires, the next run resumes at page 3 of the same window. The expiry is
    // reached by setting the stored expiry to a moment just past (what 600 s of waiting
    // would do), so the test needs no sleep sized for the machine's speed.
    f.expire_lease(expires_at).await;
    let run = f.poll(&env);
    assert_ok(&run);
    let later = &f.api.requests()[seen..];
    assert_eq!(later[0].page, Some(3));
    assert_eq!(window_of(&later[0]), crashed_window);
    assert_resumed_without_rereading(later, crashed_window, 3, &run);
    assert_eq!(run.summary("indexed"), 10);
    assert_eq!(f.engine.count(&f.stream()).await, 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_event_inside_the_overlap_is_indexed_once() {
    let f = Fixture::new("late").await;
    f.api.add_events(events_between(
        "l",
        5,
        TimeDelta::minutes(20),
        TimeDelta::minutes(1),
    ));
    let run = f.poll(&[("CURSOR_INITIAL_LOOKBACK", "1h")]);
    assert_ok(&run);
    assert_eq!(run.summary("indexed"), 5);
    let collected = time_attr(&f.checkpoint().await, "collected_until").unwrap();
    // Cursor records an event two minutes before the checkpoint, after the first poll.
    let late = api_event("late-1", collected - TimeDelta::minutes(2), "add_user");
    let next_request = f.api.requests().len() + 1;
    f.api.add_late_events([late], next_request);
    let run = f.poll(&[]);
    assert_ok(&run);
    assert_eq!(run.summary("indexed"), 1);
    let run = f.poll(&[]);
    assert_ok(&run);
    assert_eq!(run.summary("indexed"), 0);
    let docs = f.engine.all_documents(&f.stream()).await;
    assert_eq!(docs.len(), 6);
    assert_eq!(
        docs.iter()
            .filter(|(_, doc)| doc["event"]["id"] == "late-1")
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_older_than_30_days_is_clamped_and_the_loss_is_logged() {
    let f = Fixture::new("clamp").await;
    let now = Utc::now();
    f.put_collected_until(now - TimeDelta::days(40)).await;
    f.api.add_events([
        api_event("old-1", now - TimeDelta::days(29), "login"),
        api_event("new-1", now - TimeDelta::hours(3), "login"),
    ]);
    let run = f.poll(&[("CURSOR_MAX_WINDOW", "30d")]);
    assert_ok(&run);
    assert_eq!(run.summary("indexed"), 2);
    assert!(
        run.stderr
            .contains("older than the Admin API's 30-day retention"),
        "{}",
        run.stderr
    );
    let requests = f.api.requests();
    assert!(requests.iter().all(|r| r.status == 200));
    let (start, end) = window_of(&requests[0]);
    let floor = now - TimeDelta::days(30);
    assert!(
        start > floor && start < floor + TimeDelta::hours(2),
        "{start}"
    );
    assert!(end - start <= TimeDelta::days(30));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pollers_started_together_one_polls_and_the_other_exits_cleanly() {
    let f = Fixture::new("twins").await;
    f.api.add_events(events_between(
        "t",
        30,
        TimeDelta::minutes(30),
        TimeDelta::minutes(2),
    ));
    // Whichever poller takes the lease is held at its first request until the other one has
    // finished, so the other always finds the lease taken, however slowly either process
    // starts on a loaded machine (slow answers of 700 ms used to stand in for that). A 60 s
    // lease (renewed every 20 s) cannot run out while it is held.
    let gate = Gate::new();
    f.api
        .inject(FaultWhen::AnyRequest, CursorFault::Hold(gate.clone()), 1);
    let env = f.env(&[
        ("CURSOR_INITIAL_LOOKBACK", "1h"),
        ("CURSOR_PAGE_SIZE", "10"),
        ("CURSOR_LEASE_SECONDS", "60"),
    ]);
    let runs: Vec<CliRun> = std::thread::scope(|scope| {
        let (done, finished) = std::sync::mpsc::channel();
        for _ in 0..2 {
            let (done, env) = (done.clone(), &env);
            scope.spawn(move || done.send(run_cli(&["poll", "--once"], env)).unwrap());
        }
        // Both started together; the first to finish cannot be the one held at the gate.
        let first = finished.recv_timeout(Duration::from_secs(300));
        // Opened in any case, so that a failing test does not wait forever for the held one.
        gate.open();
        let first = first.expect("neither poller finished while the first request was held");
        vec![first, finished.recv().unwrap()]
    });
    for run in &runs {
        assert_ok(run);
    }
    // The one that finished first stood aside without a single request.
    assert!(
        summary_text(&runs[0]).contains("outcome=lease_held"),
        "{}",
        runs[0].stderr
    );
    let held: Vec<&CliRun> = runs
        .iter()
        .filter(|r| summary_text(r).contains("outcome=lease_held"))
        .collect();
    assert_eq!(held.len(), 1, "exactly one poller must stand aside");
    assert_eq!(held[0].summary("requests"), 0);
    assert_eq!(f.api.requests().len(), 3);
    assert_eq!(f.engine.count(&f.stream()).await, 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejections_fail_with_cursors_message_and_the_checkpoint_stays() {
    let f = Fixture::new("reject").await;
    f.api.add_events(events_between(
        "x",
        3,
        TimeDelta::minutes(5),
        TimeDelta::minutes(1),
    ));
    f.api
        .inject(FaultWhen::AnyRequest, CursorFault::Status(403), 1);
    let run = f.poll(&[]);
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr.contains("Enterprise access required"),
        "{}",
        run.stderr
    );
    assert_eq!(f.api.requests().len(), 1, "403 is not retried");
    assert!(!f.checkpoint().await.contains_key("collected_until"));
    f.api
        .inject(FaultWhen::AnyRequest, CursorFault::Status(400), 1);
    let run = f.poll(&[]);
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr.contains("rejected") && run.stderr.contains("(400)"),
        "{}",
        run.stderr
    );
    assert_eq!(f.api.requests().len(), 2, "400 is not retried");
    // A wrong plain key is refused at once: nothing to re-read.
    let run = f.poll(&[("CURSOR_API_KEY", "key_wrong")]);
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("Invalid API key"), "{}", run.stderr);
    assert!(run.stderr.contains("CURSOR_API_KEY"), "{}", run.stderr);
    // No key at all is a configuration error naming the variables.
    let mut env = f.env(&[]);
    env.retain(|(k, _)| k != "CURSOR_API_KEY");
    let run = run_cli(&["poll", "--once"], &env);
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr.contains("CURSOR_API_KEY_SECRET_ARN"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_comes_from_a_secret_once_and_is_reread_once_after_a_401() {
    services::export_aws_env();
    let api = FakeCursorApi::start("key_one");
    api.add_events([api_event(
        "k-1",
        Utc::now() - TimeDelta::minutes(3),
        "login",
    )]);
    let name = format!("cursor-key-{}", services::unique_namespace("secret"));
    let arn = services::create_secret(&name, r#"{"api_key": "key_one"}"#).await;
    let secrets = services::secrets().await;
    let client = CursorApiClient::new(
        CursorApiSettings {
            base_url: api.url.clone(),
            page_size: 500,
            event_types: None,
            requests_per_minute: 6000,
            request_timeout: Duration::from_secs(5),
            backoff: api_backoff(),
        },
        ApiKey::new(ApiKeySource::Secret {
            client: secrets.clone(),
            arn: arn.clone(),
        }),
    )
    .unwrap();
    let now = Utc::now();
    let window = Window {
        start: now - TimeDelta::hours(1),
        end: now,
    };
    let far = tokio::time::Instant::now() + Duration::from_secs(30);
    assert_eq!(
        client
            .fetch_page(&window, 1, far)
            .await
            .unwrap()
            .events
            .len(),
        1
    );
    // The key is cached: changing the secret alone changes nothing...
    secrets
        .put_secret_value()
        .secret_id(&arn)
        .secret_string("key_two")
        .send()
        .await
        .unwrap();
    assert!(client.fetch_page(&window, 1, far).await.is_ok());
    // ...until Cursor refuses the old key: one 401, a re-read, and the retry succeeds.
    api.set_api_key("key_two");
    assert!(client.fetch_page(&window, 1, far).await.is_ok());
    let statuses: Vec<u16> = api.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 200, 401, 200]);
    // A key nobody stored: one re-read, one retry, then a clear failure.
    api.set_api_key("key_three");
    let err = client.fetch_page(&window, 1, far).await.unwrap_err();
    assert!(matches!(err, CursorApiError::Unauthorized { .. }), "{err}");
    assert!(err.to_string().contains(&arn), "{err}");
    assert_eq!(api.requests().len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_cluster_it_prints_and_a_local_file_holds_the_checkpoint() {
    let f = Fixture::new("file").await;
    f.api.add_events(events_between(
        "f",
        4,
        TimeDelta::minutes(10),
        TimeDelta::minutes(1),
    ));
    let dir = support::scratch_dir("poll-file");
    let file = dir.join("checkpoint.json");
    let mut env = f.env(&[("CHECKPOINT_FILE", file.to_str().unwrap())]);
    env.retain(|(k, _)| k != "CHECKPOINT_TABLE" && k != "ES_URL");
    let run = run_cli(&["poll", "--once"], &env);
    assert_ok(&run);
    let docs: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(docs.len(), 4);
    assert!(docs.iter().all(|d| d["event"]["dataset"] == "cursor.audit"));
    assert!(!file.exists(), "a dry run never writes the checkpoint");

    env.push(("ES_URL".into(), f.engine.url.clone()));
    let run = run_cli(&["poll", "--once"], &env);
    assert_ok(&run);
    assert_eq!(run.summary("indexed"), 4);
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert!(saved["collected_until"].is_string(), "{saved}");
    assert!(saved["last_request_at"].is_u64(), "{saved}");
    let run = run_cli(&["poll", "--once"], &env);
    assert_ok(&run);
    assert_eq!(run.summary("indexed"), 0);
    assert_eq!(f.engine.count(&f.stream()).await, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduled_handler_stops_cleanly_when_the_next_request_slot_is_past_the_deadline() {
    use cursor_audit_forwarder::lambda::{Handlers, handle};
    use cursor_audit_forwarder::shipping::deadline::Deadline;
    let f = Fixture::new("deadline").await;
    f.api.add_events(events_between(
        "d",
        25,
        TimeDelta::minutes(30),
        TimeDelta::minutes(2),
    ));
    let args = f.lambda_args(&[
        // One request a minute: the second page's turn comes after the deadline.
        "--requests-per-minute",
        "1",
        "--page-size",
        "10",
        "--initial-lookback",
        "1h",
    ]);
    let handlers = Handlers::build(args).await.unwrap();
    let schedule: serde_json::Value = serde_json::from_slice(
        &std::fs::read(support::repo_root().join("events/schedule.json")).unwrap(),
    )
    .unwrap();
    // 40 s for the invocation: page 1 and its indexing have 39.5 s however slow the
    // machine; the next turn (60 s after the first request) lies beyond the deadline. A
    // handler that waited for that turn, or idled until the deadline, would return after
    // 39.5 s at the earliest; the one under test returns right after page 1 (about 1 s),
    // and 30 s leaves a loaded machine all the room it needs without admitting either.
    let started = Instant::now();
    let deadline = Deadline {
        hard: Some(tokio::time::Instant::now() + Duration::from_secs(40)),
        per_batch: Duration::from_secs(30),
        stop_margin: Duration::from_millis(500),
    };
    let response = handle(&handlers, schedule, deadline).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(response["outcome"], "stopped_at_deadline", "{response}");
    assert_eq!(response["pages"], 1);
    assert_eq!(response["indexed"], 10);
    assert_eq!(f.api.requests().len(), 1);
    let checkpoint = f.checkpoint().await;
    assert_eq!(number_attr(&checkpoint, "next_page"), Some(2));
    // The lease was released on the way out: a run right now is not turned away.
    let run = f.poll(&[("CURSOR_PAGE_SIZE", "10")]);
    assert_ok(&run);
    assert_eq!(run.summary("indexed"), 15);
}

/// The scheduled handler's health metrics (the EMF record the alarms on silence and loss
/// read): a run that loses a range to the API's retention, then a run with a revoked key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduled_poll_reports_retention_loss_and_failure_as_metrics() {
    use cursor_audit_forwarder::lambda::{Handlers, handle_measured};
    use cursor_audit_forwarder::shipping::deadline::Deadline;
    use cursor_audit_forwarder::telemetry::metrics::InvocationMetrics;
    let f = Fixture::new("health").await;
    let now = Utc::now();
    f.put_collected_until(now - TimeDelta::days(40)).await;
    f.api
        .add_events([api_event("recent", now - TimeDelta::hours(1), "login")]);
    let args = f.lambda_args(&["--max-window", "30d"]);
    let handlers = Handlers::build(args).await.unwrap();
    let schedule: serde_json::Value = serde_json::from_slice(
        &std::fs::read(support::repo_root().join("events/schedule.json")).unwrap(),
    )
    .unwrap();
    let deadline = || Deadline {
        hard: Some(tokio::time::Instant::now() + Duration::from_secs(120)),
        per_batch: Duration::from_secs(30),
        stop_margin: Duration::from_millis(500),
    };
    let mut metrics = InvocationMetrics::default();
    let response = handle_measured(&handlers, schedule.clone(), deadline(), &mut metrics)
        .await
        .unwrap();
    assert_eq!(response["outcome"], "caught_up", "{response}");
    let record = metrics.emf("CursorAuditForwarder", "poller", Utc::now());
    assert_eq!(record["PollSucceeded"], 1, "{record}");
    // The checkpoint was 40 days old: the 10 days beyond the API's 30 are lost, and the
    // restart point keeps a safety margin inside the retention (under 2 h, as the clamp
    // test above allows), which is lost too.
    let lost = record["RetentionLostSeconds"].as_f64().unwrap();
    let ten_days = TimeDelta::days(10).num_seconds() as f64;
    assert!(
        (ten_days..ten_days + 7200.0).contains(&lost),
        "{lost} s lost"
    );
    // Caught up: what it has collected reaches (about) now.
    let age = record["CheckpointAgeSeconds"].as_f64().unwrap();
    assert!((0.0..120.0).contains(&age), "checkpoint age {age} s");

    // The key revoked: the run fails, says so in the metrics, loses nothing, and the
    // checkpoint's age keeps growing from where it was.
    f.api.set_api_key("key_rotated_elsewhere");
    let mut metrics = InvocationMetrics::default();
    let failed = handle_measured(&handlers, schedule, deadline(), &mut metrics).await;
    assert!(failed.is_err(), "{failed:?}");
    let record = metrics.emf("CursorAuditForwarder", "poller", Utc::now());
    assert_eq!(record["PollSucceeded"], 0, "{record}");
    assert_eq!(record["RetentionLostSeconds"], 0.0);
    let later = record["CheckpointAgeSeconds"].as_f64().unwrap();
    assert!(later >= age, "{later} < {age}");
}
