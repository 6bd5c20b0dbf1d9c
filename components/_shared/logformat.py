"""The prediction log's format, defined once: its columns, their Arrow types and its S3 layout.

The model server and the payload-logger sink write it (kfp_mlops/serve); the live-performance
gate and the monitoring readers read it. A row is one predicted instance:

    request_id, time, model_name, model_version, endpoint, <each input>, prediction,
    proba_<class>..., latency_seconds

`endpoint` says which model answered: "primary" (the answer the client got) or "shadow" (a
challenger predicting the same rows off the request path, `kfp-mlops serve --shadow`; its
rows carry the primary's request_id and row order, and the shadow's own model_version, time
and latency). Files written before the column existed have none: every such row is primary.
Readers of served traffic, labels and training rows keep `primary_only` rows.

under `<prefix>/<model>/date=YYYY-MM-DD/<HHMMSS>-<uuid>.parquet`. Rows that could not be
written in that schema go to `<prefix>/_rejected/<model>/date=YYYY-MM-DD/`, with the reason.
"""

import re
from collections.abc import Iterable, Sequence

import pandas as pd
import pyarrow as pa

# The facts every row carries beside the model's inputs and outputs, with their types.
META_TYPES: dict[str, pa.DataType] = {
    "request_id": pa.string(),
    "time": pa.timestamp("us", tz="UTC"),
    "model_name": pa.string(),
    "model_version": pa.string(),
    "endpoint": pa.string(),
    "latency_seconds": pa.float64(),
}
META_COLUMNS = tuple(META_TYPES)
LEADING = META_COLUMNS[:5]  # before the inputs; latency_seconds comes last
ENDPOINT = "endpoint"  # which model answered: PRIMARY or SHADOW
PRIMARY = "primary"
SHADOW = "shadow"
PREDICTION = "prediction"  # the predicted label
PROBA_PREFIX = "proba_"  # proba_<class>: the probability of each class, in the model's order
# What the live-performance gate reads of a row (with the proba_<class> columns).
JOIN_COLUMNS = ("request_id", "time", PREDICTION)
# Min/max statistics are written for these only: readers filter on them (a date window, a
# version); statistics on every feature were a quarter of the encoding time.
STATISTICS = LEADING
# The kind of column each MLflow signature type is (the served request schema, the
# training-set builder's check of the champion's inputs).
SIGNATURE_KINDS = {
    "string": "string",
    "long": "integer",
    "integer": "integer",
    "double": "double",
    "float": "double",
    "boolean": "boolean",
}
# Arrow type of each request column kind (kfp_mlops/serve/schema.py's kinds).
KIND_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "integer": pa.int64(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
}
REJECTED = "_rejected"  # the dead-letter folder beside the models' folders
DATE_KEY = "date"


def proba_column(label: object) -> str:
    """The column of one class's probability: `proba_<class>`."""
    return f"{PROBA_PREFIX}{label}"


def output_names(classes: Sequence) -> tuple[str, ...]:
    """The output columns of a model with these classes: prediction, then proba_<class>."""
    return (PREDICTION, *(proba_column(c) for c in classes))


def label_type(classes: Sequence) -> pa.DataType:
    """The Arrow type of the `prediction` column: the classes' own (text when unknown)."""
    if not classes:
        return pa.string()
    kind = pa.array(list(classes)).type
    return pa.string() if pa.types.is_null(kind) else kind


def log_schema(inputs: Iterable[tuple[str, str]], classes: Sequence) -> pa.Schema:
    """The schema of a model's log files.

    Args:
        inputs: (name, kind) per input column, in the model's order; kinds as KIND_TYPES.
        classes: The model's classes in the order of its probabilities (empty: a model
            without predict_proba, whose log has the prediction only).

    Raises:
        ValueError: An input whose kind has no type here, or whose name is one of the log's
            own columns.
    """
    outputs = output_names(classes)
    fields = [pa.field(n, t) for n, t in META_TYPES.items() if n in LEADING]
    for name, kind in inputs:
        if kind not in KIND_TYPES:
            raise ValueError(
                f"input {name!r} has kind {kind!r}; expected one of {list(KIND_TYPES)}"
            )
        if name in META_TYPES or name in outputs:
            raise ValueError(
                f"input {name!r} has the name of one of the prediction log's own columns "
                f"{[*META_COLUMNS, *outputs]}; rename it in the training data"
            )
        fields.append(pa.field(name, KIND_TYPES[kind]))
    fields.append(pa.field(PREDICTION, label_type(classes)))
    fields += [pa.field(proba_column(c), pa.float64()) for c in classes]
    fields.append(pa.field("latency_seconds", META_TYPES["latency_seconds"]))
    return pa.schema(fields)


def classes_of(columns: Iterable[str]) -> list[str]:
    """The class names of a log's probability columns, in column order (as text)."""
    return [c.removeprefix(PROBA_PREFIX) for c in columns if c.startswith(PROBA_PREFIX)]


def primary_only(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows the clients were answered with: endpoint absent (older files), null or primary.

    Shadow rows repeat the primary's request ids and inputs; counted as served traffic, as
    labelled rows or as training rows they would count every shadowed request twice.
    """
    if ENDPOINT not in frame.columns:
        return frame
    endpoint = frame[ENDPOINT]
    keep = endpoint.isna() | (endpoint == PRIMARY)
    return frame if bool(keep.all()) else frame[keep.to_numpy()]


_SEGMENT = re.compile(r"[^A-Za-z0-9._-]")


def segment(model: str) -> str:
    """A model name as one key segment: registry names may hold characters keys should not.

    `.` and `..` alone, which S3 clients refuse as a path segment, become `_`s too.
    """
    safe = _SEGMENT.sub("_", model) or "_"
    return "_" * len(safe) if set(safe) == {"."} else safe


def partition(path: str, model: str, date: str, *, rejected: bool = False) -> str:
    """The key prefix of one model's day: `<path>/<model>/date=<date>/` (or under _rejected)."""
    parts = (path.strip("/"), REJECTED if rejected else "", segment(model), f"{DATE_KEY}={date}")
    return "/".join(p for p in parts if p) + "/"
