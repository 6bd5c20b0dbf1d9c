"""Parquet parts of a folder or prefix copied into one Parquet file, streamed, hashed as read.

The one streaming snapshot path: `load_data` snapshots a prediction-log window through it and
`kfp-mlops data add` stores a folder or prefix through it. Each part's bytes are hashed as they
arrive (an S3 object spooled to local disk by one GET, a local file read in place), then the
parts are copied one record batch at a time, one row group per batch: memory holds one batch,
whatever the rows.

A prediction log's shadow rows (`endpoint` = shadow: another version's answers to requests
already logged, kfp_mlops/serve/shadow.py) are left out and so is the `endpoint` column: the
copy holds the served traffic once, and days logged before the column existed join days
logged after it.
"""

import hashlib
import re
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from components._shared.errors import DataError
from components._shared.failpoints import failpoint
from components._shared.input_checks import check_column_names, check_same_schema
from components._shared.io.content_hash import check_size_read, part_header
from components._shared.io.partitions import DateWindow, in_window
from components._shared.io.parts import local_copy, parquet_parts
from components._shared.io.sources import ParquetSource
from components._shared.logformat import ENDPOINT, SHADOW

Progress = Callable[[int, int], None]  # (parts done, parts in all)


def _kind(arrow_type) -> str:
    """An Arrow type up to what is equal once copied (string = large_string, any unit)."""
    text = str(arrow_type).replace("large_", "")
    return re.sub(r"^(timestamp|duration|time\d+)\[\w+", r"\1[*", text)


class _Counter:
    """A chunk sink that hashes and counts the bytes it passes on."""

    def __init__(self, sink):
        self.sink, self.total, self.own = sink, 0, hashlib.sha256()

    def __call__(self, chunk: bytes) -> None:
        self.sink(chunk)
        self.own.update(chunk)
        self.total += len(chunk)


def fetch_parts(
    uri: str, spool: Path, window: DateWindow, progress: Progress | None = None
) -> tuple[list[tuple[str, Path]], str, list[dict]]:
    """The parts of a folder or prefix (in the window) on local disk, and their hashes.

    Returns:
        Each part's URI and local file; one sha256 of them all (of each part's name relative
        to the prefix, its size and its bytes, in name order: a copy elsewhere hashes the
        same, and no split of the same bytes into other parts does); and each part as
        `{"uri", "sha256", "bytes"}`.

    Raises:
        DataError: No Parquet part (in the window); a part that changed while being read.
        ServiceError: S3 does not answer.
    """
    digest = hashlib.sha256()
    chosen = in_window(parquet_parts(uri), window, uri)
    local, listed = [], []
    for n, part in enumerate(chosen):
        # The one definition of the hash (io/content_hash): name, listed size, then the bytes.
        digest.update(part_header(uri, part))
        counted = _Counter(digest.update)
        local.append((part.uri, local_copy(part.uri, spool / f"{n:06d}.parquet", counted)))
        check_size_read(part, counted.total)
        listed.append({"uri": part.uri, "sha256": counted.own.hexdigest(), "bytes": part.size})
        failpoint("load.part_read")
        if progress is not None:
            progress(n + 1, len(chosen))
    return local, digest.hexdigest(), listed


def open_parts(uri: str, parts: list[tuple[str, Path]]) -> ParquetSource:
    """The parts as one streaming source, refusing bad parts and parts of another schema."""
    for part, path in parts:
        if path.stat().st_size == 0:
            raise DataError(f"{part} is empty: expected a header and at least one row")
    openers = [(part, lambda p=path: str(p)) for part, path in parts]
    source = ParquetSource(uri, "input", openers, text_as_dictionary=False)
    first = None
    for part, handle in source.part_files():
        schema = handle.schema_arrow
        check_column_names(schema.names, part)
        if handle.metadata.num_rows == 0:
            raise DataError(f"{part} has a header but no rows ({len(schema.names)} columns)")
        log = _is_log(schema)
        kind = schema.field(ENDPOINT).type if log else None
        if kind is not None and not (pa.types.is_null(kind) or "string" in str(kind)):
            raise DataError(
                f"{part}: column {ENDPOINT!r} is {kind}, not text; a prediction log's endpoint "
                "is 'primary' or 'shadow' (components/_shared/logformat.py)"
            )
        kinds = {n: _kind(schema.field(n).type) for n in schema.names if not log or n != ENDPOINT}
        # Appending parts of two schemas would fill null columns silently: refuse instead.
        first = first or (part, kinds)
        check_same_schema(first, (part, kinds), uri)
    schemas = [handle.schema_arrow for _, handle in source.part_files()]
    # One type per column for the copy: an all-null part column or a narrower string in one
    # part takes the type the others have.
    unified = pa.unify_schemas(schemas, promote_options="permissive").remove_metadata()
    if any(_is_log(s) for s in schemas):
        unified = unified.remove(unified.get_field_index(ENDPOINT))
    source.schema = unified
    return source


def _is_log(schema: pa.Schema) -> bool:
    """A prediction log's part with the `endpoint` column (logformat)."""
    return ENDPOINT in schema.names and "request_id" in schema.names


def served_only(source: ParquetSource) -> tuple[str, str] | None:
    """What `ParquetSource.batches` leaves out of a prediction log: its shadow rows."""
    logs = any(_is_log(handle.schema_arrow) for _, handle in source.part_files())
    return (ENDPOINT, SHADOW) if logs else None


def pandas_dtypes(schema: pa.Schema, nulls: dict[str, int]) -> dict[str, str]:
    """The dtypes pandas reads a table with: integers with nulls become float64, bools object."""
    dtypes = {str(c): str(t) for c, t in schema.empty_table().to_pandas().dtypes.items()}
    for field in schema:
        if nulls.get(field.name) and pa.types.is_integer(field.type):
            dtypes[field.name] = "float64"
        elif nulls.get(field.name) and pa.types.is_boolean(field.type):
            dtypes[field.name] = "object"
    return dtypes


def copy(source: ParquetSource, destination: Path) -> tuple[int, int, dict[str, str]]:
    """Write the source's batches as Parquet row groups; rows, row groups and dtypes."""
    names = list(source.schema.names)
    nulls = dict.fromkeys(names, 0)
    rows = groups = 0
    with pq.ParquetWriter(destination, source.schema) as writer:
        for batch in source.batches(names, leave_out=served_only(source)):
            if batch.num_rows == 0:  # a row group of shadow rows only
                continue
            writer.write_batch(batch)  # one row group per batch: memory holds one batch
            rows, groups = rows + batch.num_rows, groups + 1
            for name in names:
                nulls[name] += batch.column(name).null_count
    return rows, groups, pandas_dtypes(source.schema, nulls)
