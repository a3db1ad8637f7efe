#!/usr/bin/env python3
"""Validate the Sigma rules in rules/sigma/ and convert them into rules/dist/.

    target/venv/bin/python rules/convert.py           validate, then (re)write rules/dist/
    target/venv/bin/python rules/convert.py --check   validate, convert in memory, and fail when
                                                      rules/dist/ differs (stale or edited by hand)

One file in rules/sigma/ is one detection: a Sigma rule, or base rules plus one correlation rule
(event_count: a burst; temporal_ordered: a sequence). A rule may carry the custom attribute
`new_terms: {fields: [...], history_window: 30d}` (no Sigma equivalent): a Kibana new_terms rule.

Outputs:
  dist/lucene/<detection>.txt            Lucene query (Elasticsearch backend) of the detection's base
                                         rule; for a sequence one line per step, in order
  dist/kibana-rules.ndjson               Kibana detection rules, for POST /api/detection_engine/rules/_import
  dist/opensearch/lucene/<detection>.txt Lucene query (OpenSearch backend)
  dist/opensearch/monitors/<detection>.json  OpenSearch Alerting monitor (query-level; bucket-level for
                                         bursts), for POST _plugins/_alerting/monitors
  dist/opensearch/security-analytics/<detection>[.<step>].yml  Sigma base rule, one per file, for
                                         Security Analytics' custom rules
                                         (POST _plugins/_security_analytics/rules?category=cursor)

ATT&CK: pySigma's tag validator and siem_rule_ndjson download enterprise-attack.json from GitHub,
which this network cannot reach. rules/attack.yml holds the part of ATT&CK the rules use; a tiny
STIX bundle is built from it for the validator, and the Kibana NDJSON is built here from it.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
from pathlib import Path

import yaml
from sigma.backends.elasticsearch import LuceneBackend
from sigma.backends.opensearch import OpensearchLuceneBackend
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.data import mitre_attack
from sigma.plugins import InstalledSigmaPlugins
from sigma.rule import SigmaRule
from sigma.validators.base import SigmaValidationIssueSeverity
from sigma.validation import SigmaValidator

HERE = Path(__file__).resolve().parent
SIGMA_DIR = HERE / "sigma"
DIST = HERE / "dist"
INDEX = "logs-cursor.audit-*"
RISK = {"informational": 21, "low": 21, "medium": 47, "high": 73, "critical": 99}
SEVERITY = {"informational": "low", "low": "low", "medium": "medium", "high": "high", "critical": "critical"}
OS_SEVERITY = {"informational": "5", "low": "4", "medium": "3", "high": "2", "critical": "1"}
INTERVAL = "5m"
# Every Kibana rule written must have these (checked on each conversion).
KIBANA_REQUIRED = ("rule_id", "type", "language", "query", "index", "interval", "from", "risk_score",
                   "severity", "name", "description")
# Every validator pySigma ships runs (ATT&CK tags are checked against rules/attack.yml), but:
#   d3_fendtag  loads MITRE D3FEND data from the network on first use; the rules carry no d3fend.*
#               tag, which validate() checks itself instead.
EXCLUDED_VALIDATORS = {"d3_fendtag"}


def load_attack() -> dict:
    return yaml.safe_load((HERE / "attack.yml").read_text())


def install_attack_subset(attack: dict, workdir: Path) -> None:
    """Point pySigma's ATT&CK loader at a STIX bundle built from rules/attack.yml (no download)."""
    objects = [{"type": "x-mitre-collection", "x_mitre_version": attack["version"]}]
    for tid, t in attack["tactics"].items():
        objects.append(
            {
                "type": "x-mitre-tactic",
                "name": t["name"],
                "x_mitre_shortname": t["shortname"],
                "external_references": [{"source_name": "mitre-attack", "external_id": tid}],
            }
        )
    for tid, t in attack["techniques"].items():
        objects.append(
            {
                "type": "attack-pattern",
                "name": t["name"],
                "external_references": [{"source_name": "mitre-attack", "external_id": tid}],
                "kill_chain_phases": [
                    {"kill_chain_name": "mitre-attack", "phase_name": p} for p in t["tactics"]
                ],
            }
        )
    bundle = workdir / "attack-subset.json"
    bundle.write_text(json.dumps({"type": "bundle", "objects": objects}))
    mitre_attack._custom_url = str(bundle)
    mitre_attack._custom_cache_dir = workdir / "cache"
    mitre_attack._cache = None


