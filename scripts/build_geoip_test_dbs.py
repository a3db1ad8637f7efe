"""Write GeoLite2-City-Test.mmdb and GeoLite2-ASN-Test.mmdb, then read them back.

With `--sized-city PATH MB`, a City database of about MB megabytes instead (for the
memory benchmark in BENCHMARKS.md).

Test databases holding only the three RFC 5737 documentation networks, used by
the normalizer's golden tests (values match the source.geo / source.as fields of
shared/fixtures/elastic-cursor-pipeline/*-expected.json). Records follow the
GeoLite2 layout so standard readers (e.g. Rust maxminddb's geoip2::City and
geoip2::Asn) decode them. Run via scripts/build-geoip-test-dbs.sh.
"""

import sys
from pathlib import Path

import maxminddb
from mmdb_writer import MMDBWriter, MmdbF64, MmdbU32
from netaddr import IPNetwork, IPSet

# Fixed build_epoch (2025-01-01T00:00:00Z) instead of "now": byte-identical output.
BUILD_EPOCH = 1735689600

# network: (city, continent code, continent, country iso, country, subdivision iso,
#           subdivision, latitude, longitude, ASN)
NETWORKS = {
    "192.0.2.0/24": ("Las Vegas", "NA", "North America", "US", "United States",
                     "NV", "Nevada", 36.17497, -115.13722, 64500),
    "198.51.100.0/24": ("Amsterdam", "EU", "Europe", "NL", "Netherlands",
                        "NH", "North Holland", 52.37404, 4.88969, 64501),
    "203.0.113.0/24": ("Madrid", "EU", "Europe", "ES", "Spain",
                       "M", "Madrid", 40.41639, -3.7025, 64502),
}


class Writer(MMDBWriter):
    def __init__(self, database_type):
        # ip_version 6 with IPv4 stored at ::a.b.c.d (::/96), where readers look
        # IPv4 addresses up in an IPv6 tree.
        super().__init__(ip_version=6, ipv4_compatible=True, languages=["en"],
                         database_type=database_type,
                         description=f"{database_type} test data: RFC 5737 networks only")

    def insert(self, cidr, record):
        net = IPNetwork(cidr)
        # Like real GeoLite2 databases, also answer for the IPv4-mapped form
        # (::ffff:a.b.c.d).
        self.insert_network(IPSet([net, net.ipv6(ipv4_compatible=False)]), record)

    def _build_meta(self):
        return {**super()._build_meta(), "build_epoch": BUILD_EPOCH}


def city_record(city, cont_code, cont, country_iso, country, sub_iso, sub, lat, lon, _asn):
    return {
        "city": {"names": {"en": city}},
        "continent": {"code": cont_code, "names": {"en": cont}},
        "country": {"iso_code": country_iso, "names": {"en": country}},
        "location": {"latitude": MmdbF64(lat), "longitude": MmdbF64(lon)},
        "subdivisions": [{"iso_code": sub_iso, "names": {"en": sub}}],
    }


def asn_record(*values):
    return {"autonomous_system_number": MmdbU32(values[-1]),
            "autonomous_system_organization": "Documentation ASN"}


def sized_city(path, megabytes):
    """A City database of about `megabytes` MB (the size of a real GeoLite2-City): the test
    networks plus one padding record on 233.252.0.0/24 (MCAST-TEST-NET), so that memory
    can be measured with a database as large as the real one."""
    writer = Writer("GeoLite2-City")
    for cidr, values in NETWORKS.items():
        writer.insert(cidr, city_record(*values))
    # One string holds at most 16 MB: the padding is spread over several.
    chunk = 8 * 1024 * 1024
    padding = {f"padding{i}": str(i) * chunk for i in range(max(1, megabytes * 1024 * 1024 // chunk))}
    writer.insert("233.252.0.0/24", padding)
    writer.to_db_file(str(path))
    with maxminddb.open_database(str(path)) as db:
        assert db.get("192.0.2.15")["city"]["names"]["en"] == "Las Vegas"
    print(f"{path}: {path.stat().st_size} bytes")


def main(out_dir):
    out_dir.mkdir(parents=True, exist_ok=True)
    city_path = out_dir / "GeoLite2-City-Test.mmdb"
    asn_path = out_dir / "GeoLite2-ASN-Test.mmdb"
    for path, db_type, make in ((city_path, "GeoLite2-City", city_record),
                                (asn_path, "GeoLite2-ASN", asn_record)):
        writer = Writer(db_type)
        for cidr, values in NETWORKS.items():
            writer.insert(cidr, make(*values))
        writer.to_db_file(str(path))

    # Read back: one address per network, its IPv4-mapped form, and one outside.
    with maxminddb.open_database(str(city_path)) as city_db, \
            maxminddb.open_database(str(asn_path)) as asn_db:
        for ip in ("192.0.2.15", "198.51.100.10", "203.0.113.40", "::ffff:203.0.113.40", "8.8.8.8"):
            city, asn = city_db.get(ip), asn_db.get(ip)
            print(f"{ip}: city={city} asn={asn}")
            assert (city is None) == (asn is None) == (ip == "8.8.8.8"), ip
        assert city_db.get("198.51.100.10")["location"] == {"latitude": 52.37404, "longitude": 4.88969}


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--sized-city":
        sized_city(Path(sys.argv[2]), int(sys.argv[3]))
    else:
        main(Path(sys.argv[1]))
