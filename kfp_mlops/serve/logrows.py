"""The prediction log's rows: what each row carries, and many requests' rows as one Arrow table."""

from datetime import datetime
from typing import NamedTuple

import numpy as np
import pyarrow as pa

from components._shared.logformat import PRIMARY
from kfp_mlops.serve.logtable import Repeat, request_table, to_array, values_of


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
    endpoint: str = PRIMARY  # logformat.PRIMARY, or SHADOW for a shadow's rows

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
        endpoint: str = PRIMARY,
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
            endpoint: Which model answered (logformat.PRIMARY or SHADOW).
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
        return cls(
            request_id, when, model, inputs, values, outputs, answer, latency_seconds, endpoint
        )

    def columns(self) -> dict:
        """The rows by column (see `records`)."""
        return records(
            self.request_id,
            self.when,
            self.model,
            {name: values_of(v) for name, v in zip(self.input_names, self.inputs, strict=True)},
            {name: values_of(v) for name, v in zip(self.output_names, self.outputs, strict=True)},
            self.latency_seconds,
            self.endpoint,
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
    endpoint: str = PRIMARY,
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
        endpoint: Which model answered (logformat.PRIMARY, or SHADOW for a shadow's rows).
    """
    large = len(answer.labels) >= ARRAY_ROWS and classes is not None
    if large and answer.codes is not None and answer.proba is not None:
        try:
            entry = LoggedRequest.of(
                request_id, when, model, names, arrays(columns, types),
                classes.take(answer.codes), answer.proba, latency_seconds, endpoint,
            )  # fmt: skip
            return request_table([entry], types)
        except (pa.ArrowException, OverflowError, UnicodeError):
            pass  # values the checks let through: queued as they are, the writer sets them aside
    return LoggedRequest.of(
        request_id, when, model, names, columns, answer.labels, answer.probabilities,
        latency_seconds, endpoint,
    )  # fmt: skip


def arrays(columns: dict[str, list], types: dict[str, pa.DataType]) -> dict[str, pa.Array]:
    """A large request's columns as Arrow arrays (see `log_entry`)."""
    return {name: to_array(values, types.get(name)) for name, values in columns.items()}


def records(
    request_id: str,
    when: datetime,
    model: tuple[str, str | None],
    inputs: dict[str, list],
    outputs: dict[str, list],
    latency_seconds: float | None,
    endpoint: str = PRIMARY,
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
        "endpoint": Repeat(endpoint, n),
        **inputs,
        **outputs,
        "latency_seconds": Repeat(latency_seconds, n),
    }
