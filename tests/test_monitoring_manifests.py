"""manifests/monitoring/: the Operator objects are valid, the PrometheusRule is the plain rules
file's groups, the PodMonitors find the pods the project runs, and the dashboard ships as one
ConfigMap. Pure: kubectl kustomize builds offline; no cluster.
"""

import json
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from components.deploy_model import promql, render
from tests.test_manifests import MANIFESTS, _find, check
from tests.test_manifests import _pod as pod_of

MONITORING = MANIFESTS / "monitoring"
GENERATOR = MANIFESTS / "operator_objects.py"


@pytest.fixture(scope="module")
def built():
    return check.build_all()


@pytest.fixture(scope="module")
def monitoring(built):
    return built["monitoring"]


def test_monitoring_builds_to_the_operator_objects_and_the_dashboard(monitoring):
    kinds = sorted(f"{d['kind']}/{d['metadata']['name']}" for d in monitoring)
    assert kinds == [
        "ConfigMap/kfp-mlops-grafana-dashboard",
        "NetworkPolicy/kfp-mlops-log-sink-scrape",
        "PodMonitor/kfp-mlops-log-sink",
        "PodMonitor/kfp-mlops-model-server",
        "PrometheusRule/kfp-mlops",
    ]
    assert check.problems("monitoring", monitoring) == []
    # No namespace: applied with -n into the namespace the servers run in.
    assert all("namespace" not in d["metadata"] for d in monitoring)


def test_prometheus_rule_groups_equal_the_plain_rules_file(monitoring):
    plain = yaml.safe_load((MONITORING / "kfp-mlops.rules.yml").read_text())
    rule = _find(monitoring, "PrometheusRule", "kfp-mlops")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["spec"]["groups"] == plain["groups"]
    assert len([r for g in plain["groups"] for r in g["rules"]]) == 10


def _generator(*args):
    return subprocess.run(
        [sys.executable, str(GENERATOR), *args], capture_output=True, text=True, check=False
    )


def test_committed_prometheus_rule_is_current():
    done = _generator("--check")
    assert done.returncode == 0, done.stderr


def test_a_rule_changed_without_regenerating_is_caught(tmp_path):
    copy = tmp_path / "monitoring"
    shutil.copytree(MONITORING, copy)
    rules = copy / "kfp-mlops.rules.yml"
    rules.write_text(rules.read_text().replace("> 26 * 3600", "> 30 * 3600"))
    done = _generator("--check", "--monitoring", str(copy))
    assert done.returncode == 1
    assert "prometheusrule.yaml is stale (its spec.groups differ)" in done.stderr
    assert "run `python manifests/operator_objects.py`" in done.stderr
    assert _generator("--monitoring", str(copy)).returncode == 0
    assert _generator("--check", "--monitoring", str(copy)).returncode == 0
    regenerated = yaml.safe_load((copy / "prometheusrule.yaml").read_text())
    assert regenerated["spec"]["groups"] == yaml.safe_load(rules.read_text())["groups"]


def _run_check(root):
    return subprocess.run(
        [sys.executable, str(MANIFESTS / "check.py"), "--manifests", str(root)],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        (
            "podmonitor-model-server.yaml",
            "  podMetricsEndpoints:",
            "  podMetricEndpoints:",
            "PodMonitor/kfp-mlops-model-server: spec: Additional properties are not allowed "
            "('podMetricEndpoints'",
        ),
        (
            "podmonitor-model-server.yaml",
            "    - portNumber: 8080",
            "    - portNumber: 80800",
            "PodMonitor/kfp-mlops-model-server: spec.podMetricsEndpoints.0.portNumber: 80800 is "
            "greater than the maximum of 65535",
        ),
        (
            "prometheusrule.yaml",
            "          for: 26h",
            "          for: 26 hours",
            "PrometheusRule/kfp-mlops: spec.groups.1.rules.2.for: '26 hours' does not match",
        ),
    ],
    ids=["misspelled-field", "port-out-of-range", "bad-duration"],
)
def test_check_catches_a_broken_operator_object(tmp_path, file, old, new, message):
    root = tmp_path / "manifests"
    shutil.copytree(MANIFESTS, root, ignore=shutil.ignore_patterns("*.env", "__pycache__"))
    path = root / "monitoring" / file
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new))
    done = _run_check(root)
    assert done.returncode == 1
    assert f"manifests-check: monitoring: {message}" in done.stderr


