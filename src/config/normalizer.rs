//! The normalizer's settings: `event.original`, the GeoIP databases, the line cap.

use clap::Args;

use super::validate::{between, parse_geoip_refresh};
use crate::geoip::DbLocation;

/// Default cap on one input line (`MAX_LINE_BYTES`).
pub const DEFAULT_MAX_LINE_BYTES: usize = 1024 * 1024;

/// The longest line cap: 64 MiB (a line is held in memory while it is normalized).
pub const MAX_MAX_LINE_BYTES: usize = 64 * 1024 * 1024;

/// Options shared by every command that normalizes events.
#[derive(Debug, Clone, Args)]
pub struct NormalizerArgs {
    /// Keep `event.original` on every document.
    #[arg(long, env = "PRESERVE_ORIGINAL_EVENT")]
    pub preserve_original: bool,
    /// MaxMind-format City database for `source.geo`: a file or s3://bucket/key.
    #[arg(long, env = "GEOIP_CITY_DB", value_name = "FILE|S3_URI")]
    pub geoip_city: Option<DbLocation>,
    /// MaxMind-format ASN database for `source.as`: a file or s3://bucket/key.
    #[arg(long, env = "GEOIP_ASN_DB", value_name = "FILE|S3_URI")]
    pub geoip_asn: Option<DbLocation>,
    /// How often an s3:// database's ETag is checked (a changed object is fetched again).
    #[arg(long, env = "GEOIP_REFRESH", default_value = "1h", value_parser = parse_geoip_refresh)]
    pub geoip_refresh: chrono::TimeDelta,
    /// Longer lines become error documents holding the line's beginning.
    #[arg(long, env = "MAX_LINE_BYTES", value_name = "BYTES", default_value_t = DEFAULT_MAX_LINE_BYTES,
          value_parser = between("MAX_LINE_BYTES", 1, MAX_MAX_LINE_BYTES))]
    pub max_line_bytes: usize,
    /// A gzip file or object that inflates to more fails, naming it (a gzip bomb).
    #[arg(long, env = "MAX_OBJECT_INFLATED_BYTES", value_name = "BYTES",
          default_value_t = crate::shipping::decompress::DEFAULT_MAX_INFLATED_BYTES,
          value_parser = between("MAX_OBJECT_INFLATED_BYTES", 1, u64::MAX))]
    pub max_object_inflated_bytes: u64,
}
