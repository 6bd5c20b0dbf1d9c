"""Read only the compared columns: CSV, a Parquet file, or a folder/S3 prefix of Parquet files."""

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from components._shared.errors import DataError
from components._shared.io import (
    parse_s3_uri,
    parse_table,
    read_bytes,
    s3_parquet_keys,
)

PARQUET_MAGIC = b"PAR1"


def _is_parquet_file(path: Path) -> bool:
    # KFP artifact paths have no suffix: recognise Parquet by its magic bytes.
    if path.suffix.lower() in (".parquet", ".pq"):
        return True
    with path.open("rb") as handle:
        return handle.read(4) == PARQUET_MAGIC


def require_columns(names: list[str], columns: list[str] | None, label: str, uri: str) -> None:
    """A DataError naming the first requested column the data lacks, and every column it has."""
    for name in columns or []:
        if name not in names:
            raise DataError(
                f"column {name!r} is missing from the {label} data ({uri}), which has columns "
                f"{names}; compare a subset with columns=[...] (--columns)"
            )


def _read_parquet(source, columns: list[str] | None, uri: str, label: str) -> pa.Table:
    try:
        names = pq.read_schema(source).names
        if isinstance(source, pa.BufferReader):
            source.seek(0)
        require_columns(names, columns, label, uri)
        return pq.read_table(source, columns=columns)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"cannot parse {uri} as parquet: {exc}") from exc


def _concat(tables, uri: str) -> pd.DataFrame:
    # Each file becomes pandas as soon as it is read, so only one Arrow table is held at once.
    frames = [table.to_pandas() for table in tables]
    if not frames:
        raise DataError(f"{uri} holds no .parquet files; give a file or a prefix of Parquet files")
    # Files written at different times may differ slightly in schema; pandas aligns them.
    return pd.concat(frames, ignore_index=True)


def read_dataset(uri: str, columns: list[str] | None = None, label: str = "input") -> pd.DataFrame:
    """Read a dataset, keeping only `columns`.

    Args:
        uri: A local CSV/Parquet file (Parquet recognised without suffix, as KFP artifacts
            have none), a local folder of Parquet files, an s3:// object, or an s3:// prefix
            ending in "/" holding many Parquet files (read one at a time, selected columns only).
        columns: Columns to keep; None keeps all.
        label: What the data is ("reference", "current"), for messages.

    Returns:
        The rows of the selected columns.

    Raises:
        DataError: Unreadable data, no Parquet file under a prefix, or a requested column
            missing (the message lists the columns the data has).
    """
    if uri.startswith("s3://") and uri.endswith("/"):
        bucket, keys = s3_parquet_keys(uri)
        tables = (
            _read_parquet(pa.BufferReader(read_bytes(f"s3://{bucket}/{key}")), columns, key, label)
            for key in keys
        )
        return _concat(tables, uri)
    if uri.startswith("s3://"):
        parse_s3_uri(uri)
        if uri.lower().endswith(".csv"):
            frame = parse_table(read_bytes(uri), uri)
        else:
            frame = _read_parquet(pa.BufferReader(read_bytes(uri)), columns, uri, label).to_pandas()
    else:
        path = Path(uri.removeprefix("file://"))
        if not path.exists():
            raise DataError(f"cannot read {uri}: no such file or folder")
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.suffix.lower() in (".parquet", ".pq"))
            return _concat((_read_parquet(str(p), columns, str(p), label) for p in files), uri)
        if _is_parquet_file(path):
            frame = _read_parquet(str(path), columns, uri, label).to_pandas()
        else:
            frame = parse_table(read_bytes(uri), uri)
    if columns is None:
        return frame
    require_columns(list(frame.columns), columns, label, uri)
    return frame[columns]


def read_pair(reference: str, current: str, columns: list[str] | None) -> tuple:
    """Both datasets, restricted to `columns` (empty/None: all of them)."""
    columns = columns or None
    return read_dataset(reference, columns, "reference"), read_dataset(current, columns, "current")
