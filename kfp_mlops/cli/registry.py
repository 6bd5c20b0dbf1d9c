"""`kfp-mlops approve|promote|rollback|history`: consent and alias moves in the MLflow registry."""

import argparse
import json
import sys

from kfp_mlops.errors import UsageError


def _rollback_cmd(args: argparse.Namespace) -> int:
    from kfp_mlops.cli.stackenv import use_local_stack
    from kfp_mlops.model_registry.rollback import rollback

    use_local_stack(required=True)

    reason = args.reason if args.reason is not None else _ask_reason()
    # A RollbackError (nothing changed) is exit 1 through kfp_mlops.errors, like every error.
    done = rollback(args.model, reason, expect_from=args.expect_from)
    print(
        f"{done['model']}: champion moved back from v{done['from']} to v{done['to']} "
        f"by {done['by']} at {done['at']} ({done['reason']})"
    )
    return 0


def _ask_reason() -> str:
    """A reason from the person at the terminal; in a script, a usage error saying --reason."""
    if not sys.stdin.isatty():
        raise UsageError(
            "rollback needs a reason for the audit trail: --reason TEXT (asked for on a "
            "terminal; this shell is not interactive); nothing was changed"
        )
    reason = input("Why roll back? (recorded in the audit trail) ").strip()
    if not reason:
        raise UsageError("no reason given; nothing was changed. Re-run with --reason TEXT")
    return reason


def _approve_cmd(args: argparse.Namespace) -> int:
    from kfp_mlops.cli.stackenv import use_local_stack
    from kfp_mlops.model_registry.approve import approve, describe

    use_local_stack(required=True)

    decision = approve(args.model, args.version, args.reason, reject=args.reject)
    print("\n".join(describe(decision)))
    return 0


def _promote_cmd(args: argparse.Namespace) -> int:
    from kfp_mlops.cli.stackenv import use_local_stack
    from kfp_mlops.model_registry.promote import promote

    use_local_stack(required=True)

    done = promote(args.model, args.version, args.alias, args.reason, expect_from=args.expect_from)
    start = f"v{done['from']}" if done["from"] is not None else "(unset)"
    if not done["moved"]:
        print(f"{done['model']}: {done['alias']} already at v{done['to']}; nothing recorded")
        return 0
    print(
        f"{done['model']}: {done['alias']} moved from {start} to v{done['to']} "
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
        print(f"{args.model}: no recorded alias moves or approvals")
    for m in moves:
        if m["action"] != "move":
            print(f"{m['time']}  {m['action']:<10} {'':>7}    v{m['version']:<5} "
                  f"by {m['who']}: {m['why']}")  # fmt: skip
            continue
        start = f"v{m['from_version']}" if m["from_version"] is not None else "(unset)"
        print(f"{m['time']}  {m['alias']:<10} {start:>7} -> v{m['version']:<5} "
              f"by {m['who']}: {m['why']}")  # fmt: skip
    return 0


def add_parser(subparsers) -> None:
    """Register approve, promote, rollback and history on the sub-parsers."""
    ap = subparsers.add_parser(
        "approve", help="approve (or --reject) a registered version, on the audit trail"
    )
    ap.add_argument("model", help="registered model name")
    ap.add_argument("version", type=int, help="version number")
    ap.add_argument("--reason", required=True, help="why (recorded in the audit trail)")
    ap.add_argument(
        "--reject",
        action="store_true",
        help="reject instead: the version is never promoted (withdraws an approval)",
    )
    ap.set_defaults(func=_approve_cmd)

    pr = subparsers.add_parser(
        "promote", help="move an alias to a chosen version, under the lock, recorded first"
    )
    pr.add_argument("model", help="registered model name")
    pr.add_argument("version", type=int, help="version number")
    pr.add_argument(
        "--alias", required=True, help="the alias to move (production, champion: approval needed)"
    )
    pr.add_argument("--reason", required=True, help="why (recorded in the audit trail)")
    pr.add_argument(
        "--expect-from",
        type=int,
        metavar="VERSION",
        help="refuse (exit 1, nothing changed) unless the alias is at this version",
    )
    pr.set_defaults(func=_promote_cmd)

    rb = subparsers.add_parser(
        "rollback", help="move MLflow alias champion back to the previous champion"
    )
    rb.add_argument("model", help="registered model name")
    rb.add_argument(
        "--reason",
        help="why (recorded in the audit trail and tags); asked for on a terminal, "
        "required in a script",
    )
    rb.add_argument(
        "--expect-from",
        type=int,
        metavar="VERSION",
        help="refuse (exit 1, nothing changed) unless the champion is this version",
    )
    rb.set_defaults(func=_rollback_cmd)

    h = subparsers.add_parser(
        "history", help="the recorded alias moves and approvals of a model, oldest first"
    )
    h.add_argument("model", help="registered model name")
    h.add_argument("--output", choices=["text", "json"], default="text")
    h.set_defaults(func=_history_cmd)
