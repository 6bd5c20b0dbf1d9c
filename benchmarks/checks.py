"""What the server's value checks and a bearer token's check cost a request.

Usage: python -m benchmarks.checks [--calls N]

In-process, no server: `frame.checked_rows` on the demo model's schema (two text and three
integer columns) for a 1-row and a 1000-row request, against the type-only check the server
ran before values were held to their column's type (integers within int64, floats finite,
text valid Unicode). Medians of N calls. The share of a request is the added cost over the
time one request takes end to end at the throughput `benchmarks.serve` measures (pass them
with --request-ms and --batch-request-ms; defaults: the last figures in
benchmarks/README.md).
"""

import argparse
import statistics
import time

from kfp_mlops.serve.frame import _PLAIN_TYPES, _check_each, check_names, checked_rows
from kfp_mlops.serve.schema import Column, Schema

SCHEMA = Schema(
    (
        Column("sex", "string"),
        Column("housing", "string"),
        Column("credit_amount", "integer"),
        Column("duration", "integer"),
        Column("age", "integer"),
    )
)
ROW = {"sex": "male", "housing": "own", "credit_amount": 1169, "duration": 6, "age": 67}


def type_only(columns: dict[str, list], schema: Schema) -> None:
    """The check before this round: every value's type in one pass, no range or encoding."""
    check_names(list(columns), schema)
    for column in schema.columns:
        seen = set(map(type, columns[column.name]))
        if not seen <= _PLAIN_TYPES[column.kind]:
            _check_each(column, columns[column.name])


def median_us(fn, columns: dict, calls: int) -> float:
    times = []
    for _ in range(calls):
        start = time.perf_counter_ns()
        fn(columns, SCHEMA)
        times.append(time.perf_counter_ns() - start)
    return statistics.median(times) / 1000


def main(calls: int, request_ms: float, batch_ms: float) -> None:
    print(f"value checks, median of {calls} calls (us per request)")
    print(f"{'rows':>6}{'type only':>12}{'with ranges':>13}{'added':>9}{'share of a request':>20}")
    for rows in (1, 1000):
        columns = {name: [value] * rows for name, value in ROW.items()}
        before = median_us(type_only, columns, calls)
        after = median_us(checked_rows, columns, calls)
        share = (after - before) / ((request_ms if rows == 1 else batch_ms) * 1000)
        shown = f"{share:.2%}"
        print(f"{rows:>6}{before:>12.2f}{after:>13.2f}{after - before:>9.2f}{shown:>20}")
    print(
        f"(a request at concurrency 1 taken as {request_ms} ms end to end for 1 row, "
        f"{batch_ms} ms for 1000 rows)"
    )
    token_check(calls, request_ms)


def token_check(calls: int, request_ms: float) -> None:
    """A bearer token's check (kfp_mlops/serve/auth.py): one accepted token, then two."""
    import tempfile
    from pathlib import Path

    from kfp_mlops.serve.auth import Tokens

    with tempfile.TemporaryDirectory() as folder:
        for count in (1, 2):
            path = Path(folder) / f"tokens{count}"
            path.write_text("".join(f"{k}{'t' * 63}\n" for k in range(count)))
            tokens = Tokens(path)
            header = f"Bearer {count - 1}{'t' * 63}"
            times = []
            for _ in range(calls):
                start = time.perf_counter_ns()
                tokens.accepts(header)
                times.append(time.perf_counter_ns() - start)
            took = statistics.median(times) / 1000
            print(
                f"bearer token check, {count} token(s) in the file: {took:.2f} us per request "
                f"({took / (request_ms * 1000):.2%} of a single-row request)"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    # The last serving run (benchmarks/README.md, 2026-12-05), log off, concurrency 1, from
    # its interleaved rounds: 514.7 req/s single-row (1.943 ms), 65.2 req/s on 1000-row
    # batches (15.34 ms).
    parser.add_argument("--request-ms", type=float, default=1.943)
    parser.add_argument("--batch-request-ms", type=float, default=15.34)
    args = parser.parse_args()
    main(args.calls, args.request_ms, args.batch_request_ms)
