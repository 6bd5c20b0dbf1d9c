"""Alias moves under the registry lock: each recorded in the audit trail before it is made."""

from datetime import UTC, datetime

from components._shared.audit import Trail
from components._shared.failpoints import failpoint
from components.register_model.lineage import as_int

CHALLENGER, CHAMPION = "challenger", "champion"
# Champion history on the versions themselves, so `kfp-mlops rollback` knows where to go back.
CHAMPION_SINCE_TAG = "kfp_mlops.champion_since"  # UTC ISO time the version became champion
PREVIOUS_CHAMPION_TAG = "kfp_mlops.previous_champion"  # the champion it replaced


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
        value, best = evaluation.get("primary_value"), evaluation.get("champion_value")
        if value is None or best is None:
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
    registry, name: str, version: int, *, promote: bool, evaluation: dict, who: str, state: str
) -> tuple[bool, str, int | None]:
    """Under the model's lease: `challenger` to this version, then maybe `champion`.

    Returns whether it was promoted, why, and the champion it found.

    Raises:
        LeaseError: Another holder kept the lock past the wait, or the lease was lost.
        ServiceError: MLflow or S3 failed; every move made so far carries its record.
    """
    from components._shared.lease import Lease

    with Lease(name, who, rerun=who != "unknown") as lease:
        failpoint("register.lock_acquired")
        live = registry.aliases(name, state)
        trail = Trail(registry, name, state)
        trail.reconcile(live)  # a record a dead holder wrote but never acted on is not a move
        challenger = live.get(CHALLENGER)
        if challenger is None or challenger < version:  # never back to an older one
            lease.ensure()
            trail.record(CHALLENGER, version, challenger, who, f"v{version} registered")
            registry.set_alias(name, CHALLENGER, version, state)
            failpoint("register.challenger_moved")
        current = live.get(CHAMPION)
        promoted, reason = decide_promotion(
            promote=promote, version=version, current_champion=current, evaluation=evaluation
        )
        if promoted and current != version:
            # Before the move: a champion never exists without when and whom it replaced.
            since = {CHAMPION_SINCE_TAG: datetime.now(UTC).isoformat(timespec="seconds")}
            previous = {} if current is None else {PREVIOUS_CHAMPION_TAG: str(current)}
            registry.set_tags(name, version, previous | since, state)
            failpoint("register.tags_written")
            lease.ensure()
            trail.record(CHAMPION, version, current, who, reason)
            failpoint("register.record_written")
            registry.set_alias(name, CHAMPION, version, state)
            failpoint("register.champion_moved")
    return promoted, reason, current
