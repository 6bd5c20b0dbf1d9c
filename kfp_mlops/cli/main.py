"""The `kfp-mlops` command line: stack, compile, run-local, data, drift, KFP, registry, serving."""

import argparse
import os
import sys

from components._shared.errors import KfpMlopsError
from components._shared.redact import redact
from kfp_mlops.errors import EXIT_INTERRUPTED, exit_code_for


def parser() -> argparse.ArgumentParser:
    """The argument parser (kept separate so the docs and tests can read it)."""
    from kfp_mlops.cli import data, drift, kfp, labels, local, mesh, registry, serve, suggest

    p = argparse.ArgumentParser(prog="kfp-mlops", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    for group in (local, data, labels, drift, suggest, kfp, registry, serve, mesh):
        group.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `kfp-mlops` console script; returns the exit code."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    try:
        return args.func(args)
    except KfpMlopsError as exc:
        print(f"error: {redact(exc)}", file=sys.stderr)  # messages may name a service URI
        return exit_code_for(exc)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
