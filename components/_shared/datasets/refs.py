"""The `dataset://NAME@sha256:HEX|@TAG` syntax and the store's layout on S3 (no I/O here)."""

import os
import re
from dataclasses import dataclass

from components._shared.errors import ConfigError

SCHEME = "dataset://"
# The data bucket the embedded stack makes (kfp_mlops/stack/seaweedfs.py DATA_BUCKET); a
# cluster may put the store elsewhere. Components cannot import the tool, hence the copy.
ROOT_ENV = "KFP_MLOPS_DATASETS_URI"
DEFAULT_ROOT = "s3://kfp-mlops-data/datasets/"
NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
TAG = re.compile(r"[A-Za-z][A-Za-z0-9._-]{0,62}")
HEX = re.compile(r"[0-9a-f]{64}")
SYNTAX = (
    "expected dataset://NAME@sha256:HEX (64 lowercase hex digits) or dataset://NAME@TAG; "
    "NAME is lowercase letters, digits, '.', '_' or '-' (up to 63), TAG starts with a letter"
)


@dataclass(frozen=True)
class Ref:
    """A parsed reference: a name and either a version's sha256 or a tag (or neither)."""

    name: str
    sha256: str = ""
    tag: str = ""

    def __str__(self) -> str:
        pin = f"@sha256:{self.sha256}" if self.sha256 else f"@{self.tag}" if self.tag else ""
        return f"{SCHEME}{self.name}{pin}"


def check_name(name: str) -> str:
    """The name, or the error naming the allowed characters."""
    if not NAME.fullmatch(name):
        raise ConfigError(f"bad dataset name {name!r}; {SYNTAX}")
    return name


def check_tag(tag: str) -> str:
    """The tag, or the error naming the allowed characters."""
    if not TAG.fullmatch(tag):
        raise ConfigError(f"bad dataset tag {tag!r}; {SYNTAX}")
    return tag


def parse_ref(text: str, pinned: bool = True) -> Ref:
    """Parse `dataset://NAME@sha256:HEX`, `dataset://NAME@TAG` (or `NAME@...` without scheme).

    Args:
        text: The reference.
        pinned: Require a version or a tag; False also accepts a bare NAME.

    Raises:
        ConfigError: The reference does not follow the syntax (the message shows it).
    """
    body = text.removeprefix(SCHEME)
    if "://" in body:
        raise ConfigError(f"bad dataset reference {text!r}; {SYNTAX}")
    name, at, pin = body.partition("@")
    if not at:
        if pinned:
            raise ConfigError(f"bad dataset reference {text!r}: no version or tag; {SYNTAX}")
        return Ref(check_name(name))
    if pin.startswith("sha256:"):
        digest = pin.removeprefix("sha256:")
        if not HEX.fullmatch(digest):
            raise ConfigError(f"bad dataset reference {text!r}: {digest!r} is no sha256; {SYNTAX}")
        return Ref(check_name(name), sha256=digest)
    return Ref(check_name(name), tag=check_tag(pin))


def root() -> str:
    """Where the store lives: s3://BUCKET/PREFIX/ (KFP_MLOPS_DATASETS_URI, else the data bucket)."""
    value = os.environ.get(ROOT_ENV) or DEFAULT_ROOT
    return value if value.endswith("/") else value + "/"


def version_prefix(name: str, sha256: str) -> str:
    """The folder of one version: its bytes and its manifest."""
    return f"{root()}{name}/sha256={sha256}/"


def data_uri(name: str, sha256: str, suffix: str) -> str:
    """The object holding a version's bytes, with the suffix that says its format."""
    return f"{version_prefix(name, sha256)}data{suffix}"


def manifest_uri(name: str, sha256: str) -> str:
    """The manifest of a version; the version exists once this object does."""
    return f"{version_prefix(name, sha256)}manifest.json"


def tag_record_uri(name: str, tag: str, seq: int) -> str:
    """The seq-th move of a tag: one object each, never rewritten; the highest is current."""
    return f"{root()}{name}/tags/{tag}/{seq:08d}.json"
