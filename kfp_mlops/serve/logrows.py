"""The prediction log's rows: what each row carries, and many requests' rows as one Arrow table."""

from dataclasses import dataclass
from datetime import datetime
from itertools import chain
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
    """One request's log facts as tuples of plain values, kept until the next flush.

    Tuples of strings, numbers and None are untracked by Python's cycle collector after the
    first collection they survive, so thousands of queued requests add almost nothing to each
    full collection (10,000 queued: 0.7 ms, against 18.7 ms as closures over lists;
    `python -m benchmarks.predlog`). The name tuples are the server's own, shared by every
    request. `columns()` builds the rows in the writer.
    """

    request_id: str
    when: datetime
    model: tuple[str, str | None]
    input_names: tuple[str, ...]
    inputs: tuple[tuple, ...]  # one tuple of values per input name
    output_names: tuple[str, ...]
    outputs: tuple[tuple, ...]
    latency_seconds: float | None

    @classmethod
    def of(
        cls,
        request_id: str,
        when: datetime,
        model: tuple[str, str | None],
        names: tuple[tuple[str, ...], tuple[str, ...]],
        columns: dict[str, list],
        labels: list,
        probabilities: list[list[float]] | None,
        latency_seconds: float | None,
    ) -> "LoggedRequest":
        """A request as the server logs it: its checked columns and its answer.

        Args:
            request_id: The request's id.
            when: When it was answered (UTC).
            model: (registered name, version), shared by every request of a server.
            names: (input names, output names: "prediction" then "proba_<class>" per class),
                the server's own tuples, shared by every request.
            columns: The request's values by input name.
            labels: The predicted label per row.
            probabilities: Per row, one probability per class; None when the model has none.
            latency_seconds: The request's own latency.
        """
        inputs, outputs = names
        answer = (tuple(labels),)
        if probabilities is not None:
            answer += tuple(zip(*probabilities, strict=True))
        else:
            outputs = outputs[:1]
        values = tuple(map(tuple, map(columns.__getitem__, inputs)))
        return cls(request_id, when, model, inputs, values, outputs, answer, latency_seconds)

    def columns(self) -> dict:
        """The rows by column (see `records`)."""
        return records(
            self.request_id,
            self.when,
            self.model,
            {name: list(v) for name, v in zip(self.input_names, self.inputs, strict=True)},
            {name: list(v) for name, v in zip(self.output_names, self.outputs, strict=True)},
            self.latency_seconds,
        )


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


def request_table(requests: list[LoggedRequest], types: dict[str, pa.DataType] | None = None):
    """The same table as `table([r.columns() for r in requests])`, built column-wise.

    For requests of one server (the same input and output names, in the same order): each
    column is one C-level chain over the requests' tuples, with no dict or list per request
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
        values = list(chain.from_iterable(r.inputs[i] for r in requests))
        arrays[name] = _array(values, known.get(name))
    for i, name in enumerate(out_names):
        values = list(chain.from_iterable(r.outputs[i] for r in requests))
        arrays[name] = _array(values, known.get(name))
    arrays["latency_seconds"] = repeated("latency_seconds", [r.latency_seconds for r in requests])
    return pa.table(arrays)
