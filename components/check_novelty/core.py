"""Whether a retrain could learn anything new: its data, parameters and code vs the champion's.

Pure: the caller reads the champion's lineage (components/_shared/registry/lineage.py) and
the training set's hash (`dataset_sha256`); `decide` compares them. Retraining is the safe
side: whatever cannot be compared (no champion, a tag missing from an old version) trains, and
the gates still judge what it makes.
"""

import json
from dataclasses import dataclass, field

from components._shared.errors import ConfigError
from components._shared.registry.lineage import flat_hyperparameters

# The parameters that shape the model file: the split (test_size, random_seed), what is
# learned (target_column) and how (estimator, hyperparameters). Gate thresholds, min_rows,
# the validation suite, sensitive_features and positive_label decide whether a model is
# registered, never which model is trained: a change in them re-judges the same model, which
# retraining cannot change (registration would return the same version anyway).
SHAPING = ("estimator", "target_column", "test_size", "random_seed")
CODE = ("package_version", "git_commit", "image")
NO_DATA = "no training set: nothing to retrain on"


@dataclass(frozen=True)
class Candidate:
    """What the retrain would train from."""

    dataset_sha256: str
    parameters: dict  # at least SHAPING
    hyperparameters: dict
    code: dict  # CODE → value


@dataclass(frozen=True)
class ChampionLineage:
    """The champion as the registry records it (components/_shared/registry/lineage.py)."""

    version: int
    tags: dict[str, str]
    hyperparameters: dict[str, str] | None  # hp.<name> → text; None: the run was unreadable


@dataclass(frozen=True)
class Novelty:
    """The decision: train or not, why, and what differed."""

    train: bool
    reason: str
    kind: str  # new | nothing_new | no_training_set | no_champion | unreadable
    champion_version: int | None = None
    differences: list[str] = field(default_factory=list)


def check_parameters(parameters: dict) -> dict:
    """The shaping parameters, or a ConfigError naming the one missing."""
    missing = [k for k in SHAPING if k not in parameters]
    if missing:
        raise ConfigError(
            f"parameters lack {', '.join(missing)}: check_novelty compares {', '.join(SHAPING)} "
            "with the champion's; pass the values the retrain trains with"
        )
    return {k: parameters[k] for k in SHAPING}


def _same_value(a: object, b: object) -> bool:
    """Equal as recorded: numbers by value (KFP turns ints into floats), the rest exactly."""
    numbers = (int, float)
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, numbers) and isinstance(b, numbers):
        return float(a) == float(b)
    return a == b


def _unreadable(champion: ChampionLineage, what: str) -> Novelty:
    return Novelty(
        True,
        f"champion v{champion.version}'s lineage cannot be read ({what}): retraining (the "
        "gates still judge the new model)",
        "unreadable",
        champion.version,
    )


def decide(candidate: Candidate | None, champion: ChampionLineage | None) -> Novelty:
    """Train (True) unless the data, shaping parameters and code all equal the champion's.

    `candidate` None: the builder found too few labelled rows (data_uri "").
    """
    if candidate is None:
        return Novelty(False, NO_DATA, "no_training_set")
    if champion is None:
        return Novelty(True, "no champion yet: training the first one", "no_champion")
    tags, v = champion.tags, champion.version
    for key in ("dataset_sha256", "parameters", *CODE):
        if key not in tags or (key in ("dataset_sha256", "parameters") and tags[key] == "unknown"):
            return _unreadable(champion, f"no {key} tag")
    try:
        recorded = json.loads(tags["parameters"])
    except ValueError:
        return _unreadable(champion, "its parameters tag is not JSON")
    if not isinstance(recorded, dict):
        return _unreadable(champion, "its parameters tag is not an object")
    absent = [k for k in SHAPING if k not in recorded]
    if absent:
        return _unreadable(champion, f"its parameters record no {', '.join(absent)}")
    if champion.hyperparameters is None:
        return _unreadable(champion, "its run's hyperparameters")
    differences = []
    if candidate.dataset_sha256 != tags["dataset_sha256"]:
        differences.append(
            f"data (sha256 {tags['dataset_sha256'][:12]} → {candidate.dataset_sha256[:12]})"
        )
    for key in SHAPING:
        if not _same_value(candidate.parameters[key], recorded[key]):
            differences.append(f"{key} ({recorded[key]!r} → {candidate.parameters[key]!r})")
    hps = flat_hyperparameters(candidate.hyperparameters)
    if hps != champion.hyperparameters:
        differences.append(f"hyperparameters ({champion.hyperparameters} → {hps})")
    for key in CODE:
        if str(candidate.code.get(key)) != tags[key]:
            differences.append(f"{key} ({tags[key]} → {candidate.code.get(key)})")
    if differences:
        said = "; ".join(differences)
        return Novelty(
            True, f"something new to learn from vs champion v{v}: {said}", "new", v, differences
        )
    reason = (
        f"nothing new to learn from: same data (sha256 {candidate.dataset_sha256[:12]}), "
        f"parameters and code as champion v{v}"
    )
    return Novelty(False, reason, "nothing_new", v)
