"""What a local CSV or Parquet file holds, for its manifest: sha256, format, rows, columns, dtypes.

The sha256 is of the bytes as they are, read in chunks. A Parquet file is described from its
footer (rows, schema, null counts per row group) without reading its rows, so a large snapshot
costs no memory; a CSV is parsed whole (within KFP_MLOPS_MAX_INPUT_BYTES), its types inferred
from every row as `load_data` infers them.
"""

import hashlib
from pathlib import Path

from components._shared.datasets.streaming import pandas_dtypes
from components._shared.errors import DataError
from components._shared.input_checks import check_column_names
from components._shared.io.s3 import CHUNK_BYTES
from components._shared.io.whole import parse_table, read_bytes, table_format


def file_sha256(path: Path) -> str:
    """The sha256 of a local file's bytes, read one chunk at a time."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _parquet(path: Path) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
        schema = meta.schema.to_arrow_schema().remove_metadata()
    except (pa.ArrowException, OSError) as exc:
        raise DataError(
            f"{path} is not a readable Parquet file ({exc}); give a .parquet file"
        ) from None
    check_column_names(schema.names, str(path))
    if meta.num_rows == 0:
        raise DataError(f"{path} has a header but no rows ({len(schema.names)} columns)")
    nulls = dict.fromkeys(schema.names, 0)
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for c in range(group.num_columns):
            column = group.column(c)
            stats = column.statistics
            name = column.path_in_schema
            if name in nulls:
                # No statistics: count the column as possibly null (the wider dtype).
                nulls[name] += stats.null_count if stats and stats.has_null_count else 1
    columns = [str(c) for c in schema.names]
    return {"rows": meta.num_rows, "columns": columns, "dtypes": pandas_dtypes(schema, nulls)}


def table_file(path: str | Path) -> tuple[Path, str]:
    """A local table file and its format ("csv" or "parquet"), looked at but not read.

    Raises:
        DataError: An unknown suffix (refused unread), or no such file.
    """
    path = Path(str(path).removeprefix("file://"))
    fmt = table_format(str(path))
    if not path.is_file():
        raise DataError(f"cannot read {path}: no such file")
    return path, fmt


def describe(path: str | Path, sha256: str = "") -> dict:
    """The manifest facts of a local table file: format, bytes, sha256, rows, columns, dtypes.

    Args:
        path: The local .csv, .parquet or .pq file.
        sha256: Its hash when the caller has just computed it (`file_sha256`); empty: hashed here.

    Raises:
        DataError: No such file, an unknown suffix, or content that is no table (empty,
            header-only, unparseable).
    """
    path, fmt = table_file(path)
    if fmt == "csv":
        frame = parse_table(read_bytes(str(path)), str(path))
        found = {
            "rows": len(frame),
            "columns": [str(c) for c in frame.columns],
            "dtypes": {str(c): str(t) for c, t in frame.dtypes.items()},
        }
    else:
        found = _parquet(path)
    sha256 = sha256 or file_sha256(path)
    return {"format": fmt, "bytes": path.stat().st_size, "sha256": sha256} | found
