#!/usr/bin/env python3
"""Run every detection of rules/ against its example events on the real engines.

    target/venv/bin/python tests/rules/test_rules.py

For each rules/examples/<detection>.yml: the raw Cursor events go through our normalizer
(`cursor-audit-forwarder normalize`, with the test GeoIP/ASN databases), are indexed into a fresh
data stream logs-cursor.audit-sigmatest_<n> (templates from `cursor-audit-forwarder setup`) on the
Elasticsearch node (ES_URL) and on the OpenSearch node (OPENSEARCH_URL), and the converted query
from rules/dist/ (lucene/ on Elasticsearch, opensearch/lucene/ on OpenSearch) runs as query_string:

- it must match exactly the `fire` and `base_only` events, and none of the `quiet` ones;
- the detection must alert on exactly the `fire` events: a plain query alerts on every match; a
  threshold (Sigma event_count) runs as the base query in the window before `run_at` plus a terms
  aggregation with min_doc_count; a new-terms rule as the base query over the history window plus
  nested terms aggregations with the first time each pair was seen (min), kept when that is in the
  rule's window; a sequence (Sigma temporal_ordered) as the step queries plus a terms aggregation
  with each step's first/last time (filter + min/max), kept when the steps are in order within the
  span. The test nodes have no scripting (no painless, no bucket_selector), so those two time
  comparisons are made on the aggregation results, not by the engine.

On OpenSearch, each monitor of rules/dist/opensearch/monitors/ also has its search input run (the
Alerting plugin is not on the test node): a burst's composite buckets at `run_at` must be the
groups that fire; a query monitor must find events it fires on and nothing else.

Environment: CURSOR_AUDIT_FORWARDER_BIN (default target/release/cursor-audit-forwarder), ES_URL,
OPENSEARCH_URL (default: from target/services.env). An engine that does not answer is skipped
loudly; under CI=true that is a failure. Ends with `rules: N passed, M failed`.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rules"
GEOIP = ROOT / "tests" / "fixtures" / "geoip"
BIN = os.environ.get("CURSOR_AUDIT_FORWARDER_BIN", str(ROOT / "target" / "release" / "cursor-audit-forwarder"))
QUERY_LOOKBACK = timedelta(minutes=6)  # Kibana's default `from` (interval 5m + 1m)


# ------------------------------------------------------------------------------------ helpers


def services_env() -> dict[str, str]:
    env = {}
    path = ROOT / "target" / "services.env"
    if path.exists():
        for line in path.read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                k, v = line.split("=", 1)
                env[k] = v
    return env


def http(method: str, url: str, body=None, ndjson: bool = False):
    data = None
    headers = {}
    if body is not None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        headers["Content-Type"] = "application/x-ndjson" if ndjson else "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def reachable(url: str) -> bool:
    try:
        status, _ = http("GET", url + "/_cluster/health")
        return status == 200
    except Exception:  # noqa: BLE001 - any failure means "not reachable"
        return False


def parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def fmt_ts(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def millis(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


def duration_seconds(text: str) -> int:
    return int(text[:-1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[text[-1]]


def expand(entries) -> list[dict]:
    """Example entries → raw events; `repeat` makes copies with later times and suffixed ids."""
    out = []
    for entry in entries or []:
        if "repeat" not in entry:
            out.append(entry)
            continue
        for k in range(entry["repeat"]):
            event = copy.deepcopy(entry["event"])
            holder = event["metadata"] if "metadata" in event else event
            id_key, ts_key = ("id", "timestamp") if "metadata" in event else ("event_id", "timestamp")
            holder[id_key] = f"{holder[id_key]}-{k + 1}"
            holder[ts_key] = fmt_ts(parse_ts(holder[ts_key]) + timedelta(seconds=k * entry["every_seconds"]))
            out.append(event)
    return out


def event_id(raw: dict) -> str:
    return raw["metadata"]["id"] if "metadata" in raw else raw["event_id"]


def normalize(raws: list[dict]) -> list[dict]:
    lines = "".join(json.dumps(r) + "\n" for r in raws)
    proc = subprocess.run(
        [BIN, "normalize", "--geoip-city", str(GEOIP / "GeoLite2-City-Test.mmdb"),
         "--geoip-asn", str(GEOIP / "GeoLite2-ASN-Test.mmdb")],
        input=lines.encode(), capture_output=True, check=True,
    )
    docs = [json.loads(line) for line in proc.stdout.decode().splitlines() if line.strip()]
    if len(docs) != len(raws):
        raise RuntimeError(f"normalize gave {len(docs)} documents for {len(raws)} events")
    return docs


def get(doc: dict, dotted: str):
    for part in dotted.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return None
        doc = doc[part]
    return doc


# ------------------------------------------------------------------------------------ detections


def load_detection(stem: str) -> dict:
    docs = list(yaml.safe_load_all((RULES / "sigma" / f"{stem}.yml").read_text()))
    corr = next((d for d in docs if "correlation" in d), None)
    det = {"stem": stem, "kind": "query"}
    if docs[0].get("new_terms"):
        det.update(kind="new_terms", fields=docs[0]["new_terms"]["fields"],
                   history=duration_seconds(docs[0]["new_terms"]["history_window"]))
    elif corr is not None:
        c = corr["correlation"]
        det.update(group_by=c["group-by"], timespan=duration_seconds(c["timespan"]))
        if c["type"] == "event_count":
            det.update(kind="threshold", count=c["condition"]["gte"])
        elif c["type"] == "temporal_ordered":
            det.update(kind="sequence")
        else:
            raise RuntimeError(f"{stem}: correlation type {c['type']} not tested here")
    return det


def search(url: str, index: str, body: dict) -> dict:
    status, res = http("POST", f"{url}/{index}/_search", body)
    if status != 200:
        raise RuntimeError(f"search failed ({status}): {json.dumps(res)[:600]}")
    return res


def qs(query: str) -> dict:
    return {"query_string": {"query": query, "analyze_wildcard": True}}


def ids_of(res: dict) -> set[str]:
    return {h["_source"]["event"]["id"] for h in res["hits"]["hits"]}


def alerted(det: dict, url: str, index: str, queries: list[str], example: dict, by_id: dict) -> set[str]:
    """The event ids the detection alerts on, computed by the engine."""
    base = qs(" OR ".join(f"({q})" for q in queries)) if len(queries) > 1 else qs(queries[0])
    kind = det["kind"]
    if kind == "query":
        return ids_of(search(url, index, {"size": 1000, "query": base, "_source": ["event.id"]}))
    if kind == "threshold":
        run_at = parse_ts(example["run_at"])
        window = {"range": {"@timestamp": {"gte": fmt_ts(run_at - timedelta(seconds=det["timespan"])),
                                           "lte": fmt_ts(run_at)}}}
        (field,) = det["group_by"]
        res = search(url, index, {
            "size": 1000, "_source": ["event.id", field],
            "query": {"bool": {"filter": [base, window]}},
            "aggs": {"groups": {"terms": {"field": field, "size": 1000, "min_doc_count": det["count"]}}},
        })
        fired = {b["key"] for b in res["aggregations"]["groups"]["buckets"]}
        return {h["_source"]["event"]["id"] for h in res["hits"]["hits"] if get(h["_source"], field) in fired}
    if kind == "new_terms":
        run_at = parse_ts(example["run_at"])
        start = run_at - QUERY_LOOKBACK
        first, second = det["fields"]
        res = search(url, index, {
            "size": 0,
            "query": {"bool": {"filter": [base, {"range": {"@timestamp": {
                "gte": fmt_ts(start - timedelta(seconds=det["history"])), "lte": fmt_ts(run_at)}}}]}},
            "aggs": {"a": {"terms": {"field": first, "size": 1000}, "aggs": {
                "b": {"terms": {"field": second, "size": 1000}, "aggs": {
                    "first_seen": {"min": {"field": "@timestamp"}}}}}}},
        })
        # A pair is new when it was first seen inside the rule's window. (The engines here have no
        # scripting, so no bucket_selector: the comparison of the aggregated times is done here.)
        pairs = {(a["key"], b["key"]) for a in res["aggregations"]["a"]["buckets"] for b in a["b"]["buckets"]
                 if b["first_seen"]["value"] >= millis(start)}
        hits = search(url, index, {"size": 1000, "_source": ["event.id", first, second], "query": {"bool": {
            "filter": [base, {"range": {"@timestamp": {"gte": fmt_ts(start), "lte": fmt_ts(run_at)}}}]}}})
        return {h["_source"]["event"]["id"] for h in hits["hits"]["hits"]
                if (get(h["_source"], first), get(h["_source"], second)) in pairs}
    if kind == "sequence":
        (field,) = det["group_by"]
        first_q, last_q = queries[0], queries[-1]
        if len(queries) != 2:
            raise RuntimeError("sequences of two steps only")
        res = search(url, index, {
            "size": 1000, "_source": ["event.id", field], "query": base,
            "aggs": {"groups": {"terms": {"field": field, "size": 1000}, "aggs": {
                "step1": {"filter": qs(first_q), "aggs": {"t": {"min": {"field": "@timestamp"}}}},
                "step2": {"filter": qs(last_q), "aggs": {"t": {"max": {"field": "@timestamp"}}}}}}},
        })
        # Complete when the last step's latest time follows the first step's earliest time within
        # the span (compared here: the engines here have no scripting for a bucket_selector).
        fired = set()
        for b in res["aggregations"]["groups"]["buckets"]:
            a, z = b["step1"]["t"]["value"], b["step2"]["t"]["value"]
            if a is not None and z is not None and a < z <= a + det["timespan"] * 1000:
                fired.add(b["key"])
        return {h["_source"]["event"]["id"] for h in res["hits"]["hits"] if get(h["_source"], field) in fired}
    raise RuntimeError(kind)


def check_monitor(det: dict, url: str, index: str, example: dict, docs: list[dict], want: dict) -> list[str]:
    """Run the search input of rules/dist/opensearch/monitors/<detection>.json (the Alerting plugin
    is not on the test node): {{period_end}} becomes the run time, the index this test's stream."""
    monitor_text = (RULES / "dist" / "opensearch" / "monitors" / f"{det['stem']}.json").read_text()
    if "run_at" in example:
        period_end = parse_ts(example["run_at"])
    else:  # just after the latest event the detection fires on
        period_end = max(parse_ts(d["@timestamp"]) for d in docs if d["event"]["id"] in want["fire"])
        period_end += timedelta(seconds=1)
    monitor = json.loads(monitor_text.replace("{{period_end}}", str(millis(period_end))))
    body = monitor["inputs"][0]["search"]["query"]
    body["_source"] = ["event.id"]
    res = search(url, index, dict(body, size=1000) if det["kind"] != "threshold" else body)
    if det["kind"] == "threshold":
        trigger = monitor["triggers"][0]["bucket_level_trigger"]["condition"]["script"]["source"]
        if trigger != f"params._count >= {det['count']}":
            return [f"monitor: unexpected trigger {trigger}"]
        fired = {tuple(b["key"].values()) for b in res["aggregations"]["groups"]["buckets"]
                 if b["doc_count"] >= det["count"]}
        (field,) = det["group_by"]
        expected = {(get(d, field),) for d in docs if d["event"]["id"] in want["fire"]}
        return [] if fired == expected else [f"monitor: groups {sorted(fired)}, expected {sorted(expected)}"]
    hits = ids_of(res)
    allowed = want["fire"] if monitor["enabled"] else want["fire"] | want["base_only"]
    if not hits or not hits <= allowed:
        return [f"monitor: hits {sorted(hits)} at {fmt_ts(period_end)}, allowed {sorted(allowed)}"]
    return []


