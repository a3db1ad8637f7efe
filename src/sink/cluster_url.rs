//! The cluster's address as configured: a URL (checked, its userinfo split off as
//! credentials and never shown again) or an Elastic Cloud ID.

use base64::Engine as _;

use super::error::EsError;

/// Decodes an Elastic Cloud ID (`name:base64(host$es_id$kibana_id)`) to the cluster URL.
pub fn decode_cloud_id(cloud_id: &str) -> Result<String, EsError> {
    let invalid = |why: &str| EsError::Config(format!("invalid ES_CLOUD_ID: {why}"));
    let encoded = cloud_id
        .rsplit_once(':')
        .map(|(_, encoded)| encoded)
        .unwrap_or(cloud_id);
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| invalid("not base64"))?;
    let decoded = String::from_utf8(decoded).map_err(|_| invalid("not UTF-8"))?;
    let mut parts = decoded.split('$');
    let host = parts
        .next()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| invalid("no host"))?;
    let es_id = parts
        .next()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| invalid("no Elasticsearch id"))?;
    let (host, port) = match host.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok() => (host, port),
        _ => (host, "443"),
    };
    Ok(format!("https://{es_id}.{host}:{port}"))
}

/// A URL for logs and `Debug`: any userinfo replaced.
pub(crate) fn redacted_url(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(mut url) if !url.username().is_empty() || url.password().is_some() => {
            let _ = url.set_username("redacted");
            let _ = url.set_password(None);
            url.to_string()
        }
        Ok(url) => url.to_string(),
        Err(_) => "<not a URL>".into(),
    }
}

/// Credentials carried in a URL's userinfo (`http://user:password@host`).
pub(super) struct UrlCredentials {
    pub(super) username: String,
    pub(super) password: Option<String>,
}

/// Checks a cluster URL (`http` or `https`, a host, no query or fragment) and splits off
/// any credentials in its userinfo. Messages never repeat the URL: it may hold a password.
pub(super) fn split_url(text: &str) -> Result<(String, Option<UrlCredentials>), EsError> {
    let mut url = url::Url::parse(text)
        .map_err(|err| EsError::Config(format!("the cluster URL is not a valid URL: {err}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(EsError::Config(format!(
            "the cluster URL must start with http:// or https://, not {}://",
            url.scheme()
        )));
    }
    if url.host().is_none() {
        return Err(EsError::Config("the cluster URL has no host".into()));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(EsError::Config(
            "the cluster URL must not have a query or a fragment".into(),
        ));
    }
    let credentials = (!url.username().is_empty()).then(|| UrlCredentials {
        username: percent_decode(url.username()),
        password: url.password().map(percent_decode),
    });
    let _ = url.set_username("");
    let _ = url.set_password(None);
    Ok((url.as_str().trim_end_matches('/').to_owned(), credentials))
}

/// Percent-decoding of a userinfo part.
fn percent_decode(part: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", part.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloud_id_decodes_to_https_url() {
        let encoded = base64::engine::general_purpose::STANDARD
            .encode("us-east-1.aws.found.io$abc123$kib456");
        assert_eq!(
            decode_cloud_id(&format!("my-deployment:{encoded}")).unwrap(),
            "https://abc123.us-east-1.aws.found.io:443"
        );
        let with_port = base64::engine::general_purpose::STANDARD.encode("example.com:9243$es$kb");
        assert_eq!(
            decode_cloud_id(&format!("d:{with_port}")).unwrap(),
            "https://es.example.com:9243"
        );
        assert!(decode_cloud_id("d:!!!").is_err());
    }
}
