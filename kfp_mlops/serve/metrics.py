"""Prometheus metrics of the server and the sink: `kfp_mlops_` prefix, base units, no colons."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# Buckets for a model server whose single rows take about a millisecond.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# Requests per model call: 1 when requests do not overlap, up to --max-batch-rows.
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Metrics:
    """Every metric the server and the sink publish, in their own registry (not the global one).

    A registry per process object keeps tests that build several apps from sharing series.
    """

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.requests = Counter(
            "kfp_mlops_serve_requests", "HTTP requests answered, by route and status",
            ["route", "status"], registry=r,
        )  # fmt: skip
        self.latency = Histogram(
            "kfp_mlops_serve_request_duration_seconds", "Time to answer a request, by route",
            ["route"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.rows = Counter(
            "kfp_mlops_serve_prediction_rows", "Rows predicted", ["model"], registry=r
        )
        self.batch_requests = Histogram(
            "kfp_mlops_serve_batch_requests", "Requests predicted together in one model call",
            buckets=BATCH_BUCKETS, registry=r,
        )  # fmt: skip
        self.errors = Counter(
            "kfp_mlops_serve_errors", "Requests refused or failed, by reason", ["reason"],
            registry=r,
        )  # fmt: skip
        self.connections = Gauge(
            "kfp_mlops_serve_connections", "HTTP connections open now", registry=r
        )
        self.connections_closed = Counter(
            "kfp_mlops_serve_connections_closed",
            "Connections the server closed on a slow or silent client, by reason "
            "(header_timeout, body_timeout, keep_alive_timeout, max_connections)",
            ["reason"], registry=r,
        )  # fmt: skip
        self.ready = Gauge(
            "kfp_mlops_serve_ready", "1 once the model is loaded and warmed up", registry=r
        )
        self.log_queue = Gauge(
            "kfp_mlops_prediction_log_queue_rows", "Prediction-log rows waiting to be written",
            registry=r,
        )  # fmt: skip
        self.log_queue_bytes = Gauge(
            "kfp_mlops_prediction_log_queue_bytes",
            "Bytes the waiting prediction-log rows hold (against --log-max-bytes)", registry=r,
        )  # fmt: skip
        self.log_dropped = Counter(
            "kfp_mlops_prediction_log_dropped_rows",
            "Prediction-log rows dropped, by reason (queue_full, queue_bytes, write_failed, "
            "rejected_unwritten)",
            ["reason"], registry=r,
        )  # fmt: skip
        self.log_rejected = Counter(
            "kfp_mlops_prediction_log_rejected_rows",
            "Prediction-log rows set aside under _rejected/, by reason (type, schema, build, "
            "write_refused)", ["reason"], registry=r,
        )  # fmt: skip
        self.log_flushed = Counter(
            "kfp_mlops_prediction_log_flushed_rows", "Prediction-log rows written to S3",
            registry=r,
        )  # fmt: skip
        self.log_write_errors = Counter(
            "kfp_mlops_prediction_log_write_errors", "Failed prediction-log writes (retried)",
            registry=r,
        )  # fmt: skip
        self.shadow_requests = Counter(
            "kfp_mlops_shadow_requests",
            "Requests whose rows the shadow model was to predict, by outcome (predicted; "
            "dropped: its queue was full; failed: the shadow raised)",
            ["model", "outcome"], registry=r,
        )  # fmt: skip
        self.shadow_queue = Gauge(
            "kfp_mlops_shadow_queue_rows", "Rows waiting for the shadow model", registry=r
        )
        self.shadow_forward = Counter(
            "kfp_mlops_shadow_log_events",
            "Shadow request/response pairs posted to the log sink (--shadow-log-url), by "
            "outcome (sent, dropped: its queue was full, failed: the sink refused or did not "
            "answer)",
            ["outcome"], registry=r,
        )  # fmt: skip
        self.sink_events = Counter(
            "kfp_mlops_log_sink_events", "CloudEvents received by the sink, by type and outcome",
            ["type", "outcome"], registry=r,
        )  # fmt: skip
        self.sink_unmatched = Counter(
            "kfp_mlops_log_sink_unmatched", "Halves whose partner did not arrive in time",
            ["type"], registry=r,
        )  # fmt: skip

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
