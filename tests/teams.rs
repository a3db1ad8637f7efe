//! Cursor Organizations (issue 21) end to end: several teams polled by the real binary
//! (`poll --once`, `poll --from --to [--team]`) and by the Lambda runtime (cargo-lambda)
//! against one fake Admin API serving every team (tests/support/fake_cursor.rs), with
//! DynamoDB and Secrets Manager in moto and the real Elasticsearch node: each team into its
//! namespace with its tags, each within its own rate limit, concurrently; one team's revoked
//! key failing only that team; today's checkpoint and lease items read as they are; replays
//! that restore deleted documents, resume after a kill and never move the live checkpoint;
//! S3 records routed by their `team_id`.

mod support;

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde_json::{Value, json};
use support::fake_cursor::{
    ApiRequest, CursorFault, FakeCursorApi, FaultWhen, Gate, TEAM_ID, TeamHandle, api_event,
};
use support::services::{self, Engine};
use support::{CliRun, run_cli, spawn_cli};

type Item = HashMap<String, AttributeValue>;

/// Tests whose figures are times (the concurrency measurement) or that build and run
/// cargo-lambda take turns, so neither disturbs the other on a 2-core machine.
static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn setup_templates_once(engine: &Engine) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let run = run_cli(&["setup"], &[("ES_URL".into(), engine.url.clone())]);
        assert_eq!(run.code, Some(0), "setup failed: {}", run.stderr);
    });
}

/// One team of a test: its name, key, fake handle, namespace and tags.
#[derive(Clone)]
struct TeamSpec {
    name: &'static str,
    key: String,
    handle: TeamHandle,
    /// `None`: the deployment's (`DATA_STREAM_NAMESPACE`).
    namespace: Option<String>,
    tags: Vec<&'static str>,
    /// Where its key comes from, when not inline.
    secret_arn: Option<String>,
}

/// A test's organization: the fake API (all its teams), its table and base namespace.
struct Org {
    api: FakeCursorApi,
    engine: Engine,
    /// `DATA_STREAM_NAMESPACE`, unique to the test; team namespaces are `<base><name>`.
    base: String,
    table: String,
    teams: Vec<TeamSpec>,
}

impl Org {
    /// The fake with `names.len()` teams (`key_<name>_<base>`), namespaces `<base><name>`
    /// and tags `cursor-<name>`; a roomy rate limit unless the test sets one.
    async fn new(test: &str, names: &[&'static str]) -> Org {
        services::export_aws_env();
        let engine = Engine::new();
        setup_templates_once(&engine);
        let base = services::unique_namespace(test);
        let table = format!("teams-{base}");
        services::create_table(&table).await;
        let key = |name: &str| format!("key_{name}_{base}");
        let api = FakeCursorApi::start(&key(names[0]));
        api.set_rate_limit(10_000, Duration::from_secs(60));
        let teams = names
            .iter()
            .enumerate()
            .map(|(i, name)| TeamSpec {
                name,
                key: key(name),
                handle: if i == 0 {
                    TeamHandle::FIRST
                } else {
                    api.add_team(&key(name), TEAM_ID + i as u64)
                },
                namespace: Some(format!("{base}{name}")),
                tags: vec![Box::leak(format!("cursor-{name}").into_boxed_str())],
                secret_arn: None,
            })
            .collect();
        Org {
            api,
            engine,
            base,
            table,
            teams,
        }
    }

    fn team(&self, name: &str) -> &TeamSpec {
        self.teams.iter().find(|t| t.name == name).unwrap()
    }

    fn team_mut(&mut self, name: &str) -> &mut TeamSpec {
        self.teams.iter_mut().find(|t| t.name == name).unwrap()
    }

    /// The data stream of `team`'s documents.
    fn stream(&self, team: &str) -> String {
        let ns = self.team(team).namespace.clone();
        format!(
            "logs-cursor.audit-{}",
            ns.unwrap_or_else(|| self.base.clone())
        )
    }

    /// The CURSOR_TEAMS JSON for these teams.
    fn teams_json(&self) -> String {
        let list: Vec<Value> = self
            .teams
            .iter()
            .map(|t| {
                let mut team = json!({"name": t.name, "tags": t.tags});
                match &t.secret_arn {
                    Some(arn) => team["api_key_secret_arn"] = json!(arn),
                    None => team["api_key"] = json!(t.key),
                }
                if let Some(ns) = &t.namespace {
                    team["namespace"] = json!(ns);
                }
                team
            })
            .collect();
        Value::Array(list).to_string()
    }

    fn env(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let teams = self.teams_json();
        let settings = [
            ("ES_URL", self.engine.url.as_str()),
            ("DATA_STREAM_NAMESPACE", &self.base),
            ("CHECKPOINT_TABLE", &self.table),
            ("CURSOR_API_URL", &self.api.url),
            ("CURSOR_TEAMS", &teams),
            ("CURSOR_REQUESTS_PER_MINUTE", "6000"),
        ];
        services::aws_env_with(&settings, extra)
    }

    fn run(&self, args: &[&str], extra: &[(&str, &str)]) -> CliRun {
        run_cli(args, &self.env(extra))
    }

    /// A team's live checkpoint item (`poll#team#<name>#all#checkpoint`).
    async fn checkpoint(&self, team: &str) -> Option<Item> {
        get_item(&self.table, &format!("poll#team#{team}#all#checkpoint")).await
    }

    /// Every document of `team`'s data stream as (`_id`, `_source`).
    async fn documents(&self, team: &str) -> Vec<(String, Value)> {
        self.engine.all_documents(&self.stream(team)).await
    }
}

async fn dynamo() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&services::moto_config().await)
}

/// An item of `table`, read consistently.
async fn get_item(table: &str, pk: &str) -> Option<Item> {
    dynamo()
        .await
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(pk.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
}

async fn put_item(table: &str, pk: &str, attributes: &[(&str, AttributeValue)]) {
    let mut request = dynamo()
        .await
        .put_item()
        .table_name(table)
        .item("pk", AttributeValue::S(pk.to_owned()));
    for (k, v) in attributes {
        request = request.item(*k, v.clone());
    }
    request.send().await.unwrap();
}

/// Lets a held lease run out now (what waiting for its expiry would do).
async fn expire_lease(table: &str, pk: &str) {
    dynamo()
        .await
        .update_item()
        .table_name(table)
        .key("pk", AttributeValue::S(pk.to_owned()))
        .update_expression("SET expires_at = :past")
        .expression_attribute_values(
            ":past",
            AttributeValue::N((Utc::now().timestamp_millis() - 1).to_string()),
        )
        .send()
        .await
        .expect("expire the lease");
}

fn s_attr(text: impl Into<String>) -> AttributeValue {
    AttributeValue::S(text.into())
}

fn n_attr(number: impl ToString) -> AttributeValue {
    AttributeValue::N(number.to_string())
}

fn text_of<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)?.as_s().ok().map(String::as_str)
}

