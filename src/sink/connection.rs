//! Where the cluster is and how to authenticate: URL or Cloud ID, ApiKey or Basic, an
//! optional extra CA, and credentials from Secrets Manager, read again when the cluster
//! answers 401 (the secret may have been rotated). Secrets never reach Debug or logs.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine as _;
use reqwest::header::{AUTHORIZATION, HeaderValue};

use serde::Deserialize;

use crate::aws::secrets::{MAX_SECRET_BYTES, SecretError, parse_json};

use super::cluster_url::{decode_cloud_id, redacted_url, split_url};
use super::error::EsError;
use super::sigv4::{SigV4Choice, SigV4Signer, SigningRegion, endpoint_region};

/// The cluster's connection settings, declared once: as flags and environment variables
/// (clap), and as the JSON of the `ES_SECRET_ARN` secret (serde: `url`, `cloud_id`,
/// `api_key`, `username`, `password`), before the secret is merged in.
#[derive(Clone, Default, Deserialize, clap::Args)]
#[serde(default)]
pub struct EsSettings {
    /// Cluster URL, e.g. https://es.example.com:9243.
    #[arg(
        long = "es-url",
        env = "ES_URL",
        value_name = "ES_URL",
        hide_env_values = true
    )]
    pub url: Option<String>,
    /// Elastic Cloud ID (decoded to the URL).
    #[arg(long = "es-cloud-id", env = "ES_CLOUD_ID", value_name = "ES_CLOUD_ID")]
    pub cloud_id: Option<String>,
    /// API key (encoded, or `id:key`).
    #[arg(
        long = "es-api-key",
        env = "ES_API_KEY",
        value_name = "ES_API_KEY",
        hide_env_values = true
    )]
    pub api_key: Option<String>,
    /// User name for Basic authentication.
    #[arg(long = "es-username", env = "ES_USERNAME", value_name = "ES_USERNAME")]
    pub username: Option<String>,
    /// Password for Basic authentication.
    #[arg(
        long = "es-password",
        env = "ES_PASSWORD",
        value_name = "ES_PASSWORD",
        hide_env_values = true
    )]
    pub password: Option<String>,
    /// Secrets Manager secret (JSON with url, cloud_id, api_key, username, password).
    #[arg(
        long = "es-secret-arn",
        env = "ES_SECRET_ARN",
        value_name = "ES_SECRET_ARN"
    )]
    #[serde(skip)]
    pub secret_arn: Option<String>,
    /// Sign requests with AWS SigV4 (service `es`) for Amazon OpenSearch Service domains with
    /// IAM access control: `true`, `false`, or `auto` (on for `*.es.amazonaws.com` and
    /// `*.aos.<region>.on.aws` endpoints when no API key or user is set).
    #[arg(
        long = "es-aws-sigv4",
        env = "ES_AWS_SIGV4",
        value_name = "ES_AWS_SIGV4",
        default_value = "auto"
    )]
    #[serde(skip)]
    pub sigv4: SigV4Choice,
    /// Extra PEM CA bundle for self-managed clusters.
    #[arg(long = "es-ca-cert", env = "ES_CA_CERT", value_name = "ES_CA_CERT")]
    #[serde(skip)]
    pub ca_cert: Option<std::path::PathBuf>,
    /// Timeout of one request (`ES_REQUEST_TIMEOUT_SECONDS`, set by the sink's settings).
    #[arg(skip = Duration::from_secs(60))]
    #[serde(skip)]
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
            .field("sigv4", &self.sigv4)
            .finish()
    }
}

impl EsSettings {
    /// True when a cluster is configured at all (directly or through a secret).
    pub fn is_configured(&self) -> bool {
        self.url.is_some() || self.cloud_id.is_some() || self.secret_arn.is_some()
    }

    /// The settings with empty values as unset (an empty variable means "not set").
    pub fn without_empty(mut self) -> EsSettings {
        for slot in [
            &mut self.url,
            &mut self.cloud_id,
            &mut self.api_key,
            &mut self.username,
            &mut self.secret_arn,
        ] {
            if slot.as_deref().is_some_and(str::is_empty) {
                *slot = None;
            }
        }
        self
    }

