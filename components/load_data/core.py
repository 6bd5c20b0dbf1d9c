"""Snapshot a table from a local path or an s3:// URI into Parquet: its content hash and schema."""

import hashlib
import re
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from components._shared.datasets import refs as dataset_refs
from components._shared.datasets import store as dataset_store
from components._shared.errors import ConfigError, DataError
from components._shared.failpoints import failpoint
from components._shared.input_checks import check_column_names, check_same_schema, check_scheme
from components._shared.io.content_hash import check_size_read, part_header
from components._shared.io.partitions import DateWindow, in_window
from components._shared.io.parts import is_collection, local_copy, parquet_parts
from components._shared.io.sources import ParquetSource
from components._shared.io.whole import parse_table, read_bytes, table_format, write_parquet


@dataclass(frozen=True)
class Snapshot:
    """A table as copied from its source, with the facts that identify that exact content."""

    sha256: str  # of the source bytes, so the same file always gives the same hash
    uri: str
    rows: int
    columns: tuple[str, ...]
    dtypes: dict[str, str]
    row_groups: int  # in the Parquet written: a streamed copy has one per batch
    date_window: str = ""  # the days read from a date-partitioned prefix ("" for all)

    def metadata(self) -> dict[str, object]:
        """The Dataset artifact metadata (JSON values only)."""
        found = {
            "source_uri": self.uri,
            "sha256": self.sha256,
            "rows": self.rows,
            "columns": list(self.columns),
            "dtypes": dict(self.dtypes),
        }
        return found | ({"date_window": self.date_window} if self.date_window else {})


NO_WINDOW = DateWindow()


def _check_pinned(uri: str, sha256: str, expected_sha256: str, version: str = "") -> None:
    if expected_sha256 and sha256 != expected_sha256 and version:
        raise dataset_store.tampered(version, uri, expected_sha256, sha256)
    if expected_sha256 and sha256 != expected_sha256:
        raise DataError(
            f"the content of {uri} changed: its sha256 is {sha256}, but {expected_sha256} was "
            "recorded when it was snapshotted (the champion's dataset_sha256 tag); restore the "
            "original bytes at that URI, or give reference_uri explicitly to compare with "
            "other data"
        )


def _kind(arrow_type) -> str:
    """An Arrow type up to what is equal once copied (string = large_string, any unit)."""
    text = str(arrow_type).replace("large_", "")
    return re.sub(r"^(timestamp|duration|time\d+)\[\w+", r"\1[*", text)


class _Counter:
    """A chunk sink that counts the bytes it passes on."""

    def __init__(self, sink):
        self.sink, self.total = sink, 0

    def __call__(self, chunk: bytes) -> None:
        self.sink(chunk)
        self.total += len(chunk)


def _fetch_parts(uri: str, spool: Path, window: DateWindow) -> tuple[list[tuple[str, Path]], str]:
    """The parts of a folder or prefix (in the window) on local disk, and one hash of them all."""
    digest = hashlib.sha256()
    local = []
    for n, part in enumerate(in_window(parquet_parts(uri), window, uri)):
        # The one definition of the hash (content_hash): name, listed size, then the bytes.
        digest.update(part_header(uri, part))
        counted = _Counter(digest.update)
        local.append((part.uri, local_copy(part.uri, spool / f"{n:06d}.parquet", counted)))
        check_size_read(part, counted.total)
        failpoint("load.part_read")
    return local, digest.hexdigest()


def _open_parts(uri: str, parts: list[tuple[str, Path]]):
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
        kinds = {name: _kind(schema.field(name).type) for name in schema.names}
        # Appending parts of two schemas would fill null columns silently: refuse instead.
        first = first or (part, kinds)
        check_same_schema(first, (part, kinds), uri)
    schemas = [handle.schema_arrow for _, handle in source.part_files()]
    # One type per column for the copy: an all-null part column or a narrower string in one
    # part takes the type the others have.
    source.schema = pa.unify_schemas(schemas, promote_options="permissive").remove_metadata()
    return source


def _pandas_dtypes(schema, nulls: dict[str, int]) -> dict[str, str]:
    """The dtypes pandas reads the copy with: integers with nulls become float64, bools object."""
    dtypes = {str(c): str(t) for c, t in schema.empty_table().to_pandas().dtypes.items()}
    for field in schema:
        if nulls.get(field.name) and pa.types.is_integer(field.type):
            dtypes[field.name] = "float64"
        elif nulls.get(field.name) and pa.types.is_boolean(field.type):
            dtypes[field.name] = "object"
    return dtypes


def _copy(source, destination: Path) -> tuple[int, int, dict[str, str]]:
    """Write the source's batches as Parquet row groups; rows, row groups and dtypes."""
    names = list(source.schema.names)
    nulls = dict.fromkeys(names, 0)
    rows = groups = 0
    with pq.ParquetWriter(destination, source.schema) as writer:
        for batch in source.batches(names):
            writer.write_batch(batch)  # one row group per batch: memory holds one batch
            rows, groups = rows + batch.num_rows, groups + 1
            for name in names:
                nulls[name] += batch.column(name).null_count
    return rows, groups, _pandas_dtypes(source.schema, nulls)


