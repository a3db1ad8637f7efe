#!/usr/bin/env python3
"""Checks, against a running node, the OpenSearch APIs that cursor-audit-forwarder uses.

Usage: python3 tests/opensearch-node/verify.py [URL]   (default: OPENSEARCH_URL from target/services.env)

Standard library only. Prints one line per check (OK / FAIL / INFO with the status and the part of the answer
that matters) and exits 1 when a check that the README lists under "What works" fails. It creates and deletes
the template `verify-os-node` and data streams `logs-cursor.audit-verify*`; nothing else is touched.
"""
import gzip
import json
import os
import sys
import urllib.error
import urllib.request

FAILED = []


def base_url():
    if len(sys.argv) > 1:
        return sys.argv[1].rstrip("/")
    env = os.path.join(os.path.dirname(__file__), "..", "..", "target", "services.env")
    with open(env) as f:
        for line in f:
            if line.startswith("OPENSEARCH_URL="):
                return line.split("=", 1)[1].strip()
    sys.exit("no URL given and no OPENSEARCH_URL in target/services.env")


URL = base_url()


def call(method, path, body=None, headers=None, raw=False):
    """(status, headers, parsed JSON or text) for one request."""
    data = None
    hdrs = dict(headers or {})
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(URL + path, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, rh, payload = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, rh, payload = e.code, e.headers, e.read()
    if rh.get("Content-Encoding") == "gzip":
        payload = gzip.decompress(payload)
    if raw:
        return status, rh, payload
    try:
        return status, rh, json.loads(payload) if payload else None
    except ValueError:
        return status, rh, payload.decode("utf-8", "replace")


def check(name, ok, detail=""):
    print(f"{'OK  ' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}")
    if not ok:
        FAILED.append(name)


def info(name, detail):
    print(f"INFO {name}: {detail}")


def ndjson(lines):
    return ("\n".join(json.dumps(x) for x in lines) + "\n").encode()


def item_errors(body):
    return [(next(iter(i.values())).get("status"), (next(iter(i.values())).get("error") or {}).get("type"))
            for i in body["items"]]


TEMPLATE = "verify-os-node"
COMPONENT = "verify-os-node@mappings"
DS = "logs-cursor.audit-verify"
DS2 = "logs-cursor.audit-verify2"
FILTER = "?filter_path=errors,items.*.status,items.*.error"

MAPPINGS = {
    "dynamic": True,
    "properties": {
        "@timestamp": {"type": "date"},
        "message": {"type": "text"},
        "event": {"properties": {"id": {"type": "keyword", "ignore_above": 1024},
                                 "original": {"type": "keyword", "index": False, "doc_values": False}}},
        "source": {"properties": {"ip": {"type": "ip"},
                                  "geo": {"properties": {"location": {"type": "geo_point"}}},
                                  "as": {"properties": {"organization": {"properties": {
                                      "name": {"type": "keyword", "fields": {"text": {"type": "text"}}}}}}}}},
        "url": {"properties": {"port": {"type": "long"}}},
        "cursor": {"properties": {"audit": {"properties": {
            "event_data": {"type": "flat_object"},
            "script_content": {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 1024}}},
            "is_enabled": {"type": "boolean"},
        }}}},
    },
}


def doc(i, **extra):
    d = {"@timestamp": "2026-01-02T03:04:05.678Z", "message": f"event {i}", "event": {"id": f"id-{i}"},
         "source": {"ip": "192.0.2.7", "geo": {"location": {"lat": 52.5, "lon": 13.4}}},
         "url": {"port": 443},
         "cursor": {"audit": {"event_data": {"a": {"b": "c"}, "n": 1}, "is_enabled": True}}}
    d.update(extra)
    return d


def cleanup():
    call("DELETE", f"/_data_stream/{DS},{DS2}")
    call("DELETE", f"/_index_template/{TEMPLATE}")
    call("DELETE", f"/_component_template/{COMPONENT}")
    call("DELETE", "/_ingest/pipeline/verify-empty")


