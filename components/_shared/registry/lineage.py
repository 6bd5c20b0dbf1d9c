"""A registered version's lineage as the registry holds it: tags plus the run's parameters.

Read by check_novelty (is a retrain new?) and register_model (is this model file with this
lineage registered already?). The tags are those register_model writes at creation
(components/register_model/lineage.py, version_tags); hyperparameters are on the run only,
as `hp.<name>` parameters.
"""

import json
import re
from dataclasses import dataclass, field

from components._shared.registry.champion import version_by_alias
from components._shared.registry.client import NOTHING_REGISTERED, mlflow_client
from components._shared.registry.names import CHAMPION, SHA256_TAG
from components._shared.settings import mlflow_tracking_uri

# The tags that say where a model came from: the same values mean the same training input.
LINEAGE_TAGS = ("dataset_sha256", "parameters", "package_version", "git_commit", "image")
HP_PREFIX = "hp."


def param_key(name: str) -> str:
    """A run parameter's or metric's name with only the characters MLflow accepts."""
    return re.sub(r"[^\w\-./ ]", "_", name)


def flat_hyperparameters(hyperparameters: dict, prefix: str = "hp") -> dict[str, str]:
    """hp.<name> → text, nested dicts dotted: as register_model logs them and check_novelty reads.

    One definition for both, so a retrain's hyperparameters and the champion's run compare.
    """
    out: dict[str, str] = {}
    for key, value in hyperparameters.items():
        name = f"{prefix}.{key}"
        if isinstance(value, dict):
            out |= flat_hyperparameters(value, name)
        else:
            out[param_key(name)] = (
                value if isinstance(value, str) else json.dumps(value, default=str)
            )
    return out


@dataclass(frozen=True)
class VersionLineage:
    """One registered version: its number, tags and its run's hp.* parameters."""

    version: int
    tags: dict[str, str]
    hyperparameters: dict[str, str] = field(default_factory=dict)  # hp.<name> → text
    run_readable: bool = True  # False: the run's parameters could not be read


def champion_lineage(model_name: str, alias: str = CHAMPION) -> VersionLineage | None:
    """The lineage of `models:/<model_name>@<alias>`, or None when there is no such alias.

    Raises:
        ServiceError: MLflow is not configured or does not answer.
    """
    found = version_by_alias(model_name, alias)
    if found is None:
        return None
    tags = dict(found.tags or {})
    try:
        params = mlflow_client(mlflow_tracking_uri()).get_run(found.run_id).data.params
    except Exception:  # a version without a readable run: its hyperparameters are unknown
        return VersionLineage(int(found.version), tags, run_readable=False)
    hps = {k: v for k, v in (params or {}).items() if k.startswith(HP_PREFIX)}
    return VersionLineage(int(found.version), tags, hps)


def same_lineage(tags: dict[str, str], other: dict[str, str]) -> bool:
    """Same model file and the same lineage tags (every one present on both)."""
    keys = (SHA256_TAG, *LINEAGE_TAGS)
    return all(tags.get(k) is not None and tags.get(k) == other.get(k) for k in keys)


def find_same_model(registry, name: str, tags: dict[str, str]) -> tuple[int, str | None] | None:
    """The oldest version of `name` with this model file and lineage (tags), if any.

    `registry` is a client.Registry; its failures are ServiceErrors naming the endpoint.
    """
    with registry.step("looking for the same model file and lineage", NOTHING_REGISTERED):
        found = registry.client.search_model_versions(
            f"name = '{name}' and tags.{SHA256_TAG} = '{tags[SHA256_TAG]}'"
        )
    same = [v for v in found if same_lineage(tags, dict(v.tags or {}))]
    if not same:
        return None
    first = min(same, key=lambda v: int(v.version))
    return int(first.version), first.run_id
