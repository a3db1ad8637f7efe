//! The fake Cursor Admin API follows the spec (docs/cursor-admin-api.md) that the
//! poller codes against: Basic auth and key rotation, newest-first pages with inclusive edges,
//! the 30-day rules, a rolling rate limit with the documented 429, injected faults and late
//! events. No external services.

mod support;

use std::time::{Duration, Instant};

use base64::Engine as _;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use serde_json::{Value, json};
use support::fake_cursor::{CursorFault, FakeCursorApi, FaultWhen, api_event};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KEY: &str = "key_0123456789abcdef";

/// The audit-logs URL with these query parameters, form-encoded as a client would.
fn audit_url(api: &FakeCursorApi, params: &[(&str, String)]) -> reqwest::Url {
    let mut url = reqwest::Url::parse(&format!("{}/teams/audit-logs", api.url)).unwrap();
    if !params.is_empty() {
        url.query_pairs_mut()
            .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())));
    }
    url
}

struct Answer {
    status: u16,
    retry_after: Option<String>,
    content_type: Option<String>,
    body: Value,
}

async fn send(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.expect("the fake answers");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let (retry_after, content_type) = (header("retry-after"), header("content-type"));
    let status = response.status().as_u16();
    let body = response.json().await.expect("a JSON body");
    Answer {
        status,
        retry_after,
        content_type,
        body,
    }
}

/// GET with `key` as the Basic user name.
async fn get(api: &FakeCursorApi, key: &str, params: &[(&str, String)]) -> Answer {
    send(
        reqwest::Client::new()
            .get(audit_url(api, params))
            .basic_auth(key, Some("")),
    )
    .await
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Now, to the millisecond (the precision of event timestamps).
fn now_ms() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap()
}

fn ids(body: &Value) -> Vec<String> {
    body["events"]
        .as_array()
        .expect("events array")
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().to_owned())
        .collect()
}

fn statuses(api: &FakeCursorApi) -> Vec<u16> {
    api.requests().iter().map(|r| r.status).collect()
}

#[tokio::test]
async fn basic_auth_with_the_current_key_only_and_rotation() {
    let api = FakeCursorApi::start(KEY);
    let client = reqwest::Client::new();
    let url = audit_url(&api, &[]);
    let unauthorized = json!({"error": "Unauthorized", "message": "Invalid API key"});

    let none = send(client.get(url.clone())).await;
    assert_eq!((none.status, &none.body), (401, &unauthorized));
    let wrong = get(&api, "key_wrong", &[]).await;
    assert_eq!((wrong.status, &wrong.body), (401, &unauthorized));
    let bearer = send(client.get(url.clone()).bearer_auth(KEY)).await;
    assert_eq!(bearer.status, 401, "only HTTP Basic is accepted");
    let with_password = send(client.get(url.clone()).basic_auth(KEY, Some("secret"))).await;
    assert_eq!(with_password.status, 401, "the password must be empty");
    assert_eq!(get(&api, KEY, &[]).await.status, 200);
    let manual = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{KEY}:"))
    );
    let by_hand = send(client.get(url.clone()).header("Authorization", &manual)).await;
    assert_eq!(by_hand.status, 200);

    api.set_api_key("key_fedcba9876543210");
    assert_eq!(
        get(&api, KEY, &[]).await.status,
        401,
        "old key after rotation"
    );
    assert_eq!(get(&api, "key_fedcba9876543210", &[]).await.status, 200);

    assert_eq!(statuses(&api), [401, 401, 401, 401, 200, 200, 401, 200]);
    let requests = api.requests();
    assert_eq!(requests[0].authorization, None);
    assert_eq!(requests[5].authorization.as_deref(), Some(manual.as_str()));
    assert_eq!(
        requests.iter().map(|r| r.sequence).collect::<Vec<_>>(),
        (1..=8).collect::<Vec<_>>()
    );
    assert_eq!(api.served_count(), 3);
}

