"""Request values checked against the schema, column by column, into the frame the model reads."""

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kfp_mlops.serve.schema import Column, Schema


class RequestError(Exception):
    """A request the server refuses: an HTTP status and a message naming the problem."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _bad(column: Column, row: int, value: object) -> RequestError:
    shown = repr(value) if not isinstance(value, str) else repr(value[:40])
    return RequestError(
        400,
        f"column {column.name!r} expects {column.kind} values, got {shown} "
        f"({type(value).__name__}) in row {row}",
    )


# The value types each kind takes at once (null included); anything else goes through the
# value-by-value check, which also finds the row to name.
_PLAIN_TYPES = {
    "string": {str, type(None)},
    "integer": {int, type(None)},
    "double": {int, float, type(None)},
    "boolean": {bool, type(None)},
}
_INFINITIES = (math.inf, -math.inf)


def _check(column: Column, values: list) -> None:
    """Raise for the first value that is not of the column's kind (null is allowed).

    Every value's type is looked at in one pass in C; the value-by-value loop, which was
    most of a 1000-row request's checking, runs only when that pass finds a type to look
    closer at (a float in an integer column, a bool, anything else) and names the row.
    """
    seen = set(map(type, values))
    if seen <= _PLAIN_TYPES[column.kind] and not (
        float in seen and any(v in values for v in _INFINITIES)
    ):
        return
    _check_each(column, values)


def _check_each(column: Column, values: list) -> None:
    kind = column.kind
    for row, value in enumerate(values):
        if value is None:
            continue
        if kind == "string":
            ok = isinstance(value, str)
        elif kind == "boolean":
            ok = isinstance(value, bool)
        elif isinstance(value, bool) or not isinstance(value, int | float):
            ok = False
        elif kind == "integer" and isinstance(value, float):
            ok = value.is_integer()
        else:
            ok = not (isinstance(value, float) and math.isinf(value))
        if not ok:
            raise _bad(column, row, value)


def _series(column: Column, values: list) -> pd.Series:
    has_null = any(v is None for v in values)
    if column.kind == "string":
        # Missing strings as NaN: what the training frame held and the imputers replace.
        return pd.Series([np.nan if v is None else v for v in values], dtype=object)
    if column.kind == "boolean":
        return pd.Series(values, dtype="boolean" if has_null else bool)
    if column.kind == "integer" and not has_null:
        return pd.Series(values, dtype="int64")
    return pd.Series([np.nan if v is None else v for v in values], dtype="float64")


def check_rows(rows: int, max_rows: int) -> None:
    """Refuse an empty request or one with more rows than the server takes."""
    if rows == 0:
        raise RequestError(400, "the request holds no rows; send at least one instance")
    if rows > max_rows:
        raise RequestError(
            400,
            f"the request holds {rows} rows, more than the server's limit of {max_rows} "
            "(--max-rows); split it into smaller requests",
        )


def check_names(given: list[str], schema: Schema) -> None:
    """Refuse missing or extra columns, naming each."""
    missing = [n for n in schema.names if n not in given]
    extra = [n for n in given if n not in schema.names]
    problems = []
    if missing:
        problems.append(f"missing column(s) {missing}")
    if extra:
        problems.append(f"unknown column(s) {extra}")
    if problems:
        raise RequestError(400, f"{' and '.join(problems)}; the model takes {schema.describe()}")


@dataclass(frozen=True)
class Rows:
    """A request's values checked against the schema: plain lists by column, None for missing.

    A DataFrame is built only when the model's own pipeline needs one (`frame`), in the
    predicting thread: the event loop checks values and joins lists, nothing heavier.
    """

    columns: dict[str, list]
    schema: Schema

    def __len__(self) -> int:
        return len(self.columns[self.schema.columns[0].name])

    def __getitem__(self, name: str) -> list:
        return self.columns[name]

    def frame(self) -> pd.DataFrame:
        """The frame the model's pipeline reads: training's dtypes, missing values as NaN."""
        return pd.DataFrame({c.name: _series(c, self.columns[c.name]) for c in self.schema.columns})

    @staticmethod
    def join(parts: "list[Rows]") -> "Rows":
        """Several requests' rows as one, in order (a batched model call)."""
        names = parts[0].schema.names
        return Rows({n: [v for p in parts for v in p.columns[n]] for n in names}, parts[0].schema)


def checked_rows(columns: dict[str, list], schema: Schema) -> Rows:
    """A request's columns, each value checked against its column's kind.

    Raises:
        RequestError: A missing, extra or mistyped column (400).
    """
    check_names(list(columns), schema)
    for column in schema.columns:
        _check(column, columns[column.name])
    return Rows({c.name: columns[c.name] for c in schema.columns}, schema)


def build_frame(columns: dict[str, list], schema: Schema) -> pd.DataFrame:
    """The frame the model reads, from equally long value lists named by column.

    Raises:
        RequestError: A missing, extra or mistyped column (400).
    """
    return checked_rows(columns, schema).frame()