fn number_of(item: &Item, name: &str) -> Option<i64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn parse_time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|_| panic!("not RFC 3339: {text}"))
        .with_timezone(&Utc)
}

fn epoch_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

fn window_of(request: &ApiRequest) -> (DateTime<Utc>, DateTime<Utc>) {
    (
        parse_time(request.start_time.as_deref().expect("startTime")),
        parse_time(request.end_time.as_deref().expect("endTime")),
    )
}

/// Now, in whole seconds (so that windows and labels are easy to state).
fn now_s() -> DateTime<Utc> {
    DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap()
}

/// `count` events `<prefix>-NNNNN`, the i-th at `newest - i × step`.
fn events(prefix: &str, count: usize, newest: DateTime<Utc>, step: TimeDelta) -> Vec<Value> {
    let types = [
        "login",
        "add_user",
        "team_settings",
        "remove_user",
        "logout",
    ];
    (0..count)
        .map(|i| {
            api_event(
                &format!("{prefix}-{i:05}"),
                newest - step * i as i32,
                types[i % types.len()],
            )
        })
        .collect()
}

fn ids_of(events: &[Value]) -> BTreeSet<String> {
    events
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().to_owned())
        .collect()
}

/// The summary line of `team`'s run.
fn team_summary<'a>(run: &'a CliRun, team: &str) -> &'a str {
    let tag = format!("team={team}");
    run.stderr
        .lines()
        .find(|l| l.starts_with("summary:") && l.split_whitespace().any(|p| p == tag))
        .unwrap_or_else(|| panic!("no summary line for {team} in:\n{}", run.stderr))
}

fn summary_value<'a>(line: &'a str, key: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|part| part.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key} in {line}"))
}

fn summary_number(line: &str, key: &str) -> u64 {
    summary_value(line, key).parse().unwrap()
}

fn assert_ok(run: &CliRun) {
    assert_eq!(run.code, Some(0), "poll failed:\n{}", run.stderr);
}

