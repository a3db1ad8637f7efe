//! Where the cluster is and how to authenticate: URL or Cloud ID, ApiKey or Basic, an
//! optional extra CA, and credentials from Secrets Manager. Secrets never reach Debug or logs.

use std::time::Duration;

use base64::Engine as _;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde::Deserialize;

use super::error::EsError;

/// Connection settings as configured (env or flags), before secrets are resolved.
#[derive(Clone, Default)]
pub struct EsSettings {
    /// `ES_URL`.
    pub url: Option<String>,
    /// `ES_CLOUD_ID`.
    pub cloud_id: Option<String>,
    /// `ES_API_KEY`.
    pub api_key: Option<String>,
    /// `ES_USERNAME`.
    pub username: Option<String>,
    /// `ES_PASSWORD`.
    pub password: Option<String>,
    /// `ES_SECRET_ARN`.
    pub secret_arn: Option<String>,
    /// `ES_CA_CERT`.
    pub ca_cert: Option<std::path::PathBuf>,
    /// Timeout of one request.
    pub request_timeout: Duration,
}

impl std::fmt::Debug for EsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EsSettings")
            .field("url", &self.url.as_deref().map(redacted_url))
            .field("cloud_id", &self.cloud_id)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("secret_arn", &self.secret_arn)
            .field("ca_cert", &self.ca_cert)
            .finish()
    }
}

/// The JSON a Secrets Manager secret may hold (any subset).
#[derive(Default, Deserialize)]
pub struct EsSecret {
    /// The cluster URL.
    pub url: Option<String>,
    /// An Elastic Cloud ID.
    pub cloud_id: Option<String>,
    /// An API key.
    pub api_key: Option<String>,
    /// A user name for Basic authentication.
    pub username: Option<String>,
    /// Its password.
    pub password: Option<String>,
}

impl std::fmt::Debug for EsSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EsSecret(<redacted>)")
    }
}

impl EsSettings {
    /// True when a cluster is configured at all (directly or through a secret).
    pub fn is_configured(&self) -> bool {
        self.url.is_some() || self.cloud_id.is_some() || self.secret_arn.is_some()
    }

    /// Fills what the settings leave open from a secret's JSON; explicit settings win.
    pub fn merge_secret(&mut self, secret_json: &str) -> Result<(), EsError> {
        if secret_json.len() > MAX_SECRET_BYTES {
            return Err(EsError::Config(format!(
                "the ES_SECRET_ARN secret is larger than {MAX_SECRET_BYTES} bytes"
            )));
        }
        // serde's message can quote the offending value (a password written as a number):
        // only its kind and position are reported.
        let secret: EsSecret = serde_json::from_str(secret_json).map_err(|err| {
            EsError::Config(format!(
                "ES_SECRET_ARN must hold a JSON object with url, cloud_id, api_key, username or password as strings ({} at line {} column {})",
                json_error_kind(&err),
                err.line(),
                err.column()
            ))
        })?;
        let fill = |slot: &mut Option<String>, value: Option<String>| {
            if slot.is_none() {
                *slot = value;
            }
        };
        fill(&mut self.url, secret.url);
        fill(&mut self.cloud_id, secret.cloud_id);
        fill(&mut self.api_key, secret.api_key);
        fill(&mut self.username, secret.username);
        fill(&mut self.password, secret.password);
        Ok(())
    }
}

/// Decodes an Elastic Cloud ID (`name:base64(host$es_id$kibana_id)`) to the cluster URL.
pub fn decode_cloud_id(cloud_id: &str) -> Result<String, EsError> {
    let invalid = |why: &str| EsError::Config(format!("invalid ES_CLOUD_ID: {why}"));
    let encoded = cloud_id
        .rsplit_once(':')
        .map(|(_, encoded)| encoded)
        .unwrap_or(cloud_id);
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| invalid("not base64"))?;
    let decoded = String::from_utf8(decoded).map_err(|_| invalid("not UTF-8"))?;
    let mut parts = decoded.split('$');
    let host = parts
        .next()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| invalid("no host"))?;
    let es_id = parts
        .next()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| invalid("no Elasticsearch id"))?;
    let (host, port) = match host.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok() => (host, port),
        _ => (host, "443"),
    };
    Ok(format!("https://{es_id}.{host}:{port}"))
}

/// The most a secret may hold (Secrets Manager's own limit is 64 KiB).
pub const MAX_SECRET_BYTES: usize = 64 * 1024;

