//! GeoIP databases from S3 (`GEOIP_CITY_DB` / `GEOIP_ASN_DB` = `s3://bucket/key`), with
//! moto's S3, the test databases and the engine: fetched once and used, checked by ETag every
//! `GEOIP_REFRESH` (an unchanged ETag downloads nothing, a new one exactly once) with every
//! request to moto seen through a recording proxy, a replaced object used without a
//! restart, and a missing or corrupt database a failure naming its URI.

mod support;

use std::time::Duration;

use clap::Parser;
use cursor_audit_forwarder::config::LambdaArgs;
use cursor_audit_forwarder::lambda::{Handlers, handle};
use cursor_audit_forwarder::shipping::deadline::Deadline;
use serde_json::{Value, json};
use support::fault_proxy::FaultProxy;
use support::services::{self, Engine};

fn api_line(event_id: &str, ip: &str) -> String {
    json!({"event_id": event_id, "timestamp": "2026-11-25T12:00:00.000Z", "ip_address": ip,
           "user_email": "ada@example.com", "event_type": "login", "event_data": {"success": true}})
    .to_string()
}

/// A bucket holding the test City and ASN databases; returns their URIs.
async fn databases(name: &str) -> (aws_sdk_s3::Client, String, String, String) {
    services::export_aws_env();
    let s3 = services::s3().await;
    let bucket = format!("geoip-{}", services::unique_namespace(name)).to_lowercase();
    services::create_bucket(&s3, &bucket).await;
    let (city, asn) = support::geoip_test_dbs();
    services::put_object(
        &s3,
        &bucket,
        "GeoLite2-City.mmdb",
        std::fs::read(city).unwrap(),
    )
    .await;
    services::put_object(
        &s3,
        &bucket,
        "GeoLite2-ASN.mmdb",
        std::fs::read(asn).unwrap(),
    )
    .await;
    let city_uri = format!("s3://{bucket}/GeoLite2-City.mmdb");
    let asn_uri = format!("s3://{bucket}/GeoLite2-ASN.mmdb");
    (s3, bucket, city_uri, asn_uri)
}

