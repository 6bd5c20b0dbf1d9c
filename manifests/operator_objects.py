"""The Prometheus Operator side of manifests/monitoring/: the PrometheusRule, and its schemas.

The PrometheusRule is generated; the schemas are offline, strict checks of the
monitoring.coreos.com kinds we ship.

One source of truth for the alert rules: `monitoring/kfp-mlops.rules.yml` (plain Prometheus
format, what promtool tests). `monitoring/prometheusrule.yaml` is generated from it by
`python manifests/operator_objects.py` (its groups are the plain file's text, indented, so
comments survive) and `--check` fails when it is stale; `make manifests-check` runs the check.

The schemas are derived by hand from the Prometheus Operator's CRDs, v0.93.0
(github.com/prometheus-operator/prometheus-operator, example/prometheus-operator-crd/
monitoring.coreos.com_prometheusrules.yaml and monitoring.coreos.com_podmonitors.yaml): every
field name those CRDs allow at each level we use, with types and patterns for the fields we
set. Unlike the CRDs (whose objects do not forbid unknown fields: an API server silently
prunes them), every object here is closed, so a misspelled field fails the check.
"""

import argparse
import sys
from pathlib import Path

import jsonschema
import yaml

MONITORING = Path(__file__).resolve().parent / "monitoring"
RULES_FILE = "kfp-mlops.rules.yml"
PROMETHEUS_RULE_FILE = "prometheusrule.yaml"
API_VERSION = "monitoring.coreos.com/v1"
RULE_NAME = "kfp-mlops"

HEADER = f"""\
# GENERATED from {RULES_FILE} by `python manifests/operator_objects.py`: do not edit.
# The same alert rules for the Prometheus Operator. A Prometheus picks them up when its
# ruleSelector matches this object's labels (kube-prometheus-stack selects `release: <its
# release name>` unless ruleSelectorNilUsesHelmValues is false: add that label in your overlay).
apiVersion: {API_VERSION}
kind: PrometheusRule
metadata:
  name: {RULE_NAME}
  labels:
    app.kubernetes.io/name: kfp-mlops-alerts
    app.kubernetes.io/part-of: kfp-mlops
spec:
"""

# ---- schemas (Prometheus Operator v0.93.0 CRDs) ----------------------------------------------
DURATION = {
    "type": "string",
    "pattern": r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?"
    r"(([0-9]+)ms)?)$",
}
STRING, BOOL, INT = {"type": "string"}, {"type": "boolean"}, {"type": "integer"}
STRINGS = {"type": "array", "items": STRING}
STRING_MAP = {"type": "object", "additionalProperties": STRING}
ANY: dict = {}  # a field the CRD allows that we do not set: allowed, not checked further


