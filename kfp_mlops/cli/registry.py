"""`kfp-mlops rollback|history`: the champion alias in the MLflow registry, and its moves."""

import argparse
import json


def _rollback_cmd(args: argparse.Namespace) -> int:
    from kfp_mlops.cli.stackenv import use_local_stack
    from kfp_mlops.model_registry.rollback import rollback

    use_local_stack(required=True)

    # A RollbackError (nothing changed) is exit 1 through kfp_mlops.errors, like every error.
    done = rollback(args.model, args.reason, expect_from=args.expect_from)
    print(
        f"{done['model']}: champion moved back from v{done['from']} to v{done['to']} "
        f"by {done['by']} at {done['at']} ({done['reason']})"
    )
    return 0


def _history_cmd(args: argparse.Namespace) -> int:
    from kfp_mlops.cli.stackenv import use_local_stack
    from kfp_mlops.model_registry.rollback import alias_history

    use_local_stack(required=True)

    moves = alias_history(args.model)
    if args.output == "json":
        print(json.dumps(moves, indent=2))
        return 0
    if not moves:
        print(f"{args.model}: no recorded alias moves")
    for m in moves:
        start = f"v{m['from_version']}" if m["from_version"] is not None else "(unset)"
        print(f"{m['time']}  {m['alias']:<10} {start:>7} -> v{m['version']:<5} "
              f"by {m['who']}: {m['why']}")  # fmt: skip
    return 0


def add_parser(subparsers) -> None:
    """Register rollback and history on the sub-parsers."""
    rb = subparsers.add_parser(
        "rollback", help="move MLflow alias champion back to the previous champion"
    )
    rb.add_argument("model", help="registered model name")
    rb.add_argument("--reason", default="", help="why (recorded in the audit trail and tags)")
    rb.add_argument(
        "--expect-from",
        type=int,
        metavar="VERSION",
        help="refuse (exit 1, nothing changed) unless the champion is this version",
    )
    rb.set_defaults(func=_rollback_cmd)

    h = subparsers.add_parser("history", help="the recorded alias moves of a model, oldest first")
    h.add_argument("model", help="registered model name")
    h.add_argument("--output", choices=["text", "json"], default="text")
    h.set_defaults(func=_history_cmd)