#[tokio::test]
async fn three_pages_newest_first_with_inclusive_edges() {
    let api = FakeCursorApi::start(KEY);
    let end = now_ms() - TimeDelta::hours(2);
    let start = end - TimeDelta::hours(1);
    let minutes = |m: i64| end - TimeDelta::minutes(m);
    let ms = TimeDelta::milliseconds(1);
    // Added out of order; two events share a timestamp.
    let events = vec![
        api_event("m30", minutes(30), "team_settings"),
        api_event("start-edge", start, "login"),
        api_event("tie-first", minutes(20), "add_user"),
        api_event("after-end", end + ms, "login"),
        api_event("end-edge", end, "login"),
        api_event("before-start", start - ms, "login"),
        api_event("m40", minutes(40), "remove_user"),
        api_event("tie-second", minutes(20), "login"),
        api_event("m10", minutes(10), "add_user"),
    ];
    api.add_events(events.clone());
    let window = [
        ("startTime", rfc3339(start)),
        ("endTime", rfc3339(end)),
        ("pageSize", "3".to_owned()),
    ];

    let mut seen = Vec::new();
    let mut flags = Vec::new();
    for page in 1..=3 {
        let mut params = window.to_vec();
        params.push(("page", page.to_string()));
        let answer = get(&api, KEY, &params).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.content_type.as_deref(), Some("application/json"));
        let pagination = &answer.body["pagination"];
        assert_eq!(pagination["page"], page);
        assert_eq!(pagination["pageSize"], 3);
        assert_eq!(pagination["totalCount"], 7);
        assert_eq!(pagination["totalPages"], 3);
        flags.push((
            pagination["hasNextPage"].as_bool().unwrap(),
            pagination["hasPreviousPage"].as_bool().unwrap(),
        ));
        assert_eq!(
            answer.body["params"],
            json!({"teamId": 9990001, "startDate": start.timestamp_millis(), "endDate": end.timestamp_millis()})
        );
        seen.extend(ids(&answer.body));
        // Events come back exactly as added.
        for event in answer.body["events"].as_array().unwrap() {
            assert!(events.contains(event), "{event} was altered");
        }
    }
    assert_eq!(
        seen,
        [
            "end-edge",
            "m10",
            "tie-first",
            "tie-second",
            "m30",
            "m40",
            "start-edge"
        ]
    );
    assert_eq!(flags, [(true, false), (true, true), (false, true)]);

    // The query values were percent-encoded on the wire and are recorded decoded.
    let requests = api.requests();
    assert_eq!(
        requests[0].start_time.as_deref(),
        Some(rfc3339(start).as_str())
    );
    assert_eq!(requests[2].page, Some(3));
    assert_eq!(requests[2].page_size, Some(3));
    assert_eq!(
        requests
            .iter()
            .map(|r| r.events_returned)
            .collect::<Vec<_>>(),
        [3, 3, 1]
    );

    // Past the last page: empty, no next page.
    let mut params = window.to_vec();
    params.push(("page", "4".to_owned()));
    let beyond = get(&api, KEY, &params).await;
    assert_eq!(ids(&beyond.body), Vec::<String>::new());
    assert_eq!(beyond.body["pagination"]["hasNextPage"], false);

    // eventTypes filter, epoch milliseconds, and `+` for a space, in a raw query string.
    let raw = format!(
        "{}/teams/audit-logs?startTime={}&endTime={}&eventTypes=add_user%2C+remove_user",
        api.url,
        start.timestamp_millis(),
        rfc3339(end).replace(':', "%3A"),
    );
    let filtered = send(reqwest::Client::new().get(raw).basic_auth(KEY, Some(""))).await;
    assert_eq!(filtered.status, 200, "{}", filtered.body);
    assert_eq!(ids(&filtered.body), ["m10", "tie-first", "m40"]);
    let last = api.requests().pop().unwrap();
    assert_eq!(last.event_types.as_deref(), Some("add_user, remove_user"));
    assert_eq!(last.end_time.as_deref(), Some(rfc3339(end).as_str()));
}

