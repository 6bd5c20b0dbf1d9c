"""Read labels (CSV/Parquet files, or a folder/S3 prefix of them), each row with its schema version.

A label row says which schema version it follows (`NAME@vN`, see `schemas`):
- its own `schema_version` column, or, where that column is absent (or empty on a row),
- the file's version: Parquet key-value metadata `kfp_mlops.label_schema`. A CSV file has no
  metadata: a versioned CSV must carry the `schema_version` column.
A row with neither reads as "" (unversioned); `accept.accept_labels` decides what to do with it.
"""

import hashlib
from pathlib import Path

import pandas as pd

from components._shared.errors import DataError
from components._shared.input_checks import check_scheme
from components._shared.io.parts import is_collection
from components._shared.io.s3 import s3_objects
from components._shared.io.whole import (
    FORMATS,
    parquet_schema,
    parse_table,
    read_bytes,
    table_format,
)

VERSION_COLUMN = "schema_version"
METADATA_KEY = "kfp_mlops.label_schema"
LABEL_FORMAT = "request_id, label[, time][, row][, schema_version]"


def label_files(uri: str) -> list[str]:
    """The CSV/Parquet files under a folder or s3:// prefix, in name order.

    Raises:
        DataError: The folder or prefix holds no CSV/Parquet file.
    """
    suffixes = tuple(FORMATS)
    if uri.startswith("s3://"):
        bucket, objects = s3_objects(uri, suffixes)
        files = [f"s3://{bucket}/{key}" for key, _ in objects]
    else:
        root = Path(uri.removeprefix("file://"))
        files = [str(p) for p in sorted(root.rglob("*")) if p.suffix.lower() in suffixes]
    if not files:
        raise DataError(
            f"{uri} holds no labels: no {sorted(FORMATS)} file under it; write the labels "
            f"there as CSV or Parquet with columns {LABEL_FORMAT}"
        )
    return files


def file_version(data: bytes, uri: str) -> str:
    """The schema version a file declares in its metadata ("" for CSV, or none declared)."""
    if table_format(uri) != "parquet":
        return ""
    metadata = parquet_schema(data).metadata or {}
    return metadata.get(METADATA_KEY.encode(), b"").decode("utf-8", "replace").strip()


def _read_one(uri: str) -> tuple[pd.DataFrame, str]:
    """One file's rows with their schema_version, and the sha256 of the bytes they came from."""
    table_format(uri)  # an unknown format is refused before any read
    data = read_bytes(uri)
    frame = parse_table(data, uri)
    declared = file_version(data, uri)
    if VERSION_COLUMN in frame.columns:
        own = frame[VERSION_COLUMN].astype("string").str.strip()
        frame[VERSION_COLUMN] = own.mask(own.isna() | (own == ""), declared).astype(str)
    else:
        frame[VERSION_COLUMN] = declared
    return frame, hashlib.sha256(data).hexdigest()


def read_label_sources(uri: str) -> tuple[pd.DataFrame, list[dict]]:
    """The labels (as `read_labels`), and each file read: {uri, sha256, kind: "labels"}.

    Each file is listed and read once: the hash recorded is that of the bytes parsed.

    Raises:
        DataError: As `read_labels`.
    """
    check_scheme(uri)
    files = label_files(uri) if is_collection(uri) else [uri]
    read = [_read_one(f) for f in files]
    frames = [frame for frame, _ in read]
    sources = [
        {"uri": f, "sha256": digest, "kind": "labels"}
        for f, (_, digest) in zip(files, read, strict=True)
    ]
    return (pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]), sources


def read_labels(uri: str) -> pd.DataFrame:
    """The labels of a CSV/Parquet file, or of every such file under a folder or S3 prefix.

    Files are read in name order, so among repeated labels without a time the one in the
    later file counts (see check_performance's join.JoinCounts.duplicate_labels). Every row
    gets a `schema_version` (text; "" when unversioned), as the module docstring says.

    Raises:
        DataError: No such file, an empty or unparseable one, an unknown format, or a
            prefix with no CSV/Parquet file.
    """
    return read_label_sources(uri)[0]


def no_labels_yet(uri: str) -> bool:
    """Whether labels_uri is a folder or S3 prefix that holds no label file yet.

    A new deployment's first scheduled runs: S3 has no empty folders, so a prefix nothing
    was written under reads as empty, not as missing. A file that does not exist, a bucket
    that does not, or a store that does not answer is not "no labels yet": reading fails.

    Raises:
        DataError: An unsupported scheme, a missing bucket or refused access.
        ServiceError: S3 is not configured or does not answer.
    """
    check_scheme(uri)
    if not is_collection(uri):
        return False
    if uri.startswith("s3://"):
        return not s3_objects(uri, tuple(FORMATS))[1]
    root = Path(uri.removeprefix("file://"))
    return not any(p.suffix.lower() in FORMATS for p in root.rglob("*"))
