"""`kfp-mlops promote NAME VERSION --alias ALIAS --reason TEXT [--expect-from V]`.

Moves any alias forward or sideways to a chosen version, the way every alias moves: under the
model's lease, recorded in the audit trail before the move (aliases.alias_moves). Before the
lease it checks that the version exists, that the alias is where `--expect-from` says, and
that the version loads (its file against `model_sha256`, its signature when a public key is
set, its class list: what `serve` would refuse is never promoted). `production` and `champion`
need an approval of the version (`kfp-mlops approve`), checked again under the lease, where
it is seen whole or not at all; a rejected version is promoted to no alias. A champion promoted by
hand records the champion it replaced, so `kfp-mlops rollback` can go back to it.
"""

import re
from datetime import UTC, datetime

from components._shared.errors import KfpMlopsError
from components._shared.registry.aliases import alias_moves
from components._shared.registry.approvals import (
    UNKNOWN_WHO,
    ApprovalError,
    check_promotable,
    check_version,
)
from components._shared.registry.names import CHAMPION, CHAMPION_SINCE_TAG, PREVIOUS_CHAMPION_TAG
from kfp_mlops.errors import UsageError
from kfp_mlops.model_registry.identity import who
from kfp_mlops.model_registry.loads import check_loads
from kfp_mlops.model_registry.notices import announce

UNCHANGED = "nothing was changed"
PROMOTED_TAG = "kfp_mlops.promoted."  # + alias: "<when> by <who> from vN: <why>"
# MLflow's alias rules: letters, digits, - and _; `latest` and `v<digits>` are reserved.
ALIAS = re.compile(r"[A-Za-z0-9_-]{1,255}")
RESERVED = re.compile(r"latest|[vV]\d+")


class PromoteError(KfpMlopsError):
    """No such model or version, a stale --expect-from, or the target does not load."""


def check_alias(alias: str) -> str:
    """The alias, checked against MLflow's rules (UsageError names them)."""
    if not ALIAS.fullmatch(alias) or RESERVED.fullmatch(alias):
        raise UsageError(
            f"--alias {alias!r} is not an alias MLflow accepts: letters, digits, '-' and '_', "
            f"not 'latest' or 'v<digits>'; {UNCHANGED}"
        )
    return alias


def promote(
    model: str,
    version: int,
    alias: str,
    reason: str,
    *,
    expect_from: int | None = None,
    user: str | None = None,
) -> dict:
    """Point `alias` at `version` under the lease, the record written before the move.

    Returns {model, alias, from, to, by, at, reason, moved} (moved False: it was there).

    Raises:
        UsageError: No reason, an alias MLflow refuses, or nobody to record as the mover.
        PromoteError: No such model or version, the alias is not at `expect_from` (or moved
            while promoting), or the version does not load. Nothing is changed then.
        ApprovalError: `production`/`champion` and the version is not approved, or it was
            rejected (any alias).
        ServiceError: MLflow or S3 failed; LeaseError when another holder keeps the lease.
    """
    from components._shared.registry.client import Registry

    if not reason.strip():
        raise UsageError(f"promote needs --reason TEXT (recorded in the audit trail); {UNCHANGED}")
    check_alias(alias)
    user = user or who()
    if user in UNKNOWN_WHO:
        raise UsageError(f"nobody to record as the mover: set KFP_MLOPS_USER; {UNCHANGED}")
    registry = Registry()
    try:
        check_version(registry, model, version, UNCHANGED)
    except ApprovalError as exc:
        raise PromoteError(str(exc)) from None
    seen = registry.aliases(model, UNCHANGED).get(alias)
    _check_at(model, alias, seen, expect_from, "--expect-from says")
    check_promotable(model, version, alias, UNCHANGED, registry)  # before the download
    refusal = f"model {model!r}: v{version} cannot be promoted: {{}}; {UNCHANGED}"
    check_loads(model, version, lambda why: PromoteError(refusal.format(why)))
    with alias_moves(model, user, UNCHANGED, registry=registry, rerun=False) as aliases:
        current = aliases.live.get(alias)
        if current != seen:
            raise PromoteError(
                f"model {model!r}: alias {alias!r} moved from {_at(seen)} to {_at(current)} "
                f"while promoting; {UNCHANGED}. Check `kfp-mlops history {model}` and re-run"
            )
        # Under the lease again: a decision is seen whole, or not at all.
        check_promotable(model, version, alias, UNCHANGED, registry)
        when = datetime.now(UTC).isoformat(timespec="seconds")
        done = {"model": model, "alias": alias, "from": current, "to": version, "by": user,
                "at": when, "reason": reason, "moved": current != version}  # fmt: skip
        if current == version:
            return done
        aliases.move(alias, version, f"promote: {reason}", tags=_tags(alias, current, done))
    announce(
        "promote",
        model,
        version,
        user,
        reason,
        alias=alias,
        detail=f"{alias}: {_at(current)} -> v{version}",
    )
    return done


def _tags(alias: str, current: int | None, done: dict) -> dict[str, str]:
    tags = {
        PROMOTED_TAG + alias: f"{done['at']} by {done['by']} from {_at(current)}: {done['reason']}"
    }
    if alias == CHAMPION:  # what rollback follows back
        tags[CHAMPION_SINCE_TAG] = done["at"]
        if current is not None:
            tags[PREVIOUS_CHAMPION_TAG] = str(current)
    return {key: value[:1000] for key, value in tags.items()}


def _check_at(model: str, alias: str, current: int | None, expected, source: str) -> None:
    """Refuse unless `alias` is where it was read (or where --expect-from says)."""
    if expected is None or current == expected:
        return
    raise PromoteError(
        f"model {model!r}: alias {alias!r} is {_at(current)}, not v{expected} as {source}; "
        f"{UNCHANGED}. Check `kfp-mlops history {model}` and re-run with the --expect-from it shows"
    )


def _at(version: int | None) -> str:
    return f"v{version}" if version is not None else "unset"
