"""The dataset store on S3: versions written create-only, tags as append-only move records.

A version is the bytes of one CSV or Parquet file as they were given, at
`<root>/<name>/sha256=<hex>/data.<csv|parquet>`, and its `manifest.json` next to them; it
exists once the manifest does. Bytes are kept as given, not re-encoded: their sha256 is then
the same hash load_data records for that file (`dataset_sha256`), and no library upgrade can
change a version's content. Every object is written with `If-None-Match: *` after a look that
it is absent (SeaweedFS, MinIO and AWS refuse the PUT with 412 when it exists; the look keeps
a server that ignores the header from overwriting), so nothing stored is ever rewritten.

A tag's history is one object per move, `<root>/<name>/tags/<tag>/<seq>.json`, written the
same way: two writers racing for one seq leave one winner, the loser retries on the next.
"""

import getpass
import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path

from components._shared.datasets import refs
from components._shared.datasets.objects import get_or_none, listing, put_new
from components._shared.datasets.refs import Ref, parse_ref
from components._shared.errors import ConfigError, DataError
from components._shared.io.parts import is_collection
from components._shared.io.s3 import get_object, parse_s3_uri
from components._shared.io.whole import parse_table, read_bytes, table_format

USER_ENV = "KFP_MLOPS_USER"
MANIFEST_VERSION = 1
TAG_RETRIES = 20


def who() -> str:
    """Who writes: KFP_MLOPS_USER (a person, or a pipeline's service identity), else the login."""
    try:
        return os.environ.get(USER_ENV) or getpass.getuser()
    except OSError:  # no login name in a bare container
        return "unknown"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def names() -> list[str]:
    """The names of every dataset in the store."""
    _, _, base = refs.root().removeprefix("s3://").partition("/")
    return [
        n.removeprefix(base).rstrip("/") for n in listing(refs.root(), False) if n.endswith("/")
    ]


def _unknown_name(name: str) -> DataError:
    known = names()
    return DataError(
        f"unknown dataset {name!r}; the store has {known or 'none'}: see `kfp-mlops data list`, "
        f"or add it with `kfp-mlops data add FILE --name {name}`"
    )


def manifest(name: str, sha256: str) -> dict:
    """The manifest of a version.

    Raises:
        DataError: No such dataset, or no such version of it (the message says which).
    """
    raw = get_or_none(refs.manifest_uri(name, sha256))
    if raw is None:
        if name not in names():
            raise _unknown_name(name)
        raise DataError(
            f"dataset {name!r} has no version sha256:{sha256}; `kfp-mlops data list {name}` "
            "shows its versions"
        )
    return json.loads(raw)


def versions(name: str) -> list[dict]:
    """The manifests of a dataset's versions, oldest first."""
    if name not in names():
        raise _unknown_name(name)
    found = listing(f"{refs.root()}{name}/", False)
    shas = [f.rstrip("/").rpartition("sha256=")[2] for f in found if "/sha256=" in f]
    listed = [get_or_none(refs.manifest_uri(name, s)) for s in shas]
    return sorted((json.loads(m) for m in listed if m), key=lambda m: m["created_at"])


def _records(name: str, tag: str) -> list[str]:
    """The s3:// URIs of a tag's move records, oldest first (their names are zero-padded seqs)."""
    bucket, _ = parse_s3_uri(refs.root() + "x")
    return [f"s3://{bucket}/{key}" for key in listing(f"{refs.root()}{name}/tags/{tag}/", True)]


def _record(uri: str) -> dict | None:
    """One move record, or None when it is gone; a record that is not one is said as such."""
    raw = get_or_none(uri)
    if raw is None:
        return None
    try:
        move = json.loads(raw)
        if not isinstance(move, dict) or not isinstance(move.get("to"), str):
            raise ValueError("not a move record (an object with `to`)")
    except ValueError as exc:
        raise DataError(
            f"the tag record {uri} is damaged ({exc}); the store was changed by hand: restore "
            "it, or use a version (@sha256:HEX) instead of the tag"
        ) from None
    return move


def _current(name: str, tag: str) -> tuple[int, dict] | None:
    """The seq and record of a tag's latest move (one read), or None when it has none."""
    records = _records(name, tag)
    if not records:
        return None
    last = records[-1]
    move = _record(last)
    if move is None:  # listed, then gone: the store is being changed by hand
        raise DataError(f"the tag record {last} vanished while being read; try again")
    return int(last.rpartition("/")[2].removesuffix(".json")), move


def tag_history(name: str, tag: str) -> list[dict]:
    """Every recorded move of a tag, oldest first (empty: no such tag)."""
    return [m for m in map(_record, _records(name, tag)) if m]


def tags(name: str) -> dict[str, str]:
    """Each tag of a dataset and the sha256 it points at now."""
    folders = listing(f"{refs.root()}{name}/tags/", False)
    found = sorted({f.rstrip("/").rpartition("/")[2] for f in folders})
    return {t: now[1]["to"] for t in found if (now := _current(name, t))}


def move_tag(name: str, tag: str, sha256: str, user: str | None = None) -> dict | None:
    """Point NAME@TAG at a version by appending a move record; None when it points there already.

    Raises:
        DataError: The version does not exist (nothing is recorded).
    """
    refs.check_tag(tag)
    manifest(name, sha256)  # an unknown version is refused before anything is written
    for _ in range(TAG_RETRIES):
        latest = _current(name, tag)
        start = latest[1]["to"] if latest else None
        if start == sha256:
            return None
        seq = latest[0] + 1 if latest else 1
        move = {"name": name, "tag": tag, "seq": seq, "from": start, "to": sha256}
        move |= {"who": user or who(), "at": _now()}
        body = json.dumps(move, indent=2).encode()
        if put_new(refs.tag_record_uri(name, tag, seq), body, "application/json"):
            return move
    raise DataError(f"could not record {name}@{tag}: other writers kept moving it; try again")


