"""The shadow: a second model predicting the primary's rows off the request path.

`kfp-mlops serve models:/NAME@champion --shadow models:/NAME@challenger` answers every request
from the primary. After the answer is computed, the request's checked rows go on a queue
bounded in rows (`--shadow-queue-rows`) and in the requests' body bytes (64 MiB); one
thread with the shadow's own model predicts whatever has queued, in one call (each request
alone if that call raises, so one bad request fails by itself). A full queue drops the
request's shadow; a request the shadow raises on (or whose rows the log cannot take) is a
warning (at most one a minute) — both counted in `kfp_mlops_shadow_requests_total`, never
seen by the client.

The budget: the shadow thread shares the process (and its two cores, and the interpreter's
lock) with the primary's predicting thread. While the primary has requests in flight, the
shadow may spend at most `share` (default 10 %) of the wall time in its model: after a call
of t seconds it pauses t * (1 / share - 1). Rows queue meanwhile and the next call takes
them together, which costs far less per row; what still does not fit is dropped and counted.
An idle primary lets the shadow run freely.
"""

import logging
import threading
import time
from collections import deque
from datetime import UTC, datetime
from typing import NamedTuple

from components._shared.errors import ConfigError
from components._shared.logformat import SHADOW, output_names
from components._shared.registry.inputs import Face, check_shadow_fits
from kfp_mlops.serve.batch import one_thread, split
from kfp_mlops.serve.frame import Rows
from kfp_mlops.serve.logrows import log_entry
from kfp_mlops.serve.metrics import Metrics
from kfp_mlops.serve.model import Prediction, ServedModel

log = logging.getLogger("kfp_mlops.serve")
SHARE = 0.1  # of the wall time the shadow may predict while the primary is busy
# What the queued requests' bodies may weigh: a row bound alone lets 10,000 one-row requests
# of 16 MiB each wait, which no pod holds.
MAX_QUEUE_BYTES = 64 << 20
MAX_PAUSE_SECONDS = 1.0
WARN_SECONDS = 60.0


def face(served: ServedModel) -> Face:
    """What a served version shows the rows it is sent (registry.inputs.Face)."""
    inputs = tuple((c.name, c.kind) for c in served.schema.columns)
    return Face(served.version, inputs, tuple(str(c) for c in served.classes))


def check_compatible(primary: ServedModel, shadow: ServedModel, uri: str) -> None:
    """Refuse a shadow that cannot predict the primary's rows, or log them in its partition.

    The comparison is deploy_model's too (registry.inputs.check_shadow_fits).

    Raises:
        ConfigError: Another registered model, other input columns (names, order or kinds),
            or other classes (the partition's log schema is the primary's).
    """
    if shadow.registered_name != primary.registered_name:
        raise ConfigError(
            f"--shadow {uri}: is a version of {shadow.registered_name!r}, the primary of "
            f"{primary.registered_name!r}; a shadow is another version of the same model "
            "(its rows share the primary's log)"
        )
    check_shadow_fits(face(primary), face(shadow), f"--shadow {uri}")


class _Job(NamedTuple):
    request_id: str
    rows: Rows
    columns: dict
    nbytes: int


