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
from datetime import UTC, datetime
from typing import NamedTuple

import pyarrow as pa
import pyarrow.parquet as pq

from components._shared.io import parse_s3_uri, s3_client
from components._shared.redact import redact
from kfp_mlops.serve.logrows import LoggedRequest
from kfp_mlops.serve.logtable import concat, request_table, table
from kfp_mlops.serve.metrics import Metrics

PREFIX_ENV = "KFP_MLOPS_PREDICTION_LOG_URI"
DEFAULT_PREFIX = "s3://kfp-mlops-data/predictions/"
STATISTICS = ("request_id", "time", "model_name", "model_version")
SHUTDOWN_ATTEMPTS = 3  # writes tried at shutdown before what is left is dropped and counted
log = logging.getLogger("kfp_mlops.serve")


def log_prefix() -> str:
    """Where prediction logs go: KFP_MLOPS_PREDICTION_LOG_URI, default DEFAULT_PREFIX."""
    prefix = os.environ.get(PREFIX_ENV) or DEFAULT_PREFIX
    parse_s3_uri(prefix.rstrip("/") + "/x")  # an s3://BUCKET[/path] prefix, or a DataError
    return prefix.rstrip("/")


class _Batch(NamedTuple):
    """One request's place in the queue.

    A tuple: one object for the cycle collector to visit, whose values (a LoggedRequest's
    inner tuples) it stops tracking; a closure is tracked, and so is everything it holds.
    """

    model: str
    date: str  # YYYY-MM-DD (UTC) of the request, the partition it goes to
    rows: int
    # The rows: built by the writer thread from a LoggedRequest or a function, or already
    # built in the request path (a large request's pa.Table).
    make: "LoggedRequest | pa.Table | Callable[[], dict[str, list]]"

    def columns(self) -> dict[str, list]:
        """The rows by column (a LoggedRequest's or a function's; tables skip this)."""
        return self.make.columns() if isinstance(self.make, LoggedRequest) else self.make()


