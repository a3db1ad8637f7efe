//! Where the GeoIP databases come from: a file, or an S3 object fetched once per process
//! and again when its ETag changes. The reader itself is the normalizer's
//! ([`crate::normalize::GeoIp`]); this module only finds, fetches and swaps databases.

mod source;

pub use source::{DbLocation, GeoIpSourceError, GeoIpSources, load_and_watch};
