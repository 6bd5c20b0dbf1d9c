"""Snapshot a table from a local path or an s3:// URI: its frame, content hash and schema."""

from dataclasses import dataclass

import pandas as pd

from components._shared.io import read_table


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


def snapshot(uri: str) -> Snapshot:
    """Read a CSV or Parquet table from a local path or `s3://bucket/key` and describe it.

    Args:
        uri: Local path (optionally `file://`) or `s3://bucket/key` ending in .csv, .parquet
            or .pq; S3 is reached through the endpoint configured in the environment.

    Returns:
        The frame, the sha256 of the bytes it was parsed from, its row count, column names and
        dtypes.

    Raises:
        DataError: The file or object is missing, empty, header-only, unparseable or of an
            unknown format.
        ServiceError: S3 is not configured or its endpoint does not answer.
    """
    table = read_table(uri)
    frame = table.frame
    return Snapshot(
        frame=frame,
        sha256=table.sha256,
        uri=table.uri,
        rows=len(frame),
        columns=tuple(str(c) for c in frame.columns),
        dtypes={str(c): str(t) for c, t in frame.dtypes.items()},
    )
