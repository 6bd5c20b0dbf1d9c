"""The model server's routes: KServe V1, the Open Inference Protocol (V2), health and /metrics."""

import gc
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from components._shared.image import package_version
from components._shared.logformat import output_names
from kfp_mlops.serve.batch import Batcher, Batching, one_thread
from kfp_mlops.serve.frame import RequestError, check_request_id, checked_rows
from kfp_mlops.serve.http import RouteMetrics, error_response, parse_json, read_body
from kfp_mlops.serve.logrows import log_entry
from kfp_mlops.serve.metrics import Metrics
from kfp_mlops.serve.model import Prediction, ServedModel
from kfp_mlops.serve.predlog import PredictionLog
from kfp_mlops.serve.schema import V2_DATATYPE
from kfp_mlops.serve.v1 import v1_columns, v1_response
from kfp_mlops.serve.v2 import datatype_of, requested_outputs, v2_columns, v2_outputs


@dataclass(frozen=True)
class Limits:
    """What one request may hold."""

    max_rows: int = 10_000
    max_body_bytes: int = 16 << 20


class Server:
    """The served model, its readiness, its prediction log and its metrics."""

    def __init__(
        self,
        served: ServedModel,
        log: PredictionLog | None,
        limits: Limits,
        metrics: Metrics,
        batching: Batching | None = None,
        shadow=None,
    ):
        self.served, self.log, self.limits, self.metrics = served, log, limits, metrics
        self.shadow = shadow  # kfp_mlops.serve.shadow.Shadow, or None
        self.in_flight = 0  # requests between their check and their answer (shadow budget)
        self.batching = batching or Batching()
        self.batcher: Batcher | None = None
        self.ready = False
        # What every logged request shares: the model's facts, its input and output names.
        self.log_model = (served.registered_name, str(served.version))
        self.log_names = (
            tuple(served.schema.names),
            output_names(served.classes),
        )
        self.log_classes = pa.array(served.classes) if served.classes else None
        self.log_types = served.log_types()

    def warm_up(self) -> None:
        """One prediction before readiness: the first real request then pays no lazy setup."""
        self.served.warm_up()
        # Everything loaded so far (MLflow, sklearn, the model) lives as long as the process:
        # out of the collector's reach, a full collection no longer stalls a request ~100 ms.
        gc.freeze()
        self.ready = True
        self.metrics.ready.set(1)

    def check(self, name: str, version: str | None = None) -> None:
        """Refuse a model name or version this server does not serve (404) or not yet (503)."""
        served = self.served
        if name != served.name:
            raise RequestError(404, f"unknown model {name!r}; this server serves {served.name!r}")
        if version is not None and version != str(served.version):
            raise RequestError(
                404,
                f"model {name!r} has no version {version!r} here; it serves version "
                f"{served.version}",
            )
        if not self.ready:
            raise RequestError(503, f"model {name!r} is not ready yet (warming up)")

    def start_batching(self) -> None:
        """Start the batcher on the running event loop (the app's start-up, after the warm-up)."""
        self.batcher = Batcher(
            self.served.predict,
            ThreadPoolExecutor(1, "predict", initializer=one_thread),
            self.batching.max_rows,
            self.batching.wait_seconds,
            on_batch=self.metrics.batch_requests.observe,
        ).start()

    async def predict(
        self, columns: dict[str, list], request_id: str, nbytes: int = 0
    ) -> Prediction:
        """Check the columns, predict (batched with other requests), count rows, log them.

        Validation stays per request, so a bad request gets its own 400 and never joins a
        batch; the latency logged is this request's own, from its columns to its answer.
        """
        start = time.perf_counter()
        frame = checked_rows(columns, self.served.schema)
        self.in_flight += 1
        try:
            answer = await self.batcher.submit(frame)
        finally:
            self.in_flight -= 1
        latency = time.perf_counter() - start
        self.metrics.rows.labels(self.served.name).inc(len(frame))
        if self.log is not None:
            when = datetime.now(UTC)
            entry = log_entry(
                request_id, when, self.log_model, self.log_names, columns, answer, latency,
                self.log_classes, self.log_types,
            )  # fmt: skip
            # Partitioned by the registered name, whatever --name the routes answer to.
            self.log.submit(self.served.registered_name, when, len(frame), entry, nbytes)
        if self.shadow is not None:  # after the answer: the shadow never delays it
            self.shadow.offer(request_id, frame, columns, nbytes)
        return answer

    def metadata(self) -> dict:
        """V2 model metadata: name, versions, platform, input and output tensors."""
        served = self.served
        labels = datatype_of(served.classes)
        return {
            "name": served.name,
            "versions": [str(served.version)],
            "platform": "sklearn",
            "inputs": [
                {"name": c.name, "datatype": V2_DATATYPE[c.kind], "shape": [-1]}
                for c in served.schema.columns
            ],
            "outputs": [
                {"name": "predict", "datatype": labels, "shape": [-1]},
                {"name": "predict_proba", "datatype": "FP64", "shape": [-1, len(served.classes)]},
            ],
        }


