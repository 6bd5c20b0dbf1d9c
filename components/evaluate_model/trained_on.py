"""The rows a champion trained on: its training data read back and re-split as it was.

Read from its `dataset_version` tag (`dataset://NAME@sha256:HEX`, verified by the store),
else from its `dataset_uri` tag, whose bytes must still hash to its `dataset_sha256` tag;
then split by the one split function with the test_size, random_seed and target_column of
its `parameters` tag. Whatever stops that is a CannotJudge naming the cause: the
comparison cannot be fair, and the gate says so instead of comparing on unknown rows.
"""

import hashlib
import json
from dataclasses import dataclass

import pandas as pd

from components._shared.datasets import store
from components._shared.datasets.refs import SCHEME
from components._shared.errors import ConfigError, DataError
from components._shared.io.parts import is_collection
from components._shared.io.whole import parse_table, read_bytes
from components._shared.registry.champion import Champion
from components._shared.splits import split_rows

VERSION_TAG = "dataset_version"
UNSET = ("", "unknown", "None")  # version_tags writes "unknown" for a fact it lacked


class CannotJudge(Exception):
    """The champion's training rows cannot be known; the message says why (for the report)."""


@dataclass(frozen=True)
class TrainingRows:
    """The champion's training side of its split, and where it was read from."""

    frame: pd.DataFrame
    source: str


def _tag(tags: dict[str, str], name: str) -> str:
    value = str(tags.get(name) or "")
    return "" if value in UNSET else value


def _parameters(tags: dict[str, str]) -> dict:
    text = _tag(tags, "parameters")
    try:
        found = json.loads(text) if text else {}
    except json.JSONDecodeError:
        raise CannotJudge("its parameters tag is not JSON") from None
    if not isinstance(found, dict):
        raise CannotJudge("its parameters tag is not a JSON object of parameters")
    missing = [k for k in ("test_size", "random_seed") if found.get(k) in (None, "")]
    if missing:
        raise CannotJudge(
            f"its parameters tag lacks {missing}, so its training split cannot be re-made"
        )
    return found


def _read(tags: dict[str, str]) -> tuple[pd.DataFrame, str]:
    """The champion's training table and the name of what was read."""
    reference = _tag(tags, VERSION_TAG)
    uri = _tag(tags, "dataset_uri")
    if not reference and uri.startswith(SCHEME):
        reference = uri
    if reference:
        data, manifest = store.read_verified(reference)
        return parse_table(data, manifest["object"]), reference
    if not uri:
        raise CannotJudge(f"it has neither a {VERSION_TAG} nor a dataset_uri tag")
    if is_collection(uri):
        raise CannotJudge(
            f"it trained on the folder or prefix {uri}, which may have changed since; "
            "train on a dataset version (`kfp-mlops data add`) to make it comparable"
        )
    expected = _tag(tags, "dataset_sha256")
    if not expected:
        raise CannotJudge(f"its dataset_uri {uri} has no dataset_sha256 tag to check it against")
    data = read_bytes(uri)
    found = hashlib.sha256(data).hexdigest()
    if found != expected:
        raise CannotJudge(
            f"its training data {uri} changed after it was trained: the bytes hash to {found}, "
            f"its dataset_sha256 tag says {expected}"
        )
    return parse_table(data, uri), uri


def training_rows(champion: Champion, target_column: str) -> TrainingRows:
    """The rows the champion was fitted on.

    Args:
        champion: The loaded champion, with its version's tags.
        target_column: Used when its parameters tag names none.

    Raises:
        CannotJudge: Unreadable, changed or unknown training data, or parameters that do not
            say how it was split.
        ServiceError: S3 does not answer (a retry may help; never read as "cannot judge").
    """
    parameters = _parameters(champion.tags)
    target = str(parameters.get("target_column") or target_column)
    try:
        frame, source = _read(champion.tags)
        # KFP hands parameters over as text and ints as floats: "42.0" is the seed 42.
        seed = float(parameters["random_seed"])
        if not seed.is_integer():
            raise ValueError(f"random_seed {parameters['random_seed']!r} is not a whole number")
        train, _ = split_rows(frame, target, float(parameters["test_size"]), int(seed))
    except (DataError, ConfigError) as exc:
        raise CannotJudge(f"its training data cannot be read: {exc}") from None
    # No such target column; a seed or test_size that is no number; a split sklearn refuses.
    except (KeyError, TypeError, ValueError) as exc:
        raise CannotJudge(f"its training split cannot be re-made: {exc}") from None
    return TrainingRows(train, source)