def threat(tags: list[str], attack: dict) -> list[dict]:
    """Kibana's `threat` field from the Sigma attack.* tags."""
    by_short = {t["shortname"]: (tid, t["name"]) for tid, t in attack["tactics"].items()}
    tactics = [t[len("attack."):] for t in tags if t.startswith("attack.") and t[7:] in by_short]
    techniques = [t[len("attack."):].upper() for t in tags if t.startswith("attack.t")]
    out = []
    for short in tactics:
        tactic_id, tactic_name = by_short[short]
        entry = {
            "framework": "MITRE ATT&CK",
            "tactic": {
                "id": tactic_id,
                "name": tactic_name,
                "reference": f"https://attack.mitre.org/tactics/{tactic_id}/",
            },
            "technique": [],
        }
        parents: dict[str, dict] = {}
        for tech in techniques:
            if short not in attack["techniques"][tech]["tactics"]:
                continue
            parent = tech.split(".")[0]
            if parent not in parents:
                parents[parent] = {
                    "id": parent,
                    "name": attack["techniques"][parent]["name"],
                    "reference": f"https://attack.mitre.org/techniques/{parent}/",
                    "subtechnique": [],
                }
                entry["technique"].append(parents[parent])
            if "." in tech:
                parents[parent]["subtechnique"].append(
                    {
                        "id": tech,
                        "name": attack["techniques"][tech]["name"],
                        "reference": "https://attack.mitre.org/techniques/" + tech.replace(".", "/") + "/",
                    }
                )
        out.append(entry)
    return out


def timespan_str(seconds: int) -> str:
    return f"{seconds // 60}m" if seconds % 3600 else f"{seconds // 3600}h"


def load_detection(path: Path):
    """(base rules in file order, the correlation rule or None, the raw YAML documents)."""
    text = path.read_text()
    collection = SigmaCollection.from_yaml(text)
    collection.resolve_rule_references()
    bases = [r for r in collection.rules if isinstance(r, SigmaRule)]
    corrs = [r for r in collection.rules if isinstance(r, SigmaCorrelationRule)]
    if len(corrs) > 1:
        raise SystemExit(f"{path}: at most one correlation rule per file")
    if not bases:
        raise SystemExit(f"{path}: no base rule")
    return collection, bases, (corrs[0] if corrs else None), list(yaml.safe_load_all(text))


def one_query(backend, rule: SigmaRule) -> str:
    rule = copy.copy(rule)
    rule._output = True
    queries = backend.convert_rule(rule)
    if len(queries) != 1:
        raise SystemExit(f"{rule.title}: expected one query, got {queries!r}")
    return queries[0]


def joined(backend, bases: list[SigmaRule]) -> str:
    """The query of a detection; a sequence's steps one per line, in order."""
    return "\n".join(one_query(backend, r) for r in bases)


def eql_condition(rule: SigmaRule) -> str:
    """EQL condition of a simple base rule (event.action = one value), for sequences."""
    sel = rule.detection.detections
    values = {}
    for det in sel.values():
        for item in det.detection_items:
            values[item.field] = [str(v) for v in item.value]
    if list(values) != ["event.action"] or len(values["event.action"]) != 1:
        raise SystemExit(f"{rule.title}: sequence steps must be a single event.action value")
    return f'any where event.action == "{values["event.action"][0]}"'


