//! The functions' settings: every group, from the environment (docs/ARCHITECTURE.md).

use clap::Parser;

use super::cursor::CursorArgs;
use super::normalizer::NormalizerArgs;
use super::s3::{CheckpointArgs, S3Args};
use super::sink::SinkArgs;
use super::webhook::WebhookArgs;

/// The configuration of the functions: the environment variables of docs/ARCHITECTURE.md.
#[derive(Debug, Clone, Parser)]
#[command(name = "cursor-audit-forwarder (Lambda)")]
pub struct LambdaArgs {
    /// The normalizer.
    #[command(flatten)]
    pub normalizer: NormalizerArgs,
    /// The cluster.
    #[command(flatten)]
    pub sink: SinkArgs,
    /// The S3 path.
    #[command(flatten)]
    pub s3: S3Args,
    /// Durable progress.
    #[command(flatten)]
    pub checkpoint: CheckpointArgs,
    /// The Admin API path.
    #[command(flatten)]
    pub cursor: CursorArgs,
    /// The webhook receiver.
    #[command(flatten)]
    pub webhook: WebhookArgs,
    /// CloudWatch namespace of the Embedded Metric Format records.
    #[arg(long, env = "METRICS_NAMESPACE", default_value = crate::telemetry::metrics::DEFAULT_NAMESPACE)]
    pub metrics_namespace: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_is_consistent_and_has_defaults() {
        use clap::CommandFactory;
        LambdaArgs::command().debug_assert();
        let args = LambdaArgs::try_parse_from(["lambda"]).unwrap();
        assert_eq!(args.cursor.requests_per_minute, 18);
        assert_eq!(args.cursor.overlap, chrono::TimeDelta::minutes(5));
        assert_eq!(args.cursor.initial_lookback, chrono::TimeDelta::hours(24));
    }

    #[test]
    fn debug_never_shows_a_secret() {
        let args = LambdaArgs::try_parse_from([
            "lambda",
            "--es-url",
            "https://elastic:UrlSecret1@es.example.com",
            "--es-api-key",
            "id:KeySecret2",
            "--es-password",
            "PwSecret3",
            "--cursor-api-key",
            "key_CursorSecret4",
            "--webhook-token",
            "tok_WebhookSecret5xxxxx",
            "--webhook-archive-uri",
            "s3://dlq/webhook",
        ])
        .unwrap();
        assert_eq!(
            args.webhook.archive().unwrap().to_string(),
            "s3://dlq/webhook/"
        );
        let shown = format!("{args:?} {:?} {:?}", args.sink, args.cursor);
        for secret in [
            "UrlSecret1",
            "KeySecret2",
            "PwSecret3",
            "CursorSecret4",
            "WebhookSecret5",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("es.example.com"), "{shown}");
        let settings = args.sink.settings();
        let shown = format!("{settings:?}");
        for secret in ["UrlSecret1", "KeySecret2", "PwSecret3"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
    }
}
