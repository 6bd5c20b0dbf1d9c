"""The prediction log: rows queued off the request path, written to S3 as Parquet by one thread.

Layout (components/_shared/logformat.py): `<prefix>/<model>/date=YYYY-MM-DD/<time>-<unique>
.parquet`, one file per model and date per flush, every file of a partition in one schema;
requests that do not fit it under `<prefix>/_rejected/` (deadletter.py). The server and the
log sink both write through this module.
"""

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime

import pyarrow as pa

from components._shared.io import parse_s3_uri
from components._shared.logformat import partition
from components._shared.redact import redact
from kfp_mlops.serve.logrows import LoggedRequest
from kfp_mlops.serve.logstore import LogStore
from kfp_mlops.serve.logwriter import Batch, Partitions
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


class PredictionLog:
    """A bounded queue of log rows and the thread that writes them, by size and by interval.

    `submit` never waits on I/O: when the queue holds `max_rows` rows or `max_bytes` bytes
    it drops the new rows and counts them. The writer thread turns queued requests into
    Arrow as soon as `convert_rows` rows of them wait, so the Python values requests parsed
    are let go within a few thousand rows. Every table is brought to the partition's schema
    (the model's, given as `schema`; for the sink, learned from the partition's first
    table): a request whose rows do not fit, or cannot be built, is set aside on its own in
    the dead-letter prefix and counted, and its neighbours are written. A write that S3
    refuses for good is set aside the same way; a failed write is retried with backoff per
    partition (other partitions go on), up to `max_attempts`, then dropped and counted.
    `close` writes what is left, retrying a few times.
    """

    def __init__(
        self,
        prefix: str,
        metrics: Metrics,
        *,
        max_rows: int = 100_000,
        max_bytes: int = 256 << 20,
        flush_rows: int = 25_000,
        flush_seconds: float = 5.0,
        retry_seconds: float = 1.0,
        max_retry_seconds: float = 30.0,
        max_attempts: int = 12,
        convert_rows: int = 2_000,
        schema: pa.Schema | None = None,
        resolve=None,
    ):
        self.store = LogStore(prefix)
        self.metrics = metrics
        self.max_rows, self.max_bytes, self.flush_rows = max_rows, max_bytes, flush_rows
        self.convert_rows = min(convert_rows, flush_rows)
        self.flush_seconds, self.retry_seconds = flush_seconds, retry_seconds
        self._pending: deque[Batch] = deque()
        self._rows = 0  # every row queued and not yet written or dropped: the bound
        self._bytes = 0  # what those rows hold: the byte budget
        self._raw = 0  # of which not yet converted
        self.partitions = Partitions(
            self.store, metrics, schema, self._release, retry_seconds=retry_seconds,
            max_retry_seconds=max_retry_seconds, max_attempts=max_attempts, resolve=resolve,
        )  # fmt: skip
        # A plain lock under the condition: submit takes it once per request.
        self._cond = threading.Condition(threading.Lock())
        self._stopping = False
        self._failing = False
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        # Read when Prometheus scrapes, not written on every request.
        metrics.log_queue.set_function(lambda: self._rows)
        metrics.log_queue_bytes.set_function(lambda: self._bytes)

    def start(self) -> "PredictionLog":
        """Start the writer thread."""
        self._thread.start()
        return self

    def submit(
        self,
        model: str,
        when: datetime,
        rows: int,
        make: "LoggedRequest | pa.Table | Callable[[], dict[str, list]]",
        nbytes: int = 0,
    ) -> bool:
        """Queue one request's rows; False (and counted) when the queue is full.

        Args:
            model: The model name (its partition).
            when: The request's time (UTC): its date is the partition.
            rows: How many rows `make` builds.
            make: The request's facts (logrows.LoggedRequest, cheapest to keep queued) or a
                function building its rows (see `records`), which the writer thread builds; or
                the rows already built (a large request: `request_table` of its arrays).
            nbytes: What the request holds in memory (its body's size is a fair measure);
                a table's own size is used for a table.
        """
        n = rows
        size = make.nbytes if isinstance(make, pa.Table) else max(nbytes, 64 * rows)
        date = (when if when.tzinfo is UTC else when.astimezone(UTC)).date().isoformat()
        with self._cond:
            if self._stopping or self._rows + n > self.max_rows:
                self.metrics.log_dropped.labels("queue_full").inc(n)
                return False
            if self._bytes + size > self.max_bytes:
                self.metrics.log_dropped.labels("queue_bytes").inc(n)
                return False
            self._pending.append(Batch(model, date, n, size, make))
            self._rows += n
            self._bytes += size
            if not isinstance(make, pa.Table):
                self._raw += n
            full = self._rows >= self.flush_rows > self._rows - n  # crossed the flush size
            if full or self._raw >= self.convert_rows:
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

    def _wait(self, due: float) -> tuple[bool, bool]:
        """Wait for work: (stopping, write now). Returns early with rows to convert."""
        with self._cond:
            while not self._stopping:
                remaining = due - time.monotonic()
                if remaining <= 0:
                    return False, True
                full = self._rows >= self.flush_rows and not self._failing
                if full or self._raw >= self.convert_rows:
                    return False, full
                self._cond.wait(remaining)
            return True, True

    def _run(self) -> None:
        try:
            self.store.connect()  # now, so the first flush does not pay for it amid requests
        except Exception as exc:  # S3 may be down at start: the first write tries again
            log.warning("prediction log: S3 not reachable yet: %s", redact(exc)[:300])
        attempts = 0
        due = time.monotonic() + self.flush_seconds
        while True:
            stopping, write = self._wait(due)
            self._convert()
            if not write:
                continue
            failed = self.partitions.write(stopping)
            self._failing = failed
            due = time.monotonic() + (self.retry_seconds if failed else self.flush_seconds)
            if not stopping:
                continue
            attempts += 1
            if not failed:
                return
            if attempts >= SHUTDOWN_ATTEMPTS:
                self.partitions.give_up_all("at shutdown")
                return
            time.sleep(self.retry_seconds)

    def _release(self, rows: int, nbytes: int) -> None:
        with self._cond:
            self._rows -= rows
            self._bytes -= nbytes

    def _convert(self) -> None:
        """Every queued request into Arrow (the writer's `convert`), the queue let go."""
        with self._cond:
            batches = list(self._pending)
            self._pending.clear()
            self._raw = 0
        self.partitions.convert(batches)

    def object_key(self, model: str, date: str) -> str:
        """The key prefix of one model's partition for one date (for readers and tests)."""
        return partition(self.store.path, model, date)