def kibana_rule(path, bases, corr, docs, lucene, attack) -> dict:
    head = corr if corr is not None else bases[0]
    level = head.level.name.lower()
    head_doc = docs[-1] if corr is not None else docs[0]
    rule = {
        "rule_id": str(head.id),
        "name": head.title,
        "description": head.description,
        "author": [head.author] if head.author else [],
        "license": "Apache-2.0",
        "enabled": False,
        "version": 1,
        "index": [INDEX],
        "interval": INTERVAL,
        "from": "now-6m",
        "to": "now",
        "risk_score": RISK[level],
        "severity": SEVERITY[level],
        "false_positives": list(head_doc.get("falsepositives", [])),
        "references": list(docs[0].get("references", [])),
        "tags": ["Data Source: Cursor", "Sigma", f"Sigma: {path.stem}"],
        "threat": threat([str(t) for t in head.tags], attack),
        "max_signals": 100,
    }
    new_terms = docs[0].get("new_terms")
    if corr is None and new_terms is None:
        rule.update(type="query", language="lucene", query=lucene)
    elif new_terms is not None:
        rule.update(
            type="new_terms",
            language="lucene",
            query=lucene,
            new_terms_fields=list(new_terms["fields"]),
            history_window_start=f"now-{new_terms['history_window']}",
        )
    elif corr.type.name == "EVENT_COUNT":
        cond = corr.condition
        if cond.op.name != "GTE":
            raise SystemExit(f"{path}: event_count needs a gte condition")
        rule.update(
            type="threshold",
            language="lucene",
            query=lucene,
            threshold={"field": [str(g) for g in corr.group_by], "value": cond.count},
            **{"from": f"now-{timespan_str(corr.timespan.seconds)}"},
        )
    elif corr.type.name == "TEMPORAL_ORDERED":
        steps = " ".join(f"[{eql_condition(r)}]" for r in bases)
        by = ", ".join(str(g) for g in corr.group_by)
        span = timespan_str(corr.timespan.seconds)
        rule.update(
            type="eql",
            language="eql",
            query=f"sequence by {by} with maxspan={span} {steps}",
            **{"from": f"now-{span}"},
        )
    else:
        raise SystemExit(f"{path}: correlation type {corr.type} is not supported")
    return rule


def opensearch_monitor(path, bases, corr, docs, os_lucene) -> dict:
    head = corr if corr is not None else bases[0]
    level = head.level.name.lower()
    # OpenSearch has no new-terms or sequence monitor: those ship with their base query only,
    # disabled, for a user who wants every base event (see docs/detections.md).
    native = docs[0].get("new_terms") is None and (corr is None or corr.type.name == "EVENT_COUNT")
    monitor = {
        "type": "monitor",
        "name": f"Cursor - {head.title}" + ("" if native else " (base events only)"),
        "enabled": native,
        "schedule": {"period": {"interval": 5, "unit": "MINUTES"}},
    }
    query = {"query_string": {"query": os_lucene, "analyze_wildcard": True}}
    if corr is not None and corr.type.name == "EVENT_COUNT":
        span = timespan_str(corr.timespan.seconds)
        group = [str(g) for g in corr.group_by]
        monitor["monitor_type"] = "bucket_level_monitor"
        monitor["inputs"] = [
            {
                "search": {
                    "indices": [INDEX],
                    "query": {
                        "size": 0,
                        "query": {
                            "bool": {
                                "filter": [
                                    {"range": {"@timestamp": {"gte": f"{{{{period_end}}}}||-{span}",
                                                              "lte": "{{period_end}}", "format": "epoch_millis"}}},
                                    query,
                                ]
                            }
                        },
                        "aggregations": {
                            "groups": {
                                "composite": {
                                    "size": 100,
                                    "sources": [{g: {"terms": {"field": g}}} for g in group],
                                }
                            }
                        },
                    },
                }
            }
        ]
        monitor["triggers"] = [
            {
                "bucket_level_trigger": {
                    "name": head.title,
                    "severity": OS_SEVERITY[level],
                    "condition": {
                        "buckets_path": {"_count": "_count"},
                        "parent_bucket_path": "groups",
                        "script": {"source": f"params._count >= {corr.condition.count}", "lang": "painless"},
                    },
                    "actions": [],
                }
            }
        ]
    else:
        monitor["monitor_type"] = "query_level_monitor"
        monitor["inputs"] = [
            {
                "search": {
                    "indices": [INDEX],
                    "query": {
                        "size": 10,
                        "query": {
                            "bool": {
                                "filter": [
                                    {"range": {"@timestamp": {"gte": "{{period_end}}||-6m",
                                                              "lte": "{{period_end}}", "format": "epoch_millis"}}},
                                    query,
                                ]
                            }
                        },
                    },
                }
            }
        ]
        monitor["triggers"] = [
            {
                "query_level_trigger": {
                    "name": head.title,
                    "severity": OS_SEVERITY[level],
                    "condition": {
                        "script": {"source": "ctx.results[0].hits.total.value > 0", "lang": "painless"}
                    },
                    "actions": [],
                }
            }
        ]
    return monitor


