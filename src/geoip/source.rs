//! Where the GeoIP databases come from (`GEOIP_CITY_DB`, `GEOIP_ASN_DB`): a local file, or
//! an S3 object (`s3://bucket/key`) streamed to a temporary file once per process, opened,
//! and fetched again when its ETag changes (checked every `GEOIP_REFRESH`, in the
//! background: shipping goes on with the databases it has).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::aws::{S3Location, aws_error_message, normalize_etag};
use crate::normalize::{GeoIp, GeoIpOpenError, Normalizer};

/// Where one database is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbLocation {
    /// A local file.
    File(PathBuf),
    /// An S3 object.
    S3 {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
    },
}

impl std::str::FromStr for DbLocation {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if !text.starts_with("s3://") {
            return Ok(DbLocation::File(PathBuf::from(text)));
        }
        match S3Location::parse(text) {
            Some(location) if !location.is_prefix() => Ok(DbLocation::S3 {
                bucket: location.bucket,
                key: location.key,
            }),
            _ => Err(format!(
                "{text:?} is not s3://bucket/key (a GeoIP database is one object)"
            )),
        }
    }
}

impl std::fmt::Display for DbLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbLocation::File(path) => write!(f, "{}", path.display()),
            DbLocation::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
        }
    }
}

/// A database that cannot be had, named by where it is.
#[derive(Debug, thiserror::Error)]
#[error("GeoIP database {location}: {message}")]
pub struct GeoIpSourceError {
    /// The file or `s3://` URI.
    pub location: String,
    /// What went wrong.
    pub message: String,
}

/// The City and ASN databases' locations and how often S3 objects are checked.
#[derive(Debug, Clone)]
pub struct GeoIpSources {
    /// `GEOIP_CITY_DB`.
    pub city: Option<DbLocation>,
    /// `GEOIP_ASN_DB`.
    pub asn: Option<DbLocation>,
    /// `GEOIP_REFRESH`.
    pub refresh: Duration,
    /// Where S3 objects are written (the Lambda's `/tmp`).
    pub directory: PathBuf,
}

/// The ETags of the S3 databases in use (`None` for files and absent ones).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Versions {
    city: Option<String>,
    asn: Option<String>,
}

impl GeoIpSources {
    /// True when a database lives in S3 (an S3 client is needed).
    pub fn uses_s3(&self) -> bool {
        [&self.city, &self.asn]
            .into_iter()
            .any(|location| matches!(location, Some(DbLocation::S3 { .. })))
    }

    /// The databases in use with each one whose S3 object changed since `known` downloaded
    /// and opened again (the unchanged one is kept as it is, not fetched), with the new
    /// versions; `None` when nothing changed.
    async fn fetch_changed(
        &self,
        s3: &aws_sdk_s3::Client,
        known: &Versions,
        in_use: &GeoIp,
    ) -> Result<Option<(GeoIp, Versions)>, GeoIpSourceError> {
        let current = Versions {
            city: self.version(Some(s3), self.city.as_ref()).await?,
            asn: self.version(Some(s3), self.asn.as_ref()).await?,
        };
        if &current == known {
            return Ok(None);
        }
        let changed = |now: &Option<String>, before: &Option<String>, location| {
            (now != before).then_some(location).flatten()
        };
        let city_changed = changed(&current.city, &known.city, self.city.as_ref());
        let asn_changed = changed(&current.asn, &known.asn, self.asn.as_ref());
        let (city, city_version) = self.local_copy(Some(s3), city_changed, "city").await?;
        let (asn, asn_version) = self.local_copy(Some(s3), asn_changed, "asn").await?;
        let opened = in_use.replacing(city.as_deref(), asn.as_deref());
        self.remove_downloads(&city, &asn).await;
        let geoip = opened.map_err(|err| self.open_error(&err, city.as_deref()))?;
        Ok(Some((
            geoip,
            Versions {
                city: city_version.or_else(|| known.city.clone()),
                asn: asn_version.or_else(|| known.asn.clone()),
            },
        )))
    }

    /// The readers hold the databases in memory: downloads are not needed any more.
    async fn remove_downloads(&self, city: &Option<PathBuf>, asn: &Option<PathBuf>) {
        for (path, location) in [(city, &self.city), (asn, &self.asn)] {
            if let (Some(path), Some(DbLocation::S3 { .. })) = (path, location) {
                let _ = tokio::fs::remove_file(path).await;
            }
        }
    }

    /// A database that would not open, named by where it came from.
    fn open_error(&self, err: &GeoIpOpenError, city: Option<&Path>) -> GeoIpSourceError {
        let location = if city == Some(err.path.as_path()) {
            self.city.as_ref()
        } else {
            self.asn.as_ref()
        };
        GeoIpSourceError {
            location: location.map(ToString::to_string).unwrap_or_default(),
            message: format!("not a readable MaxMind database: {}", err.source),
        }
    }

