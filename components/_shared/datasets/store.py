"""The dataset store on S3: versions written create-only, tags as append-only move records.

A version is the bytes of one CSV or Parquet file as they were given, at
`<root>/<name>/sha256=<hex>/data.<csv|parquet>`, and its `manifest.json` next to them; it
exists once the manifest does. Bytes are kept as given, not re-encoded: their sha256 is then
the same hash load_data records for that file (`dataset_sha256`), and no library upgrade can
change a version's content. A folder or prefix of Parquet parts is stored as the one Parquet
file the streaming snapshot writes from them, its manifest listing every part and its hash.
Every object is written with `If-None-Match: *` after a look that it is absent (SeaweedFS,
MinIO and AWS refuse the PUT with 412 when it exists; the look keeps a server that ignores the
header from overwriting), so nothing stored is ever rewritten.

A tag's history is one object per move, `<root>/<name>/tags/<tag>/<seq>.json`, written the
same way: two writers racing for one seq leave one winner, the loser retries on the next.
Reading (names, versions, tags, resolving, verified reads) lives in `catalog`; its functions
are re-exported here, so callers import one module.
"""

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path

from components._shared.datasets import refs
from components._shared.datasets.catalog import (
    USER_ENV,
    current,
    manifest,
    names,
    now,
    parse_manifest,
    read_verified,
    resolve,
    resolve_ref,
    tag_history,
    tags,
    tampered,
    versions,
    who,
)
from components._shared.datasets.describe import describe, file_sha256, table_file
from components._shared.datasets.objects import get_or_none, put_new, put_new_file
from components._shared.datasets.refs import parse_ref
from components._shared.datasets.streaming import Progress, copy, fetch_parts, open_parts
from components._shared.errors import ConfigError, DataError
from components._shared.io.partitions import DateWindow
from components._shared.io.parts import is_collection, local_copy
from components._shared.io.whole import table_format

__all__ = [
    "USER_ENV", "add", "add_file", "manifest", "move_tag", "names", "read_verified", "resolve",
    "tag_history", "tags", "tampered", "versions", "who",
]  # fmt: skip

MANIFEST_VERSION = 1
TAG_RETRIES = 64  # a writer loses a round only to another that won it: N racers need N - 1


def move_tag(name: str, tag: str, sha256: str, user: str | None = None) -> dict | None:
    """Point NAME@TAG at a version by appending a move record; None when it points there already.

    Raises:
        DataError: The version does not exist (nothing is recorded).
    """
    refs.check_tag(tag)
    manifest(name, sha256)  # an unknown version is refused before anything is written
    for _ in range(TAG_RETRIES):
        latest = current(name, tag)
        start = latest[1]["to"] if latest else None
        if start == sha256:
            return None
        seq = latest[0] + 1 if latest else 1
        move = {"name": name, "tag": tag, "seq": seq, "from": start, "to": sha256}
        move |= {"who": user or who(), "at": now()}
        body = json.dumps(move, indent=2).encode()
        if put_new(refs.tag_record_uri(name, tag, seq), body, "application/json"):
            return move
    raise DataError(f"could not record {name}@{tag}: other writers kept moving it; try again")


def _parents(parents: Sequence[str]) -> list[str]:
    """Each parent as NAME@sha256:HEX, refusing one that does not resolve."""
    pinned = []
    for text in parents:
        ref = parse_ref(text)
        sha256 = resolve_ref(ref)
        manifest(ref.name, sha256)
        pinned.append(f"{ref.name}@sha256:{sha256}")
    return pinned


