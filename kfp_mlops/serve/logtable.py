"""Many requests' prediction-log rows as one Arrow table, and such tables joined."""

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

if TYPE_CHECKING:
    from kfp_mlops.serve.logrows import LoggedRequest


@dataclass(frozen=True, slots=True)
class Repeat:
    """One value standing for `n` equal cells of a column (a request's facts on each row)."""

    value: object
    n: int

    def cells(self) -> list:
        """The cells themselves."""
        return [self.value] * self.n


# Fixed types, so every file of a partition has one schema (a flush of nulls included).
META_TYPES = {
    "request_id": pa.string(),
    "time": pa.timestamp("us", tz="UTC"),
    "model_name": pa.string(),
    "model_version": pa.string(),
    "latency_seconds": pa.float64(),
}


def to_array(values: list, kind: pa.DataType | None) -> pa.Array:
    """Values as an Arrow array of `kind` (inferred when None); as text when they disagree."""
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
            distinct = to_array([c.value for c in cells], known.get(name))
            arrays[name] = distinct.take(np.repeat(np.arange(len(cells)), sizes))
            continue
        values: list = []
        for c in cells:
            values.extend(c.cells() if isinstance(c, Repeat) else c)
        arrays[name] = to_array(values, known.get(name))
    return pa.table(arrays)


def _rows(part: dict) -> int:
    first = part["request_id"]
    return first.n if isinstance(first, Repeat) else len(first)


def values_of(part: "tuple | np.ndarray | pa.Array") -> list:
    """A column part as a list of Python values."""
    if isinstance(part, pa.Array):
        return part.to_pylist()
    return part.tolist() if isinstance(part, np.ndarray) else list(part)


def _column(parts, kind: pa.DataType | None) -> "pa.Array | pa.ChunkedArray":
    """One column from many requests' parts.

    Runs of value tuples are converted together; arrays (a large request's answer) are taken
    as they are.
    """
    chunks: list[pa.Array] = []
    run: list = []
    for part in parts:
        if isinstance(part, tuple):
            run.extend(part)
            continue
        if run:
            chunks.append(to_array(run, kind))
            run = []
        chunks.append(part if isinstance(part, pa.Array) else to_array(part, kind))
    if run or not chunks:
        chunks.append(to_array(run, kind))
    if len(chunks) == 1:
        return chunks[0]
    if len({c.type for c in chunks}) > 1:  # a part that disagreed with the schema: all as text
        chunks = [c.cast(pa.string()) for c in chunks]
    return pa.chunked_array(chunks)


def request_table(requests: "list[LoggedRequest]", types: dict[str, pa.DataType] | None = None):
    """The same table as `table([r.columns() for r in requests])`, built column-wise.

    For requests of one server (the same input and output names, in the same order): each
    column is built from the requests' tuples in one pass, with no dict or list per request
    (the writer shares the interpreter with the requests). Returns None when the requests
    do not share their names; the caller then uses `table`.
    """
    first = requests[0]
    in_names, out_names = first.input_names, first.output_names
    if any(r.input_names != in_names or r.output_names != out_names for r in requests):
        return None
    known = META_TYPES | (types or {})
    sizes = [len(r.inputs[0]) if r.inputs else 0 for r in requests]
    spread = np.repeat(np.arange(len(requests)), sizes)

    def repeated(name: str, values: list) -> pa.Array:
        return to_array(values, known.get(name)).take(spread)

    arrays = {
        "request_id": repeated("request_id", [r.request_id for r in requests]),
        "time": repeated("time", [r.when for r in requests]),
        "model_name": repeated("model_name", [r.model[0] for r in requests]),
        "model_version": repeated("model_version", [r.model[1] for r in requests]),
    }
    for i, name in enumerate(in_names):
        arrays[name] = _column((r.inputs[i] for r in requests), known.get(name))
    for i, name in enumerate(out_names):
        arrays[name] = _column((r.outputs[i] for r in requests), known.get(name))
    arrays["latency_seconds"] = repeated("latency_seconds", [r.latency_seconds for r in requests])
    return pa.table(arrays)


def concat(tables: list[pa.Table]) -> pa.Table:
    """Tables built at different times as one, without copying.

    A column whose type differs between them (a request that disagreed with the schema)
    becomes text, as in `table`.
    """
    if len(tables) == 1:
        return tables[0]
    try:
        return pa.concat_tables(tables, promote_options="default")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        clash = {
            name
            for name in {n for t in tables for n in t.column_names}
            if len({t.schema.field(name).type for t in tables if name in t.column_names}) > 1
        }
        return pa.concat_tables([_text(t, clash) for t in tables], promote_options="default")


def _text(table_: pa.Table, names: set[str]) -> pa.Table:
    for name in names & set(table_.column_names):
        i = table_.column_names.index(name)
        table_ = table_.set_column(i, name, table_.column(name).cast(pa.string()))
    return table_