def _resolve_ref(ref: Ref) -> str:
    """The sha256 a reference names: its own, or the one its tag points at now."""
    if ref.sha256:
        return ref.sha256
    latest = _current(ref.name, ref.tag)
    if latest is None:
        if ref.name not in names():
            raise _unknown_name(ref.name)
        raise DataError(
            f"dataset {ref.name!r} has no tag {ref.tag!r}; its tags are "
            f"{sorted(tags(ref.name)) or 'none'}: give one of them, a version "
            f"(@sha256:HEX, `kfp-mlops data list {ref.name}`), or tag one with "
            f"`kfp-mlops data add FILE --name {ref.name} --tag {ref.tag}`"
        )
    return latest[1]["to"]


def resolve(reference: str) -> tuple[str, str]:
    """The s3:// URI of the bytes a `dataset://` reference names, and their sha256 (no writes).

    Raises:
        ConfigError: The reference is not of the syntax.
        DataError: No such dataset, version or tag.
    """
    ref = parse_ref(reference)
    sha256 = _resolve_ref(ref)
    return manifest(ref.name, sha256)["object"], sha256


def tampered(reference: str, uri: str, expected: str, found: str) -> DataError:
    """The error for stored bytes that no longer hash to their version."""
    return DataError(
        f"the bytes of {reference} at {uri} no longer match their hash: they hash to {found}, "
        f"the version is sha256:{expected}; the store was changed after the version was added "
        "and nothing was read. Re-add the original file (`kfp-mlops data add FILE --name "
        "NAME`: the same bytes give the same version) or use another version"
    )


def read_verified(reference: str) -> tuple[bytes, dict]:
    """The bytes a reference names, after checking they still hash to the version, and its manifest.

    Raises:
        ConfigError: Bad reference syntax.
        DataError: Unknown dataset, version or tag; bytes that no longer match their hash.
    """
    ref = parse_ref(reference)
    sha256 = _resolve_ref(ref)
    found = manifest(ref.name, sha256)
    data = read_bytes(found["object"])
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise tampered(reference, found["object"], sha256, digest)
    return data, found


def _source_uri(source: str) -> str:
    if source.startswith("s3://"):
        return source
    return str(Path(source.removeprefix("file://")).resolve())


def _parents(parents: list[str]) -> list[str]:
    """Each parent as NAME@sha256:HEX, refusing one that does not resolve."""
    pinned = []
    for text in parents:
        ref = parse_ref(text)
        sha256 = _resolve_ref(ref)
        manifest(ref.name, sha256)
        pinned.append(f"{ref.name}@sha256:{sha256}")
    return pinned


def add(
    source: str, name: str, tag: str = "", parents: list[str] | None = None, user: str = ""
) -> tuple[dict, bool]:
    """Store a CSV or Parquet file as a version of NAME (and move TAG to it).

    Everything is checked before the first write: the name, tag and parents, that the file is
    a table. Re-adding the same bytes changes nothing and returns the existing version.

    Returns:
        The version's manifest, and whether this call created it.

    Raises:
        ConfigError: A bad name, tag or parent reference, or a folder/prefix (not yet stored).
        DataError: The file is missing or not a readable table; a parent does not exist;
            bytes already at the version's place that no longer hash to it.
    """
    refs.check_name(name)
    if tag:
        refs.check_tag(tag)
    if source.startswith(refs.SCHEME):
        raise ConfigError(f"{source} is already a dataset version; tag it instead of re-adding")
    if is_collection(source):
        raise ConfigError(
            f"{source} is a folder or prefix; `data add` stores one CSV or Parquet file for now: "
            "give one file (e.g. the Parquet load_data wrote)"
        )
    pinned = _parents(parents or [])
    data = read_bytes(source)
    frame = parse_table(data, source)  # a file that is no table is refused before any write
    sha256 = hashlib.sha256(data).hexdigest()
    user = user or who()
    created = False
    existing = get_or_none(refs.manifest_uri(name, sha256))
    if existing is None:
        suffix = ".csv" if table_format(source) == "csv" else ".parquet"
        uri = refs.data_uri(name, sha256, suffix)
        if not put_new(uri, data, "application/octet-stream"):
            # A crashed earlier add left the bytes: keep them only if they are these bytes.
            stored = hashlib.sha256(get_object(uri)).hexdigest()
            if stored != sha256:
                raise tampered(f"dataset://{name}@sha256:{sha256}", uri, sha256, stored)
        found = {
            "manifest_version": MANIFEST_VERSION,
            "name": name,
            "sha256": sha256,
            "reference": f"{refs.SCHEME}{name}@sha256:{sha256}",
            "object": uri,
            "format": table_format(source),
            "bytes": len(data),
            "sources": [{"uri": _source_uri(source), "sha256": sha256}],
            "rows": len(frame),
            "columns": [str(c) for c in frame.columns],
            "dtypes": {str(c): str(t) for c, t in frame.dtypes.items()},
            "time_window": None,  # set by the training-set builder (issue 20, part 3)
            "label_schema_version": None,  # set once label schemas exist (issue 20, part 2)
            "parents": pinned,
            "created_by": user,
            "created_at": _now(),
        }
        body = json.dumps(found, indent=2).encode()
        created = put_new(refs.manifest_uri(name, sha256), body, "application/json")
        existing = body if created else get_or_none(refs.manifest_uri(name, sha256))
    if tag:
        move_tag(name, tag, sha256, user)
    return json.loads(existing), created
