//! The webhook receiver's settings: where payloads are archived, where the bearer tokens
//! come from, how often they are read again, and the size limits (docs/webhook.md).

use clap::Args;

use super::secret::Secret;
use super::validate::{between, parse_archive_uri};
use crate::aws::S3Location;
use crate::webhook::{Limits, TokenSettings, TokenSource};

/// A Lambda function URL accepts request payloads up to 6 MB.
pub const MAX_BODY_BYTES: usize = 6 * 1024 * 1024;

/// The webhook receiver's settings (docs/webhook.md).
#[derive(Debug, Clone, Args)]
pub struct WebhookArgs {
    /// Where accepted payloads are stored (`s3://bucket/prefix/`); setting it enables the
    /// webhook receiver.
    #[arg(long, env = "WEBHOOK_ARCHIVE_URI", value_parser = parse_archive_uri)]
    pub webhook_archive_uri: Option<S3Location>,
    /// The bearer token (local use; prefer the secret): a token, or JSON {"tokens": [...]}.
    #[arg(long, env = "WEBHOOK_TOKEN", hide_env_values = true)]
    pub webhook_token: Option<Secret>,
    /// Secrets Manager secret holding the token: a plain string or JSON {"tokens": [...]}.
    #[arg(long, env = "WEBHOOK_TOKEN_SECRET_ARN")]
    pub webhook_token_secret_arn: Option<String>,
    /// Largest request body accepted (after base64 decoding, before gzip inflation).
    #[arg(long, env = "WEBHOOK_MAX_BODY_BYTES", default_value_t = MAX_BODY_BYTES,
          value_parser = between("WEBHOOK_MAX_BODY_BYTES", 1024usize, MAX_BODY_BYTES))]
    pub webhook_max_body_bytes: usize,
    /// Largest body accepted after gzip inflation.
    #[arg(long, env = "WEBHOOK_MAX_INFLATED_BYTES", default_value_t = 64 * 1024 * 1024,
          value_parser = between("WEBHOOK_MAX_INFLATED_BYTES", 1024usize, 1024 * 1024 * 1024))]
    pub webhook_max_inflated_bytes: usize,
    /// A token that matches none is checked again against a fresh read of the secret when
    /// the tokens are older than this many seconds (a rotation, without a cold start).
    #[arg(long, env = "WEBHOOK_TOKEN_RECHECK_SECONDS", default_value_t = 30,
          value_parser = between("WEBHOOK_TOKEN_RECHECK_SECONDS", 1u64, 3600))]
    pub webhook_token_recheck_seconds: u64,
    /// The tokens are read again before use once they are older than this many seconds
    /// (so a token removed from the secret stops working).
    #[arg(long, env = "WEBHOOK_TOKEN_MAX_AGE_SECONDS", default_value_t = 300,
          value_parser = between("WEBHOOK_TOKEN_MAX_AGE_SECONDS", 1u64, 86400))]
    pub webhook_token_max_age_seconds: u64,
}

impl WebhookArgs {
    /// The archive location, when the receiver is enabled.
    pub fn archive(&self) -> Option<&S3Location> {
        self.webhook_archive_uri.as_ref()
    }

    /// Where the tokens come from; the secret wins over the plain variable. `None` when
    /// neither is set.
    pub fn token_source(&self, aws: &aws_config::SdkConfig) -> Option<TokenSource> {
        if let Some(arn) = self
            .webhook_token_secret_arn
            .as_deref()
            .filter(|a| !a.is_empty())
        {
            return Some(TokenSource::Secret {
                client: crate::aws::secrets_client(aws),
                arn: arn.to_owned(),
            });
        }
        self.webhook_token
            .as_ref()
            .filter(|t| !t.expose().trim().is_empty())
            .map(|t| TokenSource::Plain(t.expose().to_owned()))
    }

    /// How long tokens are trusted.
    pub fn token_settings(&self) -> TokenSettings {
        TokenSettings {
            recheck_after: std::time::Duration::from_secs(self.webhook_token_recheck_seconds),
            max_age: std::time::Duration::from_secs(self.webhook_token_max_age_seconds),
        }
    }

    /// The size limits.
    pub fn limits(&self) -> Limits {
        Limits {
            max_body_bytes: self.webhook_max_body_bytes,
            max_inflated_bytes: self.webhook_max_inflated_bytes,
        }
    }
}
