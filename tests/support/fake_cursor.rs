//! A fake Cursor Admin API (`GET /teams/audit-logs`) that follows
//! docs/cursor-admin-api.md: HTTP Basic auth with the key as user name, a rolling
//! rate limit answered with the documented 429 body, the 30-day range and retention rules,
//! newest-first pages with inclusive edges, events recorded "late", and injected faults.
//!
//! One server can stand for several teams of a Cursor Organization: each team has its own
//! key, its own team id (`params.teamId`), its own events and its own rolling rate limit
//! (Cursor's is per team). [`FakeCursorApi::start`] makes team 1 (id [`TEAM_ID`]); the
//! single-team methods (`set_api_key`, `add_events`, …) act on it; [`FakeCursorApi::add_team`]
//! adds more. A key can be revoked ([`FakeCursorApi::revoke_key`]): 401 from then on.
//!
//! Each request goes through these steps, in order:
//! 1. it is recorded (1-based sequence number, arrival time);
//! 2. the first queued fault that matches it is consumed: a status answers at once, a delay
//!    or a hold (until the test opens a gate) waits (a client that disconnects meanwhile is
//!    recorded with status 499 and dropped);
//! 3. the `Authorization` header must be `Basic base64("<key>:")` for the current key of a
//!    team, not revoked (401); a team's latency ([`FakeCursorApi::set_team_latency`]) is
//!    waited out before answering it;
//! 4. the team's rolling rate limit counts the non-429 answers to its key of the last `per`
//!    (429, which do not count themselves);
//! 5. the query is validated (400);
//! 6. the page of the team's selected events is answered.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The team id the fake reports in `params`.
pub const TEAM_ID: u64 = 9990001;
/// The path the fake serves.
pub const AUDIT_LOGS_PATH: &str = "/teams/audit-logs";
/// The status recorded for a request whose client went away during an injected delay.
pub const CLIENT_CLOSED: u16 = 499;

const MAX_HEAD: usize = 64 * 1024;
const MAX_RANGE_DAYS: i64 = 30;
const RETENTION_DAYS: i64 = 30;
const DEFAULT_RANGE_DAYS: i64 = 7;

/// Which requests an injected fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultWhen {
    /// Any request at all.
    AnyRequest,
    /// Requests for this page (`page` query parameter, 1 when absent).
    Page(u32),
    /// Any request carrying this team's current key.
    Team(TeamHandle),
    /// Requests carrying this team's current key for this page (1 when absent).
    TeamPage(TeamHandle, u32),
}

/// One team of the fake (team 1 is the one [`FakeCursorApi::start`] made).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TeamHandle(usize);

impl TeamHandle {
    /// Team 1, the one [`FakeCursorApi::start`] made.
    pub const FIRST: TeamHandle = TeamHandle(0);

    /// 0-based, in the order the teams were added.
    pub fn index(self) -> usize {
        self.0
    }
}

/// What an injected fault does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CursorFault {
    /// Answer this status with the documented body for it, before authentication.
    Status(u16),
    /// Answer 429 with the documented body and this `Retry-After` value if any.
    TooManyRequests { retry_after: Option<String> },
    /// Wait this long, then handle the request normally.
    Delay(Duration),
    /// Wait until the gate is opened (however long that takes), then handle the request
    /// normally: a request held for exactly as long as the test needs, not for a guess.
    Hold(Gate),
}

/// A gate for [`CursorFault::Hold`]: closed until [`Gate::open`], then open for good.
#[derive(Debug, Clone, Default)]
pub struct Gate(Arc<GateState>);

#[derive(Debug, Default)]
struct GateState {
    open: std::sync::atomic::AtomicBool,
    notify: tokio::sync::Notify,
}

impl Gate {
    pub fn new() -> Gate {
        Gate::default()
    }

