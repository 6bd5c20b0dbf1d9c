"""The log's inputs of each labelled row in a window, read one part at a time.

Memory follows the labelled rows, not the log: a part is read, its rows that a label names
are kept with their label, the rest is dropped before the next part is read.
"""

import hashlib
from dataclasses import dataclass, field

import pandas as pd

from components._shared.errors import DataError
from components._shared.io.partitions import DateWindow, in_window
from components._shared.io.parts import Part, parquet_parts
from components._shared.io.whole import read_bytes
from components._shared.labels.rowkeys import NO_ROW, number_rows, utc
from components._shared.logformat import META_COLUMNS, PREDICTION, PROBA_PREFIX, primary_only


def input_columns(names: list[str]) -> list[str]:
    """The model's inputs among a log part's columns: all but the log's own and the outputs."""
    return [
        n
        for n in names
        if n not in META_COLUMNS and n != PREDICTION and not n.startswith(PROBA_PREFIX)
    ]


@dataclass
class LogJoin:
    """Labelled rows found so far, and the counts behind them."""

    predictions: int = 0
    duplicate_predictions: int = 0  # a labelled row logged twice (the earliest is kept)
    ambiguous_labels: int = 0  # no `row` for a request of several rows (set by join_log)
    late_labels: int = 0
    parts: list[Part] = field(default_factory=list)
    sources: list[dict] = field(default_factory=list)  # each part read, with its sha256
    columns: list[str] = field(default_factory=list)  # inputs, in the log's order
    rows: list[pd.DataFrame] = field(default_factory=list)
    seen: set = field(default_factory=set)  # (request_id, row) already joined
    # Request ids whose label has no `row` and some logging of several rows, in any part.
    ambiguous: set = field(default_factory=set)

    def frame(self) -> pd.DataFrame:
        """The labelled rows: the inputs, `label`, and `request_id`/`row` (the keys)."""
        if not self.rows:
            return pd.DataFrame(columns=[*self.columns, "label", "request_id", "row"])
        return pd.concat(self.rows, ignore_index=True)


def _read_part(part: Part) -> tuple[pd.DataFrame, str]:
    """One part as a frame (dictionary-encoded text back to plain text), and its sha256."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = read_bytes(part.uri)
    try:
        table = pq.read_table(pa.BufferReader(data))
    except Exception as exc:  # pyarrow raises many types for a damaged file
        raise DataError(f"cannot read the prediction-log part {part.uri}: {exc}") from exc
    fields = [
        f.with_type(f.type.value_type) if pa.types.is_dictionary(f.type) else f
        for f in table.schema
    ]
    frame = table.cast(pa.schema(fields)).to_pandas()
    return frame, hashlib.sha256(data).hexdigest()


class Labels:
    """Labels looked up by request id through an index built once (not once per part)."""

    def __init__(self, frame: pd.DataFrame):
        """Index `frame` by its request_id (plain objects: hashing arrow text per part is slow)."""
        self.frame = frame.reset_index(drop=True)
        self.index = pd.Index(self.frame["request_id"].astype(object))

    def of(self, ids: pd.Series) -> pd.DataFrame:
        """The labels whose request id is among `ids`."""
        found, _ = self.index.get_indexer_non_unique(ids.astype(object).unique())
        return self.frame.iloc[found[found >= 0]]


def _match(part: pd.DataFrame, labels: tuple[Labels, Labels], state: LogJoin) -> pd.DataFrame:
    """The part's rows that a label names, each with its label; counts what cannot be used."""
    by_row, whole = (lookup.of(part["request_id"]) for lookup in labels)
    rows = by_row.merge(part, on=["request_id", "row"])
    whole = whole.merge(part, on="request_id")
    # A label without `row` names one row only if its request never carried several: one
    # that meets a logging of several rows is ambiguous (counted once, never used), here or
    # in a part read later (join_log drops what it was used on before).
    state.ambiguous.update(whole.loc[whole["rows_in_request"] > 1, "request_id"])
    single = whole[(whole["rows_in_request"] == 1) & ~whole["request_id"].isin(state.ambiguous)]
    return pd.concat([rows.assign(_whole=False), single.assign(_whole=True)], ignore_index=True)


def join_part(
    frame: pd.DataFrame,
    labels: tuple[Labels, Labels],
    max_label_delay_days: float,
    state: LogJoin,
) -> None:
    """Add one part's labelled rows to `state` (labels: those with `row`, those without).

    Primary rows only: a shadow's rows repeat the primary's request ids and inputs.
    """
    frame = primary_only(frame)
    inputs = input_columns([str(c) for c in frame.columns])
    frame = number_rows(frame)
    frame["time"] = utc(frame["time"], "the prediction log")
    state.predictions += len(frame)
    state.columns += [c for c in inputs if c not in state.columns]
    keep = ["request_id", "row", "rows_in_request", "time", *inputs]
    matched = _match(frame[keep], labels, state)
    if matched.empty:
        return
    keys = list(zip(matched["request_id"], matched["row"], strict=True))
    fresh = [k not in state.seen for k in keys]
    first = ~pd.Series(keys, index=matched.index).duplicated(keep="first").to_numpy()
    used = pd.Series(fresh, index=matched.index).to_numpy() & first
    state.duplicate_predictions += int((~used).sum())
    matched = matched[used]
    state.seen.update(zip(matched["request_id"], matched["row"], strict=True))
    if "time_label" in matched.columns and max_label_delay_days >= 0:
        late = (matched["time_label"] - matched["time"]) > pd.Timedelta(days=max_label_delay_days)
        state.late_labels += int(late.sum())
        matched = matched[~late.to_numpy()]
    state.rows.append(matched[[*inputs, "label", "request_id", "row", "_whole"]])


def join_log(
    uri: str, window: DateWindow, labels: pd.DataFrame, max_label_delay_days: float
) -> LogJoin:
    """Join every part of the log in the window with its labels, one part in memory at a time.

    Args:
        uri: The model's prediction-log prefix (`date=YYYY-MM-DD/` folders), or a folder.
        window: The days to read; empty: every day there is.
        labels: One label per (request_id, row), as rowkeys.latest_labels leaves them; a
            `time` column is renamed `time_label` here.
        max_label_delay_days: Labels known later than this after the prediction are late
            (counted, not used); below 0: no cutoff.

    Raises:
        DataError: No Parquet part, none in the window, or an unreadable part.
    """
    state = LogJoin(parts=in_window(parquet_parts(uri), window, uri))
    labels = labels.rename(columns={"time": "time_label"})
    named = labels["row"] != NO_ROW
    split = (Labels(labels[named]), Labels(labels[~named].drop(columns="row")))
    for part in state.parts:
        frame, digest = _read_part(part)
        state.sources.append({"uri": part.uri, "sha256": digest, "kind": "prediction log"})
        join_part(frame, split, max_label_delay_days, state)
    state.ambiguous_labels = len(state.ambiguous)
    state.rows = [
        r[~(r["_whole"] & r["request_id"].isin(state.ambiguous))].drop(columns="_whole")
        for r in state.rows
    ]
    return state
