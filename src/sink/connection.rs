//! Where the cluster is and how to authenticate: URL or Cloud ID, ApiKey or Basic, an
//! optional extra CA, and credentials from Secrets Manager, read again when the cluster
//! answers 401 (the secret may have been rotated). Secrets never reach Debug or logs.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::AUTHORIZATION;

use serde::Deserialize;

use crate::aws::secrets::{MAX_SECRET_BYTES, parse_json};

use super::cluster_url::redacted_url;
use super::credentials::{CredentialSource, Credentials, base_and_auth};
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
    use base64::Engine as _;

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
}
