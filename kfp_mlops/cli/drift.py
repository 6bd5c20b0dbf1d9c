"""`kfp-mlops drift REFERENCE CURRENT`: the drift gate's core from the command line."""

import argparse
import json
import sys

from components._shared.errors import ConfigError, KfpMlopsError
from kfp_mlops.errors import EXIT_BLESSED, EXIT_REJECTED, exit_code_for


def _pairs(items: list[str], what: str) -> dict[str, str]:
    pairs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise ConfigError(f"{what} {item!r} is not COLUMN=VALUE")
        pairs[key] = value
    return pairs


def _columns(values: list[str] | None) -> list[str]:
    # Accept both `--columns a b` and `--columns a,b`.
    return [c for v in values or [] for c in v.split(",") if c]


def _thresholds(items: list[str]) -> dict[str, float]:
    out = {}
    for column, value in _pairs(items, "--threshold").items():
        try:
            out[column] = float(value)
        except ValueError:
            raise ConfigError(
                f"--threshold {column}={value!r}: {value!r} is not a number"
            ) from None
    return out


def _model(uri: str | None, sha256: str | None):
    if not uri:
        if sha256:
            raise ConfigError("--model-sha256 needs --model FILE.skops")
        return None
    from components._shared.registry.champion import load_model_uri

    found = load_model_uri(uri, sha256=sha256)
    if found is None:
        raise ConfigError(f"{uri} names no model version yet: train one, or leave --model out")
    if found.model is None:
        raise ConfigError(f"{uri} cannot be used: {found.problem}")
    return found.model


def _failed(args: argparse.Namespace, exc: Exception) -> int:
    from components._shared.redact import redact

    message = redact(exc)  # a library error may echo a URI or a credential
    if args.format == "json":
        print(json.dumps({"dataset": None, "columns": [], "error": message}, indent=2))
    print(f"error: {message}", file=sys.stderr)
    return exit_code_for(exc)


def _drift_cmd(args: argparse.Namespace) -> int:
    from components._shared.io.sources import open_source
    from components._shared.reports.markdown import write_text
    from components.detect_drift.core import detect_drift
    from components.detect_drift.report import as_json, render_html, render_markdown
    from kfp_mlops.cli.stackenv import use_local_stack

    try:
        # A registered --model needs MLflow; s3:// sources need the stack's S3 when it runs.
        registered = bool(args.model and args.model.startswith("models:/"))
        if registered:
            from components._shared.registry.champion import registered_uri

            registered_uri(args.model)  # a malformed URI is said before MLflow is looked for
        if registered or any(s.startswith("s3://") for s in (args.reference, args.current)):
            use_local_stack(required=registered)
        columns = _columns(args.columns)
        thresholds = _thresholds(args.threshold)
        methods = _pairs(args.column_method, "--column-method")
        model = _model(args.model, args.model_sha256)
        result = detect_drift(
            open_source(args.reference, "reference"),
            open_source(args.current, "current"),
            columns=columns,
            method=args.method,
            thresholds=thresholds,
            per_column_methods=methods,
            drift_share=args.drift_share,
            mode=args.mode,
            model=model,
        )
    except KfpMlopsError as exc:  # a ConfigError (bad flag or model URI) is exit 2
        return _failed(args, exc)
    if args.report:
        write_text(args.report, render_html(result))
    if args.format == "json":
        print(json.dumps(as_json(result), indent=2))
    else:
        print(render_markdown(result))
    return EXIT_REJECTED if result.drifted else EXIT_BLESSED


def add_parser(subparsers) -> None:
    """Register the `drift` sub-command on the `kfp-mlops` sub-parsers."""
    d = subparsers.add_parser(
        "drift",
        help="compare CURRENT with REFERENCE column by column (exit 3 when the dataset drifted)",
    )
    d.add_argument("reference", help="CSV/Parquet file, folder, s3:// object or s3://prefix/")
    d.add_argument("current", help="CSV/Parquet file, folder, s3:// object or s3://prefix/")
    d.add_argument(
        "--columns",
        nargs="+",
        metavar="COL",
        help="columns to compare (default: the --model's inputs, else all; a,b or a b)",
    )
    d.add_argument(
        "--method", default="auto", help="auto (Evidently 0.7 defaults) or a test name, e.g. psi"
    )
    d.add_argument(
        "--threshold",
        action="append",
        default=[],
        metavar="COL=VALUE",
        help="per-column threshold (repeatable)",
    )
    d.add_argument(
        "--column-method",
        action="append",
        default=[],
        metavar="COL=NAME",
        help="per-column test overriding --method (repeatable)",
    )
    d.add_argument(
        "--drift-share",
        type=float,
        default=0.5,
        help="dataset drift when this share of columns drifted (default 0.5)",
    )
    d.add_argument(
        "--model",
        metavar="URI",
        help="also compare the model's predictions: models:/NAME@ALIAS (e.g. @champion), "
        "models:/NAME/VERSION (MLflow at MLFLOW_TRACKING_URI) or a local .skops file; a "
        "registered version loads only if its file matches its model_sha256 tag",
    )
    d.add_argument(
        "--model-sha256",
        metavar="HEX",
        help="the sha256 a local --model file must have; without it a local file is checked "
        "against the trusted class list only (you vouch for the file you name)",
    )
    d.add_argument(
        "--mode",
        choices=["auto", "exact", "streaming"],
        default="auto",
        help="exact (memory grows with rows), streaming (bounded memory, KS/Wasserstein from a "
        "fine histogram with a stated error bound) or auto: exact up to 5e7 values (default)",
    )
    d.add_argument("--format", choices=["text", "json"], default="text")
    d.add_argument("--report", metavar="FILE.html", help="also write the HTML report here")
    d.set_defaults(func=_drift_cmd)
