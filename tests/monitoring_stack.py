"""Test helpers for the monitoring stack: the alert receiver, Prometheus queries, a drifted run."""

import contextlib
import io
import json
import time
import urllib.parse
import urllib.request
from pathlib import Path

from tests.conftest import GERMAN_CREDIT
from tests.webhook_receiver import WebhookReceiver

MODEL = "alerting-credit"
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class AlertReceiver:
    """The webhook Alertmanager posts to: tests/webhook_receiver.py's, read as alerts."""

    def __init__(self):
        self.hook = WebhookReceiver()
        self.url = self.hook.url("/alerts")

    def wait_for_alert(self, timeout_s: float, **labels: str) -> tuple[float, dict]:
        """The first firing alert whose labels include these, with when its post arrived.

        Returns:
            (arrival as time.time(), the alert as Alertmanager's webhook JSON has it).

        Raises:
            AssertionError: None arrived within timeout_s; lists what did.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            for request in list(self.hook.requests):
                for alert in request["body"].get("alerts", []):
                    fits = all(alert["labels"].get(k) == v for k, v in labels.items())
                    if fits and alert.get("status") == "firing":
                        wall = request["time"] + time.time() - time.monotonic()
                        return wall, alert
            if time.monotonic() > deadline:
                seen = [a["labels"] for r in self.hook.requests for a in r["body"]["alerts"]]
                raise AssertionError(f"no firing {labels} in {timeout_s} s; got {seen}")
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop serving."""
        self.hook.close()


def serve_port(stack) -> int:
    """The port of the model server the stack's Prometheus scrapes."""
    return int(stack.monitoring_settings().serve_target.rsplit(":", 1)[1])


def get_json(url: str, **params: str) -> dict:
    """GET a JSON API on 127.0.0.1 (no proxy)."""
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    with _HTTP.open(url + query, timeout=30) as response:
        return json.loads(response.read())


def query(prometheus_url: str, promql: str) -> dict:
    """One instant query through Prometheus's HTTP API; its `data` (errors raise)."""
    answer = get_json(f"{prometheus_url}/api/v1/query", query=promql)
    assert answer["status"] == "success", answer
    return answer["data"]


def wait_for_series(prometheus_url: str, promql: str, timeout_s: float) -> list[dict]:
    """Poll until the query returns at least one series."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = query(prometheus_url, promql)["result"]
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{promql!r} returned nothing for {timeout_s} s")
        time.sleep(0.5)


def run_monitoring(stack, current: Path, model: str) -> tuple[dict, float]:
    """`kfp-mlops run-local monitoring --output json` in-process against `stack`.

    Returns:
        The run's JSON summary and the time (time.time()) the run ended.
    """
    from kfp_mlops.cli.main import main

    patch = stack_env(stack)
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            params = {
                "current_uri": current,
                "reference_uri": GERMAN_CREDIT,
                "retrain_data_uri": GERMAN_CREDIT,
                "model_name": model,
            }
            pairs = [arg for key, value in params.items() for arg in ("-p", f"{key}={value}")]
            code = main(["run-local", "monitoring", "--output", "json", *pairs])
        ended = time.time()
    finally:
        patch.undo()
    summary = json.loads(out.getvalue())
    assert code == 0, summary["error"]
    return summary, ended


def stack_env(stack):
    """Point Stack.from_env() and every client at `stack` (undo the returned MonkeyPatch)."""
    import pytest

    patch = pytest.MonkeyPatch()
    patch.setenv("KFP_MLOPS_HOME", str(stack.home))
    for service in (*stack.core, *stack.observability):
        patch.setenv(service.port_env, str(service.port))
    for key, value in stack.env().items():
        patch.setenv(key, value)
    return patch
