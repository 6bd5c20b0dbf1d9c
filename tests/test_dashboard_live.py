"""Every panel of the Grafana dashboard shows data after real monitoring runs and a served load.

The stack's own Prometheus (`stack up --monitoring`) holds what the runs' gates pushed and what
it scraped from a real `kfp-mlops serve` of the model the drifted run registered, on the port
the stack scrapes. The served requests' true classes then arrive as labels, and a second
monitoring run (same data: no drift) judges live performance on them. Each panel query goes
through Prometheus's HTTP API with Grafana's variables set to this test's values; a query that
errors or returns nothing fails the test, named with its panel. (tests/test_dashboard.py
checks the dashboard statically.)
"""

import io
import json
import time

import pandas as pd
import pytest

from tests.conftest import GERMAN_CREDIT
from tests.monitoring_stack import get_json, run_monitoring, serve_port, stack_env
from tests.serving import Process, post, read_log, unique_prefix
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


def predict(base: str, model: str, record: dict, request_id: str) -> None:
    """One V1 prediction under a request id of ours (the prediction log keeps it)."""
    url = f"{base}/v1/models/{model}:predict"
    status, answer = post(url, {"instances": [record]}, headers={"X-Request-ID": request_id})
    assert status == 200, answer


def labels_after_the_load(stack, prefix: str, frame: pd.DataFrame) -> str:
    """Wait until the log holds every request, then store their true classes as labels in S3."""
    from components._shared.io import s3_client

    patch = stack_env(stack)
    try:
        deadline = time.monotonic() + 30
        while sum(len(t) for t in read_log(prefix).values()) < len(frame):
            assert time.monotonic() < deadline, f"the prediction log under {prefix} is short"
            time.sleep(0.5)
        csv = pd.DataFrame({"request_id": frame["request_id"], "label": frame["risk"]})
        payload = csv.to_csv(index=False).encode()
        key = f"{prefix.removeprefix('s3://kfp-mlops-data/')}labels/labels.csv"
        s3_client().put_object("kfp-mlops-data", key, io.BytesIO(payload), len(payload))
    finally:
        patch.undo()
    return f"s3://kfp-mlops-data/{key}"


@pytest.fixture(scope="module")
def served_load(drifted_monitoring_run, monitored_stack):
    """The champion served where Prometheus scrapes, REQUESTS calls, then live performance.

    After the calls, their true classes arrive as labels and a monitoring run judges the
    served model on them (the live-performance gate pushes, fails, and the run retrains).
    """
    _, _, model, _ = drifted_monitoring_run
    prefix = unique_prefix("dashboard")
    env = monitored_stack.env() | {"KFP_MLOPS_PREDICTION_LOG_URI": prefix}
    server = Process(
        "serve", f"models:/{model}@champion", "--log-flush-seconds", "0.5",
        env=env, port=serve_port(monitored_stack),
    )  # fmt: skip
    frame = pd.read_csv(GERMAN_CREDIT).head(REQUESTS)
    frame["request_id"] = [f"dashboard-{i}" for i in range(REQUESTS)]
    features = frame.drop(columns=["risk", "request_id"])
    try:
        records = features.astype(object).where(features.notna(), None).to_dict("records")
        for record, request_id in zip(records, frame["request_id"], strict=True):
            predict(server.base, model, record, request_id)
        labels = labels_after_the_load(monitored_stack, prefix, frame)
        summary, _ = run_monitoring(
            monitored_stack,
            model,
            current_uri=GERMAN_CREDIT,  # the reference itself: no drift
            labels_uri=labels,
            predictions_uri=f"{prefix}{model}/",
            # Out of reach on purpose: the gate fails on today, the run retrains and blesses,
            # so this last run of the model also pushes its blessing (a no-drift, within-
            # bounds run has none to push, and the "Last run" panel would be empty).
            performance_bounds=json.dumps({"accuracy": 0.99}),
            performance_min_days=1,
            performance_min_labels_per_day=10,
            random_seed=7,  # not the champion's: check_novelty lets the retrain run
        )
        live = summary["gates"]["live_performance"]
        assert summary["drifted"] is False and live["report"]["counts"]["used_labels"] == REQUESTS
        assert live["passed"] is False and summary["retrained"] and summary["blessed"]
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
