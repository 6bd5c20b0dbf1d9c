"""Snapshot a table from a local path or an s3:// URI: its frame, content hash and schema."""

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from components._shared.errors import DataError
from components._shared.failpoints import failpoint
from components._shared.input_checks import check_same_schema, check_scheme
from components._shared.io import (
    parquet_parts,
    parquet_schema,
    parse_table,
    read_bytes,
    table_format,
)


@dataclass(frozen=True)
class Snapshot:
    """A table as read from its source, with the facts that identify that exact content."""

    frame: pd.DataFrame
    sha256: str  # of the source bytes, so the same file always gives the same hash
    uri: str
    rows: int
    columns: tuple[str, ...]
    dtypes: dict[str, str]

    def metadata(self) -> dict[str, object]:
        """The Dataset artifact metadata (JSON values only)."""
        return {
            "source_uri": self.uri,
            "sha256": self.sha256,
            "rows": self.rows,
            "columns": list(self.columns),
            "dtypes": dict(self.dtypes),
        }


def _is_collection(uri: str) -> bool:
    if uri.startswith("s3://"):
        return uri.endswith("/")
    return Path(uri.removeprefix("file://")).is_dir()


def _read_parts(uri: str) -> tuple[list[tuple[str, bytes]], str]:
    """Every Parquet part's bytes under a folder or prefix, and one hash of them all."""
    digest = hashlib.sha256()
    parts, first = [], None
    root = uri.removeprefix("file://").rstrip("/")
    for part in parquet_parts(uri):
        data = read_bytes(part)
        failpoint("load.part_read")
        schema = _parquet_schema_of(data, part)
        # Concatenating parts of two schemas would fill NaN columns silently: refuse instead.
        first = first or (part, schema)
        check_same_schema(first, (part, schema), uri)
        # Names relative to the prefix, length-prefixed: a copy elsewhere hashes the same,
        # and no split of the same bytes into other parts does.
        name = part.removeprefix(root).lstrip("/").encode()
        for chunk in (len(name).to_bytes(8, "big"), name, len(data).to_bytes(8, "big"), data):
            digest.update(chunk)
        parts.append((part, data))
    return parts, digest.hexdigest()


def _parquet_schema_of(data: bytes, uri: str) -> dict[str, str]:
    """Column -> Arrow type of a Parquet part, or the house error for one that is not Parquet."""
    try:
        schema = parquet_schema(data)
    except Exception as exc:  # pyarrow raises ArrowInvalid and OSError for non-Parquet bytes
        raise DataError(f"cannot parse {uri} as parquet: {exc}") from exc
    return {name: _kind(schema.field(i).type) for i, name in enumerate(schema.names)}


def _kind(arrow_type) -> str:
    """An Arrow type up to what pandas makes equal on concat (string = large_string, any unit)."""
    text = str(arrow_type).replace("large_", "")
    return re.sub(r"^(timestamp|duration|time\d+)\[\w+", r"\1[*", text)


def _check_pinned(uri: str, sha256: str, expected_sha256: str) -> None:
    if expected_sha256 and sha256 != expected_sha256:
        raise DataError(
            f"the content of {uri} changed: its sha256 is {sha256}, but {expected_sha256} was "
            "recorded when it was snapshotted (the champion's dataset_sha256 tag); restore the "
            "original bytes at that URI, or give reference_uri explicitly to compare with "
            "other data"
        )


def snapshot(uri: str, expected_sha256: str = "") -> Snapshot:
    """Read a CSV or Parquet table, or a folder/prefix of Parquet parts, and describe it.

    Args:
        uri: Local path (optionally `file://`) or `s3://bucket/key` ending in .csv, .parquet
            or .pq; or a local folder or an `s3://bucket/prefix/` (ending in "/") whose
            .parquet/.pq files, in name order, make one table. S3 is reached through the
            endpoint configured in the environment.
        expected_sha256: The hash the content must have (checked before it is parsed);
            empty means no check.

    Returns:
        The frame, the sha256 of the bytes it was parsed from (for parts: of their names
        relative to the prefix and their bytes, in name order), its row count, column names
        and dtypes.

    Raises:
        DataError: The file or object is missing, too large, empty, header-only, not UTF-8,
            not comma-separated, has empty or repeated column names, is unparseable or of an
            unknown format or scheme; a folder or prefix holds no Parquet file or parts of
            different schemas; the content's hash is not `expected_sha256`.
        ServiceError: S3 is not configured or its endpoint does not answer.
    """
    check_scheme(uri)
    if _is_collection(uri):
        parts, sha256 = _read_parts(uri)
        _check_pinned(uri, sha256, expected_sha256)
        frame = pd.concat([parse_table(data, part) for part, data in parts], ignore_index=True)
    else:
        table_format(uri)  # an unknown format fails before any network call
        data = read_bytes(uri)
        sha256 = hashlib.sha256(data).hexdigest()
        _check_pinned(uri, sha256, expected_sha256)
        frame = parse_table(data, uri)
    return Snapshot(
        frame=frame,
        sha256=sha256,
        uri=uri,
        rows=len(frame),
        columns=tuple(str(c) for c in frame.columns),
        dtypes={str(c): str(t) for c, t in frame.dtypes.items()},
    )