def _safe(name: str) -> str:
    """A model name as one path segment (registry names may hold characters keys should not)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "_"


class PredictionLog:
    """A bounded queue of log rows and the thread that writes them, by size and by interval.

    `submit` never waits on I/O: when the queue holds `max_rows` rows it drops the new rows
    and counts them. The writer thread turns queued requests into Arrow as soon as
    `convert_rows` rows of them wait, so the Python values requests parsed are let go within
    a few thousand rows, and a flush never converts 25,000 rows at once while holding the
    interpreter lock the requests need. Rows a large request built itself (a `pa.Table`)
    wait as they are. Rows are written by size (`flush_rows`) and interval; a failed write
    keeps them (still counted against the bound) and is retried; `close` writes what is
    left, retrying a few times, and counts what it could not write as dropped.
    """

    def __init__(
        self,
        prefix: str,
        metrics: Metrics,
        *,
        max_rows: int = 100_000,
        flush_rows: int = 25_000,
        flush_seconds: float = 5.0,
        retry_seconds: float = 1.0,
        convert_rows: int = 2_000,
        types: dict[str, pa.DataType] | None = None,
    ):
        self.bucket, _, path = prefix.removeprefix("s3://").partition("/")
        self.path = path.strip("/")
        self.metrics, self.types = metrics, types
        self.max_rows, self.flush_rows = max_rows, flush_rows
        self.convert_rows = min(convert_rows, flush_rows)
        self.flush_seconds, self.retry_seconds = flush_seconds, retry_seconds
        self._pending: deque[_Batch] = deque()
        self._rows = 0  # every row queued and not yet written or dropped: the bound
        self._raw = 0  # of which not yet converted
        # Converted, not yet written, by (model, date): (rows, table). The writer's own.
        self._built: dict[tuple[str, str], list[tuple[int, pa.Table]]] = {}
        # A plain lock under the condition: submit takes it once per request.
        self._cond = threading.Condition(threading.Lock())
        self._stopping = False
        self._failing = False
        self._client = None
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        # Read when Prometheus scrapes, not written on every request.
        metrics.log_queue.set_function(lambda: self._rows)

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
    ) -> bool:
        """Queue one request's rows; False (and counted) when the queue is full.

        Args:
            model: The model name (its partition).
            when: The request's time (UTC): its date is the partition.
            rows: How many rows `make` builds.
            make: The request's facts (logrows.LoggedRequest, cheapest to keep queued) or a
                function building its rows (see `records`), which the writer thread builds; or
                the rows already built (a large request: `request_table` of its arrays).
        """
        n = rows
        date = (when if when.tzinfo is UTC else when.astimezone(UTC)).date().isoformat()
        with self._cond:
            if self._stopping or self._rows + n > self.max_rows:
                self.metrics.log_dropped.labels("queue_full").inc(n)
                return False
            self._pending.append(_Batch(model, date, n, make))
            self._rows += n
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
            self._connect()  # now, so the first flush does not pay for it amid requests
        except Exception as exc:  # S3 may be down at start: the first write tries again
            log.warning("prediction log: S3 not reachable yet: %s", redact(exc)[:300])
        attempts = 0
        due = time.monotonic() + self.flush_seconds
        while True:
            stopping, write = self._wait(due)
            self._convert()
            if not write:
                continue
            failed = self._write()
            self._failing = failed
            due = time.monotonic() + (self.retry_seconds if failed else self.flush_seconds)
            if not stopping:
                continue
            attempts += 1
            if not failed:
                return
            if attempts >= SHUTDOWN_ATTEMPTS:
                lost = sum(n for parts in self._built.values() for n, _ in parts)
                self._built.clear()
                self.metrics.log_dropped.labels("write_failed").inc(lost)
                with self._cond:
                    self._rows -= lost
                log.error("prediction log: %d rows could not be written at shutdown", lost)
                return
            time.sleep(self.retry_seconds)

    def _convert(self) -> None:
        """Every queued request into Arrow, one table per model and date.

        Their Python values are let go. A request whose rows cannot be built (a bug) is
        dropped and counted.
        """
        with self._cond:
            batches = list(self._pending)
            self._pending.clear()
            self._raw = 0
        groups: dict[tuple[str, str], list[_Batch]] = {}
        for batch in batches:
            groups.setdefault((batch.model, batch.date), []).append(batch)
        for key, group in groups.items():
            ready = [b for b in group if isinstance(b.make, pa.Table)]
            if ready:
                self._built.setdefault(key, []).extend((b.rows, b.make) for b in ready)
                group = [b for b in group if not isinstance(b.make, pa.Table)]
                if not group:
                    continue
            rows = sum(b.rows for b in group)
            try:
                built = self._table(group)
            except Exception as exc:  # a row builder's bug: count it, keep the writer alive
                log.error("prediction log: %d rows could not be built: %r", rows, exc)
                self.metrics.log_dropped.labels("write_failed").inc(rows)
                with self._cond:
                    self._rows -= rows
                continue
            self._built.setdefault(key, []).append((rows, built))

    def _write(self) -> bool:
        """Write what is converted, one object per model and date.

        Returns whether any write failed; its rows stay for the next attempt.
        """
        failed = False
        for (model, date), parts in list(self._built.items()):
            rows = sum(n for n, _ in parts)
            try:
                self._put(model, date, concat([t for _, t in parts]))
            except Exception as exc:  # S3Error, urllib3 errors: all retried
                self.metrics.log_write_errors.inc()
                log.warning("prediction log: write failed, will retry: %s", redact(exc)[:300])
                failed = True
                continue
            del self._built[(model, date)]
            self.metrics.log_flushed.inc(rows)
            with self._cond:
                self._rows -= rows
        return failed

    def _table(self, group: list[_Batch]) -> pa.Table:
        """One group's rows as an Arrow table (column-wise when they are all LoggedRequests)."""
        if all(isinstance(b.make, LoggedRequest) for b in group):
            built = request_table([b.make for b in group], self.types)
            if built is not None:
                return built
        return table([b.columns() for b in group], self.types)

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
        # Min/max statistics for the facts readers filter on (a date window, a version), not
        # for every feature: they were a quarter of the encoding time (benchmarks/predlog.py).
        pq.write_table(rows, buffer, write_statistics=list(STATISTICS))
        stamp = datetime.now(UTC).strftime("%H%M%S")
        name = f"{stamp}-{uuid.uuid4().hex}.parquet"
        key = "/".join(p for p in (self.path, _safe(model), f"date={date}", name) if p)
        size = buffer.tell()
        buffer.seek(0)
        client.put_object(self.bucket, key, buffer, size, "application/vnd.apache.parquet")

    def object_key(self, model: str, date: str) -> str:
        """The key prefix of one model's partition for one date (for readers and tests)."""
        return "/".join(p for p in (self.path, _safe(model), f"date={date}") if p) + "/"