/// What kind of JSON error, without the text serde quotes.
pub(crate) fn json_error_kind(err: &serde_json::Error) -> &'static str {
    match err.classify() {
        serde_json::error::Category::Io => "unreadable",
        serde_json::error::Category::Syntax => "not JSON",
        serde_json::error::Category::Data => "a value of the wrong type",
        serde_json::error::Category::Eof => "truncated JSON",
    }
}

/// A URL for logs and `Debug`: any userinfo replaced.
pub(crate) fn redacted_url(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(mut url) if !url.username().is_empty() || url.password().is_some() => {
            let _ = url.set_username("redacted");
            let _ = url.set_password(None);
            url.to_string()
        }
        Ok(url) => url.to_string(),
        Err(_) => "<not a URL>".into(),
    }
}

/// Credentials carried in a URL's userinfo (`http://user:password@host`).
struct UrlCredentials {
    username: String,
    password: Option<String>,
}

/// Checks a cluster URL (`http` or `https`, a host, no query or fragment) and splits off
/// any credentials in its userinfo. Messages never repeat the URL: it may hold a password.
fn split_url(text: &str) -> Result<(String, Option<UrlCredentials>), EsError> {
    let mut url = url::Url::parse(text)
        .map_err(|err| EsError::Config(format!("the cluster URL is not a valid URL: {err}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(EsError::Config(format!(
            "the cluster URL must start with http:// or https://, not {}://",
            url.scheme()
        )));
    }
    if url.host().is_none() {
        return Err(EsError::Config("the cluster URL has no host".into()));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(EsError::Config(
            "the cluster URL must not have a query or a fragment".into(),
        ));
    }
    let credentials = (!url.username().is_empty()).then(|| UrlCredentials {
        username: percent_decode(url.username()),
        password: url.password().map(percent_decode),
    });
    let _ = url.set_username("");
    let _ = url.set_password(None);
    Ok((url.as_str().trim_end_matches('/').to_owned(), credentials))
}

/// Percent-decoding of a userinfo part.
fn percent_decode(part: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", part.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}

/// The `Authorization` header for the configured credentials.
fn auth_header(settings: &EsSettings) -> Result<Option<HeaderValue>, EsError> {
    let value = if let Some(api_key) = &settings.api_key {
        // Accept both the encoded form and the raw `id:key` pair.
        let encoded = if api_key.contains(':') {
            base64::engine::general_purpose::STANDARD.encode(api_key)
        } else {
            api_key.clone()
        };
        format!("ApiKey {encoded}")
    } else if let Some(username) = &settings.username {
        let password = settings.password.as_deref().unwrap_or_default();
        let pair = format!("{username}:{password}");
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    } else {
        return Ok(None);
    };
    let mut header = HeaderValue::from_str(&value).map_err(|_| {
        EsError::Config("credentials contain characters not allowed in a header".into())
    })?;
    header.set_sensitive(true);
    Ok(Some(header))
}

/// A ready HTTP connection to one cluster.
#[derive(Clone)]
pub struct EsConnection {
    /// The cluster URL, without a trailing slash.
    pub base_url: String,
    auth: Option<HeaderValue>,
    /// The HTTP client (connection pool).
    pub http: reqwest::Client,
}

impl std::fmt::Debug for EsConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EsConnection")
            .field("base_url", &self.base_url)
            .field("auth", &self.auth.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl EsConnection {
    /// Builds the connection from resolved settings (secrets already merged).
    pub fn new(settings: &EsSettings) -> Result<EsConnection, EsError> {
        let mut effective = settings.clone();
        let base_url = match (&settings.url, &settings.cloud_id) {
            (Some(url), _) => {
                let (base, credentials) = split_url(url)?;
                // Explicit credentials win over those in the URL.
                if let Some(credentials) = credentials
                    && effective.api_key.is_none()
                    && effective.username.is_none()
                {
                    effective.username = Some(credentials.username);
                    effective.password = credentials.password;
                }
                base
            }
            (None, Some(cloud_id)) => decode_cloud_id(cloud_id)?,
            (None, None) => {
                return Err(EsError::Config(
                    "set ES_URL or ES_CLOUD_ID (or put url/cloud_id in the ES_SECRET_ARN secret)"
                        .into(),
                ));
            }
        };
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.request_timeout)
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(50));
        if let Some(path) = &settings.ca_cert {
            let pem = std::fs::read(path).map_err(|err| {
                EsError::Config(format!("cannot read ES_CA_CERT {}: {err}", path.display()))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|err| {
                EsError::Config(format!("ES_CA_CERT {} is not PEM: {err}", path.display()))
            })?;
            builder = builder.tls_certs_merge(certs);
        }
        let http = builder
            .build()
            .map_err(|err| EsError::Config(format!("cannot build the HTTP client: {err}")))?;
        Ok(EsConnection {
            base_url,
            auth: auth_header(&effective)?,
            http,
        })
    }

    /// The full URL of `path` (relative to the cluster URL).
    pub fn url_for(&self, path: &str) -> String {
        format!("{}/{}", self.base_url, path.trim_start_matches('/'))
    }

    /// A request to `path` (relative to the cluster URL) with authentication.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut request = self.http.request(method, self.url_for(path));
        if let Some(auth) = &self.auth {
            request = request.header(AUTHORIZATION, auth.clone());
        }
        request
    }
}

