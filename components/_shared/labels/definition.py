"""A label schema's definition: read from a file, checked, hashed, and held to the latest version.

No I/O beyond reading the given file; `schemas` stores what this module accepts.
"""

import hashlib
import json
import re
from pathlib import Path

from components._shared.errors import ConfigError, DataError

NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
REF = re.compile(r"([a-z0-9][a-z0-9._-]{0,62})@v([1-9][0-9]{0,8})")
REF_SYNTAX = "NAME@vN, e.g. credit-risk@v2 (NAME: lowercase letters, digits, '.', '_', '-')"
KEYS = {"target_column", "classes", "guidelines", "compatible_with"}
MAPPING_SYNTAX = (
    "compatible_with:\n  version: {latest}\n  mapping:\n    {old}: {new}   # old class -> class "
    "of this version (renamed or merged into it)"
)


def check_name(name: str) -> str:
    """The schema name, or the error naming the allowed characters."""
    if not NAME.fullmatch(name):
        raise ConfigError(f"bad label schema name {name!r}; expected {REF_SYNTAX}")
    return name


def parse_ref(text: str) -> tuple[str, int]:
    """`NAME@vN` as (NAME, N).

    Raises:
        ConfigError: Not of the syntax (the message shows it).
    """
    found = REF.fullmatch(text.strip())
    if not found:
        raise ConfigError(f"bad label schema version {text!r}; expected {REF_SYNTAX}")
    return found.group(1), int(found.group(2))


