//! Where our own dead letters are, so that the S3 path never reads them back as audit
//! events: `DEAD_LETTER_PREFIX` (default `dead-letter/`) in the dead-letter bucket, or in
//! any bucket when none is set (the deployed stack may write them into the audit bucket,
//! and an operator's `ship s3://…` does not know which bucket it chose).

/// The dead-letter location the S3 path skips.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterPlace {
    /// `DEAD_LETTER_BUCKET`; `None`: every bucket.
    pub bucket: Option<String>,
    /// `DEAD_LETTER_PREFIX`.
    pub prefix: String,
}

impl DeadLetterPlace {
    /// True when `bucket`/`key` is one of our dead letters.
    pub fn holds(&self, bucket: &str, key: &str) -> bool {
        !self.prefix.is_empty()
            && key.starts_with(&self.prefix)
            && self.bucket.as_deref().is_none_or(|b| b == bucket)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_letters_are_recognized_in_their_bucket_or_any() {
        let anywhere = DeadLetterPlace {
            bucket: None,
            prefix: "dead-letter/".into(),
        };
        assert!(anywhere.holds("audit", "dead-letter/2026/11/25/a.ndjson"));
        assert!(!anywhere.holds("audit", "2026/11/25/dead-letter/a.jsonl.gz"));
        assert!(!anywhere.holds("audit", "dead-letters.jsonl.gz"));
        let own = DeadLetterPlace {
            bucket: Some("dl".into()),
            prefix: "dead-letter/".into(),
        };
        assert!(own.holds("dl", "dead-letter/x.ndjson"));
        assert!(!own.holds("audit", "dead-letter/x.ndjson"));
        let none = DeadLetterPlace {
            bucket: None,
            prefix: String::new(),
        };
        assert!(!none.holds("audit", "dead-letter/x.ndjson"));
    }
}
