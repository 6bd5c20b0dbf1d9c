"""`kfp-mlops serve|log-sink`: the model server and the sink for KServe's payload logger."""

import argparse
import math
import os
import re
from typing import TYPE_CHECKING

from components._shared.settings import MODEL_SHA256_ENV
from kfp_mlops.errors import UsageError

PIN_ENV = MODEL_SHA256_ENV  # what deploy_model renders into the predictor's env

if TYPE_CHECKING:  # the serving stack is imported only when a command runs
    from kfp_mlops.serve.connections import ConnectionLimits


def _positive(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number")
    return number


def _seconds(value: str) -> float:
    number = float(value)
    if not (math.isfinite(number) and number > 0):
        raise argparse.ArgumentTypeError(f"{value} is not a number of seconds above 0")
    return number


def _connection_limits(args: argparse.Namespace) -> "ConnectionLimits":
    from kfp_mlops.serve.connections import ConnectionLimits

    return ConnectionLimits(
        header_seconds=args.header_timeout_seconds,
        body_seconds=args.body_timeout_seconds,
        keep_alive_seconds=args.keep_alive_seconds,
        max_connections=args.max_connections,
    )


def _log_options(args: argparse.Namespace) -> dict | None:
    if getattr(args, "no_log", False):
        return None
    if args.log_flush_seconds <= 0:
        raise UsageError(f"--log-flush-seconds {args.log_flush_seconds} must be above 0")
    return {
        "max_rows": args.log_max_rows,
        "max_bytes": args.log_max_bytes,
        "flush_rows": args.log_flush_rows,
        "flush_seconds": args.log_flush_seconds,
    }


def _serve_cmd(args: argparse.Namespace) -> int:
    from kfp_mlops.cli.stackenv import use_local_stack
    from kfp_mlops.serve.app import Limits
    from kfp_mlops.serve.batch import Batching
    from kfp_mlops.serve.run import serve

    use_local_stack(required=True)
    if args.batch_wait_ms < 0:
        raise UsageError(f"--batch-wait-ms {args.batch_wait_ms} must be 0 or above")
    limits = Limits(max_rows=args.max_rows, max_body_bytes=args.max_body_bytes)
    batching = Batching(max_rows=args.max_batch_rows, wait_seconds=args.batch_wait_ms / 1000)
    return serve(
        args.model_uri,
        host=args.host,
        port=args.port,
        name=args.name,
        limits=limits,
        log_options=_log_options(args),
        batching=batching,
        fast_path=not args.no_fast_path,
        connections=_connection_limits(args),
        model_sha256=_pin(args.model_sha256 or os.environ.get(PIN_ENV, "")),
        auth_token_file=args.auth_token_file,
        shadow=_shadow_options(args),
    )


def _shadow_options(args: argparse.Namespace) -> dict | None:
    """The --shadow settings for serve(), or None; shadow flags without --shadow are refused."""
    if not args.shadow:
        given = [f for f, v in (("--shadow-sha256", args.shadow_sha256),
                                ("--shadow-log-url", args.shadow_log_url)) if v]  # fmt: skip
        if given:
            raise UsageError(f"{' and '.join(given)} without --shadow: name the shadow model")
        return None
    if args.shadow_log_url and not args.no_log:
        raise UsageError(
            "--shadow-log-url is for --no-log (a log sink writes the primary's rows too); "
            "with the built-in log the shadow's rows go to the same log"
        )
    if args.shadow_log_url and not re.match(r"https?://", args.shadow_log_url):
        raise UsageError(f"--shadow-log-url {args.shadow_log_url[:80]!r} is not an http(s) URL")
    return {
        "uri": args.shadow,
        "sha256": _pin(args.shadow_sha256, "--shadow-sha256"),
        "queue_rows": args.shadow_queue_rows,
        "log_url": args.shadow_log_url or None,
    }


def _pin(value: str, flag: str = f"--model-sha256 / {PIN_ENV}") -> str | None:
    """The sha256 pin as given, or None; anything but 64 hex digits is a usage error."""
    if not value:
        return None
    if not re.fullmatch(r"[0-9a-fA-F]{64}", value):
        raise UsageError(
            f"{flag} {value[:80]!r} is not a sha256 (64 hex digits); give the version's "
            "model_sha256 tag, or leave it unset"
        )
    return value.lower()


def _sink_cmd(args: argparse.Namespace) -> int:
    from kfp_mlops.cli.stackenv import use_local_stack
    from kfp_mlops.serve.run import log_sink

    use_local_stack(required=False)  # S3 for the log; MLflow, when there, for signatures
    return log_sink(
        host=args.host, port=args.port, log_options=_log_options(args),
        join_seconds=args.join_seconds, connections=_connection_limits(args),
        auth_token_file=args.auth_token_file, metrics_port=args.metrics_port,
    )  # fmt: skip


def _common(p: argparse.ArgumentParser, port: int) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to bind (container: 0.0.0.0)")
    p.add_argument("--port", type=int, default=port, help=f"port to bind (default {port})")
    p.add_argument(
        "--auth-token-file", metavar="FILE",
        help="require Authorization: Bearer <token> on every route but health and metrics; the "
        "file holds the accepted tokens, one per line, and is read again when it changes (a "
        "mounted Secret). Without it, no authentication: put a mesh in front",
    )  # fmt: skip
    log = p.add_argument_group(
        "prediction log (s3://kfp-mlops-data/predictions/ or KFP_MLOPS_PREDICTION_LOG_URI)"
    )
    log.add_argument(
        "--log-max-rows",
        type=_positive,
        default=100_000,
        help="rows queued at most; past it new rows are dropped and counted",
    )
    log.add_argument(
        "--log-max-bytes",
        type=_positive,
        default=256 << 20,
        help="bytes the queued rows may hold (default 256 MiB, sized for a 1 GiB pod); past "
        "it new rows are dropped and counted",
    )
    log.add_argument(
        "--log-flush-rows",
        type=_positive,
        default=25_000,
        help="write once this many rows are queued",
    )
    log.add_argument("--log-flush-seconds", type=float, default=5.0,
                     help="write at least this often")  # fmt: skip
    slow = p.add_argument_group("slow and silent clients (their connection is closed)")
    slow.add_argument("--header-timeout-seconds", type=_seconds, default=10.0,
                      help="request line and headers must arrive within this, from connect "
                      "or from the request's first byte (default 10)")  # fmt: skip
    slow.add_argument("--body-timeout-seconds", type=_seconds, default=30.0,
                      help="the whole body must arrive within this after the headers, or "
                      "408 (default 30)")  # fmt: skip
    slow.add_argument("--keep-alive-seconds", type=_seconds, default=5.0,
                      help="an idle connection between requests is closed after this "
                      "(default 5)")  # fmt: skip
    slow.add_argument("--max-connections", type=_positive, default=1000,
                      help="connections open at most; past it the one idle longest is "
                      "closed, or the new one when none is idle (default 1000)")  # fmt: skip


def add_parser(subparsers) -> None:
    """Register serve and log-sink on the sub-parsers."""
    s = subparsers.add_parser(
        "serve", help="serve a registered model: KServe V1 and V2 (Open Inference Protocol)"
    )
    s.add_argument("model_uri", help="models:/NAME@ALIAS or models:/NAME/VERSION")
    s.add_argument("--name", help="the name routes answer to (default the registered name)")
    s.add_argument(
        "--max-rows", type=_positive, default=10_000, help="rows one request may hold (more: 400)"
    )
    s.add_argument("--max-body-bytes", type=_positive, default=16 << 20,
                   help="bytes one request body may hold (more: 413)")  # fmt: skip
    s.add_argument(
        "--max-batch-rows", type=_positive, default=256,
        help="rows one model call takes at most when waiting requests are predicted together "
        "(1: no batching)",
    )  # fmt: skip
    s.add_argument(
        "--batch-wait-ms", type=float, default=0.0,
        help="how long a request that finds the model idle waits for others to join its "
        "batch (default 0: never waits)",
    )  # fmt: skip
    _common(s, 8080)
    s.add_argument("--no-log", action="store_true", help="serve without the prediction log")
    s.add_argument(
        "--model-sha256", default="",
        help=f"refuse to start unless the version's file has this sha256 (default "
        f"${PIN_ENV}; deploy_model renders it)",
    )  # fmt: skip
    s.add_argument(
        "--no-fast-path", action="store_true",
        help="preprocess through the model's own scikit-learn pipeline even when the numpy "
        "path is verified equal (slower per request; for comparison)",
    )  # fmt: skip
    shadow = s.add_argument_group(
        "shadow: a second version predicting the same rows off the request path "
        "(docs/serving.md, Shadow traffic)"
    )
    shadow.add_argument(
        "--shadow", metavar="MODEL_URI", default="",
        help="models:/NAME@ALIAS or models:/NAME/VERSION of the same model: answers still come "
        "from MODEL_URI alone; the shadow's predictions are logged with endpoint \"shadow\"",
    )  # fmt: skip
    shadow.add_argument(
        "--shadow-sha256", default="",
        help="refuse to start unless the shadow version's file has this sha256",
    )  # fmt: skip
    shadow.add_argument(
        "--shadow-queue-rows", type=_positive, default=10_000,
        help="rows waiting for the shadow at most; a request past it is not shadowed (counted "
        "as dropped) (default 10000)",
    )  # fmt: skip
    shadow.add_argument(
        "--shadow-log-url", metavar="URL", default="",
        help="with --no-log: post the shadow's rows to this log sink as payload-logger "
        "CloudEvents (Ce-Endpoint: shadow), as the InferenceService's logger posts the "
        "primary's",
    )  # fmt: skip
    s.set_defaults(func=_serve_cmd)

    k = subparsers.add_parser(
        "log-sink", help="receive KServe payload-logger CloudEvents into the prediction log"
    )
    _common(k, 8081)
    k.add_argument(
        "--metrics-port", type=int, default=9090,
        help="port of the metrics listener: /metrics (and /healthz) only, apart from the "
        "ingest port so that Prometheus may be let in to it alone (default 9090)",
    )  # fmt: skip
    k.add_argument("--join-seconds", type=float, default=30.0,
                   help="how long a request waits for its response (and back) before it is "
                   "dropped and counted")  # fmt: skip
    k.set_defaults(func=_sink_cmd)
