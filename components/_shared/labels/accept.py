"""Keep only labels of the pinned schema version (or mapped into it); count the rest by reason.

A label of the pinned version `NAME@vN` is kept when its class is one of vN's. A label of an
older version vM of the same schema is kept only when every version from vM+1 to vN declares
`compatible_with` its predecessor: its class is then carried through each mapping (a class
not mapped keeps its name) into vN's class names. Everything else is refused and counted:
never mixed in silently.
"""

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import pandas as pd

from components._shared.errors import DataError
from components._shared.labels import definition
from components._shared.labels.read import LABEL_FORMAT, VERSION_COLUMN

REASONS = {
    "other_version": "labels of another version of the schema with no declared mapping to it",
    "other_schema": "labels of another schema",
    "unversioned": "labels that name no schema version (no schema_version column or metadata)",
    "unknown_class": "labels whose class is not one of their schema version's classes",
}
SHOWN_VERSIONS = 10  # versions a sentence names; the counts hold them all

VERSION_NUMBER = re.compile(r"[0-9]{1,9}")  # the N of a label's NAME@vN


@dataclass(frozen=True)
class LabelCounts:
    """What the schema filter did with each label row.

    Attributes:
        pinned: The version accepted (`NAME@vN`); "" accepts every label.
        read: Label rows given.
        kept: Rows kept (those of the pinned version plus those mapped into it).
        mapped: Of the kept, rows of an older version carried over by a declared mapping.
        other_version / other_schema / unversioned / unknown_class: Rows refused, by reason
            (see REASONS).
        versions_seen: Rows per schema version as read ("" = unversioned).
    """

    pinned: str
    read: int
    kept: int
    mapped: int = 0
    other_version: int = 0
    other_schema: int = 0
    unversioned: int = 0
    unknown_class: int = 0
    versions_seen: dict[str, int] = field(default_factory=dict)

    @property
    def refused(self) -> int:
        """Rows refused, every reason together."""
        return self.read - self.kept

    def refusals(self) -> dict[str, int]:
        """The reasons that refused rows, and how many each."""
        return {r: getattr(self, r) for r in REASONS if getattr(self, r)}

    def lines(self) -> list[str]:
        """One sentence per reason that refused rows; unpinned, whether versions were mixed."""
        if self.pinned:
            return [
                f"{n} {REASONS[r]} (pinned {self.pinned}): refused"
                for r, n in self.refusals().items()
            ]
        seen = {v or "(unversioned)": n for v, n in self.versions_seen.items()}
        if len(seen) < 2:
            return []
        # A label file may name any number of versions: the sentence names the first few.
        shown = dict(list(seen.items())[:SHOWN_VERSIONS])
        more = f" and {len(seen) - len(shown)} more" if len(seen) > len(shown) else ""
        return [
            f"labels of several schema versions were used together {shown}{more}: pin one "
            "(label_schema=NAME@vN) so a relabelled class is not mixed with the old one"
        ]

    def as_dict(self) -> dict:
        """Plain data for reports and JSON, with `refused` too."""
        return asdict(self) | {"refused": self.refused}


def _text(values: pd.Series) -> pd.Series:
    """Labels as class names: 1.0 (a CSV's float column) reads as "1"."""
    if pd.api.types.is_float_dtype(values) and (values.dropna() == values.dropna().round()).all():
        values = values.astype("Int64")
    return values.astype("string").str.strip()


def _chain(records: dict[int, dict], start: int, pinned: int) -> dict[str, str] | None:
    """Map version START's class names to PINNED's; None when a version between declares no link."""
    names = {n: n for n in definition.class_names(records[start]["schema"])}
    for version in range(start + 1, pinned + 1):
        declared = records[version]["schema"]["compatible_with"]
        if not declared or declared["version"] != version - 1:
            return None
        names = {old: declared["mapping"].get(now, now) for old, now in names.items()}
    return names


