//! The Admin API key: from `CURSOR_API_KEY` or a Secrets Manager secret, read once and
//! cached, and read again when Cursor refuses it (the secret may have been rotated).

use serde::Deserialize;

use crate::aws::SecretError;

/// Why there is no usable key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// `CURSOR_API_KEY` holds no usable key.
    #[error("CURSOR_API_KEY: {0}")]
    Plain(#[source] KeyFormatError),
    /// The secret could not be read.
    #[error("{0}")]
    Secret(#[from] SecretError),
    /// The secret holds no usable key.
    #[error("secret {arn}: {problem}")]
    SecretContent {
        /// The secret.
        arn: String,
        /// What is wrong with its value.
        #[source]
        problem: KeyFormatError,
    },
    /// The key cannot be sent in an HTTP header.
    #[error("the API key contains characters that cannot be sent in a header")]
    NotHeaderSafe,
}

/// What is wrong with a key's text.
#[derive(Debug, thiserror::Error)]
pub enum KeyFormatError {
    /// JSON without a string `api_key` (what is wrong, and where; never the value).
    #[error(
        "the secret is JSON without a string \"api_key\" ({kind} at line {line} column {column})"
    )]
    NoApiKey {
        /// What kind of error.
        kind: &'static str,
        /// Where.
        line: usize,
        /// Where.
        column: usize,
    },
    /// Nothing but white space.
    #[error("the API key is empty")]
    Empty,
}

/// Where the Admin API key comes from.
#[derive(Clone)]
pub enum ApiKeySource {
    /// `CURSOR_API_KEY` (local use).
    Plain(String),
    /// `CURSOR_API_KEY_SECRET_ARN`: a plain string or JSON `{"api_key": …}`.
    Secret {
        /// Secrets Manager.
        client: aws_sdk_secretsmanager::Client,
        /// The secret's ARN.
        arn: String,
    },
}

impl std::fmt::Debug for ApiKeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiKeySource::Plain(_) => f.write_str("Plain(<redacted>)"),
            ApiKeySource::Secret { arn, .. } => f.debug_struct("Secret").field("arn", arn).finish(),
        }
    }
}

/// The key, fetched once and cached; re-read when Cursor refuses it (rotation).
pub struct ApiKey {
    source: ApiKeySource,
    cached: tokio::sync::Mutex<Option<String>>,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// The API key in a secret's string: the string itself, or the `api_key` of a JSON object.
pub fn key_from_secret(text: &str) -> Result<String, KeyFormatError> {
    let trimmed = text.trim();
    let key = if trimmed.starts_with('{') {
        #[derive(Deserialize)]
        struct KeySecret {
            api_key: String,
        }
        serde_json::from_str::<KeySecret>(trimmed)
            .map_err(|err| KeyFormatError::NoApiKey {
                kind: crate::sink::connection::json_error_kind(&err),
                line: err.line(),
                column: err.column(),
            })?
            .api_key
            .trim()
            .to_owned()
    } else {
        trimmed.to_owned()
    };
    if key.is_empty() {
        return Err(KeyFormatError::Empty);
    }
    Ok(key)
}

impl ApiKey {
    /// A key from `source`, read on first use.
    pub fn new(source: ApiKeySource) -> ApiKey {
        ApiKey {
            source,
            cached: tokio::sync::Mutex::new(None),
        }
    }

    async fn fetch(&self) -> Result<String, KeyError> {
        match &self.source {
            ApiKeySource::Plain(key) => key_from_secret(key).map_err(KeyError::Plain),
            ApiKeySource::Secret { client, arn } => {
                let text = crate::aws::secret_string(client, arn).await?;
                key_from_secret(&text).map_err(|problem| KeyError::SecretContent {
                    arn: arn.clone(),
                    problem,
                })
            }
        }
    }

    /// The key (cached after the first read).
    pub async fn current(&self) -> Result<String, KeyError> {
        let mut cached = self.cached.lock().await;
        if let Some(key) = cached.as_ref() {
            return Ok(key.clone());
        }
        let key = self.fetch().await?;
        *cached = Some(key.clone());
        Ok(key)
    }

    /// Reads the secret again (it may have been rotated). `false` for a plain key, which
    /// cannot change.
    pub async fn reload(&self) -> Result<bool, KeyError> {
        if matches!(self.source, ApiKeySource::Plain(_)) {
            return Ok(false);
        }
        let key = self.fetch().await?;
        *self.cached.lock().await = Some(key);
        Ok(true)
    }

    pub(crate) fn hint(&self) -> String {
        match &self.source {
            ApiKeySource::Plain(_) => "; check CURSOR_API_KEY".into(),
            ApiKeySource::Secret { arn, .. } => {
                format!("after re-reading secret {arn}; check the key stored there")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_from_plain_and_json_secrets() {
        assert_eq!(key_from_secret(" key_abc123\n").unwrap(), "key_abc123");
        assert_eq!(
            key_from_secret(r#"{"api_key": "key_def", "note": "x"}"#).unwrap(),
            "key_def"
        );
        assert!(
            key_from_secret(r#"{"apiKey": "k"}"#)
                .unwrap_err()
                .to_string()
                .contains("api_key")
        );
        assert!(key_from_secret("  ").is_err());
        let err = key_from_secret(r#"{"api_key": 123456789}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("api_key") && !err.contains("123456789"),
            "{err}"
        );
    }

    #[test]
    fn debug_never_shows_the_key() {
        let key = ApiKey::new(ApiKeySource::Plain("key_Hidden123".into()));
        let shown = format!("{key:?} {:?}", ApiKeySource::Plain("key_Hidden123".into()));
        assert!(!shown.contains("Hidden123"), "{shown}");
    }
}
