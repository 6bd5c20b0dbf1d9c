"""Request values checked against the schema, column by column, into the frame the model reads."""

import math
import sys
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


def _bad(column: Column, row: int, value: object, why: str = "") -> RequestError:
    shown = repr(value[:40]) if isinstance(value, str) else _short(value)
    return RequestError(
        400,
        f"column {column.name!r} expects {column.kind} values, got {shown} "
        f"({type(value).__name__}{why}) in row {row}",
    )


def _short(value: object) -> str:
    text = repr(value) if not isinstance(value, int) or abs(value) < 10**30 else "a huge int"
    return text if len(text) <= 60 else text[:57] + "..."


# The value types each kind takes at once (null included); anything else goes through the
# value-by-value check, which also finds the row to name.
_PLAIN_TYPES = {
    "string": {str, type(None)},
    "integer": {int, type(None)},
    "double": {int, float, type(None)},
    "boolean": {bool, type(None)},
}
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_FLOAT_MAX = sys.float_info.max


def check_column(column: Column, values: list) -> None:
    """Raise for the first value that does not fit the column's type (null is allowed).

    The type the log stores is the one checked here: integers within int64, floats finite,
    integers in a float column within float64, text valid Unicode (no lone surrogate).
    Every value's type is looked at in one pass in C, and the range or encoding of the whole
    column at once; the value-by-value loop, which finds the row to name, runs only when
    one of those finds something to look closer at.
    """
    seen = set(map(type, values))
    if seen <= _PLAIN_TYPES[column.kind] and _fits(column.kind, seen, values):
        return
    _check_each(column, values)


def _fits(kind: str, seen: set, values: list) -> bool:
    """Whether values of plain types are all within the column type's range (one pass)."""
    if kind == "boolean" or seen <= {type(None)}:
        return True
    present = values if type(None) not in seen else [v for v in values if v is not None]
    if kind == "string":
        try:
            "".join(present).encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    low, high = min(present), max(present)
    if kind == "integer":
        return low >= INT64_MIN and high <= INT64_MAX
    return low >= -_FLOAT_MAX and high <= _FLOAT_MAX  # also false for inf; NaN never parses


def _problem(kind: str, value: object) -> str | None:
    """Why one value does not fit its column's type, or None when it does."""
    if kind == "string":
        if not isinstance(value, str):
            return ""
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return ", not valid Unicode: a lone surrogate"
        return None
    if kind == "boolean":
        return None if isinstance(value, bool) else ""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return ", not finite"
    if kind == "integer":
        if isinstance(value, float) and not value.is_integer():
            return ""
        return None if INT64_MIN <= value <= INT64_MAX else ", outside int64"
    return None if -_FLOAT_MAX <= value <= _FLOAT_MAX else ", outside float64"


def _check_each(column: Column, values: list) -> None:
    kind = column.kind
    for row, value in enumerate(values):
        if value is None:
            continue
        why = _problem(kind, value)
        if why is not None:
            raise _bad(column, row, value, why)


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


MAX_ID_CHARS = 256  # a request id: a UUID is 36; ids go into every log row of the request


def check_request_id(value: object, where: str) -> str:
    """A request id as given (`id` of a V2 body, the x-request-id header): text, bounded.

    Raises:
        RequestError: Not a string, empty, longer than MAX_ID_CHARS, or not valid Unicode.
    """
    if not isinstance(value, str) or not value:
        raise RequestError(400, f"the request id ({where}) must be a non-empty string")
    if len(value) > MAX_ID_CHARS:
        raise RequestError(
            400, f"the request id ({where}) has {len(value)} characters; at most {MAX_ID_CHARS}"
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise RequestError(
            400, f"the request id ({where}) is not valid Unicode (a lone surrogate)"
        ) from None
    return value


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
        check_column(column, columns[column.name])
    return Rows({c.name: columns[c.name] for c in schema.columns}, schema)


def build_frame(columns: dict[str, list], schema: Schema) -> pd.DataFrame:
    """The frame the model reads, from equally long value lists named by column.

    Raises:
        RequestError: A missing, extra or mistyped column (400).
    """
    return checked_rows(columns, schema).frame()