    /// Opens the gate: held requests go on, later ones pass at once.
    pub fn open(&self) {
        self.0.open.store(true, std::sync::atomic::Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }

    pub fn is_open(&self) -> bool {
        self.0.open.load(std::sync::atomic::Ordering::SeqCst)
    }

    async fn wait(&self) {
        loop {
            let notified = self.0.notify.notified();
            if self.is_open() {
                return;
            }
            notified.await;
        }
    }
}

/// Gates are equal when they are the same gate.
impl PartialEq for Gate {
    fn eq(&self, other: &Gate) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Gate {}

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    /// 1-based, in arrival order.
    pub sequence: usize,
    /// When the request head had fully arrived.
    pub at: Instant,
    pub page: Option<u32>,
    pub page_size: Option<u32>,
    /// Percent-decoded query values as sent.
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub event_types: Option<String>,
    pub authorization: Option<String>,
    /// The user name of a Basic `Authorization` (the key), if any.
    pub key: Option<String>,
    /// The team whose current, unrevoked key the request carried (`None`: answered 401
    /// unless a fault answered first).
    pub team: Option<TeamHandle>,
    /// The status answered (0 while the request is still in progress, 499 when the client
    /// went away during an injected delay).
    pub status: u16,
    /// How many events the answer held (0 unless 200).
    pub events_returned: usize,
    /// The injected fault this request consumed, if any.
    pub fault: Option<CursorFault>,
}

struct StoredEvent {
    value: Value,
    timestamp: DateTime<Utc>,
    /// The first request sequence number that sees this event.
    visible_from: usize,
}

struct QueuedFault {
    when: FaultWhen,
    fault: CursorFault,
    remaining: usize,
}

/// One team: its key, id, events, latency and rate-limit window.
struct TeamState {
    api_key: String,
    team_id: u64,
    events: Vec<StoredEvent>,
    /// Waited out before each answer to this team.
    latency: Duration,
    /// When each non-429 answer to this team's key was decided (its rate limiter's window).
    counted: VecDeque<Instant>,
}

impl TeamState {
    fn new(api_key: &str, team_id: u64) -> TeamState {
        TeamState {
            api_key: api_key.to_owned(),
            team_id,
            events: Vec::new(),
            latency: Duration::ZERO,
            counted: VecDeque::new(),
        }
    }
}

struct State {
    teams: Vec<TeamState>,
    /// Keys refused from now on, whichever team had them.
    revoked: HashSet<String>,
    /// Every team's limit: at most `rate_max` non-429 answers per key in any `rate_per`.
    rate_max: usize,
    rate_per: Duration,
    retry_after_on_limit: Option<u64>,
    faults: VecDeque<QueuedFault>,
    requests: Vec<ApiRequest>,
}

impl State {
    /// The team whose current key `key` is, unless revoked.
    fn team_of(&self, key: Option<&str>) -> Option<TeamHandle> {
        let key = key?;
        if self.revoked.contains(key) {
            return None;
        }
        self.teams
            .iter()
            .position(|t| t.api_key == key)
            .map(TeamHandle)
    }
}

/// The running fake (it lives as long as the test process).
#[derive(Clone)]
pub struct FakeCursorApi {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl FakeCursorApi {
    /// Starts the fake on a free loopback port, with team 1 (id [`TEAM_ID`]) accepting
    /// `api_key`.
    pub fn start(api_key: &str) -> FakeCursorApi {
        let state = Arc::new(Mutex::new(State {
            teams: vec![TeamState::new(api_key, TEAM_ID)],
            revoked: HashSet::new(),
            rate_max: 20,
            rate_per: Duration::from_secs(60),
            retry_after_on_limit: None,
            faults: VecDeque::new(),
            requests: Vec::new(),
        }));
        let served = state.clone();
        let url = super::serve_loopback(move |stream| {
            let state = served.clone();
            async move {
                let _ = handle(stream, &state).await;
            }
        });
        FakeCursorApi { url, state }
    }

    /// Replaces team 1's key (rotation): the old one is refused from now on.
    pub fn set_api_key(&self, key: &str) {
        self.set_team_key(TeamHandle::FIRST, key);
    }

    /// Replaces a team's key (rotation): the old one is refused from now on.
    pub fn set_team_key(&self, team: TeamHandle, key: &str) {
        self.lock().teams[team.0].api_key = key.to_owned();
    }

    /// Adds a team with its own key, team id (`params.teamId`), events and rate limit.
    pub fn add_team(&self, api_key: &str, team_id: u64) -> TeamHandle {
        let mut state = self.lock();
        assert!(
            state.teams.iter().all(|t| t.api_key != api_key),
            "two fake teams with the key {api_key}"
        );
        state.teams.push(TeamState::new(api_key, team_id));
        TeamHandle(state.teams.len() - 1)
    }

