//! The HTTP/1.1 pieces the test servers share: reading one request, and a `_bulk` answer
//! that gives every action of a request the same status.

use std::io::Read;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// One request as a test server read it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The request target: path and query.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// A header's value (names compared without case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body, inflated when it is gzip.
    pub fn text(&self) -> String {
        let mut text = String::new();
        if self.body.starts_with(&[0x1f, 0x8b]) {
            flate2::read::MultiGzDecoder::new(&self.body[..])
                .read_to_string(&mut text)
                .unwrap();
        } else {
            text = String::from_utf8_lossy(&self.body).into_owned();
        }
        text
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Reads one request (head, then a `Content-Length` body); `None` when the client went
/// away first.
pub async fn read_request(stream: &mut TcpStream) -> std::io::Result<Option<Request>> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(end) = find(&buffer, b"\r\n\r\n") {
            break end;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_owned();
    let path = request_line.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Ok(Some(Request {
        method,
        path,
        headers,
        body,
    }))
}

/// A `_bulk` answer (status 200) giving each of the request's actions `status`, with an
/// error of `error_type` unless the status is a success.
pub fn every_item_answer(request: &Request, status: u16, error_type: &str) -> Vec<u8> {
    let actions = request.text().lines().filter(|l| !l.is_empty()).count() / 2;
    let item = if (200..300).contains(&status) {
        format!(r#"{{"create":{{"status":{status}}}}}"#)
    } else {
        format!(
            r#"{{"create":{{"status":{status},"error":{{"type":"{error_type}","reason":"injected"}}}}}}"#
        )
    };
    let items = vec![item; actions].join(",");
    format!(r#"{{"errors":{},"items":[{items}]}}"#, status >= 300).into_bytes()
}