#[tokio::test]
async fn thirty_day_rules_and_parameter_validation() {
    let api = FakeCursorApi::start(KEY);
    let now = Utc::now();
    let days = TimeDelta::days;
    let check = |start: DateTime<Utc>, end: DateTime<Utc>| {
        let api = api.clone();
        async move {
            get(
                &api,
                KEY,
                &[("startTime", rfc3339(start)), ("endTime", rfc3339(end))],
            )
            .await
        }
    };

    let too_long = check(now - days(29), now + days(2)).await;
    assert_eq!(too_long.status, 400);
    assert_eq!(too_long.body["error"], "Bad Request");
    assert!(
        too_long.body["message"]
            .as_str()
            .unwrap()
            .contains("exceed 30 days"),
        "{}",
        too_long.body
    );

    let too_old = check(now - days(31), now - days(30)).await;
    assert_eq!(too_old.status, 400);
    assert!(
        too_old.body["message"]
            .as_str()
            .unwrap()
            .contains("more than 30 days ago"),
        "{}",
        too_old.body
    );

    let just_inside = check(now - days(30) + TimeDelta::minutes(1), now).await;
    assert_eq!(just_inside.status, 200, "{}", just_inside.body);
    let backwards = check(now - days(1), now - days(2)).await;
    assert_eq!(backwards.status, 400);

    for bad in [
        vec![("startTime", "yesterday-ish".to_owned())],
        vec![("endTime", "2026-13-45T00:00:00Z".to_owned())],
        vec![("pageSize", "0".to_owned())],
        vec![("pageSize", "501".to_owned())],
        vec![("page", "0".to_owned())],
        vec![("page", "two".to_owned())],
    ] {
        let answer = get(&api, KEY, &bad).await;
        assert_eq!(answer.status, 400, "{bad:?} gave {}", answer.body);
        assert!(answer.body["message"].is_string(), "{}", answer.body);
    }
    let largest = get(&api, KEY, &[("pageSize", "500".to_owned())]).await;
    assert_eq!(largest.status, 200);

    // Defaults: the last 7 days, page 1 of 100.
    let defaults = get(&api, KEY, &[]).await;
    assert_eq!(defaults.status, 200);
    let params = &defaults.body["params"];
    let (start_ms, end_ms) = (
        params["startDate"].as_i64().unwrap(),
        params["endDate"].as_i64().unwrap(),
    );
    assert_eq!(end_ms - start_ms, days(7).num_milliseconds());
    assert!((end_ms - Utc::now().timestamp_millis()).abs() < 5_000);
    assert_eq!(defaults.body["pagination"]["page"], 1);
    assert_eq!(defaults.body["pagination"]["pageSize"], 100);
}

#[tokio::test]
async fn rolling_window_rate_limit_with_the_documented_429() {
    let api = FakeCursorApi::start(KEY);
    api.set_rate_limit(3, Duration::from_secs(1));
    assert_eq!(get(&api, KEY, &[]).await.status, 200); // A
    // A was counted before `begin`, so it has left the window by `begin` + 1 s.
    let begin = Instant::now();
    let at = |ms: u64| tokio::time::sleep_until((begin + Duration::from_millis(ms)).into());

    at(300).await;
    assert_eq!(get(&api, KEY, &[]).await.status, 200); // B
    assert_eq!(get(&api, KEY, &[]).await.status, 200); // C
    let limited = get(&api, KEY, &[]).await; // D
    assert_eq!(limited.status, 429);
    assert_eq!(
        limited.body,
        json!({"error": "Too Many Requests", "message": "Rate limit exceeded. Please try again later."})
    );
    assert_eq!(
        limited.retry_after, None,
        "no Retry-After unless configured"
    );

    // A has left the window but B and C have not: one slot, unlike a fixed 1 s window.
    at(1_050).await;
    api.set_retry_after_on_limit(Some(7));
    assert_eq!(get(&api, KEY, &[]).await.status, 200); // E
    let limited = get(&api, KEY, &[]).await; // F
    assert_eq!(limited.status, 429);
    assert_eq!(limited.retry_after.as_deref(), Some("7"));

    // B and C have left; the 429s D and F never counted, so two more fit beside E.
    at(1_700).await;
    assert_eq!(get(&api, KEY, &[]).await.status, 200); // G
    assert_eq!(get(&api, KEY, &[]).await.status, 200); // H
    assert_eq!(get(&api, KEY, &[]).await.status, 429); // I

    assert_eq!(
        statuses(&api),
        [200, 200, 200, 429, 200, 429, 200, 200, 429]
    );
    assert_eq!(api.served_count(), 6);
    assert_eq!(api.max_requests_in_window(Duration::from_secs(10)), 9);
    assert_eq!(api.max_requests_in_window(Duration::from_millis(300)), 3);
    assert_eq!(api.max_requests_in_window(Duration::ZERO), 0);
}