def security_analytics_rules(stem: str, docs) -> dict[str, str]:
    """The base rule(s) alone, one per file (Security Analytics takes plain single Sigma rules, no
    correlations): <detection>.yml, or <detection>.<base rule name>.yml for a sequence's steps."""
    plain = [{k: v for k, v in d.items() if k != "new_terms"} for d in docs if "correlation" not in d]
    files = {}
    for doc in plain:
        fname = f"{stem}.yml" if len(plain) == 1 else f"{stem}.{doc['name']}.yml"
        files[fname] = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
    return files


def validate(collections) -> list[str]:
    plugins = InstalledSigmaPlugins.autodiscover()
    validators = {k: v for k, v in plugins.validators.items() if k not in EXCLUDED_VALIDATORS}
    validator = SigmaValidator(validators.values())
    problems = []
    everything = SigmaCollection([r for c in collections for r in c.rules])
    for rule in everything:
        for tag in rule.tags:
            if tag.namespace == "d3fend":
                problems.append(f"{rule.title}: d3fend tags are not checked here; remove {tag}")
    for issue in validator.validate_rules(everything):
        # Rules referenced by a correlation are meant to be partial; nothing else is waived.
        problems.append(f"{issue.severity.name}: {issue}")
    return problems


def build(attack) -> tuple[dict[Path, str], list[str], int]:
    es, os_backend = LuceneBackend(), OpensearchLuceneBackend(index_names=[INDEX])
    outputs: dict[Path, str] = {}
    kibana_lines = []
    count = 0
    loaded = [(path, *load_detection(path)) for path in sorted(SIGMA_DIR.glob("*.yml"))]
    problems = validate([collection for _, collection, _, _, _ in loaded])
    if problems:
        return outputs, problems, 0
    for path, collection, bases, corr, docs in loaded:
        lucene = joined(es, bases)
        os_lucene = joined(os_backend, bases)
        if "\n" in lucene:  # a sequence: the monitor and Kibana's base query take any step
            any_step = " OR ".join(f"({q})" for q in lucene.split("\n"))
            any_step_os = " OR ".join(f"({q})" for q in os_lucene.split("\n"))
        else:
            any_step, any_step_os = lucene, os_lucene
        outputs[DIST / "lucene" / f"{path.stem}.txt"] = lucene + "\n"
        outputs[DIST / "opensearch" / "lucene" / f"{path.stem}.txt"] = os_lucene + "\n"
        kibana = kibana_rule(path, bases, corr, docs, any_step, attack)
        missing = [k for k in KIBANA_REQUIRED if kibana.get(k) in (None, "", [])]
        if missing or kibana["index"] != [INDEX]:
            problems.append(f"{path.name}: Kibana rule lacks {missing} or has index {kibana['index']}")
        kibana_lines.append(json.dumps(kibana, sort_keys=True))
        monitor = opensearch_monitor(path, bases, corr, docs, any_step_os)
        outputs[DIST / "opensearch" / "monitors" / f"{path.stem}.json"] = json.dumps(monitor, indent=2) + "\n"
        for fname, text in security_analytics_rules(path.stem, docs).items():
            outputs[DIST / "opensearch" / "security-analytics" / fname] = text
        count += 1
    outputs[DIST / "kibana-rules.ndjson"] = "\n".join(kibana_lines) + "\n"
    return outputs, problems, count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail when rules/dist/ is not what the rules give")
    args = parser.parse_args()
    attack = load_attack()
    with tempfile.TemporaryDirectory() as tmp:
        install_attack_subset(attack, Path(tmp))
        outputs, problems, count = build(attack)
    if problems:
        print("pySigma validators found issues:", file=sys.stderr)
        for p in problems:
            print("  " + p, file=sys.stderr)
        return 1
    existing = {p for p in DIST.rglob("*") if p.is_file()}
    if args.check:
        stale = sorted(str(p.relative_to(HERE)) for p in outputs if not p.exists() or p.read_text() != outputs[p])
        extra = sorted(str(p.relative_to(HERE)) for p in existing - set(outputs))
        if stale or extra:
            print("rules/dist is stale; run target/venv/bin/python rules/convert.py and commit:", file=sys.stderr)
            for p in stale:
                print(f"  differs: {p}", file=sys.stderr)
            for p in extra:
                print(f"  not generated: {p}", file=sys.stderr)
            return 1
        print(f"convert: {count} detections valid, rules/dist up to date")
        return 0
    for p in existing - set(outputs):
        p.unlink()
    for p, text in outputs.items():
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    print(f"convert: {count} detections valid, written to rules/dist/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
