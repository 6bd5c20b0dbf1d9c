"""Many requests' prediction-log rows as one Arrow table, and such tables joined."""

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np
import pyarrow as pa

from components._shared.logformat import META_TYPES


class RequestRows(Protocol):
    """What `request_table` reads of a queued request (logrows.LoggedRequest has it).

    A shape, not an import: logrows builds on this module, so naming its class here would
    close a circle.
    """

    request_id: str
    when: datetime
    model: tuple[str, str | None]
    input_names: tuple[str, ...]
    inputs: tuple
    output_names: tuple[str, ...]
    outputs: tuple
    latency_seconds: float | None
    endpoint: str


@dataclass(frozen=True, slots=True)
class Repeat:
    """One value standing for `n` equal cells of a column (a request's facts on each row)."""

    value: object
    n: int

    def cells(self) -> list:
        """The cells themselves."""
        return [self.value] * self.n


def to_array(values: list, kind: pa.DataType | None) -> pa.Array:
    """Values as an Arrow array of `kind` (inferred when None).

    Never another type than `kind`: values that do not fit raise (ArrowInvalid,
    ArrowTypeError, OverflowError, UnicodeEncodeError), and the writer sets aside the
    request they came from (logwriter.Partitions), so one request never retypes a column.
    """
    return pa.array(values, type=kind)


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
    if kind is not None:  # an answer array of a narrower type (a large request's labels)
        chunks = [c if c.type == kind else c.cast(kind) for c in chunks]
    return pa.chunked_array(chunks)


def request_table(requests: "list[RequestRows]", types: dict[str, pa.DataType] | None = None):
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
        "endpoint": repeated("endpoint", [r.endpoint for r in requests]),
    }
    for i, name in enumerate(in_names):
        arrays[name] = _column((r.inputs[i] for r in requests), known.get(name))
    for i, name in enumerate(out_names):
        arrays[name] = _column((r.outputs[i] for r in requests), known.get(name))
    arrays["latency_seconds"] = repeated("latency_seconds", [r.latency_seconds for r in requests])
    return pa.table(arrays)


def concat(tables: list[pa.Table]) -> pa.Table:
    """Tables built at different times as one, without copying (one schema: see `conform`)."""
    if len(tables) == 1:
        return tables[0]
    return pa.concat_tables(tables)


class SchemaClash(ValueError):
    """A table whose columns or types do not fit the partition's schema."""


def conform(built: pa.Table, schema: pa.Schema) -> pa.Table:
    """A table in exactly `schema`: its columns in order, a column it lacks as nulls.

    Raises:
        SchemaClash: A column the schema does not have, or one whose values do not fit the
            schema's type (the message names the column).
    """
    if built.schema == schema:
        return built
    extra = [n for n in built.column_names if schema.get_field_index(n) < 0]
    if extra:
        raise SchemaClash(f"column(s) {extra} are not in the partition's schema")
    columns = []
    for field in schema:
        if field.name not in built.column_names:
            columns.append(pa.nulls(len(built), field.type))
            continue
        columns.append(_fitted(built.column(field.name), field))
    return pa.Table.from_arrays(columns, schema=schema)


_NUMBERS = (pa.int64(), pa.float64())


def _fitted(column: "pa.ChunkedArray", field: pa.Field) -> "pa.ChunkedArray":
    """A column in its field's type, or a SchemaClash.

    As it is, nulls typed, or a number as the other number when no value changes (30.0 as
    the integer 30, as the server takes it); never text as a number or a number as text
    ("67" is not 67 to a log that says int64).
    """
    if column.type == field.type:
        return column
    if pa.types.is_null(column.type):
        return column.cast(field.type)
    if column.type in _NUMBERS and field.type in _NUMBERS:
        try:
            return column.cast(field.type, safe=True)
        except pa.ArrowInvalid:
            pass
    raise SchemaClash(
        f"column {field.name!r} holds {column.type}, the partition's schema {field.type}"
    )


def widen(known: pa.Schema, built: pa.Table) -> pa.Schema:
    """A partition's schema learned from its tables (the sink's, which has no model schema).

    The first table fixes it; a later one may only give a type to a column that was all null
    so far. Anything else is a clash, which `conform` reports.
    """
    fields = []
    for field in known:
        index = built.schema.get_field_index(field.name)
        if pa.types.is_null(field.type) and index >= 0:
            field = field.with_type(built.schema.field(index).type)
        fields.append(field)
    return pa.schema(fields)
