//! Secrets, in one place: reading a Secrets Manager secret, its size limit, parsing its
//! JSON with errors that say what is wrong and where but never the value, and the Cursor
//! Admin API key's shape. (The cluster's secret has the shape of its connection settings,
//! `sink::EsSettings`, declared once there.)

use serde::Deserialize;
use serde::de::DeserializeOwned;

/// The most a secret may hold (Secrets Manager's own limit is 64 KiB).
pub const MAX_SECRET_BYTES: usize = 64 * 1024;

/// A Secrets Manager client.
pub fn secrets_client(config: &aws_config::SdkConfig) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(config)
}

/// Why a secret's value could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// `GetSecretValue` failed.
    #[error("cannot read secret {arn}: {message}")]
    Read {
        /// The secret.
        arn: String,
        /// What Secrets Manager said.
        message: String,
    },
    /// The secret is binary.
    #[error("secret {arn} has no string value")]
    NotAString {
        /// The secret.
        arn: String,
    },
}

/// The string value of a secret.
pub async fn secret_string(
    client: &aws_sdk_secretsmanager::Client,
    arn: &str,
) -> Result<String, SecretError> {
    let output = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|err| SecretError::Read {
            arn: arn.to_owned(),
            message: super::aws_error_message(&err),
        })?;
    output.secret_string.ok_or_else(|| SecretError::NotAString {
        arn: arn.to_owned(),
    })
}

/// Why a secret's JSON is not the expected shape: its kind and position, never the text
/// serde would quote (a password written as a number would be echoed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at line {line} column {column}")]
pub struct ShapeError {
    /// What kind of error.
    pub kind: &'static str,
    /// Where.
    pub line: usize,
    /// Where.
    pub column: usize,
}

/// Parses a secret's JSON as `T`, reporting only the kind and position of an error.
pub fn parse_json<T: DeserializeOwned>(text: &str) -> Result<T, ShapeError> {
    serde_json::from_str(text).map_err(|err| ShapeError {
        kind: json_error_kind(&err),
        line: err.line(),
        column: err.column(),
    })
}

/// What kind of JSON error, without the text serde quotes.
fn json_error_kind(err: &serde_json::Error) -> &'static str {
    match err.classify() {
        serde_json::error::Category::Io => "unreadable",
        serde_json::error::Category::Syntax => "not JSON",
        serde_json::error::Category::Data => "a value of the wrong type",
        serde_json::error::Category::Eof => "truncated JSON",
    }
}

/// What is wrong with an API key's text.
#[derive(Debug, thiserror::Error)]
pub enum KeyFormatError {
    /// JSON without a string `api_key` (what is wrong, and where; never the value).
    #[error("the secret is JSON without a string \"api_key\" ({0})")]
    NoApiKey(ShapeError),
    /// Nothing but white space.
    #[error("the API key is empty")]
    Empty,
}

/// The Cursor Admin API key in a secret's string: the string itself, or the `api_key` of
/// a JSON object.
pub fn key_from_secret(text: &str) -> Result<String, KeyFormatError> {
    #[derive(Deserialize)]
    struct KeySecret {
        api_key: String,
    }
    let trimmed = text.trim();
    let key = if trimmed.starts_with('{') {
        parse_json::<KeySecret>(trimmed)
            .map_err(KeyFormatError::NoApiKey)?
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
}
