"""Where the prediction log's objects go: one S3 bucket and path, written as whole objects."""

import io
import uuid
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq

from components._shared.failpoints import failpoint
from components._shared.io import s3_client
from components._shared.logformat import STATISTICS

# S3 error codes of a write that retrying cannot fix: the object or its bytes are refused.
_PERMANENT_CODES = {"InvalidObjectName", "KeyTooLongError", "InvalidArgument", "EntityTooLarge"}


def permanent(exc: Exception) -> bool:
    """Whether a failed write would fail again however often it is tried."""
    from minio.error import S3Error

    if isinstance(exc, S3Error):
        return exc.code in _PERMANENT_CODES
    # minio refuses a bad key before sending; pyarrow refuses a table it cannot encode.
    return isinstance(exc, ValueError | pa.ArrowException)


class LogStore:
    """The log's bucket and path; objects named `<HHMMSS>-<uuid>.<suffix>` under a partition."""

    def __init__(self, prefix: str):
        self.bucket, _, path = prefix.removeprefix("s3://").partition("/")
        self.path = path.strip("/")
        self._client = None

    def connect(self):
        """The S3 client, the bucket made if missing (once)."""
        if self._client is None:
            client = s3_client()
            if not client.bucket_exists(self.bucket):
                client.make_bucket(self.bucket)
            self._client = client
        return self._client

    def put_table(self, where: str, rows: pa.Table) -> None:
        """One Parquet object of `rows` under the key prefix `where`."""
        buffer = io.BytesIO()
        # Min/max statistics for the facts readers filter on (a date window, a version), not
        # for every feature: they were a quarter of the encoding time (benchmarks/predlog.py).
        pq.write_table(rows, buffer, write_statistics=list(STATISTICS))
        self._put(where, buffer.getvalue(), "parquet", "application/vnd.apache.parquet")

    def put_lines(self, where: str, lines: list[str]) -> None:
        """One JSON Lines object under the key prefix `where`."""
        self._put(where, ("\n".join(lines) + "\n").encode(), "jsonl", "application/jsonl")

    def _put(self, where: str, data: bytes, suffix: str, content_type: str) -> None:
        name = f"{datetime.now(UTC).strftime('%H%M%S')}-{uuid.uuid4().hex}.{suffix}"
        client = self.connect()
        failpoint("predlog.put", where)
        client.put_object(self.bucket, where + name, io.BytesIO(data), len(data), content_type)
