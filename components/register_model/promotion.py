"""register_model's alias decisions: `challenger` to the new version, then maybe `champion`.

The moves themselves go through the registry's one protocol (registry.aliases).
"""

from datetime import UTC, datetime

from components._shared.registry.aliases import Marks, alias_moves
from components._shared.registry.names import (
    CHALLENGER,
    CHAMPION,
    CHAMPION_SINCE_TAG,
    PREVIOUS_CHAMPION_TAG,
)
from components.register_model.lineage import as_int

CHALLENGER_MARKS = Marks(moved="register.challenger_moved")
CHAMPION_MARKS = Marks(
    tagged="register.tags_written",  # champion_since and previous_champion, before the move
    recorded="register.record_written",
    moved="register.champion_moved",
)


def decide_promotion(
    *, promote: bool, version: int, current_champion: int | None, evaluation: dict
) -> tuple[bool, str]:
    """Whether to move `champion` to this version now, and why (pure; the race check lives here).

    `current_champion` is read under the registry lock; the champion the evaluation compared
    against must still be the champion, or someone promoted meanwhile.
    """
    seen = as_int(evaluation.get("champion_version"))
    metric = evaluation.get("primary_metric") or "primary metric"
    if current_champion == version:
        return promote, f"v{version} already is the champion (a retried step moves nothing)"
    if not promote:
        return False, f"promotion is off: v{version} is the challenger only"
    if seen is not None:
        # Both on the rows the comparison used (compared_value), not the whole test split.
        value = evaluation.get("compared_value", evaluation.get("primary_value"))
        best = evaluation.get("champion_value")
        if value is None or best is None:
            if evaluation.get("comparison") == "cannot_judge":  # blessed on thresholds only
                return False, (
                    f"not promoted: the evaluation could not compare v{version} with champion "
                    f"v{seen} fairly (its report says why); v{version} stays challenger"
                )
            return False, f"not promoted: evaluation recorded no {metric} to compare with v{seen}"
        if value < best:
            return False, f"not promoted: {metric} {value:.4f} < champion v{seen}'s {best:.4f}"
    if current_champion != seen:
        return False, (
            f"not promoted: the champion is now v{current_champion} but evaluation compared "
            f"against {f'v{seen}' if seen else 'no champion'} (promoted meanwhile); v{version} "
            "stays challenger; re-run the pipeline to compare against the new champion"
        )
    return True, f"promoted to champion (previous: {f'v{seen}' if seen else 'none'})"


def move_aliases(
    registry,
    name: str,
    version: int,
    *,
    promote: bool,
    evaluation: dict,
    who: str,
    state: str,
    settle=None,
) -> tuple[bool, str, int | None, int]:
    """Under the model's lease: `challenger` to this version, then maybe `champion`.

    `settle(live aliases)`, if given, runs first under the lease and returns the version the
    aliases are for (register_model: the oldest version of the same model file and lineage).
    Returns whether it was promoted, why, the champion it found and the version moved to.

    Raises:
        LeaseError: Another holder kept the lock past the wait, or the lease was lost.
        ServiceError: MLflow or S3 failed; every move made so far carries its record.
    """
    with alias_moves(
        name, who, state, registry=registry, locked="register.lock_acquired"
    ) as aliases:
        if settle is not None:
            version = settle(aliases.live)
        challenger = aliases.live.get(CHALLENGER)
        if challenger is None or challenger < version:  # never back to an older one
            aliases.move(CHALLENGER, version, f"v{version} registered", marks=CHALLENGER_MARKS)
        current = aliases.live.get(CHAMPION)
        promoted, reason = decide_promotion(
            promote=promote, version=version, current_champion=current, evaluation=evaluation
        )
        if promoted and current != version:
            # Tagged before the move: a champion never exists without when and whom it replaced.
            since = {CHAMPION_SINCE_TAG: datetime.now(UTC).isoformat(timespec="seconds")}
            previous = {} if current is None else {PREVIOUS_CHAMPION_TAG: str(current)}
            aliases.move(CHAMPION, version, reason, tags=previous | since, marks=CHAMPION_MARKS)
    return promoted, reason, current, version
