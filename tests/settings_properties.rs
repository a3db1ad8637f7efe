//! Arbitrary text in every setting: each parser answers `Ok` or a clear error, never a
//! panic — through clap exactly as the command line and the Lambda read them, and through
//! the parsers of what arrives from outside (URLs, `Retry-After`, secrets).

use clap::Parser;
use cursor_audit_forwarder::config::{LambdaArgs, validate};
use cursor_audit_forwarder::http::retry::parse_retry_after;
use cursor_audit_forwarder::sink::{EsConnection, EsSettings};
use proptest::prelude::*;

/// Every flag of the functions' settings that takes a value.
const FLAGS: &[&str] = &[
    "--geoip-city",
    "--geoip-asn",
    "--max-line-bytes",
    "--max-object-inflated-bytes",
    "--es-url",
    "--es-cloud-id",
    "--es-api-key",
    "--es-username",
    "--es-password",
    "--es-secret-arn",
    "--es-ca-cert",
    "--es-aws-sigv4",
    "--namespace",
    "--es-pipeline",
    "--bulk-max-bytes",
    "--bulk-max-actions",
    "--tags",
    "--dead-letter-bucket",
    "--dead-letter-prefix",
    "--dead-letter-dir",
    "--retry-timeout-seconds",
    "--request-timeout-seconds",
    "--s3-key-suffixes",
    "--checkpoint-table",
    "--cursor-api-url",
    "--cursor-api-key",
    "--cursor-api-key-secret-arn",
    "--initial-lookback",
    "--page-size",
    "--event-types",
    "--requests-per-minute",
    "--overlap",
    "--max-window",
    "--lease-seconds",
    "--cursor-retry-timeout-seconds",
    "--cursor-request-timeout-seconds",
    "--metrics-namespace",
    "--normalize-in",
    "--geoip-refresh",
];

/// Text that looks like the values settings take, and anything else.
fn setting_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9]{1,30}",
        "[0-9]{1,25}(ms|s|m|h|d|w)([0-9]{1,20}(s|m|h))?",
        "-?[0-9]{1,3}(\\.[0-9]{1,3})?(e[0-9]{1,3})?",
        "(https?|ftp)://[a-zA-Z0-9:@%._-]{0,20}(/[a-z?#&=.]{0,10})?",
        "[A-Za-z0-9 #/\\\\*?\"<>|,:+_.-]{0,30}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn no_setting_panics(flag in prop::sample::select(FLAGS), value in setting_text()) {
        // Ok, or clap's error naming the flag: never a panic.
        match LambdaArgs::try_parse_from(["lambda", flag, &value]) {
            Ok(_) => {}
            Err(err) => prop_assert!(!err.to_string().is_empty()),
        }
    }

    #[test]
    fn no_cluster_url_or_secret_panics(url in setting_text(), secret in any::<String>()) {
        let settings = EsSettings {
            url: Some(url),
            request_timeout: std::time::Duration::from_secs(1),
            ..EsSettings::default()
        };
        let _ = EsConnection::new(&settings);
        let mut settings = EsSettings::default();
        let _ = settings.merge_secret(&secret);
    }

    #[test]
    fn no_command_line_only_setting_panics(value in setting_text()) {
        // CURSOR_POLL_INTERVAL belongs to `poll` only; the shared parsers directly.
        let _ = validate::parse_poll_interval(&value);
        let _ = cursor_audit_forwarder::config::parse_duration(&value);
        let _ = value.parse::<cursor_audit_forwarder::geoip::DbLocation>();
        let _ = value.parse::<cursor_audit_forwarder::sink::NormalizeIn>();
    }

    #[test]
    fn no_retry_after_panics(value in setting_text()) {
        if let Some(wait) = parse_retry_after(&value, chrono::Utc::now()) {
            prop_assert!(wait <= std::time::Duration::from_secs(24 * 3600));
        }
    }
}
