"""Parquet parts under a folder or S3 prefix: listed by name, and brought to local disk hashed."""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from components._shared.errors import DataError
from components._shared.input_checks import check_scheme
from components._shared.io.s3 import (
    CHUNK_BYTES,
    PARQUET_SUFFIXES,
    s3_parquet_objects,
    stream_object,
)


@dataclass(frozen=True)
class Part:
    """One Parquet file of a folder or prefix: its URI and its size in bytes when listed."""

    uri: str
    size: int


def is_collection(uri: str) -> bool:
    """Whether `uri` names a folder or an S3 prefix (ending in "/") rather than one file."""
    if uri.startswith("s3://"):
        return uri.endswith("/")
    return Path(uri.removeprefix("file://")).is_dir()


def parquet_parts(uri: str) -> list[Part]:
    """The Parquet files under a local folder or an s3:// prefix ending in "/", sorted by name.

    Raises:
        DataError: The folder is missing or nothing under it is a .parquet/.pq file.
        ServiceError: S3 is not configured or does not answer.
    """
    check_scheme(uri)
    if uri.startswith("s3://"):
        bucket, objects = s3_parquet_objects(uri)
        parts = [Part(f"s3://{bucket}/{key}", size) for key, size in objects]
    else:
        path = Path(uri.removeprefix("file://"))
        if not path.is_dir():
            raise DataError(f"cannot read {uri}: no such folder")
        files = [p for p in sorted(path.rglob("*")) if p.suffix.lower() in PARQUET_SUFFIXES]
        parts = [Part(str(p), p.stat().st_size) for p in files]
    if not parts:
        raise DataError(f"{uri} holds no .parquet files; give a file or a prefix of Parquet files")
    return parts


def local_copy(uri: str, spool: Path, sink: Callable[[bytes], object]) -> Path:
    """A local file holding the bytes of `uri`, every byte fed to `sink` on the way.

    An S3 object is streamed (one GET) into `spool`; a local file is read in place. Memory
    holds one chunk of CHUNK_BYTES at a time, whatever the size.

    Args:
        uri: A local path (optionally `file://`) or an s3:// object.
        spool: Where an S3 object's bytes are written; unused for a local file.
        sink: Called with each chunk in order (e.g. a sha256's update).

    Raises:
        DataError: No such file, bucket or key, or the file cannot be read.
        ServiceError: The S3 endpoint does not answer.
    """
    if uri.startswith("s3://"):
        with spool.open("wb") as out:
            stream_object(uri, lambda chunk: (sink(chunk), out.write(chunk)))
        return spool
    path = Path(uri.removeprefix("file://"))
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK_BYTES):
                sink(chunk)
    except FileNotFoundError:
        raise DataError(f"cannot read {uri}: no such file") from None
    except IsADirectoryError:
        raise DataError(
            f"cannot read {uri}: it is a directory; give a .csv or .parquet file"
        ) from None
    except OSError as exc:
        raise DataError(f"cannot read {uri}: {exc.strerror}") from exc
    return path