# ------------------------------------------------------------------------------------ main


def setup_engine(name: str, url: str) -> None:
    env = dict(os.environ, ES_URL=url)
    for k in ("ES_API_KEY", "ES_USERNAME", "ES_PASSWORD", "ES_CLOUD_ID", "ES_SECRET_ARN"):
        env.pop(k, None)
    proc = subprocess.run([BIN, "setup"], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{name}: cursor-audit-forwarder setup failed: {proc.stderr[-800:]}")


def index_docs(url: str, stream: str, docs: list[dict]) -> None:
    http("DELETE", f"{url}/_data_stream/{stream}")
    body = "".join(json.dumps({"create": {"_index": stream}}) + "\n" + json.dumps(d) + "\n" for d in docs)
    status, res = http("POST", f"{url}/_bulk?refresh=true", body, ndjson=True)
    if status != 200 or res.get("errors"):
        bad = [i for i in res.get("items", []) if i["create"].get("error")] if isinstance(res, dict) else res
        raise RuntimeError(f"bulk into {stream} failed ({status}): {json.dumps(bad)[:800]}")


def main() -> int:
    ci = os.environ.get("CI", "").lower() == "true"
    senv = services_env()
    engines = []
    for name, key, qdir in (("elasticsearch", "ES_URL", RULES / "dist" / "lucene"),
                            ("opensearch", "OPENSEARCH_URL", RULES / "dist" / "opensearch" / "lucene")):
        url = (os.environ.get(key) or senv.get(key) or "").rstrip("/")
        if url and reachable(url):
            engines.append((name, url, qdir))
        else:
            print(f"!!! SKIPPING {name}: {key} ({url or 'unset'}) does not answer "
                  f"(start it with ENGINE=opensearch scripts/services.sh start)", file=sys.stderr)
    if len(engines) < 2 and ci:
        print("rules: 0 passed, 1 failed (CI=true and an engine is missing)")
        return 1
    if not engines:
        print("rules: 0 passed, 0 failed (SKIPPED: no engine reachable)")
        return 0
    if not Path(BIN).exists():
        print(f"missing binary {BIN} (cargo build --release, or set CURSOR_AUDIT_FORWARDER_BIN)", file=sys.stderr)
        return 1

    stems = sorted(p.stem for p in (RULES / "sigma").glob("*.yml"))
    missing = [s for s in stems if not (RULES / "examples" / f"{s}.yml").exists()]
    for name, url, _ in engines:
        setup_engine(name, url)

    passed = failed = 0
    for n, stem in enumerate(stems):
        if stem in missing:
            print(f"FAIL {stem}: no rules/examples/{stem}.yml")
            failed += 1
            continue
        det = load_detection(stem)
        example = yaml.safe_load((RULES / "examples" / f"{stem}.yml").read_text())
        groups = {g: expand(example.get(g)) for g in ("fire", "base_only", "quiet")}
        if det["kind"] == "query" and groups["base_only"]:
            raise RuntimeError(f"{stem}: base_only makes no sense for a plain query rule")
        raws = [r for g in groups.values() for r in g]
        ids = [event_id(r) for r in raws]
        if len(set(ids)) != len(ids) or not groups["fire"] or not groups["quiet"]:
            print(f"FAIL {stem}: examples need unique event ids, at least one fire and one quiet event")
            failed += 1
            continue
        docs = normalize(raws)
        by_id = {d["event"]["id"]: d for d in docs}
        want = {g: {event_id(r) for r in groups[g]} for g in groups}
        ok = True
        stream = f"logs-cursor.audit-sigmatest_{n:02d}"
        for name, url, qdir in engines:
            queries = [q for q in (qdir / f"{stem}.txt").read_text().splitlines() if q.strip()]
            try:
                index_docs(url, stream, docs)
                base = qs(" OR ".join(f"({q})" for q in queries)) if len(queries) > 1 else qs(queries[0])
                matched = ids_of(search(url, stream, {"size": 1000, "query": base, "_source": ["event.id"]}))
                fires = alerted(det, url, stream, queries, example, by_id)
            except Exception as e:  # noqa: BLE001 - report and count as a failure
                print(f"FAIL {stem} [{name}]: {e}")
                ok = False
                continue
            problems = []
            if name == "opensearch":
                try:
                    problems += check_monitor(det, url, stream, example, docs, want)
                except Exception as e:  # noqa: BLE001
                    problems.append(f"monitor: {e}")
            should_match = want["fire"] | want["base_only"]
            if matched != should_match:
                problems.append(f"base query: missed {sorted(should_match - matched)}, "
                                f"matched quiet {sorted(matched - should_match)}")
            if fires != want["fire"]:
                problems.append(f"alerts: missed {sorted(want['fire'] - fires)}, extra {sorted(fires - want['fire'])}")
            if problems:
                print(f"FAIL {stem} [{name}] ({det['kind']}): " + "; ".join(problems))
                ok = False
            else:
                print(f"ok   {stem} [{name}] ({det['kind']}): {len(want['fire'])} fire, "
                      f"{len(want['base_only'])} base only, {len(want['quiet'])} quiet")
            http("DELETE", f"{url}/_data_stream/{stream}")
        if ok:
            passed += 1
        else:
            failed += 1
    on = ", ".join(name for name, _, _ in engines)
    skipped = "" if len(engines) == 2 else " (one engine SKIPPED)"
    print(f"rules: {passed} passed, {failed} failed on {on}{skipped}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