    /// The team whose current key `key` is (revoked or not).
    pub fn team(&self, key: &str) -> Option<TeamHandle> {
        self.lock()
            .teams
            .iter()
            .position(|t| t.api_key == key)
            .map(TeamHandle)
    }

    /// Refuses `key` with 401 from now on, whichever team it belongs to.
    pub fn revoke_key(&self, key: &str) {
        self.lock().revoked.insert(key.to_owned());
    }

    /// Every answer to `team` waits this long first (after any injected fault): a slow
    /// API for that team only. A client that goes away meanwhile is recorded with 499.
    pub fn set_team_latency(&self, team: TeamHandle, latency: Duration) {
        self.lock().teams[team.0].latency = latency;
    }

    /// At most `max_requests` non-429 answers per key (team) in any rolling `per`
    /// (default 20 per 60 s).
    pub fn set_rate_limit(&self, max_requests: usize, per: Duration) {
        let mut state = self.lock();
        state.rate_max = max_requests;
        state.rate_per = per;
    }

    /// The `Retry-After` seconds sent with rate-limit 429s (default: no header).
    pub fn set_retry_after_on_limit(&self, seconds: Option<u64>) {
        self.lock().retry_after_on_limit = seconds;
    }

    /// Adds events every later request of team 1 can see. Each needs an RFC 3339
    /// `timestamp`.
    pub fn add_events(&self, events: impl IntoIterator<Item = Value>) {
        self.add_late_events(events, 1);
    }

    /// Adds events team 1's requests see from sequence number `visible_from_request` on
    /// (1-based count of every request received), as if Cursor recorded them late.
    pub fn add_late_events(
        &self,
        events: impl IntoIterator<Item = Value>,
        visible_from_request: usize,
    ) {
        self.add_late_team_events(TeamHandle::FIRST, events, visible_from_request);
    }

    /// Adds events every later request of `team` can see.
    pub fn add_team_events(&self, team: TeamHandle, events: impl IntoIterator<Item = Value>) {
        self.add_late_team_events(team, events, 1);
    }

    /// Adds events `team`'s requests see from sequence number `visible_from_request` on.
    pub fn add_late_team_events(
        &self,
        team: TeamHandle,
        events: impl IntoIterator<Item = Value>,
        visible_from_request: usize,
    ) {
        let stored: Vec<StoredEvent> = events
            .into_iter()
            .map(|value| {
                let timestamp = value
                    .get("timestamp")
                    .and_then(Value::as_str)
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .unwrap_or_else(|| {
                        panic!("fake Cursor event without an RFC 3339 timestamp: {value}")
                    })
                    .with_timezone(&Utc);
                StoredEvent {
                    value,
                    timestamp,
                    visible_from: visible_from_request,
                }
            })
            .collect();
        self.lock().teams[team.0].events.extend(stored);
    }

    /// Queues a fault for the next `times` matching requests. Faults are consumed in order of
    /// injection: a request takes the first queued fault that matches it.
    pub fn inject(&self, when: FaultWhen, fault: CursorFault, times: usize) {
        if times > 0 {
            self.lock().faults.push_back(QueuedFault {
                when,
                fault,
                remaining: times,
            });
        }
    }

    /// Every request received, in arrival order.
    pub fn requests(&self) -> Vec<ApiRequest> {
        self.lock().requests.clone()
    }

    /// The requests that carried `key` (as the Basic user name), whatever their status.
    pub fn requests_with_key(&self, key: &str) -> Vec<ApiRequest> {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.key.as_deref() == Some(key))
            .cloned()
            .collect()
    }

    /// The largest number of request arrivals (whatever their status) within any half-open
    /// interval `[t, t + window)`.
    pub fn max_requests_in_window(&self, window: Duration) -> usize {
        let arrivals: Vec<Instant> = self.lock().requests.iter().map(|r| r.at).collect();
        max_in_window(&arrivals, window)
    }