impl EsConnection {
    /// Sends a request to `path`; a transport failure names the URL.
    pub async fn send(
        &self,
        path: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, EsError> {
        request.send().await.map_err(|source| EsError::Transport {
            url: self.url_for(path),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloud_id_decodes_to_https_url() {
        let encoded = base64::engine::general_purpose::STANDARD
            .encode("us-east-1.aws.found.io$abc123$kib456");
        assert_eq!(
            decode_cloud_id(&format!("my-deployment:{encoded}")).unwrap(),
            "https://abc123.us-east-1.aws.found.io:443"
        );
        let with_port = base64::engine::general_purpose::STANDARD.encode("example.com:9243$es$kb");
        assert_eq!(
            decode_cloud_id(&format!("d:{with_port}")).unwrap(),
            "https://es.example.com:9243"
        );
        assert!(decode_cloud_id("d:!!!").is_err());
    }

    #[test]
    fn api_key_and_basic_headers() {
        let settings = EsSettings {
            api_key: Some("id:secret".into()),
            ..EsSettings::default()
        };
        let header = auth_header(&settings).unwrap().unwrap();
        assert_eq!(header.to_str().unwrap(), "ApiKey aWQ6c2VjcmV0");
        assert!(header.is_sensitive());
        let settings = EsSettings {
            username: Some("elastic".into()),
            password: Some("changeme".into()),
            ..EsSettings::default()
        };
        assert_eq!(
            auth_header(&settings).unwrap().unwrap().to_str().unwrap(),
            "Basic ZWxhc3RpYzpjaGFuZ2VtZQ=="
        );
    }

    #[test]
    fn userinfo_becomes_basic_credentials_and_never_shows() {
        let settings = EsSettings {
            url: Some("http://elastic:p%40ss@localhost:9200/".into()),
            ..EsSettings::default()
        };
        let connection = EsConnection::new(&settings).unwrap();
        assert_eq!(connection.base_url, "http://localhost:9200");
        assert_eq!(
            connection.auth.as_ref().unwrap().to_str().unwrap(),
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode("elastic:p@ss")
            )
        );
        assert!(!format!("{settings:?}").contains("p%40ss"));
        assert!(!format!("{connection:?}").contains("p%40ss"));
        for bad in ["not a url", "ftp://h", "http://h/?a=1", "http://h/#x"] {
            let settings = EsSettings {
                url: Some(bad.into()),
                ..EsSettings::default()
            };
            let err = EsConnection::new(&settings).unwrap_err().to_string();
            assert!(err.contains("cluster URL"), "{bad}: {err}");
        }
        let explicit = EsSettings {
            url: Some("https://u:pw@h".into()),
            api_key: Some("id:key".into()),
            ..EsSettings::default()
        };
        let connection = EsConnection::new(&explicit).unwrap();
        assert!(
            connection
                .auth
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("ApiKey ")
        );
    }

    #[test]
    fn secrets_are_redacted_and_explicit_settings_win() {
        let mut settings = EsSettings {
            url: Some("http://explicit:9200".into()),
            ..EsSettings::default()
        };
        settings
            .merge_secret(r#"{"url":"https://from-secret","api_key":"k:v","password":"hunter2"}"#)
            .unwrap();
        assert_eq!(settings.url.as_deref(), Some("http://explicit:9200"));
        assert_eq!(settings.api_key.as_deref(), Some("k:v"));
        let debug = format!("{settings:?}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("k:v"),
            "{debug}"
        );
        assert!(settings.merge_secret("not json").is_err());
        let err = settings
            .merge_secret(r#"{"password": 987654321}"#)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("987654321"), "{err}");
    }
}
