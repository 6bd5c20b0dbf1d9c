"""Test helpers for the monitoring stack: an alert receiver, Prometheus queries, a drifted run.

The receiver is tests/webhook_receiver.py's real HTTP server on 127.0.0.1, which
Alertmanager posts to; it records each body with the time it arrived.
"""

import contextlib
import io
import json
import time
import urllib.parse
import urllib.request

from tests.conftest import GERMAN_CREDIT
from tests.webhook_receiver import WebhookReceiver

MODEL = "alerting-credit"
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class AlertReceiver(WebhookReceiver):
    """The shared webhook receiver, posted to by Alertmanager, with a wait for one alert."""

    def wait_for_alert(self, timeout_s: float, **labels: str) -> tuple[float, dict]:
        """The first firing alert whose labels include these, with the time its post arrived.

        Raises:
            AssertionError: None arrived within timeout_s; lists what did.
        """

        def first(requests: list[dict]):
            for request in requests:
                for alert in request["body"].get("alerts", []):
                    fits = all(alert["labels"].get(k) == v for k, v in labels.items())
                    if fits and alert.get("status") == "firing":
                        return request["arrived"], alert
            return None

        try:
            return self.wait(first, timeout_s)
        except TimeoutError:
            seen = [a["labels"] for r in self.requests for a in r["body"].get("alerts", [])]
            raise AssertionError(
                f"no firing alert with {labels} in {timeout_s} s; got {seen}"
            ) from None


def serve_port(stack) -> int:
    """The port of the model server the stack's Prometheus scrapes."""
    return int(stack.monitoring_settings().serve_target.rsplit(":", 1)[1])


def get_json(url: str, **params: str) -> dict:
    """GET a JSON API on 127.0.0.1 (no proxy)."""
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    with _HTTP.open(url + query, timeout=30) as response:
        return json.loads(response.read())


def query(prometheus_url: str, promql: str, at: float | None = None) -> dict:
    """One instant query through Prometheus's HTTP API (at time `at`, default now); its
    `data` (errors raise)."""
    params = {"query": promql} if at is None else {"query": promql, "time": f"{at:.3f}"}
    answer = get_json(f"{prometheus_url}/api/v1/query", **params)
    assert answer["status"] == "success", answer
    return answer["data"]


def wait_for_series(
    prometheus_url: str, promql: str, timeout_s: float, at: float | None = None
) -> list[dict]:
    """Poll until the query (evaluated at time `at`, default now) returns a series."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = query(prometheus_url, promql, at)["result"]
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{promql!r} returned nothing for {timeout_s} s")
        time.sleep(0.5)


def run_monitoring(stack, model: str, **params: object) -> tuple[dict, float]:
    """`kfp-mlops run-local monitoring --output json` in-process against `stack`.

    Args:
        stack: The stack it runs against (its env, ports and state folder).
        model: The model_name parameter.
        **params: Further pipeline parameters; reference_uri and retrain_data_uri default to
            the German credit data.

    Returns:
        The run's JSON summary and the time (time.time()) the run ended.
    """
    from kfp_mlops.cli.main import main

    params = {"reference_uri": GERMAN_CREDIT, "retrain_data_uri": GERMAN_CREDIT} | params
    pairs = [arg for key, value in params.items() for arg in ("-p", f"{key}={value}")]
    patch = stack_env(stack)
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            code = main(
                ["run-local", "monitoring", "--output", "json", "-p", f"model_name={model}", *pairs]
            )
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
