"""The sink for KServe's payload logger: request and response CloudEvents joined on Ce-Id."""

import gc
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from components._shared.logformat import KIND_TYPES, META_TYPES, PRIMARY, SHADOW
from kfp_mlops.serve.frame import RequestError, check_request_id
from kfp_mlops.serve.http import RouteMetrics, error_response, parse_json, read_body
from kfp_mlops.serve.logrows import records
from kfp_mlops.serve.logtable import table
from kfp_mlops.serve.metrics import Metrics
from kfp_mlops.serve.payloads import Columns, input_columns, output_columns
from kfp_mlops.serve.predlog import PredictionLog

EVENT_TYPES = {
    "org.kubeflow.serving.inference.request": "request",
    "org.kubeflow.serving.inference.response": "response",
}
MAX_BODY_BYTES = 16 << 20
MAX_ATTRIBUTE_CHARS = 256  # any Ce-* header; a Kubernetes name is at most 63
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


@dataclass
class Half:
    """One event waiting for its partner, its payload already read as typed columns."""

    kind: str  # request or response
    columns: Columns
    body: dict  # the response's own facts (model_name, model_version); {} for a request
    model: str  # Ce-Inferenceservicename ("" when absent)
    time: datetime  # when the sink received it: the date partition, never Ce-Time
    stamp: datetime | None  # Ce-Time, for the latency only
    arrived: float  # monotonic seconds, for the join deadline
    nbytes: int = 0  # the body's size, against the byte budget of the waiting halves
    endpoint: str = PRIMARY  # logformat.SHADOW when Ce-Endpoint is "shadow"


def endpoint_of(value: str | None) -> str:
    """The log's endpoint of an event's Ce-Endpoint header.

    `kfp-mlops serve --shadow-log-url` sends its shadow's pairs with `Ce-Endpoint: shadow`;
    KServe's own logger sends the predictor's endpoint ("default", "canary"), which answered
    clients: primary.
    """
    return SHADOW if (value or "").strip().lower() == SHADOW else PRIMARY


def _event_time(value: str | None) -> datetime | None:
    if value and len(value) <= MAX_ATTRIBUTE_CHARS:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
        except ValueError:
            pass  # a malformed Ce-Time: the arrival times stand in for the latency
    return None


def _latency(request: Half, response: Half) -> float:
    """The response's Ce-Time minus the request's when both are plausible, else arrivals."""
    if request.stamp is not None and response.stamp is not None:
        stamped = (response.stamp - request.stamp).total_seconds()
        if 0 <= stamped <= (response.time - request.time).total_seconds() + 60:
            return stamped
    return max((response.time - request.time).total_seconds(), 0.0)


def _model(request: Half, response: Half) -> tuple[str, str | None]:
    """The registered name and version: the server's answer says them; else the service."""
    name, version = response.body.get("model_name"), response.body.get("model_version")
    if not (isinstance(name, str) and 0 < len(name) <= MAX_ATTRIBUTE_CHARS and name.isprintable()):
        name = request.model or response.model
    ok = isinstance(version, str | int) and not isinstance(version, bool)
    return name, str(version)[:MAX_ATTRIBUTE_CHARS] if ok else None


class Sink:
    """Halves waiting for their partners (bounded in count and in time), and the log they feed.

    KServe does not retry a sink's non-200, so every event that is well-formed is accepted;
    a half whose partner does not come within `join_seconds` is dropped and counted.
    """

    def __init__(self, log: PredictionLog, metrics: Metrics, *, join_seconds: float = 30.0,
                 max_pending: int = 10_000, max_pending_bytes: int = 128 << 20):  # fmt: skip
        self.log, self.metrics = log, metrics
        self.join_seconds, self.max_pending = join_seconds, max_pending
        self.max_pending_bytes = max_pending_bytes
        # Keyed by (Ce-Id, endpoint): a shadow's pair shares the primary's Ce-Id.
        self.pending: OrderedDict[tuple[str, str], Half] = OrderedDict()
        self.pending_bytes = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.sweeper = threading.Thread(target=self._sweep_loop, name="sink-sweeper", daemon=True)

    def accept(self, event_id: str, half: Half) -> bool:
        """Keep a half, or join it with its waiting partner; True when a pair was logged."""
        key = (event_id, half.endpoint)
        with self.lock:
            other = self.pending.get(key)
            if other is None or other.kind == half.kind:
                if other is not None:  # the same half again: the newer one stands
                    self._drop(key)
                self.pending[key] = half
                self.pending_bytes += half.nbytes
                # Bounded in count and in bytes: past either, the oldest halves go first.
                while len(self.pending) > self.max_pending or (
                    self.pending_bytes > self.max_pending_bytes
                ):
                    self._drop(next(iter(self.pending)))
                return False
            del self.pending[key]
            self.pending_bytes -= other.nbytes
        request, response = (other, half) if half.kind == "response" else (half, other)
        self._log_pair(event_id, request, response)
        return True

    def _log_pair(self, event_id: str, request: Half, response: Half) -> None:
        inputs, outputs = request.columns, response.columns
        if inputs.rows != outputs.rows or inputs.rows == 0:
            self.metrics.sink_events.labels("pair", "row_mismatch").inc()
            return
        clash = set(inputs.values) & (set(outputs.values) | set(META_TYPES))
        if clash:
            self.metrics.sink_events.labels("pair", "unreadable").inc()
            return
        model, version = _model(request, response)
        if not model:
            self.metrics.sink_events.labels("pair", "unreadable").inc()
            return
        kinds = inputs.kinds | outputs.kinds
        types = {n: KIND_TYPES[k] for n, k in kinds.items() if k is not None}
        rows = records(
            event_id, request.time, (model, version), inputs.values, outputs.values,
            _latency(request, response), response.endpoint,
        )  # fmt: skip
        try:
            built = table([rows], types)
        except (pa.ArrowException, OverflowError, UnicodeError):  # checked: not expected
            self.metrics.sink_events.labels("pair", "unreadable").inc()
            return
        self.log.submit(model, request.time, inputs.rows, built)
        self.metrics.sink_events.labels("pair", "logged").inc()

    def _drop(self, key: tuple[str, str]) -> None:
        half = self.pending.pop(key)
        self.pending_bytes -= half.nbytes
        self.metrics.sink_unmatched.labels(half.kind).inc()

    def sweep(self) -> int:
        """Drop and count halves older than join_seconds; returns how many."""
        deadline = time.monotonic() - self.join_seconds
        dropped = 0
        with self.lock:
            while self.pending:
                key, half = next(iter(self.pending.items()))
                if half.arrived > deadline:
                    break
                self._drop(key)
                dropped += 1
        return dropped

    def _sweep_loop(self) -> None:
        while not self.stopping.wait(min(1.0, self.join_seconds / 2)):
            self.sweep()

    def close(self) -> None:
        """Count the halves still waiting as unmatched, then flush the log."""
        self.stopping.set()
        with self.lock:
            for key in list(self.pending):
                self._drop(key)
        self.log.close()