def add_file(
    path: str | Path,
    name: str,
    *,
    sources: list[dict],
    time_window: dict | None = None,
    label_schema_version: str | None = None,
    parents: Sequence[str] = (),
    user: str = "",
    tag: str = "",
) -> tuple[dict, bool]:
    """Store a local CSV or Parquet file's bytes, as they are, as a version of NAME.

    Everything is checked before the first write: the name, tag and parents, that the file is
    a table. The same bytes give the same version: storing them again writes nothing and
    returns the version as it was first stored (its manifest unchanged), without parsing the
    file again (a training run re-reading the same CSV would parse it twice for nothing).

    Args:
        path: The local .csv, .parquet or .pq file.
        name: The dataset's name.
        sources: What the file was made from, each `{"uri", "sha256", ...}` (extra keys are
            kept); a source without "sha256" gets the file's own.
        time_window: The window of the data (e.g. `{"start": "2026-01-01", "end": ...}`).
        label_schema_version: The label schema its labels follow (`NAME@vN`).
        parents: Versions it was derived from (`dataset://NAME@...`), pinned by hash.
        user: Who stores it; empty: KFP_MLOPS_USER, else the login name.
        tag: A tag to move to the version (recorded; nothing when it points there already).

    Returns:
        The version's manifest, and whether this call created it.

    Raises:
        ConfigError: A bad name, tag or parent reference.
        DataError: The file is missing or no readable table; a parent does not exist; bytes
            already at the version's place that no longer hash to it.
    """
    refs.check_name(name)
    if tag:
        refs.check_tag(tag)
    pinned = _parents(parents)
    path, _ = table_file(path)  # an unknown suffix or a missing file is refused unread
    sha256 = file_sha256(path)
    created = False
    existing = get_or_none(refs.manifest_uri(name, sha256))
    if existing is None:
        facts = describe(path, sha256)  # a file that is no table is refused before any write
        uri = refs.data_uri(name, sha256, ".csv" if facts["format"] == "csv" else ".parquet")
        if not put_new_file(uri, path):
            # A crashed earlier add left the bytes: keep them only if they are these bytes.
            _check_stored(name, uri, sha256)
        found = {
            "manifest_version": MANIFEST_VERSION,
            "name": name,
            "sha256": sha256,
            "reference": f"{refs.SCHEME}{name}@sha256:{sha256}",
            "object": uri,
            "format": facts["format"],
            "bytes": facts["bytes"],
            "sources": [{"sha256": sha256} | s if "sha256" not in s else s for s in sources],
            "rows": facts["rows"],
            "columns": facts["columns"],
            "dtypes": facts["dtypes"],
            "time_window": time_window,
            "label_schema_version": label_schema_version,
            "parents": pinned,
            "created_by": user or who(),
            "created_at": now(),
        }
        body = json.dumps(found, indent=2).encode()
        created = put_new(refs.manifest_uri(name, sha256), body, "application/json")
        existing = body if created else get_or_none(refs.manifest_uri(name, sha256))
    if tag:
        move_tag(name, tag, sha256, user)
    return parse_manifest(refs.manifest_uri(name, sha256), existing), created


def _check_stored(name: str, uri: str, sha256: str) -> None:
    with tempfile.TemporaryDirectory(prefix="kfp-mlops-check-") as spool:
        stored = file_sha256(local_copy(uri, Path(spool) / "stored", lambda _: None))
    if stored != sha256:
        raise tampered(f"{refs.SCHEME}{name}@sha256:{sha256}", uri, sha256, stored)


def _source_uri(source: str) -> str:
    if source.startswith("s3://"):
        return source
    return str(Path(source.removeprefix("file://")).resolve())


def window_dict(window: DateWindow) -> dict | None:
    """A date window as the manifest records it (None: no window)."""
    if not window:
        return None
    return {"start": str(window.start) if window.start else None,
            "end": str(window.end) if window.end else None}  # fmt: skip


def add(
    source: str,
    name: str,
    tag: str = "",
    parents: Sequence[str] = (),
    user: str = "",
    progress: Progress | None = None,
) -> tuple[dict, bool]:
    """Store a CSV/Parquet file, or a folder/prefix of Parquet parts, as a version of NAME.

    A file is stored as its bytes (`add_file`). A local folder or an `s3://…/` prefix is
    streamed into one Parquet file (bounded memory, the path `load_data` snapshots with) and
    stored as that, its manifest's one source listing every part with its sha256.

    Args:
        source: A local path, `file://` or s3:// URI of a file; or a folder or prefix.
        name: The dataset's name.
        tag: A tag to move to the version.
        parents: Versions it was derived from, pinned by hash.
        user: Who stores it; empty: KFP_MLOPS_USER, else the login name.
        progress: Called with (parts done, parts in all) while a folder's parts are read.

    Raises:
        ConfigError: A bad name, tag or parent reference, or a dataset:// source.
        DataError: The source is missing or no readable table; parts of different schemas.
    """
    refs.check_name(name)
    if tag:
        refs.check_tag(tag)
    if source.startswith(refs.SCHEME):
        raise ConfigError(
            f"{source} is already a dataset version; move a tag to it with "
            f"`kfp-mlops data tag {source.removeprefix(refs.SCHEME)} TAG` instead of re-adding"
        )
    _parents(parents)  # refused before anything is read or written
    found = {"tag": tag, "parents": parents, "user": user}
    with tempfile.TemporaryDirectory(prefix="kfp-mlops-add-") as spool:
        spool = Path(spool)
        if is_collection(source):
            parts, sha256, listed = fetch_parts(source, spool, DateWindow(), progress)
            snapshot = spool / "snapshot.parquet"
            copy(open_parts(source, parts), snapshot)
            origin = {"uri": _source_uri(source), "sha256": sha256, "parts": listed}
            return add_file(snapshot, name, sources=[origin], **found)
        local = spool / f"source.{table_format(source)}"
        if source.startswith("s3://"):
            local_copy(source, local, lambda _: None)
        else:
            local = Path(source.removeprefix("file://"))
        return add_file(local, name, sources=[{"uri": _source_uri(source)}], **found)
