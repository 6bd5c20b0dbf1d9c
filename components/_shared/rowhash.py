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

A row's hash covers the column names too (sorted, so column order does not matter); text is
escaped so that no value can pass for the boundary between two.
"""

import hashlib
import math
import numbers

import numpy as np
import pandas as pd

NULL = "\x00null"
SEP = "\x1f"  # between a row's values; escaped inside text, so no value can hold one
_EXACT = 1e15  # below this, an integral float is written as the integer it holds


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace(SEP, "\\x1f")


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
        return "s:" + _escaped(value)
    if isinstance(value, pd.Timestamp | np.datetime64):
        return "t:" + pd.Timestamp(value).isoformat()
    return "o:" + _escaped(str(value))


def _strings(values: pd.Series) -> pd.Series:
    """A Series of Python str as object dtype (pandas' own string dtypes behave otherwise)."""
    return values.astype(object)


def _numbers(column: pd.Series) -> pd.Series:
    floats = column.to_numpy(dtype=float, na_value=np.nan)
    out = pd.Series(NULL, index=column.index, dtype=object)
    whole = ~np.isnan(floats) & (np.abs(np.nan_to_num(floats)) < _EXACT)
    whole &= np.equal(np.floor(floats), floats, where=whole, out=np.zeros_like(whole))
    if pd.api.types.is_integer_dtype(column.dtype) and not column.hasnans:
        ints = column.to_numpy(dtype=np.int64)  # exact, not through float
        out[whole] = "n:" + _strings(pd.Series(ints[whole]).astype(str)).to_numpy()
    else:
        out[whole] = (
            "n:" + _strings(pd.Series(floats[whole].astype(np.int64)).astype(str)).to_numpy()
        )
    rest = ~whole & ~np.isnan(floats)
    out[rest] = [_number(v) for v in floats[rest].tolist()]
    return out


def _column_text(column: pd.Series) -> pd.Series:
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):  # each category once, then by code
        texts = np.array([canonical(c) for c in dtype.categories.tolist()] + [NULL], dtype=object)
        return pd.Series(texts[column.cat.codes.to_numpy()], index=column.index)
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        return _numbers(column)
    values = column.astype(object)
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):  # text and nulls
        present = values.notna().to_numpy()
        out = pd.Series(NULL, index=column.index, dtype=object)
        text = values[present].str.replace("\\", "\\\\", regex=False)
        out[present] = "s:" + text.str.replace(SEP, "\\x1f", regex=False).to_numpy()
        return out
    return pd.Series([canonical(v) for v in values.tolist()], index=column.index, dtype=object)


def row_hashes(frame: pd.DataFrame, columns: list[str] | tuple[str, ...]) -> pd.Series:
    """One hex digest per row of `frame`, over the named columns (in any order).

    Raises:
        KeyError: a named column is not in the frame (callers pick columns both tables have).
        ValueError: no column named.
    """
    names = sorted(str(c) for c in columns)
    if not names:
        raise ValueError("row_hashes needs at least one column")
    texts = [_column_text(frame[name]).tolist() for name in names]
    header = (SEP.join(_escaped(n) for n in names) + "\x1e").encode("utf-8", "surrogatepass")
    digests = []
    for values in zip(*texts, strict=True):
        digest = hashlib.blake2b(header, digest_size=16)
        digest.update(SEP.join(values).encode("utf-8", "surrogatepass"))
        digests.append(digest.hexdigest())
    return pd.Series(digests, index=frame.index, dtype=object)
