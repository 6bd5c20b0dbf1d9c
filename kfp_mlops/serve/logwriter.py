"""The prediction log's writer: requests into tables in their partition's schema, then to S3.

The writer thread's own state, by partition (model, date): converted tables not yet
written, the partition's schema, failed writes waiting their backoff, and the requests set
aside (deadletter.py). Only that thread calls it; the queue is PredictionLog's (predlog.py).
"""

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import NamedTuple

import pyarrow as pa

from components._shared.logformat import partition
from components._shared.redact import redact
from kfp_mlops.serve import deadletter
from kfp_mlops.serve.logrows import LoggedRequest
from kfp_mlops.serve.logstore import LogStore, permanent
from kfp_mlops.serve.logtable import SchemaClash, concat, conform, request_table, table, widen
from kfp_mlops.serve.metrics import Metrics

log = logging.getLogger("kfp_mlops.serve")
Key = tuple[str, str]  # (model, date)
WARN_SECONDS = 60.0
SCHEMA_DAYS = 2  # a partition's learned schema is kept this many days past its date


class Batch(NamedTuple):
    """One request's place in the queue.

    A tuple: one object for the cycle collector to visit, whose values (a LoggedRequest's
    inner tuples) it stops tracking; a closure is tracked, and so is everything it holds.
    """

    model: str
    date: str  # YYYY-MM-DD (UTC) of the request, the partition it goes to
    rows: int
    nbytes: int  # what it is reckoned to hold in memory, against the byte budget
    # The rows: built by the writer thread from a LoggedRequest or a function, or already
    # built in the request path (a large request's pa.Table).
    make: "LoggedRequest | pa.Table | Callable[[], dict[str, list]]"

    def columns(self) -> dict[str, list]:
        """The rows by column (a LoggedRequest's or a function's; tables skip this)."""
        return self.make.columns() if isinstance(self.make, LoggedRequest) else self.make()


def reason_of(exc: Exception) -> str:
    """Why a request could not be converted (deadletter.REASONS)."""
    if isinstance(exc, SchemaClash):
        return "schema"
    if isinstance(exc, pa.ArrowInvalid | pa.ArrowTypeError | OverflowError | UnicodeError):
        return "type"
    return "build"