fn normalize_with(env: &[(String, String)], input: &str) -> std::process::Output {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    support::run_with_stdin(&["normalize"], &env, input.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn databases_from_s3_enrich_documents_and_bad_ones_fail_naming_the_uri() {
    let (s3, bucket, city, asn) = databases("cli").await;
    let mut env = services::aws_env();
    env.push(("GEOIP_CITY_DB".into(), city.clone()));
    env.push(("GEOIP_ASN_DB".into(), asn.clone()));
    let output = normalize_with(&env, &api_line("geo-1", "192.0.2.10"));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let doc: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(doc["source"]["geo"]["city_name"], "Las Vegas", "{doc}");
    assert_eq!(doc["source"]["geo"]["country_iso_code"], "US");
    assert_eq!(doc["source"]["as"]["number"], 64500, "{doc}");

    // A missing object and a file that is not a database: exit 2, naming the URI.
    services::put_object(&s3, &bucket, "corrupt.mmdb", b"not a database".to_vec()).await;
    for (uri, why) in [
        (format!("s3://{bucket}/missing.mmdb"), "NoSuchKey"),
        (
            format!("s3://{bucket}/corrupt.mmdb"),
            "not a readable MaxMind database",
        ),
    ] {
        let mut env = services::aws_env();
        env.push(("GEOIP_CITY_DB".into(), uri.clone()));
        let output = normalize_with(&env, &api_line("geo-2", "192.0.2.10"));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{uri}: {stderr}");
        assert!(stderr.contains(&uri), "{stderr}");
        assert!(stderr.contains(why), "{stderr}");
        assert!(
            output.stdout.is_empty(),
            "nothing shipped without enrichment"
        );
    }
}

/// How many `HEAD` and `GET` requests for `bucket/key` went through the proxy.
fn object_requests(proxy: &FaultProxy, bucket: &str, key: &str) -> (usize, usize) {
    let path = format!("/{bucket}/{key}");
    let requests = proxy.requests();
    let of = |method: &str| {
        requests
            .iter()
            .filter(|r| r.method == method)
            .filter(|r| r.path == path || r.path.starts_with(&format!("{path}?")))
            .count()
    };
    (of("HEAD"), of("GET"))
}

/// Waits (polling, up to two minutes) until `done` holds; the refresh runs every second, so
/// this only takes long on a machine that is slow, never fails because of it.
async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "gave up waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The object's ETag in moto.
async fn etag(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> String {
    s3.head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap()
        .e_tag()
        .unwrap()
        .to_owned()
}

/// An object whose ETag did not change is never downloaded again, even when the other
/// database changed (`fetch_changed` in src/geoip/source.rs fetches only the changed one).
const UNCHANGED_ASN_DOWNLOADS_WHEN_CITY_CHANGES: usize = 0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_database_is_used_after_the_refresh_interval_without_a_restart() {
    let (s3, bucket, city, asn) = databases("refresh").await;
    let engine = Engine::new();
    let namespace = services::unique_namespace("georefresh");
    let setup = support::run_cli(&["setup"], &[("ES_URL".into(), engine.url.clone())]);
    assert_eq!(setup.code, Some(0), "{}", setup.stderr);
    // The handlers' S3 client goes through a proxy that records every request to moto, so
    // the test sees each ETag check (HEAD) and each download (GET) of the databases.
    let proxy = FaultProxy::start_passing_headers(&services::env()["AWS_ENDPOINT_URL"]);
    let args = LambdaArgs::try_parse_from([
        "lambda",
        "--es-url",
        &engine.url,
        "--namespace",
        &namespace,
        "--geoip-city",
        &city,
        "--geoip-asn",
        &asn,
        "--geoip-refresh",
        "1s",
    ])
    .unwrap();
    let handlers = {
        // SAFETY (test process only): the S3 client is built from the environment here; the
        // variable is removed right after. Any other client of this process that read it
        // meanwhile reaches moto through the same transparent proxy.
        unsafe { std::env::set_var("AWS_ENDPOINT_URL_S3", &proxy.url) };
        let handlers = Handlers::build(args).await;
        unsafe { std::env::remove_var("AWS_ENDPOINT_URL_S3") };
        handlers.unwrap()
    };
    let city_key = "GeoLite2-City.mmdb";
    let asn_key = "GeoLite2-ASN.mmdb";
    let city_requests = || object_requests(&proxy, &bucket, city_key);
    let asn_requests = || object_requests(&proxy, &bucket, asn_key);
    // Loaded once at start.
    assert_eq!(city_requests().1, 1, "{:?}", proxy.requests());
    assert_eq!(asn_requests().1, 1);

    let stream = format!("logs-cursor.audit-{namespace}");
    let ship = |key: &'static str, line: String| {
        let s3 = s3.clone();
        let bucket = bucket.clone();
        let handlers = &handlers;
        async move {
            services::put_object(&s3, &bucket, key, format!("{line}\n").into_bytes()).await;
            let event = json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": bucket}, "object": {"key": key}}}]});
            let deadline = Deadline::unbounded(Duration::from_secs(30));
            handle(handlers, event, deadline).await.unwrap();
        }
    };
    ship("2026/11/25/a.jsonl", api_line("refresh-1", "192.0.2.10")).await;

    // Unchanged objects: several refresh intervals of ETag checks, not one download.
    let (city_heads, asn_heads) = (city_requests().0, asn_requests().0);
    wait_until("three ETag checks of unchanged objects", || {
        city_requests().0 >= city_heads + 3 && asn_requests().0 >= asn_heads + 3
    })
    .await;
    assert_eq!(
        city_requests().1,
        1,
        "an unchanged City object downloaded again"
    );
    assert_eq!(
        asn_requests().1,
        1,
        "an unchanged ASN object downloaded again"
    );

    // The same bytes stored again: a new object, the same ETag: still no download.
    let (city_file, asn_file) = support::geoip_test_dbs();
    let city_etag = etag(&s3, &bucket, city_key).await;
    services::put_object(&s3, &bucket, city_key, std::fs::read(&city_file).unwrap()).await;
    assert_eq!(etag(&s3, &bucket, city_key).await, city_etag);
    let (heads, _) = city_requests();
    wait_until("three ETag checks after the same bytes were stored", || {
        city_requests().0 >= heads + 3
    })
    .await;
    assert_eq!(city_requests().1, 1, "same ETag, yet downloaded again");
    assert_eq!(asn_requests().1, 1);

    // The City object is replaced by a database without city records (the ASN one): a new
    // ETag, so exactly one download of it at the next check, and then none again.
    services::put_object(&s3, &bucket, city_key, std::fs::read(&asn_file).unwrap()).await;
    assert_ne!(etag(&s3, &bucket, city_key).await, city_etag);
    wait_until("the replaced City object downloaded", || {
        city_requests().1 >= 2
    })
    .await;
    // The check after the download runs once the new readers are in place (one loop: check,
    // download, swap, wait, check); three more checks show no further download.
    let (heads, _) = city_requests();
    wait_until("three ETag checks after the download", || {
        city_requests().0 >= heads + 3
    })
    .await;
    assert_eq!(
        city_requests().1,
        2,
        "the new City object downloaded more than once"
    );
    assert_eq!(
        asn_requests().1,
        1 + UNCHANGED_ASN_DOWNLOADS_WHEN_CITY_CHANGES
    );
    ship("2026/11/25/b.jsonl", api_line("refresh-2", "192.0.2.10")).await;

    let documents = engine.all_documents(&stream).await;
    let by_event = |id: &str| {
        documents
            .iter()
            .find(|(_, s)| s["event"]["id"] == id)
            .map(|(_, s)| s.clone())
            .unwrap_or_else(|| panic!("{id} missing: {documents:?}"))
    };
    let before = by_event("refresh-1");
    assert_eq!(
        before["source"]["geo"]["city_name"], "Las Vegas",
        "{before}"
    );
    let after = by_event("refresh-2");
    assert!(
        after["source"]["geo"].get("city_name").is_none(),
        "the replaced database is in use: {after}"
    );
    // The ASN database did not change: still enriched.
    assert_eq!(after["source"]["as"]["number"], 64500, "{after}");
}
