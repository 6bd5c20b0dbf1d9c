"""Which predictions the gate judges: those of the version an alias serves; the rest counted.

After a retrain is promoted, the log still holds the old champion's days. Judged together,
the predecessor's bad days would keep failing the gate (and asking for a retrain) until
min_days judged days of the new model exist. With an alias, only the rows logged with the
alias's `model_version` are judged; the rows of other versions, and the labels that name
them, are counted and reported, never mixed in.
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from components._shared.errors import DataError
from components._shared.logformat import primary_only

VERSION = "model_version"  # the log's column (components/_shared/logformat.py: text)
UNVERSIONED = "unknown"  # how rows logged without a version are counted


@dataclass(frozen=True)
class Served:
    """The version judged, and what was left out because another version served it.

    Attributes:
        alias: The registered alias resolved (e.g. champion); "" = every version judged.
        version: The alias's version as the log writes it (text); None when every version
            is judged, or when the alias is not set (then nothing is judged).
        model: The registered model's name, for the sentences.
        others: Version -> prediction rows in the window it served (not judged); rows
            logged without a version count as "unknown".
        other_labels: Labels naming those rows (not used, not counted as unknown ids).
    """

    alias: str
    version: str | None
    model: str = ""
    others: dict[str, int] = field(default_factory=dict)
    other_labels: int = 0

    @property
    def not_judged(self) -> int:
        """Prediction rows of other versions, left out."""
        return sum(self.others.values())

    def line(self) -> str:
        """The console's and report's sentence on which predictions were judged."""
        if not self.alias:
            return "judged: the predictions of every model version (no alias given)"
        where = f"models:/{self.model}@{self.alias}"
        if self.version is None:
            return f"judged: nothing ({where} is not set)"
        head = f"judged: the predictions of version {self.version} ({where})"
        if not self.others:
            return head + "; no other version in the window"
        each = ", ".join(
            f"{v}: {n}" if v == UNVERSIONED else f"v{v}: {n}" for v, n in self.others.items()
        )
        return (
            f"{head}; {self.not_judged} predictions by other versions ({each}) not judged"
            f", and {self.other_labels} labels of theirs not used"
        )

    def as_dict(self) -> dict:
        """The report metadata's `served`."""
        return {
            "alias": self.alias,
            "version": self.version,
            "other_versions": dict(self.others),
            "predictions_other_versions": self.not_judged,
            "labels_other_versions": self.other_labels,
        }


def served_by(model_name: str, alias: str) -> Served:
    """The version `models:/<model_name>@<alias>` names now (version None when not set).

    Raises:
        ServiceError: MLflow is not configured or does not answer (never read as "not set").
    """
    if not alias:
        return Served("", None, model_name)
    from components._shared.registry.champion import version_by_alias

    found = version_by_alias(model_name, alias)
    return Served(alias, None if found is None else version_text(found.version), model_name)


def version_text(value: object) -> str:
    """A model version as the log writes it: MLflow's "3", also from 3 or 3.0 (another sink)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _versions(predictions: pd.DataFrame) -> pd.Series:
    """Each row's version as text ("unknown" when not logged); each distinct value once."""
    if VERSION not in predictions.columns:
        return pd.Series(UNVERSIONED, index=predictions.index, dtype=object)
    codes, uniques = pd.factorize(predictions[VERSION], use_na_sentinel=True)
    names = [version_text(u) or UNVERSIONED for u in uniques] + [UNVERSIONED]
    return pd.Series(np.asarray(names, dtype=object)[codes], index=predictions.index)


def _in_order(item: tuple[str, int]) -> tuple:
    """Versions by number (v9 before v10), anything else (rows without a version) after."""
    version = item[0]
    return (0, int(version), "") if version.isdigit() else (1, 0, version)


def split_served(
    predictions: pd.DataFrame, labels: pd.DataFrame, served: Served
) -> tuple[pd.DataFrame, pd.DataFrame, Served]:
    """The served version's predictions, the labels not naming another version's, and counts.

    A label is left out (counted in other_labels) when its request id names only rows of
    other versions; one naming no row at all stays, to be counted as an unknown id.

    Raises:
        DataError: An alias is given but no row in the window records a model_version: the
            served version's rows cannot be told apart.
    """
    predictions = primary_only(predictions)  # a shadow's rows were never served
    if not served.alias or served.version is None:
        return predictions, labels, served
    versions = _versions(predictions)
    if (versions == UNVERSIONED).all():
        raise DataError(
            f"the prediction log records no {VERSION} in the window, so the predictions of "
            f"models:/{served.model}@{served.alias} (version {served.version}) cannot be told "
            f"apart; log the version (the server does; a payload-logger sink needs the "
            f"response's {VERSION}), or judge every version with an empty alias "
            "(monitoring: prediction_drift_alias='')"
        )
    mine = versions == served.version
    counted = versions[~mine].value_counts()
    others = dict(sorted(((str(v), int(n)) for v, n in counted.items()), key=_in_order))
    ids = predictions["request_id"].astype(str)
    theirs = pd.Index(ids[~mine].unique()).difference(pd.Index(ids[mine].unique()))
    # get_indexer, not isin: isin on Arrow-backed text walks the values in Python (10x slower).
    foreign = (
        pd.Series(theirs.get_indexer(labels["request_id"].astype(str)) >= 0, index=labels.index)
        if "request_id" in labels
        else None
    )
    if foreign is None or not foreign.any():
        kept, other_labels = labels, 0
    else:
        kept, other_labels = labels[~foreign], int(foreign.sum())
    counted = Served(served.alias, served.version, served.model, others, other_labels)
    return predictions[mine], kept, counted
