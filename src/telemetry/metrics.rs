//! What one Lambda invocation did, as one summary log line and one CloudWatch Embedded
//! Metric Format (EMF) record on stdout, which CloudWatch turns into metrics without any API
//! call: namespace `METRICS_NAMESPACE` (default `CursorAuditForwarder`), dimension
//! `FunctionName`, metrics EventsRead, EventsIndexed, Duplicates, DeadLettered, Failed,
//! Retries, ApiRequests and LagSeconds (now − newest `@timestamp` indexed; omitted when
//! unknown).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::sink::Counts;

/// The summary line of a run (docs/ARCHITECTURE.md): counts, time and peak memory.
pub fn summary_line(counts: &Counts, seconds: f64) -> String {
    let mut line = format!(
        "summary: read={} indexed={} duplicates={} dead_lettered={} failed={} seconds={seconds:.2}",
        counts.read, counts.indexed, counts.duplicates, counts.dead_lettered, counts.failed
    );
    if let Some(peak) = peak_rss_mb() {
        line.push_str(&format!(" peak_rss_mb={peak:.1}"));
    }
    line
}

/// The process's peak resident set size (Linux `VmHWM`), in MB.
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// Seconds from `newest` (the newest `@timestamp` indexed) to `now`; never negative.
pub fn lag_seconds(newest: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Option<f64> {
    newest.map(|newest| (now - newest).num_milliseconds().max(0) as f64 / 1000.0)
}

/// Default `METRICS_NAMESPACE`.
pub const DEFAULT_NAMESPACE: &str = "CursorAuditForwarder";

/// The figures of one invocation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InvocationMetrics {
    /// `s3` or `poller`; empty until the event is recognized.
    pub handler: &'static str,
    /// What was read and delivered.
    pub counts: Counts,
    /// Admin API requests (retries included).
    pub api_requests: u64,
    /// Admin API requests repeated (429, 5xx, transport errors, a refused key).
    pub api_retries: u64,
    /// Objects handled (S3 path).
    pub objects: u64,
    /// Objects not fully forwarded (S3 path).
    pub objects_failed: u64,
    /// The newest `@timestamp` indexed (for the poller: ever, from the checkpoint).
    pub newest_event: Option<DateTime<Utc>>,
    /// The poller's health, for the alarms on silence and loss.
    pub poll: Option<PollHealth>,
    /// Each named team's part (docs/teams.md): one more record each, with the `Team`
    /// dimension.
    pub teams: Vec<TeamMetrics>,
}

/// What one team of the list did in an invocation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TeamMetrics {
    /// The team's name: the `Team` dimension.
    pub team: String,
    /// Its documents.
    pub counts: Counts,
    /// Its Admin API requests.
    pub api_requests: u64,
    /// The newest event it indexed.
    pub newest_event: Option<DateTime<Utc>>,
    /// Its poll's health (not for a replay).
    pub poll: Option<PollHealth>,
}

/// What one poll says about the poller's health.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PollHealth {
    /// The run did not fail (caught up, stopped cleanly, or another poller holds the lease).
    pub succeeded: bool,
    /// Seconds since what the checkpoint has collected up to, when it knows.
    pub checkpoint_age_seconds: Option<f64>,
    /// Seconds of events lost to the Admin API's retention in this run.
    pub retention_lost_seconds: f64,
}

impl InvocationMetrics {
    /// Seconds from the newest event to `now`.
    pub fn lag_seconds(&self, now: DateTime<Utc>) -> Option<f64> {
        lag_seconds(self.newest_event, now)
    }

    /// Keeps the newer event time.
    pub fn offer_newest(&mut self, time: Option<DateTime<Utc>>) {
        if let Some(time) = time {
            self.newest_event = Some(self.newest_event.map_or(time, |n| n.max(time)));
        }
    }

    /// The EMF record (one JSON line).
    pub fn emf(&self, namespace: &str, function_name: &str, now: DateTime<Utc>) -> Value {
        let mut metrics: Vec<(&str, &str, Value)> = vec![
            ("EventsRead", "Count", json!(self.counts.read)),
            ("EventsIndexed", "Count", json!(self.counts.indexed)),
            ("Duplicates", "Count", json!(self.counts.duplicates)),
            ("DeadLettered", "Count", json!(self.counts.dead_lettered)),
            ("Failed", "Count", json!(self.counts.failed)),
            (
                "Retries",
                "Count",
                json!(self.counts.retries + self.api_retries),
            ),
            ("ApiRequests", "Count", json!(self.api_requests)),
        ];
        if let Some(lag) = self.lag_seconds(now) {
            metrics.push(("LagSeconds", "Seconds", json!(lag)));
        }
        if self.handler == "s3" {
            metrics.push(("ObjectsFailed", "Count", json!(self.objects_failed)));
        }
        if let Some(poll) = &self.poll {
            push_poll_health(&mut metrics, poll);
        }
        let mut record = emf_record(namespace, &["FunctionName"], &metrics, now);
        record.insert("FunctionName".into(), json!(function_name));
        record.insert("Handler".into(), json!(self.handler));
        Value::Object(record)
    }

