"""`make bench` prediction-log rows: what logging costs the server, in-process, no S3.

Figures on the demo data's 9 columns and a two-class answer:
- the request path: what the server does per request (`logrows.log_entry`, then
  `PredictionLog.submit`), per 1-row and per 1000-row request; for 1000 rows also the
  earlier shape (values kept as tuples, converted later by the writer), request path and
  writer together;
- the writer: one flush of 25,000 rows of single-row requests as an Arrow table, column-wise
  (`request_table`, what the writer uses) against the general per-request builder (`table`);
  the Parquet encoding with statistics on every column against on the log's facts only
  (`predlog.STATISTICS`, what the writer writes);
- the cycle collector: one full collection (`gc.collect()`) with 10,000 single-row requests
  queued, as `LoggedRequest` tuples against closures over the same lists (the shape the
  queue held before: every closure, cell, dict and list is tracked).
Usage: python -m benchmarks.predlog [--repeats 5]
"""

import argparse
import gc
import io
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from kfp_mlops.serve.logrows import LoggedRequest, log_entry, records
from kfp_mlops.serve.logtable import request_table, table
from kfp_mlops.serve.metrics import Metrics
from kfp_mlops.serve.model import Prediction
from kfp_mlops.serve.predlog import STATISTICS, PredictionLog

DATA = Path(__file__).resolve().parent.parent / "data" / "german_credit.csv"
MODEL = ("bench", "1")
OUTPUTS = ("prediction", "proba_0", "proba_1")
CLASSES = pa.array([0, 1])


def request_columns(rows: int) -> dict[str, list]:
    """The first `rows` rows of the demo data as a checked request holds them (None: null)."""
    frame = pd.read_csv(DATA).drop(columns=["risk"])
    frame = pd.concat([frame] * (rows // len(frame) + 1)).head(rows).astype(object)
    return {c: frame[c].where(frame[c].notna(), None).tolist() for c in frame.columns}


def log_types() -> dict[str, pa.DataType]:
    """The log's Arrow types of the demo data's columns and the answer (as the server has)."""
    frame = pd.read_csv(DATA).drop(columns=["risk"])
    kinds = {c: pa.string() if frame[c].dtype == object else pa.int64() for c in frame.columns}
    return kinds | {"prediction": pa.int64(), "proba_0": pa.float64(), "proba_1": pa.float64()}


TYPES = log_types()


def answer(rows: int) -> Prediction:
    """A two-class answer for `rows` rows, as the model gives it (lists and arrays)."""
    proba = np.tile([[0.3, 0.7]], (rows, 1))
    return Prediction([1] * rows, proba.tolist(), proba.argmax(axis=1), proba)


def entry(columns: dict[str, list], names: tuple, i: int) -> LoggedRequest:
    """One request's log entry with its values as tuples (a small request, as the server)."""
    rows = len(next(iter(columns.values())))
    return LoggedRequest.of(
        f"req-{i}", datetime.now(UTC), MODEL, names, columns, [1] * rows, [[0.3, 0.7]] * rows,
        0.001,
    )  # fmt: skip


def request_path_us(rows: int, repeats: int, as_tuples: bool = False) -> float:
    """Median µs to build and queue one logged request of `rows` rows, as the server does
    (`as_tuples`: the earlier shape, values as tuples, plus the writer's conversion of them)."""
    columns = request_columns(rows)
    names = (tuple(columns), OUTPUTS)
    said = answer(rows)
    log = PredictionLog("s3://bench/log", Metrics(), max_rows=10**12, flush_rows=10**12)
    calls = max(50, 20_000 // rows)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(calls):
            if as_tuples:
                made = entry(columns, names, i)
            else:
                made = log_entry(
                    f"req-{i}", datetime.now(UTC), MODEL, names, columns, said, 0.001,
                    CLASSES, TYPES,
                )  # fmt: skip
            log.submit(MODEL[0], datetime.now(UTC), rows, made)
        if as_tuples:
            request_table([b.make for b in log._pending], TYPES)
        times.append((time.perf_counter() - start) / calls * 1e6)
        log._pending.clear()  # the writer thread never started: nothing else empties it
        log._rows = log._raw = 0
    return statistics.median(times)


def writer_ms(repeats: int) -> tuple[float, float, float, float]:
    """Median ms for a 25,000-row flush of single-row requests: request_table, table, and
    the Parquet encoding with statistics on every column and on the log's facts only."""
    columns = request_columns(1)
    names = (tuple(columns), OUTPUTS)
    entries = [entry(columns, names, i) for i in range(25_000)]
    column_wise, general, every, facts = [], [], [], []
    for _ in range(repeats):
        start = time.perf_counter()
        built = request_table(entries, TYPES)
        column_wise.append((time.perf_counter() - start) * 1e3)
        start = time.perf_counter()
        table([e.columns() for e in entries], TYPES)
        general.append((time.perf_counter() - start) * 1e3)
        start = time.perf_counter()
        pq.write_table(built, io.BytesIO())
        every.append((time.perf_counter() - start) * 1e3)
        start = time.perf_counter()
        pq.write_table(built, io.BytesIO(), write_statistics=list(STATISTICS))
        facts.append((time.perf_counter() - start) * 1e3)
    return tuple(statistics.median(v) for v in (column_wise, general, every, facts))


def collection_ms(queued: int, repeats: int) -> tuple[float, float]:
    """Median ms of one full collection with `queued` single-row requests held: as
    LoggedRequest tuples, and as closures over the request's lists (the earlier shape)."""
    columns = request_columns(1)
    names = (tuple(columns), OUTPUTS)

    def closure(i: int):
        cols = {k: list(v) for k, v in columns.items()}
        when, answer = datetime.now(UTC), ([1], [[0.3, 0.7]])

        def make():
            outputs = {"prediction": answer[0], "proba_0": [answer[1][0][0]],
                       "proba_1": [answer[1][0][1]]}  # fmt: skip
            return records(f"req-{i}", when, MODEL, cols, outputs, 0.001)

        return make

    result = []
    for build in (lambda i: entry(columns, names, i), closure):
        held = [build(i) for i in range(queued)]
        gc.collect()  # the first collection they survive (tuples are untracked here)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            gc.collect()
            times.append((time.perf_counter() - start) * 1e3)
        result.append(statistics.median(times))
        del held
    return result[0], result[1]


def main(repeats: int = 5) -> None:
    gc.freeze()  # as the server does after its warm-up: only the log's objects are collected
    print("prediction log, in-process (no S3), demo data (9 columns), two-class answers")
    for rows in (1, 1000):
        us = request_path_us(rows, repeats)
        print(f"  request path, {rows:>4}-row request: build + queue {us:8.1f} µs")
    us = request_path_us(1000, repeats, as_tuples=True)
    print(
        f"  1000-row request as tuples (earlier): request path + writer's conversion {us:6.1f} µs"
    )
    column_wise, general, every, facts = writer_ms(repeats)
    print(
        f"  writer, 25,000 rows in 1-row requests: request_table {column_wise:6.1f} ms, "
        f"table {general:6.1f} ms; Parquet {every:5.1f} ms with statistics on every column, "
        f"{facts:5.1f} ms on the facts only"
    )
    tuples, closures = collection_ms(10_000, repeats)
    print(
        f"  full collection with 10,000 queued requests: LoggedRequest {tuples:5.1f} ms, "
        f"closures over lists {closures:5.1f} ms"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    main(parser.parse_args().repeats)