def _routes(app: FastAPI, server: Server) -> None:
    served = server.served

    @app.get("/v1/models/{name}")
    async def v1_model(name: str):
        server.check(name)
        return {"name": name, "ready": server.ready}

    @app.post("/v1/models/{name}:predict")
    async def v1_predict(name: str, request: Request):
        server.check(name)
        raw = await read_body(request, server.limits.max_body_bytes)
        body = parse_json(raw)
        columns = v1_columns(body, served.schema, server.limits.max_rows)
        given = request.headers.get("x-request-id")
        request_id = check_request_id(given, "x-request-id") if given else uuid.uuid4().hex
        answer = await server.predict(columns, request_id, len(raw))
        payload = v1_response(answer.labels, answer.probabilities, served.classes, server.log_model)
        return JSONResponse(payload, headers={"x-request-id": request_id})

    @app.get("/v2")
    @app.get("/v2/")
    async def v2_server():
        return {"name": "kfp-mlops", "version": package_version(), "extensions": []}

    @app.get("/v2/health/live")
    async def v2_live():
        return {"live": True}

    @app.get("/v2/health/ready")
    async def v2_ready():
        if not server.ready:
            return JSONResponse({"ready": False}, status_code=503)
        return {"ready": True}

    @app.get("/v2/models/{name}")
    @app.get("/v2/models/{name}/versions/{version}")
    async def v2_model(name: str, version: str | None = None):
        server.check(name, version)
        return server.metadata()

    @app.get("/v2/models/{name}/ready")
    @app.get("/v2/models/{name}/versions/{version}/ready")
    async def v2_model_ready(name: str, version: str | None = None):
        server.check(name, version)
        return {"name": name, "ready": True}

    @app.post("/v2/models/{name}/infer")
    @app.post("/v2/models/{name}/versions/{version}/infer")
    async def v2_infer(name: str, request: Request, version: str | None = None):
        server.check(name, version)
        raw = await read_body(request, server.limits.max_body_bytes)
        body = parse_json(raw)
        columns = v2_columns(body, served.schema, server.limits.max_rows)
        outputs = requested_outputs(body)
        request_id = body.get("id") or uuid.uuid4().hex  # checked by v2_columns
        answer = await server.predict(columns, request_id, len(raw))
        return {
            "model_name": served.name,
            "model_version": str(served.version),
            "id": request_id,
            "outputs": v2_outputs(outputs, answer.labels, answer.probabilities, served.classes),
        }

    @app.get("/metrics")
    async def metrics():
        return Response(server.metrics.render(), media_type=server.metrics.content_type)


def build_app(server: Server) -> FastAPI:
    """The ASGI app: warm-up before readiness at start, the log flushed at shutdown."""

    @asynccontextmanager
    async def lifespan(_app):
        if server.shadow is not None:  # warmed up first: the primary's warm-up freezes the gc
            await run_in_threadpool(server.shadow.start)
        await run_in_threadpool(server.warm_up)
        server.start_batching()
        yield
        server.ready = False
        # uvicorn has let the requests in flight finish; anything still queued is predicted
        # (and its log rows submitted) before the log's last flush below.
        await server.batcher.close()
        if server.shadow is not None:  # its last rows reach the log before the log closes
            await run_in_threadpool(server.shadow.close)
        if server.log is not None:
            await run_in_threadpool(server.log.close)

    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)

    @app.exception_handler(RequestError)
    async def refused(_request, exc: RequestError):
        return error_response(exc.status, exc.message, server.metrics)

    @app.exception_handler(404)
    async def no_route(request, _exc):
        return error_response(404, f"no route {request.url.path}", server.metrics)

    @app.exception_handler(Exception)
    async def failed(_request, exc: Exception):
        # A bug, not a bad request: say what kind without echoing internals.
        return error_response(500, f"prediction failed ({type(exc).__name__})", server.metrics)

    _routes(app, server)
    app.add_middleware(RouteMetrics, metrics=server.metrics)
    return app
