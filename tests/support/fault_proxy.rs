//! A small HTTP proxy between the sink and the engine that records every request (headers
//! and body) and injects faults on demand into `_bulk` requests: whole-request statuses,
//! answers whose items all carry a given status, or delays.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::http::{Request, every_item_answer, read_request};

/// What to do with the next request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status and an error body, without forwarding.
    Status(u16),
    /// Answer a `_bulk` request with every item at this status, without forwarding.
    EveryItem(u16),
    /// Forward, but only after this many milliseconds.
    DelayMs(u64),
    /// Forward, but not before this moment (a fixed point on the test's clock, whenever the
    /// request arrives).
    HoldUntil(std::time::Instant),
    /// Answer `200 text/html` with a maintenance page (a load balancer's), without
    /// forwarding.
    MaintenancePage,
}

/// One request as the proxy saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The fault injected instead of forwarding, if any.
    pub fault: Option<Fault>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct State {
    faults: VecDeque<Fault>,
    requests: Vec<Recorded>,
    /// Forward the upstream's response headers (for S3: `ETag` and the rest), not only its
    /// status and body.
    pass_headers: bool,
    /// When set, every request without exactly this `Authorization` header is answered 401
    /// as Elasticsearch's security answers it (the test node runs without security).
    required_authorization: Option<String>,
}

/// The running proxy (it lives as long as the test process).
#[derive(Clone)]
pub struct FaultProxy {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` on a free loopback port.
    pub fn start(upstream: &str) -> FaultProxy {
        FaultProxy::start_with(upstream, false)
    }

    /// A proxy that also forwards the upstream's response headers (what an S3 client needs:
    /// `ETag`, `Content-Length` of a `HEAD`, ...): a recorder of every request to moto.
    pub fn start_passing_headers(upstream: &str) -> FaultProxy {
        FaultProxy::start_with(upstream, true)
    }

    fn start_with(upstream: &str, pass_headers: bool) -> FaultProxy {
        let state = Arc::new(Mutex::new(State {
            pass_headers,
            ..State::default()
        }));
        let served = state.clone();
        let upstream = upstream.trim_end_matches('/').to_owned();
        let http = reqwest::Client::new();
        let url = super::serve_loopback(move |stream| {
            let (state, http, upstream) = (served.clone(), http.clone(), upstream.clone());
            async move {
                let _ = handle(stream, &state, &http, &upstream).await;
            }
        });
        FaultProxy { url, state }
    }

    /// Queues faults for the next requests, in order.
    pub fn inject(&self, faults: &[Fault]) {
        self.state
            .lock()
            .unwrap()
            .faults
            .extend(faults.iter().copied());
    }

    /// From now on, answers 401 to every request whose `Authorization` header is not
    /// `header` (`None`: accept any). Stands for the cluster's security: the credentials it
    /// accepts, and those it no longer accepts once they are invalidated.
    pub fn require_authorization(&self, header: Option<String>) {
        self.state.lock().unwrap().required_authorization = header;
    }

    /// Everything seen so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }
}

async fn handle(
    mut stream: TcpStream,
    state: &Mutex<State>,
    http: &reqwest::Client,
    upstream: &str,
) -> std::io::Result<()> {
    let Some(request) = read_request(&mut stream).await? else {
        return Ok(());
    };
    let Request {
        method,
        path,
        headers,
        body,
    } = request.clone();
    // Faults are for `_bulk` requests; the sink's other reads (its one-time look at the
    // data stream's pipelines) pass through.
    let fault = if path.contains("_bulk") {
        state.lock().unwrap().faults.pop_front()
    } else {
        None
    };
    state.lock().unwrap().requests.push(Recorded {
        method: method.clone(),
        path: path.clone(),
        headers: headers.clone(),
        body: body.clone(),
        fault,
    });
    let mut upstream_headers: Vec<(String, String)> = Vec::new();
    let required = state.lock().unwrap().required_authorization.clone();
    let authorized = required.is_none_or(|wanted| {
        headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("authorization") && *v == wanted)
    });
    let (status, response_body) = match fault {
        _ if !authorized => (
            401,
            br#"{"error":{"type":"security_exception","reason":"unable to authenticate with provided credentials and anonymous access is not allowed for this request"},"status":401}"#.to_vec(),
        ),
        Some(Fault::Status(status)) => (
            status,
            format!(
                r#"{{"error":{{"type":"injected","reason":"fault proxy"}},"status":{status}}}"#
            )
            .into_bytes(),
        ),
        Some(Fault::MaintenancePage) => (
            200,
            b"<html><body>Service under maintenance</body></html>".to_vec(),
        ),
        Some(Fault::EveryItem(status)) => (
            200,
            every_item_answer(&request, status, "es_rejected_execution_exception"),
        ),
        None | Some(Fault::DelayMs(_) | Fault::HoldUntil(_)) => {
            match fault {
                Some(Fault::DelayMs(ms)) => {
                    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                }
                Some(Fault::HoldUntil(at)) => tokio::time::sleep_until(at.into()).await,
                _ => {}
            }
            let mut request = http.request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET),
                format!("{upstream}{path}"),
            );
            for (name, value) in &headers {
                if !matches!(
                    name.to_ascii_lowercase().as_str(),
                    "host" | "content-length" | "connection"
                ) {
                    request = request.header(name.as_str(), value.as_str());
                }
            }
            match request.body(body).send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    upstream_headers = response
                        .headers()
                        .iter()
                        .filter(|(name, _)| {
                            !matches!(
                                name.as_str(),
                                "connection" | "transfer-encoding" | "keep-alive"
                            )
                        })
                        .filter_map(|(name, value)| {
                            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
                        })
                        .collect();
                    (status, response.bytes().await.unwrap_or_default().to_vec())
                }
                Err(err) => (502, err.to_string().into_bytes()),
            }
        }
    };
    let pass_headers = state.lock().unwrap().pass_headers;
    let head = if pass_headers && !upstream_headers.is_empty() {
        // The upstream's headers as they came; a HEAD answer keeps its Content-Length (the
        // object's size) and has no body.
        let is_head = method.eq_ignore_ascii_case("HEAD");
        let mut head = format!("HTTP/1.1 {status} X\r\n");
        for (name, value) in &upstream_headers {
            if name != "content-length" || is_head {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
        }
        if !is_head {
            head.push_str(&format!("content-length: {}\r\n", response_body.len()));
        }
        head.push_str("connection: close\r\n\r\n");
        head
    } else {
        format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            response_body.len()
        )
    };
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&response_body).await?;
    stream.shutdown().await
}
