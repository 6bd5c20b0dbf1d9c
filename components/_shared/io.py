"""Tables in and out: CSV or Parquet from a local path or an s3:// URI (minio client)."""

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from components._shared.errors import DataError, KfpMlopsError, ServiceError
from components._shared.input_checks import (
    check_column_names,
    check_scheme,
    check_size,
    csv_header,
    encoding_error,
)
from components._shared.redact import redact
from components._shared.settings import S3Settings, s3_settings

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


@dataclass(frozen=True)
class Table:
    """A table read from a URI, with the hash of the bytes it was read from."""

    frame: pd.DataFrame
    sha256: str
    uri: str


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split `s3://bucket/key` into bucket and key."""
    rest = uri.removeprefix("s3://")
    bucket, _, key = rest.partition("/")
    if not bucket or not key:
        raise DataError(f"{uri!r} is not an object URI; expected s3://BUCKET/KEY")
    return bucket, key


def s3_client(settings: S3Settings | None = None):
    """A minio client for the configured endpoint (or `settings`), failing fast if unreachable."""
    import urllib3
    from minio import Minio

    settings = settings or s3_settings()
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=5, read=60),
        retries=urllib3.Retry(total=2, backoff_factor=0.2, status_forcelist=[502, 503, 504]),
    )
    return Minio(
        settings.endpoint,
        access_key=settings.access_key,
        secret_key=settings.secret_key,
        secure=settings.secure,
        region=settings.region,
        http_client=http,
    )


def s3_read_error(uri: str, exc: Exception) -> Exception:
    from minio.error import S3Error

    if isinstance(exc, S3Error):
        hints = {
            "NoSuchKey": "no such object; check the key, or upload the data there first",
            "NoSuchBucket": "no such bucket; check the bucket name in the URI",
            "AccessDenied": "access denied (check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)",
            "InvalidAccessKeyId": "unknown access key (check AWS_ACCESS_KEY_ID)",
            "SignatureDoesNotMatch": "wrong secret key (check AWS_SECRET_ACCESS_KEY)",
        }
        return DataError(redact(f"cannot read {uri}: {hints.get(exc.code, exc.code)}"))
    return ServiceError(
        redact(
            f"cannot read {uri}: S3 endpoint {s3_settings().url} is unreachable "
            f"({type(exc).__name__}); is the stack up (`kfp-mlops stack status`)?"
        )
    )


def read_bytes(uri: str) -> bytes:
    """Read the raw bytes behind a local path or an s3:// URI, refusing one over the limit."""
    check_scheme(uri)
    if uri.startswith("s3://"):
        bucket, key = parse_s3_uri(uri)
        client = s3_client()
        try:
            response = client.get_object(bucket, key)
            try:
                # The headers arrive before the body: refuse by size before reading it.
                check_size(uri, int(response.headers.get("Content-Length", 0)))
                return response.read()
            finally:
                response.close()
                response.release_conn()
        except KfpMlopsError:
            raise
        except Exception as exc:  # minio raises S3Error or urllib3 errors
            raise s3_read_error(uri, exc) from exc
    path = Path(uri.removeprefix("file://"))
    if not path.exists():
        raise DataError(f"cannot read {uri}: no such file")
    if path.is_dir():
        raise DataError(f"cannot read {uri}: it is a directory; give a .csv or .parquet file")
    try:
        check_size(uri, path.stat().st_size)
        return path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {uri}: {exc.strerror}") from exc


def table_format(uri: str) -> str:
    """The table format ("csv" or "parquet") from the suffix; any other is refused unread."""
    suffix = Path(uri).suffix.lower()
    if suffix not in FORMATS:
        raise DataError(
            f"cannot read {uri}: unknown format {suffix or '(none)'!r}; "
            f"expected one of {sorted(FORMATS)}"
        )
    return FORMATS[suffix]