class Shadow:
    """The bounded queue of requests to shadow, and the thread that predicts and logs them.

    Args:
        served: The shadow model (loaded and checked like the primary).
        metrics: Where the counters and the queue gauge go.
        emit: Called with (request_id, when, Prediction, columns, latency, nbytes) for each
            predicted request (the server's log, or the forwarder to a log sink); None:
            counted only.
        busy: Whether the primary has requests in flight (the budget applies then).
        max_rows: Rows queued at most; a request that does not fit is dropped and counted.
        max_bytes: Request body bytes queued at most; likewise.
        max_batch_rows: Rows one shadow call takes at most.
        share: Wall time the shadow may spend predicting while the primary is busy.
        after_close: Called once the queue is done (the forwarder's close), or None.
    """

    def __init__(self, served: ServedModel, metrics: Metrics, emit=None, busy=lambda: False,
                 *, max_rows: int = 10_000, max_bytes: int = MAX_QUEUE_BYTES,
                 max_batch_rows: int = 1024, share: float = SHARE, after_close=None):  # fmt: skip
        self.after_close = after_close
        self.served, self.metrics, self.emit, self.busy = served, metrics, emit, busy
        self.max_rows, self.max_batch_rows, self.share = max_rows, max_batch_rows, share
        self.max_bytes = max_bytes
        self._queue: deque[_Job] = deque()
        self._rows = self._bytes = 0
        self._cond = threading.Condition(threading.Lock())
        self._stopping = threading.Event()
        self._warned = -WARN_SECONDS
        self._thread = threading.Thread(target=self._run, name="shadow", daemon=True)
        self.outcomes = {
            o: metrics.shadow_requests.labels(served.registered_name, o)
            for o in ("predicted", "dropped", "failed")
        }
        metrics.shadow_queue.set_function(lambda: self._rows)

    def start(self) -> "Shadow":
        """Warm the shadow up (its first call pays no lazy setup), then start its thread.

        A shadow that raises on the warm-up's row of missing values still starts: what it
        raises on is counted per request, as for any row.
        """
        try:
            self.served.warm_up()
        except Exception as exc:
            log.warning("shadow models:/%s/%s: warm-up on a row of missing values raised %s: %s",
                        self.served.registered_name, self.served.version, type(exc).__name__,
                        str(exc)[:200])  # fmt: skip
        self._thread.start()
        return self

    def offer(self, request_id: str, rows: Rows, columns: dict, nbytes: int = 0) -> bool:
        """Queue a request's checked rows; False (and counted as dropped) when full."""
        n = len(rows)
        with self._cond:
            full = self._rows + n > self.max_rows or self._bytes + nbytes > self.max_bytes
            if self._stopping.is_set() or full:
                self.outcomes["dropped"].inc()
                return False
            self._queue.append(_Job(request_id, rows, columns, nbytes))
            self._rows += n
            self._bytes += nbytes
            self._cond.notify()
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Predict what is queued (no pauses), within `timeout`; count the rest as dropped."""
        self._stopping.set()
        with self._cond:
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)
        with self._cond:
            left, self._rows, self._bytes = len(self._queue), 0, 0
            self._queue.clear()
        if left:
            self.outcomes["dropped"].inc(left)
        if self.after_close is not None:
            self.after_close()

    def _take(self) -> list[_Job] | None:
        with self._cond:
            while not self._queue and not self._stopping.is_set():
                self._cond.wait()
            if not self._queue:
                return None
            jobs = [self._queue.popleft()]
            rows = len(jobs[0].rows)
            while self._queue and rows + len(self._queue[0].rows) <= self.max_batch_rows:
                job = self._queue.popleft()
                jobs.append(job)
                rows += len(job.rows)
            self._rows -= rows
            self._bytes -= sum(job.nbytes for job in jobs)
        return jobs

    def _run(self) -> None:
        one_thread()
        while (jobs := self._take()) is not None:
            busy = self.busy()
            start = time.perf_counter()
            results = self._predict([job.rows for job in jobs])
            spent = time.perf_counter() - start
            when = datetime.now(UTC)
            for job, result in zip(jobs, results, strict=True):
                if isinstance(result, Exception):
                    self._failed(job, result)
                    continue
                if self.emit is not None:
                    try:  # a log that cannot take the rows must not end the thread
                        self.emit(job.request_id, when, result, job.columns, spent, job.nbytes)
                    except Exception as exc:
                        self._failed(job, exc)
                        continue
                self.outcomes["predicted"].inc()
            if busy and not self._stopping.is_set():
                self._stopping.wait(min(spent * (1 / self.share - 1), MAX_PAUSE_SECONDS))

    def _predict(self, parts: list[Rows]) -> list:
        """Each request's Prediction, or the exception its rows raised (one call if it can)."""
        predict = self.served.predict
        if len(parts) > 1:
            try:
                return split(predict(Rows.join(parts)), [len(p) for p in parts])
            except Exception:  # isolated below: each request alone
                pass
        results: list = []
        for part in parts:
            try:
                results.append(predict(part))
            except Exception as exc:
                results.append(exc)
        return results

    def _failed(self, job: _Job, exc: Exception) -> None:
        self.outcomes["failed"].inc()
        now = time.monotonic()
        if now - self._warned >= WARN_SECONDS:  # a shadow failing on a value would flood
            self._warned = now
            log.warning(
                "shadow models:/%s/%s failed on request %r (%d rows): %s: %s; the answer was "
                "the primary's; more are counted in kfp_mlops_shadow_requests_total"
                '{outcome="failed"}',
                self.served.registered_name, self.served.version, job.request_id,
                len(job.rows), type(exc).__name__, str(exc)[:200],
            )  # fmt: skip


def to_log(served: ServedModel, prediction_log) -> "callable":
    """The `emit` that writes a shadow's rows to the server's own prediction log."""
    model = (served.registered_name, str(served.version))
    names = (tuple(served.schema.names), output_names(served.classes))
    import pyarrow as pa

    classes = pa.array(served.classes) if served.classes else None
    types = served.log_types()

    def emit(request_id: str, when: datetime, answer: Prediction, columns: dict,
             latency: float, nbytes: int) -> None:  # fmt: skip
        entry = log_entry(request_id, when, model, names, columns, answer, latency, classes,
                          types, SHADOW)  # fmt: skip
        prediction_log.submit(served.registered_name, when, len(answer.labels), entry, nbytes)

    return emit