/// Deletes the documents of `stream` with `from ≤ @timestamp ≤ to`; returns how many. (The
/// test node has no `_delete_by_query`, whose module is not on Maven Central: the documents
/// are searched, then deleted from their backing indices with one `_bulk`.)
async fn delete_window(
    engine: &Engine,
    stream: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> u64 {
    engine.refresh(stream).await;
    let http = reqwest::Client::new();
    let response = http
        .post(format!("{}/{stream}/_search", engine.url))
        .json(&json!({"size": 10000, "_source": false,
                      "query": {"range": {"@timestamp": {"gte": rfc3339(from), "lte": rfc3339(to)}}}}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    let hits = body["hits"]["hits"].as_array().unwrap().clone();
    if hits.is_empty() {
        return 0;
    }
    let mut bulk = String::new();
    for hit in &hits {
        bulk.push_str(&json!({"delete": {"_index": hit["_index"], "_id": hit["_id"]}}).to_string());
        bulk.push('\n');
    }
    let response = http
        .post(format!("{}/_bulk?refresh=true", engine.url))
        .header("Content-Type", "application/x-ndjson")
        .body(bulk)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert!(status == 200 && body["errors"] == false, "{status} {body}");
    let deleted = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|item| item["delete"]["result"] == "deleted")
        .count();
    deleted as u64
}

/// The documents of `stream` whose `event.id` is one of `ids`, as (`_id`, `_source`).
async fn documents_with_ids(
    engine: &Engine,
    stream: &str,
    ids: &BTreeSet<String>,
) -> Vec<(String, Value)> {
    engine.refresh(stream).await;
    let response = reqwest::Client::new()
        .post(format!("{}/{stream}/_search", engine.url))
        .json(&json!({"size": 10000, "query": {"terms": {"event.id": ids}}}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body["hits"]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hit| {
            (
                hit["_id"].as_str().unwrap().to_owned(),
                hit["_source"].clone(),
            )
        })
        .collect()
}

/// The `event.id`s of some documents; panics on a duplicate event id.
fn event_ids(documents: &[(String, Value)]) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for (_, doc) in documents {
        let id = doc["event"]["id"].as_str().unwrap().to_owned();
        assert!(ids.insert(id.clone()), "{id} indexed twice");
    }
    ids
}

fn id_set(documents: &[(String, Value)]) -> BTreeSet<String> {
    documents.iter().map(|(id, _)| id.clone()).collect()
}

/// Every document has the deployment's tags, then exactly `team_tags`, the namespace
/// `namespace`, and the `_id` of its event id.
fn assert_team_fields(documents: &[(String, Value)], namespace: &str, team_tags: &[&str]) {
    let mut want = vec!["forwarded", "cursor-audit"];
    want.extend_from_slice(team_tags);
    for (id, doc) in documents {
        assert_eq!(doc["data_stream"]["namespace"], namespace, "{doc}");
        assert_eq!(doc["tags"], json!(want), "{doc}");
        let event_id = doc["event"]["id"].as_str().unwrap();
        assert_eq!(*id, support::event_id_fingerprint(event_id));
    }
}

/// a. Three teams (one key in Secrets Manager, two inline): one `poll --once` indexes every
/// team's events exactly once into its own data stream with its tags, the teams polled at
/// the same time, each within Cursor's 20 requests per key per rolling minute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_teams_in_one_poll_each_into_its_namespace_within_its_own_rate_limit() {
    let mut org = Org::new("three", &["eng", "ops", "sec"]).await;
    // Cursor's limit, per key: 20 answers in any rolling 60 s.
    org.api.set_rate_limit(20, Duration::from_secs(60));
    let arn = services::create_secret(
        &format!("cursor-eng-{}", org.base),
        &json!({"api_key": org.team("eng").key}).to_string(),
    )
    .await;
    org.team_mut("eng").secret_arn = Some(arn);
    // sec has no namespace of its own: the deployment's.
    org.team_mut("sec").namespace = None;
    org.team_mut("ops").tags = vec!["cursor-ops", "soc"];
    let now = now_s();
    // Page size 4: 22 pages each, more than one minute's worth of requests for any team at
    // 20 per minute, so a poller that paced the teams together, or not at all, or shared
    // the limit between them, would be refused.
    let given: Vec<(&str, Vec<Value>)> = vec![
        (
            "eng",
            events(
                "eng",
                85,
                now - TimeDelta::minutes(1),
                TimeDelta::seconds(30),
            ),
        ),
        (
            "ops",
            events(
                "ops",
                86,
                now - TimeDelta::minutes(1),
                TimeDelta::seconds(31),
            ),
        ),
        (
            "sec",
            events(
                "sec",
                88,
                now - TimeDelta::minutes(1),
                TimeDelta::seconds(32),
            ),
        ),
    ];
    for (team, events) in &given {
        org.api
            .add_team_events(org.team(team).handle, events.clone());
    }
    let started = Instant::now();
    let run = org.run(
        &["poll", "--once"],
        &[
            ("CURSOR_PAGE_SIZE", "4"),
            ("CURSOR_INITIAL_LOOKBACK", "1h"),
            ("CURSOR_REQUESTS_PER_MINUTE", "20"),
        ],
    );
    let seconds = started.elapsed().as_secs_f64();
    assert_ok(&run);
    eprintln!("three teams, 22 requests each at 20/min: {seconds:.1} s");

    for (team, events) in &given {
        let spec = org.team(team);
        let line = team_summary(&run, team);
        assert_eq!(summary_value(line, "outcome"), "caught_up", "{line}");
        assert_eq!(
            summary_number(line, "indexed"),
            events.len() as u64,
            "{line}"
        );
        assert_eq!(summary_number(line, "throttled"), 0, "{line}");
        assert_eq!(summary_number(line, "requests"), 22, "{line}");
        // Its data stream holds its events, each once, with its namespace and tags.
        let stream = org.stream(team);
        assert_eq!(
            org.engine.count(&stream).await,
            events.len() as u64,
            "{stream}"
        );
        let documents = org.documents(team).await;
        assert_eq!(event_ids(&documents), ids_of(events), "{team}");
        let namespace = spec.namespace.clone().unwrap_or_else(|| org.base.clone());
        assert_team_fields(&documents, &namespace, &spec.tags);
        // What the fake saw of this key: only its own team, every answer 200, never more
        // than 20 in a rolling minute although the team needed more than 20.
        let requests = org.api.requests_with_key(&spec.key);
        assert_eq!(requests.len(), 22, "{team}");
        assert!(
            requests
                .iter()
                .all(|r| r.status == 200 && r.team == Some(spec.handle))
        );
        assert!(requests.iter().all(|r| r.page_size == Some(4)));
        let busiest = org
            .api
            .max_requests_in_window_for(&spec.key, Duration::from_secs(60));
        eprintln!("{team}: busiest 60 s window {busiest} requests");
        assert!(busiest <= 20, "{team}: {busiest} requests in 60 s");
        // Its checkpoint is its own.
        let checkpoint = org.checkpoint(team).await.expect("a checkpoint per team");
        assert!(
            text_of(&checkpoint, "collected_until").is_some(),
            "{checkpoint:?}"
        );
    }
    // Nothing else was asked or indexed: 66 requests, and the run's counts add up to the
    // events given.
    let total: u64 = given.iter().map(|(_, e)| e.len() as u64).sum();
    let indexed: u64 = given
        .iter()
        .map(|(team, _)| summary_number(team_summary(&run, team), "read"))
        .sum();
    assert_eq!(indexed, total);
    assert_eq!(org.api.requests().len(), 66);
    assert_eq!(org.api.served_count(), 66);
    // The teams ran together: their requests interleave (one after another, no minute
    // would hold more than 20 of them), and the run took about one team's time, not three.
    let all_busiest = org.api.max_requests_in_window(Duration::from_secs(60));
    eprintln!("all keys: busiest 60 s window {all_busiest} requests");
    assert!(
        all_busiest > 40,
        "{all_busiest} requests in the busiest minute, all teams"
    );
    assert!(
        seconds < 120.0,
        "{seconds:.1} s for three teams of 63 s each"
    );
}

/// b. A key revoked while the run is under way: the other teams complete, the command exits
/// 1 naming the team and the 401, and the team's checkpoint stays as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_key_fails_only_its_team_and_leaves_its_checkpoint_as_it_was() {
    let org = Org::new("revoked", &["eng", "ops", "sec"]).await;
    let now = now_s();
    for team in &org.teams {
        org.api.add_team_events(
            team.handle,
            events(
                &format!("{}-1", team.name),
                5,
                now - TimeDelta::minutes(10),
                TimeDelta::minutes(1),
            ),
        );
    }
    let env = [("CURSOR_INITIAL_LOOKBACK", "1h"), ("CURSOR_PAGE_SIZE", "2")];
    let run = org.run(&["poll", "--once"], &env);
    assert_ok(&run);
    for team in &org.teams {
        assert_eq!(org.engine.count(&org.stream(team.name)).await, 5);
    }
    let before = org.checkpoint("ops").await.expect("ops has a checkpoint");
    let ops_lease_before = get_item(&org.table, "poll#team#ops#all#lease")
        .await
        .unwrap();

    // New events for every team; ops's first request of the next run is held until its
    // key has been revoked, while the other teams go on.
    for team in &org.teams {
        org.api.add_team_events(
            team.handle,
            events(
                &format!("{}-2", team.name),
                3,
                now - TimeDelta::seconds(30),
                TimeDelta::seconds(5),
            ),
        );
    }
    let ops = org.team("ops").clone();
    let gate = Gate::new();
    org.api.inject(
        FaultWhen::Team(ops.handle),
        CursorFault::Hold(gate.clone()),
        1,
    );
    let seen = org.api.requests().len();
    let env_vec = org.env(&env);
    let (api, key) = (org.api.clone(), ops.key.clone());
    let run = std::thread::scope(|scope| {
        let running = scope.spawn(|| run_cli(&["poll", "--once"], &env_vec));
        let started = Instant::now();
        while !api.requests()[seen..]
            .iter()
            .any(|r| r.key.as_deref() == Some(&key))
        {
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "ops never asked"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        api.revoke_key(&key);
        gate.open();
        running.join().unwrap()
    });

    // The others finished their new events.
    for name in ["eng", "sec"] {
        let line = team_summary(&run, name);
        assert_eq!(summary_value(line, "outcome"), "caught_up", "{line}");
        assert_eq!(summary_number(line, "indexed"), 3, "{line}");
        assert_eq!(org.engine.count(&org.stream(name)).await, 8);
    }
    let line = team_summary(&run, "ops");
    assert_eq!(summary_value(line, "outcome"), "failed", "{line}");
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_eq!(org.engine.count(&org.stream("ops")).await, 5);
    // The key was refused (a plain key is not retried), and its checkpoint did not move.
    let refused: Vec<u16> = org.api.requests_with_key(&ops.key)[..]
        .iter()
        .filter(|r| r.sequence > seen)
        .map(|r| r.status)
        .collect();
    assert_eq!(refused, [401]);
    assert_eq!(org.checkpoint("ops").await.unwrap(), before);
    // Its lease was released again (nothing else of it changed but the expiry).
    let lease = get_item(&org.table, "poll#team#ops#all#lease")
        .await
        .unwrap();
    assert_eq!(number_of(&lease, "expires_at"), Some(0), "{lease:?}");
    assert_eq!(
        number_of(&lease, "generation"),
        number_of(&ops_lease_before, "generation").map(|g| g + 1)
    );
    // stderr names the team and why.
    let failure = run
        .stderr
        .lines()
        .find(|l| l.starts_with("team ops: poll failed"))
        .unwrap_or_else(|| panic!("no failure line for ops:\n{}", run.stderr));
    assert!(failure.contains("Invalid API key"), "{failure}");
    assert!(
        !run.stderr.contains("team eng: poll failed")
            && !run.stderr.contains("team sec: poll failed")
    );
    // Checked last so that everything above is known to hold when these fail: the
    // failure names the status, and its hint points at where this team's key comes from
    // (its "api_key" in CURSOR_TEAMS), not at CURSOR_API_KEY, which must be unset here.
    let mut problems = Vec::new();
    if !run.stderr.contains("401") {
        problems.push("stderr does not name the 401 (the failure line nor any log line)");
    }
    if failure.contains("CURSOR_API_KEY") {
        problems.push("the failure line says to check CURSOR_API_KEY, which a team list forbids");
    }
    assert!(problems.is_empty(), "{problems:?}:\n{}", run.stderr);
}

/// c. The teams' polls run concurrently: three teams whose every request takes 500 ms
/// finish together in about the time of one (measured against each alone; BENCHMARKS.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_are_polled_concurrently_in_about_the_time_of_the_slowest() {
    let _turn = HEAVY.lock().await;
    let mut org = Org::new("concurrent", &["eng", "ops", "sec"]).await;
    let now = now_s();
    let latency = Duration::from_millis(500);
    for (i, team) in org.teams.iter().enumerate() {
        org.api.set_team_latency(team.handle, latency);
        // 5 pages of 10 for each team (then the single window ends).
        org.api.add_team_events(
            team.handle,
            events(
                team.name,
                45 + i,
                now - TimeDelta::minutes(1),
                TimeDelta::seconds(40),
            ),
        );
    }
    let env = [
        ("CURSOR_PAGE_SIZE", "10"),
        ("CURSOR_INITIAL_LOOKBACK", "1h"),
    ];
    // Each measurement starts afresh: its own table and namespaces, so each does the whole
    // work (the same pages, the same documents, new data streams).
    let fresh = |org: &mut Org, run: &str| {
        org.table = format!("teams-{}{run}", org.base);
        for team in &mut org.teams {
            team.namespace = Some(format!("{}{run}{}", org.base, team.name));
        }
    };
    let mut alone = Vec::new();
    for name in ["eng", "ops", "sec"] {
        fresh(&mut org, &format!("alone{name}"));
        services::create_table(&org.table).await;
        let seen = org.api.requests().len();
        let started = Instant::now();
        let run = org.run(&["poll", "--once", "--team", name], &env);
        let seconds = started.elapsed().as_secs_f64();
        assert_ok(&run);
        // That team alone, the whole of its work.
        assert_eq!(summary_number(team_summary(&run, name), "requests"), 5);
        assert_eq!(run.stderr.matches("summary:").count(), 1, "{}", run.stderr);
        let handle = org.team(name).handle;
        assert!(
            org.api.requests()[seen..]
                .iter()
                .all(|r| r.team == Some(handle))
        );
        alone.push(seconds);
    }
    fresh(&mut org, "together");
    services::create_table(&org.table).await;
    let started = Instant::now();
    let run = org.run(&["poll", "--once"], &env);
    let together = started.elapsed().as_secs_f64();
    assert_ok(&run);
    for (i, team) in org.teams.iter().enumerate() {
        assert_eq!(
            summary_number(team_summary(&run, team.name), "indexed"),
            45 + i as u64
        );
        assert_eq!(
            org.engine.count(&org.stream(team.name)).await,
            45 + i as u64
        );
    }
    let sum: f64 = alone.iter().sum();
    println!(
        "teams: concurrent polls: alone eng={:.2} s ops={:.2} s sec={:.2} s sum={sum:.2} s; \
         three together={together:.2} s; ratio={:.2}",
        alone[0],
        alone[1],
        alone[2],
        together / sum
    );
    // The latency alone is 2.5 s a team: each run alone takes at least that.
    assert!(alone.iter().all(|s| *s >= 2.5), "{alone:?}");
    assert!(
        together < 0.6 * sum,
        "together {together:.2} s, alone {alone:?}"
    );
}

