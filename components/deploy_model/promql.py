"""Every PromQL query the canary judge runs, and how it selects the canary's pods.

The model server exposes `kfp_mlops_serve_requests_total{route,status}` and the histogram
`kfp_mlops_serve_request_duration_seconds_bucket{route,le}`. The canary's pods are told apart
by their labels: KServe's `serving.kserve.io/inferenceservice` and our
`kfp-mlops/model-version` (render.py), which Prometheus's usual Kubernetes pod scrape job turns
into `serving_kserve_io_inferenceservice` and `kfp_mlops_model_version` (labelmap
`__meta_kubernetes_pod_label_(.+)`), plus `namespace`. Only prediction routes count: health
probes and scrapes would dilute the error rate and the latency.
"""

SERVICE_LABEL = "serving_kserve_io_inferenceservice"
VERSION_LABEL = "kfp_mlops_model_version"
NAMESPACE_LABEL = "namespace"
PREDICTION_ROUTES = ".*(:predict|/infer)"
REQUESTS = "kfp_mlops_serve_requests_total"
DURATION_BUCKETS = "kfp_mlops_serve_request_duration_seconds_bucket"


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def selector(namespace: str, service: str, version: int, extra: str = "") -> str:
    """The label matchers of one version's pods of one InferenceService, prediction routes only."""
    matchers = [
        f'{NAMESPACE_LABEL}="{_quote(namespace)}"',
        f'{SERVICE_LABEL}="{_quote(service)}"',
        f'{VERSION_LABEL}="{version}"',
        f'route=~"{PREDICTION_ROUTES}"',
    ] + ([extra] if extra else [])
    return "{" + ", ".join(matchers) + "}"


def requests(sel: str, window_s: int) -> str:
    """Requests answered in the window."""
    return f"sum(increase({REQUESTS}{sel}[{window_s}s]))"


def server_errors(sel_5xx: str, window_s: int) -> str:
    """5xx answers in the window (a 4xx is the client's bad input, not the model's fault)."""
    return f"sum(increase({REQUESTS}{sel_5xx}[{window_s}s]))"


def p95_seconds(sel: str, window_s: int) -> str:
    """The 95th percentile of answer time over the window, in seconds."""
    return f"histogram_quantile(0.95, sum by (le) (rate({DURATION_BUCKETS}{sel}[{window_s}s])))"


def queries(namespace: str, service: str, version: int, window_s: int) -> dict[str, str]:
    """Name → PromQL of every number the judge reads."""
    sel = selector(namespace, service, version)
    sel_5xx = selector(namespace, service, version, 'status=~"5.."')
    return {
        "requests": requests(sel, window_s),
        "server_errors": server_errors(sel_5xx, window_s),
        "p95_seconds": p95_seconds(sel, window_s),
    }