#[tokio::test]
async fn injected_statuses_and_429s_are_consumed_in_order() {
    let api = FakeCursorApi::start(KEY);
    let page = |n: u32| vec![("page", n.to_string())];

    api.inject(FaultWhen::Page(2), CursorFault::Status(500), 1);
    api.inject(FaultWhen::Page(3), CursorFault::Status(400), 1);
    assert_eq!(get(&api, KEY, &page(1)).await.status, 200);
    let failed = get(&api, KEY, &page(2)).await;
    assert_eq!(
        (failed.status, failed.body),
        (500, json!({"error": "Internal Server Error"}))
    );
    assert_eq!(get(&api, KEY, &page(2)).await.status, 200, "consumed once");
    let bad = get(&api, KEY, &page(3)).await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["error"], "Bad Request");

    // Faults come before authentication.
    api.inject(
        FaultWhen::AnyRequest,
        CursorFault::TooManyRequests {
            retry_after: Some("1".to_owned()),
        },
        1,
    );
    let limited = get(&api, "key_wrong", &[]).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.retry_after.as_deref(), Some("1"));
    assert_eq!(
        limited.body["message"],
        "Rate limit exceeded. Please try again later."
    );

    api.inject(FaultWhen::AnyRequest, CursorFault::Status(503), 1);
    api.inject(FaultWhen::AnyRequest, CursorFault::Status(403), 2);
    assert_eq!(get(&api, KEY, &[]).await.status, 503);
    let forbidden = get(&api, KEY, &[]).await;
    assert_eq!(
        (forbidden.status, forbidden.body),
        (
            403,
            json!({"error": "Forbidden", "message": "Enterprise access required"})
        )
    );
    assert_eq!(get(&api, KEY, &[]).await.status, 403);
    assert_eq!(get(&api, KEY, &[]).await.status, 200);

    assert_eq!(
        statuses(&api),
        [200, 500, 200, 400, 429, 503, 403, 403, 200]
    );
    let faults: Vec<_> = api.requests().into_iter().map(|r| r.fault).collect();
    assert_eq!(faults[0], None);
    assert_eq!(faults[1], Some(CursorFault::Status(500)));
    assert_eq!(
        faults[4],
        Some(CursorFault::TooManyRequests {
            retry_after: Some("1".to_owned())
        })
    );
    assert_eq!(faults[8], None);
}