/// d. Upgrade: the checkpoint and lease items of today's single-team poller (the format of
/// src/admin_api/store/dynamo.rs, written here as that code writes them) are read as they
/// are by the single-team settings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoint_and_lease_items_of_todays_format_are_taken_over() {
    services::export_aws_env();
    let engine = Engine::new();
    setup_templates_once(&engine);
    let test = services::unique_namespace("upgrade");
    let table = format!("teams-{test}");
    services::create_table(&table).await;
    let key = format!("key_upgrade_{test}");
    let api = FakeCursorApi::start(&key);
    api.set_rate_limit(10_000, Duration::from_secs(60));
    let now = now_s();
    let collected_until = now - TimeDelta::hours(2);
    // Before the overlap (never asked for again), inside it, and after the checkpoint.
    let before_overlap = events(
        &format!("old-{test}"),
        3,
        collected_until - TimeDelta::minutes(6),
        TimeDelta::minutes(10),
    );
    let in_overlap = events(
        &format!("ovl-{test}"),
        2,
        collected_until - TimeDelta::minutes(1),
        TimeDelta::minutes(3),
    );
    let after = events(
        &format!("new-{test}"),
        6,
        now - TimeDelta::minutes(1),
        TimeDelta::minutes(15),
    );
    for group in [&before_overlap, &in_overlap, &after] {
        api.add_events(group.clone());
    }
    // The items as the current code leaves them after a run on host "old-host" (pid 4242):
    // pk poll#<namespace>#<event types|all>#…, the namespace being the default one.
    let owner = "old-host:4242";
    put_item(
        &table,
        "poll#default#all#checkpoint",
        &[
            ("generation", n_attr(3)),
            (
                "updated_at",
                n_attr(collected_until.timestamp_millis() + 900),
            ),
            ("owner", s_attr(owner)),
            ("collected_until", s_attr(rfc3339(collected_until))),
            (
                "newest_event",
                s_attr(rfc3339(collected_until - TimeDelta::minutes(7))),
            ),
        ],
    )
    .await;
    // A released lease (expiry 0) whose holder's last request was just now: the next run
    // continues the pacing from it.
    let last_request = SystemTime::now();
    let last_request_instant = Instant::now();
    put_item(
        &table,
        "poll#default#all#lease",
        &[
            ("owner", s_attr(owner)),
            ("expires_at", n_attr(0)),
            ("acquired_at", n_attr(collected_until.timestamp_millis())),
            ("generation", n_attr(3)),
            ("last_request_at", n_attr(epoch_ms(last_request))),
        ],
    )
    .await;
    let mut env = services::aws_env();
    for (k, v) in [
        ("ES_URL", engine.url.as_str()),
        ("CHECKPOINT_TABLE", table.as_str()),
        ("CURSOR_API_URL", api.url.as_str()),
        ("CURSOR_API_KEY", key.as_str()),
        ("CURSOR_REQUESTS_PER_MINUTE", "18"),
        ("CURSOR_PAGE_SIZE", "500"),
    ] {
        env.push((k.to_owned(), v.to_owned()));
    }
    let run = run_cli(&["poll", "--once"], &env);
    assert_ok(&run);
    let requests = api.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    // The first window starts at collected_until minus CURSOR_OVERLAP (5 min).
    let (start, end) = window_of(&requests[0]);
    assert_eq!(start, collected_until - TimeDelta::minutes(5));
    assert!(end > now - TimeDelta::seconds(1));
    // The pacing went on from the stored last request (18 a minute: 3.36 s apart).
    let waited = requests[0].at.duration_since(last_request_instant);
    assert!(
        waited >= Duration::from_millis(3300),
        "first request {waited:?} after the stored one"
    );
    assert_eq!(
        run.summary("indexed"),
        (in_overlap.len() + after.len()) as u64
    );
    let stream = "logs-cursor.audit-default";
    let mut wanted = ids_of(&in_overlap);
    wanted.extend(ids_of(&after));
    let mut all = wanted.clone();
    all.extend(ids_of(&before_overlap));
    let found = documents_with_ids(&engine, stream, &all).await;
    assert_eq!(event_ids(&found), wanted);
    // The lease was taken over with the next generation, which fenced the checkpoint.
    let lease = get_item(&table, "poll#default#all#lease").await.unwrap();
    assert_eq!(number_of(&lease, "generation"), Some(4), "{lease:?}");
    assert_ne!(text_of(&lease, "owner"), Some(owner));
    let checkpoint = get_item(&table, "poll#default#all#checkpoint")
        .await
        .unwrap();
    assert_eq!(
        number_of(&checkpoint, "generation"),
        Some(4),
        "{checkpoint:?}"
    );
    assert_eq!(
        text_of(&checkpoint, "collected_until"),
        Some(rfc3339(end).as_str())
    );

    // A half-paged window in today's format is resumed at its next page.
    let window = (now - TimeDelta::minutes(50), now - TimeDelta::minutes(10));
    put_item(
        &table,
        "poll#default#all#checkpoint",
        &[
            ("generation", n_attr(4)),
            ("updated_at", n_attr(now.timestamp_millis())),
            ("owner", s_attr(owner)),
            ("collected_until", s_attr(rfc3339(window.0))),
            ("window_start", s_attr(rfc3339(window.0))),
            ("window_end", s_attr(rfc3339(window.1))),
            ("next_page", n_attr(2)),
            ("events_acknowledged", n_attr(1)),
        ],
    )
    .await;
    let seen = api.requests().len();
    let mut resume_env = env.clone();
    resume_env.retain(|(k, _)| k != "CURSOR_PAGE_SIZE" && k != "CURSOR_REQUESTS_PER_MINUTE");
    resume_env.push(("CURSOR_PAGE_SIZE".into(), "1".into()));
    resume_env.push(("CURSOR_REQUESTS_PER_MINUTE".into(), "6000".into()));
    let run = run_cli(&["poll", "--once"], &resume_env);
    assert_ok(&run);
    let later = &api.requests()[seen..];
    assert_eq!(window_of(&later[0]), window, "{:?}", later[0]);
    assert_eq!(later[0].page, Some(2));
    assert!(
        later
            .iter()
            .filter(|r| window_of(r) == window)
            .all(|r| r.page >= Some(2)),
        "page 1 of the paused window read again: {later:?}"
    );

    // A live lease of another owner, in today's format: the poll stands aside, asking
    // nothing, and leaves the checkpoint alone.
    let held_until = Utc::now() + TimeDelta::minutes(10);
    put_item(
        &table,
        "poll#default#all#lease",
        &[
            ("owner", s_attr("other-host:777")),
            ("expires_at", n_attr(held_until.timestamp_millis())),
            ("acquired_at", n_attr(Utc::now().timestamp_millis())),
            ("generation", n_attr(9)),
        ],
    )
    .await;
    let checkpoint = get_item(&table, "poll#default#all#checkpoint")
        .await
        .unwrap();
    let seen = api.requests().len();
    let run = run_cli(&["poll", "--once"], &env);
    assert_ok(&run);
    let line = run
        .stderr
        .lines()
        .rev()
        .find(|l| l.starts_with("summary:"))
        .unwrap();
    assert!(line.contains("outcome=lease_held"), "{}", run.stderr);
    assert_eq!(run.summary("requests"), 0);
    assert_eq!(api.requests().len(), seen, "nothing requested");
    assert_eq!(
        get_item(&table, "poll#default#all#checkpoint")
            .await
            .unwrap(),
        checkpoint
    );
    let lease = get_item(&table, "poll#default#all#lease").await.unwrap();
    assert_eq!(text_of(&lease, "owner"), Some("other-host:777"));
    assert_eq!(number_of(&lease, "generation"), Some(9));
}

