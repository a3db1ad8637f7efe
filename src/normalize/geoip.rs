//! GeoIP and ASN enrichment from MaxMind-format databases (`source.geo`, `source.as`).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use maxminddb::Reader;
use serde::Deserialize;
use serde_json::{Map, Value};

/// A database that could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot open GeoIP database {path}: {source}")]
pub struct GeoIpOpenError {
    /// The database file.
    pub path: PathBuf,
    /// The reader's error.
    #[source]
    pub source: maxminddb::MaxMindDbError,
}

/// The City and ASN readers the normalizer is handed (either may be absent). A reader is
/// shared, so that replacing one database keeps the other open as it is.
#[derive(Default)]
pub struct GeoIp {
    city: Option<Arc<Reader<Vec<u8>>>>,
    asn: Option<Arc<Reader<Vec<u8>>>>,
}

impl std::fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoIp")
            .field(
                "city",
                &self.city.as_ref().map(|r| &r.metadata().database_type),
            )
            .field(
                "asn",
                &self.asn.as_ref().map(|r| &r.metadata().database_type),
            )
            .finish()
    }
}

fn open(path: &Path) -> Result<Arc<Reader<Vec<u8>>>, GeoIpOpenError> {
    Reader::open_readfile(path)
        .map(Arc::new)
        .map_err(|source| GeoIpOpenError {
            path: path.to_owned(),
            source,
        })
}

#[derive(Deserialize)]
struct Names<'a> {
    #[serde(borrow)]
    en: Option<&'a str>,
}

#[derive(Deserialize)]
struct Named<'a> {
    #[serde(borrow)]
    names: Option<Names<'a>>,
}

#[derive(Deserialize)]
struct Country<'a> {
    iso_code: Option<&'a str>,
    #[serde(borrow)]
    names: Option<Names<'a>>,
}

#[derive(Deserialize)]
struct Location {
    latitude: Option<f64>,
    longitude: Option<f64>,
}

#[derive(Deserialize)]
struct CityRecord<'a> {
    #[serde(borrow)]
    city: Option<Named<'a>>,
    #[serde(borrow)]
    continent: Option<Named<'a>>,
    #[serde(borrow)]
    country: Option<Country<'a>>,
    location: Option<Location>,
    #[serde(borrow)]
    subdivisions: Option<Vec<Country<'a>>>,
}

#[derive(Deserialize)]
struct AsnRecord<'a> {
    autonomous_system_number: Option<u32>,
    autonomous_system_organization: Option<&'a str>,
}

fn english<'a>(names: &Option<Names<'a>>) -> Option<&'a str> {
    names.as_ref().and_then(|n| n.en)
}

impl GeoIp {
    /// Opens whichever databases are given. An unreadable file is an error, never ignored.
    pub fn open(city: Option<&Path>, asn: Option<&Path>) -> Result<GeoIp, GeoIpOpenError> {
        Ok(GeoIp {
            city: city.map(open).transpose()?,
            asn: asn.map(open).transpose()?,
        })
    }

    /// These databases with the City and/or ASN one replaced by the file given; the other
    /// stays the reader already open (shared, not read again).
    pub fn replacing(
        &self,
        city: Option<&Path>,
        asn: Option<&Path>,
    ) -> Result<GeoIp, GeoIpOpenError> {
        Ok(GeoIp {
            city: city.map(open).transpose()?.or_else(|| self.city.clone()),
            asn: asn.map(open).transpose()?.or_else(|| self.asn.clone()),
        })
    }

    /// True when at least one database is loaded.
    pub fn is_enabled(&self) -> bool {
        self.city.is_some() || self.asn.is_some()
    }