    /// One EMF record per named team, with dimensions `FunctionName` and `Team`:
    /// EventsRead, EventsIndexed, DeadLettered, ApiRequests, LagSeconds and the poll's
    /// PollSucceeded, CheckpointAgeSeconds and RetentionLostSeconds.
    pub fn team_emf(&self, namespace: &str, function_name: &str, now: DateTime<Utc>) -> Vec<Value> {
        self.teams
            .iter()
            .map(|team| {
                let mut metrics: Vec<(&str, &str, Value)> = vec![
                    ("EventsRead", "Count", json!(team.counts.read)),
                    ("EventsIndexed", "Count", json!(team.counts.indexed)),
                    ("DeadLettered", "Count", json!(team.counts.dead_lettered)),
                    ("ApiRequests", "Count", json!(team.api_requests)),
                ];
                if let Some(lag) = lag_seconds(team.newest_event, now) {
                    metrics.push(("LagSeconds", "Seconds", json!(lag)));
                }
                if let Some(poll) = &team.poll {
                    push_poll_health(&mut metrics, poll);
                }
                let mut record = emf_record(namespace, &["FunctionName", "Team"], &metrics, now);
                record.insert("FunctionName".into(), json!(function_name));
                record.insert("Team".into(), json!(team.team));
                record.insert("Handler".into(), json!(self.handler));
                Value::Object(record)
            })
            .collect()
    }

    /// The one summary line of an invocation (the CLI's summary plus the API and lag).
    pub fn summary_line(&self, seconds: f64, now: DateTime<Utc>) -> String {
        let mut line = summary_line(&self.counts, seconds);
        line.push_str(&format!(
            " handler={} objects={} objects_failed={} requests={} retries={}",
            if self.handler.is_empty() {
                "none"
            } else {
                self.handler
            },
            self.objects,
            self.objects_failed,
            self.api_requests,
            self.counts.retries + self.api_retries
        ));
        if let Some(lag) = self.lag_seconds(now) {
            line.push_str(&format!(" lag_seconds={lag:.0}"));
        }
        line
    }

    /// Reports the invocation: its one summary line (a log record) and its EMF record
    /// (stdout, where the Lambda service hands it to CloudWatch Logs, which extracts the
    /// metrics).
    pub fn report(&self, seconds: f64, namespace: &str, function_name: &str) {
        let now = Utc::now();
        tracing::info!(
            handler = self.handler,
            "{}",
            self.summary_line(seconds, now)
        );
        let record = self.emf(namespace, function_name, now);
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{record}");
        for team in self.team_emf(namespace, function_name, now) {
            let _ = writeln!(out, "{team}");
        }
        let _ = out.flush();
    }
}

/// The poll's health metrics.
fn push_poll_health(metrics: &mut Vec<(&str, &str, Value)>, poll: &PollHealth) {
    metrics.push(("PollSucceeded", "Count", json!(u8::from(poll.succeeded))));
    if let Some(age) = poll.checkpoint_age_seconds {
        metrics.push(("CheckpointAgeSeconds", "Seconds", json!(age)));
    }
    metrics.push((
        "RetentionLostSeconds",
        "Seconds",
        json!(poll.retention_lost_seconds),
    ));
}

