"""The label schema store on S3: immutable versions `NAME@vN`, written create-only.

Versions live beside the dataset store, at `<label-schemas root>/<NAME>/v<N>.json`: the root
is KFP_MLOPS_LABEL_SCHEMAS_URI, else the sibling `label-schemas/` of the dataset store's root
(`s3://kfp-mlops-data/label-schemas/` by default). Each object is written once with
`If-None-Match: *` (components/_shared/datasets/objects.py), so a version is never rewritten;
two registrations racing for one N leave one winner, and the loser checks again against the
new latest and takes the next N (or is refused, if no longer compatible).
"""

import json
import os
from datetime import UTC, datetime

from components._shared.datasets import refs as dataset_refs
from components._shared.datasets.catalog import who
from components._shared.datasets.objects import get_or_none, listing, put_new
from components._shared.errors import ConfigError, DataError
from components._shared.labels import definition

ROOT_ENV = "KFP_MLOPS_LABEL_SCHEMAS_URI"
RETRIES = 20


def root() -> str:
    """s3://BUCKET/PREFIX/ of the store (KFP_MLOPS_LABEL_SCHEMAS_URI, else beside the datasets)."""
    value = os.environ.get(ROOT_ENV)
    if not value:
        bucket, _, prefix = dataset_refs.root().removeprefix("s3://").partition("/")
        parent = prefix.rstrip("/").rpartition("/")[0]
        value = f"s3://{bucket}/{parent + '/' if parent else ''}label-schemas/"
    return value if value.endswith("/") else value + "/"


def version_uri(name: str, version: int) -> str:
    """The object holding one version."""
    return f"{root()}{name}/v{version}.json"


def names() -> list[str]:
    """Every schema name in the store."""
    _, _, base = root().removeprefix("s3://").partition("/")
    return [n.removeprefix(base).rstrip("/") for n in listing(root(), False) if n.endswith("/")]


def version_numbers(name: str) -> list[int]:
    """The version numbers of a schema, ascending (empty: no such schema)."""
    found = listing(f"{root()}{definition.check_name(name)}/", True)
    stems = [f.rpartition("/")[2].removesuffix(".json") for f in found]
    return sorted(int(s[1:]) for s in stems if s[:1] == "v" and s[1:].isdigit())


def _unknown(name: str) -> DataError:
    return DataError(
        f"unknown label schema {name!r}; the store has {names() or 'none'}: see `kfp-mlops "
        f"labels schema list`, or register it with `kfp-mlops labels schema register {name} FILE`"
    )


def get(reference: str) -> dict:
    """The stored record of `NAME@vN`: name, version, reference, sha256, schema, who, when.

    Raises:
        ConfigError: Not of the NAME@vN syntax.
        DataError: No such schema, or no such version of it (the message lists the versions),
            or a stored object that is not a version record.
    """
    name, version = definition.parse_ref(reference)
    raw = get_or_none(version_uri(name, version))
    if raw is None:
        known = version_numbers(name)
        if not known:
            raise _unknown(name)
        raise DataError(
            f"label schema {name!r} has no version v{version}; it has "
            f"{[f'{name}@v{n}' for n in known]} (`kfp-mlops labels schema list {name}`)"
        )
    return _record(raw, version_uri(name, version))


def _record(raw: bytes, uri: str) -> dict:
    """A stored version's record, or the error naming the object (never a bare JSON error)."""
    try:
        record = json.loads(raw)
    except ValueError as exc:  # JSON and UTF-8 errors alike
        record, why = None, f"not valid JSON ({exc})"
    else:
        why = "not a version record (a JSON object)"
    fields = ("version", "reference", "sha256", "schema")  # what register and accept read
    if not isinstance(record, dict) or not all(k in record for k in fields):
        raise DataError(
            f"the label schema version {uri} is {why}, not what `kfp-mlops labels schema "
            "register` writes: the object was changed in the store; restore it from the "
            "store's versioning or a backup"
        )
    return record


def records(name: str) -> list[dict]:
    """Every stored version of a schema, oldest first.

    Raises:
        DataError: No such schema.
    """
    found = [get(f"{name}@v{n}") for n in version_numbers(name)]
    if not found:
        raise _unknown(name)
    return found


def register(name: str, raw: object, where: str = "schema", user: str = "") -> tuple[dict, bool]:
    """Store a schema definition as the next version of NAME (v1 when new).

    Everything is checked before the write; an identical definition already stored returns
    that version and writes nothing.

    Returns:
        The version's record, and whether this call created it.

    Raises:
        ConfigError: A bad name or definition, or one not compatible with the latest version
            (`definition.check_compatible` says what, and how to declare a mapping).
        DataError: Other writers kept taking the next version number.
    """
    definition.check_name(name)
    schema = definition.normalize(raw, where)
    sha256 = definition.digest(schema)
    for _ in range(RETRIES):
        stored = [get(f"{name}@v{n}") for n in version_numbers(name)]
        same = [r for r in stored if r["sha256"] == sha256]
        if same:
            return same[0], False
        version = stored[-1]["version"] + 1 if stored else 1
        if stored:
            last = stored[-1]
            definition.check_compatible(schema, last["schema"], last["version"], last["reference"])
        elif schema["compatible_with"]:
            raise ConfigError(
                f"{where}: compatible_with names version {schema['compatible_with']['version']} "
                f"but {name!r} has no version yet; remove compatible_with for its first version"
            )
        record = {
            "name": name,
            "version": version,
            "reference": f"{name}@v{version}",
            "sha256": sha256,
            "schema": schema,
            "created_by": user or who(),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        body = json.dumps(record, indent=2).encode()
        if put_new(version_uri(name, version), body, "application/json"):
            return record, True
    raise DataError(f"could not register {name}: other writers kept taking the next version; retry")