def main():
    cleanup()

    # ---- root
    s, _, b = call("GET", "/")
    v = b.get("version", {}) if isinstance(b, dict) else {}
    check("GET /", s == 200 and v.get("distribution") == "opensearch",
          f"{s} version.number={v.get('number')} version.distribution={v.get('distribution')}")
    info("GET / body", json.dumps(b))
    s, _, _ = call("HEAD", "/")
    check("HEAD /", s == 200, str(s))

    # ---- templates
    s, _, b = call("PUT", f"/_component_template/{COMPONENT}",
                   {"template": {"mappings": MAPPINGS}, "_meta": {"managed_by": "verify"}})
    check("PUT _component_template (flat_object, keyword, ip, geo_point, date, text, long)", s == 200, f"{s} {b}")
    s, _, b = call("PUT", f"/_index_template/{TEMPLATE}",
                   {"index_patterns": ["logs-cursor.audit-verify*"], "data_stream": {}, "priority": 250,
                    "composed_of": [COMPONENT], "_meta": {"managed_by": "verify"},
                    "template": {"settings": {"number_of_replicas": 0}}})
    check("PUT _index_template (data_stream, priority, composed_of)", s == 200, f"{s} {b}")
    s, _, b = call("GET", f"/_index_template/{TEMPLATE}")
    ok = s == 200 and b["index_templates"][0]["index_template"].get("data_stream") is not None
    check("GET _index_template/NAME", ok, f"{s} {json.dumps(b['index_templates'][0]['index_template']) if ok else b}")
    s, _, b = call("GET", "/_index_template/does-not-exist")
    check("GET _index_template/missing is 404", s == 404, f"{s} {b}")

    # a template with the mapping inline (no component template)
    s, _, b = call("PUT", f"/_index_template/{TEMPLATE}-inline",
                   {"index_patterns": ["verify-inline-*"], "data_stream": {}, "priority": 250,
                    "template": {"mappings": MAPPINGS}})
    check("PUT _index_template with inline mappings", s == 200, f"{s} {b}")
    s, _, b = call("DELETE", f"/_index_template/{TEMPLATE}-inline")
    check("DELETE _index_template/NAME", s == 200, f"{s} {b}")

    # ---- simulate before the data stream exists
    s, _, b = call("POST", f"/_index_template/_simulate_index/{DS}")
    settings = (b or {}).get("template", {}).get("settings") if isinstance(b, dict) else None
    check("POST _index_template/_simulate_index/NAME", s == 200 and settings is not None,
          f"{s} template.settings={json.dumps(settings)}")

    # ---- bulk create, auto-creating the data stream (gzip body)
    lines = []
    for i in range(3):
        lines += [{"create": {"_id": f"id-{i}"}}, doc(i)]
    gz = gzip.compress(ndjson(lines))
    s, h, b = call("POST", f"/{DS}/_bulk{FILTER}", gz,
                   {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip", "Accept-Encoding": "gzip"})
    check("_bulk create, gzip request body, auto-creates data stream", s == 200 and b.get("errors") is False,
          f"{s} {json.dumps(b)} (response Content-Encoding={h.get('Content-Encoding')})")

    # same with explicit _index in the action line, to the root _bulk endpoint
    s, _, b = call("POST", f"/_bulk{FILTER}",
                   ndjson([{"create": {"_index": DS2, "_id": "x"}}, doc(9)]),
                   {"Content-Type": "application/x-ndjson"})
    check("_bulk create with _index in the action (root endpoint, plain body)", s == 200 and b.get("errors") is False,
          f"{s} {json.dumps(b)}")

    # duplicate _id -> 409 per item; mapping conflicts -> 400 per item
    lines = [{"create": {"_id": "id-0"}}, doc(0),
             {"create": {"_id": "bad-long"}}, doc(10, url={"port": "not-a-number"}),
             {"create": {"_id": "bad-keyword"}}, doc(11, event={"id": {"an": "object"}}),
             {"create": {"_id": "bad-ip"}}, doc(12, source={"ip": "not-an-ip"}),
             {"create": {"_id": "no-ts"}}, {"message": "no timestamp"},
             {"create": {"_id": "ok-3"}}, doc(3)]
    s, _, b = call("POST", f"/{DS}/_bulk{FILTER}", gzip.compress(ndjson(lines)),
                   {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"})
    errs = item_errors(b) if s == 200 else []
    check("_bulk per-item 409 for a duplicate _id", errs[:1] == [(409, "version_conflict_engine_exception")],
          json.dumps(errs[:1]))
    check("_bulk per-item 400 for a string into a long", errs[1:2] == [(400, "mapper_parsing_exception")],
          json.dumps(errs[1:2]))
    check("_bulk per-item 400 for an object into a keyword", errs[2:3] == [(400, "mapper_parsing_exception")],
          json.dumps(errs[2:3]))
    check("_bulk per-item 400 for a bad ip", errs[3:4] == [(400, "mapper_parsing_exception")], json.dumps(errs[3:4]))
    info("_bulk item without @timestamp", json.dumps(errs[4:5]))
    check("_bulk other items still succeed", errs[5:6] == [(201, None)], json.dumps(errs[5:6]))
    info("_bulk mixed answer (filter_path)", json.dumps(b))

    # pipeline=_none (the client sends it to skip index.default_pipeline)
    s, _, b = call("POST", f"/{DS}/_bulk{FILTER}&pipeline=_none",
                   ndjson([{"create": {"_id": "p-none"}}, doc(20)]), {"Content-Type": "application/x-ndjson"})
    check("_bulk ?pipeline=_none", s == 200 and b.get("errors") is False, f"{s} {json.dumps(b)}")

    # ---- data stream API
    s, _, b = call("GET", f"/_data_stream/{DS}")
    check("GET _data_stream/NAME", s == 200 and b["data_streams"][0]["name"] == DS, f"{s} {json.dumps(b)}")
    s, _, b = call("GET", "/_data_stream/does-not-exist")
    check("GET _data_stream/missing is 404", s == 404, f"{s} {json.dumps(b)}")
    s, _, b = call("POST", f"/{DS}/_refresh")
    check("POST NAME/_refresh", s == 200, f"{s} {json.dumps(b)}")
    s, _, b = call("GET", f"/{DS}/_count")
    check("GET NAME/_count", s == 200 and b["count"] == 5, f"{s} count={b.get('count')}")
    s, _, b = call("GET", f"/{DS}/_search",
                   {"query": {"term": {"cursor.audit.event_data.a.b": "c"}}, "size": 1})
    check("GET NAME/_search (term on a flat_object sub-field)", s == 200 and b["hits"]["total"]["value"] == 5,
          f"{s} total={b.get('hits', {}).get('total')}")
    hit = b["hits"]["hits"][0] if s == 200 and b["hits"]["hits"] else {}
    info("search hit _index/_id", f"{hit.get('_index')} {hit.get('_id')}")
    s, _, b = call("GET", f"/{DS}/_search?q=_id:id-1")
    check("GET NAME/_search?q=_id:...", s == 200 and b["hits"]["total"]["value"] == 1, f"{s}")
    s, _, b = call("GET", f"/{DS}/_search",
                   {"query": {"geo_distance": {"distance": "10km",
                                               "source.geo.location": {"lat": 52.5, "lon": 13.4}}}})
    check("geo_distance query on geo_point", s == 200 and b["hits"]["total"]["value"] == 5, f"{s}")
    s, _, b = call("GET", f"/{DS}/_search", {"query": {"term": {"source.ip": "192.0.2.0/24"}}})
    check("CIDR term query on ip", s == 200 and b["hits"]["total"]["value"] == 5, f"{s}")
    s, _, b = call("GET", f"/{DS}/_mapping")
    if s == 200:
        idx = next(iter(b.values()))
        ed = idx["mappings"]["properties"]["cursor"]["properties"]["audit"]["properties"]["event_data"]
        check("mapping of the backing index has flat_object", ed.get("type") == "flat_object", json.dumps(ed))
        info("backing index name", next(iter(b.keys())))
    else:
        check("GET NAME/_mapping", False, f"{s} {b}")

    # ---- settings / simulate on the existing data stream
    s, _, b = call("GET", f"/{DS}/_settings/index.default_pipeline,index.final_pipeline?flat_settings=true")
    check("GET {ds}/_settings/index.default_pipeline,index.final_pipeline?flat_settings=true", s == 200,
          f"{s} {json.dumps(b)}")
    s, _, b = call("POST", f"/_index_template/_simulate_index/{DS}")
    info("POST _index_template/_simulate_index/{existing ds}", f"{s} {json.dumps(b)[:600]}")

    # ---- ingest
    s, _, b = call("PUT", "/_ingest/pipeline/verify-empty", {"description": "empty", "processors": []})
    check("PUT _ingest/pipeline with processors: []", s == 200, f"{s} {json.dumps(b)}")
    if s == 200:
        s, _, b = call("POST", f"/{DS}/_bulk{FILTER}&pipeline=verify-empty",
                       ndjson([{"create": {"_id": "p-empty"}}, doc(21)]), {"Content-Type": "application/x-ndjson"})
        check("_bulk ?pipeline=<empty pipeline>", s == 200 and b.get("errors") is False, f"{s} {json.dumps(b)}")
    s, _, b = call("PUT", "/_ingest/pipeline/verify-set",
                   {"processors": [{"set": {"field": "x", "value": "y"}}]})
    info("PUT _ingest/pipeline with a set processor", f"{s} {json.dumps(b)[:300]}")
    s, _, b = call("POST", f"/{DS}/_bulk{FILTER}&pipeline=does-not-exist",
                   ndjson([{"create": {"_id": "p-missing"}}, doc(22)]), {"Content-Type": "application/x-ndjson"})
    info("_bulk ?pipeline=<missing pipeline>", f"{s} {json.dumps(b)[:400]}")
    s, _, b = call("GET", "/_ingest/pipeline/verify-empty")
    check("GET _ingest/pipeline/NAME", s == 200, f"{s} {json.dumps(b)}")

    # ---- response compression
    s, h, raw = call("GET", f"/{DS}/_search?size=5", headers={"Accept-Encoding": "gzip"}, raw=True)
    check("gzip response on Accept-Encoding: gzip", s == 200 and h.get("Content-Encoding") == "gzip",
          f"{s} Content-Encoding={h.get('Content-Encoding')}")

    # ---- deletes
    s, _, b = call("DELETE", f"/_data_stream/{DS}")
    check("DELETE _data_stream/NAME", s == 200, f"{s} {json.dumps(b)}")
    s, _, b = call("DELETE", f"/_data_stream/{DS}")
    info("DELETE _data_stream/NAME again (missing)", f"{s} {json.dumps(b)[:300]}")
    # recreate two streams, then delete them with a wildcard
    for ds in (DS, DS2):
        call("POST", f"/{ds}/_bulk", ndjson([{"create": {}}, doc(30)]), {"Content-Type": "application/x-ndjson"})
    # (the tests use DELETE _data_stream/logs-cursor.audit-*; this one stays within our own names)
    s, _, b = call("DELETE", "/_data_stream/logs-cursor.audit-verify*")
    s2, _, b2 = call("GET", "/_data_stream/logs-cursor.audit-verify*")
    check("DELETE _data_stream/logs-cursor.audit-verify* (wildcard)",
          s == 200 and s2 == 200 and b2["data_streams"] == [], f"{s} {json.dumps(b)}; then GET: {s2} {json.dumps(b2)}")
    s, _, b = call("DELETE", "/_data_stream/logs-cursor.audit-verify*")
    info("wildcard DELETE matching nothing", f"{s} {json.dumps(b)[:300]}")
    s, _, b = call("DELETE", f"/_index_template/{TEMPLATE}")
    check("DELETE _index_template/NAME (ours)", s == 200, f"{s} {json.dumps(b)}")

    cleanup()
    print(f"\n{len(FAILED)} failed" + (": " + ", ".join(FAILED) if FAILED else ""))
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    main()