def test_model_server_pod_monitor_scrapes_the_predictors_deploy_renders(monitoring):
    target = render.Target(
        service="german-credit", namespace="kubeflow", model_name="german-credit", version=3,
        sha256="ab" * 32, image="ghcr.io/kfp-mlops/kfp-mlops:0.3.0",
        service_account="kfp-mlops-predictor", deployment_mode=render.STANDARD,
        prediction_log=render.KSERVE_LOGGER, log_sink_url="http://kfp-mlops-log-sink/",
        resources={"requests": {"cpu": "1", "memory": "1Gi"}},
    )  # fmt: skip
    predictor = render.predictor(target)
    # KServe labels every predictor pod with its InferenceService; ours add the spec's labels.
    pod_labels = {"serving.kserve.io/inferenceservice": target.service, **predictor["labels"]}
    monitor = _find(monitoring, "PodMonitor", "kfp-mlops-model-server")["spec"]
    assert _selects(monitor["selector"], pod_labels)
    assert not _selects(monitor["selector"], {"serving.kserve.io/inferenceservice": "other"})
    (endpoint,) = monitor["podMetricsEndpoints"]
    ports = [p["containerPort"] for c in predictor["containers"] for p in c["ports"]]
    assert endpoint["portNumber"] == render.PORT and render.PORT in ports
    assert endpoint["path"] == predictor["annotations"]["prometheus.io/path"]
    # The canary judge's queries select pods by these labels, as Prometheus names them.
    (labelmap,) = endpoint["relabelings"]
    assert labelmap["action"] == "labelmap"
    for key in ("serving.kserve.io/inferenceservice", render.MODEL_VERSION_KEY):
        meta = "__meta_kubernetes_pod_label_" + re.sub(r"[^a-zA-Z0-9_]", "_", key)
        mapped = re.fullmatch(labelmap["regex"], meta)
        assert mapped, meta
        assert mapped.group(1) in {promql.SERVICE_LABEL, promql.VERSION_LABEL}


def test_log_sink_pod_monitor_scrapes_the_sink_and_prometheus_may_reach_it(built, monitoring):
    sink = pod_of(_find(built["base"], "Deployment", "kfp-mlops-log-sink"))
    template = _find(built["base"], "Deployment", "kfp-mlops-log-sink")["spec"]["template"]
    monitor = _find(monitoring, "PodMonitor", "kfp-mlops-log-sink")["spec"]
    assert _selects(monitor["selector"], template["metadata"]["labels"])
    (endpoint,) = monitor["podMetricsEndpoints"]
    (container,) = sink["containers"]
    port = next(p for p in container["ports"] if p["name"] == endpoint["port"])
    assert endpoint["path"] == template["metadata"]["annotations"]["prometheus.io/path"]
    assert port["containerPort"] == 9090  # the metrics listener, not the ingest port
    # Who reaches that port is declared in manifests/reachability.py and checked there by a
    # NetworkPolicy analyzer (tests/test_reachability.py): Prometheus only with the add-on,
    # and never the ingest port.
    sys.path.insert(0, str(MANIFESTS))
    import reachability

    declared = {(r.source, r.target, r.port): r.verdict for r in reachability.PATHS}
    scrape = ("prometheus", "log-sink", port["containerPort"])
    assert declared[scrape] == reachability.WITH_MONITORING
    assert declared["client", "log-sink", port["containerPort"]] == reachability.CLOSED
    assert declared["prometheus", "log-sink", 8080] == reachability.CLOSED


def _selects(selector: dict, labels: dict) -> bool:
    """Whether a PodMonitor's label selector picks a pod (matchLabels, `Exists` expressions)."""
    exprs = selector.get("matchExpressions", [])
    assert all(e["operator"] == "Exists" for e in exprs), "only Exists is used in our monitors"
    wanted = selector.get("matchLabels", {})
    return all(labels.get(k) == v for k, v in wanted.items()) and all(
        e["key"] in labels for e in exprs
    )


def test_dashboard_configmap_is_the_json_file_for_the_grafana_sidecar(monitoring):
    config = _find(monitoring, "ConfigMap", "kfp-mlops-grafana-dashboard")
    assert config["metadata"]["labels"]["grafana_dashboard"] == "1"
    (name,) = config["data"]
    assert name.endswith(".json")
    source = (MONITORING / "grafana-dashboard.json").read_text()
    assert json.loads(config["data"][name]) == json.loads(source)
    # kubectl apply keeps the whole object in an annotation limited to 256 KiB.
    assert len(source.encode()) < 200 * 1024


def test_manifests_check_fails_while_the_prometheus_rule_is_stale(tmp_path):
    root = tmp_path / "manifests"
    shutil.copytree(MANIFESTS, root, ignore=shutil.ignore_patterns("*.env", "__pycache__"))
    rules = root / "monitoring" / "kfp-mlops.rules.yml"
    rules.write_text(rules.read_text().replace("severity: warning", "severity: info", 1))
    done = _run_check(root)
    assert done.returncode == 1
    assert "manifests-check: monitoring: prometheusrule.yaml is stale" in done.stderr
