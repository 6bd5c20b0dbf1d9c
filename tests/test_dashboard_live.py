"""Every panel of the Grafana dashboard shows data after a real monitoring run and a served load.

The stack's own Prometheus (`stack up --monitoring`) holds what the run's gates pushed and what
it scraped from a real `kfp-mlops serve` of the model that run registered, on the port the
stack scrapes. Each panel query goes through Prometheus's HTTP API with Grafana's variables
set to this test's values; a query that errors or returns nothing fails the test, named with
its panel. (tests/test_dashboard.py checks the dashboard statically.)
"""

import time

import pandas as pd
import pytest

from tests.conftest import GERMAN_CREDIT
from tests.monitoring_stack import get_json, serve_port
from tests.serving import Process, post, unique_prefix
from tests.test_dashboard import dashboard, data_panels

pytestmark = pytest.mark.stack
REQUESTS = 50
RATE_WINDOW = "2m"  # $__rate_interval: wide enough to hold the load's scrapes at 5 s
DATA_TIMEOUT_S = 60  # a few scrape and evaluation rounds on a busy machine


def panel_queries(model: str) -> list[tuple[str, str]]:
    """(panel title, PromQL) for every target, Grafana's variables set to this test's values."""
    values = {"$__rate_interval": RATE_WINDOW, "$model": model}
    found = []
    for panel in data_panels(dashboard()):
        for target in panel["targets"]:
            expr = target["expr"]
            for name, value in values.items():
                expr = expr.replace(name, value)
            assert "$" not in expr, f"{panel['title']}: a Grafana variable left in {expr!r}"
            found.append((panel["title"], expr))
    return found


def empty_or_failing(prometheus_url: str, queries: list[tuple[str, str]]) -> list[str]:
    """`title: expr: why` for each query that errors or returns no sample."""
    problems = []
    for title, expr in queries:
        answer = get_json(f"{prometheus_url}/api/v1/query", query=expr)
        if answer.get("status") != "success":
            problems.append(f"{title}: {expr}: {answer.get('error')}")
        elif not answer["data"]["result"]:
            problems.append(f"{title}: {expr}: empty")
    return problems


@pytest.fixture(scope="module")
def served_load(drifted_monitoring_run, monitored_stack):
    """`kfp-mlops serve` of the run's champion where Prometheus scrapes, under REQUESTS calls."""
    _, _, model = drifted_monitoring_run
    env = monitored_stack.env() | {"KFP_MLOPS_PREDICTION_LOG_URI": unique_prefix("dashboard")}
    server = Process(
        "serve", f"models:/{model}@champion", "--log-flush-seconds", "0.5",
        env=env, port=serve_port(monitored_stack),
    )  # fmt: skip
    rows = pd.read_csv(GERMAN_CREDIT).drop(columns="risk").head(REQUESTS)
    try:
        for record in rows.astype(object).where(rows.notna(), None).to_dict("records"):
            status, body = post(f"{server.base}/v1/models/{model}:predict", {"instances": [record]})
            assert status == 200, body
        yield model
    finally:
        code, err = server.stop()
        assert code == 0, err


def test_every_dashboard_panel_returns_data_after_a_monitoring_run_and_a_served_load(
    served_load, monitored_stack
):
    queries = panel_queries(served_load)
    assert len(queries) >= 15
    prometheus = monitored_stack.prometheus.url
    deadline = time.monotonic() + DATA_TIMEOUT_S
    while problems := empty_or_failing(prometheus, queries):
        if time.monotonic() > deadline:
            break
        time.sleep(2)
    assert problems == [], "\n".join(problems)
    # The load itself is what the server panels show: 50 predictions of this model.
    [rows] = get_json(
        f"{prometheus}/api/v1/query",
        query=f'kfp_mlops_serve_prediction_rows_total{{model="{served_load}"}}',
    )["data"]["result"]
    assert float(rows["value"][1]) == REQUESTS