def closed(properties: dict, required: tuple[str, ...] = ()) -> dict:
    """An object schema that allows exactly these properties."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


def allowed(names: str, checked: dict) -> dict:
    """Every name in `names` (space-separated) allowed; those in `checked` typed."""
    return {name: checked.get(name, ANY) for name in names.split()} | checked


RULE = closed(
    {
        "alert": STRING,
        "record": STRING,
        "expr": {"anyOf": [INT, STRING]},
        "for": DURATION,
        "keep_firing_for": DURATION | {"minLength": 1},
        "labels": STRING_MAP,
        "annotations": STRING_MAP,
    },
    ("expr",),
)
RULE_GROUP = closed(
    {
        "name": STRING | {"minLength": 1},
        "interval": DURATION,
        "labels": STRING_MAP,
        "limit": INT,
        "partial_response_strategy": STRING | {"pattern": "^(?i)(abort|warn)?$"},
        "query_offset": DURATION,
        "rules": {"type": "array", "items": RULE},
    },
    ("name",),
)
LABEL_SELECTOR = closed(
    {
        "matchLabels": STRING_MAP,
        "matchExpressions": {
            "type": "array",
            "items": closed(
                {"key": STRING, "operator": STRING, "values": STRINGS}, ("key", "operator")
            ),
        },
    }
)
_ACTIONS = (
    "replace keep drop hashmod labelmap labeldrop labelkeep lowercase uppercase keepequal dropequal"
)
_CAMEL = {"hashmod": "HashMod", "labelmap": "LabelMap", "labeldrop": "LabelDrop",
          "labelkeep": "LabelKeep", "keepequal": "KeepEqual", "dropequal": "DropEqual"}  # fmt: skip
RELABELING = closed(
    {
        "action": {
            "type": "string",
            "enum": [form for a in _ACTIONS.split() for form in (a, _CAMEL.get(a, a.title()))],
        },
        "modulus": INT | {"minimum": 0},
        "regex": STRING,
        "replacement": STRING,
        "separator": STRING,
        "sourceLabels": STRINGS,
        "targetLabel": STRING,
    }
)
POD_METRICS_ENDPOINT = closed(
    allowed(
        "authorization basicAuth bearerTokenSecret enableHttp2 filterRunning followRedirects "
        "honorLabels honorTimestamps interval metricRelabelings noProxy oauth2 params path port "
        "portNumber proxyConnectHeader proxyFromEnvironment proxyUrl relabelings scheme "
        "scrapeTimeout targetPort tlsConfig trackTimestampsStaleness",
        {
            "port": STRING,
            "portNumber": INT | {"minimum": 1, "maximum": 65535},
            "path": STRING,
            "scheme": {"type": "string", "enum": ["http", "https", "HTTP", "HTTPS"]},
            "interval": DURATION,
            "scrapeTimeout": DURATION,
            "honorLabels": BOOL,
            "relabelings": {"type": "array", "items": RELABELING},
            "metricRelabelings": {"type": "array", "items": RELABELING},
        },
    )
)
POD_MONITOR_SPEC = closed(
    allowed(
        "attachMetadata bodySizeLimit convertClassicHistogramsToNHCB fallbackScrapeProtocol "
        "jobLabel keepDroppedTargets labelLimit labelNameLengthLimit labelValueLengthLimit "
        "namespaceSelector nativeHistogramBucketLimit nativeHistogramMinBucketFactor "
        "podMetricsEndpoints podTargetLabels sampleLimit scrapeClass scrapeClassicHistograms "
        "scrapeNativeHistograms scrapeProtocols selector selectorMechanism targetLimit",
        {
            "selector": LABEL_SELECTOR,
            "namespaceSelector": closed({"any": BOOL, "matchNames": STRINGS}),
            "podMetricsEndpoints": {"type": "array", "items": POD_METRICS_ENDPOINT},
            "jobLabel": STRING,
            "podTargetLabels": STRINGS,
        },
    ),
    ("selector",),
)


def _object(spec: dict) -> dict:
    metadata = closed(
        {"name": STRING, "namespace": STRING, "labels": STRING_MAP, "annotations": STRING_MAP},
        ("name",),
    )
    return closed(
        {"apiVersion": {"const": API_VERSION}, "kind": STRING, "metadata": metadata, "spec": spec},
        ("apiVersion", "kind", "metadata", "spec"),
    )


SCHEMAS = {
    "PrometheusRule": _object(closed({"groups": {"type": "array", "items": RULE_GROUP}})),
    "PodMonitor": _object(POD_MONITOR_SPEC),
}


def is_operator_kind(doc: dict) -> bool:
    """Whether a document is a monitoring.coreos.com object (the Operator's, not core)."""
    return str(doc.get("apiVersion", "")).startswith("monitoring.coreos.com/")


def problems(doc: dict) -> list[str]:
    """Schema violations of one monitoring.coreos.com document: `path: message` each."""
    kind = doc.get("kind")
    schema = SCHEMAS.get(kind)
    if schema is None:
        return [f"(top level): no schema for {doc.get('apiVersion')} {kind}; expected one of "
                f"{sorted(SCHEMAS)}"]  # fmt: skip
    validator = jsonschema.Draft202012Validator(schema)
    found = []
    for error in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.path))):
        where = ".".join(str(p) for p in error.path) or "(top level)"
        found.append(f"{where}: {error.message}")
    return found


# ---- the generated PrometheusRule -----------------------------------------------------------
def prometheus_rule_text(rules_text: str) -> str:
    """The PrometheusRule whose spec.groups is the plain rules file's `groups:`, verbatim."""
    lines = rules_text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("groups:")), None)
    if start is None:
        raise ValueError(f"{RULES_FILE} has no top-level `groups:` line")
    body = "\n".join(f"  {line}" if line else "" for line in lines[start:])
    return HEADER + body + "\n"


def stale(monitoring: Path = MONITORING) -> str | None:
    """Why the committed PrometheusRule is not what the rules file generates, or None."""
    rules = (monitoring / RULES_FILE).read_text()
    target = monitoring / PROMETHEUS_RULE_FILE
    if not target.exists():
        return f"{target.name} is missing"
    committed = target.read_text()
    if committed != prometheus_rule_text(rules):
        plain = yaml.safe_load(rules)["groups"]
        same = (yaml.safe_load(committed) or {}).get("spec", {}).get("groups") == plain
        what = "the same groups, other text" if same else "its spec.groups differ"
        return f"{target.name} is stale ({what}) against {RULES_FILE}"
    return None


def main(argv: list[str] | None = None) -> int:
    """Write (or with --check, verify) monitoring/prometheusrule.yaml."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when the file is stale")
    parser.add_argument("--monitoring", type=Path, default=MONITORING, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.check:
        why = stale(args.monitoring)
        if why:
            print(f"{why}: run `python manifests/operator_objects.py`", file=sys.stderr)
            return 1
        return 0
    text = prometheus_rule_text((args.monitoring / RULES_FILE).read_text())
    (args.monitoring / PROMETHEUS_RULE_FILE).write_text(text)
    print(f"wrote {args.monitoring / PROMETHEUS_RULE_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
