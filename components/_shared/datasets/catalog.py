"""The dataset store read: names, versions and their manifests, tags, references resolved.

Nothing here writes; `store` adds versions and moves tags. A tag's current target is its
latest move record (the zero-padded seq in the record's name orders them), read alone.
"""

import getpass
import hashlib
import json
import os
import re
from datetime import UTC, datetime

from components._shared.datasets import refs
from components._shared.datasets.objects import get_or_none, listing
from components._shared.datasets.refs import Ref, parse_ref
from components._shared.errors import DataError
from components._shared.io.s3 import parse_s3_uri
from components._shared.io.whole import read_bytes

USER_ENV = "KFP_MLOPS_USER"
SEQ = re.compile(r"[0-9]{8,}")  # a tag record's name: its zero-padded seq
NO_TAG = "restore the tag's records, or use a version (@sha256:HEX) instead of the tag"


def who() -> str:
    """Who writes: KFP_MLOPS_USER (a person, or a pipeline's service identity), else the login."""
    try:
        return os.environ.get(USER_ENV) or getpass.getuser()
    except OSError:  # no login name in a bare container
        return "unknown"


def now() -> str:
    """The time now, UTC, to the second (ISO 8601)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def names() -> list[str]:
    """The names of every dataset in the store."""
    _, _, base = refs.root().removeprefix("s3://").partition("/")
    return [
        n.removeprefix(base).rstrip("/") for n in listing(refs.root(), False) if n.endswith("/")
    ]


def unknown_name(name: str) -> DataError:
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
            raise unknown_name(name)
        raise DataError(
            f"dataset {name!r} has no version sha256:{sha256}; `kfp-mlops data list {name}` "
            "shows its versions"
        )
    uri = refs.manifest_uri(name, sha256)
    found = parse_manifest(uri, raw)
    # What the store wrote names this version and its own bytes beside the manifest; a
    # manifest that points anywhere else (another bucket, a local path, a prefix) was
    # changed by hand, and nothing it names is read.
    places = {refs.data_uri(name, sha256, suffix) for suffix in (".csv", ".parquet")}
    if found["sha256"] != sha256 or found["object"] not in places:
        raise DataError(
            f"the manifest {uri} is damaged (it names sha256:{found['sha256']} at "
            f"{found['object']}, not this version's own bytes); the store was changed by hand: "
            "restore it, or remove the version's folder and add the file again"
        )
    return found


def _stored_json(uri: str, raw: bytes, what: str, keys: tuple[str, ...], way_out: str) -> dict:
    """A JSON object the store wrote, or the error saying it is damaged and the way out."""
    try:
        found = json.loads(raw)
        if not isinstance(found, dict) or not all(isinstance(found.get(k), str) for k in keys):
            raise ValueError(f"not a {what}: an object with {', '.join(keys)}")
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise DataError(
            f"the {what} {uri} is damaged ({exc}); the store was changed by hand: {way_out}"
        ) from None
    return found


def parse_manifest(uri: str, raw: bytes) -> dict:
    """A version's manifest as stored, or the error naming it damaged."""
    way_out = (
        "restore it, or remove the version's folder and add the file again (the same bytes "
        "give the same version)"
    )
    return _stored_json(uri, raw, "manifest", ("object", "sha256", "created_at"), way_out)


def versions(name: str) -> list[dict]:
    """The manifests of a dataset's versions, oldest first."""
    if name not in names():
        raise unknown_name(name)
    found = listing(f"{refs.root()}{name}/", False)
    shas = [f.rstrip("/").rpartition("sha256=")[2] for f in found if "/sha256=" in f]
    listed = [(uri, get_or_none(uri)) for uri in (refs.manifest_uri(name, s) for s in shas)]
    found = (parse_manifest(uri, raw) for uri, raw in listed if raw)
    return sorted(found, key=lambda m: m["created_at"])


def _records(name: str, tag: str) -> list[str]:
    """The s3:// URIs of a tag's move records, oldest first (their names are zero-padded seqs)."""
    bucket, _ = parse_s3_uri(refs.root() + "x")
    return [f"s3://{bucket}/{key}" for key in listing(f"{refs.root()}{name}/tags/{tag}/", True)]


def _record(uri: str) -> dict | None:
    """One move record, or None when it is gone; a record that is not one is said as such."""
    raw = get_or_none(uri)
    if raw is None:
        return None
    return _stored_json(uri, raw, "tag record", ("to",), NO_TAG)


def current(name: str, tag: str) -> tuple[int, dict] | None:
    """The seq and record of a tag's latest move (one read), or None when it has none."""
    records = _records(name, tag)
    if not records:
        return None
    last = records[-1]
    seq = last.rpartition("/")[2].removesuffix(".json")
    if not SEQ.fullmatch(seq):  # a record is named by its zero-padded seq; this one was put by hand
        raise DataError(f"{last} is no tag record (those are named NNNNNNNN.json): {NO_TAG}")
    move = _record(last)
    if move is None:  # listed, then gone: the store is being changed by hand
        raise DataError(f"the tag record {last} vanished while being read; try again")
    if not refs.HEX.fullmatch(move["to"]):
        raise DataError(f"the tag record {last} points at no version ({move['to']!r}): {NO_TAG}")
    return int(seq), move


def tag_history(name: str, tag: str) -> list[dict]:
    """Every recorded move of a tag, oldest first (empty: no such tag)."""
    return [m for m in map(_record, _records(name, tag)) if m]


def tags(name: str) -> dict[str, str]:
    """Each tag of a dataset and the sha256 it points at now."""
    folders = listing(f"{refs.root()}{name}/tags/", False)
    found = sorted({f.rstrip("/").rpartition("/")[2] for f in folders})
    return {t: now[1]["to"] for t in found if (now := current(name, t))}


def resolve_ref(ref: Ref) -> str:
    """The sha256 a reference names: its own, or the one its tag points at now."""
    if ref.sha256:
        return ref.sha256
    latest = current(ref.name, ref.tag)
    if latest is None:
        if ref.name not in names():
            raise unknown_name(ref.name)
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
    sha256 = resolve_ref(ref)
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
    sha256 = resolve_ref(ref)
    found = manifest(ref.name, sha256)
    data = read_bytes(found["object"])
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise tampered(reference, found["object"], sha256, digest)
    return data, found
