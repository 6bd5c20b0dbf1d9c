"""Start the model server or the log sink with uvicorn; SIGTERM shuts down gracefully."""

import logging
import os
import signal
import socket
import sys
import threading

from components._shared.redact import redact
from components._shared.settings import s3_settings
from kfp_mlops.errors import UsageError
from kfp_mlops.serve.app import Limits, Server, build_app
from kfp_mlops.serve.auth import BearerAuth, Tokens
from kfp_mlops.serve.batch import Batching
from kfp_mlops.serve.connections import ConnectionLimits, guarded_protocol
from kfp_mlops.serve.metrics import Metrics
from kfp_mlops.serve.model import load_served
from kfp_mlops.serve.predlog import PredictionLog, log_prefix
from kfp_mlops.serve.signatures import RegistrySchemas


def _bind(host: str, port: int, flag: str) -> socket.socket:
    """A socket bound to host:port, or a UsageError naming the flag to change."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(
            f"{flag} {port}: cannot listen on {host}:{port} ({exc.strerror}); free the port or "
            f"give another with {flag}"
        ) from None
    sock.set_inheritable(True)
    return sock


class _MetricsListener:
    """A second uvicorn server on its own port and thread, for /metrics and /healthz only.

    Bound before the main server starts (a taken port ends the command at once); stopped after
    the main server has shut down, so the last scrape can still see the final counts.
    """

    def __init__(self, app, host: str, port: int):
        import uvicorn

        self.socket = _bind(host, port, "--metrics-port")
        config = uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan="off", ws="none",
            timeout_keep_alive=5,
        )  # fmt: skip
        self.server = uvicorn.Server(config)
        # Not the main thread: uvicorn leaves the signal handlers to the main server.
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True,
            name="metrics-listener",
        )  # fmt: skip

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.socket.close()


def _uvicorn(
    app,
    sock: socket.socket,
    limits: ConnectionLimits,
    metrics: Metrics,
    tokens=None,
    metrics_listener: _MetricsListener | None = None,
) -> None:
    import uvicorn

    if tokens is not None:  # outermost: nothing of the app runs for an unauthenticated call
        app = BearerAuth(app, tokens, metrics)

    # uvicorn re-raises the SIGTERM it shut down on once it is done; a no-op handler makes
    # that re-raise return, so a clean shutdown (log flushed) exits 0 instead of -15.
    signal.signal(signal.SIGTERM, lambda *_: None)

    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        # uvicorn's h11 protocol (what "auto" picks without httptools) with a deadline per
        # phase and a connection cap; no WebSocket routes, so no upgrade swaps the protocol.
        http=guarded_protocol(limits, metrics),
        ws="none",
        timeout_keep_alive=limits.keep_alive_seconds,
        # Requests in flight get this long after SIGTERM; the log is flushed after them.
        timeout_graceful_shutdown=10,
    )
    try:
        if metrics_listener is not None:
            metrics_listener.start()
        # On the socket bound before "serving on" was said: a taken port is a usage error
        # (exit 2, --port named) raised by _bind, never uvicorn's own message and exit.
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        if metrics_listener is not None:
            metrics_listener.stop()
        sock.close()


def _auth_said(tokens: Tokens | None) -> str:
    if tokens is None:
        return "no authentication (--auth-token-file, or a mesh in front)"
    return f"bearer token required ({tokens.path}) except on health and metrics"


def _log(
    metrics: Metrics, log_options: dict | None, schema=None, resolve=None
) -> tuple[PredictionLog | None, str]:
    if log_options is None:
        return None, "off"
    prefix = log_prefix()
    s3_settings()  # unconfigured S3 fails now, not at the first flush
    log = PredictionLog(prefix, metrics, schema=schema, resolve=resolve, **log_options)
    return log.start(), prefix


def _load_shadow(options: dict, primary, fast_path: bool):
    """The shadow model, loaded through the primary's sha-checked loader and checked against it.

    Raises:
        ConfigError, ModelTrustError, DataError, ServiceError: As load_served, the --shadow
            URI named; ConfigError also for a shadow whose inputs or classes differ (shadow.py).
    """
    from components._shared.errors import KfpMlopsError
    from kfp_mlops.serve.shadow import check_compatible

    uri = options["uri"]
    try:
        shadow = load_served(uri, fast_path=fast_path, pin=options.get("sha256"))
    except KfpMlopsError as exc:
        raise type(exc)(
            f"--shadow {uri} cannot be loaded, so the server does not start: {exc}"
        ) from None
    check_compatible(primary, shadow, uri)
    return shadow


def _shadow_runner(options: dict, shadow, metrics: Metrics, log: PredictionLog | None):
    """The shadow's queue and thread, writing to the log, or posting to --shadow-log-url."""
    from kfp_mlops.serve.shadow import Shadow, to_log
    from kfp_mlops.serve.shadowlog import Forwarder

    forwarder, emit, where = None, None, "not logged (--no-log, no --shadow-log-url)"
    if log is not None:
        emit, where = to_log(shadow, log), "the prediction log (endpoint shadow)"
    elif options.get("log_url"):
        forwarder = Forwarder(options["log_url"], shadow, metrics).start()
        emit, where = forwarder.emit, f"the log sink at {redact(options['log_url'])}"
    runner = Shadow(
        shadow, metrics, emit, max_rows=options.get("queue_rows", 10_000),
        after_close=forwarder.close if forwarder else None,
    )  # fmt: skip
    return runner, f"shadow models:/{shadow.registered_name}/{shadow.version} -> {where}"


