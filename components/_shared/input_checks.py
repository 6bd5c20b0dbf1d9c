"""Refusals of bad input files, each naming the file or column and the way out."""

import csv
import io
import os
from collections import Counter
from pathlib import Path

from components._shared.errors import ConfigError, DataError

SCHEMES = ("s3://", "file://")
MAX_INPUT_ENV = "KFP_MLOPS_MAX_INPUT_BYTES"
CGROUP_MEMORY_MAX = Path("/sys/fs/cgroup/memory.max")
# A table in memory takes a few times its file: the bytes, the parsed frame (object columns
# take 2-5x the CSV text), and the Parquet written from it. A quarter of memory leaves room.
MEMORY_SHARE = 4
# Delimiters a CSV from a spreadsheet or a database export often has instead of ",".
OTHER_DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe"}
UTF8_HINT = (
    "re-save it as UTF-8 (e.g. `iconv -f latin1 -t utf-8 IN.csv > OUT.csv`, or "
    "`df.to_csv(path, encoding='utf-8')`)"
)


def check_scheme(uri: str) -> None:
    """Refuse a URI scheme we cannot read, before any network call."""
    scheme, sep, _ = uri.partition("://")
    if sep and f"{scheme.lower()}://" not in SCHEMES:
        raise DataError(
            f"cannot read {uri}: unsupported scheme {scheme + '://'!r}; expected s3://BUCKET/KEY, "
            "file://PATH or a local path (copy the data into the S3 store first)"
        )


def memory_limit_bytes(cgroup_file: Path = CGROUP_MEMORY_MAX) -> int:
    """The container's memory limit (cgroup v2) when one is set, else the machine's memory."""
    try:
        raw = cgroup_file.read_text().strip()
    except OSError:
        raw = "max"
    if raw.isdigit():
        return int(raw)
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def input_limit_bytes(cgroup_file: Path = CGROUP_MEMORY_MAX) -> int:
    """The largest input read whole: KFP_MLOPS_MAX_INPUT_BYTES, else a share of memory."""
    raw = os.environ.get(MAX_INPUT_ENV, "").strip()
    if not raw:
        return memory_limit_bytes(cgroup_file) // MEMORY_SHARE
    if not raw.isdigit() or int(raw) == 0:
        raise ConfigError(f"{MAX_INPUT_ENV}={raw!r} is not a size; expected a number of bytes > 0")
    return int(raw)


def human_size(n: int) -> str:
    """A byte count for people: "404 bytes", "1.5 MiB"."""
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"  # unreachable: GiB is the last unit


def check_size(uri: str, size: int) -> None:
    """Refuse an input larger than the limit, from its size alone (before reading it)."""
    limit = input_limit_bytes()
    if size > limit:
        source = MAX_INPUT_ENV if os.environ.get(MAX_INPUT_ENV) else f"1/{MEMORY_SHARE} of memory"
        raise DataError(
            f"cannot read {uri}: it is {human_size(size)} ({size} bytes), over the input limit of "
            f"{human_size(limit)} ({limit} bytes, {source}); give the step more memory (the limit "
            f"follows it), set {MAX_INPUT_ENV} if it fits, or pass a smaller sample"
        )


def encoding_error(uri: str, data: bytes) -> DataError:
    """The error for CSV bytes that are not UTF-8, naming the first bad byte and its line."""
    try:
        data.decode("utf-8")
        where = ""
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        where = f": byte 0x{data[exc.start]:02x} on line {line} is not valid UTF-8"
    return DataError(f"cannot read {uri}: wrong text encoding{where}; {UTF8_HINT}")


def csv_header(data: bytes, uri: str) -> list[str]:
    """The column names of CSV bytes, refusing another delimiter, empty or repeated names."""
    line = data.split(b"\n", 1)[0].rstrip(b"\r")
    try:
        text = line.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise encoding_error(uri, data) from None
    names = next(csv.reader(io.StringIO(text)), [])
    for delimiter, called in OTHER_DELIMITERS.items():
        if text.count(delimiter) > text.count(","):
            raise DataError(
                f"cannot read {uri}: it looks {called}-separated ({len(names)} column(s) read from "
                f"header {text[:80]!r}); only comma-separated CSV is read: re-save it with ',' "
                f"as the delimiter (e.g. `df.to_csv(path, index=False)`)"
            )
    check_column_names(names, uri)
    return names


def check_column_names(names: list[str], uri: str) -> None:
    """Refuse empty or repeated column names (pandas would invent or mangle them)."""
    empty = [i + 1 for i, name in enumerate(names) if not str(name).strip()]
    if empty:
        raise DataError(
            f"cannot read {uri}: column(s) {empty} (1-based) have no name; name every column "
            "in the header (an empty first name usually means the file was saved with its "
            "index: save it with index=False)"
        )
    repeated = sorted(name for name, n in Counter(map(str, names)).items() if n > 1)
    if repeated:
        raise DataError(
            f"cannot read {uri}: column name(s) {repeated} appear more than once; rename them "
            "so that every column has its own name"
        )


def check_same_schema(
    first: tuple[str, dict[str, str]], part: tuple[str, dict[str, str]], prefix: str
) -> None:
    """Refuse a Parquet part whose columns or types differ from the first part's.

    Args:
        first: URI and schema (column -> Arrow type) of the first part.
        part: URI and schema of the part to compare.
        prefix: The folder or prefix both are under, for the message.
    """
    (first_uri, want), (uri, have) = first, part
    missing, extra = sorted(set(want) - set(have)), sorted(set(have) - set(want))
    # A column all null in one part is typed "null" there: it matches any type.
    retyped = sorted(
        f"{c}: {have[c]} (first part: {want[c]})"
        for c in set(want) & set(have)
        if have[c] != want[c] and "null" not in (have[c], want[c])
    )
    if missing or extra or retyped:
        diffs = [f"missing {missing}"] * bool(missing) + [f"extra {extra}"] * bool(extra)
        diffs += [f"other types {retyped}"] * bool(retyped)
        raise DataError(
            f"cannot read {prefix}: part {uri} has another schema than {first_uri} "
            f"({'; '.join(diffs)}); write every part under one prefix with one schema, or "
            "move the odd parts elsewhere"
        )