    /// Fills what the settings leave open from a secret's JSON; explicit settings win.
    pub fn merge_secret(&mut self, secret_json: &str) -> Result<(), EsError> {
        if secret_json.len() > MAX_SECRET_BYTES {
            return Err(EsError::Config(format!(
                "the ES_SECRET_ARN secret is larger than {MAX_SECRET_BYTES} bytes"
            )));
        }
        let secret: EsSettings = parse_json(secret_json).map_err(|err| {
            EsError::Config(format!(
                "ES_SECRET_ARN must hold a JSON object with url, cloud_id, api_key, username or password as strings ({err})"
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

/// The base URL and the `Authorization` header of resolved settings: explicit credentials
/// win over those in the URL.
fn base_and_auth(settings: &EsSettings) -> Result<(String, Option<HeaderValue>), EsError> {
    let mut effective = settings.clone();
    let base_url = match (&settings.url, &settings.cloud_id) {
        (Some(url), _) => {
            let (base, credentials) = split_url(url)?;
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
    Ok((base_url, auth_header(&effective)?))
}

/// Reads the text of the `ES_SECRET_ARN` secret (Secrets Manager; a stand-in in tests).
pub type SecretReader = Arc<
    dyn Fn() -> Pin<Box<dyn Future<Output = Result<String, SecretError>> + Send>> + Send + Sync,
>;

/// Where the credentials came from, to read them again when the cluster refuses them.
#[derive(Clone)]
pub struct CredentialSource {
    /// The secret, for messages.
    pub arn: String,
    /// Reads the secret's current text.
    pub read: SecretReader,
    /// The settings before the secret was merged in (explicit settings win over it).
    pub explicit: EsSettings,
}

impl CredentialSource {
    /// A source reading `arn` from Secrets Manager.
    pub fn secrets_manager(
        client: aws_sdk_secretsmanager::Client,
        arn: String,
        explicit: EsSettings,
    ) -> CredentialSource {
        let secret = arn.clone();
        let read: SecretReader = Arc::new(move || {
            let (client, secret) = (client.clone(), secret.clone());
            Box::pin(async move { crate::aws::secrets::secret_string(&client, &secret).await })
        });
        CredentialSource {
            arn,
            read,
            explicit,
        }
    }

    /// The `Authorization` header from the secret as it is now.
    async fn header(&self) -> Result<Option<HeaderValue>, EsError> {
        let text = (self.read)()
            .await
            .map_err(|err| EsError::Config(err.to_string()))?;
        let mut settings = self.explicit.clone();
        settings.merge_secret(&text)?;
        Ok(base_and_auth(&settings)?.1)
    }
}

/// The credentials every clone of a connection shares: the header in use and, when it came
/// from a secret, how to read it again.
struct Credentials {
    header: Mutex<Option<HeaderValue>>,
    source: Option<CredentialSource>,
    /// One re-read at a time; the others then use its result.
    reloading: tokio::sync::Mutex<()>,
}

impl Credentials {
    fn current(&self) -> Option<HeaderValue> {
        self.header
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// After a 401 for a request sent with `used`: the header to try once more, or `None`
    /// when there is nothing new to try (no secret, or the secret holds the refused
    /// credentials).
    async fn renew(&self, used: Option<&HeaderValue>) -> Option<HeaderValue> {
        let source = self.source.as_ref()?;
        let _one_at_a_time = self.reloading.lock().await;
        let current = self.current();
        if current.as_ref() != used {
            // Another request re-read the secret meanwhile.
            return current;
        }
        match source.header().await {
            Ok(fresh) if fresh.as_ref() != used && fresh.is_some() => {
                tracing::info!(secret = %source.arn,
                    "the cluster refused the credentials (401): using those now in the secret");
                fresh.clone_into(&mut self.header.lock().unwrap_or_else(PoisonError::into_inner));
                fresh
            }
            Ok(_) => {
                tracing::warn!(secret = %source.arn,
                    "the cluster refused the credentials (401) and the secret still holds them");
                None
            }
            Err(err) => {
                tracing::warn!(secret = %source.arn, error = %err,
                    "the cluster refused the credentials (401) and the secret could not be read again");
                None
            }
        }
    }
}

/// A ready HTTP connection to one cluster.
#[derive(Clone)]
pub struct EsConnection {
    /// The cluster URL, without a trailing slash.
    pub base_url: String,
    credentials: Arc<Credentials>,
    /// Whether requests are to be signed (`ES_AWS_SIGV4`), before a signer is attached.
    sigv4: SigV4Choice,
    signer: Option<Arc<SigV4Signer>>,
    /// The HTTP client (connection pool).
    pub http: reqwest::Client,
}

impl std::fmt::Debug for EsConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EsConnection")
            .field("base_url", &self.base_url)
            .field(
                "auth",
                &self.credentials.current().as_ref().map(|_| "<redacted>"),
            )
            .field(
                "secret",
                &self.credentials.source.as_ref().map(|s| s.arn.as_str()),
            )
            .field("signer", &self.signer)
            .finish()
    }
}

impl EsConnection {
    /// Builds the connection from resolved settings (secrets already merged).
    pub fn new(settings: &EsSettings) -> Result<EsConnection, EsError> {
        EsConnection::with_source(settings, None)
    }

    /// Builds the connection from resolved settings whose credentials came from `source`,
    /// which is read again when the cluster answers 401.
    pub fn with_source(
        settings: &EsSettings,
        source: Option<CredentialSource>,
    ) -> Result<EsConnection, EsError> {
        let (base_url, auth) = base_and_auth(settings)?;
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
            credentials: Arc::new(Credentials {
                header: Mutex::new(auth),
                source,
                reloading: tokio::sync::Mutex::new(()),
            }),
            sigv4: settings.sigv4,
            signer: None,
            http,
        })
    }

    /// Where the signing region comes from when requests must be SigV4-signed; `None` when
    /// they are not. `ES_AWS_SIGV4=auto` signs for Amazon OpenSearch Service endpoints unless
    /// an API key or a user is configured: both need the `Authorization` header the
    /// signature takes.
    pub fn sigv4_region(&self) -> Result<Option<SigningRegion>, EsError> {
        let host = url::Url::parse(&self.base_url)
            .ok()
            .and_then(|url| url.host_str().map(str::to_owned))
            .unwrap_or_default();
        let has_auth = self.credentials.current().is_some();
        match self.sigv4 {
            SigV4Choice::Off => Ok(None),
            SigV4Choice::On if has_auth => Err(EsError::Config(
                "ES_AWS_SIGV4=true signs requests with AWS credentials; it cannot be combined with ES_API_KEY or ES_USERNAME (from settings, the URL or the secret)".into(),
            )),
            SigV4Choice::On => Ok(Some(
                endpoint_region(&host).map_or(SigningRegion::Configured, SigningRegion::Endpoint),
            )),
            SigV4Choice::Auto if has_auth => Ok(None),
            SigV4Choice::Auto => Ok(endpoint_region(&host).map(SigningRegion::Endpoint)),
        }
    }

    /// This connection, signing every request with `signer`.
    pub fn with_signer(mut self, signer: Arc<SigV4Signer>) -> EsConnection {
        self.signer = Some(signer);
        self
    }

    /// The SigV4 signer, when requests are signed.
    pub fn signer(&self) -> Option<&SigV4Signer> {
        self.signer.as_deref()
    }

    /// The full URL of `path` (relative to the cluster URL).
    pub fn url_for(&self, path: &str) -> String {
        format!("{}/{}", self.base_url, path.trim_start_matches('/'))
    }

    /// A request to `path` (relative to the cluster URL) with authentication.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut request = self.http.request(method, self.url_for(path));
        if let Some(auth) = self.credentials.current() {
            request = request.header(AUTHORIZATION, auth);
        }
        request
    }
}

impl EsConnection {
    /// Sends a request to `path`, signed when the connection signs; a transport failure
    /// names the URL. When the cluster answers 401 and the credentials came from a secret,
    /// the secret is read again and, if it holds other credentials, the request is sent once
    /// more with them (and every later request uses them).
    pub async fn send(
        &self,
        path: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, EsError> {
        let transport = |source| EsError::Transport {
            url: self.url_for(path),
            source,
        };
        let mut request = request.build().map_err(transport)?;
        let again = self
            .credentials
            .source
            .as_ref()
            .and_then(|_| request.try_clone());
        let used = request.headers().get(AUTHORIZATION).cloned();
        if let Some(signer) = &self.signer {
            signer.sign(&mut request).await?;
        }
        let response = self.http.execute(request).await.map_err(transport)?;
        if response.status() != reqwest::StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let Some(mut again) = again else {
            return Ok(response);
        };
        let Some(fresh) = self.credentials.renew(used.as_ref()).await else {
            return Ok(response);
        };
        again.headers_mut().insert(AUTHORIZATION, fresh);
        if let Some(signer) = &self.signer {
            signer.sign(&mut again).await?;
        }
        self.http.execute(again).await.map_err(transport)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            connection.credentials.current().unwrap().to_str().unwrap(),
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
                .credentials
                .current()
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

    /// A cluster on a loopback port that answers 200 only to `Authorization: ApiKey
    /// <accepted>` and 401 otherwise, counting requests; and a secret whose text the test
    /// changes.
    struct Rotation {
        url: String,
        accepted: Arc<Mutex<String>>,
        requests: Arc<std::sync::atomic::AtomicUsize>,
        secret: Arc<Mutex<String>>,
        reads: Arc<std::sync::atomic::AtomicUsize>,
    }

    impl Rotation {
        async fn start() -> Rotation {
            use std::sync::atomic::Ordering;
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            let accepted = Arc::new(Mutex::new(String::from("old")));
            let requests = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let (key, count) = (accepted.clone(), requests.clone());
            tokio::spawn(async move {
                loop {
                    let (mut stream, _) = listener.accept().await.unwrap();
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        if stream.read(&mut byte).await.unwrap() == 0 {
                            break;
                        }
                        head.push(byte[0]);
                    }
                    count.fetch_add(1, Ordering::SeqCst);
                    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
                    let wanted = format!("authorization: apikey {}\r\n", key.lock().unwrap());
                    let status = if head.contains(&wanted) {
                        "200 OK"
                    } else {
                        "401 Unauthorized"
                    };
                    let answer = format!(
                        "HTTP/1.1 {status}\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}"
                    );
                    stream.write_all(answer.as_bytes()).await.unwrap();
                }
            });
            let secret = Arc::new(Mutex::new(String::from(r#"{"api_key": "old"}"#)));
            Rotation {
                url,
                accepted,
                requests,
                secret,
                reads: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
            }
        }

        fn connection(&self) -> EsConnection {
            let (secret, reads) = (self.secret.clone(), self.reads.clone());
            let read: SecretReader = Arc::new(move || {
                reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let text = secret.lock().unwrap().clone();
                Box::pin(async move { Ok(text) })
            });
            let explicit = EsSettings {
                url: Some(self.url.clone()),
                request_timeout: Duration::from_secs(10),
                ..EsSettings::default()
            };
            let mut settings = explicit.clone();
            settings.merge_secret(&self.secret.lock().unwrap()).unwrap();
            let source = CredentialSource {
                arn: "arn:aws:secretsmanager:eu-west-1:111122223333:secret:es-AbCdEf".into(),
                read,
                explicit,
            };
            EsConnection::with_source(&settings, Some(source)).unwrap()
        }

        async fn status(&self, connection: &EsConnection) -> u16 {
            let request = connection.request(reqwest::Method::GET, "/");
            connection
                .send("/", request)
                .await
                .unwrap()
                .status()
                .as_u16()
        }

        fn counts(&self) -> (usize, usize) {
            use std::sync::atomic::Ordering;
            (
                self.requests.load(Ordering::SeqCst),
                self.reads.load(Ordering::SeqCst),
            )
        }
    }

    #[tokio::test]
    async fn a_401_reads_the_secret_again_and_retries_once_with_the_new_credentials() {
        let cluster = Rotation::start().await;
        let connection = cluster.connection();
        let clone = connection.clone();
        assert_eq!(cluster.status(&connection).await, 200);
        assert_eq!(cluster.counts(), (1, 0));

        // The secret still holds the refused key: no second request, the 401 stands.
        *cluster.accepted.lock().unwrap() = "new".into();
        assert_eq!(cluster.status(&connection).await, 401);
        assert_eq!(cluster.counts(), (2, 1));

        // Rotated: one more read of the secret, the request sent again once, and every clone
        // of the connection uses the new key from then on.
        *cluster.secret.lock().unwrap() = r#"{"api_key": "new"}"#.into();
        assert_eq!(cluster.status(&connection).await, 200);
        assert_eq!(cluster.counts(), (4, 2));
        assert_eq!(cluster.status(&clone).await, 200);
        assert_eq!(cluster.counts(), (5, 2));
        let shown = format!("{connection:?}");
        assert!(!shown.contains("new") && !shown.contains("old"), "{shown}");
        assert!(shown.contains("secret:es-AbCdEf"), "{shown}");

        // Credentials that are not from a secret are never re-read.
        let plain = EsConnection::new(&EsSettings {
            url: Some(cluster.url.clone()),
            api_key: Some("old".into()),
            request_timeout: Duration::from_secs(10),
            ..EsSettings::default()
        })
        .unwrap();
        assert_eq!(cluster.status(&plain).await, 401);
        assert_eq!(cluster.counts(), (6, 2));
    }
}
