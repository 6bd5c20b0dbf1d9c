"""`kfp-mlops stack|compile|params|run-local`: the embedded stack and local runs."""

import argparse
import json
import shlex
import sys
from pathlib import Path

from components._shared.errors import KfpMlopsError
from components._shared.redact import redact
from kfp_mlops.errors import EXIT_FAILED, UsageError, exit_code, exit_code_for
from kfp_mlops.params.syntax import VALUE_HELP


def _stack_cmd(args: argparse.Namespace) -> int:
    from kfp_mlops.stack import Stack

    # Options given on the command line win over the environment and the remembered settings.
    stack = Stack.from_env(alert_webhook=args.alert_webhook, serve_target=args.serve_target)
    if args.action == "up":
        stack.up(monitoring_on=args.monitoring)
    elif args.action == "down":
        stack.down()
    elif args.action == "env":
        # For `eval "$(kfp-mlops stack env)"`: the CLI's registry and drift commands then reach
        # the local stack. Credentials go to stdout only because the user asked for them.
        for key, value in stack.env().items():
            print(f"export {key}={shlex.quote(value)}")
    else:
        status = stack.status()
        for service, info in status.items():
            state = (
                "up"
                if info.get("answering")
                else ("running, not answering" if info.get("running") else "down")
            )
            print(f"{service:<12} {state:<24} {info.get('url', '')}  pid={info.get('pid') or '-'}")
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


def described(name: str):
    """The pipeline's descriptor, or a UsageError listing the known ones."""
    from pipelines.descriptors import PIPELINES

    if name not in PIPELINES:
        raise UsageError(f"unknown pipeline {name!r}; expected one of {sorted(PIPELINES)}")
    return PIPELINES[name]


def _params_cmd(args: argparse.Namespace) -> int:
    import textwrap

    from kfp_mlops.params.describe import spec_descriptions
    from kfp_mlops.params.parse import spec_parameters

    spec = described(args.pipeline).compiled_path
    descriptions = spec_descriptions(spec)
    for p in spec_parameters(spec).values():
        kind = p.type.lower().replace("number_", "")
        print(f"{p.name:<36} {kind:<8} default {json.dumps(p.default)}")
        said = descriptions.get(p.name, [])
        for step, text in said:
            # Several steps read it and say different things: each is named.
            line = f"{step}: {text}" if len(said) > 1 else text
            print(textwrap.fill(line, 100, initial_indent="    ", subsequent_indent="      "))
    return 0


def _run_local_cmd(args: argparse.Namespace) -> int:
    from kfp_mlops.params.parse import resolve
    from kfp_mlops.runs.local import LocalRun
    from kfp_mlops.runs.render import render_text
    from kfp_mlops.stack import Stack

    pipeline = described(args.pipeline)
    spec = pipeline.compiled_path
    if not spec.exists():
        raise UsageError(f"{spec} is missing; run `kfp-mlops compile`")
    as_json = args.output == "json"
    say = (lambda msg: print(msg, file=sys.stderr)) if as_json else print
    stack = Stack.from_env()
    # The run's warm runner imports the task libraries and checks the parameters in a process
    # forked from it; kfp.local's process imports kfp meanwhile.
    with LocalRun(args.pipeline, stack.home) as run:
        params = resolve(
            spec, Path(args.params) if args.params else None, args.param, check=run.check()
        )
        try:
            stack.up(log=say)
        except KfpMlopsError as exc:
            if not as_json:
                raise
            # Scripts reading --output json get the one object they expect, even now.
            failed = {"pipeline": args.pipeline, "status": "failed", "blessed": None}
            failed |= {"model": None, "gates": dict.fromkeys(pipeline.gates)}
            print(json.dumps(failed | {"error": redact(exc)}, indent=2))
            return exit_code_for(exc)
        say(f"running compiled/{spec.name} with kfp.local (SubprocessRunner)")
        summary = run.run(spec, params, stack.env(), out=say)
    if as_json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        print(render_text(summary, stack.mlflow_url))
    return exit_code(summary)


def add_parser(sub) -> None:
    """Register stack, compile, params and run-local on the `kfp-mlops` sub-parsers."""
    s = sub.add_parser(
        "stack",
        help="start, stop or inspect the embedded stack (SeaweedFS + MLflow, + monitoring)",
    )
    s.add_argument(
        "action",
        choices=["up", "down", "status", "env"],
        help="env prints the shell exports that point other commands at this stack",
    )
    s.add_argument(
        "--monitoring",
        action="store_true",
        help="up: also start Prometheus, the Pushgateway and Alertmanager (kept on until down)",
    )
    s.add_argument(
        "--alert-webhook",
        metavar="URL",
        help="up: where Alertmanager posts alerts (default $KFP_MLOPS_ALERT_WEBHOOK_URL, "
        "else the remembered one, else none); '' removes it",
    )
    s.add_argument(
        "--serve-target",
        metavar="HOST:PORT",
        help="up: the model server Prometheus scrapes (default $KFP_MLOPS_SERVE_TARGET, "
        "else 127.0.0.1:8080)",
    )
    s.set_defaults(func=_stack_cmd)

    c = sub.add_parser("compile", help="compile every pipeline into compiled/")
    c.add_argument("--check", action="store_true", help="fail when compiled/ differs from the code")
    c.set_defaults(func=_compile_cmd)

    pp = sub.add_parser(
        "params",
        help="list a pipeline's parameters: type, default and what each means",
        description="List a pipeline's parameters from its compiled spec: type, default and "
        "the description the components' docstrings give each (the steps it feeds are named "
        "when they say different things).",
    )
    pp.add_argument("pipeline", help="pipeline name, e.g. training")
    pp.set_defaults(func=_params_cmd)

    r = sub.add_parser(
        "run-local",
        help="run a compiled pipeline with kfp.local against the embedded stack",
        description="Run a compiled pipeline with kfp.local against the embedded stack. A task "
        "that fails with a service error (MLflow or S3 not answering, a timeout) is retried "
        "as its spec says (5 s, then 10 s), each retry shown as 'retrying in N s'; any other "
        "error (a missing file, no champion, a wrong column) cannot pass on retry and fails "
        "the task at once.",
    )
    r.add_argument("pipeline", help="pipeline name, e.g. training")
    r.add_argument("--params", metavar="FILE", help="JSON or YAML file of pipeline parameters")
    r.add_argument(
        "-p",
        dest="param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=VALUE_HELP,
    )
    r.add_argument("--output", choices=["text", "json"], default="text")
    r.set_defaults(func=_run_local_cmd)
