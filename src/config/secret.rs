//! Settings that hold secrets: their `Debug` never shows them.

use std::convert::Infallible;
use std::str::FromStr;

/// A secret setting (an API key, a password). `Debug` prints `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl FromStr for Secret {
    type Err = Infallible;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(Secret(text.to_owned()))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A URL setting that may carry credentials (`https://user:password@host`). `Debug` shows
/// it with any userinfo replaced.
#[derive(Clone, PartialEq, Eq)]
pub struct UrlSetting(String);

impl UrlSetting {
    /// The URL as configured, credentials included.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl FromStr for UrlSetting {
    type Err = Infallible;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(UrlSetting(text.to_owned()))
    }
}

impl std::fmt::Debug for UrlSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::sink::cluster_url::redacted_url(&self.0))
    }
}
