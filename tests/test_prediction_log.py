"""The prediction log against real S3 (SeaweedFS): layout, flushing, bounds, outages, SIGTERM."""

import itertools
import json
import time
import uuid
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from kfp_mlops.serve.logrows import ARRAY_ROWS, LoggedRequest, arrays, log_entry, records
from kfp_mlops.serve.logtable import SchemaClash, concat, conform, request_table, table
from kfp_mlops.serve.metrics import Metrics
from kfp_mlops.serve.model import Prediction
from kfp_mlops.serve.predlog import PredictionLog, log_prefix
from tests.conftest import GERMAN_CREDIT, free_port
from tests.serving import (
    ROWS,
    Process,
    dead_letters,
    get,
    metric,
    post,
    read_log,
    register,
    unique_prefix,
)
from tests.test_register_model import FEATURES

WAIT_S = 60  # how long a background write may take to happen before the test gives up


@pytest.fixture(scope="module")
def model_name(stack, tmp_path_factory) -> str:
    credit = pd.read_csv(GERMAN_CREDIT).head(300)
    return register(tmp_path_factory.mktemp("log"), credit, f"logged-{uuid.uuid4().hex[:6]}")


def sample(metrics: Metrics, name: str, **labels) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def until(condition, what: str) -> None:
    """Wait for a background thread's effect (not a timing assertion: the bound is generous)."""
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def submit(log: PredictionLog, rows: int, model: str = "m") -> bool:
    when = datetime.now(UTC)
    inputs = {"x": list(range(rows))}
    outputs = {"prediction": [1] * rows}
    request_id = uuid.uuid4().hex
    return log.submit(
        model, when, rows, lambda: records(request_id, when, (model, "3"), inputs, outputs, 0.01)
    )


def flushed(metrics: Metrics) -> float:
    return sample(metrics, "kfp_mlops_prediction_log_flushed_rows_total")


def dropped(metrics: Metrics, reason: str) -> float:
    return sample(metrics, "kfp_mlops_prediction_log_dropped_rows_total", reason=reason)


def rejected(metrics: Metrics, reason: str) -> float:
    return sample(metrics, "kfp_mlops_prediction_log_rejected_rows_total", reason=reason)


def logged_rows(prefix: str) -> int:
    return sum(len(f) for f in read_log(prefix).values())


# -- the writer in-process, real S3 ----------------------------------------------------------


def test_prediction_log_prefix_from_environment(monkeypatch):
    monkeypatch.delenv("KFP_MLOPS_PREDICTION_LOG_URI", raising=False)
    assert log_prefix() == "s3://kfp-mlops-data/predictions"
    monkeypatch.setenv("KFP_MLOPS_PREDICTION_LOG_URI", "s3://other/logs/")
    assert log_prefix() == "s3://other/logs"


def test_prediction_log_records_layout_and_one_table_per_flush():
    when = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    first = records("r1", when, ("m", "2"), {"age": [30, None]}, {"prediction": [0, 1]}, 0.002)
    second = records("r2", when, ("m", "2"), {"age": [50]}, {"prediction": [1]}, 0.001)
    frame = table([first, second, {**second, "extra": ["e"]}]).to_pandas()
    assert list(frame.columns) == [
        "request_id", "time", "model_name", "model_version", "endpoint", "age", "prediction",
        "latency_seconds", "extra",
    ]  # fmt: skip
    assert str(frame["time"].dtype) == "datetime64[us, UTC]"
    assert frame["time"][0] == pd.Timestamp(when)
    assert frame["request_id"].tolist() == ["r1", "r1", "r2", "r2"]
    assert frame["age"].isna().tolist() == [False, True, False, False]
    assert frame["extra"].isna().tolist() == [True, True, True, False]
    typed = table([first], {"age": pa.int64(), "sex": pa.string()})
    assert typed.schema.field("age").type == pa.int64()
    nulls = records("r3", when, ("m", None), {"age": [None], "sex": [None]}, {}, None)
    empty = table([nulls], {"age": pa.int64(), "sex": pa.string()})
    assert [empty.schema.field(c).type for c in ("age", "sex", "model_version")] == [
        pa.int64(),
        pa.string(),
        pa.string(),
    ]  # a flush of nulls keeps the partition's one schema
    with pytest.raises(pa.ArrowInvalid, match="fifty"):  # never a column turned to text
        table([first, {**second, "age": ["fifty"]}])


