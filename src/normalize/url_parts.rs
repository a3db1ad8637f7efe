//! URL parts for `url.*`, following Elasticsearch's `uri_parts` processor: a strict
//! RFC 3986 parse first, then the lenient fallback it applies to well-known protocols.

use serde_json::{Map, Value};

/// The components of a URL, each only when present in the text.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct UrlParts {
    /// The scheme, without the `:`.
    pub scheme: Option<String>,
    /// The host: a domain name or an IP literal.
    pub domain: Option<String>,
    /// The port number.
    pub port: Option<u32>,
    /// The path (possibly empty).
    pub path: Option<String>,
    /// The query, without the `?`.
    pub query: Option<String>,
    /// The fragment, without the `#`.
    pub fragment: Option<String>,
    /// The user info before `@` (`user` or `user:password`).
    pub user_info: Option<String>,
}

impl UrlParts {
    /// Parses `text`; `None` when it is not a URL.
    pub fn parse(text: &str) -> Option<UrlParts> {
        parse_strict(text).or_else(|| parse_lenient(text))
    }

    /// Writes the `url.*` fields (without `original`) into `url`.
    pub fn write_into(self, url: &mut Map<String, Value>) {
        let put = |url: &mut Map<String, Value>, key: &str, value: Option<String>| {
            if let Some(value) = value {
                url.insert(key.to_owned(), Value::String(value));
            }
        };
        if let Some(path) = &self.path
            && let Some(extension) = extension_of(path)
        {
            url.insert("extension".into(), Value::String(extension.to_owned()));
        }
        if let Some(user_info) = &self.user_info
            && let Some((user, password)) = user_info.split_once(':')
        {
            url.insert("username".into(), Value::String(user.to_owned()));
            url.insert("password".into(), Value::String(password.to_owned()));
        }
        put(url, "scheme", self.scheme);
        put(url, "domain", self.domain);
        if let Some(port) = self.port {
            url.insert("port".into(), Value::from(port));
        }
        put(url, "path", self.path);
        put(url, "query", self.query);
        put(url, "fragment", self.fragment);
        put(url, "user_info", self.user_info);
    }
}

/// Text after the last `.` of the last path segment.
fn extension_of(path: &str) -> Option<&str> {
    let last_segment = &path[path.rfind('/')?..];
    let dot = last_segment.rfind('.')?;
    Some(&last_segment[dot + 1..])
}

fn split_scheme(text: &str) -> Option<(&str, &str)> {
    let colon = text.find(':')?;
    let scheme = &text[..colon];
    let mut chars = scheme.chars();
    let first_is_alpha = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    (first_is_alpha && rest_ok).then(|| (scheme, &text[colon + 1..]))
}

fn is_legal_uri_char(c: char) -> bool {
    if !c.is_ascii() {
        return !c.is_control() && !c.is_whitespace();
    }
    c.is_ascii_alphanumeric() || "-._~:/?#[]@!$&'()*+,;=%".contains(c)
}

fn percent_escapes_valid(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_hexdigit);
            if !(hex(i + 1) && hex(i + 2)) {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}