def _attributes(headers) -> tuple[str, str, str]:
    """Ce-Id, the event's kind and Ce-Inferenceservicename, each checked (RequestError 400)."""
    long = sorted(
        k for k, v in headers.items() if k.startswith("ce-") and len(v) > MAX_ATTRIBUTE_CHARS
    )
    if long:
        raise RequestError(400, f"CloudEvent attribute(s) {long} longer than {MAX_ATTRIBUTE_CHARS}")
    event_id, event_type = headers.get("ce-id"), headers.get("ce-type", "")
    kind = EVENT_TYPES.get(event_type)
    if not event_id or kind is None:
        raise RequestError(
            400,
            f"not a payload-logger CloudEvent (Ce-Id {event_id!r}, Ce-Type "
            f"{event_type!r}); expected Ce-Type one of {sorted(EVENT_TYPES)}",
        )
    check_request_id(event_id, "Ce-Id")
    service = headers.get("ce-inferenceservicename", "")
    if service and not DNS_LABEL.fullmatch(service):
        raise RequestError(
            400,
            f"Ce-Inferenceservicename {service!r} is not a Kubernetes name (a DNS-1123 label: "
            "lowercase letters, digits and '-', at most 63, starting and ending alphanumeric)",
        )
    return event_id, kind, service


async def _event(request: Request, sink: Sink) -> dict:
    try:
        event_id, kind, service = _attributes(request.headers)
    except RequestError:
        sink.metrics.sink_events.labels("unknown", "refused").inc()
        raise
    raw = await read_body(request, MAX_BODY_BYTES)
    try:
        body = parse_json(raw)
        if kind == "request":
            columns, facts = input_columns(body), {}
        else:
            columns, facts = output_columns(body), body
    except RequestError:
        sink.metrics.sink_events.labels(kind, "refused").inc()
        raise
    half = Half(
        kind, columns, facts, service, datetime.now(UTC),
        _event_time(request.headers.get("ce-time")), time.monotonic(), len(raw),
        endpoint_of(request.headers.get("ce-endpoint")),
    )  # fmt: skip
    sink.metrics.sink_events.labels(kind, "accepted").inc()
    joined = sink.accept(event_id, half)
    return {"id": event_id, "joined": joined}


def build_sink_app(sink: Sink) -> FastAPI:
    """The sink's ingest app: POST / takes events, /healthz; flushes at shutdown."""

    async def lifespan(_app):
        sink.sweeper.start()
        gc.freeze()  # as in the server: full collections skip what was loaded at start
        yield
        await run_in_threadpool(sink.close)

    from contextlib import asynccontextmanager

    app = FastAPI(
        lifespan=asynccontextmanager(lifespan), openapi_url=None, docs_url=None, redoc_url=None
    )

    @app.exception_handler(RequestError)
    async def refused(_request, exc: RequestError):
        return error_response(exc.status, exc.message, sink.metrics)

    @app.post("/")
    async def event(request: Request):
        return await _event(request, sink)

    @app.get("/healthz")
    async def healthz():
        return {"live": True}

    app.add_middleware(RouteMetrics, metrics=sink.metrics)
    return app


def build_metrics_app(metrics: Metrics) -> FastAPI:
    """The sink's metrics listener: GET /metrics and /healthz, nothing else.

    On its own port so that a NetworkPolicy can open it to Prometheus while the ingest port
    stays open to the model servers alone.
    """
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/healthz")
    async def healthz():
        return {"live": True}

    @app.get("/metrics")
    async def render():
        return Response(metrics.render(), media_type=metrics.content_type)

    return app