    /// [`FakeCursorApi::max_requests_in_window`] over the requests that carried `key`
    /// (what Cursor's per-team limit counts), whatever their status.
    pub fn max_requests_in_window_for(&self, key: &str, window: Duration) -> usize {
        let arrivals: Vec<Instant> = self.requests_with_key(key).iter().map(|r| r.at).collect();
        max_in_window(&arrivals, window)
    }

    /// How many requests were answered 200.
    pub fn served_count(&self) -> usize {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.status == 200)
            .count()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panicking test thread must not hide the server's state from the others.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The most of `arrivals` (in order) within any half-open `[t, t + window)`.
fn max_in_window(arrivals: &[Instant], window: Duration) -> usize {
    let mut best = 0;
    let mut first = 0;
    for (last, at) in arrivals.iter().enumerate() {
        while first <= last && at.duration_since(arrivals[first]) >= window {
            first += 1;
        }
        best = best.max(last + 1 - first);
    }
    best
}

/// A realistic Admin API event of `event_type` (the shape of Cursor's documented examples).
pub fn api_event(event_id: &str, timestamp: DateTime<Utc>, event_type: &str) -> Value {
    const IPS: [&str; 4] = ["198.51.100.22", "203.0.113.40", "192.0.2.15", "2001:db8::7"];
    const USERS: [&str; 4] = [
        "admin@example.com",
        "alice@example.com",
        "bob@example.com",
        "security@example.com",
    ];
    let pick = event_id.bytes().map(usize::from).sum::<usize>();
    let (mut ip, mut user) = (IPS[pick % IPS.len()], USERS[pick % USERS.len()]);
    let event_data = match event_type {
        "login" => json!({"login_type": "LOGIN_TYPE_WEB", "success": pick % 5 != 0}),
        "logout" => json!({}),
        "add_user" => json!({
            "user_email": format!("newhire-{}@example.com", pick % 100),
            "role": "MEMBER",
            "source": "invite_email",
            "team_id": "team_syn_001",
            "invited_by_email": user,
            "invited_by_user_id": "9001",
            "invite_id": format!("inv_{pick:04x}"),
        }),
        "remove_user" => {
            // Removals by SCIM or seat expiry are system-initiated.
            (ip, user) = ("unknown", "unknown");
            json!({"user_email": format!("leaver-{}@example.com", pick % 100)})
        }
        "team_settings" => json!({
            "setting_name": "enforce_privacy_mode",
            "old_value": "disabled",
            "new_value": "enabled",
        }),
        "privacy_mode" => json!({
            "old_privacy_mode": "PRIVACY_MODE_NO_STORAGE",
            "new_privacy_mode": "PRIVACY_MODE_DEFAULT",
            "scope": "team",
        }),
        "team_api_key" => json!({"action": "create", "key_id": format!("key_team_{pick:06x}")}),
        "user_api_key" => json!({"action": "revoke", "key_id": format!("key_user_{pick:06x}")}),
        "team_hook" => json!({
            "action": "create",
            "hook_id": format!("hook_{pick:04x}"),
            "hook_step": "post_tool_call",
            "script_name": "lint.sh",
            "hook_type": "command",
            "is_active": true,
            "operating_systems": ["linux", "darwin"],
        }),
        "mcp_server_config" => json!({
            "action": "create",
            "scope": "user",
            "server_name": "Elastic-docs",
            "server_type": "HTTP",
        }),
        "create_directory_group" => json!({
            "directory_group_id": "dir_group_eng_001",
            "metadata": "{\"display_name\":\"Engineering\",\"priority\":1}",
        }),
        "add_user_to_directory_group" => json!({
            "directory_group_id": "dir_group_eng_001",
            "user_email": "contractor@example.com",
        }),
        _ => json!({}),
    };
    json!({
        "event_id": event_id,
        "timestamp": timestamp.to_rfc3339_opts(SecondsFormat::Millis, true),
        "ip_address": ip,
        "user_email": user,
        "event_type": event_type,
        "event_data": event_data,
    })
}

/// The request head, parsed.
struct Head {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    authorization: Option<String>,
}

impl Head {
    /// The first value of query parameter `name`.
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The page the request asks for (1 when absent, `None` when unparsable).
    fn page_or_default(&self) -> Option<u32> {
        match self.param("page") {
            None => Some(1),
            Some(p) => p.trim().parse().ok(),
        }
    }
}

/// An answer to write.
struct Reply {
    status: u16,
    retry_after: Option<String>,
    body: Value,
    events_returned: usize,
}

impl Reply {
    fn error(status: u16, body: Value) -> Reply {
        Reply {
            status,
            retry_after: None,
            body,
            events_returned: 0,
        }
    }