fn percent_decode(text: &str) -> String {
    if !text.contains('%') {
        return text.to_owned();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = (bytes[i] == b'%')
            .then(|| text.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match decoded {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits `rest` (after the scheme) into hierarchical part, query and fragment.
fn split_query_fragment(rest: &str) -> (&str, Option<&str>, Option<&str>) {
    let (before_fragment, fragment) = match rest.split_once('#') {
        Some((before, fragment)) => (before, Some(fragment)),
        None => (rest, None),
    };
    let (hier, query) = match before_fragment.split_once('?') {
        Some((hier, query)) => (hier, Some(query)),
        None => (before_fragment, None),
    };
    (hier, query, fragment)
}

struct Authority {
    user_info: Option<String>,
    host: Option<String>,
    port: Option<u32>,
}

/// Server-based authority; `None` when it is only valid as a registry-based authority
/// (Java then reports no host, port or user info).
fn parse_server_authority(authority: &str) -> Option<Authority> {
    let (user_info, host_port) = match authority.rsplit_once('@') {
        Some((user_info, host_port)) => (Some(user_info), host_port),
        None => (None, authority),
    };
    let (host, port_text) = if let Some(after_bracket) = host_port.strip_prefix('[') {
        let (inside, after) = after_bracket.split_once(']')?;
        inside.parse::<std::net::Ipv6Addr>().ok()?;
        let port_text = match after {
            "" => None,
            other => Some(other.strip_prefix(':')?),
        };
        (format!("[{inside}]"), port_text)
    } else {
        let (host, port_text) = match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        };
        let host_ok = !host.is_empty()
            && host.split('.').enumerate().all(|(i, label)| {
                (!label.is_empty() || i > 0)
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            });
        if !host_ok {
            return None;
        }
        (host.to_owned(), port_text)
    };
    let port = match port_text {
        None | Some("") => None,
        Some(digits) => Some(
            digits
                .parse::<u32>()
                .ok()
                .filter(|p| *p <= i32::MAX as u32)?,
        ),
    };
    Some(Authority {
        user_info: user_info.map(percent_decode),
        host: Some(host),
        port,
    })
}

fn parse_strict(text: &str) -> Option<UrlParts> {
    if text.is_empty()
        || !text.chars().all(is_legal_uri_char)
        || !percent_escapes_valid(text)
        || text.matches('#').count() > 1
    {
        return None;
    }
    let (scheme, rest) = match split_scheme(text) {
        Some((scheme, rest)) => (Some(scheme), rest),
        None if text.starts_with(':') => return None,
        None => (None, text),
    };
    let (hier, query, fragment) = split_query_fragment(rest);
    if hier.contains(['[', ']']) && !hier.starts_with("//[") {
        return None;
    }
    let mut parts = UrlParts {
        scheme: scheme.map(str::to_owned),
        fragment: fragment.map(percent_decode),
        ..UrlParts::default()
    };
    if scheme.is_some() && !rest.starts_with('/') {
        // Opaque URI such as `mailto:a@example.com`: only scheme and fragment.
        return (!rest.is_empty()).then_some(parts);
    }
    let path = if let Some(after_slashes) = hier.strip_prefix("//") {
        let end = after_slashes.find('/').unwrap_or(after_slashes.len());
        let (authority, path) = after_slashes.split_at(end);
        if authority.is_empty() && path.is_empty() && query.is_none() && fragment.is_none() {
            return None;
        }
        if !authority.is_empty() {
            if let Some(server) = parse_server_authority(authority) {
                parts.user_info = server.user_info;
                parts.domain = server.host;
                parts.port = server.port;
            } else if authority.contains(['[', ']']) {
                return None;
            }
        }
        path
    } else {
        hier
    };
    parts.path = Some(percent_decode(path));
    parts.query = query.map(percent_decode);
    Some(parts)
}

/// java.net.URL's leniency for the protocols it knows: anything after `scheme://` is split
/// on the usual delimiters without validating characters.
fn parse_lenient(text: &str) -> Option<UrlParts> {
    let (scheme, rest) = split_scheme(text)?;
    if !matches!(
        scheme.to_ascii_lowercase().as_str(),
        "http" | "https" | "ftp" | "file" | "jar"
    ) {
        return None;
    }
    let (hier, query, fragment) = split_query_fragment(rest);
    let mut parts = UrlParts {
        scheme: Some(scheme.to_owned()),
        query: query.map(str::to_owned),
        fragment: fragment.map(str::to_owned),
        ..UrlParts::default()
    };
    let path = if let Some(after_slashes) = hier.strip_prefix("//") {
        let end = after_slashes.find('/').unwrap_or(after_slashes.len());
        let (authority, path) = after_slashes.split_at(end);
        let (user_info, host_port) = match authority.rsplit_once('@') {
            Some((user_info, host_port)) => (Some(user_info), host_port),
            None => (None, authority),
        };
        let (host, port) = if host_port.starts_with('[') {
            // An IPv6 literal must be closed and valid, as java.net.URL insists.
            let close = host_port.find(']')?;
            host_port[1..close].parse::<std::net::Ipv6Addr>().ok()?;
            let (host, after) = host_port.split_at(close + 1);
            match after {
                "" => (host, None),
                other => (host, Some(other.strip_prefix(':')?)),
            }
        } else {
            match host_port.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (host_port, None),
            }
        };
        parts.user_info = user_info.map(str::to_owned);
        parts.domain = Some(host.to_owned());
        parts.port = match port {
            None | Some("") => None,
            Some(digits) => Some(
                digits
                    .parse::<u32>()
                    .ok()
                    .filter(|p| *p <= i32::MAX as u32)?,
            ),
        };
        path
    } else {
        hier
    };
    parts.path = Some(path.to_owned());
    Some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(text: &str) -> Value {
        let mut url = Map::new();
        UrlParts::parse(text).expect("parses").write_into(&mut url);
        Value::Object(url)
    }

    #[test]
    fn webhook_url_from_fixture() {
        assert_eq!(
            fields("https://hooks.example.com/cursor/ci?ref=abc"),
            json!({"scheme": "https", "domain": "hooks.example.com", "path": "/cursor/ci", "query": "ref=abc"})
        );
    }

    #[test]
    fn port_fragment_user_info_and_extension() {
        assert_eq!(
            fields("https://bob:s3cret@hooks.example.com:8443/hooks/run.sh?x=1#top"),
            json!({
                "scheme": "https", "domain": "hooks.example.com", "port": 8443,
                "path": "/hooks/run.sh", "extension": "sh", "query": "x=1", "fragment": "top",
                "user_info": "bob:s3cret", "username": "bob", "password": "s3cret"
            })
        );
    }

    #[test]
    fn ports_are_not_range_checked_like_java() {
        assert_eq!(fields("https://example.com:99999/")["port"], json!(99999));
    }

    #[test]
    fn default_port_is_kept_when_written() {
        assert_eq!(fields("https://example.com:443/")["port"], json!(443));
        assert!(fields("https://example.com/").get("port").is_none());
    }

    #[test]
    fn extension_only_from_last_segment() {
        assert!(
            fields("https://example.com/v1.2/hook")
                .get("extension")
                .is_none()
        );
        assert_eq!(
            fields("https://example.com/a/archive.tar.gz")["extension"],
            json!("gz")
        );
    }

    #[test]
    fn user_without_password_has_only_user_info() {
        let parts = fields("ssh://git@example.com/repo");
        assert_eq!(parts["user_info"], json!("git"));
        assert!(parts.get("username").is_none());
    }

    #[test]
    fn ipv6_host() {
        let parts = fields("http://[2001:db8::1]:8080/x");
        assert_eq!(parts["domain"], json!("[2001:db8::1]"));
        assert_eq!(parts["port"], json!(8080));
    }

    #[test]
    fn percent_escapes_are_decoded() {
        assert_eq!(
            fields("https://example.com/a%20b?q=%C3%A9")["path"],
            json!("/a b")
        );
        assert_eq!(
            fields("https://example.com/a%20b?q=%C3%A9")["query"],
            json!("q=é")
        );
    }

    #[test]
    fn lenient_fallback_for_http() {
        let parts = fields("https://example.com/path with space");
        assert_eq!(parts["path"], json!("/path with space"));
        assert_eq!(parts["domain"], json!("example.com"));
    }

    #[test]
    fn unparsable_urls() {
        for bad in [
            "not a url",
            "://missing-scheme",
            "",
            "http://[::1",
            "custom://exa mple.com",
            "bad%zzescape://x",
        ] {
            assert_eq!(UrlParts::parse(bad), None, "{bad:?}");
        }
    }
}
