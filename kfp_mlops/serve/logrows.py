"""The prediction log's rows: what each row carries, and many requests' rows as one Arrow table."""

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

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


class LoggedRequest(NamedTuple):
    """One request's log facts as tuples of plain values, kept until the writer converts them.

    Tuples of strings, numbers and None are untracked by Python's cycle collector after the
    first collection they survive, so thousands of queued requests add almost nothing to each
    full collection (10,000 queued: 0.7 ms, several times less than as closures over lists;
    `python -m benchmarks.predlog`). The name tuples are the server's own, shared by every
    request. `columns()` builds the rows in the writer. A large request's values and answer
    may be arrays instead (see `log_entry`).
    """

    request_id: str
    when: datetime
    model: tuple[str, str | None]
    input_names: tuple[str, ...]
    inputs: tuple  # per input name: a tuple of values, or an Arrow array
    output_names: tuple[str, ...]
    outputs: tuple  # per output name: a tuple of values, or an array (numpy or Arrow)
    latency_seconds: float | None

    @classmethod
    def of(
        cls,
        request_id: str,
        when: datetime,
        model: tuple[str, str | None],
        names: tuple[tuple[str, ...], tuple[str, ...]],
        columns: dict[str, list],
        labels: "list | pa.Array",
        probabilities: "list[list[float]] | np.ndarray | None",
        latency_seconds: float | None,
    ) -> "LoggedRequest":
        """A request as the server logs it: its checked columns and its answer.

        Args:
            request_id: The request's id.
            when: When it was answered (UTC).
            model: (registered name, version), shared by every request of a server.
            names: (input names, output names: "prediction" then "proba_<class>" per class),
                the server's own tuples, shared by every request.
            columns: The request's values by input name: lists, or Arrow arrays (see
                `arrays`).
            labels: The predicted label per row: a list, or an Arrow array (a large request:
                the writer takes it as it is).
            probabilities: Per row, one probability per class (a list of rows, or a numpy
                array rows x classes: its columns are kept as arrays); None when the model
                has none.
            latency_seconds: The request's own latency.
        """
        inputs, outputs = names
        answer: tuple = (labels if isinstance(labels, pa.Array) else tuple(labels),)
        if probabilities is None:
            outputs = outputs[:1]
        elif isinstance(probabilities, np.ndarray):
            answer += tuple(np.ascontiguousarray(probabilities.T))
        else:
            answer += tuple(zip(*probabilities, strict=True))
        given = map(columns.__getitem__, inputs)
        # All arrays (see `arrays`) or all lists: one check, not one per column.
        values = tuple(given if isinstance(columns[inputs[0]], pa.Array) else map(tuple, given))
        return cls(request_id, when, model, inputs, values, outputs, answer, latency_seconds)

    def columns(self) -> dict:
        """The rows by column (see `records`)."""
        return records(
            self.request_id,
            self.when,
            self.model,
            {name: _values(v) for name, v in zip(self.input_names, self.inputs, strict=True)},
            {name: _values(v) for name, v in zip(self.output_names, self.outputs, strict=True)},
            self.latency_seconds,
        )


# From this many rows a request is logged as Arrow, built in the request path; below it as
# tuples the writer thread converts in bulk, which costs less for a row or two
# (benchmarks/predlog.py).
ARRAY_ROWS = 64


def log_entry(
    request_id: str,
    when: datetime,
    model: tuple[str, str | None],
    names: tuple[tuple[str, ...], tuple[str, ...]],
    columns: dict[str, list],
    answer,
    latency_seconds: float,
    classes: pa.Array | None,
    types: dict[str, pa.DataType],
) -> "LoggedRequest | pa.Table":
    """What the server queues for one request.

    A request of ARRAY_ROWS rows or more is built into its log rows here, as Arrow: its
    values are freed by the thread that parsed them, while they are still in its cache, and
    the writer thread has nothing to convert (1000 rows: 405 to 437 µs here, against 477 to
    546 µs as tuples queued plus the writer's conversion; `python -m benchmarks.predlog`).

    Args:
        request_id: The request's id.
        when: When it was answered (UTC).
        model: (registered name, version).
        names: (input names, output names), the server's own tuples.
        columns: The request's checked values by input name.
        answer: The model's answer (serve.model.Prediction): labels and probabilities, and
            the same as arrays (class index per row, probabilities) when it has them.
        latency_seconds: The request's own latency.
        classes: The model's classes as an Arrow array (label = classes[index]), or None.
        types: Arrow types of the input and output columns.
    """
    large = len(answer.labels) >= ARRAY_ROWS and classes is not None
    if large and answer.codes is not None and answer.proba is not None:
        entry = LoggedRequest.of(
            request_id, when, model, names, arrays(columns, types),
            classes.take(answer.codes), answer.proba, latency_seconds,
        )  # fmt: skip
        return request_table([entry], types)
    return LoggedRequest.of(
        request_id, when, model, names, columns, answer.labels, answer.probabilities,
        latency_seconds,
    )  # fmt: skip


def arrays(columns: dict[str, list], types: dict[str, pa.DataType]) -> dict[str, pa.Array]:
    """A large request's columns as Arrow arrays (see `log_entry`)."""
    return {name: _array(values, types.get(name)) for name, values in columns.items()}


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


def _values(part: "tuple | np.ndarray | pa.Array") -> list:
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
            chunks.append(_array(run, kind))
            run = []
        chunks.append(part if isinstance(part, pa.Array) else _array(part, kind))
    if run or not chunks:
        chunks.append(_array(run, kind))
    if len(chunks) == 1:
        return chunks[0]
    if len({c.type for c in chunks}) > 1:  # a part that disagreed with the schema: all as text
        chunks = [c.cast(pa.string()) for c in chunks]
    return pa.chunked_array(chunks)


def request_table(requests: list[LoggedRequest], types: dict[str, pa.DataType] | None = None):
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
        return _array(values, known.get(name)).take(spread)

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
