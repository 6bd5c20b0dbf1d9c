"""Row hashes that do not depend on how a table was read (CSV or Parquet, dtypes, column order).

The same row read from a CSV (int64, object) and from a Parquet snapshot (float64 because of
a null, category, string[pyarrow]) must hash the same, or a row the champion trained on would
pass as unseen. Each value is written in one canonical text first:

- null (None, NaN, NA, NaT) → one token, whatever the column's type;
- a number → its value, not its type: 3, 3.0 and np.int8(3) are all "3"; other floats are
  written with 15 significant digits, which absorbs a CSV parser's last-bit differences;
- a bool → true/false (distinct from 1/0: a bool column is not a number column);
- text → the text (a category → its value);
- anything else → its str().

A row's hash covers the column names too (sorted, so column order does not matter).
"""

import hashlib
import math
import numbers

import numpy as np
import pandas as pd

NULL = "\x00null"
_EXACT = 1e15  # below this, an integral float is written as the integer it holds


def _number(value: float) -> str:
    if math.isnan(value):
        return NULL
    if value.is_integer() and abs(value) < _EXACT:
        return "n:" + str(int(value))
    return "n:" + format(value, ".15g")


def canonical(value: object) -> str:
    """One value's canonical text (see the module's rules)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return NULL
    if isinstance(value, bool | np.bool_):
        return "b:" + ("true" if value else "false")
    if isinstance(value, numbers.Integral):
        number = int(value)
        return "n:" + str(number) if abs(number) < _EXACT else _number(float(number))
    if isinstance(value, numbers.Real):
        return _number(float(value))
    if isinstance(value, str):
        return "s:" + value
    if isinstance(value, pd.Timestamp | np.datetime64):
        return "t:" + pd.Timestamp(value).isoformat()
    return "o:" + str(value)


def _column_text(column: pd.Series) -> pd.Series:
    dtype = column.dtype
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        if pd.api.types.is_integer_dtype(dtype) and not column.hasnans:
            values = column.to_numpy(dtype=np.int64)
            if np.abs(values).max(initial=0) < _EXACT:  # the fast path: plain integers
                return pd.Series(["n:" + str(v) for v in values.tolist()], index=column.index)
        floats = column.to_numpy(dtype=float, na_value=np.nan)
        return pd.Series([_number(v) for v in floats.tolist()], index=column.index)
    return pd.Series([canonical(v) for v in column.astype(object).tolist()], index=column.index)


def row_hashes(frame: pd.DataFrame, columns: list[str] | tuple[str, ...]) -> pd.Series:
    """One hex digest per row of `frame`, over the named columns (in any order).

    Raises:
        KeyError: a named column is not in the frame (callers pick columns both tables have).
        ValueError: no column named.
    """
    names = sorted(str(c) for c in columns)
    if not names:
        raise ValueError("row_hashes needs at least one column")
    texts = [_column_text(frame[name]) for name in names]
    rows = []
    for values in zip(*(t.tolist() for t in texts), strict=True):
        digest = hashlib.blake2b(digest_size=16)
        for name, value in zip(names, values, strict=True):
            for part in (name, value):
                encoded = part.encode("utf-8", "surrogatepass")
                digest.update(len(encoded).to_bytes(8, "big"))
                digest.update(encoded)
        rows.append(digest.hexdigest())
    return pd.Series(rows, index=frame.index, dtype=object)
