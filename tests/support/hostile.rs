//! A loopback HTTP server that misbehaves on cue: it answers requests from a script
//! (statuses, headers, bodies, endless bodies, redirects, per-item `_bulk` statuses) and
//! records what it was sent. It stands in for a broken cluster, proxy or Admin API.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::http::{Request, every_item_answer, read_request};

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Answer {
    /// This status, these extra headers and this body.
    Plain {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// This status and a body of `bytes` filler bytes, streamed (never built in memory).
    Huge { status: u16, bytes: usize },
    /// A `_bulk` answer giving every action of the request this status.
    EveryItem { status: u16, error_type: String },
    /// 200 with these headers, promising `declared` bytes, sending `body`, then for a
    /// minute either nothing more (a stalled connection, `trickle: None`) or one byte `x`
    /// every `trickle` (a body that never gets anywhere, yet fast enough for the AWS SDK's
    /// stalled-stream protection, which ends a body that sends nothing for ~5 s).
    Stall {
        headers: Vec<(String, String)>,
        declared: usize,
        body: Vec<u8>,
        trickle: Option<std::time::Duration>,
    },
}

impl Answer {
    /// A JSON body with a status.
    pub fn json(status: u16, body: &str) -> Answer {
        Answer::Plain {
            status,
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    /// A status with one extra header.
    pub fn with_header(status: u16, name: &str, value: &str) -> Answer {
        Answer::Plain {
            status,
            headers: vec![(name.to_owned(), value.to_owned())],
            body: br#"{"error":"scripted"}"#.to_vec(),
        }
    }

    /// Every `_bulk` item created.
    pub fn created() -> Answer {
        Answer::EveryItem {
            status: 201,
            error_type: String::new(),
        }
    }
}

struct State {
    script: VecDeque<Answer>,
    otherwise: Answer,
    seen: Vec<Request>,
}

/// The running server (it lives as long as the test process).
#[derive(Clone)]
pub struct HostileServer {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl HostileServer {
    /// Answers the first requests from `script`, in order, and every later one with
    /// `otherwise`.
    pub fn start(script: Vec<Answer>, otherwise: Answer) -> HostileServer {
        let state = Arc::new(Mutex::new(State {
            script: script.into(),
            otherwise,
            seen: Vec::new(),
        }));
        let served = state.clone();
        let url = super::serve_loopback(move |stream| {
            let state = served.clone();
            async move {
                let _ = handle(stream, &state).await;
            }
        });
        HostileServer { url, state }
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().seen.clone()
    }

    /// The `_bulk` requests received so far.
    pub fn bulk_requests(&self) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.path.contains("_bulk"))
            .collect()
    }
}

async fn handle(mut stream: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    let Some(request) = read_request(&mut stream).await? else {
        return Ok(());
    };
    // The sink's one-time look at the data stream's pipelines (sink/mode.rs) finds none;
    // the script is for everything else.
    let looks_at_pipelines =
        request.path.contains("/_settings/") || request.path.contains("_simulate_index");
    let answer = {
        let mut state = state.lock().unwrap();
        state.seen.push(request.clone());
        if looks_at_pipelines {
            Answer::json(404, "{}")
        } else {
            let next = state.script.pop_front();
            next.unwrap_or_else(|| state.otherwise.clone())
        }
    };
    if let Answer::Stall {
        headers,
        declared,
        body,
        trickle,
    } = &answer
    {
        let mut head = format!("HTTP/1.1 200 OK\r\nContent-Length: {declared}\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body).await?;
        stream.flush().await?;
        let until = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
        match trickle {
            None => tokio::time::sleep_until(until).await,
            Some(every) => {
                let mut sent = body.len();
                while tokio::time::Instant::now() < until && sent < *declared {
                    tokio::time::sleep(*every).await;
                    stream.write_all(b"x").await?;
                    stream.flush().await?;
                    sent += 1;
                }
            }
        }
        return Ok(());
    }
    let (status, headers, body, filler) = match answer {
        Answer::Plain {
            status,
            headers,
            body,
        } => (status, headers, body, 0),
        Answer::Huge { status, bytes } => (status, Vec::new(), Vec::new(), bytes),
        Answer::EveryItem { status, error_type } => (
            200,
            Vec::new(),
            every_item_answer(&request, status, &error_type),
            0,
        ),
        Answer::Stall { .. } => unreachable!("answered above"),
    };
    let mut head = format!(
        "HTTP/1.1 {status} Scripted\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len() + filler
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&body).await?;
    let chunk = vec![b'x'; 64 * 1024];
    let mut left = filler;
    while left > 0 {
        let n = left.min(chunk.len());
        // The client hanging up early ends the answer.
        stream.write_all(&chunk[..n]).await?;
        left -= n;
    }
    stream.shutdown().await
}
