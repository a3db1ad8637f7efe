//! The Admin API key: from `CURSOR_API_KEY` or a Secrets Manager secret, read once and
//! cached, and read again when Cursor refuses it (the secret may have been rotated).

use crate::aws::secrets::{KeyFormatError, SecretError, key_from_secret, secret_string};

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
    /// The setting a plain key came from, for hints (`CURSOR_API_KEY` unless told).
    origin: String,
    cached: tokio::sync::Mutex<Option<String>>,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl ApiKey {
    /// A key from `source`, read on first use.
    pub fn new(source: ApiKeySource) -> ApiKey {
        ApiKey {
            source,
            origin: "CURSOR_API_KEY".into(),
            cached: tokio::sync::Mutex::new(None),
        }
    }

    /// Names the setting a plain key came from (a team's `api_key` in `CURSOR_TEAMS`).
    pub fn from_setting(mut self, origin: impl Into<String>) -> ApiKey {
        self.origin = origin.into();
        self
    }

    async fn fetch(&self) -> Result<String, KeyError> {
        match &self.source {
            ApiKeySource::Plain(key) => key_from_secret(key).map_err(KeyError::Plain),
            ApiKeySource::Secret { client, arn } => {
                let text = secret_string(client, arn).await?;
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
            ApiKeySource::Plain(_) => format!("check {}", self.origin),
            ApiKeySource::Secret { arn, .. } => {
                format!("the key was read again from secret {arn}; check the key stored there")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_key() {
        let key = ApiKey::new(ApiKeySource::Plain("key_Hidden123".into()));
        let shown = format!("{key:?} {:?}", ApiKeySource::Plain("key_Hidden123".into()));
        assert!(!shown.contains("Hidden123"), "{shown}");
        assert_eq!(key.hint(), "check CURSOR_API_KEY");
        let team = ApiKey::new(ApiKeySource::Plain("k".into()))
            .from_setting("the \"api_key\" of team ops in CURSOR_TEAMS");
        assert_eq!(
            team.hint(),
            "check the \"api_key\" of team ops in CURSOR_TEAMS"
        );
    }
}
