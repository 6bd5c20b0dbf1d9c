"""HTTP plumbing of the server and the sink: bounded bodies, JSON errors, per-route metrics."""

import json
import time

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse

from kfp_mlops.serve.frame import RequestError
from kfp_mlops.serve.metrics import Metrics

# 499 is nginx's "client closed request": the client is gone, so no one reads the answer.
REASONS = {
    400: "bad_request", 404: "not_found", 413: "too_large", 499: "client_closed",
    503: "not_ready",
}  # fmt: skip


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The request body, refused with 413 past `max_bytes` (declared or actually sent)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise RequestError(
            413,
            f"the body is {declared} bytes, more than the server's limit of {max_bytes} "
            "(--max-body-bytes); send fewer rows per request",
        )
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                raise RequestError(
                    413,
                    f"the body is more than the server's limit of {max_bytes} bytes "
                    "(--max-body-bytes); send fewer rows per request",
                )
            chunks.append(chunk)
    except ClientDisconnect:
        # The client left mid-body, or was cut off for sending it too slowly (408 already
        # sent by kfp_mlops.serve.connections): an answer, not a traceback, ends the request.
        raise RequestError(499, "the connection closed before the body arrived in full") from None
    return b"".join(chunks)


def parse_json(body: bytes) -> object:
    """The body as JSON, or a 400 naming where it is malformed.

    NaN and Infinity literals are refused. Nesting is bounded by the parser's recursion
    limit (about 1,000 levels, where a request needs 4 or 5): deeper is a 400, not a
    RecursionError; the checks after it refuse any nesting where a value belongs.
    """
    try:
        return json.loads(body, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise RequestError(400, f"the body is not valid JSON: {str(exc)[:200]}") from None
    except RecursionError:
        raise RequestError(
            400,
            "the body nests JSON arrays or objects too deep for the parser (about 1,000 "
            "levels); a V1 request needs 3, a V2 tensor its rank plus 3",
        ) from None


def error_response(status: int, message: str, metrics: Metrics) -> JSONResponse:
    """The JSON error body every refusal answers with: `{"error": message}`."""
    metrics.errors.labels(REASONS.get(status, "internal")).inc()
    return JSONResponse({"error": message}, status_code=status)


class RouteMetrics:
    """ASGI middleware: counts each answer by route template and status, and times it."""

    def __init__(self, app, metrics: Metrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        """Pass the request on; count and time its answer under the matched route's template."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), [500]

        async def capture(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            self.metrics.requests.labels(path, str(status[0])).inc()
            self.metrics.latency.labels(path).observe(time.perf_counter() - start)