def _carried(
    version: str, name: str, number: int, records: dict[int, dict]
) -> tuple[str, dict[str, str] | None]:
    """Why labels of `version` are refused before their classes are read ("" if not).

    Returns:
        The reason (see REASONS; "" when not refused), and the mapping of the version's
        class names into the pinned version's (None when refused).
    """
    own, at, n = version.partition("@v")
    if not version:
        return "unversioned", None
    if own != name or not at:
        return "other_schema", None
    # ASCII digits, few: str.isdigit() also takes "²", and int() refuses 4,300+ digits.
    if not VERSION_NUMBER.fullmatch(n) or int(n) not in records or int(n) > number:
        return "other_version", None
    chain = _chain(records, int(n), number)
    return ("other_version", None) if chain is None else ("", chain)


def accept_labels(
    labels: pd.DataFrame, pinned: str, load: Callable[[str], list[dict]] | None = None
) -> tuple[pd.DataFrame, LabelCounts]:
    """The labels of the pinned schema version (mapped ones renamed into it), and the counts.

    Args:
        labels: Label rows with `label` and `schema_version` (as `read.read_labels` gives).
        pinned: `NAME@vN`; "": keep every row, counting the versions seen.
        load: NAME -> its stored versions, oldest first (default: the S3 store).

    Returns:
        The kept rows (index reset; `label` in the pinned version's class names, as text),
        and what happened to every row.

    Raises:
        ConfigError: `pinned` is not NAME@vN.
        DataError: (pinned) No `label` column, or the schema or version is not stored.
    """
    versions = (
        labels[VERSION_COLUMN].fillna("").astype(str).str.strip()
        if VERSION_COLUMN in labels.columns
        else pd.Series("", index=labels.index)
    )
    seen = dict(Counter(versions.tolist()))
    if not pinned:
        kept = labels.reset_index(drop=True)
        return kept, LabelCounts(pinned="", read=len(labels), kept=len(kept), versions_seen=seen)
    if "label" not in labels.columns:
        raise DataError(
            f"the labels file lacks column(s) ['label']; it has {list(labels.columns)}; a "
            f"labels file holds {LABEL_FORMAT}"
        )
    name, number = definition.parse_ref(pinned)
    if load is None:
        from components._shared.labels.schemas import records as load
    records = {r["version"]: r for r in load(name)}
    if number not in records:
        raise DataError(
            f"label schema {name!r} has no version v{number}; it has "
            f"{[f'{name}@v{n}' for n in sorted(records)]}"
        )
    # One verdict per distinct version (a label file may hold many): only the versions that
    # can be carried into the pinned one, at most one per stored version, are walked row-wise.
    chains = {v: _carried(v, name, number, records) for v in seen}
    reason = versions.map({v: r for v, (r, _) in chains.items()}).astype(object)
    open_versions = [v for v, (r, _) in chains.items() if not r]
    text = _text(labels["label"])
    mapped_to = pd.Series(pd.NA, index=labels.index, dtype="string")
    mapped = 0
    carried = versions[versions.isin(open_versions)]
    for version, rows in carried.groupby(carried).groups.items():
        chain = chains[version][1]
        values = text[rows]
        target = values.map(chain).astype("string")
        known = values.isna() | target.notna()  # an empty label passes (the join counts it)
        reason.loc[rows[~known.to_numpy()]] = "unknown_class"
        mapped_to.loc[rows] = target.where(values.notna(), pd.NA)
        if int(version.partition("@v")[2]) != number:
            mapped += int(known.sum())
    keep = (reason == "").to_numpy()
    kept = labels[keep].copy()
    kept["label"] = mapped_to[keep].astype(object).where(mapped_to[keep].notna(), None)
    by = Counter(reason[~keep].tolist())
    counts = LabelCounts(
        pinned=pinned,
        read=len(labels),
        kept=len(kept),
        mapped=mapped,
        versions_seen=seen,
        **{r: by.get(r, 0) for r in REASONS},
    )
    return kept.reset_index(drop=True), counts