/// The replay's events of team eng: 40, one every 3 minutes from 1 minute ago; the window
/// `[now − 90.5 min, now − 30.5 min]` holds 20 of them, none on an edge.
struct ReplayCase {
    now: DateTime<Utc>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    in_window: BTreeSet<String>,
}

impl ReplayCase {
    fn new(api: &FakeCursorApi, eng: TeamHandle, ops: TeamHandle, prefix: &str) -> ReplayCase {
        let now = now_s();
        let given = events(
            &format!("{prefix}eng"),
            40,
            now - TimeDelta::minutes(1),
            TimeDelta::minutes(3),
        );
        api.add_team_events(eng, given.clone());
        api.add_team_events(
            ops,
            events(
                &format!("{prefix}ops"),
                10,
                now - TimeDelta::minutes(2),
                TimeDelta::minutes(7),
            ),
        );
        let from = now - TimeDelta::seconds(90 * 60 + 30);
        let to = now - TimeDelta::seconds(30 * 60 + 30);
        let in_window = given
            .iter()
            .filter(|e| {
                let t = parse_time(e["timestamp"].as_str().unwrap());
                from <= t && t <= to
            })
            .map(|e| e["event_id"].as_str().unwrap().to_owned())
            .collect::<BTreeSet<_>>();
        assert_eq!(in_window.len(), 20);
        ReplayCase {
            now,
            from,
            to,
            in_window,
        }
    }