class Partitions:
    """What the writer holds per partition, and how it converts, writes and sets aside.

    Args:
        store: Where objects go.
        metrics: The log's counters.
        schema: The model's log schema (the server); None learns each partition's from its
            first table (the sink, which has no model).
        release: Called with (rows, bytes) that leave the queue's bounds.
        resolve: Without `schema`, asked for a partition's schema given its first table
            (signatures.RegistrySchemas); None or its None: the first table's own.
        retry_seconds, max_retry_seconds, max_attempts: A failed write is retried after
            retry_seconds, doubling up to max_retry_seconds, and dropped after max_attempts.
    """

    def __init__(
        self,
        store: LogStore,
        metrics: Metrics,
        schema: pa.Schema | None,
        release: Callable[[int, int], None],
        *,
        resolve: "Callable[[str, pa.Table], pa.Schema | None] | None" = None,
        retry_seconds: float,
        max_retry_seconds: float,
        max_attempts: int,
    ):
        self.store, self.metrics, self.schema, self.release = store, metrics, schema, release
        self.resolve = resolve
        self.types = dict(zip(schema.names, schema.types, strict=True)) if schema else None
        self.retry_seconds, self.max_retry_seconds = retry_seconds, max_retry_seconds
        self.max_attempts = max_attempts
        self._built: dict[Key, list[tuple[int, int, pa.Table]]] = {}  # (rows, bytes, table)
        self._schemas: dict[Key, pa.Schema] = {}
        self._backoff: dict[Key, tuple[int, float]] = {}  # (failures, next attempt)
        self._rejected: dict[Key, list[str]] = {}  # JSON lines
        self._rejected_bytes = 0
        self._warned: dict[str, float] = {}  # reason -> when it was last logged

    def give_up_all(self, when: str) -> None:
        """Drop and count every converted row (S3 never came back before shutdown)."""
        for key in list(self._built):
            self.give_up(key, when)

    def convert(self, batches: list[Batch]) -> None:
        """Queued requests into Arrow in their partition's schema, a table per partition.

        Their Python values are let go. A group is converted at once; if that fails, each
        of its requests alone, so only the ones that do not fit are set aside.
        """
        groups: dict[Key, list[Batch]] = {}
        for batch in batches:
            groups.setdefault((batch.model, batch.date), []).append(batch)
        if groups and self._schemas:
            self._forget_before(min(date for _, date in groups))
        for key, group in groups.items():
            built = self._built.setdefault(key, [])
            raw = [b for b in group if not isinstance(b.make, pa.Table)]
            if raw:
                try:
                    built.append(self._part(key, raw))
                    raw = []
                except Exception:  # one request's values broke the group: each on its own
                    pass
            for batch in raw + [b for b in group if isinstance(b.make, pa.Table)]:
                try:
                    built.append(self._part(key, [batch]))
                except Exception as exc:
                    self._reject(key, batch, reason_of(exc), exc)
            if not built:
                del self._built[key]

    def _forget_before(self, date: str) -> None:
        """Let go of the learned schemas of days long past (one a model a day, else forever)."""
        oldest = (datetime.fromisoformat(date) - timedelta(days=SCHEMA_DAYS)).date().isoformat()
        for key in [k for k in self._schemas if k[1] < oldest and k not in self._built]:
            del self._schemas[key]

    def _part(self, key: Key, group: list[Batch]) -> tuple[int, int, pa.Table]:
        """Some requests' rows as one table in the partition's schema: (rows, bytes, table)."""
        first = group[0].make
        built = first if len(group) == 1 and isinstance(first, pa.Table) else self._table(group)
        schema = self.schema or self._schemas.get(key)
        if schema is None and self.resolve is not None:  # the sink: the registry's types
            schema = self.resolve(key[0], built)
        schema = built.schema if schema is None else widen(schema, built)
        built = conform(built, schema)
        if self.schema is None:
            self._schemas[key] = schema
        reckoned = sum(b.nbytes for b in group)
        self.release(0, reckoned - built.nbytes)  # the estimate becomes the table's size
        return sum(b.rows for b in group), built.nbytes, built

    def _reject(self, key: Key, batch: Batch, reason: str, exc: Exception) -> None:
        detail = f"{type(exc).__name__}: {exc}"
        line = deadletter.record(batch.model, batch.rows, reason, detail, batch.make)
        self.metrics.log_rejected.labels(reason).inc(batch.rows)
        self.release(batch.rows, batch.nbytes)
        if self._rejected_bytes + len(line) > deadletter.MAX_PENDING_BYTES:
            # S3 has not taken the set-aside requests yet: their own bound, then counted only.
            self.metrics.log_dropped.labels("rejected_unwritten").inc(batch.rows)
            return
        self._rejected.setdefault(key, []).append(line)
        self._rejected_bytes += len(line)
        # At most one line a minute per reason (a client sending such requests would flood
        # the log otherwise); %r: what a client sent never becomes lines of its own here.
        now = time.monotonic()
        if now - self._warned.get(reason, -WARN_SECONDS) >= WARN_SECONDS:
            self._warned[reason] = now
            log.warning("prediction log: %d row(s) of %r set aside (%s): %r; more of this "
                        "reason are counted in kfp_mlops_prediction_log_rejected_rows_total",
                        batch.rows, batch.model, reason, detail[:200])  # fmt: skip

    def write(self, stopping: bool) -> bool:
        """Write what is converted, one object per partition, then what was set aside.

        Returns whether a write failed and is to be retried (its rows stay).
        """
        now, failed = time.monotonic(), False
        for key, parts in list(self._built.items()):
            failures, next_at = self._backoff.get(key, (0, 0.0))
            if next_at > now and not stopping:
                failed = True  # this partition waits its backoff; the others go on
                continue
            rows, nbytes = sum(p[0] for p in parts), sum(p[1] for p in parts)
            schema = self.schema or self._schemas[key]
            try:
                where = partition(self.store.path, *key)
                self.store.put_table(where, concat([conform(t, schema) for _, _, t in parts]))
            except Exception as exc:
                if permanent(exc):
                    for part_rows, part_bytes, t in parts:
                        batch = Batch(key[0], key[1], part_rows, part_bytes, t)
                        self._reject(key, batch, "write_refused", exc)
                    del self._built[key]
                    continue
                failures += 1
                self.metrics.log_write_errors.inc()
                if failures >= self.max_attempts:
                    self.give_up(key, f"after {failures} attempts")
                    continue
                delay = min(self.retry_seconds * 2 ** (failures - 1), self.max_retry_seconds)
                self._backoff[key] = (failures, now + delay)
                log.warning("prediction log: write failed, retry in %.0f s: %s", delay,
                            redact(exc)[:300])  # fmt: skip
                failed = True
                continue
            del self._built[key]
            self._backoff.pop(key, None)
            self.metrics.log_flushed.inc(rows)
            self.release(rows, nbytes)
        return self._write_rejected() or failed

    def give_up(self, key: Key, when: str) -> None:
        """Drop and count one partition's converted rows."""
        parts = self._built.pop(key, [])
        self._backoff.pop(key, None)
        rows, nbytes = sum(p[0] for p in parts), sum(p[1] for p in parts)
        self.metrics.log_dropped.labels("write_failed").inc(rows)
        self.release(rows, nbytes)
        log.error("prediction log: %d rows could not be written %s (model %r)", rows, when, key[0])

    def _write_rejected(self) -> bool:
        """Write the set-aside requests, a JSON Lines object per partition; False if one failed."""
        failed = False
        for key, lines in list(self._rejected.items()):
            try:
                self.store.put_lines(partition(self.store.path, *key, rejected=True), lines)
            except Exception as exc:
                log.warning("prediction log: rejected rows not written yet: %s", redact(exc)[:300])
                if not permanent(exc):
                    failed = True
                    continue
            del self._rejected[key]
            self._rejected_bytes -= sum(map(len, lines))
        return failed

    def _table(self, group: list[Batch]) -> pa.Table:
        """One group's rows as an Arrow table (column-wise when they are all LoggedRequests)."""
        if all(isinstance(b.make, LoggedRequest) for b in group):
            built = request_table([b.make for b in group], self.types)
            if built is not None:
                return built
        return table([b.columns() for b in group], self.types)
