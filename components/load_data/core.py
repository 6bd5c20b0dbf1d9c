"""Snapshot a table from a local path or an s3:// URI: its frame, content hash and schema."""

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from components._shared.io import parquet_parts, parse_table, read_bytes, read_table


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


def _read_parts(uri: str) -> tuple[pd.DataFrame, str]:
    """Every Parquet part under a folder or prefix, concatenated, and one hash of them all."""
    digest = hashlib.sha256()
    frames = []
    root = uri.removeprefix("file://").rstrip("/")
    for part in parquet_parts(uri):
        data = read_bytes(part)
        # Names relative to the prefix, length-prefixed: a copy elsewhere hashes the same,
        # and no split of the same bytes into other parts does.
        name = part.removeprefix(root).lstrip("/").encode()
        for chunk in (len(name).to_bytes(8, "big"), name, len(data).to_bytes(8, "big"), data):
            digest.update(chunk)
        frames.append(parse_table(data, part))
    return pd.concat(frames, ignore_index=True), digest.hexdigest()


def snapshot(uri: str) -> Snapshot:
    """Read a CSV or Parquet table, or a folder/prefix of Parquet parts, and describe it.

    Args:
        uri: Local path (optionally `file://`) or `s3://bucket/key` ending in .csv, .parquet
            or .pq; or a local folder or an `s3://bucket/prefix/` (ending in "/") whose
            .parquet/.pq files, in name order, make one table. S3 is reached through the
            endpoint configured in the environment.

    Returns:
        The frame, the sha256 of the bytes it was parsed from (for parts: of their names
        relative to the prefix and their bytes, in name order), its row count, column names
        and dtypes.

    Raises:
        DataError: The file or object is missing, empty, header-only, unparseable or of an
            unknown format; a folder or prefix holds no Parquet file.
        ServiceError: S3 is not configured or its endpoint does not answer.
    """
    if _is_collection(uri):
        frame, sha256 = _read_parts(uri)
    else:
        table = read_table(uri)
        frame, sha256 = table.frame, table.sha256
    return Snapshot(
        frame=frame,
        sha256=sha256,
        uri=uri,
        rows=len(frame),
        columns=tuple(str(c) for c in frame.columns),
        dtypes={str(c): str(t) for c, t in frame.dtypes.items()},
    )