    fn label(&self) -> String {
        format!(
            "replay#{}-{}",
            self.from.timestamp_millis(),
            self.to.timestamp_millis()
        )
    }
}

/// e. A replay restores deleted documents exactly, never moves the live checkpoint, resumes
/// after a kill from its own progress, refuses windows past the 30 days and unknown teams.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_restores_a_window_resumes_after_a_kill_and_leaves_the_live_checkpoint() {
    let org = Org::new("replay", &["eng", "ops"]).await;
    let case = ReplayCase::new(&org.api, org.team("eng").handle, org.team("ops").handle, "");
    let env = [
        ("CURSOR_INITIAL_LOOKBACK", "3h"),
        ("CURSOR_PAGE_SIZE", "3"),
        ("CURSOR_LEASE_SECONDS", "600"),
    ];
    let run = org.run(&["poll", "--once"], &env);
    assert_ok(&run);
    let stream = org.stream("eng");
    let original = org.documents("eng").await;
    assert_eq!(original.len(), 40);
    let live_eng = org.checkpoint("eng").await.unwrap();
    let live_ops = org.checkpoint("ops").await.unwrap();
    let ops_documents = org.engine.count(&org.stream("ops")).await;

    // The window's documents are lost from the cluster.
    let deleted = delete_window(&org.engine, &stream, case.from, case.to).await;
    assert_eq!(deleted, 20);
    let left = event_ids(&org.documents("eng").await);
    assert_eq!(
        left,
        &event_ids(&original) - &case.in_window,
        "the window's 20 are gone"
    );

    let (from, to) = (rfc3339(case.from), rfc3339(case.to));
    let replay_args = [
        "poll",
        "--from",
        from.as_str(),
        "--to",
        to.as_str(),
        "--team",
        "eng",
    ];
    let seen = org.api.requests().len();
    let run = org.run(&replay_args, &env);
    assert_ok(&run);
    let line = team_summary(&run, "eng");
    assert_eq!(summary_value(line, "outcome"), "caught_up", "{line}");
    assert_eq!(summary_number(line, "indexed"), 20, "{line}");
    assert_eq!(summary_number(line, "duplicates"), 0, "{line}");
    // Exactly the same documents, under the same _ids, none twice.
    let restored = org.documents("eng").await;
    assert_eq!(restored.len(), 40);
    assert_eq!(id_set(&restored), id_set(&original));
    assert_eq!(event_ids(&restored), event_ids(&original));
    // Only eng was asked, only inside the window, from its start.
    let replayed = &org.api.requests()[seen..];
    assert!(
        replayed
            .iter()
            .all(|r| r.team == Some(org.team("eng").handle))
    );
    assert_eq!(window_of(&replayed[0]), (case.from, case.to));
    assert!(
        replayed
            .iter()
            .all(|r| window_of(r) == (case.from, case.to))
    );
    assert_eq!(replayed.len(), 7, "20 events in pages of 3");
    assert_eq!(org.engine.count(&org.stream("ops")).await, ops_documents);
    // The live checkpoints did not move; the replay's progress was reset at its end.
    assert_eq!(org.checkpoint("eng").await.unwrap(), live_eng);
    assert_eq!(org.checkpoint("ops").await.unwrap(), live_ops);
    let progress_pk = format!("poll#team#eng#all#{}", case.label());
    let progress = get_item(&org.table, &progress_pk)
        .await
        .expect("the replay's progress item");
    for field in ["collected_until", "window_start", "window_end", "next_page"] {
        assert!(!progress.contains_key(field), "{progress:?}");
    }

    // Again, killed while page 3 is in flight (pages 1 and 2 acknowledged).
    assert_eq!(
        delete_window(&org.engine, &stream, case.from, case.to).await,
        20
    );
    let gate = Gate::new();
    org.api.inject(
        FaultWhen::TeamPage(org.team("eng").handle, 3),
        CursorFault::Hold(gate.clone()),
        1,
    );
    let seen = org.api.requests().len();
    let mut child = spawn_cli(&replay_args, &org.env(&env));
    let started = Instant::now();
    while !org.api.requests()[seen..].iter().any(|r| r.page == Some(3)) {
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "page 3 never requested"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    gate.open();
    let progress = get_item(&org.table, &progress_pk).await.unwrap();
    assert_eq!(
        text_of(&progress, "window_start"),
        Some(from.as_str()),
        "{progress:?}"
    );
    assert_eq!(
        text_of(&progress, "window_end"),
        Some(to.as_str()),
        "{progress:?}"
    );
    assert_eq!(number_of(&progress, "next_page"), Some(3), "{progress:?}");
    assert_eq!(
        number_of(&progress, "events_acknowledged"),
        Some(6),
        "{progress:?}"
    );
    assert_eq!(org.engine.count(&stream).await, 26);
    assert_eq!(org.checkpoint("eng").await.unwrap(), live_eng);

    // The killed run's lease (the live one) still holds: a replay now does nothing and
    // says why, exiting 1.
    let seen = org.api.requests().len();
    let run = org.run(&replay_args, &env);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_eq!(
        summary_value(team_summary(&run, "eng"), "outcome"),
        "lease_held"
    );
    assert!(run.stderr.contains("holds its lease"), "{}", run.stderr);
    assert_eq!(org.api.requests().len(), seen);

    // Once it expires, the replay continues from page 3 of its window.
    expire_lease(&org.table, "poll#team#eng#all#lease").await;
    let run = org.run(&replay_args, &env);
    assert_ok(&run);
    let resumed = &org.api.requests()[seen..];
    assert_eq!(resumed[0].page, Some(3), "{:?}", resumed[0]);
    assert_eq!(window_of(&resumed[0]), (case.from, case.to));
    assert!(
        resumed.iter().all(|r| r.page >= Some(3)),
        "re-read pages 1–2"
    );
    assert_eq!(resumed.len(), 5, "pages 3 to 7");
    assert_eq!(summary_number(team_summary(&run, "eng"), "indexed"), 14);
    let restored = org.documents("eng").await;
    assert_eq!(id_set(&restored), id_set(&original));
    let progress = get_item(&org.table, &progress_pk).await.unwrap();
    for field in ["collected_until", "window_start", "window_end", "next_page"] {
        assert!(!progress.contains_key(field), "{progress:?}");
    }
    assert_eq!(org.checkpoint("eng").await.unwrap(), live_eng);
    assert_eq!(org.checkpoint("ops").await.unwrap(), live_ops);

    // A window older than the API's 30 days, and an unknown team, are refused (exit 2).
    let seen = org.api.requests().len();
    let old_from = rfc3339(case.now - TimeDelta::days(31));
    let old_to = rfc3339(case.now - TimeDelta::days(29));
    let run = org.run(&["poll", "--from", &old_from, "--to", &old_to], &env);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("30 days"), "{}", run.stderr);
    let run = org.run(
        &["poll", "--from", &from, "--to", &to, "--team", "nosuch"],
        &env,
    );
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("\"nosuch\""), "{}", run.stderr);
    let run = org.run(&["poll", "--once", "--team", "nosuch"], &env);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("\"nosuch\""), "{}", run.stderr);
    assert_eq!(org.api.requests().len(), seen, "refused before any request");
    assert_eq!(org.checkpoint("eng").await.unwrap(), live_eng);
}

