"""What check_novelty compares, read from the outside: the training set's hash, the champion."""

from components._shared.datasets import refs as dataset_refs
from components._shared.datasets import store as dataset_store
from components._shared.image import package_version
from components._shared.io.content_hash import content_sha256
from components._shared.registry.lineage import champion_lineage
from components._shared.settings import lineage_env
from components.check_novelty.core import Candidate, ChampionLineage


def dataset_sha256(data_uri: str) -> str:
    """The sha256 load_data would record for `data_uri`.

    `dataset://NAME@sha256:HEX`: HEX, nothing read. `dataset://NAME@TAG`: the version the tag
    names now (its records only). A file, folder or prefix: its content hashed as load_data
    hashes it (components/_shared/io/content_hash.py).

    Raises:
        ConfigError: A dataset reference not of the syntax.
        DataError: No such dataset, tag, file or prefix.
        ServiceError: S3 is not configured or does not answer.
    """
    if data_uri.startswith(dataset_refs.SCHEME):
        ref = dataset_refs.parse_ref(data_uri)
        return ref.sha256 or dataset_store.resolve(data_uri)[1]
    return content_sha256(data_uri)


def candidate_of(data_uri: str, hyperparameters: dict, shaping: dict) -> Candidate:
    """The retrain's inputs (shaping: core.check_parameters) as a champion's lineage has them."""
    code = {"package_version": package_version(), **lineage_env()}
    return Candidate(dataset_sha256(data_uri), shaping, dict(hyperparameters), code)


def champion_of(model_name: str) -> ChampionLineage | None:
    """The champion's lineage, or None when there is no champion yet.

    Raises:
        ServiceError: MLflow is not configured or does not answer (never read as "none").
    """
    found = champion_lineage(model_name)
    if found is None:
        return None
    hps = found.hyperparameters if found.run_readable else None
    return ChampionLineage(found.version, found.tags, hps)