#[tokio::test]
async fn delays_answer_late_and_survive_clients_that_give_up() {
    let api = FakeCursorApi::start(KEY);
    api.add_events([api_event("one", now_ms() - TimeDelta::hours(1), "login")]);

    api.inject(
        FaultWhen::AnyRequest,
        CursorFault::Delay(Duration::from_millis(300)),
        1,
    );
    let started = Instant::now();
    let slow = get(&api, KEY, &[]).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(
        (slow.status, ids(&slow.body)),
        (200, vec!["one".to_owned()])
    );

    // A client that times out during the delay: recorded as 499, not served, server alive.
    api.inject(
        FaultWhen::AnyRequest,
        CursorFault::Delay(Duration::from_secs(30)),
        1,
    );
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap()
        .get(audit_url(&api, &[]))
        .basic_auth(KEY, Some(""))
        .send()
        .await;
    assert!(
        impatient.is_err(),
        "the delay outlasts the client's timeout"
    );
    let deadline = Instant::now() + Duration::from_secs(2);
    while api.requests()[1].status != 499 {
        assert!(Instant::now() < deadline, "{:?}", api.requests()[1]);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(get(&api, KEY, &[]).await.status, 200);
    assert_eq!(statuses(&api), [200, 499, 200]);
    assert_eq!(api.served_count(), 2);
}

#[tokio::test]
async fn concurrent_clients_split_heads_and_early_hangups() {
    let api = FakeCursorApi::start(KEY);
    api.inject(
        FaultWhen::Page(1),
        CursorFault::Delay(Duration::from_millis(400)),
        1,
    );
    let delayed = {
        let api = api.clone();
        tokio::spawn(async move {
            let answer = get(&api, KEY, &[]).await;
            (answer.status, Instant::now())
        })
    };
    while api.requests().is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // Clients that hang up before or during the head.
    drop(
        tokio::net::TcpStream::connect(api.url.trim_start_matches("http://"))
            .await
            .unwrap(),
    );
    let mut half = tokio::net::TcpStream::connect(api.url.trim_start_matches("http://"))
        .await
        .unwrap();
    half.write_all(b"GET /teams/audit-logs HTTP/1.1\r\nHo")
        .await
        .unwrap();
    drop(half);

    // A head that arrives in pieces, while the first request is still delayed.
    let mut raw = tokio::net::TcpStream::connect(api.url.trim_start_matches("http://"))
        .await
        .unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{KEY}:"));
    raw.write_all(b"GET /teams/audit-logs?page=2&pageSi")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    raw.write_all(
        format!("ze=5 HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n").as_bytes(),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    raw.write_all(b"\r\n").await.unwrap();
    let mut response = String::new();
    raw.read_to_string(&mut response).await.unwrap();
    let split_done = Instant::now();
    assert!(response.starts_with("HTTP/1.1 200 "), "{response}");
    assert!(response.contains("\"pageSize\":5"), "{response}");

    let (status, delayed_done) = delayed.await.unwrap();
    assert_eq!(status, 200);
    assert!(
        split_done < delayed_done,
        "the delayed request held up another"
    );
    assert_eq!(statuses(&api), [200, 200]);
    assert_eq!(api.requests()[1].page, Some(2));
}

#[tokio::test]
async fn late_events_appear_only_from_their_request() {
    let api = FakeCursorApi::start(KEY);
    let now = now_ms();
    api.add_events([api_event("early", now - TimeDelta::minutes(10), "login")]);
    // Recorded late with a timestamp older than events already served.
    api.add_late_events(
        [api_event("late", now - TimeDelta::minutes(20), "add_user")],
        3,
    );
    let window = [
        ("startTime", rfc3339(now - TimeDelta::hours(1))),
        ("endTime", rfc3339(now)),
    ];
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(ids(&get(&api, KEY, &window).await.body));
    }
    assert_eq!(
        seen,
        [
            vec!["early"],
            vec!["early"],
            vec!["early", "late"],
            vec!["early", "late"]
        ]
    );
    assert_eq!(
        api.requests()
            .iter()
            .map(|r| r.events_returned)
            .collect::<Vec<_>>(),
        [1, 1, 2, 2]
    );
}

#[test]
fn api_events_look_like_cursors() {
    let at = Utc.with_ymd_and_hms(2026, 5, 4, 15, 30, 0).unwrap();
    let login = api_event("a1b2", at, "login");
    assert_eq!(login["event_id"], "a1b2");
    assert_eq!(login["timestamp"], "2026-05-04T15:30:00.000Z");
    assert_eq!(login["event_type"], "login");
    assert!(login["event_data"]["login_type"].is_string());
    assert!(login["event_data"]["success"].is_boolean());
    assert!(login["ip_address"].as_str().unwrap().contains(['.', ':']));
    assert!(login["user_email"].as_str().unwrap().contains('@'));

    let add_user = api_event("c3d4", at, "add_user");
    assert!(
        add_user["event_data"]["user_email"]
            .as_str()
            .unwrap()
            .contains('@')
    );
    assert_eq!(add_user["event_data"]["role"], "MEMBER");
    let settings = api_event("e5f6", at, "team_settings");
    assert!(settings["event_data"]["setting_name"].is_string());
    let removal = api_event("g7h8", at, "remove_user");
    assert_eq!(
        (&removal["ip_address"], &removal["user_email"]),
        (&json!("unknown"), &json!("unknown"))
    );
    for event in [login, add_user, settings, removal] {
        assert!(event["event_data"].is_object());
        assert_eq!(event.as_object().unwrap().len(), 6, "{event}");
    }
}