/// f. The same replay in the Lambda runtime (cargo-lambda), the team list in a secret
/// (CURSOR_TEAMS_SECRET_ARN): the scheduled poll answers per team, the payload
/// `{"replay": …}` restores the window, the live checkpoint stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_under_the_lambda_runtime_restores_the_window() {
    let org = Org::new("lambdareplay", &["eng", "ops"]).await;
    let case = ReplayCase::new(&org.api, org.team("eng").handle, org.team("ops").handle, "");
    let teams_secret =
        services::create_secret(&format!("cursor-teams-{}", org.base), &org.teams_json()).await;
    let mut env = org.env(&[
        ("CURSOR_INITIAL_LOOKBACK", "3h"),
        ("CURSOR_PAGE_SIZE", "3"),
        ("CURSOR_TEAMS_SECRET_ARN", &teams_secret),
        ("RUST_LOG", "info"),
    ]);
    env.retain(|(k, _)| k != "CURSOR_TEAMS");
    let dir = support::scratch_dir("teams-lambda");
    let _turn = HEAVY.lock().await;
    let watch = support::cargo_lambda::watch(&env, &dir);

    let schedule: Value = serde_json::from_slice(
        &std::fs::read(support::repo_root().join("events/schedule.json")).unwrap(),
    )
    .unwrap();
    let response = watch.invoke(&schedule).await;
    assert_eq!(
        response["outcome"],
        "caught_up",
        "{response} (see {})",
        dir.display()
    );
    assert_eq!(response["indexed"], 50, "{response}");
    assert_eq!(response["teams"]["eng"]["indexed"], 40, "{response}");
    assert_eq!(response["teams"]["ops"]["indexed"], 10, "{response}");
    let stream = org.stream("eng");
    let original = org.documents("eng").await;
    assert_eq!(original.len(), 40);
    let live_eng = org.checkpoint("eng").await.unwrap();
    let live_ops = org.checkpoint("ops").await.unwrap();
    assert_eq!(
        delete_window(&org.engine, &stream, case.from, case.to).await,
        20
    );

    let seen = org.api.requests().len();
    let replay =
        json!({"replay": {"from": rfc3339(case.from), "to": rfc3339(case.to), "team": "eng"}});
    let response = watch.invoke(&replay).await;
    assert_eq!(response["outcome"], "caught_up", "{response}");
    assert_eq!(response["indexed"], 20, "{response}");
    let eng = &response["teams"]["eng"];
    assert_eq!(eng["indexed"], 20, "{response}");
    assert_eq!(eng["duplicates"], 0, "{response}");
    assert_eq!(eng["replay"]["from"], rfc3339(case.from), "{response}");
    assert!(response["teams"].get("ops").is_none(), "{response}");
    let restored = org.documents("eng").await;
    assert_eq!(id_set(&restored), id_set(&original));
    assert_eq!(event_ids(&restored), event_ids(&original));
    let replayed = &org.api.requests()[seen..];
    assert!(
        replayed
            .iter()
            .all(|r| window_of(r) == (case.from, case.to)),
        "{replayed:?}"
    );
    assert_eq!(org.checkpoint("eng").await.unwrap(), live_eng);
    assert_eq!(org.checkpoint("ops").await.unwrap(), live_ops);
    let progress = get_item(&org.table, &format!("poll#team#eng#all#{}", case.label()))
        .await
        .expect("the replay's progress item");
    assert!(!progress.contains_key("window_start") && !progress.contains_key("collected_until"));

    // Refusals come back as errors of type Replay, before any request.
    let seen = org.api.requests().len();
    let unknown = watch
        .invoke(&json!({"replay": {"from": rfc3339(case.from), "to": rfc3339(case.to), "team": "nosuch"}}))
        .await;
    assert_eq!(unknown["errorType"], "Replay", "{unknown}");
    assert!(
        unknown["errorMessage"].as_str().unwrap().contains("nosuch"),
        "{unknown}"
    );
    let old = watch
        .invoke(&json!({"replay": {"from": rfc3339(case.now - TimeDelta::days(31)), "to": rfc3339(case.now - TimeDelta::days(29))}}))
        .await;
    assert_eq!(old["errorType"], "Replay", "{old}");
    assert!(
        old["errorMessage"].as_str().unwrap().contains("30 days"),
        "{old}"
    );
    assert_eq!(org.api.requests().len(), seen);
}

