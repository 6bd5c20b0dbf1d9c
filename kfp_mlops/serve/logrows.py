"""The prediction log's rows: what each row carries, and many requests' rows as one Arrow table."""

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa

# What each row carries beside the model's inputs and outputs (outputs: prediction, proba_<c>).
META_COLUMNS = ("request_id", "time", "model_name", "model_version", "latency_seconds")


@dataclass(frozen=True, slots=True)
class Repeat:
    """One value standing for `n` equal cells of a column (a request's facts on each row)."""

    value: object
    n: int

    def cells(self) -> list:
        """The cells themselves."""
        return [self.value] * self.n


def records(
    request_id: str,
    when: datetime,
    model: tuple[str, str | None],
    inputs: dict[str, list],
    outputs: dict[str, list],
    latency_seconds: float | None,
) -> dict[str, list]:
    """The log rows of one request, by column: its facts, each input, each output.

    Plain lists, not a DataFrame: the writer joins many requests' lists and builds one
    frame per flush, which costs far less than a frame per request. The request's facts are
    `Repeat`s: the writer expands them in Arrow, not one Python object per row.
    """
    n = len(next(iter(inputs.values())))
    return {
        "request_id": Repeat(request_id, n),
        "time": Repeat(when, n),
        "model_name": Repeat(model[0], n),
        "model_version": Repeat(model[1], n),
        **inputs,
        **outputs,
        "latency_seconds": Repeat(latency_seconds, n),
    }


# Fixed types, so every file of a partition has one schema (a flush of nulls included).
META_TYPES = {
    "request_id": pa.string(),
    "time": pa.timestamp("us", tz="UTC"),
    "model_name": pa.string(),
    "model_version": pa.string(),
    "latency_seconds": pa.float64(),
}


def _array(values: list, kind: pa.DataType | None) -> pa.Array:
    try:
        return pa.array(values, type=kind)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        # Requests that disagree on a column's type (the sink reads any payload): keep them
        # all, as text, rather than lose the flush.
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())


def table(parts: list[dict[str, list]], types: dict[str, pa.DataType] | None = None) -> pa.Table:
    """One Arrow table from many requests' columns (a column a request lacks is null there).

    Arrow, not pandas: building it takes a third of the time, and the writer thread shares
    the interpreter with the requests.

    Args:
        parts: Each request's columns (see `records`).
        types: Arrow types of input and output columns when known (the server knows its
            schema; the sink does not, and Arrow infers them).
    """
    known = META_TYPES | (types or {})
    names = list(dict.fromkeys(name for part in parts for name in part))
    sizes = [_rows(part) for part in parts]
    arrays = {}
    for name in names:
        cells = [part.get(name) or Repeat(None, n) for part, n in zip(parts, sizes, strict=True)]
        if all(isinstance(c, Repeat) for c in cells):
            # One value per request, repeated in Arrow: no Python object per row.
            distinct = _array([c.value for c in cells], known.get(name))
            arrays[name] = distinct.take(np.repeat(np.arange(len(cells)), sizes))
            continue
        values: list = []
        for c in cells:
            values.extend(c.cells() if isinstance(c, Repeat) else c)
        arrays[name] = _array(values, known.get(name))
    return pa.table(arrays)


def _rows(part: dict) -> int:
    first = part["request_id"]
    return first.n if isinstance(first, Repeat) else len(first)
