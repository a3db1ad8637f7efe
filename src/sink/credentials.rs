//! The cluster's credentials: the `Authorization` header of the settings (ApiKey, or Basic
//! from the settings or the URL's userinfo), and, when they came from the `ES_SECRET_ARN`
//! secret, reading it again when the cluster answers 401 (a rotation), shared by every clone
//! of a connection. Never in Debug or logs.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine as _;
use reqwest::header::HeaderValue;

use super::cluster_url::{decode_cloud_id, split_url};
use super::connection::EsSettings;
use super::error::EsError;
use crate::aws::secrets::SecretError;

/// The `Authorization` header for the configured credentials.
pub(super) fn auth_header(settings: &EsSettings) -> Result<Option<HeaderValue>, EsError> {
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
pub(super) fn base_and_auth(
    settings: &EsSettings,
) -> Result<(String, Option<HeaderValue>), EsError> {
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
pub(super) struct Credentials {
    pub(super) header: Mutex<Option<HeaderValue>>,
    pub(super) source: Option<CredentialSource>,
    /// One re-read at a time; the others then use its result.
    pub(super) reloading: tokio::sync::Mutex<()>,
}

impl Credentials {
    pub(super) fn current(&self) -> Option<HeaderValue> {
        self.header
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// After a 401 for a request sent with `used`: the header to try once more, or `None`
    /// when there is nothing new to try (no secret, or the secret holds the refused
    /// credentials).
    pub(super) async fn renew(&self, used: Option<&HeaderValue>) -> Option<HeaderValue> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::EsConnection;
    use std::time::Duration;

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
