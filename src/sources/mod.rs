//! Named sources, the input of `ship SOURCE…`: local files (gzip or plain NDJSON) and
//! `s3://` objects or prefixes (every object under a prefix, oldest key first), shipped one
//! after another to the output. Files go straight through the shipper; S3 objects through
//! the S3 path ([`S3Forwarder`]), so that with `CHECKPOINT_TABLE` a rerun resumes where
//! the last one stopped.

use crate::aws::S3Location;
use crate::s3::{ListError, ObjectRef, S3Forwarder, has_accepted_suffix, list_keys};
use crate::shipping::deadline::Deadline;
use crate::shipping::{Provenance, Shipper};
use crate::sink::{Counts, Output};

/// What `ship` needs, built once (`config::build::named_sources`).
#[derive(Debug)]
pub struct NamedSources {
    /// Lines to batches.
    pub shipper: Shipper,
    /// Where batches go.
    pub output: Output,
    /// The S3 path, when a source is in S3.
    pub s3: Option<S3Forwarder>,
    /// Retry budget per batch.
    pub deadline: Deadline,
}

/// Why a named source was not (completely) shipped.
#[derive(Debug, thiserror::Error)]
pub enum SourceFailure {
    /// A local file could not be opened.
    #[error("cannot open {path}: {error}")]
    Open {
        /// The path as given.
        path: String,
        /// Why.
        #[source]
        error: std::io::Error,
    },
    /// An `s3://` prefix could not be listed.
    #[error("{0}")]
    List(#[from] ListError),
    /// `s3://` names a source but no S3 path was built (a bug in the caller).
    #[error("{0}: no S3 client was configured for s3:// sources")]
    NoS3(String),
    /// Not every line was acknowledged.
    #[error("{name}: {reason} (lines acknowledged through {acknowledged_through})")]
    Incomplete {
        /// The file or object.
        name: String,
        /// Why.
        reason: String,
        /// Every line up to and including this one is acknowledged.
        acknowledged_through: u64,
    },
}

/// What shipping the named sources did.
#[derive(Debug, Default)]
pub struct SourcesReport {
    /// Documents read and delivered, over all sources.
    pub counts: Counts,
    /// The sources (or objects) that did not complete, in order.
    pub failures: Vec<SourceFailure>,
    /// Objects under an `s3://` prefix left out because they are our own dead letters
    /// (`DEAD_LETTER_PREFIX`), with that prefix.
    pub dead_letters_skipped: Option<(usize, String)>,
}

impl SourcesReport {
    /// True when every source completed and every document was acknowledged.
    pub fn succeeded(&self) -> bool {
        self.failures.is_empty() && self.counts.failed == 0
    }
}

/// Called before each object of an `s3://` source and once at its end: (done, total, key).
pub type Progress<'a> = &'a dyn Fn(usize, usize, &str);

/// True when a source names S3 rather than a local file.
pub fn is_s3(source: &str) -> bool {
    S3Location::parse(source).is_some()
}

/// Why a source is incomplete, for its failure.
fn describe(error: Option<&impl std::fmt::Display>) -> String {
    error.map_or_else(
        || "not all documents were acknowledged".to_owned(),
        ToString::to_string,
    )
}

impl NamedSources {
    /// Ships every source in order; a failing source never stops the next.
    pub async fn ship_all(&self, sources: &[String], progress: Progress<'_>) -> SourcesReport {
        let mut report = SourcesReport::default();
        for source in sources {
            match S3Location::parse(source) {
                Some(location) => self.ship_s3(&location, progress, &mut report).await,
                None => self.ship_file(source, &mut report).await,
            }
        }
        report
    }

    async fn ship_file(&self, path: &str, report: &mut SourcesReport) {
        let file = match std::fs::File::open(path) {
            Ok(file) => file,
            Err(error) => {
                report.failures.push(SourceFailure::Open {
                    path: path.to_owned(),
                    error,
                });
                return;
            }
        };
        let provenance = Provenance::File {
            path: path.to_owned(),
        };
        let shipped = self
            .shipper
            .ship(Box::new(file), provenance, 0, &self.output, self.deadline)
            .await;
        report.counts.add(&shipped.counts);
        if !shipped.complete {
            report.failures.push(SourceFailure::Incomplete {
                name: path.to_owned(),
                reason: describe(shipped.error.as_ref()),
                acknowledged_through: shipped.acknowledged_through_line,
            });
        }
    }

    /// Every object an `s3://bucket/key-or-prefix` names, through the S3 path.
    async fn ship_s3(
        &self,
        location: &S3Location,
        progress: Progress<'_>,
        report: &mut SourcesReport,
    ) {
        let Some(forwarder) = &self.s3 else {
            report
                .failures
                .push(SourceFailure::NoS3(location.to_string()));
            return;
        };
        let keys = match self.keys(forwarder, location, report).await {
            Ok(keys) => keys,
            Err(err) => {
                report.failures.push(err.into());
                return;
            }
        };
        for (done, key) in keys.iter().enumerate() {
            progress(done, keys.len(), key);
            let object = ObjectRef {
                bucket: location.bucket.clone(),
                key: key.clone(),
                etag: None,
                region: None,
            };
            let result = forwarder.forward(&object, self.deadline).await;
            report.counts.add(&result.counts);
            if !result.complete {
                report.failures.push(SourceFailure::Incomplete {
                    name: format!("s3://{}/{key}", location.bucket),
                    reason: describe(result.error.as_ref()),
                    acknowledged_through: result.lines_acknowledged,
                });
            }
        }
        progress(keys.len(), keys.len(), "done");
    }

    /// The keys a location names: itself, or the objects under a prefix whose names have
    /// one of the accepted suffixes, less our own dead letters (counted in `report`).
    async fn keys(
        &self,
        forwarder: &S3Forwarder,
        location: &S3Location,
        report: &mut SourcesReport,
    ) -> Result<Vec<String>, ListError> {
        if !location.is_prefix() {
            return Ok(vec![location.key.clone()]);
        }
        let keys = list_keys(&forwarder.s3, &location.bucket, &location.key).await?;
        let dead_letters = &forwarder.dead_letters;
        let (skipped, keys): (Vec<String>, Vec<String>) = keys
            .into_iter()
            .filter(|k| has_accepted_suffix(k, &forwarder.suffixes))
            .partition(|k| dead_letters.holds(&location.bucket, k));
        if !skipped.is_empty() {
            let (count, _) = report
                .dead_letters_skipped
                .get_or_insert_with(|| (0, dead_letters.prefix.clone()));
            *count += skipped.len();
        }
        Ok(keys)
    }
}