/// g. An S3 object mixing teams' records: each record goes to the data stream of the team
/// its `team_id` names, with that team's tags; an unlisted team_id stays in the
/// deployment's namespace. Through `ship s3://…` and through the S3 Lambda handler.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_records_are_routed_to_their_teams_namespace_by_team_id() {
    use clap::Parser;
    use cursor_audit_forwarder::config::LambdaArgs;
    use cursor_audit_forwarder::lambda::{Handlers, handle};
    use cursor_audit_forwarder::shipping::deadline::Deadline;
    let org = Org::new("s3teams", &["eng", "ops"]).await;
    // eng's team_id as a string, ops's as a number (both forms are accepted).
    let teams = json!([
        {"name": "eng", "api_key": "k1", "namespace": org.team("eng").namespace, "tags": ["cursor-eng"], "team_id": "15767141"},
        {"name": "ops", "api_key": "k2", "namespace": org.team("ops").namespace, "tags": ["cursor-ops", "soc"], "team_id": 42},
    ])
    .to_string();
    let bucket = format!("audit-{}", org.base).to_lowercase();
    let s3 = services::s3().await;
    services::create_bucket(&s3, &bucket).await;
    let mut generator = support::synthetic::EventGenerator::new(21);
    // Records of eng, ops, an unlisted team and none, mixed in one object.
    let mut record = |i: usize, team_id: Option<Value>, object: &str| {
        let mut line: Value = serde_json::from_str(&generator.next_s3_line()).unwrap();
        line["metadata"]["id"] = json!(format!("{object}-{i:03}"));
        match team_id {
            Some(id) => line["team_id"] = id,
            None => {
                line.as_object_mut().unwrap().remove("team_id");
            }
        }
        line.to_string()
    };
    let teams_of = [
        Some(json!("15767141")),
        Some(json!("42")),
        Some(json!("777")),
        None,
        Some(json!(42)),
    ];
    let mut objects = Vec::new();
    for object in ["cli", "lambda"] {
        let lines: Vec<String> = (0..40)
            .map(|i| record(i, teams_of[i % 5].clone(), object))
            .collect();
        let key = format!("2026/11/25/{object}.jsonl");
        services::put_object(&s3, &bucket, &key, lines.join("\n").into_bytes()).await;
        objects.push(key);
    }
    // Which record goes where: eng 8, ops 16, home 16 (8 unlisted + 8 without team_id).
    let expected = |object: &str, wanted: &[usize]| -> BTreeSet<String> {
        (0..40)
            .filter(|i| wanted.contains(&(i % 5)))
            .map(|i| format!("{object}-{i:03}"))
            .collect()
    };

    // The CLI.
    let mut env = services::aws_env();
    env.push(("ES_URL".into(), org.engine.url.clone()));
    env.push(("DATA_STREAM_NAMESPACE".into(), org.base.clone()));
    env.push(("CHECKPOINT_TABLE".into(), org.table.clone()));
    env.push(("CURSOR_TEAMS".into(), teams.clone()));
    let url = format!("s3://{bucket}/{}", objects[0]);
    let run = tokio::task::spawn_blocking(move || run_cli(&["ship", &url], &env))
        .await
        .unwrap();
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.summary("indexed"), 40, "{}", run.stderr);

    // The S3 Lambda handler, on an S3 notification for the other object.
    let args = LambdaArgs::try_parse_from([
        "lambda",
        "--es-url",
        &org.engine.url,
        "--namespace",
        &org.base,
        "--checkpoint-table",
        &org.table,
        "--cursor-teams",
        &teams,
    ])
    .unwrap();
    let handlers = Handlers::build(args).await.unwrap();
    let notification = json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-25T12:00:00.000Z", "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "c",
               "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
               "object": {"key": objects[1], "size": 1, "sequencer": "1"}}
    }]});
    let deadline = Deadline {
        hard: Some(tokio::time::Instant::now() + Duration::from_secs(120)),
        per_batch: Duration::from_secs(30),
        stop_margin: Duration::from_secs(2),
    };
    let response = handle(&handlers, notification, deadline).await.unwrap();
    assert_eq!(response, json!({"objects": 1}));

    let home = org.base.clone();
    let routes: [(&str, String, &[usize], Vec<&str>); 3] = [
        (
            "eng",
            org.team("eng").namespace.clone().unwrap(),
            &[0],
            vec!["cursor-eng"],
        ),
        (
            "ops",
            org.team("ops").namespace.clone().unwrap(),
            &[1, 4],
            vec!["cursor-ops", "soc"],
        ),
        ("home", home, &[2, 3], vec![]),
    ];
    for (what, namespace, wanted, tags) in routes {
        let stream = format!("logs-cursor.audit-{namespace}");
        let documents = org.engine.all_documents(&stream).await;
        let mut want = expected("cli", wanted);
        want.extend(expected("lambda", wanted));
        assert_eq!(event_ids(&documents), want, "{what}");
        assert_team_fields(&documents, &namespace, &tags);
    }
}