def load_file(path: str) -> object:
    """The parsed content of a JSON or YAML schema file.

    Raises:
        DataError: The file is missing, unreadable, of another suffix, or not valid JSON/YAML.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in (".json", ".yaml", ".yml"):
        raise DataError(f"cannot read schema {path}: give a .json, .yaml or .yml file")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise DataError(f"cannot read schema {path}: {why}; give a readable UTF-8 file") from None
    if suffix == ".json":
        try:
            return json.loads(text)
        except ValueError as exc:
            raise DataError(f"cannot parse schema {path} as JSON: {exc}") from None
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DataError(f"cannot parse schema {path} as YAML: {exc}") from None


def _class(entry: object, where: str) -> dict:
    if not isinstance(entry, dict) or set(entry) != {"id", "name"}:
        raise ConfigError(f"{where}: each class is {{id: INT, name: TEXT}}; got {entry!r}")
    cid, name = entry["id"], entry["name"]
    if isinstance(cid, bool) or not isinstance(cid, int) or cid < 0:
        raise ConfigError(f"{where}: class id {cid!r} of {name!r}; give a whole number >= 0")
    if isinstance(name, bool) or not isinstance(name, str | int) or not str(name).strip():
        raise ConfigError(f"{where}: class {cid} has name {name!r}; give a non-empty text")
    return {"id": cid, "name": str(name).strip()}


def _compatible(value: object, where: str) -> dict | None:
    if value is None:
        return None
    shape = "compatible_with is {version: N, mapping: {OLD_CLASS: NEW_CLASS, ...}}"
    if not isinstance(value, dict) or not set(value) <= {"version", "mapping"}:
        raise ConfigError(f"{where}: {shape}; got {value!r}")
    version, mapping = value.get("version"), value.get("mapping") or {}
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ConfigError(f"{where}: compatible_with.version {version!r}; {shape}")
    if not isinstance(mapping, dict):
        raise ConfigError(f"{where}: compatible_with.mapping {mapping!r}; {shape}")
    return {"version": version, "mapping": {str(k): str(v) for k, v in mapping.items()}}


def normalize(raw: object, where: str) -> dict:
    """The checked schema: target_column, classes sorted by id, guidelines, compatible_with.

    Raises:
        ConfigError: Not a mapping, unknown keys, a missing target_column or classes, a bad
            class, duplicate ids or names (each message names the problem and the fix).
    """
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: a schema is a mapping with keys {sorted(KEYS)}")
    unknown = sorted(set(raw) - KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; a schema has {sorted(KEYS)}")
    target = raw.get("target_column")
    if not isinstance(target, str) or not target.strip():
        raise ConfigError(f"{where}: no target_column; name the column the labels fill")
    classes = raw.get("classes")
    if not isinstance(classes, list) or not classes:
        raise ConfigError(f"{where}: no classes; give a list of {{id: INT, name: TEXT}}")
    checked = [_class(c, where) for c in classes]
    for key in ("id", "name"):
        seen = [c[key] for c in checked]
        twice = sorted({v for v in seen if seen.count(v) > 1}, key=str)
        if twice:
            raise ConfigError(f"{where}: duplicate class {key}(s) {twice}; each must be unique")
    guidelines = raw.get("guidelines")
    if guidelines is not None and not isinstance(guidelines, str):
        raise ConfigError(f"{where}: guidelines {guidelines!r}; give a URL or reference text")
    return {
        "target_column": target.strip(),
        "classes": sorted(checked, key=lambda c: c["id"]),
        "guidelines": guidelines,
        "compatible_with": _compatible(raw.get("compatible_with"), where),
    }


def digest(schema: dict) -> str:
    """The sha256 of a normalized schema (canonical JSON): equal content, equal hash."""
    canonical = json.dumps(schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def class_names(schema: dict) -> list[str]:
    """The class names of a schema, in id order."""
    return [c["name"] for c in schema["classes"]]


def check_compatible(new: dict, latest: dict, version: int, ref: str) -> None:
    """Refuse a new version that is not compatible with the latest one (`ref`, version N).

    Compatible: the same classes, only added classes, or a `compatible_with` of version N
    whose mapping covers every class removed (renamed or merged). A kept class keeps its id;
    an added class takes no id of the latest version's classes, except that of a class mapped
    onto it (a rename keeps its id).

    Raises:
        ConfigError: What is incompatible, and the mapping syntax that declares it.
    """
    old = {c["name"]: c["id"] for c in latest["classes"]}
    now = {c["name"]: c["id"] for c in new["classes"]}
    declared = new["compatible_with"]
    if declared and declared["version"] != version:
        raise ConfigError(
            f"compatible_with.version is {declared['version']} but the latest version is "
            f"{ref}; declare the mapping from version {version}"
        )
    mapping = declared["mapping"] if declared else {}
    not_old = sorted(k for k in mapping if k not in old)
    kept = sorted(k for k in mapping if k in now)
    not_new = sorted({v for v in mapping.values() if v not in now})
    removed = sorted(n for n in old if n not in now)
    unmapped = [n for n in removed if n not in mapping]
    example = MAPPING_SYNTAX.format(
        latest=version, old=(unmapped or ["OLD"])[0], new=next(iter(now), "NEW")
    )
    if not_old or kept or not_new:
        raise ConfigError(
            f"the mapping from {ref} is wrong: "
            + "; ".join(
                what
                for what in (
                    f"{not_old} are no classes of {ref} ({sorted(old)})" if not_old else "",
                    f"{kept} are kept in the new version (map only removed classes)"
                    if kept
                    else "",
                    f"{not_new} are no classes of the new version" if not_new else "",
                )
                if what
            )
        )
    if unmapped:
        raise ConfigError(
            f"the new version removes class(es) {unmapped} of {ref} without a mapping: labels "
            "of those classes could not be read in it. Keep the classes, or declare where "
            f"each went:\n{example}"
        )
    moved = sorted(n for n in now if n in old and now[n] != old[n])
    if moved:
        raise ConfigError(
            f"class(es) {moved} change id from {ref}: a kept class keeps its id "
            f"({ {n: old[n] for n in moved} })"
        )
    for name in (n for n in now if n not in old):
        taken = [o for o, i in old.items() if i == now[name]]
        if taken and mapping.get(taken[0]) != name:
            raise ConfigError(
                f"added class {name!r} takes id {now[name]} of {taken[0]!r} in {ref}; give it "
                f"a new id, or map {taken[0]!r} to {name!r} if it is a rename"
            )
