"""Register a blessed model in MLflow with lineage, a model card and guarded alias moves."""

import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from components._shared.errors import ConfigError
from components.register_model.card import render_card
from components.register_model.lineage import (
    Candidate,
    as_int,
    build_lineage,
    description,
    model_sha256,
    run_metrics,
    run_params,
    version_tags,
)

CHALLENGER, CHAMPION = "challenger", "champion"
# Champion history on the versions themselves, so `kfp-mlops rollback` knows where to go back.
CHAMPION_SINCE_TAG = "kfp_mlops.champion_since"  # UTC ISO time the version became champion
PREVIOUS_CHAMPION_TAG = "kfp_mlops.previous_champion"  # the champion it replaced
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,255}$")


@dataclass(frozen=True)
class Registration:
    """What the step did in the registry, with the lineage record and the model card."""

    registered: bool
    name: str
    version: int | None
    aliases: list[str]
    run_id: str | None
    promoted: bool
    reason: str
    previous_champion_version: int | None
    lineage: dict
    model_card: str

    def metadata(self) -> dict:
        """The registered_model artifact's metadata."""
        facts = asdict(self)
        del facts["lineage"], facts["model_card"]
        return facts


def decide_promotion(
    *, promote: bool, version: int, current_champion: int | None, evaluation: dict
) -> tuple[bool, str]:
    """Whether to move `champion` to this version now, and why (pure; the race check lives here).

    `current_champion` must be read right before the alias would move; the champion the
    evaluation compared against must still be the champion, or someone promoted meanwhile.
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


def _finish(lineage: dict, **registration) -> Registration:
    record = {**lineage, "registration": registration}
    card = render_card(record, version_tags(lineage))
    return Registration(**registration, lineage=record, model_card=card)


def register_model(candidate: Candidate, *, model_name: str, promote: bool) -> Registration:
    """Register the model as `challenger` (and maybe `champion`) when every gate blessed it.

    Order of operations, so a failure at any step leaves nothing half-done: log the run and
    the model; create the version with all lineage tags in one call (a retry finds it by
    kfp_run_id + model sha256 and reuses it); then `challenger`; then `champion` after
    re-reading it; last the lineage JSON and model card on the run.

    Raises:
        ConfigError: The model name is not a valid registry name.
        DataError: The model file does not match the sha256 train_model recorded.
        ServiceError: MLflow is not configured or fails; names the endpoint and the step.
    """
    from components._shared.model_io import load_model
    from components.register_model.registry import Registry

    if not NAME_PATTERN.match(model_name or ""):
        raise ConfigError(
            f"model_name {model_name!r} is not a registry name; use letters, digits, '_', '.', '-'"
        )
    sha = model_sha256(candidate)
    gates = {
        "validation": candidate.validation.get("success") is True,
        "evaluation": bool(candidate.evaluation_blessed),
        "fairness": bool(candidate.fairness_blessed),
    }
    lineage = build_lineage(candidate, gates, sha)
    result = {"name": model_name, "previous_champion_version": None}
    if not all(gates.values()):
        rejected = [g for g, ok in gates.items() if not ok]
        reason = f"not registered: the {', '.join(rejected)} gate(s) did not bless the model"
        return _finish(
            lineage,
            registered=False,
            version=None,
            aliases=[],
            run_id=None,
            promoted=False,
            reason=reason,
            **result,
        )
    registry = Registry()
    key = {"kfp_run_id": candidate.kfp_run_id or "unknown", "model_sha256": sha}
    found = registry.find_version(model_name, key)
    if found:
        version, run_id = found
    else:
        run_id, model_uri, model_id = registry.log_run(
            model_name,
            key,
            load_model(candidate.model_path),
            candidate.model.get("skops_trusted_types") or [],
            run_params(candidate),
            run_metrics(candidate, gates),
            candidate.sample,
        )
        version = registry.create_version(
            model_name, run_id, model_uri, model_id, version_tags(lineage), description(lineage)
        )
    state = (
        f"v{version} is registered with its tags; re-run the step to finish (it reuses v{version})"
    )
    aliases = registry.aliases(model_name, state)
    if aliases.get(CHALLENGER) is None or aliases[CHALLENGER] <= version:
        registry.set_alias(model_name, CHALLENGER, version, state)  # never back to an older one
    current = registry.aliases(model_name, state).get(CHAMPION)  # re-read right before moving
    promoted, reason = decide_promotion(
        promote=promote, version=version, current_champion=current, evaluation=candidate.evaluation
    )
    if promoted and current != version:
        if current is not None:  # recorded before the move: a retry then finds it in place
            registry.set_tags(model_name, version, {PREVIOUS_CHAMPION_TAG: str(current)}, state)
        registry.set_alias(model_name, CHAMPION, version, state)
        since = datetime.now(UTC).isoformat(timespec="seconds")
        registry.set_tags(model_name, version, {CHAMPION_SINCE_TAG: since}, state)
    final = registry.aliases(model_name, state)
    registration = _finish(
        lineage,
        registered=True,
        version=version,
        run_id=run_id,
        promoted=promoted,
        aliases=sorted(a for a, v in final.items() if v == version),
        reason=reason,
        **(result | {"previous_champion_version": current if current != version else None}),
    )
    registry.log_record(run_id, registration.lineage, registration.model_card, state)
    return registration
