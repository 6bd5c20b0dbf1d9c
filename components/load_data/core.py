"""Snapshot a table from a local path or an s3:// URI into Parquet: its content hash and schema."""

import hashlib
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import pyarrow.parquet as pq

from components._shared.datasets import refs as dataset_refs
from components._shared.datasets import store as dataset_store
from components._shared.datasets.streaming import copy, fetch_parts, open_parts
from components._shared.errors import ConfigError, DataError
from components._shared.input_checks import check_scheme
from components._shared.io.partitions import DateWindow
from components._shared.io.parts import is_collection, local_copy
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
    dataset_version: str = ""  # dataset://NAME@sha256:HEX stored or read ("" for none)

    def metadata(self) -> dict[str, object]:
        """The Dataset artifact metadata (JSON values only)."""
        found = {
            "source_uri": self.uri,
            "sha256": self.sha256,
            "rows": self.rows,
            "columns": list(self.columns),
            "dtypes": dict(self.dtypes),
        }
        found |= {"date_window": self.date_window} if self.date_window else {}
        return found | ({"dataset_version": self.dataset_version} if self.dataset_version else {})


NO_WINDOW = DateWindow()


def _check_pinned(uri: str, sha256: str, expected_sha256: str, version: str = "") -> None:
    if not expected_sha256 or sha256 == expected_sha256:
        return
    if version:  # a stored version's bytes changed under it
        raise dataset_store.tampered(version, uri, expected_sha256, sha256)
    raise DataError(
        f"the content of {uri} changed: its sha256 is {sha256}, but {expected_sha256} was "
        "recorded when it was snapshotted (the champion's dataset_sha256 tag); restore the "
        "original bytes at that URI, or give reference_uri explicitly to compare with "
        "other data"
    )


# What a snapshot would store as a dataset version: the file to store and its sources.
Kept = tuple[Path, list[dict]]


def _snapshot_csv(
    uri: str, destination: Path, expected_sha256: str, version: str, spool: Path | None
) -> tuple[Snapshot, Kept | None]:
    # CSV is read whole: its types are inferred from every row (pandas), as they always were.
    data = read_bytes(uri)
    sha256 = hashlib.sha256(data).hexdigest()
    _check_pinned(uri, sha256, expected_sha256, version)
    frame = parse_table(data, uri)
    write_parquet(frame, destination)
    snap = Snapshot(
        sha256=sha256,
        uri=uri,
        rows=len(frame),
        columns=tuple(str(c) for c in frame.columns),
        dtypes={str(c): str(t) for c, t in frame.dtypes.items()},
        row_groups=pq.ParquetFile(destination).num_row_groups,
    )
    if spool is None:  # nothing to store: the bytes are not copied
        return snap, None
    as_given = spool / "source.csv"
    as_given.write_bytes(data)  # a version holds the bytes as given: its sha256 is this one
    return snap, (as_given, [{"uri": uri, "sha256": sha256}])


def _snapshot_parquet(
    uri: str, destination: Path, expected_sha256: str, spool: Path, window: DateWindow, version: str
) -> tuple[Snapshot, Kept]:
    if is_collection(uri):
        parts, sha256, listed = fetch_parts(uri, spool, window)
        sources = [{"uri": uri, "sha256": sha256, "parts": listed}]
    else:
        digest = hashlib.sha256()
        parts = [(uri, local_copy(uri, spool / "000000.parquet", digest.update))]
        sha256 = digest.hexdigest()
        sources = [{"uri": uri, "sha256": sha256}]
    _check_pinned(uri, sha256, expected_sha256, version)  # before a byte is parsed
    source = open_parts(uri, parts)
    rows, groups, dtypes = copy(source, destination)
    found = (sha256, uri, rows, tuple(source.schema.names), dtypes, groups)
    # A folder or prefix is stored as the snapshot written from it; one file as its bytes.
    kept = destination if is_collection(uri) else parts[0][1]
    return Snapshot(*found, str(window) if window else ""), (kept, sources)


def _store(snap: Snapshot, kept: Kept, name: str, window: DateWindow, user: str) -> Snapshot:
    """Store what was read as a version of `name`; the snapshot names it."""
    path, sources = kept
    found, _ = dataset_store.add_file(
        path, name, sources=sources, time_window=dataset_store.window_dict(window), user=user
    )
    return replace(snap, dataset_version=found["reference"])


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
    dataset_name: str = "",
    user: str = "",
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
        dataset_name: Also store what was read as a version of this dataset (create-only:
            the same content gives the same version, written once): one file as its bytes
            as given (the version's sha256 is the snapshot's), a folder or prefix as the
            Parquet written here (its manifest lists each part and its hash, and the
            window). Empty, or a `dataset://` source: nothing is stored.
        user: Who stores the version; empty: KFP_MLOPS_USER, else the login name.

    Returns:
        The sha256 of the bytes it was read from (for parts: of their names relative to the
        prefix and their bytes, in name order), its row count, column names, the dtypes
        pandas reads the copy with, the row groups written, and the dataset version stored
        or read (`dataset://NAME@sha256:HEX`; empty when none).

    Raises:
        DataError: The file or object is missing, empty, header-only, not UTF-8, not
            comma-separated, has empty or repeated column names, is unparseable or of an
            unknown format or scheme; a CSV is too large; a folder or prefix holds no Parquet
            file or parts of different schemas; the content's hash is not `expected_sha256`.
        ConfigError: A bad dataset name (nothing is read).
        ServiceError: S3 is not configured or its endpoint does not answer.
    """
    version = ""
    if dataset_name:
        dataset_refs.check_name(dataset_name)  # a bad name is refused before anything is read
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
    # The Parquet suffix lets a folder's snapshot be stored as a version before it is moved.
    partial = destination.with_name(destination.name + ".partial.parquet")
    try:
        with tempfile.TemporaryDirectory(prefix="kfp-mlops-load-") as spool:
            storing = bool(dataset_name) and not version
            if not collection and table_format(uri) == "csv":
                keep = Path(spool) if storing else None
                snap, kept = _snapshot_csv(uri, partial, expected_sha256, version, keep)
            else:
                found = (Path(spool), window, version)
                snap, kept = _snapshot_parquet(uri, partial, expected_sha256, *found)
            if storing:
                snap = _store(snap, kept, dataset_name, window, user)
        partial.replace(destination)  # a failed copy leaves no output behind
    finally:
        partial.unlink(missing_ok=True)
    return replace(snap, uri=version, dataset_version=version) if version else snap
