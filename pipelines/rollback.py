"""`kfp-mlops rollback MODEL`: move `champion` back to the champion it replaced, and say why.

The previous champion is the one register_model recorded on the current champion when it
promoted it (`kfp_mlops.previous_champion`). Rolling back again goes one step further back
along that chain. Who, when and why are recorded as tags on both versions.
"""

import getpass
import os
from datetime import UTC, datetime

from components._shared.errors import KfpMlopsError
from components.register_model.core import CHAMPION, CHAMPION_SINCE_TAG, PREVIOUS_CHAMPION_TAG

ROLLED_BACK = "kfp_mlops.rolled_back"  # on the demoted version: "<when> by <who> to vN"
USER_ENV = "KFP_MLOPS_USER"


class RollbackError(KfpMlopsError):
    """There is nothing to roll back to, or the champion moved meanwhile."""


def who() -> str:
    """The person rolling back: KFP_MLOPS_USER, else the login name."""
    try:
        return os.environ.get(USER_ENV) or getpass.getuser()
    except OSError:  # no login name in a bare container
        return "unknown"


def rollback(model: str, reason: str, user: str | None = None) -> dict:
    """Point `champion` at the previous champion; tag both versions with who, when and why.

    Raises:
        RollbackError: No champion, no previous champion recorded, the previous version is
            gone, or the champion moved while rolling back. Nothing is changed then.
        ServiceError: MLflow is not configured or does not answer.
    """
    from components.register_model.registry import Registry

    registry = Registry()
    state = "nothing was changed"
    _exists(registry, model)
    aliases = registry.aliases(model, state)
    current = aliases.get(CHAMPION)
    if current is None:
        raise RollbackError(f"model {model!r} has no champion; nothing to roll back")
    with registry.step("reading the champion's history", state):
        tags = registry.client.get_model_version(model, str(current)).tags or {}
    previous = tags.get(PREVIOUS_CHAMPION_TAG)
    if not previous:
        raise RollbackError(
            f"model {model!r}: champion v{current} records no previous champion "
            f"(tag {PREVIOUS_CHAMPION_TAG}); nothing to roll back to. To choose a version by "
            f"hand: MlflowClient().set_registered_model_alias({model!r}, 'champion', VERSION)"
        )
    if not _version_exists(registry, model, previous):
        raise RollbackError(f"model {model!r}: previous champion v{previous} no longer exists")
    # Re-read right before moving: someone may have promoted meanwhile.
    if registry.aliases(model, state).get(CHAMPION) != current:
        raise RollbackError(f"model {model!r}: the champion moved while rolling back; re-run")
    user, when = user or who(), datetime.now(UTC).isoformat(timespec="seconds")
    why = reason or "no reason given"
    registry.set_alias(model, CHAMPION, int(previous), state)
    done = f"champion is v{previous} again; tags may be incomplete, set them by hand"
    registry.set_tags(
        model,
        current,
        {
            ROLLED_BACK: f"{when} by {user} to v{previous}",
            "kfp_mlops.rolled_back_at": when,
            "kfp_mlops.rolled_back_by": user,
            "kfp_mlops.rollback_reason": why,
        },
        done,
    )
    registry.set_tags(
        model,
        int(previous),
        {
            CHAMPION_SINCE_TAG: when,
            "kfp_mlops.restored_at": when,
            "kfp_mlops.restored_by": user,
            "kfp_mlops.restored_from": str(current),
            "kfp_mlops.restore_reason": why,
        },
        done,
    )
    return {"model": model, "from": current, "to": int(previous), "by": user, "at": when,
            "reason": why}  # fmt: skip


def _version_exists(registry, model: str, version: str) -> bool:
    from mlflow.exceptions import MlflowException

    with registry.step(f"reading v{version}", "nothing was changed"):
        try:
            registry.client.get_model_version(model, version)
            return True
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
    return False


def _exists(registry, model: str) -> bool:
    from mlflow.exceptions import MlflowException

    with registry.step(f"reading model {model!r}", "nothing was changed"):
        try:
            registry.client.get_registered_model(model)
            return True
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
    raise RollbackError(f"no registered model {model!r} in MLflow; check the name")
