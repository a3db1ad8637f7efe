//! The newest `@timestamp` acknowledged, for the lag metric.

/// The newest `@timestamp` seen, for the lag metric. The normalizer writes `@timestamp` as
/// `YYYY-MM-DDTHH:MM:SS.mmmZ`, so comparing the text compares the times.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct NewestTimestamp(Option<String>);

impl NewestTimestamp {
    /// Keeps `timestamp` if it is newer.
    pub fn offer(&mut self, timestamp: &str) {
        let canonical = timestamp.len() == 24 && timestamp.ends_with('Z');
        if canonical && self.0.as_deref().is_none_or(|newest| timestamp > newest) {
            self.0 = Some(timestamp.to_owned());
        }
    }

    /// Keeps the newer of the two.
    pub fn merge(&mut self, other: &NewestTimestamp) {
        if let Some(timestamp) = &other.0 {
            self.offer(timestamp);
        }
    }

    /// The time, if any was seen.
    pub fn time(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        let text = self.0.as_deref()?;
        chrono::DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc))
    }
}