def parse_table(data: bytes, uri: str) -> pd.DataFrame:
    """Parse CSV or Parquet bytes, with a clear error for empty or malformed content."""
    fmt = table_format(uri)
    if not data.strip():
        raise DataError(f"{uri} is empty: expected a header and at least one row")
    try:
        if fmt == "csv":
            csv_header(data, uri)  # pandas would mangle, invent or merge these names silently
            frame = pd.read_csv(io.BytesIO(data), encoding="utf-8")
        else:
            check_column_names(parquet_schema(data).names, uri)
            frame = pd.read_parquet(io.BytesIO(data))
    except DataError:
        raise
    except UnicodeDecodeError:
        raise encoding_error(uri, data) from None
    except Exception as exc:  # pandas/pyarrow raise many types for malformed files
        raise DataError(redact(f"cannot parse {uri} as {fmt}: {exc}")) from exc
    if frame.empty:
        raise DataError(f"{uri} has a header but no rows ({len(frame.columns)} columns)")
    return frame


def parquet_schema(data: bytes):
    """The Arrow schema in a Parquet file's footer (nothing else is read)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    return pq.read_schema(pa.BufferReader(data))


def read_table(uri: str) -> Table:
    """Read a CSV or Parquet table from a local path or an s3:// URI, hashing its bytes."""
    check_scheme(uri)
    table_format(uri)  # fail on an unknown format before any network call
    data = read_bytes(uri)
    return Table(frame=parse_table(data, uri), sha256=hashlib.sha256(data).hexdigest(), uri=uri)


def upload_file(path: str | Path, uri: str) -> None:
    """Store a local file at an s3:// URI, creating the bucket if needed."""
    bucket, key = parse_s3_uri(uri)
    client = s3_client()
    try:
        if not client.bucket_exists(bucket):
            client.make_bucket(bucket)
        client.fput_object(bucket, key, str(path))
    except Exception as exc:
        raise s3_read_error(uri, exc) from exc


def write_parquet(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a DataFrame as Parquet (artifact outputs), creating parent folders."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)


def read_parquet(path: str | Path) -> pd.DataFrame:
    """Read a Parquet artifact written by write_parquet."""
    return pd.read_parquet(path)


def s3_parquet_objects(uri: str) -> tuple[str, list[tuple[str, int]]]:
    """The bucket and the (key, size) of every Parquet object under an s3:// prefix, by name."""
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    client = s3_client()
    try:
        objects = [
            (o.object_name, o.size or 0)
            for o in client.list_objects(bucket, prefix=prefix, recursive=True)
            if o.object_name.endswith((".parquet", ".pq"))
        ]
    except Exception as exc:  # minio raises S3Error or urllib3 errors
        raise s3_read_error(uri, exc) from exc
    return bucket, sorted(objects)


def s3_parquet_keys(uri: str) -> tuple[str, list[str]]:
    """The bucket and the keys of every Parquet object under an s3:// prefix, by name."""
    bucket, objects = s3_parquet_objects(uri)
    return bucket, [key for key, _ in objects]


def parquet_parts(uri: str) -> list[str]:
    """The Parquet files under a local folder or an s3:// prefix ending in "/", sorted by name.

    Raises:
        DataError: The folder is missing, nothing under it is a .parquet/.pq file, or the
            parts together are larger than the input limit (checked before any is read).
    """
    check_scheme(uri)
    if uri.startswith("s3://"):
        bucket, objects = s3_parquet_objects(uri)
        sized = [(f"s3://{bucket}/{key}", size) for key, size in objects]
    else:
        path = Path(uri.removeprefix("file://"))
        if not path.is_dir():
            raise DataError(f"cannot read {uri}: no such folder")
        files = [p for p in sorted(path.rglob("*")) if p.suffix.lower() in (".parquet", ".pq")]
        sized = [(str(p), p.stat().st_size) for p in files]
    if not sized:
        raise DataError(f"{uri} holds no .parquet files; give a file or a prefix of Parquet files")
    check_size(uri, sum(size for _, size in sized))
    return [part for part, _ in sized]
