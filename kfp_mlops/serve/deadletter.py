"""Requests the prediction log could not write in the model's schema, kept aside with the reason.

Each goes to `<prefix>/_rejected/<model>/date=YYYY-MM-DD/<HHMMSS>-<uuid>.jsonl`, one JSON
object per request: `reason`, `detail`, `model`, `rows`, and the request's columns as far
as they can be read. JSON with every non-ASCII character escaped, so a value that is not
valid Unicode (a lone surrogate) is kept as its escape rather than lost.
"""

import json
from collections.abc import Callable
from datetime import datetime

import pyarrow as pa

from kfp_mlops.serve.logrows import LoggedRequest
from kfp_mlops.serve.logtable import values_of

# Why a request was set aside (the `reason` label of kfp_mlops_prediction_log_rejected_rows).
REASONS = ("type", "schema", "build", "write_refused")
MAX_DETAIL_CHARS = 300
# Set-aside requests waiting for S3 are held up to this many bytes; past it they are only
# counted (kfp_mlops_prediction_log_dropped_rows_total{reason="rejected_unwritten"}).
MAX_PENDING_BYTES = 16 << 20


def _columns(make: "LoggedRequest | pa.Table | Callable[[], dict]") -> dict:
    if isinstance(make, pa.Table):
        return make.to_pydict()
    if isinstance(make, LoggedRequest):
        names = (*make.input_names, *make.output_names)
        return {
            "request_id": make.request_id,
            "time": make.when,
            **{n: values_of(v) for n, v in zip(names, (*make.inputs, *make.outputs), strict=False)},
        }
    return {name: values_of(v) for name, v in make().items()}


def record(model: str, rows: int, reason: str, detail: str, make) -> str:
    """One rejected request as a line of JSON (its columns left out if they cannot be read)."""
    line = {"reason": reason, "detail": detail[:MAX_DETAIL_CHARS], "model": model, "rows": rows}
    try:
        line["columns"] = _columns(make)
        # Inside the try: a value JSON cannot write (an int past Python's 4300 digits) must
        # not escape into the writer thread and end it.
        return json.dumps(line, default=_plain, ensure_ascii=True)
    except Exception as exc:  # the builder itself fails: the facts above are what is known
        line.pop("columns", None)
        line["columns_error"] = f"{type(exc).__name__}: {str(exc)[:MAX_DETAIL_CHARS]}"
    return json.dumps(line, default=_plain, ensure_ascii=True)


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist()
    return repr(value)
