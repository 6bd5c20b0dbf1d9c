"""`kfp-mlops rollback MODEL`: move `champion` back to the champion it replaced, and say why.

The previous champion is the one register_model recorded on the current champion when it
promoted it (`kfp_mlops.previous_champion`). Rolling back again goes one step further back
along that chain. Rollback holds the same registry lock as register_model, refuses when the
champion is not the one it read (or the one `--expect-from` names), and records who, when and
why in the audit trail and on both versions before it moves the alias.
"""

from datetime import UTC, datetime

from components._shared.registry.aliases import Marks, alias_moves
from components._shared.registry.audit import Trail
from components._shared.registry.names import CHAMPION, CHAMPION_SINCE_TAG, PREVIOUS_CHAMPION_TAG
from kfp_mlops.errors import RollbackError
from kfp_mlops.model_registry.identity import USER_ENV, who  # noqa: F401 (rollback.who)
from kfp_mlops.model_registry.loads import check_loads
from kfp_mlops.model_registry.movers import with_movers
from kfp_mlops.model_registry.notices import announce

ROLLED_BACK = "kfp_mlops.rolled_back"  # on the demoted version: "<when> by <who> to vN"
UNCHANGED = "nothing was changed"
MARKS = Marks(recorded="rollback.record_written", moved="rollback.champion_moved")


def rollback(
    model: str, reason: str, user: str | None = None, expect_from: int | None = None
) -> dict:
    """Point `champion` at the previous champion, under the registry lock, recorded first.

    Args:
        model: Registered model name.
        reason: Why (recorded); empty means "no reason given" (the CLI asks for one).
        user: Who (recorded); default KFP_MLOPS_USER or the login name.
        expect_from: Refuse unless the champion is this version (for scripts).

    Raises:
        RollbackError: No champion, no previous champion recorded, the previous version is
            gone, or the champion is not the one read (or expected). Nothing is changed then.
        ServiceError: MLflow or S3 is not configured or does not answer; LeaseError when
            another holder keeps the registry lock past the wait.
    """
    from components._shared.registry.client import Registry

    registry = Registry()
    _exists(registry, model)
    seen = registry.aliases(model, UNCHANGED).get(CHAMPION)
    _check_champion(model, seen, expect_from, "--expect-from says")
    # Loading takes a download: done before the lock, then the target is checked unchanged.
    target = _previous(registry, model, seen)
    check_loads(
        model, target,
        lambda why: RollbackError(
            f"model {model!r}: previous champion v{target} cannot be rolled back to: {why}; "
            f"{UNCHANGED}"
        ),
    )  # fmt: skip
    user = user or who()
    with alias_moves(model, user, UNCHANGED, registry=registry, rerun=False) as aliases:
        current = aliases.live.get(CHAMPION)
        _check_champion(model, current, seen, "rollback read it (it moved meanwhile)")
        previous = _previous(registry, model, current)
        if previous != target:
            raise RollbackError(
                f"model {model!r}: v{current}'s previous champion changed from v{target} to "
                f"v{previous} while rolling back; {UNCHANGED}. Re-run"
            )
        when, why = datetime.now(UTC).isoformat(timespec="seconds"), reason or "no reason given"
        _tag_demoted(registry, model, current, previous, user, when, why)
        restored = _restored_tags(current, user, when, why)
        aliases.move(CHAMPION, previous, f"rollback: {why}", tags=restored, marks=MARKS)
    announce("rollback", model, previous, user, why, detail=f"champion: v{current} -> v{previous}")
    return {"model": model, "from": current, "to": previous, "by": user, "at": when,
            "reason": why}  # fmt: skip


def _check_champion(model: str, current: int | None, expected: int | None, source: str) -> None:
    """Refuse unless the champion is the expected one (what was read, or --expect-from)."""
    if current is None:
        raise RollbackError(f"model {model!r} has no champion; nothing to roll back")
    if expected is not None and current != expected:
        raise RollbackError(
            f"model {model!r}: the champion is v{current}, not v{expected} as {source}; "
            f"{UNCHANGED}. Check `kfp-mlops history {model}` and "
            "re-run, with --expect-from VERSION in scripts"
        )


def _previous(registry, model: str, current: int) -> int:
    """The champion `current` replaced, checked to exist."""
    previous = registry.version_tags(model, current, UNCHANGED).get(PREVIOUS_CHAMPION_TAG)
    if not previous:
        raise RollbackError(
            f"model {model!r}: champion v{current} records no previous champion "
            f"(tag {PREVIOUS_CHAMPION_TAG}); nothing to roll back to. To choose a version, on the "
            f"record: kfp-mlops promote {model} VERSION --alias champion --reason TEXT"
        )
    if not _version_exists(registry, model, previous):
        raise RollbackError(f"model {model!r}: previous champion v{previous} no longer exists")
    return int(previous)


def _tag_demoted(registry, model, current, previous, user, when, why) -> None:
    """Who, when and why on the demoted version, before the move (no silent move on a crash)."""
    registry.set_tags(
        model,
        current,
        {
            ROLLED_BACK: f"{when} by {user} to v{previous}",
            "kfp_mlops.rolled_back_at": when,
            "kfp_mlops.rolled_back_by": user,
            "kfp_mlops.rollback_reason": why,
        },
        UNCHANGED,
    )


def _restored_tags(current, user, when, why) -> dict[str, str]:
    """What the restored version records; the protocol writes it before the move."""
    return {
        CHAMPION_SINCE_TAG: when,
        "kfp_mlops.restored_at": when,
        "kfp_mlops.restored_by": user,
        "kfp_mlops.restored_from": str(current),
        "kfp_mlops.restore_reason": why,
    }


def _version_exists(registry, model: str, version: str) -> bool:
    from mlflow.exceptions import MlflowException

    with registry.step(f"reading v{version}", UNCHANGED):
        try:
            registry.client.get_model_version(model, version)
            return True
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
    return False


def _exists(registry, model: str) -> bool:
    from mlflow.exceptions import MlflowException

    with registry.step(f"reading model {model!r}", UNCHANGED):
        try:
            registry.client.get_registered_model(model)
            return True
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
    raise RollbackError(f"no registered model {model!r} in MLflow; check the name")


def alias_history(model: str) -> list[dict]:
    """The alias moves and decisions of a model, oldest first.

    Each: {action, alias, version, from_version, time, who, why, evidence}; `action` is
    "move" for an alias move, "approve" or "reject" for a decision (alias and from_version
    None, evidence the live comparison it was given, or None).

    `who` names the pipeline and run that moved it ("monitoring pipeline run ID", from the
    run's gate records: kfp_mlops.model_registry.movers), or the person.

    Records whose act never happened (the writer died between record and act) are left out.

    Raises:
        RollbackError: No such registered model.
        ServiceError: MLflow is not configured or does not answer.
    """
    from components._shared.registry.audit import history
    from components._shared.registry.client import Registry

    registry = Registry()
    _exists(registry, model)
    trail = Trail(registry, model, UNCHANGED)
    moves = trail.moves()
    live = registry.aliases(model, UNCHANGED)
    happened = [m.public() for m in history(moves, live, trail.unfinished_decision(moves))]
    return with_movers(happened)
