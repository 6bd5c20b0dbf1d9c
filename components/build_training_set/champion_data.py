"""The champion's side of a training set: its input signature and, by choice, its training data."""

import hashlib
from dataclasses import dataclass

import pandas as pd

from components._shared.datasets.refs import SCHEME
from components._shared.datasets.store import read_verified
from components._shared.errors import DataError
from components._shared.io.parts import is_collection
from components._shared.io.whole import parse_table, read_bytes
from components._shared.logformat import SIGNATURE_KINDS
from components._shared.registry.champion import signature_inputs, version_by_alias

VERSION_TAG = "dataset_version"  # dataset://NAME@sha256:HEX the version was trained on
NO_DATA = "; build without it (include_champion_data=False / --no-champion-data)"


@dataclass(frozen=True)
class ChampionData:
    """The champion version, its inputs (name -> kind) and, when asked for, its data."""

    version: int
    inputs: dict[str, str] | None  # None: no signature recorded
    frame: pd.DataFrame | None = None
    source: str = ""  # what the data was read from
    sha256: str = ""
    parent: str = ""  # NAME@sha256:HEX when the data is a dataset version


def _version_data(reference: str) -> tuple[pd.DataFrame, str, str, str]:
    data, manifest = read_verified(reference)
    frame = parse_table(data, manifest["object"])
    return frame, manifest["reference"], manifest["sha256"], manifest["reference"]


def _uri_data(uri: str, expected: str, where: str) -> tuple[pd.DataFrame, str, str, str]:
    if uri.startswith(SCHEME):
        return _version_data(uri)
    if is_collection(uri):
        raise DataError(
            f"{where} was trained on {uri}, a folder or prefix; only a file or a dataset "
            f"version can be unioned{NO_DATA}"
        )
    data = read_bytes(uri)
    digest = hashlib.sha256(data).hexdigest()
    if expected and digest != expected:
        raise DataError(
            f"{where}'s training data {uri} no longer matches its dataset_sha256: it hashes to "
            f"{digest}, the champion was trained on {expected}; restore the file{NO_DATA}"
        )
    return parse_table(data, uri), uri, digest, ""


def champion_data(model_name: str, include_data: bool) -> ChampionData | None:
    """The champion of `model_name` (None when there is none): inputs, and data when asked.

    The data is its `dataset_version` tag's version when the tag is there (hash verified),
    else its `dataset_uri` read and checked against `dataset_sha256`.

    Raises:
        DataError: The champion's data cannot be read or no longer matches its hash.
        ServiceError: MLflow (or S3) does not answer.
    """
    found = version_by_alias(model_name)
    if found is None:
        return None
    version = int(found.version)
    tags = dict(found.tags or {})
    signature = signature_inputs(f"models:/{model_name}/{version}")
    inputs = None
    if signature:
        inputs = {
            str(s["name"]): SIGNATURE_KINDS.get(str(s.get("type")), "string") for s in signature
        }
    if not include_data:
        return ChampionData(version, inputs)
    where = f"champion models:/{model_name}/{version}"
    if tags.get(VERSION_TAG):
        frame, source, sha256, parent = _version_data(tags[VERSION_TAG])
    elif tags.get("dataset_uri") not in (None, "", "unknown"):
        expected = tags.get("dataset_sha256", "")
        frame, source, sha256, parent = _uri_data(
            tags["dataset_uri"], "" if expected == "unknown" else expected, where
        )
    else:
        raise DataError(
            f"{where} names no training data (no {VERSION_TAG} or dataset_uri tag){NO_DATA}"
        )
    return ChampionData(version, inputs, frame, source, sha256, parent)