    fn bad_request(message: impl Into<String>) -> Reply {
        Reply::error(
            400,
            json!({"error": "Bad Request", "message": message.into()}),
        )
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

fn too_many_requests_body() -> Value {
    json!({"error": "Too Many Requests", "message": "Rate limit exceeded. Please try again later."})
}

/// The documented body for an injected status.
fn fault_body(status: u16) -> Value {
    match status {
        400 => json!({"error": "Bad Request", "message": "Some users are not in the team"}),
        401 => json!({"error": "Unauthorized", "message": "Invalid API key"}),
        403 => json!({"error": "Forbidden", "message": "Enterprise access required"}),
        429 => too_many_requests_body(),
        500..=599 => json!({"error": "Internal Server Error"}),
        other => json!({"error": reason(other)}),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a byte; a malformed
/// escape stays as it is.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len()
                && bytes[i + 1].is_ascii_hexdigit()
                && bytes[i + 2].is_ascii_hexdigit() =>
            {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 2;
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_head(text: &str) -> Head {
    let mut lines = text.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_owned();
    let target = request_line.next().unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let query = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect();
    let authorization = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.trim().to_owned());
    Head {
        method,
        path: path.to_owned(),
        query,
        authorization,
    }
}

/// Reads up to the end of the request head; `None` when the client went away first.
async fn read_head(stream: &mut TcpStream) -> std::io::Result<Option<Result<String, ()>>> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(end) = find(&buffer, b"\r\n\r\n") {
            return Ok(Some(Ok(
                String::from_utf8_lossy(&buffer[..end]).into_owned()
            )));
        }
        if buffer.len() > MAX_HEAD {
            return Ok(Some(Err(())));
        }
    }
}

/// Sleeps `delay`; `false` when the client closed the connection meanwhile.
async fn wait_unless_closed(
    stream: &mut TcpStream,
    until: impl std::future::Future<Output = ()>,
) -> bool {
    let sleep = until;
    tokio::pin!(sleep);
    let mut scratch = [0u8; 1024];
    loop {
        tokio::select! {
            () = &mut sleep => return true,
            read = stream.read(&mut scratch) => match read {
                Ok(0) | Err(_) => return false,
                Ok(_) => {}
            },
        }
    }
}

async fn write_reply(stream: &mut TcpStream, reply: &Reply) -> std::io::Result<()> {
    let body = reply.body.to_string();
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        reply.status,
        reason(reply.status),
        body.len()
    );
    if let Some(retry_after) = &reply.retry_after {
        head.push_str(&format!("Retry-After: {retry_after}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// Records the final answer of request `sequence` and, unless 429, counts it for the rate
/// limit of the team whose key it carried.
fn finish(state: &mut State, sequence: usize, reply: &Reply) {
    let request = &mut state.requests[sequence - 1];
    request.status = reply.status;
    request.events_returned = reply.events_returned;
    let team = request.team;
    if reply.status != 429
        && let Some(team) = team
    {
        state.teams[team.0].counted.push_back(Instant::now());
    }
}

async fn handle(mut stream: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    let head = match read_head(&mut stream).await? {
        None => return Ok(()),
        Some(Ok(head)) => parse_head(&head),
        Some(Err(())) => {
            let reply = Reply::error(431, json!({"error": reason(431)}));
            return write_reply(&mut stream, &reply).await;
        }
    };
    // 1. Record; 2. take the first matching fault (other paths and methods answer at once).
    let recorded = {
        let mut state = lock(state);
        let sequence = state.requests.len() + 1;
        let served_path = head.method == "GET" && head.path == AUDIT_LOGS_PATH;
        let key = basic_user(head.authorization.as_deref());
        let team = state.team_of(key.as_deref());
        let fault = if served_path {
            take_fault(&mut state.faults, head.page_or_default(), team)
        } else {
            None
        };
        state.requests.push(ApiRequest {
            sequence,
            at: Instant::now(),
            page: head.param("page").and_then(|p| p.trim().parse().ok()),
            page_size: head.param("pageSize").and_then(|p| p.trim().parse().ok()),
            start_time: head.param("startTime").map(str::to_owned),
            end_time: head.param("endTime").map(str::to_owned),
            event_types: head.param("eventTypes").map(str::to_owned),
            authorization: head.authorization.clone(),
            key,
            team,
            status: 0,
            events_returned: 0,
            fault: fault.clone(),
        });
        if served_path {
            Ok((sequence, fault))
        } else {
            let status = if head.path == AUDIT_LOGS_PATH {
                405
            } else {
                404
            };
            let reply = Reply::error(status, json!({"error": reason(status)}));
            finish(&mut state, sequence, &reply);
            Err(reply)
        }
    };
    let (sequence, fault) = match recorded {
        Ok(recorded) => recorded,
        Err(reply) => return write_reply(&mut stream, &reply).await,
    };
    let immediate = match &fault {
        Some(CursorFault::Status(status)) => Some(Reply::error(*status, fault_body(*status))),
        Some(CursorFault::TooManyRequests { retry_after }) => Some(Reply {
            status: 429,
            retry_after: retry_after.clone(),
            body: too_many_requests_body(),
            events_returned: 0,
        }),
        Some(CursorFault::Delay(delay)) => {
            if !wait_unless_closed(&mut stream, tokio::time::sleep(*delay)).await {
                lock(state).requests[sequence - 1].status = CLIENT_CLOSED;
                return Ok(());
            }
            None
        }
        Some(CursorFault::Hold(gate)) => {
            if !wait_unless_closed(&mut stream, gate.wait()).await {
                lock(state).requests[sequence - 1].status = CLIENT_CLOSED;
                return Ok(());
            }
            None
        }
        None => None,
    };
    if immediate.is_none() {
        // The team's latency (looked up now: a key revoked meanwhile has none).
        let latency = {
            let state = lock(state);
            let key = basic_user(head.authorization.as_deref());
            state
                .team_of(key.as_deref())
                .map_or(Duration::ZERO, |t| state.teams[t.0].latency)
        };
        if !latency.is_zero() && !wait_unless_closed(&mut stream, tokio::time::sleep(latency)).await
        {
            lock(state).requests[sequence - 1].status = CLIENT_CLOSED;
            return Ok(());
        }
    }
    let reply = {
        let mut state = lock(state);
        let reply = match immediate {
            Some(reply) => reply,
            None => answer(&mut state, &head, sequence),
        };
        finish(&mut state, sequence, &reply);
        reply
    };
    write_reply(&mut stream, &reply).await
}

fn take_fault(
    faults: &mut VecDeque<QueuedFault>,
    page: Option<u32>,
    team: Option<TeamHandle>,
) -> Option<CursorFault> {
    let index = faults.iter().position(|f| match f.when {
        FaultWhen::AnyRequest => true,
        FaultWhen::Page(n) => page == Some(n),
        FaultWhen::Team(t) => team == Some(t),
        FaultWhen::TeamPage(t, n) => team == Some(t) && page == Some(n),
    })?;
    let queued = &mut faults[index];
    queued.remaining -= 1;
    let fault = queued.fault.clone();
    if queued.remaining == 0 {
        faults.remove(index);
    }
    Some(fault)
}

/// The user name of `Basic base64("<user>:")` (the password must be empty); `None` for
/// anything else.
fn basic_user(authorization: Option<&str>) -> Option<String> {
    let (scheme, credentials) = authorization?.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(credentials.trim())
        .ok()?;
    let user = decoded.strip_suffix(b":")?;
    if user.contains(&b':') {
        return None;
    }
    String::from_utf8(user.to_vec()).ok()
}

/// RFC 3339, or epoch milliseconds as digits.
fn parse_time(name: &str, value: &str) -> Result<DateTime<Utc>, Reply> {
    let value = value.trim();
    let parsed = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        value
            .parse::<i64>()
            .ok()
            .and_then(DateTime::from_timestamp_millis)
    } else {
        DateTime::parse_from_rfc3339(value)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    };
    parsed.ok_or_else(|| {
        Reply::bad_request(format!(
            "Invalid {name} '{value}': expected an ISO 8601 date-time or epoch milliseconds"
        ))
    })
}

/// Steps 3 to 6 for a request that got past its fault.
fn answer(state: &mut State, head: &Head, sequence: usize) -> Reply {
    // 3. Authentication (against the key's state now: a key revoked or rotated while
    // its request waited is refused).
    let key = basic_user(head.authorization.as_deref());
    let team = state.team_of(key.as_deref());
    state.requests[sequence - 1].team = team;
    let Some(team) = team else {
        return Reply::error(
            401,
            json!({"error": "Unauthorized", "message": "Invalid API key"}),
        );
    };
    // 4. The team's rolling rate limit over the non-429 answers to its key.
    let (rate_max, rate_per) = (state.rate_max, state.rate_per);
    let now = Instant::now();
    let counted = &mut state.teams[team.0].counted;
    while counted
        .front()
        .is_some_and(|t| now.duration_since(*t) >= rate_per)
    {
        counted.pop_front();
    }
    if counted.len() >= rate_max {
        return Reply {
            status: 429,
            retry_after: state.retry_after_on_limit.map(|s| s.to_string()),
            body: too_many_requests_body(),
            events_returned: 0,
        };
    }
    // 5. Validation.
    let page_size = match head.param("pageSize") {
        None => 100,
        Some(p) => match p.trim().parse::<usize>() {
            Ok(n) if (1..=500).contains(&n) => n,
            _ => {
                return Reply::bad_request(format!(
                    "Invalid pageSize '{p}': must be an integer between 1 and 500"
                ));
            }
        },
    };
    let page = match head.param("page") {
        None => 1,
        Some(p) => match p.trim().parse::<usize>() {
            Ok(n) if n >= 1 => n,
            _ => {
                return Reply::bad_request(format!(
                    "Invalid page '{p}': must be an integer of at least 1"
                ));
            }
        },
    };
    let wall_now = Utc::now();
    let end = match head.param("endTime") {
        None => wall_now,
        Some(t) => match parse_time("endTime", t) {
            Ok(t) => t,
            Err(reply) => return reply,
        },
    };
    let start = match head.param("startTime") {
        None => end - TimeDelta::days(DEFAULT_RANGE_DAYS),
        Some(t) => match parse_time("startTime", t) {
            Ok(t) => t,
            Err(reply) => return reply,
        },
    };
    if end < start {
        return Reply::bad_request("endTime must not be before startTime");
    }
    if end - start > TimeDelta::days(MAX_RANGE_DAYS) {
        return Reply::bad_request("Date range cannot exceed 30 days");
    }
    if start < wall_now - TimeDelta::days(RETENTION_DAYS) {
        return Reply::bad_request(
            "startTime is more than 30 days ago: only the last 30 days of audit logs are available",
        );
    }
    // 6. Selection and paging, newest first (the sort is stable: ties keep insertion order).
    let types: Option<Vec<&str>> = head.param("eventTypes").map(|t| {
        t.split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .collect()
    });
    let team = &state.teams[team.0];
    let mut selected: Vec<&StoredEvent> = team
        .events
        .iter()
        .filter(|e| e.visible_from <= sequence)
        .filter(|e| start <= e.timestamp && e.timestamp <= end)
        .filter(|e| {
            types.as_ref().is_none_or(|types| {
                e.value
                    .get("event_type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| types.contains(&t))
            })
        })
        .collect();
    selected.sort_by_key(|e| std::cmp::Reverse(e.timestamp));
    let total = selected.len();
    let total_pages = total.div_ceil(page_size);
    let events: Vec<Value> = selected
        .iter()
        .skip((page - 1).saturating_mul(page_size))
        .take(page_size)
        .map(|e| e.value.clone())
        .collect();
    let events_returned = events.len();
    Reply {
        status: 200,
        retry_after: None,
        body: json!({
            "events": events,
            "pagination": {
                "page": page,
                "pageSize": page_size,
                "totalCount": total,
                "totalPages": total_pages,
                "hasNextPage": page < total_pages,
                "hasPreviousPage": page > 1,
            },
            "params": {
                "teamId": team.team_id,
                "startDate": start.timestamp_millis(),
                "endDate": end.timestamp_millis(),
            },
        }),
        events_returned,
    }
}