    /// The `source.geo` object for `ip`, if the City database knows it.
    pub fn geo(&self, ip: IpAddr) -> Result<Option<Map<String, Value>>, maxminddb::MaxMindDbError> {
        let Some(reader) = &self.city else {
            return Ok(None);
        };
        let Some(record) = reader.lookup(ip)?.decode::<CityRecord>()? else {
            return Ok(None);
        };
        // BTreeMap keeps the output stable whatever order the fields are found in.
        let mut geo: BTreeMap<&str, Value> = BTreeMap::new();
        let mut put = |key: &'static str, value: Option<&str>| {
            if let Some(value) = value {
                geo.insert(key, Value::String(value.to_owned()));
            }
        };
        put(
            "city_name",
            record.city.as_ref().and_then(|c| english(&c.names)),
        );
        put(
            "continent_name",
            record.continent.as_ref().and_then(|c| english(&c.names)),
        );
        let country_iso = record.country.as_ref().and_then(|c| c.iso_code);
        put("country_iso_code", country_iso);
        put(
            "country_name",
            record.country.as_ref().and_then(|c| english(&c.names)),
        );
        if let Some(region) = record.subdivisions.as_ref().and_then(|s| s.first()) {
            if let (Some(country), Some(region_iso)) = (country_iso, region.iso_code) {
                put("region_iso_code", Some(&format!("{country}-{region_iso}")));
            }
            put("region_name", english(&region.names));
        }
        if let Some(Location {
            latitude: Some(lat),
            longitude: Some(lon),
        }) = record.location
        {
            let mut location = Map::new();
            location.insert("lat".into(), Value::from(lat));
            location.insert("lon".into(), Value::from(lon));
            geo.insert("location", Value::Object(location));
        }
        if geo.is_empty() {
            return Ok(None);
        }
        Ok(Some(
            geo.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        ))
    }

    /// The `source.as` object for `ip`, if the ASN database knows it.
    pub fn asn(&self, ip: IpAddr) -> Result<Option<Map<String, Value>>, maxminddb::MaxMindDbError> {
        let Some(reader) = &self.asn else {
            return Ok(None);
        };
        let Some(record) = reader.lookup(ip)?.decode::<AsnRecord>()? else {
            return Ok(None);
        };
        let mut as_fields = Map::new();
        if let Some(number) = record.autonomous_system_number {
            as_fields.insert("number".into(), Value::from(number));
        }
        if let Some(name) = record.autonomous_system_organization {
            let mut organization = Map::new();
            organization.insert("name".into(), Value::String(name.to_owned()));
            as_fields.insert("organization".into(), Value::Object(organization));
        }
        Ok((!as_fields.is_empty()).then_some(as_fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn test_dbs() -> GeoIp {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/geoip");
        GeoIp::open(
            Some(&dir.join("GeoLite2-City-Test.mmdb")),
            Some(&dir.join("GeoLite2-ASN-Test.mmdb")),
        )
        .expect("test databases open")
    }

    #[test]
    fn finds_documentation_networks() {
        let geoip = test_dbs();
        let ip: IpAddr = "198.51.100.10".parse().unwrap();
        assert_eq!(
            Value::Object(geoip.geo(ip).unwrap().unwrap()),
            json!({"city_name": "Amsterdam", "continent_name": "Europe", "country_iso_code": "NL",
                   "country_name": "Netherlands", "location": {"lat": 52.37404, "lon": 4.88969},
                   "region_iso_code": "NL-NH", "region_name": "North Holland"})
        );
        assert_eq!(
            Value::Object(geoip.asn(ip).unwrap().unwrap()),
            json!({"number": 64501, "organization": {"name": "Documentation ASN"}})
        );
    }

    #[test]
    fn unknown_address_is_not_enriched() {
        let geoip = test_dbs();
        let ip: IpAddr = "8.8.8.8".parse().unwrap();
        assert!(geoip.geo(ip).unwrap().is_none());
        assert!(geoip.asn(ip).unwrap().is_none());
    }

    #[test]
    fn unreadable_database_is_an_error() {
        let err = GeoIp::open(Some(Path::new("/nonexistent/city.mmdb")), None).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/city.mmdb"));
    }
}
