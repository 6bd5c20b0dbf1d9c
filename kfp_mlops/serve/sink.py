"""The sink for KServe's payload logger: request and response CloudEvents joined on Ce-Id."""

import gc
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from kfp_mlops.serve.frame import RequestError
from kfp_mlops.serve.http import RouteMetrics, error_response, parse_json, read_body
from kfp_mlops.serve.logrows import records
from kfp_mlops.serve.metrics import Metrics
from kfp_mlops.serve.payloads import input_columns, output_columns
from kfp_mlops.serve.predlog import PredictionLog

EVENT_TYPES = {
    "org.kubeflow.serving.inference.request": "request",
    "org.kubeflow.serving.inference.response": "response",
}
MAX_BODY_BYTES = 16 << 20


@dataclass
class Half:
    """One event waiting for its partner."""

    kind: str  # request or response
    body: object
    model: str
    time: datetime  # Ce-Time, or when it arrived
    arrived: float  # monotonic seconds, for the join deadline


def _event_time(value: str | None) -> datetime:
    if value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
        except ValueError:
            pass  # a malformed Ce-Time: the arrival time stands in
    return datetime.now(UTC)


class Sink:
    """Halves waiting for their partners (bounded in count and in time), and the log they feed.

    KServe does not retry a sink's non-200, so every event that is well-formed is accepted;
    a half whose partner does not come within `join_seconds` is dropped and counted.
    """

    def __init__(self, log: PredictionLog, metrics: Metrics, *, join_seconds: float = 30.0,
                 max_pending: int = 10_000):  # fmt: skip
        self.log, self.metrics = log, metrics
        self.join_seconds, self.max_pending = join_seconds, max_pending
        self.pending: OrderedDict[str, Half] = OrderedDict()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.sweeper = threading.Thread(target=self._sweep_loop, name="sink-sweeper", daemon=True)

    def accept(self, event_id: str, half: Half) -> bool:
        """Keep a half, or join it with its waiting partner; True when a pair was logged."""
        with self.lock:
            other = self.pending.get(event_id)
            if other is None or other.kind == half.kind:
                if other is not None:  # the same half again: the newer one stands
                    self.metrics.sink_unmatched.labels(other.kind).inc()
                self.pending[event_id] = half
                self.pending.move_to_end(event_id)
                while len(self.pending) > self.max_pending:
                    _, oldest = self.pending.popitem(last=False)
                    self.metrics.sink_unmatched.labels(oldest.kind).inc()
                return False
            del self.pending[event_id]
        request, response = (other, half) if half.kind == "response" else (half, other)
        self._log_pair(event_id, request, response)
        return True

    def _log_pair(self, event_id: str, request: Half, response: Half) -> None:
        try:
            inputs = input_columns(request.body)
            outputs = output_columns(response.body)
        except RequestError:
            self.metrics.sink_events.labels("pair", "unreadable").inc()
            return
        n_in, n_out = len(next(iter(inputs.values()))), len(next(iter(outputs.values())))
        if n_in != n_out or n_in == 0:
            self.metrics.sink_events.labels("pair", "row_mismatch").inc()
            return
        body = response.body if isinstance(response.body, dict) else {}
        model = request.model or str(body.get("model_name") or "unknown")
        version = body.get("model_version")
        latency = (response.time - request.time).total_seconds()

        def make() -> dict[str, list]:
            facts = (model, None if version is None else str(version))
            return records(event_id, request.time, facts, inputs, outputs, max(latency, 0.0))

        self.log.submit(model, request.time, n_in, make)
        self.metrics.sink_events.labels("pair", "logged").inc()

    def sweep(self) -> int:
        """Drop and count halves older than join_seconds; returns how many."""
        deadline = time.monotonic() - self.join_seconds
        dropped = 0
        with self.lock:
            while self.pending:
                event_id, half = next(iter(self.pending.items()))
                if half.arrived > deadline:
                    break
                del self.pending[event_id]
                self.metrics.sink_unmatched.labels(half.kind).inc()
                dropped += 1
        return dropped

    def _sweep_loop(self) -> None:
        while not self.stopping.wait(min(1.0, self.join_seconds / 2)):
            self.sweep()

    def close(self) -> None:
        """Count the halves still waiting as unmatched, then flush the log."""
        self.stopping.set()
        with self.lock:
            for half in self.pending.values():
                self.metrics.sink_unmatched.labels(half.kind).inc()
            self.pending.clear()
        self.log.close()


async def _event(request: Request, sink: Sink) -> dict:
    headers = request.headers
    event_id, event_type = headers.get("ce-id"), headers.get("ce-type", "")
    kind = EVENT_TYPES.get(event_type)
    if not event_id or kind is None:
        sink.metrics.sink_events.labels(kind or "unknown", "refused").inc()
        raise RequestError(
            400,
            f"not a payload-logger CloudEvent (Ce-Id {event_id!r}, Ce-Type "
            f"{event_type!r}); expected Ce-Type one of {sorted(EVENT_TYPES)}",
        )
    body = parse_json(await read_body(request, MAX_BODY_BYTES))
    half = Half(
        kind, body, headers.get("ce-inferenceservicename", ""), _event_time(headers.get("ce-time")),
        time.monotonic(),
    )  # fmt: skip
    sink.metrics.sink_events.labels(kind, "accepted").inc()
    joined = sink.accept(event_id, half)
    return {"id": event_id, "joined": joined}


def build_sink_app(sink: Sink) -> FastAPI:
    """The sink's ASGI app: POST / takes events, /metrics, /healthz; flushes at shutdown."""

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

    @app.get("/metrics")
    async def metrics():
        return Response(sink.metrics.render(), media_type=sink.metrics.content_type)

    app.add_middleware(RouteMetrics, metrics=sink.metrics)
    return app