def _snapshot_csv(uri: str, destination: Path, expected_sha256: str, version: str) -> Snapshot:
    # CSV is read whole: its types are inferred from every row (pandas), as they always were.
    data = read_bytes(uri)
    sha256 = hashlib.sha256(data).hexdigest()
    _check_pinned(uri, sha256, expected_sha256, version)
    frame = parse_table(data, uri)
    write_parquet(frame, destination)
    return Snapshot(
        sha256=sha256,
        uri=uri,
        rows=len(frame),
        columns=tuple(str(c) for c in frame.columns),
        dtypes={str(c): str(t) for c, t in frame.dtypes.items()},
        row_groups=pq.ParquetFile(destination).num_row_groups,
    )


def _snapshot_parquet(
    uri: str, destination: Path, expected_sha256: str, spool: Path, window: DateWindow, version: str
) -> Snapshot:
    if is_collection(uri):
        parts, sha256 = _fetch_parts(uri, spool, window)
    else:
        digest = hashlib.sha256()
        parts = [(uri, local_copy(uri, spool / "000000.parquet", digest.update))]
        sha256 = digest.hexdigest()
    _check_pinned(uri, sha256, expected_sha256, version)  # before a byte is parsed
    source = _open_parts(uri, parts)
    rows, groups, dtypes = _copy(source, destination)
    found = (sha256, uri, rows, tuple(source.schema.names), dtypes, groups)
    return Snapshot(*found, str(window) if window else "")


def _resolve_version(
    reference: str, expected_sha256: str, window: DateWindow
) -> tuple[str, str, str]:
    """A dataset:// reference as the object to read, the hash it must have, and the reference."""
    if window:
        raise ConfigError(
            f"a date window ({window}) selects days of a prefix, but {reference} is one stored "
            "file; drop the window"
        )
    uri, sha256 = dataset_store.resolve(reference)
    # Lineage names the version itself, not a tag: a tag moves, the version read does not.
    pinned = str(dataset_refs.Ref(dataset_refs.parse_ref(reference).name, sha256))
    if expected_sha256 and expected_sha256 != sha256:
        raise DataError(
            f"{reference} is sha256:{sha256}, but {expected_sha256} was expected (the "
            "champion's dataset_sha256 tag); give the version that hash names, "
            f"dataset://NAME@sha256:{expected_sha256}, or reference_uri explicitly"
        )
    return uri, sha256, pinned


def snapshot(
    uri: str,
    destination: str | Path,
    expected_sha256: str = "",
    window: DateWindow = NO_WINDOW,
) -> Snapshot:
    """Copy a CSV or Parquet table, or a folder/prefix of Parquet parts, into one Parquet file.

    Parquet is streamed: each part's bytes are hashed as they arrive (an S3 object is spooled
    to local disk by one GET, a local file read in place), then copied one record batch at a
    time, one row group per batch, so memory does not grow with the rows. A CSV is read whole
    and refused beyond KFP_MLOPS_MAX_INPUT_BYTES.

    Args:
        uri: Local path (optionally `file://`) or `s3://bucket/key` ending in .csv, .parquet
            or .pq; or a local folder or an `s3://bucket/prefix/` (ending in "/") whose
            .parquet/.pq files, in name order, make one table. S3 is reached through the
            endpoint configured in the environment. Or a stored dataset version,
            `dataset://NAME@sha256:HEX` or `dataset://NAME@TAG`: its bytes must still hash
            to the version (checked before they are parsed); the snapshot's uri is the
            version as `dataset://NAME@sha256:HEX`, a tag resolved.
        destination: The Parquet file to write; written only when the whole copy succeeded.
        expected_sha256: The hash the content must have (checked before it is parsed);
            empty means no check.
        window: For a folder or prefix laid out as `date=YYYY-MM-DD/` folders (the
            prediction log), only the parts of these days; empty: every part.

    Returns:
        The sha256 of the bytes it was read from (for parts: of their names relative to the
        prefix and their bytes, in name order), its row count, column names, the dtypes
        pandas reads the copy with, and the row groups written.

    Raises:
        DataError: The file or object is missing, empty, header-only, not UTF-8, not
            comma-separated, has empty or repeated column names, is unparseable or of an
            unknown format or scheme; a CSV is too large; a folder or prefix holds no Parquet
            file or parts of different schemas; the content's hash is not `expected_sha256`.
        ServiceError: S3 is not configured or its endpoint does not answer.
    """
    version = ""
    if uri.startswith(dataset_refs.SCHEME):
        uri, expected_sha256, version = _resolve_version(uri, expected_sha256, window)
    check_scheme(uri)
    destination = Path(destination)
    collection = is_collection(uri)
    if window and not collection:
        raise ConfigError(
            f"a date window ({window}) selects date=YYYY-MM-DD/ folders of a prefix, but {uri} "
            "is one file; give the prefix (ending in /) or drop the window"
        )
    if not collection:
        table_format(uri)  # an unknown format fails before any network call
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    try:
        with tempfile.TemporaryDirectory(prefix="kfp-mlops-load-") as spool:
            if not collection and table_format(uri) == "csv":
                snap = _snapshot_csv(uri, partial, expected_sha256, version)
            else:
                found = (Path(spool), window, version)
                snap = _snapshot_parquet(uri, partial, expected_sha256, *found)
        partial.replace(destination)  # a failed copy leaves no output behind
    finally:
        partial.unlink(missing_ok=True)
    return replace(snap, uri=version) if version else snap