def serve(
    model_uri: str,
    *,
    host: str,
    port: int,
    name: str | None,
    limits: Limits,
    log_options: dict | None,
    batching: Batching | None = None,
    fast_path: bool = True,
    connections: ConnectionLimits | None = None,
    model_sha256: str | None = None,
    auth_token_file: str | None = None,
    shadow: dict | None = None,
) -> int:
    """Load the model (errors end the command before a port is bound), then serve until SIGTERM.

    Args:
        model_uri: models:/NAME@ALIAS or models:/NAME/VERSION.
        host: Address to bind (127.0.0.1 locally; 0.0.0.0 in the container).
        port: Port to bind (8080 is KServe's convention).
        name: The name routes answer to; default the registered model's name.
        limits: Rows and body bytes a request may hold.
        log_options: PredictionLog settings (max_rows, flush_rows, flush_seconds), or None to
            serve without the prediction log.
        batching: Rows per model call and the wait for company (kfp_mlops.serve.batch).
        fast_path: Preprocess in numpy when verified equal to the pipeline (fastpath.py).
        connections: Deadlines for slow clients and the cap on open connections.
        model_sha256: The file the deployment pinned (deploy_model renders it); a version
            whose checked file is another one is refused.
        auth_token_file: Bearer tokens every route but health and metrics needs (auth.py).
        shadow: A second model predicting the same rows off the request path (shadow.py):
            {"uri", "sha256", "queue_rows", "log_url"}; None: no shadow.
    """
    from threadpoolctl import threadpool_limits

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    # One thread per prediction: requests already run side by side, and OpenMP's start-up
    # on every call tripled a single row's latency (benchmarks/serve.py).
    threadpool_limits(1)
    tokens = Tokens(auth_token_file) if auth_token_file else None  # before the model loads
    served = load_served(model_uri, name, fast_path=fast_path, pin=model_sha256)
    # The shadow loads and is checked before a port is bound: a bad one ends the command.
    shadowed = _load_shadow(shadow, served, fast_path) if shadow is not None else None
    sock = _bind(host, port, "--port")  # after the model loaded, before anything is said
    metrics = Metrics()
    log, where = _log(metrics, log_options, served.log_schema())
    runner, said = None, "no shadow"
    if shadowed is not None:
        runner, said = _shadow_runner(shadow, shadowed, metrics, log)
    server = Server(served, log, limits, metrics, batching, shadow=runner)
    if runner is not None:
        runner.busy = lambda: server.in_flight > 0
    print(
        f"serving models:/{served.registered_name}/{served.version} as {served.name!r} on "
        f"http://{host}:{port} (V1, V2, /metrics); prediction log: {redact(where)}; "
        f"rows reach the model through {served.path}; {said}; {_auth_said(tokens)}",
        file=sys.stderr,
        flush=True,
    )
    limits_ = connections or ConnectionLimits()
    _uvicorn(build_app(server), sock, limits_, metrics, tokens)
    return 0


def log_sink(
    *,
    host: str,
    port: int,
    log_options: dict,
    join_seconds: float,
    connections: ConnectionLimits | None = None,
    auth_token_file: str | None = None,
    metrics_port: int = 9090,
) -> int:
    """Serve the payload-logger sink until SIGTERM, writing joined events to the log.

    Events arrive on `port`; /metrics is served on `metrics_port` alone (with /healthz), so
    that Prometheus can be let in to the one and not the other.
    """
    from kfp_mlops.serve.sink import Sink, build_metrics_app, build_sink_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if metrics_port == port:
        raise UsageError(
            f"--metrics-port {metrics_port} is the ingest port (--port {port}); give the "
            "metrics another port, so that Prometheus can be let in to it alone"
        )
    tokens = Tokens(auth_token_file) if auth_token_file else None
    sock = _bind(host, port, "--port")
    metrics = Metrics()
    listener = _MetricsListener(build_metrics_app(metrics), host, metrics_port)
    # With a registry, a model's partitions take their input types from its signature.
    registry = bool(os.environ.get("MLFLOW_TRACKING_URI"))
    log, where = _log(metrics, log_options, resolve=RegistrySchemas() if registry else None)
    sink = Sink(log, metrics, join_seconds=join_seconds)
    types = "the registered signatures" if registry else "each day's first pair (no MLflow)"
    print(
        f"log sink on http://{host}:{port} (metrics on http://{host}:{metrics_port}/metrics); "
        f"prediction log: {redact(where)}; input types from {types}; {_auth_said(tokens)}",
        file=sys.stderr,
    )
    limits_ = connections or ConnectionLimits()
    _uvicorn(build_sink_app(sink), sock, limits_, metrics, tokens, listener)
    return 0
