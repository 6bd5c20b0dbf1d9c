"""The `kfp-mlops` command line: stack, compile, params, run-local, drift, suggest-suite."""

import argparse
import json
import os
import sys
from pathlib import Path

from components._shared.errors import KfpMlopsError
from components._shared.redact import redact
from pipelines.summary import EXIT_FAILED, EXIT_USAGE, exit_code, render_text


def _stack_cmd(args: argparse.Namespace) -> int:
    from pipelines.stack import Stack

    stack = Stack.from_env()
    if args.action == "up":
        stack.up()
    elif args.action == "down":
        stack.down()
    else:
        status = stack.status()
        for service, info in status.items():
            state = (
                "up"
                if info.get("answering")
                else ("running, not answering" if info.get("running") else "down")
            )
            print(f"{service:<8} {state:<24} {info.get('url', '')}  pid={info.get('pid') or '-'}")
        return 0 if all(i.get("answering") for i in status.values()) else 1
    return 0


def _compile_cmd(args: argparse.Namespace) -> int:
    from pipelines.compile import compile_all, stale

    if args.check:
        names = stale()
        if names:
            print(
                f"compiled/ is stale for {names}; run `kfp-mlops compile` and commit the result",
                file=sys.stderr,
            )
            return EXIT_FAILED
        print("compiled/ is up to date")
        return 0
    compile_all()
    return 0


def _params_cmd(args: argparse.Namespace) -> int:
    from pipelines.params import spec_parameters
    from pipelines.registry import compiled_path, pipelines

    if args.pipeline not in pipelines():
        print(
            f"unknown pipeline {args.pipeline!r}; expected one of {sorted(pipelines())}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    for p in spec_parameters(compiled_path(args.pipeline)).values():
        kind = p.type.lower().replace("number_", "")
        print(f"{p.name:<36} {kind:<8} default {json.dumps(p.default)}")
    return 0


def _run_local_cmd(args: argparse.Namespace) -> int:
    from pipelines.local_run import run_local
    from pipelines.params import resolve
    from pipelines.registry import compiled_path, pipelines
    from pipelines.stack import Stack

    if args.pipeline not in pipelines():
        print(
            f"unknown pipeline {args.pipeline!r}; expected one of {sorted(pipelines())}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    spec = compiled_path(args.pipeline)
    if not spec.exists():
        print(f"{spec} is missing; run `kfp-mlops compile`", file=sys.stderr)
        return EXIT_USAGE
    params = resolve(spec, Path(args.params) if args.params else None, args.param)
    as_json = args.output == "json"
    say = (lambda msg: print(msg, file=sys.stderr)) if as_json else print
    stack = Stack.from_env()
    try:
        stack.up(log=say)
    except KfpMlopsError as exc:
        if not as_json:
            raise
        # Scripts reading --output json get the one object they expect, even now.
        failed = {"pipeline": args.pipeline, "status": "failed", "blessed": None, "model": None}
        failed |= {
            "gates": dict.fromkeys(("validation", "evaluation", "fairness")),
            "error": redact(exc),
        }
        print(json.dumps(failed, indent=2))
        return EXIT_FAILED
    say(f"running compiled/{spec.name} with kfp.local (SubprocessRunner)")
    summary = run_local(args.pipeline, spec, params, stack.env(), stack.home, out=say)
    if as_json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        print(render_text(summary, stack.mlflow_url))
    return exit_code(summary)


def parser() -> argparse.ArgumentParser:
    """The argument parser (kept separate so the docs and tests can read it)."""
    p = argparse.ArgumentParser(prog="kfp-mlops", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser(
        "stack", help="start, stop or inspect the embedded stack (SeaweedFS + MLflow)"
    )
    s.add_argument("action", choices=["up", "down", "status"])
    s.set_defaults(func=_stack_cmd)

    c = sub.add_parser("compile", help="compile every pipeline into compiled/")
    c.add_argument("--check", action="store_true", help="fail when compiled/ differs from the code")
    c.set_defaults(func=_compile_cmd)

    pp = sub.add_parser("params", help="list a pipeline's parameters, types and defaults")
    pp.add_argument("pipeline", help="pipeline name, e.g. training")
    pp.set_defaults(func=_params_cmd)

    r = sub.add_parser(
        "run-local", help="run a compiled pipeline with kfp.local against the embedded stack"
    )
    r.add_argument("pipeline", help="pipeline name, e.g. training")
    r.add_argument("--params", metavar="FILE", help="JSON or YAML file of pipeline parameters")
    r.add_argument(
        "-p",
        dest="param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set one parameter (repeatable); VALUE=@FILE reads it from a file",
    )
    r.add_argument("--output", choices=["text", "json"], default="text")
    r.set_defaults(func=_run_local_cmd)

    from pipelines import cli_drift, cli_kfp, cli_suggest

    cli_drift.add_parser(sub)
    cli_suggest.add_parser(sub)
    cli_kfp.add_parser(sub)
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
        from pipelines.params import UsageError

        print(f"error: {redact(exc)}", file=sys.stderr)  # messages may name a service URI
        return EXIT_USAGE if isinstance(exc, UsageError) else EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
