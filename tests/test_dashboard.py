"""The Grafana dashboard (manifests/monitoring/grafana-dashboard.json), statically: valid JSON,
every panel queries, every query is PromQL a real Prometheus accepts, every metric it names is
one the project publishes. Whether every panel returns data after a real run and load is the
live monitoring test's job.
"""

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from components._shared.verdicts import pushgateway
from kfp_mlops.serve.metrics import Metrics
from tests.conftest import free_port
from tests.real_prometheus import Canary, RealPrometheus

REPO = Path(__file__).resolve().parent.parent
DASHBOARD = REPO / "manifests" / "monitoring" / "grafana-dashboard.json"
# Grafana's variables as a query with "All" selected sends them.
VARIABLES = {"$__rate_interval": "1m", "$model": ".*"}
# Series the gates push beyond pushgateway.py's own gauges (GateFigures.series): the drift
# columns and live performance (the observability contract), the fairness features
# (components/check_fairness/signals.py).
SERIES = {
    "kfp_mlops_drift_column_score",
    "kfp_mlops_drift_column_drifted",
    "kfp_mlops_live_performance_consecutive_days_below_bound",
    "kfp_mlops_fairness_feature_disparity",
}


def dashboard() -> dict:
    """The dashboard, parsed."""
    return json.loads(DASHBOARD.read_text())


def data_panels(board: dict) -> list[dict]:
    """Every panel that shows data: rows only group them (nested ones included)."""
    found = []
    for panel in board["panels"]:
        found += [panel] if panel["type"] != "row" else []
        found += [p for p in panel.get("panels", []) if p["type"] != "row"]
    return found


def promql(expr: str) -> str:
    """A panel's expression as Grafana sends it with "All" models selected."""
    for name, value in VARIABLES.items():
        expr = expr.replace(name, value)
    if "$" in expr:
        raise ValueError(f"unknown Grafana variable in {expr!r}; expected only {list(VARIABLES)}")
    return expr


def query_errors(url: str, board: dict) -> list[str]:
    """Each panel query the Prometheus at `url` refuses: `panel title: expr: error`."""
    found = []
    for panel in data_panels(board):
        for target in panel["targets"]:
            query = urllib.parse.urlencode({"query": promql(target["expr"])})
            try:
                with urllib.request.urlopen(f"{url}/api/v1/query?{query}", timeout=10) as answer:
                    body = json.load(answer)
            except urllib.error.HTTPError as exc:
                body = json.load(exc)
            if body.get("status") != "success":
                found.append(f"{panel['title']}: {target['expr']}: {body.get('error')}")
    return found


def published_metrics() -> set[str]:
    """Every series name the server, the sink and pushgateway.py publish."""
    names = set()
    for family in Metrics().registry.collect():
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}
        names |= {family.name + s for s in suffixes.get(family.type, [""])}
    source = Path(pushgateway.__file__).read_text()
    names |= {pushgateway.PREFIX + n for n in re.findall(r'_gauge\(\s*registry,\s*"(\w+)"', source)}
    return names | SERIES


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    canary = Canary("kubeflow", "german-credit", 2, 100, 0, 0.004)
    server = RealPrometheus(tmp_path_factory.mktemp("prometheus"), free_port(), [canary])
    server.start()
    yield server
    server.stop()


def test_dashboard_is_grafana_json_with_a_datasource_and_a_model_variable():
    board = dashboard()
    assert 36 <= board["schemaVersion"] <= 41
    assert board["uid"] == "kfp-mlops" and board["title"]
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    model = variables["model"]
    assert model["type"] == "query" and model["includeAll"] and model["allValue"] == ".*"
    assert model["datasource"]["uid"] == "${datasource}"
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)), "panel ids are unique"


def test_every_panel_has_a_promql_target_on_the_datasource_variable():
    panels = data_panels(dashboard())
    assert len(panels) >= 15
    for panel in panels:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], f"{panel['title']} has no query"
        for target in panel["targets"]:
            assert target["expr"].strip(), f"{panel['title']}: empty expr"
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]


def test_panels_do_not_overlap():
    taken = set()
    for panel in dashboard()["panels"]:
        box = panel["gridPos"]
        assert box["x"] + box["w"] <= 24, panel["title"]
        cells = {
            (x, y)
            for x in range(box["x"], box["x"] + box["w"])
            for y in range(box["y"], box["y"] + box["h"])
        }
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells


def test_the_dashboard_shows_the_server_and_every_gate():
    exprs = " ".join(t["expr"] for p in data_panels(dashboard()) for t in p["targets"])
    for gate in ("evaluation", "fairness", "drift", "live_performance"):
        assert f'gate="{gate}"' in exprs, gate
    for needed in (
        "histogram_quantile(0.99, sum by (le) (rate(kfp_mlops_serve_request_duration_seconds",
        "kfp_mlops_serve_batch_requests",
        "kfp_mlops_prediction_log_dropped_rows_total",
        "kfp_mlops_serve_ready",
        "time() - kfp_mlops_pipeline_last_success_timestamp_seconds",
        "kfp_mlops_pipeline_run_duration_seconds",
        "kfp_mlops_drift_column_drifted",
    ):
        assert needed in exprs, needed


def test_every_metric_the_dashboard_names_is_published():
    board = dashboard()
    exprs = [t["expr"] for p in data_panels(board) for t in p["targets"]]
    exprs += [v["definition"] for v in board["templating"]["list"] if v.get("definition")]
    named = {m for e in exprs for m in re.findall(r"\bkfp_mlops_[a-z0-9_]+", e)}
    assert named - published_metrics() == set(), "names nothing publishes (a typo?)"


def test_every_query_is_accepted_by_a_real_prometheus(prometheus):
    assert query_errors(prometheus.url, dashboard()) == []
    board = dashboard()
    (model,) = [v for v in board["templating"]["list"] if v["name"] == "model"]
    metric = re.fullmatch(r"label_values\((\w+), model\)", model["definition"]).group(1)
    match = urllib.parse.urlencode({"match[]": metric})
    with urllib.request.urlopen(f"{prometheus.url}/api/v1/label/model/values?{match}") as answer:
        assert json.load(answer)["status"] == "success"


def test_a_query_prometheus_refuses_is_reported_with_its_panel(prometheus):
    board = dashboard()
    panel = data_panels(board)[0]
    panel["targets"][0]["expr"] = "sum by (route (rate(kfp_mlops_serve_requests_total[1m]))"
    (error,) = query_errors(prometheus.url, board)
    assert error.startswith(f"{panel['title']}: sum by (route (rate(")
    assert "parse error" in error


def test_an_unknown_grafana_variable_is_refused():
    with pytest.raises(ValueError, match=r"unknown Grafana variable .*\$instance"):
        promql('kfp_mlops_serve_ready{instance="$instance"}')


def test_a_fleet_panel_counts_the_selected_models_without_column_detail():
    (panel,) = [p for p in data_panels(dashboard()) if p["title"].startswith("Fleet:")]
    exprs = [t["expr"] for t in panel["targets"]]
    # Counts over the model variable, from series a fleet run pushes (no per-column series).
    assert all('model=~"$model"' in e and e.startswith("count(") for e in exprs)
    assert all(e.endswith("or vector(0)") for e in exprs)  # 0, not "no data", for none
    assert not any("drift_column" in e for e in exprs)