    /// The ETag of an S3 location (`None` for a file or none).
    async fn version(
        &self,
        s3: Option<&aws_sdk_s3::Client>,
        location: Option<&DbLocation>,
    ) -> Result<Option<String>, GeoIpSourceError> {
        let (Some(DbLocation::S3 { bucket, key }), Some(s3)) = (location, s3) else {
            return Ok(None);
        };
        let head = s3
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|err| GeoIpSourceError {
                location: format!("s3://{bucket}/{key}"),
                message: aws_error_message(&err),
            })?;
        Ok(head.e_tag().map(normalize_etag))
    }

    /// Downloads what lives in S3 and opens both databases.
    async fn fetch(
        &self,
        s3: Option<&aws_sdk_s3::Client>,
    ) -> Result<(GeoIp, Versions), GeoIpSourceError> {
        let (city, city_version) = self.local_copy(s3, self.city.as_ref(), "city").await?;
        let (asn, asn_version) = self.local_copy(s3, self.asn.as_ref(), "asn").await?;
        let opened = GeoIp::open(city.as_deref(), asn.as_deref());
        self.remove_downloads(&city, &asn).await;
        let geoip = opened.map_err(|err| self.open_error(&err, city.as_deref()))?;
        Ok((
            geoip,
            Versions {
                city: city_version,
                asn: asn_version,
            },
        ))
    }

    /// A local file holding the database (a download for S3) and the S3 object's ETag.
    async fn local_copy(
        &self,
        s3: Option<&aws_sdk_s3::Client>,
        location: Option<&DbLocation>,
        name: &str,
    ) -> Result<(Option<PathBuf>, Option<String>), GeoIpSourceError> {
        match location {
            None => Ok((None, None)),
            Some(DbLocation::File(path)) => Ok((Some(path.clone()), None)),
            Some(DbLocation::S3 { bucket, key }) => {
                let uri = format!("s3://{bucket}/{key}");
                let fail = |message: String| GeoIpSourceError {
                    location: uri.clone(),
                    message,
                };
                let s3 = s3.ok_or_else(|| fail("no S3 client".into()))?;
                let object = s3
                    .get_object()
                    .bucket(bucket)
                    .key(key)
                    .send()
                    .await
                    .map_err(|err| fail(aws_error_message(&err)))?;
                let etag = object.e_tag().map(normalize_etag);
                let path = self.directory.join(format!(
                    "cursor-audit-geoip-{name}-{}.mmdb",
                    std::process::id()
                ));
                stream_to_file(object.body, &path)
                    .await
                    .map_err(|err| fail(format!("cannot download to {}: {err}", path.display())))?;
                Ok((Some(path), etag))
            }
        }
    }
}

/// Writes a body to `path` chunk by chunk (never whole in memory), replacing the file only
/// once it is complete.
async fn stream_to_file(
    mut body: aws_sdk_s3::primitives::ByteStream,
    path: &Path,
) -> Result<(), String> {
    let partial = path.with_extension("part");
    let mut file = tokio::fs::File::create(&partial)
        .await
        .map_err(|e| e.to_string())?;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| e.to_string())?;
        file.write_all(&chunk).await.map_err(|e| e.to_string())?;
    }
    file.flush().await.map_err(|e| e.to_string())?;
    drop(file);
    tokio::fs::rename(&partial, path)
        .await
        .map_err(|e| e.to_string())
}

/// Loads the databases into `normalizer` (any that cannot be had is an error) and, when
/// some live in S3, checks them every `refresh` in the background, replacing the
/// normalizer's readers when an object changes. A failed check keeps the databases in use
/// (and says so).
pub async fn load_and_watch(
    sources: GeoIpSources,
    s3: Option<aws_sdk_s3::Client>,
    normalizer: &Arc<Normalizer>,
) -> Result<(), GeoIpSourceError> {
    let (geoip, mut known) = sources.fetch(s3.as_ref()).await?;
    normalizer.replace_geoip(geoip);
    let Some(s3) = s3.filter(|_| sources.uses_s3()) else {
        return Ok(());
    };
    let normalizer = Arc::downgrade(normalizer);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(sources.refresh).await;
            let Some(normalizer) = normalizer.upgrade() else {
                return;
            };
            match sources
                .fetch_changed(&s3, &known, &normalizer.current_geoip())
                .await
            {
                Ok(Some((geoip, versions))) => {
                    tracing::info!(city = ?sources.city.as_ref().map(ToString::to_string),
                        asn = ?sources.asn.as_ref().map(ToString::to_string),
                        "GeoIP databases changed; now in use");
                    normalizer.replace_geoip(geoip);
                    known = versions;
                }
                Ok(None) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "GeoIP refresh failed; the databases in use stay");
                }
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_files_or_whole_s3_objects() {
        assert_eq!(
            "s3://geo/db/GeoLite2-City.mmdb".parse::<DbLocation>(),
            Ok(DbLocation::S3 {
                bucket: "geo".into(),
                key: "db/GeoLite2-City.mmdb".into()
            })
        );
        assert_eq!(
            "/opt/GeoLite2-City.mmdb".parse::<DbLocation>(),
            Ok(DbLocation::File("/opt/GeoLite2-City.mmdb".into()))
        );
        assert!("s3://bucket-only".parse::<DbLocation>().is_err());
        assert!("s3:///key".parse::<DbLocation>().is_err());
        assert_eq!(
            "s3://geo/a.mmdb".parse::<DbLocation>().unwrap().to_string(),
            "s3://geo/a.mmdb"
        );
    }
}
