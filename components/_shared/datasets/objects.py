"""The store's S3 primitives: read-or-None, create-only puts, listing (one module per service)."""

from pathlib import Path

from components._shared.errors import DataError
from components._shared.input_checks import check_size
from components._shared.io.s3 import get_object, parse_s3_uri, s3_client, s3_read_error


def get_or_none(uri: str) -> bytes | None:
    """An object's bytes, or None when there is no such object (or bucket).

    The objects read here (manifests, tag records, label schemas) are parsed whole, so one is
    refused by its size before its body is read, under the same input limit as a CSV.
    """
    from minio.error import S3Error

    try:
        return get_object(uri, on_size=lambda size: check_size(uri, size))
    except DataError as exc:
        if isinstance(exc.__cause__, S3Error) and exc.__cause__.code in (
            "NoSuchKey",
            "NoSuchBucket",
        ):
            return None
        raise


def _free(client, bucket: str, key: str) -> bool:
    """Whether nothing is stored at the key (the bucket made when it is missing)."""
    from minio.error import S3Error

    if not client.bucket_exists(bucket):
        client.make_bucket(bucket)
    try:
        client.stat_object(bucket, key)
        return False
    except S3Error as exc:
        if exc.code not in ("NoSuchKey", "NoSuchObject"):
            raise
    return True


def put_new(uri: str, body: bytes, content_type: str) -> bool:
    """Store `body` at `uri` only if nothing is there; False (nothing written) when something is."""
    from minio.error import S3Error

    bucket, key = parse_s3_uri(uri)
    client = s3_client()
    headers = {"If-None-Match": "*", "Content-Type": content_type}
    try:
        if not _free(client, bucket, key):
            return False
        # minio-py 7.2 has no public conditional put; _put_object sends the headers as they are
        # (as components/_shared/registry/lease.py does, pinned against SeaweedFS there).
        client._put_object(bucket, key, body, headers=headers)
        return True
    except S3Error as exc:
        if exc.code in ("PreconditionFailed", "ConditionalRequestConflict"):
            return False
        raise s3_read_error(uri, exc) from exc
    except Exception as exc:  # urllib3 errors: the endpoint does not answer
        raise s3_read_error(uri, exc) from exc


SMALL_BYTES = 32 << 20  # up to this a file is sent in one conditional PUT
PART_BYTES = 16 << 20  # a larger one is sent in parts of this size (S3's least: 5 MiB)


def put_new_file(uri: str, path: Path) -> bool:
    """Store a local file at `uri` only if nothing is there; False when something is.

    Up to SMALL_BYTES it goes as one PUT with `If-None-Match: *` (`put_new`); a larger one is
    streamed as a multipart upload (memory holds one part), after the same look that the key
    is free. Multipart uploads carry no condition, so this is for content-addressed keys
    only: two writers racing there write the same bytes.
    """
    size = path.stat().st_size
    if size <= SMALL_BYTES:
        return put_new(uri, path.read_bytes(), "application/octet-stream")

    bucket, key = parse_s3_uri(uri)
    client = s3_client()
    try:
        if not _free(client, bucket, key):
            return False
        with path.open("rb") as handle:
            client.put_object(bucket, key, handle, size, part_size=PART_BYTES)
        return True
    except Exception as exc:  # minio raises S3Error or urllib3 errors
        raise s3_read_error(uri, exc) from exc


def listing(prefix_uri: str, recursive: bool) -> list[str]:
    """The object names (or, not recursive, folder names) under an s3:// prefix."""
    bucket, _, prefix = prefix_uri.removeprefix("s3://").partition("/")
    client = s3_client()
    try:
        if not client.bucket_exists(bucket):
            return []
        return sorted(o.object_name for o in client.list_objects(bucket, prefix, recursive))
    except Exception as exc:  # minio raises S3Error or urllib3 errors
        raise s3_read_error(prefix_uri, exc) from exc