/// An EMF record declaring `metrics` under `dimensions`, with their values.
fn emf_record(
    namespace: &str,
    dimensions: &[&str],
    metrics: &[(&str, &str, Value)],
    now: DateTime<Utc>,
) -> Map<String, Value> {
    let mut record = Map::new();
    record.insert(
        "_aws".into(),
        json!({
            "Timestamp": now.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [dimensions],
                "Metrics": metrics
                    .iter()
                    .map(|(name, unit, _)| json!({"Name": name, "Unit": unit}))
                    .collect::<Vec<_>>(),
            }],
        }),
    );
    for (name, _, value) in metrics {
        record.insert((*name).into(), value.clone());
    }
    record
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_time::at;

    #[test]
    fn the_emf_record_declares_every_metric_it_carries() {
        let metrics = InvocationMetrics {
            handler: "poller",
            counts: Counts {
                read: 10,
                indexed: 7,
                duplicates: 2,
                dead_lettered: 1,
                printed: 0,
                failed: 0,
                retries: 3,
            },
            api_requests: 4,
            api_retries: 1,
            objects: 0,
            objects_failed: 0,
            newest_event: Some(at("2026-11-25T11:59:30Z")),
            poll: Some(PollHealth {
                succeeded: false,
                checkpoint_age_seconds: Some(3600.0),
                retention_lost_seconds: 86_400.0,
            }),
            teams: Vec::new(),
        };
        let now = at("2026-11-25T12:00:00Z");
        let record = metrics.emf("CursorAuditForwarder", "fn-poller", now);
        let declared = &record["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(declared["Namespace"], "CursorAuditForwarder");
        assert_eq!(declared["Dimensions"], json!([["FunctionName"]]));
        assert_eq!(record["_aws"]["Timestamp"], now.timestamp_millis());
        assert_eq!(record["FunctionName"], "fn-poller");
        for entry in declared["Metrics"].as_array().unwrap() {
            let name = entry["Name"].as_str().unwrap();
            assert!(record[name].is_number(), "{name} declared but missing");
        }
        assert_eq!(record["EventsIndexed"], 7);
        assert_eq!(record["Retries"], 4);
        assert_eq!(record["ApiRequests"], 4);
        assert_eq!(record["LagSeconds"], 30.0);
        assert_eq!(record["PollSucceeded"], 0);
        assert_eq!(record["CheckpointAgeSeconds"], 3600.0);
        assert_eq!(record["RetentionLostSeconds"], 86_400.0);
        assert!(
            record.get("ObjectsFailed").is_none(),
            "a poller has no objects"
        );
        let line = metrics.summary_line(1.5, now);
        assert!(
            line.contains("indexed=7") && line.contains("lag_seconds=30"),
            "{line}"
        );
        // Without an event time there is no lag metric at all (not a misleading zero).
        let quiet = InvocationMetrics {
            handler: "s3",
            ..InvocationMetrics::default()
        }
        .emf("N", "f", now);
        assert!(quiet.get("LagSeconds").is_none());
        let names: Vec<&str> = quiet["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert!(!names.contains(&"LagSeconds"));
        assert!(!names.contains(&"PollSucceeded"), "not a poll");
        assert_eq!(quiet["ObjectsFailed"], 0);
    }

    #[test]
    fn each_team_gets_a_record_with_its_dimension() {
        let now = at("2026-11-25T12:00:00Z");
        let metrics = InvocationMetrics {
            handler: "poller",
            teams: vec![
                TeamMetrics {
                    team: "eng".into(),
                    counts: Counts {
                        read: 3,
                        indexed: 3,
                        ..Counts::default()
                    },
                    api_requests: 2,
                    newest_event: Some(at("2026-11-25T11:59:00Z")),
                    poll: Some(PollHealth {
                        succeeded: true,
                        checkpoint_age_seconds: Some(60.0),
                        retention_lost_seconds: 0.0,
                    }),
                },
                TeamMetrics {
                    team: "ops".into(),
                    poll: Some(PollHealth::default()),
                    ..TeamMetrics::default()
                },
            ],
            ..InvocationMetrics::default()
        };
        let records = metrics.team_emf("N", "fn-poller", now);
        assert_eq!(records.len(), 2);
        let eng = &records[0];
        assert_eq!(
            eng["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["FunctionName", "Team"]])
        );
        assert_eq!(
            (&eng["Team"], &eng["FunctionName"]),
            (&json!("eng"), &json!("fn-poller"))
        );
        assert_eq!(eng["EventsIndexed"], 3);
        assert_eq!(eng["LagSeconds"], 60.0);
        assert_eq!(eng["PollSucceeded"], 1);
        assert_eq!(records[1]["PollSucceeded"], 0);
        for record in &records {
            for entry in record["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .unwrap()
            {
                let name = entry["Name"].as_str().unwrap();
                assert!(record[name].is_number(), "{name} declared but missing");
            }
        }
        // Without named teams there is no team record.
        assert!(
            InvocationMetrics::default()
                .team_emf("N", "f", now)
                .is_empty()
        );
    }
}
