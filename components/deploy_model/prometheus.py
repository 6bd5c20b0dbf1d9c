"""The one module that queries Prometheus: instant PromQL queries over its HTTP API."""

import json
import os
import urllib.error
import urllib.parse
import urllib.request

from components._shared.errors import ServiceError
from components._shared.redact import redact, redact_uri

PROMETHEUS_URL_ENV = "KFP_MLOPS_PROMETHEUS_URL"
TIMEOUT_S = 15.0


def prometheus_url() -> str:
    """Prometheus's base URL from the environment, or a clear error when it is not set."""
    url = os.environ.get(PROMETHEUS_URL_ENV, "").rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ServiceError(
            f"Prometheus is not configured: set {PROMETHEUS_URL_ENV} to its URL (e.g. "
            "http://prometheus-server.monitoring.svc.cluster.local) in the kfp-mlops-config "
            "ConfigMap; a canary cannot be judged without live metrics"
        )
    return url


def query(promql: str, at: float | None = None, url: str | None = None) -> list[dict]:
    """Run an instant query (`/api/v1/query`); the result vector, each {metric, value}.

    Raises:
        ServiceError: Prometheus does not answer, or answers with an error (bad PromQL).
    """
    base = url or prometheus_url()
    params = {"query": promql} | ({"time": f"{at:.3f}"} if at is not None else {})
    request = f"{base}/api/v1/query?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:
            body = json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        body = _error_body(exc)
    except (OSError, ValueError) as exc:
        raise ServiceError(
            f"Prometheus at {redact_uri(base)} ({PROMETHEUS_URL_ENV}) did not answer: "
            f"{type(exc).__name__}: {redact(exc)[:200]}"
        ) from None
    if body.get("status") != "success":
        raise ServiceError(
            f"Prometheus at {redact_uri(base)} refused the query {promql!r}: "
            f"{body.get('errorType')}: {redact(body.get('error'))[:300]}"
        )
    data = body["data"]
    if data.get("resultType") != "vector":
        raise ServiceError(f"Prometheus answered a {data.get('resultType')} to {promql!r}")
    return data["result"]


def _error_body(exc: "urllib.error.HTTPError") -> dict:
    try:
        return json.loads(exc.read())
    except ValueError:
        return {"status": "error", "errorType": str(exc.code), "error": exc.reason}


def scalar(promql: str, at: float | None = None, url: str | None = None) -> float | None:
    """The single value of a query that aggregates to one series; None when there is none."""
    result = query(promql, at, url)
    if not result:
        return None
    return float(result[0]["value"][1])
