"""Tables read whole: CSV or Parquet bytes parsed by pandas, and Parquet artifacts in and out.

What remains read whole, each under the size-before-reading check (KFP_MLOPS_MAX_INPUT_BYTES):
a CSV input, and a step's own Parquet artifacts (training data, predictions). pandas is
imported where used, so the streaming path (`sources`) does not pay for it.
"""

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from components._shared.errors import DataError
from components._shared.input_checks import (
    check_column_names,
    check_scheme,
    check_size,
    csv_header,
    encoding_error,
)
from components._shared.io.s3 import get_object
from components._shared.redact import redact

if TYPE_CHECKING:
    import pandas as pd

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


@dataclass(frozen=True)
class Table:
    """A table read from a URI, with the hash of the bytes it was read from."""

    frame: "pd.DataFrame"
    sha256: str
    uri: str


def read_bytes(uri: str) -> bytes:
    """Read the raw bytes behind a local path or an s3:// URI, refusing one over the limit."""
    check_scheme(uri)
    if uri.startswith("s3://"):
        # The headers arrive before the body: refuse by size before reading it.
        return get_object(uri, on_size=lambda size: check_size(uri, size))
    path = Path(uri.removeprefix("file://"))
    if not path.exists():
        raise DataError(f"cannot read {uri}: no such file")
    if path.is_dir():
        raise DataError(f"cannot read {uri}: it is a directory; give a .csv or .parquet file")
    try:
        check_size(uri, path.stat().st_size)
        return path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {uri}: {exc.strerror}") from exc


def table_format(uri: str) -> str:
    """The table format ("csv" or "parquet") from the suffix; any other is refused unread."""
    suffix = Path(uri).suffix.lower()
    if suffix not in FORMATS:
        raise DataError(
            f"cannot read {uri}: unknown format {suffix or '(none)'!r}; "
            f"expected one of {sorted(FORMATS)}"
        )
    return FORMATS[suffix]


def parse_table(data: bytes, uri: str):
    """Parse CSV or Parquet bytes into a DataFrame, with a clear error for bad content."""
    import pandas as pd

    fmt = table_format(uri)
    if not data.strip():
        raise DataError(f"{uri} is empty: expected a header and at least one row")
    try:
        if fmt == "csv":
            csv_header(data, uri)  # pandas would mangle, invent or merge these names silently
            frame = pd.read_csv(io.BytesIO(data), encoding="utf-8")
        else:
            check_column_names(parquet_schema(data).names, uri)
            frame = pd.read_parquet(io.BytesIO(data))
    except DataError:
        raise
    except UnicodeDecodeError:
        raise encoding_error(uri, data) from None
    except Exception as exc:  # pandas/pyarrow raise many types for malformed files
        raise DataError(redact(f"cannot parse {uri} as {fmt}: {exc}")) from exc
    if frame.empty:
        raise DataError(f"{uri} has a header but no rows ({len(frame.columns)} columns)")
    return frame


def parquet_schema(data: bytes):
    """The Arrow schema in a Parquet file's footer (nothing else is read)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    return pq.read_schema(pa.BufferReader(data))


def read_table(uri: str) -> Table:
    """Read a CSV or Parquet table from a local path or an s3:// URI, hashing its bytes."""
    check_scheme(uri)
    table_format(uri)  # fail on an unknown format before any network call
    data = read_bytes(uri)
    return Table(frame=parse_table(data, uri), sha256=hashlib.sha256(data).hexdigest(), uri=uri)


def write_parquet(frame, path: str | Path) -> None:
    """Write a DataFrame as Parquet (artifact outputs), creating parent folders."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)


def read_parquet(path: str | Path):
    """Read a Parquet artifact whole, as a DataFrame, refusing one over the input limit.

    Training data and predictions are read whole: a snapshot streamed from a prefix larger
    than the step's memory is refused here by its size, before a byte is read.
    """
    import pandas as pd

    check_size(str(path), Path(path).stat().st_size)
    return pd.read_parquet(path)