def test_prediction_log_flushes_by_size(stack):
    prefix = unique_prefix("size")
    metrics = Metrics()
    log = PredictionLog(prefix, metrics, flush_rows=5, flush_seconds=600).start()
    try:
        assert submit(log, 2) and submit(log, 2)
        assert flushed(metrics) == 0  # below the size, long before the interval
        submit(log, 2)
        until(lambda: flushed(metrics) == 6, "a flush by size")
    finally:
        log.close()
    (key, frame), *_ = read_log(prefix).items()
    date = frame["time"][0].strftime("%Y-%m-%d")
    assert key.startswith(f"{prefix.split('/', 3)[3]}m/date={date}/") and key.endswith(".parquet")
    assert len(frame) == 6 and frame["model_version"].tolist() == ["3"] * 6


def test_prediction_log_flushes_by_interval(stack):
    prefix = unique_prefix("interval")
    metrics = Metrics()
    log = PredictionLog(prefix, metrics, flush_rows=1000, flush_seconds=0.2).start()
    try:
        submit(log, 1)
        until(lambda: flushed(metrics) == 1, "a flush by interval")
        assert logged_rows(prefix) == 1
    finally:
        log.close()


def test_prediction_log_queue_full_drops_new_rows_and_counts_them(stack):
    prefix = unique_prefix("full")
    metrics = Metrics()
    log = PredictionLog(prefix, metrics, max_rows=5, flush_rows=1000, flush_seconds=600).start()
    assert submit(log, 3)
    assert not submit(log, 3)
    assert submit(log, 2)
    assert dropped(metrics, "queue_full") == 3
    assert sample(metrics, "kfp_mlops_prediction_log_queue_rows") == 5
    log.close()
    assert flushed(metrics) == 5 and logged_rows(prefix) == 5
    assert sample(metrics, "kfp_mlops_prediction_log_queue_rows") == 0


def test_prediction_log_s3_down_keeps_rows_up_to_the_bound_and_retries(stack, monkeypatch):
    endpoint = stack.env()["AWS_ENDPOINT_URL_S3"]
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{free_port()}")
    prefix = unique_prefix("outage")
    metrics = Metrics()
    log = PredictionLog(
        prefix, metrics, max_rows=4, flush_rows=1, flush_seconds=0.1, retry_seconds=0.1
    ).start()
    try:
        assert submit(log, 3)
        until(
            lambda: sample(metrics, "kfp_mlops_prediction_log_write_errors_total") >= 1, "a failure"
        )
        assert not submit(log, 2)  # the 3 unwritten rows still count against the bound
        assert dropped(metrics, "queue_full") == 2
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint)  # S3 is back
        until(lambda: flushed(metrics) == 3, "the retried write")
    finally:
        log.close()
    assert logged_rows(prefix) == 3 and dropped(metrics, "write_failed") == 0


