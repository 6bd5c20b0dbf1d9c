"""`kfp-mlops upload|run|schedule|runs`: compiled specs on a Kubeflow Pipelines server."""

import argparse
import json
from pathlib import Path

from kfp_mlops.params.syntax import VALUE_HELP


def _connect(args: argparse.Namespace):
    from kfp_mlops.kfp.client import Kfp, target

    return Kfp(target(args.host, args.token, args.namespace))


def _spec_and_params(args: argparse.Namespace):
    """Pipeline and parameters, checked against the compiled spec before any request."""
    from kfp_mlops.kfp.specs import local_spec
    from kfp_mlops.params.parse import resolve

    spec = local_spec(args.pipeline)
    params = resolve(Path(spec.path), Path(args.params) if args.params else None, args.param)
    return spec, params


def _upload_cmd(args: argparse.Namespace) -> int:
    from kfp_mlops.kfp.specs import local_spec
    from kfp_mlops.kfp.uploads import upload

    spec = local_spec(args.pipeline)
    result = upload(_connect(args), spec)
    what = f"compiled/{spec.name}.yaml (sha256 {spec.sha256[:12]})"
    if result["created"] == "pipeline":
        print(f"created pipeline {result['pipeline']} with {what} as its first version")
    elif result["created"] == "version":
        print(f"created version {result['version']!r} of pipeline {result['pipeline']}: {what}")
    else:
        print(
            f"{what} is already uploaded as version {result['version']!r} of "
            f"{result['pipeline']}; nothing created"
        )
    print(f"  UI  {result['url']}")
    return 0


def _run_cmd(args: argparse.Namespace) -> int:
    from kfp_mlops.kfp.runs import outcome, start_run, wait_run

    spec, params = _spec_and_params(args)
    kfp = _connect(args)
    started = start_run(kfp, spec, params, args.experiment)
    print(
        f"started run {started['name']!r} ({started['run_id']}) of version {started['version']!r}"
    )
    print(f"  UI  {started['url']}")
    if not args.wait:
        return 0
    run = wait_run(kfp, started["run_id"], args.timeout, args.poll, print)
    code, verdict = outcome(run, spec.pipeline)
    print(f"run {verdict}")
    print(f"  UI  {started['url']}")
    return code


def _schedule_cmd(args: argparse.Namespace) -> int:
    from kfp_mlops.kfp.cron import validate_cron
    from kfp_mlops.kfp.schedules import schedule
    from kfp_mlops.kfp.specs import PREFIX

    cron = validate_cron(args.cron)
    spec, params = _spec_and_params(args)
    result = schedule(
        _connect(args),
        spec,
        params,
        cron=cron,
        name=args.name or f"{PREFIX}{spec.name}-schedule",
        experiment=args.experiment,
        replace=args.replace,
        catchup=args.catchup,
    )
    catchup = "on" if result["catchup"] else "off"
    print(
        f"scheduled {result['name']!r} ({result['recurring_run_id']}): cron {result['cron']!r}, "
        f"catch-up {catchup}, version {result['version']!r}"
    )
    if result["replaced"]:
        print(f"  replaced {', '.join(result['replaced'])}")
    print(f"  UI  {result['url']}")
    return 0


def _runs_cmd(args: argparse.Namespace) -> int:
    from kfp_mlops.kfp.runs import recent_runs
    from kfp_mlops.kfp.specs import local_spec

    if args.pipeline:
        local_spec(args.pipeline)  # unknown name → usage error listing the known ones
    rows = recent_runs(_connect(args), args.limit, args.pipeline)
    if args.output == "json":
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no runs")
    for r in rows:
        print(f"{r['created_at'] or '-':<26} {r['state'] or '-':<10} {r['pipeline'] or '-':<12} "
              f"{r['version'] or '-':<28} {r['name']}  ({r['run_id']})")  # fmt: skip
    return 0


def _connection_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", help="KFP API URL (default: $KF_PIPELINES_ENDPOINT)")
    p.add_argument(
        "--token",
        help="bearer token (default: $KF_PIPELINES_TOKEN, else the service-account token "
        "file $KF_PIPELINES_SA_TOKEN_PATH or /var/run/secrets/kubeflow/pipelines/token)",
    )
    p.add_argument("--namespace", help="profile namespace on multi-user Kubeflow")


def _params_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--params", metavar="FILE", help="JSON or YAML file of pipeline parameters")
    p.add_argument(
        "-p", dest="param", action="append", default=[], metavar="KEY=VALUE",
        help=VALUE_HELP,
    )  # fmt: skip
    p.add_argument("--experiment", default="kfp-mlops", help="KFP experiment (default kfp-mlops)")


def add_parser(subparsers) -> None:
    """Register upload, run, schedule and runs on the sub-parsers."""
    u = subparsers.add_parser("upload", help="upload compiled/PIPELINE.yaml to KFP (idempotent)")
    u.add_argument("pipeline", help="pipeline name, e.g. training")
    _connection_args(u)
    u.set_defaults(func=_upload_cmd)

    r = subparsers.add_parser("run", help="run the uploaded version of a pipeline on KFP")
    r.add_argument("pipeline", help="pipeline name, e.g. training")
    _params_args(r)
    r.add_argument("--wait", action="store_true", help="follow the run; exit 0/3/1 like run-local")
    r.add_argument("--timeout", type=float, default=3600, help="seconds to wait (default 3600)")
    r.add_argument("--poll", type=float, default=10, help="seconds between polls (default 10)")
    _connection_args(r)
    r.set_defaults(func=_run_cmd)

    s = subparsers.add_parser("schedule", help="create a recurring run on a 6-field cron")
    s.add_argument("pipeline", help="pipeline name, e.g. monitoring")
    s.add_argument(
        "--cron", required=True, help="6 fields, seconds first: '0 0 6 * * *' = daily 06:00"
    )
    _params_args(s)
    s.add_argument("--name", help="recurring run name (default kfp-mlops-PIPELINE-schedule)")
    s.add_argument("--replace", action="store_true", help="replace a recurring run of that name")
    s.add_argument("--catchup", action="store_true", help="backfill missed intervals (off)")
    _connection_args(s)
    s.set_defaults(func=_schedule_cmd)

    ls = subparsers.add_parser("runs", help="list recent KFP runs")
    ls.add_argument("--pipeline", help="only runs of this pipeline, e.g. training")
    ls.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    ls.add_argument("--output", choices=["text", "json"], default="text")
    _connection_args(ls)
    ls.set_defaults(func=_runs_cmd)
