"""The log's `endpoint`: readers keep primary rows, in partitions mixing files without it."""

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from components._shared.io.partitions import DateWindow
from components._shared.labels.rowkeys import latest_labels, prepare_labels
from components._shared.logformat import log_schema, primary_only

INPUTS = [("age", "integer"), ("job", "string")]
CLASSES = ["bad", "good"]
DAY = "2026-11-01"


def rows(request_id: str, n: int, second: int, version: str, endpoint: str | None) -> dict:
    out = {
        "request_id": [request_id] * n,
        "time": pd.to_datetime([f"{DAY}T10:00:{second:02d}Z"] * n),
        "model_name": "m",
        "model_version": version,
        "age": [30 + i for i in range(n)],
        "job": ["skilled"] * n,
        "prediction": ["good" if endpoint != "shadow" else "bad"] * n,
        "proba_bad": 0.9 if endpoint == "shadow" else 0.2,
        "proba_good": 0.1 if endpoint == "shadow" else 0.8,
        "latency_seconds": 0.01,
    }
    return out | ({"endpoint": [endpoint] * n} if endpoint else {})


def write(folder, name: str, parts: list[dict], old: bool) -> None:
    schema = log_schema(INPUTS, CLASSES)
    if old:  # a file written before the column existed
        schema = schema.remove(schema.get_field_index("endpoint"))
    frame = pd.concat([pd.DataFrame(p) for p in parts], ignore_index=True)
    pq.write_table(pa.Table.from_pandas(frame, schema=schema, preserve_index=False), folder / name)


def mixed_log(tmp_path) -> str:
    """An old file (no endpoint) and a new one holding primary and shadow rows, one day."""
    folder = tmp_path / "log" / "m" / f"date={DAY}"
    folder.mkdir(parents=True)
    write(folder, "100000-old.parquet", [rows("old", 2, 0, "1", None)], old=True)
    write(folder, "100010-new.parquet", [
        rows("multi", 2, 10, "1", "primary"), rows("multi", 2, 11, "2", "shadow"),
        rows("single", 1, 12, "1", "primary"), rows("single", 1, 13, "2", "shadow"),
        rows("old", 2, 14, "2", "shadow"),  # a shadow's rows of the old file's request
    ], old=False)  # fmt: skip
    return str(tmp_path / "log" / "m")


LABELS = pd.DataFrame(
    {"request_id": ["multi", "multi", "single", "old"], "label": ["bad", "good", "bad", "good"]}
    | {"row": [0, 1, 0, 1]}
)


def test_primary_only_keeps_rows_without_endpoint_null_or_primary():
    frame = pd.DataFrame({"endpoint": [None, "primary", "shadow"], "x": [1, 2, 3]})
    assert primary_only(frame)["x"].tolist() == [1, 2]
    assert primary_only(frame.drop(columns="endpoint"))["x"].tolist() == [1, 2, 3]


def test_live_performance_reads_primary_rows_of_old_and_new_files_only(tmp_path):
    from components.check_performance.join import join_labels
    from components.check_performance.read import read_predictions

    uri = mixed_log(tmp_path)
    read = read_predictions(uri, DateWindow())
    assert len(read) == 5 and set(read["model_version"]) == {"1"}
    assert set(read["prediction"]) == {"good"}
    joined = join_labels(read, LABELS, 30.0)
    assert len(joined.rows) == 4 and set(joined.rows["y_pred"]) == {"good"}
    # Given the whole log, shadow rows included, the join still counts the primary's only.
    everything = pd.concat(
        [pq.read_table(p).to_pandas() for p in sorted((tmp_path / "log").rglob("*.parquet"))],
        ignore_index=True,
    )
    again = join_labels(everything, LABELS, 30.0)
    assert len(again.rows) == 4 and again.counts == joined.counts


def test_served_split_never_counts_shadow_rows_as_another_versions_traffic(tmp_path):
    from components.check_performance.served import Served, split_served

    parts = [rows("a", 2, 0, "1", "primary"), rows("a", 2, 1, "2", "shadow")]
    frame = pd.concat([pd.DataFrame(p) for p in parts], ignore_index=True)
    served = Served(alias="champion", version="1", model="m")
    predictions, _, counted = split_served(frame, LABELS, served)
    assert len(predictions) == 2 and set(predictions["model_version"]) == {"1"}
    assert counted.others == {} and counted.other_labels == 0  # v2's shadow served nobody


def test_training_rows_come_from_primary_rows_only_and_numbering_holds(tmp_path):
    from components.build_training_set.logjoin import join_log

    labels, _ = latest_labels(prepare_labels(LABELS)[0])
    joined = join_log(mixed_log(tmp_path), DateWindow(), labels, 30.0)
    frame = joined.frame().sort_values(["request_id", "row"])
    assert frame[["request_id", "row", "age", "label"]].values.tolist() == [
        ["multi", 0, 30, "bad"], ["multi", 1, 31, "good"], ["old", 1, 31, "good"],
        ["single", 0, 30, "bad"],
    ]  # fmt: skip
    assert joined.predictions == 5 and joined.duplicate_predictions == 0
