//! AWS Signature Version 4 for Amazon OpenSearch Service domains with IAM access control:
//! when signing is on, which region, and the signer itself (the SDK's own `aws-sigv4` crate,
//! service `es`). Credentials come from the standard chain and are refreshed before they
//! expire, so a long backfill on role credentials keeps working (docs/deploy-opensearch.md).

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings, sign,
};
use aws_smithy_runtime_api::client::identity::Identity;
use reqwest::header::{HeaderName, HeaderValue};

use super::error::EsError;

/// The service name Amazon OpenSearch Service domains check signatures against.
pub const SERVICE: &str = "es";

/// Credentials are fetched again when they expire within this margin, so a signed request
/// never reaches the service with credentials that ran out on the way.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// `ES_AWS_SIGV4`: whether requests are signed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SigV4Choice {
    /// Signed when the endpoint is an Amazon OpenSearch Service domain
    /// (`*.es.amazonaws.com`, `*.aos.<region>.on.aws`) and no other credentials are set.
    #[default]
    Auto,
    /// Always signed.
    On,
    /// Never signed.
    Off,
}

impl FromStr for SigV4Choice {
    type Err = String;

    fn from_str(text: &str) -> Result<SigV4Choice, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "auto" | "" => Ok(SigV4Choice::Auto),
            "true" | "1" | "yes" | "on" => Ok(SigV4Choice::On),
            "false" | "0" | "no" | "off" => Ok(SigV4Choice::Off),
            _ => Err("ES_AWS_SIGV4 must be true, false or auto".into()),
        }
    }
}

/// Where the region requests are signed for comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigningRegion {
    /// The endpoint's host name names it.
    Endpoint(String),
    /// The configured AWS region (`AWS_REGION`, the profile).
    Configured,
}

/// The region named by an Amazon OpenSearch Service endpoint's host name, or `None` when
/// the host is not one: `search-x-abc.eu-west-1.es.amazonaws.com`, the VPC form
/// `vpc-x-abc.eu-west-1.es.amazonaws.com`, and `search-x-abc.aos.eu-west-1.on.aws`.
pub fn endpoint_region(host: &str) -> Option<String> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = host.split('.').collect();
    let region = match labels.as_slice() {
        [_, .., region, "es", "amazonaws", "com"] => *region,
        [_, .., region, "es", "amazonaws", "com", "cn"] => *region,
        [_, .., "aos", region, "on", "aws"] => *region,
        _ => return None,
    };
    let plausible = region.split('-').count() >= 3
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    plausible.then(|| region.to_owned())
}

/// Signs requests for one region with credentials from a provider, cached until they are
/// about to expire.
pub struct SigV4Signer {
    region: String,
    provider: SharedCredentialsProvider,
    cached: tokio::sync::Mutex<Option<Credentials>>,
}

impl std::fmt::Debug for SigV4Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigV4Signer")
            .field("region", &self.region)
            .field("service", &SERVICE)
            .finish()
    }
}

impl SigV4Signer {
    /// A signer for `region` drawing credentials from `provider`.
    pub fn new(region: String, provider: SharedCredentialsProvider) -> Arc<SigV4Signer> {
        Arc::new(SigV4Signer {
            region,
            provider,
            cached: tokio::sync::Mutex::new(None),
        })
    }

    /// The region requests are signed for.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Credentials valid for at least [`REFRESH_MARGIN`]: the cached ones, or fresh ones.
    async fn credentials(&self) -> Result<Credentials, EsError> {
        let mut cached = self.cached.lock().await;
        if let Some(credentials) = cached.as_ref()
            && still_fresh(credentials, SystemTime::now())
        {
            return Ok(credentials.clone());
        }
        let fresh = self
            .provider
            .provide_credentials()
            .await
            .map_err(|err| EsError::Credentials(err.to_string()))?;
        *cached = Some(fresh.clone());
        Ok(fresh)
    }

    /// Adds `Authorization`, `X-Amz-Date`, `X-Amz-Content-Sha256` and, with temporary
    /// credentials, `X-Amz-Security-Token` to `request`, signing its method, URL, headers and
    /// body as they will be sent.
    pub async fn sign(&self, request: &mut reqwest::Request) -> Result<(), EsError> {
        let identity: Identity = self.credentials().await?.into();
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(SERVICE)
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|err| EsError::Signing(err.to_string()))?
            .into();
        let headers: Vec<(&str, &str)> = request
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
            .collect();
        let body = match request.body() {
            None => SignableBody::Bytes(&[]),
            Some(body) => SignableBody::Bytes(
                body.as_bytes()
                    .ok_or_else(|| EsError::Signing("a streamed body cannot be signed".into()))?,
            ),
        };
        let signable = SignableRequest::new(
            request.method().as_str(),
            request.url().as_str(),
            headers.into_iter(),
            body,
        )
        .map_err(|err| EsError::Signing(err.to_string()))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|err| EsError::Signing(err.to_string()))?
            .into_parts();
        let (added, _) = instructions.into_parts();
        for header in added {
            let mut value = HeaderValue::from_str(header.value())
                .map_err(|err| EsError::Signing(err.to_string()))?;
            value.set_sensitive(header.sensitive() || header.name() == "authorization");
            let name = HeaderName::from_bytes(header.name().as_bytes())
                .map_err(|err| EsError::Signing(err.to_string()))?;
            request.headers_mut().insert(name, value);
        }
        Ok(())
    }
}