def test_prediction_log_s3_down_at_shutdown_drops_and_counts(stack, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{free_port()}")
    metrics = Metrics()
    log = PredictionLog(
        unique_prefix("lost"), metrics, flush_seconds=600, retry_seconds=0.05
    ).start()
    submit(log, 2)
    log.close()
    assert dropped(metrics, "write_failed") == 2
    assert sample(metrics, "kfp_mlops_prediction_log_write_errors_total") >= 3
    assert flushed(metrics) == 0 and log.queued_rows == 0


# -- through the real server -----------------------------------------------------------------


def test_prediction_log_server_sigterm_writes_every_row_to_its_partition(model_name):
    prefix = unique_prefix("served")
    server = Process(
        "serve", f"models:/{model_name}/1", "--log-flush-seconds", "600",
        "--log-flush-rows", "100000", env={"KFP_MLOPS_PREDICTION_LOG_URI": prefix},
    )  # fmt: skip
    try:
        url = f"{server.base}/v1/models/{model_name}:predict"
        answers = [post(url, {"instances": ROWS}) for _ in range(20)]
        assert {status for status, _ in answers} == {200}
        large = {"instances": ROWS * 50}  # 100 rows: its answer goes to the log as arrays
        big = post(url, large, {"x-request-id": "large-request"})
        assert big[0] == 200
        v2 = {"id": "v2-request", "inputs": [
            {"name": "x", "shape": [2, 5], "datatype": "BYTES",
             "data": [v for r in ROWS for v in r.values()]}
        ]}  # fmt: skip
        assert post(f"{server.base}/v2/models/{model_name}/infer", v2)[0] == 200
        assert post(url, {"instances": []})[0] == 400  # refused requests are not logged
        text = get(f"{server.base}/metrics")[1]
        assert metric(text, "kfp_mlops_prediction_log_queue_rows") == 142
    finally:
        code, err = server.stop()
    assert code == 0, err
    logs = read_log(prefix)
    frame = pd.concat(logs.values(), ignore_index=True)
    assert len(frame) == 142  # zero lost at a clean shutdown
    assert list(frame.columns) == [
        "request_id", "time", "model_name", "model_version", "endpoint", *FEATURES,
        "prediction", "proba_0", "proba_1", "latency_seconds",
    ]  # fmt: skip
    path = prefix.split("/", 3)[3]
    for key, part in logs.items():
        dates = set(part["time"].dt.strftime("%Y-%m-%d"))
        assert len(dates) == 1 and key.startswith(f"{path}{model_name}/date={dates.pop()}/")
    assert (frame["model_name"] == model_name).all() and (frame["model_version"] == "1").all()
    assert (frame[frame["request_id"] == "v2-request"]["age"] == [67, 22]).all()
    assert frame["prediction"].tolist()[:2] == answers[0][1]["predictions"]
    assert frame["sex"].tolist()[:2] == ["male", "female"]
    assert (frame["latency_seconds"] > 0).all()
    logged_big = frame[frame["request_id"] == "large-request"]
    assert logged_big["prediction"].tolist() == big[1]["predictions"]
    assert logged_big[["proba_0", "proba_1"]].values.tolist() == big[1]["probabilities"]
    assert logged_big["sex"].tolist() == ["male", "female"] * 50
    assert {c: str(frame[c].dtype) for c in ("age", "prediction", "proba_1")} == {
        "age": "int64", "prediction": "int64", "proba_1": "float64"
    }  # fmt: skip


def test_prediction_log_server_keeps_answering_while_s3_is_down(model_name):
    dead = f"http://127.0.0.1:{free_port()}"
    # The model still loads: MLflow proxies its artifacts; only the log's S3 endpoint is dead.
    server = Process(
        "serve", f"models:/{model_name}/1", "--log-max-rows", "3", "--log-flush-seconds", "0.2",
        env={"AWS_ENDPOINT_URL_S3": dead},
    )  # fmt: skip
    try:
        url = f"{server.base}/v1/models/{model_name}:predict"
        assert [post(url, {"instances": [ROWS[0]]})[0] for _ in range(5)] == [200] * 5
        text = get(f"{server.base}/metrics")[1]
        assert metric(text, "kfp_mlops_prediction_log_dropped_rows_total", reason="queue_full") == 2

        def failed_once():
            text = get(f"{server.base}/metrics")[1]
            return metric(text, "kfp_mlops_prediction_log_write_errors_total") >= 1

        until(failed_once, "a failed write")
        assert post(url, {"instances": [ROWS[1]]})[0] == 200
    finally:
        code, err = server.stop()
    assert code == 0, err
    assert "prediction log: 3 rows could not be written at shutdown" in err


def test_request_table_builds_the_same_table_column_wise_or_declines():
    when = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    requests = [
        LoggedRequest(
            f"r{i}", when, ("m", "2"),
            ("age", "sex"), ((30 + i, None), ("f", "m")),
            ("prediction", "proba_1"), ((1, 0), (0.75, 0.25)),
            0.001 * i,
        )
        for i in range(3)
    ]  # fmt: skip
    built = request_table(requests, {"age": pa.int64()})
    assert built.equals(table([r.columns() for r in requests], {"age": pa.int64()}))
    assert built.column("request_id").to_pylist() == ["r0", "r0", "r1", "r1", "r2", "r2"]
    assert built.column("age").to_pylist() == [30, None, 31, None, 32, None]
    other = requests[0]._replace(input_names=("age",), inputs=((1,),))  # another server's
    assert request_table([*requests, other]) is None


def test_request_table_takes_a_large_answer_as_arrays_as_it_takes_tuples():
    when = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    names = (("age", "sex"), ("prediction", "proba_0", "proba_1"))
    columns = {"age": [30, None, 41], "sex": ["f", "m", None]}
    proba = np.array([[0.25, 0.75], [0.6, 0.4], [0.5, 0.5]])
    as_lists = LoggedRequest.of(
        "r1", when, ("m", "2"), names, columns, [1, 0, 0], proba.tolist(), 0.01
    )
    labels = pa.array([0, 1]).take(np.array([1, 0, 0]))  # the server: classes.take(codes)
    given = arrays(columns, {"age": pa.int64(), "sex": pa.string()})
    as_arrays = LoggedRequest.of("r2", when, ("m", "2"), names, given, labels, proba, 0.01)
    small = LoggedRequest.of(
        "r3", when, ("m", "2"), names, {"age": [5], "sex": ["f"]}, [1], [[0.1, 0.9]], 0.02
    )
    types = {"age": pa.int64(), "prediction": pa.int64(), "proba_0": pa.float64()}
    requests = [as_lists, as_arrays, small]
    built = request_table(requests, types | {"proba_1": pa.float64()})
    assert built.equals(table([r.columns() for r in requests], types | {"proba_1": pa.float64()}))
    assert built.column("prediction").to_pylist() == [1, 0, 0, 1, 0, 0, 1]
    assert built.column("proba_1").to_pylist() == [0.75, 0.4, 0.5, 0.75, 0.4, 0.5, 0.9]
    assert built.column("sex").to_pylist() == ["f", "m", None, "f", "m", None, "f"]


def test_conform_brings_a_table_to_the_schema_or_names_the_clash():
    schema = pa.schema([("x", pa.int64()), ("y", pa.string())])
    first = pa.table({"x": [1, 2], "y": ["a", "b"]})
    assert conform(first, schema) is first
    lacking = conform(pa.table({"y": ["d"]}), schema)  # a column a table lacks is null there
    assert lacking.schema == schema and lacking.column("x").to_pylist() == [None]
    assert concat([first, lacking]).column("x").to_pylist() == [1, 2, None]
    with pytest.raises(SchemaClash, match="column 'x' holds string, the partition's schema int64"):
        conform(pa.table({"x": ["three"], "y": ["c"]}), schema)
    with pytest.raises(SchemaClash, match=r"column\(s\) \['z'\] are not in the partition"):
        conform(pa.table({"x": [1], "z": [1]}), schema)


def test_prediction_log_builds_rows_once_convert_rows_wait_not_at_the_flush(stack):
    prefix = unique_prefix("convert")
    metrics = Metrics()
    built = []

    def make(i: int):
        def rows():
            built.append(i)
            return records(
                f"r{i}", datetime.now(UTC), ("m", "3"), {"x": [i]}, {"prediction": [1]}, 0.01
            )

        return rows

    log = PredictionLog(prefix, metrics, flush_rows=1000, flush_seconds=600, convert_rows=4)
    log.start()
    try:
        for i in range(3):
            log.submit("m", datetime.now(UTC), 1, make(i))
        time.sleep(0.3)  # below convert_rows: the writer leaves them queued as they are
        assert built == []
        log.submit("m", datetime.now(UTC), 1, make(3))
        until(lambda: len(built) == 4, "the queued requests built")
        assert flushed(metrics) == 0  # built, not written: far below flush_rows
        assert sample(metrics, "kfp_mlops_prediction_log_queue_rows") == 4
    finally:
        log.close()
    assert flushed(metrics) == 4 and logged_rows(prefix) == 4


def test_prediction_log_rows_that_cannot_be_built_are_set_aside_and_counted(stack):
    prefix = unique_prefix("broken")
    metrics = Metrics()

    def broken():
        raise ValueError("a row builder's bug")

    log = PredictionLog(prefix, metrics, flush_rows=2, flush_seconds=600, convert_rows=1).start()
    try:
        log.submit("m", datetime.now(UTC), 1, broken)
        until(lambda: rejected(metrics, "build") == 1, "the broken request set aside")
        assert submit(log, 2)  # the writer goes on
        until(lambda: flushed(metrics) == 2, "the next rows written")
    finally:
        log.close()
    assert logged_rows(prefix) == 2 and log.queued_rows == 0
    [line] = dead_letters(prefix)
    assert line["reason"] == "build" and "a row builder's bug" in line["columns_error"]


def test_log_entry_builds_a_large_request_as_arrow_and_keeps_a_small_one_as_tuples():
    when = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    names = (("age", "sex"), ("prediction", "proba_0", "proba_1"))
    types = {"age": pa.int64(), "sex": pa.string(), "prediction": pa.string()}
    types |= {"proba_0": pa.float64(), "proba_1": pa.float64()}
    classes = pa.array(["bad", "good"])

    def logged(rows: int):
        proba = np.tile([[0.2, 0.8], [0.9, 0.1]], (rows // 2, 1))
        codes = proba.argmax(axis=1)
        answer = Prediction(np.array(["bad", "good"])[codes].tolist(), proba.tolist(), codes, proba)
        columns = {"age": list(range(rows)), "sex": ["f", None] * (rows // 2)}
        made = log_entry("r", when, ("m", "2"), names, columns, answer, 0.01, classes, types)
        as_tuples = LoggedRequest.of(
            "r", when, ("m", "2"), names, columns, answer.labels, answer.probabilities, 0.01
        )
        return made, request_table([as_tuples], types)

    small, expected = logged(2)
    assert isinstance(small, LoggedRequest)
    assert request_table([small], types).equals(expected)
    large, expected = logged(ARRAY_ROWS)
    assert isinstance(large, pa.Table) and large.equals(expected)
    assert large.column("prediction").to_pylist()[:2] == ["good", "bad"]
    assert large.column("sex").null_count == ARRAY_ROWS // 2


def test_set_aside_requests_wait_for_s3_within_their_own_bound(monkeypatch):
    from kfp_mlops.serve import deadletter
    from kfp_mlops.serve.logstore import LogStore
    from kfp_mlops.serve.logwriter import Batch, Partitions

    def batch(k: int) -> Batch:
        return Batch("m", "2026-12-05", 1, 100, pa.table({"request_id": [f"r{k}"]}))

    line = deadletter.record("m", 1, "schema", "ValueError: does not fit", batch(0).make)
    monkeypatch.setattr(deadletter, "MAX_PENDING_BYTES", len(line) * 5 // 2)  # two fit
    metrics, released = Metrics(), []
    partitions = Partitions(
        LogStore("s3://never-written/log"), metrics, None, lambda r, b: released.append(r),
        retry_seconds=1, max_retry_seconds=1, max_attempts=1,
    )  # fmt: skip
    for k in range(5):
        partitions._reject(("m", "2026-12-05"), batch(k), "schema", ValueError("does not fit"))
    assert rejected(metrics, "schema") == 5 and released == [1] * 5
    kept = partitions._rejected[("m", "2026-12-05")]
    assert [json.loads(x)["columns"]["request_id"] for x in kept] == [["r0"], ["r1"]]
    assert dropped(metrics, "rejected_unwritten") == 3


def test_learned_schemas_of_days_long_past_are_let_go():
    from kfp_mlops.serve.logstore import LogStore
    from kfp_mlops.serve.logwriter import Batch, Partitions

    partitions = Partitions(
        LogStore("s3://never-written/log"), Metrics(), None, lambda r, b: None,
        retry_seconds=1, max_retry_seconds=1, max_attempts=1,
    )  # fmt: skip
    table_ = pa.table({"request_id": ["r"], "x": [1]})
    for date in ("2026-12-01", "2026-12-03", "2026-12-04"):
        partitions.convert([Batch("m", date, 1, 10, table_)])
    partitions._built.clear()  # as if written
    partitions.convert([Batch("m", "2026-12-05", 1, 10, table_)])
    assert sorted(d for _, d in partitions._schemas) == ["2026-12-03", "2026-12-04", "2026-12-05"]


def test_prediction_log_a_failing_partition_backs_off_and_never_holds_back_another(stack):
    """S3 fails for one model's partition only (injected before the PUT): the other model's
    rows are written at once, the failing one's once S3 takes them again."""
    import urllib3

    from components._shared.failpoints import armed

    prefix = unique_prefix("partitions")
    metrics = Metrics()
    tries = []

    def refuse_a(where: str) -> None:
        if "/a/" in where:
            tries.append(time.monotonic())
            raise urllib3.exceptions.ProtocolError("injected: connection reset")

    log = PredictionLog(
        prefix, metrics, flush_rows=1000, flush_seconds=0.1, retry_seconds=0.2,
        max_retry_seconds=0.8,
    ).start()  # fmt: skip
    try:
        with armed("predlog.put", refuse_a):
            submit(log, 2, model="a")
            submit(log, 3, model="b")
            until(lambda: flushed(metrics) == 3, "model b's rows")
            until(lambda: len(tries) >= 4, "model a retried")
            submit(log, 1, model="b")  # a's backoff holds nothing of b's back
            until(lambda: flushed(metrics) == 4, "model b's next rows")
        until(lambda: flushed(metrics) == 6, "model a's rows once S3 takes them")
    finally:
        log.close()
    gaps = [later - earlier for earlier, later in itertools.pairwise(tries)]
    assert gaps[-1] > gaps[0]  # backing off, up to max_retry_seconds
    keys = read_log(prefix)
    assert sorted(len(f) for f in keys.values()) in ([1, 2, 3], [2, 4])
    assert dropped(metrics, "write_failed") == 0


def test_a_set_aside_request_json_cannot_write_still_gives_a_line_not_a_dead_writer():
    from kfp_mlops.serve import deadletter

    line = json.loads(deadletter.record("m", 1, "type", "OverflowError", lambda: {"x": [10**5000]}))
    assert line["reason"] == "type" and "columns" not in line
    assert "Exceeds the limit" in line["columns_error"]
