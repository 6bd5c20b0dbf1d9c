"""S3 through the minio client: URIs, the client, errors, listings, uploads, streamed reads."""

import io
from collections.abc import Callable
from pathlib import Path

from components._shared.errors import DataError, KfpMlopsError, ServiceError
from components._shared.redact import redact
from components._shared.settings import S3Settings, s3_settings

PARQUET_SUFFIXES = (".parquet", ".pq")
# One GET streams an object in pieces of this size: memory does not grow with the object.
CHUNK_BYTES = 8 << 20


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
    """The house error for a failed S3 call: the object's problem, or an unreachable endpoint."""
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


def s3_parquet_objects(uri: str) -> tuple[str, list[tuple[str, int]]]:
    """The bucket and the (key, size) of every Parquet object under an s3:// prefix, by name."""
    return s3_objects(uri, PARQUET_SUFFIXES)


def s3_objects(uri: str, suffixes: tuple[str, ...]) -> tuple[str, list[tuple[str, int]]]:
    """The bucket and the (key, size) of every object under a prefix whose name ends so."""
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    client = s3_client()
    try:
        objects = [
            (o.object_name, o.size or 0)
            for o in client.list_objects(bucket, prefix=prefix, recursive=True)
            if o.object_name.lower().endswith(suffixes)
        ]
    except Exception as exc:  # minio raises S3Error or urllib3 errors
        raise s3_read_error(uri, exc) from exc
    return bucket, sorted(objects)


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


def get_object(uri: str, on_size: Callable[[int], None] | None = None) -> bytes:
    """An object's bytes, whole; `on_size` sees its Content-Length before the body is read."""
    chunks = []
    stream_object(uri, chunks.append, on_size)
    return b"".join(chunks)


def stream_object(
    uri: str, sink: Callable[[bytes], object], on_size: Callable[[int], None] | None = None
) -> int:
    """Feed an object's bytes to `sink` in pieces of CHUNK_BYTES; returns how many there were.

    Raises:
        DataError: No such bucket or key, or access refused (the hint names the way out).
        ServiceError: The endpoint does not answer.
    """
    bucket, key = parse_s3_uri(uri)
    client = s3_client()
    total = 0
    try:
        response = client.get_object(bucket, key)
        try:
            if on_size is not None:  # the headers arrive before the body
                on_size(int(response.headers.get("Content-Length", 0)))
            for chunk in response.stream(CHUNK_BYTES):
                sink(chunk)
                total += len(chunk)
        finally:
            response.close()
            response.release_conn()
    except KfpMlopsError:
        raise
    except Exception as exc:  # minio raises S3Error or urllib3 errors
        raise s3_read_error(uri, exc) from exc
    return total


class S3RangeFile(io.RawIOBase):
    """A read-only, seekable view of one S3 object: each read is a ranged GET."""

    def __init__(self, client, bucket: str, key: str):
        self.client, self.bucket, self.key, self.position = client, bucket, key, 0
        try:
            self.size = client.stat_object(bucket, key).size
        except Exception as exc:  # minio raises S3Error or urllib3 errors
            raise s3_read_error(f"s3://{bucket}/{key}", exc) from exc

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = base + offset
        return self.position

    def readinto(self, buffer) -> int:
        length = min(len(buffer), self.size - self.position)
        if length <= 0:
            return 0
        try:
            response = self.client.get_object(
                self.bucket, self.key, offset=self.position, length=length
            )
            try:
                data = response.read()
            finally:
                response.close()
                response.release_conn()
        except Exception as exc:  # minio raises S3Error or urllib3 errors
            raise s3_read_error(f"s3://{self.bucket}/{self.key}", exc) from exc
        buffer[: len(data)] = data
        self.position += len(data)
        return len(data)
