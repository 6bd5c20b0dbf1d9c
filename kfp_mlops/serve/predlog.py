"""The prediction log: rows queued off the request path, written to S3 as Parquet by one thread.

Layout: `<prefix>/<model>/date=YYYY-MM-DD/<time>-<unique>.parquet`, one file per model and
date per flush. The server and the log sink both write through this module.
"""

import io
import logging
import os
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq

from components._shared.io import parse_s3_uri, s3_client
from components._shared.redact import redact
from kfp_mlops.serve.logrows import table
from kfp_mlops.serve.metrics import Metrics

PREFIX_ENV = "KFP_MLOPS_PREDICTION_LOG_URI"
DEFAULT_PREFIX = "s3://kfp-mlops-data/predictions/"
SHUTDOWN_ATTEMPTS = 3  # writes tried at shutdown before what is left is dropped and counted
log = logging.getLogger("kfp_mlops.serve")


def log_prefix() -> str:
    """Where prediction logs go: KFP_MLOPS_PREDICTION_LOG_URI, default DEFAULT_PREFIX."""
    prefix = os.environ.get(PREFIX_ENV) or DEFAULT_PREFIX
    parse_s3_uri(prefix.rstrip("/") + "/x")  # an s3://BUCKET[/path] prefix, or a DataError
    return prefix.rstrip("/")


@dataclass
class _Batch:
    model: str
    date: str  # YYYY-MM-DD (UTC) of the request, the partition it goes to
    rows: int
    make: Callable[[], dict[str, list]]  # the rows by column, built by the writer thread


def _safe(name: str) -> str:
    """A model name as one path segment (registry names may hold characters keys should not)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "_"


class PredictionLog:
    """A bounded queue of log rows and the thread that writes them, by size and by interval.

    `submit` never waits on I/O: when the queue holds `max_rows` rows it drops the new rows
    and counts them. A failed write keeps its rows queued (still counted against the bound)
    and is retried; `close` writes what is left, retrying a few times, and counts what it
    could not write as dropped.
    """

    def __init__(
        self,
        prefix: str,
        metrics: Metrics,
        *,
        max_rows: int = 100_000,
        flush_rows: int = 10_000,
        flush_seconds: float = 5.0,
        retry_seconds: float = 1.0,
        types: dict[str, pa.DataType] | None = None,
    ):
        self.bucket, _, path = prefix.removeprefix("s3://").partition("/")
        self.path = path.strip("/")
        self.metrics, self.types = metrics, types
        self.max_rows, self.flush_rows = max_rows, flush_rows
        self.flush_seconds, self.retry_seconds = flush_seconds, retry_seconds
        self._pending: deque[_Batch] = deque()
        self._rows = 0
        self._cond = threading.Condition()
        self._stopping = False
        self._failing = False
        self._client = None
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)

    def start(self) -> "PredictionLog":
        """Start the writer thread."""
        self._thread.start()
        return self

    def submit(
        self, model: str, when: datetime, rows: int, make: Callable[[], dict[str, list]]
    ) -> bool:
        """Queue one request's rows; False (and counted) when the queue is full.

        Args:
            model: The model name (its partition).
            when: The request's time (UTC): its date is the partition.
            rows: How many rows `make` builds.
            make: Builds the rows (see `records`); called by the writer thread, so the
                request pays only for queueing.
        """
        n, date = rows, when.astimezone(UTC).strftime("%Y-%m-%d")
        with self._cond:
            if self._stopping or self._rows + n > self.max_rows:
                self.metrics.log_dropped.labels("queue_full").inc(n)
                return False
            self._pending.append(_Batch(model, date, n, make))
            self._rows += n
            self.metrics.log_queue.set(self._rows)
            if self._rows >= self.flush_rows:
                self._cond.notify()
        return True

    @property
    def queued_rows(self) -> int:
        """Rows waiting to be written."""
        return self._rows

    def close(self, timeout: float = 30.0) -> None:
        """Write every queued row (retrying), then stop the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._thread.is_alive():  # S3 hangs: say what the exit is about to lose
            log.error("prediction log: %d rows still unwritten after %.0f s", self._rows, timeout)

    def _wait(self) -> bool:
        """Wait for a reason to write; returns whether the log is stopping."""
        with self._cond:
            wait = self.retry_seconds if self._failing else self.flush_seconds
            deadline = time.monotonic() + wait
            while not self._stopping and (remaining := deadline - time.monotonic()) > 0:
                if self._rows >= self.flush_rows and not self._failing:
                    break
                self._cond.wait(remaining)
            return self._stopping

    def _run(self) -> None:
        try:
            self._connect()  # now, so the first flush does not pay for it amid requests
        except Exception as exc:  # S3 may be down at start: the first write tries again
            log.warning("prediction log: S3 not reachable yet: %s", redact(exc)[:300])
        attempts = 0
        while True:
            stopping = self._wait()
            with self._cond:
                batches = list(self._pending)
                self._pending.clear()
            failed = self._write(batches) if batches else []
            with self._cond:
                self._pending.extendleft(reversed(failed))
                self._failing = bool(failed)
            if not stopping:
                continue
            attempts += 1
            if not failed:
                return
            if attempts >= SHUTDOWN_ATTEMPTS:
                lost = sum(b.rows for b in failed)
                self.metrics.log_dropped.labels("write_failed").inc(lost)
                with self._cond:
                    self._pending.clear()
                    self._rows -= lost
                    self.metrics.log_queue.set(self._rows)
                log.error("prediction log: %d rows could not be written at shutdown", lost)
                return
            time.sleep(self.retry_seconds)

    def _write(self, batches: list[_Batch]) -> list[_Batch]:
        """Write the batches, one object per model and date; returns the ones that failed."""
        groups: dict[tuple[str, str], list[_Batch]] = {}
        for batch in batches:
            groups.setdefault((batch.model, batch.date), []).append(batch)
        failed = []
        for (model, date), group in groups.items():
            rows = sum(b.rows for b in group)
            try:
                self._put(model, date, table([b.make() for b in group], self.types))
            except Exception as exc:  # S3Error, urllib3 errors, or a row builder's: all retried
                self.metrics.log_write_errors.inc()
                log.warning("prediction log: write failed, will retry: %s", redact(exc)[:300])
                failed.extend(group)
                continue
            self.metrics.log_flushed.inc(rows)
            with self._cond:
                self._rows -= rows
                self.metrics.log_queue.set(self._rows)
        return failed

    def _connect(self):
        if self._client is None:
            client = s3_client()
            if not client.bucket_exists(self.bucket):
                client.make_bucket(self.bucket)
            self._client = client
        return self._client

    def _put(self, model: str, date: str, rows: pa.Table) -> None:
        client = self._connect()
        buffer = io.BytesIO()
        pq.write_table(rows, buffer)
        stamp = datetime.now(UTC).strftime("%H%M%S")
        name = f"{stamp}-{uuid.uuid4().hex}.parquet"
        key = "/".join(p for p in (self.path, _safe(model), f"date={date}", name) if p)
        size = buffer.tell()
        buffer.seek(0)
        client.put_object(self.bucket, key, buffer, size, "application/vnd.apache.parquet")

    def object_key(self, model: str, date: str) -> str:
        """The key prefix of one model's partition for one date (for readers and tests)."""
        return "/".join(p for p in (self.path, _safe(model), f"date={date}") if p) + "/"