/// True while `credentials` do not expire within [`REFRESH_MARGIN`] of `now` (credentials
/// without an expiry, such as long-term keys, never go stale).
fn still_fresh(credentials: &Credentials, now: SystemTime) -> bool {
    match credentials.expiry() {
        None => true,
        Some(expiry) => expiry
            .duration_since(now)
            .is_ok_and(|left| left > REFRESH_MARGIN),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use aws_credential_types::provider::future;

    use super::*;

    #[test]
    fn regions_from_endpoints() {
        let cases = [
            (
                "search-logs-abc123.eu-west-1.es.amazonaws.com",
                Some("eu-west-1"),
            ),
            (
                "vpc-logs-abc123.us-gov-west-1.es.amazonaws.com",
                Some("us-gov-west-1"),
            ),
            (
                "search-logs-abc.cn-north-1.es.amazonaws.com.cn",
                Some("cn-north-1"),
            ),
            ("search-logs-abc.aos.ap-south-2.on.aws", Some("ap-south-2")),
            ("SEARCH-X.US-EAST-1.ES.AMAZONAWS.COM.", Some("us-east-1")),
            ("es.amazonaws.com", None),
            ("localhost", None),
            ("search.example.com", None),
            ("abc.us-east-1.aoss.amazonaws.com", None),
            ("x.evil_host.es.amazonaws.com", None),
        ];
        for (host, want) in cases {
            assert_eq!(endpoint_region(host).as_deref(), want, "{host}");
        }
    }

    #[test]
    fn choice_parses_the_documented_words() {
        assert_eq!("true".parse::<SigV4Choice>(), Ok(SigV4Choice::On));
        assert_eq!("False".parse::<SigV4Choice>(), Ok(SigV4Choice::Off));
        assert_eq!("auto".parse::<SigV4Choice>(), Ok(SigV4Choice::Auto));
        assert!("sometimes".parse::<SigV4Choice>().is_err());
    }

    #[test]
    fn freshness_respects_the_margin() {
        let now = SystemTime::now();
        let expiring = |secs| {
            Credentials::new(
                "AK",
                "SK",
                Some("T".into()),
                Some(now + Duration::from_secs(secs)),
                "t",
            )
        };
        assert!(still_fresh(
            &Credentials::new("AK", "SK", None, None, "t"),
            now
        ));
        assert!(still_fresh(&expiring(3600), now));
        assert!(!still_fresh(&expiring(30), now));
        assert!(!still_fresh(
            &Credentials::new("AK", "SK", None, Some(now - Duration::from_secs(1)), "t"),
            now
        ));
    }

    /// A provider handing out numbered credentials that expire `lifetime` after issue.
    #[derive(Debug)]
    struct Rotating {
        issued: AtomicUsize,
        lifetime: Duration,
    }

    impl ProvideCredentials for Rotating {
        fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            let n = self.issued.fetch_add(1, Ordering::SeqCst);
            future::ProvideCredentials::ready(Ok(Credentials::new(
                format!("AK{n}"),
                "SK",
                Some("TOKEN".into()),
                Some(SystemTime::now() + self.lifetime),
                "rotating",
            )))
        }
    }

    async fn signed_key_id(signer: &SigV4Signer) -> String {
        let mut request = reqwest::Request::new(
            reqwest::Method::GET,
            "https://search-x.us-east-1.es.amazonaws.com/"
                .parse()
                .unwrap(),
        );
        signer.sign(&mut request).await.unwrap();
        let auth = request.headers()["authorization"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(request.headers()["authorization"].is_sensitive());
        assert_eq!(request.headers()["x-amz-security-token"], "TOKEN");
        assert!(auth.starts_with("AWS4-HMAC-SHA256 Credential="), "{auth}");
        assert!(auth.contains("/us-east-1/es/aws4_request"), "{auth}");
        auth.split("Credential=")
            .nth(1)
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .to_owned()
    }

    #[tokio::test]
    async fn long_lived_credentials_are_reused_and_expiring_ones_refreshed() {
        let lasting = SigV4Signer::new(
            "us-east-1".into(),
            SharedCredentialsProvider::new(Rotating {
                issued: AtomicUsize::new(0),
                lifetime: Duration::from_secs(3600),
            }),
        );
        assert_eq!(signed_key_id(&lasting).await, "AK0");
        assert_eq!(signed_key_id(&lasting).await, "AK0");

        let expiring = SigV4Signer::new(
            "us-east-1".into(),
            SharedCredentialsProvider::new(Rotating {
                issued: AtomicUsize::new(0),
                lifetime: REFRESH_MARGIN / 2,
            }),
        );
        assert_eq!(signed_key_id(&expiring).await, "AK0");
        assert_eq!(signed_key_id(&expiring).await, "AK1");
    }

    #[test]
    fn debug_shows_no_credentials() {
        let signer = SigV4Signer::new(
            "us-east-1".into(),
            SharedCredentialsProvider::new(Credentials::new("AKID", "SECRET", None, None, "t")),
        );
        let shown = format!("{signer:?}");
        assert!(
            !shown.contains("SECRET") && !shown.contains("AKID"),
            "{shown}"
        );
    }
}
