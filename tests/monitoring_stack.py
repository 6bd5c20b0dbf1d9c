"""Test helpers for the monitoring stack: a webhook receiver, Prometheus queries, a drifted run.

The receiver is a real HTTP server on 127.0.0.1 that Alertmanager posts to; it records each
body with the time it arrived.
"""

import contextlib
import io
import json
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.conftest import GERMAN_CREDIT, free_port

MODEL = "alerting-credit"
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class AlertReceiver:
    """A webhook on 127.0.0.1 that keeps every JSON body posted to it, with its arrival time."""

    def __init__(self):
        self.posts: list[tuple[float, dict]] = []  # (time.time() on arrival, body)
        self._arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._arrived:
                    receiver.posts.append((time.time(), json.loads(body)))
                    receiver._arrived.notify_all()
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for_alert(self, timeout_s: float, **labels: str) -> tuple[float, dict]:
        """The first firing alert whose labels include these, with the time its post arrived.

        Raises:
            AssertionError: None arrived within timeout_s; lists what did.
        """
        deadline = time.monotonic() + timeout_s
        with self._arrived:
            while True:
                for arrived, body in self.posts:
                    for alert in body.get("alerts", []):
                        fits = all(alert["labels"].get(k) == v for k, v in labels.items())
                        if fits and alert.get("status") == "firing":
                            return arrived, alert
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [a["labels"] for _, b in self.posts for a in b.get("alerts", [])]
                    raise AssertionError(
                        f"no firing alert with {labels} in {timeout_s} s; got {seen}"
                    )
                self._arrived.wait(left)

    def stop(self) -> None:
        """Stop serving (its own thread)."""
        self.server.shutdown()
        self.server.server_close()


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
