"""The prediction log as a contract no request can break: hostile and odd requests against the
real server and the real sink, with real S3 (SeaweedFS).

Each hostile request is followed by an ordinary one. At the end: every ordinary request's
rows are in S3 exactly once, every file of every partition has the model's schema, the
processes' memory stayed within their budget, and the writers were still writing.
"""

import json
import socket
import uuid

import pandas as pd
import pyarrow as pa
import pytest

from components._shared.logformat import log_schema
from kfp_mlops.serve.signatures import RegistrySchemas
from tests.conftest import GERMAN_CREDIT
from tests.serving import (
    ROWS,
    Process,
    dead_letters,
    get,
    metric,
    post,
    read_log,
    read_schemas,
    register,
    unique_prefix,
)
from tests.test_register_model import FEATURES

REQUEST = "org.kubeflow.serving.inference.request"
RESPONSE = "org.kubeflow.serving.inference.response"
RSS_BUDGET_BYTES = 1 << 30  # the deployed predictor's memory limit (1 GiB)
LOG_MAX_BYTES = 64 << 20  # the log's byte budget in these tests


@pytest.fixture(scope="module")
def model_name(stack, tmp_path_factory) -> str:
    credit = pd.read_csv(GERMAN_CREDIT).head(300)
    return register(tmp_path_factory.mktemp("contract"), credit, f"contract-{uuid.uuid4().hex[:6]}")


def _raw(row_json: str) -> bytes:
    """A V1 body of one record whose `age` value is given as raw JSON text."""
    base = {k: v for k, v in ROWS[0].items() if k != "age"}
    return ('{"instances": [' + json.dumps(base)[:-1] + ', "age": ' + row_json + "}]}").encode()


def _sex(value_json: str) -> bytes:
    base = {k: v for k, v in ROWS[0].items() if k != "sex"}
    return ('{"instances": [' + json.dumps(base)[:-1] + ', "sex": ' + value_json + "}]}").encode()


def _v2(age_data: str, request_id: str = '"x"', datatype: str = "INT64") -> bytes:
    inputs = [
        {"name": n, "shape": [1], "datatype": "BYTES" if n in ("sex", "housing") else "INT64",
         "data": [ROWS[0][n]]}
        for n in FEATURES if n != "age"
    ]  # fmt: skip
    tensors = json.dumps(inputs)[:-1]
    age = f'{{"name": "age", "shape": [1], "datatype": "{datatype}", "data": {age_data}}}'
    return f'{{"id": {request_id}, "inputs": {tensors}, {age}]}}'.encode()


DEEP_NAME = (
    b'{"inputs": [{"name": ' + b"[" * 500 + b"]" * 500
    + b', "shape": [1], "datatype": "INT64", "data": [1]}]}'
)  # fmt: skip
# (case, route: v1|v2, body bytes, extra headers, expected status)
SERVER_CASES = [
    ("int 2**63", "v1", _raw(str(2**63)), {}, 400),
    ("int -2**63-1", "v1", _raw(str(-(2**63) - 1)), {}, 400),
    ("whole float 1e20", "v1", _raw("1e20"), {}, 400),
    ("1e308 in an integer column", "v1", _raw("1e308"), {}, 400),
    ("1e999 (infinite)", "v1", _raw("1e999"), {}, 400),
    ("NaN literal", "v1", _raw("NaN"), {}, 400),
    ("Infinity literal", "v1", _raw("-Infinity"), {}, 400),
    ("bool in an integer column", "v1", _raw("true"), {}, 400),
    ("object where a number belongs", "v1", _raw('{"a": 1}'), {}, 400),
    ("list where a number belongs", "v1", _raw("[1, 2]"), {}, 400),
    ("lone surrogate in a string", "v1", _sex('"\\ud800"'), {}, 400),
    ("number where a string belongs", "v1", _sex("3"), {}, 400),
    ("deep JSON", "v1", b'{"instances": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", {}, 400),
    ("100,000-row body", "v1", json.dumps({"instances": [ROWS[0]] * 100_000}).encode(), {}, 400),
    ("x-request-id of 300 characters", "v1", _raw("30"), {"x-request-id": "r" * 300}, 400),
    ("V2 int beyond int64", "v2", _v2(f"[{2**64}]"), {}, 400),
    ("V2 lone surrogate in id", "v2", _v2("[30]", '"\\udc00"'), {}, 400),
    ("V2 id that is a list", "v2", _v2("[30]", "[1]"), {}, 400),
    ("V2 id of 300 characters", "v2", _v2("[30]", json.dumps("i" * 300)), {}, 400),
    ("V2 tensor name that is deep", "v2", DEEP_NAME, {}, 400),
    ("V2 FP datatype for an integer column", "v2", _v2("[30.5]", datatype="FP64"), {}, 400),
    ("V2 nested object in data", "v2", _v2('[{"a": 1}]'), {}, 400),
    ("odd but valid: a whole float for an integer", "v1", _raw("30.0"), {}, 200),
    ("odd but valid: null for an integer", "v1", _raw("null"), {}, 200),
    ("odd but valid: an unknown category", "v1", _sex('"\\u00e9\\u00e9"'), {}, 200),
]


def _send_truncated(port: int, path: str) -> None:
    """Headers promising 1000 bytes, 10 sent, then the connection closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            'Content-Length: 1000\r\n\r\n{"instances'.encode()
        )


def _vm(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"{key} not in /proc/{pid}/status")


def _ordinary(url: str, request_id: str) -> None:
    status, body = post(url, {"instances": ROWS}, {"x-request-id": request_id})
    assert status == 200, body


def test_log_contract_server_hostile_requests_cost_no_other_request_anything(model_name):
    prefix = unique_prefix("contract")
    server = Process(
        "serve", f"models:/{model_name}/1", "--log-flush-seconds", "600",
        "--log-max-bytes", str(LOG_MAX_BYTES),
        env={"KFP_MLOPS_PREDICTION_LOG_URI": prefix},
    )  # fmt: skip
    v1_url = f"{server.base}/v1/models/{model_name}:predict"
    v2_url = f"{server.base}/v2/models/{model_name}/infer"
    ordinary, answered = [], {}
    try:
        for k, (case, route, body, extra, expected) in enumerate(SERVER_CASES):
            status, answer = post(v1_url if route == "v1" else v2_url, body, extra)
            answered[case] = status
            assert status == expected, f"{case}: {status} {answer}"
            if status == 400:
                assert answer["error"], case
            ordinary.append(f"ok-{k}")
            _ordinary(v1_url, ordinary[-1])
        _send_truncated(server.port, f"/v1/models/{model_name}:predict")
        # Multi-MB strings: valid, logged until the byte budget is spent, then dropped and
        # counted; the memory stays bounded. (Nothing is written before shutdown here, so the
        # queue holds every one of them: 12 x 8 MiB against a 64 MiB budget.)
        big = {**ROWS[0], "housing": "h" * (8 << 20)}
        for _ in range(12):
            assert post(v1_url, {"instances": [big]})[0] == 200
        ordinary.append("after-big")
        _ordinary(v1_url, "after-big")
        text = get(f"{server.base}/metrics")[1]
        peak = _vm(server.proc.pid, "VmHWM")
    finally:
        code, err = server.stop()
    assert code == 0, err
    assert len(SERVER_CASES) >= 25 and answered
    assert peak < RSS_BUDGET_BYTES, f"peak RSS {peak >> 20} MiB"
    assert metric(text, "kfp_mlops_prediction_log_dropped_rows_total", reason="queue_bytes") >= 1
    logs = read_log(prefix)
    rows = pd.concat(logs.values(), ignore_index=True)
    counts = rows["request_id"].value_counts()
    for request_id in ordinary:  # every ordinary request's rows, exactly once
        assert counts.get(request_id) == len(ROWS), request_id
    schema = log_schema(
        [(n, "string" if n in ("sex", "housing") else "integer") for n in FEATURES], [0, 1]
    )
    for key, found in read_schemas(prefix).items():
        assert found.remove_metadata() == schema, key
    assert dead_letters(prefix) == []  # everything refused was refused before predicting


def _event(base: str, event_id: str, kind: str, body, service: str = "credit", **extra) -> tuple:
    headers = {
        "Ce-Id": event_id, "Ce-Type": kind, "Ce-Specversion": "1.0",
        "Ce-Source": "http://localhost:9081/", "Ce-Inferenceservicename": service,
    } | extra  # fmt: skip
    return post(base, body, headers)


def _pair(base: str, event_id: str, request, response, **extra) -> tuple[int, int]:
    first = _event(base, event_id, REQUEST, request, **extra)[0]
    return first, _event(base, event_id, RESPONSE, response, **extra)[0]


V1_ANSWER = {"predictions": [1, 0], "classes": [0, 1],
             "probabilities": [[0.2, 0.8], [0.9, 0.1]], "model_name": "credit",
             "model_version": "3"}  # fmt: skip
SINK_CASES = [  # (case, event headers, request body, expected status of the request half)
    ("service name ..", {"service": ".."}, {"instances": ROWS}, 400),
    ("service name /", {"service": "a/b"}, {"instances": ROWS}, 400),
    ("service name of 300 characters", {"service": "a" * 300}, {"instances": ROWS}, 400),
    ("service name with unicode", {"service": "cr\u00e9dit"}, {"instances": ROWS}, 400),
    ("service name in capitals", {"service": "Credit"}, {"instances": ROWS}, 400),
    ("Ce-Id of 300 characters", {"Ce-Id": "e" * 300}, {"instances": ROWS}, 400),
    ("Ce-Source of 5000 characters", {"Ce-Source": "s" * 5000}, {"instances": ROWS}, 400),
    ("int beyond int64", {}, {"instances": [{**ROWS[0], "age": 2**63}]}, 400),
    ("lone surrogate", {}, b'{"instances": [{"sex": "\\ud800"}]}', 400),
    ("object where a value belongs", {}, {"instances": [{**ROWS[0], "age": {"a": 1}}]}, 400),
    ("two kinds in one column", {}, {"instances": [ROWS[0], {**ROWS[1], "age": "x"}]}, 400),
    ("deep JSON", {}, b"[" * 100_000 + b"]" * 100_000, 400),
    ("NaN literal", {}, b'{"instances": [{"age": NaN}]}', 400),
]


def test_log_contract_sink_hostile_events_cost_no_other_pair_anything(stack):
    prefix = unique_prefix("sink-contract")
    sink = Process(
        "log-sink", "--join-seconds", "2", env={"KFP_MLOPS_PREDICTION_LOG_URI": prefix},
        ready="/healthz",
    )  # fmt: skip
    ordinary = []
    try:
        for k, (case, extra, request, expected) in enumerate(SINK_CASES):
            service = extra.pop("service", "credit") if "service" in extra else "credit"
            event_id = extra.pop("Ce-Id", f"bad-{k}")
            status, answer = _event(sink.base, event_id, REQUEST, request, service, **extra)
            assert status == expected, f"{case}: {status} {answer}"
            ordinary.append(f"ok-{k}")
            assert _pair(sink.base, ordinary[-1], {"instances": ROWS}, V1_ANSWER) == (200, 200)
        # Ce-Time far in the past and the future: the partition is the day it arrived.
        for when in ("1999-01-01T00:00:00Z", "2999-01-01T00:00:00Z"):
            ordinary.append(f"time-{when[:4]}")
            assert _pair(sink.base, ordinary[-1], {"instances": ROWS}, V1_ANSWER,
                         **{"Ce-Time": when}) == (200, 200)  # fmt: skip
        # A type flip between batches: the pair that does not fit the day's schema is set
        # aside; the pairs before and after it are written.
        flipped = [{**r, "age": str(r["age"])} for r in ROWS]
        assert _pair(sink.base, "flipped", {"instances": flipped}, V1_ANSWER) == (200, 200)
        ordinary.append("after-flip")
        assert _pair(sink.base, "after-flip", {"instances": ROWS}, V1_ANSWER) == (200, 200)
        # An unmatched half: counted once the join deadline passes.
        assert _event(sink.base, "alone", REQUEST, {"instances": ROWS})[0] == 200
        text = get(f"{sink.metrics_base}/metrics")[1]
        peak = _vm(sink.proc.pid, "VmHWM")
    finally:
        code, err = sink.stop()
    assert code == 0, err
    assert peak < RSS_BUDGET_BYTES
    assert metric(text, "kfp_mlops_log_sink_events_total", type="unknown", outcome="refused") >= 7
    logs = read_log(prefix)
    rows = pd.concat(logs.values(), ignore_index=True)
    counts = rows["request_id"].value_counts()
    for event_id in ordinary:
        assert counts.get(event_id) == len(ROWS), event_id
    assert "flipped" not in counts and "alone" not in counts
    today = pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%d")
    assert {k.split("/date=")[1][:10] for k in logs} <= {
        today,
        (pd.Timestamp(today) + pd.Timedelta(days=1)).strftime("%Y-%m-%d"),
    }
    [aside] = dead_letters(prefix)
    assert aside["reason"] == "schema" and aside["columns"]["request_id"][0] == "flipped"
    assert "column 'age' holds string" in aside["detail"]
    schemas = {s.remove_metadata() for s in read_schemas(prefix).values()}
    assert len(schemas) == 1  # one schema for the model's day


def _v2_request(rows: list[dict], request_id: str) -> dict:
    return {
        "id": request_id,
        "inputs": [
            {"name": n, "shape": [len(rows)],
             "datatype": "BYTES" if isinstance(rows[0][n], str) else "INT64",
             "data": [r[n] for r in rows]}
            for n in FEATURES
        ],
    }  # fmt: skip


def test_log_contract_sink_writes_the_servers_files_column_by_column_and_type_by_type(
    model_name,
):
    """The same requests through the server's own log and through the payload-logger sink."""
    served, sunk = unique_prefix("both-server"), unique_prefix("both-sink")
    server = Process(
        "serve", f"models:/{model_name}/1", env={"KFP_MLOPS_PREDICTION_LOG_URI": served}
    )
    exchanges = []
    try:
        for k in range(3):
            body = {"instances": ROWS}
            status, answer = post(
                f"{server.base}/v1/models/{model_name}:predict", body, {"x-request-id": f"v1-{k}"}
            )
            assert status == 200, answer
            exchanges.append((f"v1-{k}", body, answer))
            body = _v2_request(ROWS, f"v2-{k}")
            status, answer = post(f"{server.base}/v2/models/{model_name}/infer", body)
            assert status == 200, answer
            exchanges.append((f"v2-{k}", body, answer))
    finally:
        assert server.stop()[0] == 0
    sink = Process("log-sink", env={"KFP_MLOPS_PREDICTION_LOG_URI": sunk}, ready="/healthz")
    try:
        for event_id, request, response in exchanges:
            assert _pair(sink.base, event_id, request, response) == (200, 200)
    finally:
        assert sink.stop()[0] == 0
    schemas = {
        side: {s.remove_metadata() for s in read_schemas(prefix).values()}
        for side, prefix in (("server", served), ("sink", sunk))
    }
    assert len(schemas["server"]) == 1 and schemas["server"] == schemas["sink"]
    frames = [
        pd.concat(read_log(p).values()).sort_values(["request_id", "age"]).reset_index(drop=True)
        for p in (served, sunk)
    ]
    assert list(frames[0].columns) == list(frames[1].columns)
    assert "proba_0" in frames[0].columns and "proba_1" in frames[0].columns
    for column in frames[0].columns:
        if column in ("time", "latency_seconds"):  # when each of them saw the request
            continue
        assert frames[0][column].tolist() == frames[1][column].tolist(), column


def test_log_contract_sink_takes_the_registered_signature_so_a_first_odd_pair_sets_nothing(
    model_name,
):
    """With MLflow set (the stack's), a model's day has the signature's types from the start."""
    prefix = unique_prefix("sink-signature")
    sink = Process("log-sink", env={"KFP_MLOPS_PREDICTION_LOG_URI": prefix}, ready="/healthz")
    answer = {**V1_ANSWER, "model_name": model_name, "model_version": "1"}
    try:
        texts = [{**r, "age": str(r["age"])} for r in ROWS]  # the day's first pair: ages as text
        assert _pair(sink.base, "text-ages", {"instances": texts}, answer) == (200, 200)
        wholes = [{**r, "age": float(r["age"])} for r in ROWS]  # 67.0: the server takes it
        assert _pair(sink.base, "whole-floats", {"instances": wholes}, answer) == (200, 200)
        assert _pair(sink.base, "plain", {"instances": ROWS}, answer) == (200, 200)
    finally:
        code, err = sink.stop()
    assert code == 0, err
    assert "input types from the registered signatures" in err
    [frame] = read_log(prefix).values()
    assert sorted(set(frame["request_id"])) == ["plain", "whole-floats"]
    frame = frame.sort_values("request_id", kind="stable")
    assert frame["age"].tolist() == [67, 22, 67, 22]  # 67.0 logged as the integer 67
    [schema] = {s.remove_metadata() for s in read_schemas(prefix).values()}
    assert schema.field("age").type == pa.int64() and schema.field("sex").type == pa.string()
    [aside] = dead_letters(prefix)
    assert aside["reason"] == "schema" and aside["columns"]["request_id"][0] == "text-ages"


def test_registry_schemas_ask_once_per_version_and_again_only_after_a_miss():
    asked = []

    def lookup(model, version):
        asked.append((model, version))
        if version == "9":
            raise RuntimeError("no such version")
        return [("age", "integer"), ("amount", "double")]

    schemas = RegistrySchemas(lookup, retry_seconds=3600)
    table = pa.table({"request_id": ["r"], "time": pa.array([None], pa.timestamp("us", "UTC")),
                      "model_name": ["m"], "model_version": ["2"], "amount": [3],
                      "prediction": [1], "latency_seconds": [0.1]})  # fmt: skip
    schema = schemas("m", table)
    assert schema.names == [
        "request_id", "time", "model_name", "model_version", "endpoint", "age", "amount",
        "prediction", "latency_seconds",
    ]  # fmt: skip
    assert schema.field("amount").type == pa.float64() and schema.field("age").type == pa.int64()
    assert schemas("m", table) == schema and asked == [("m", "2")]  # asked once
    unknown = table.set_column(3, "model_version", pa.array(["9"]))
    assert schemas("m", unknown) is None and schemas("m", unknown) is None
    assert asked == [("m", "2"), ("m", "9")]  # the miss is not asked again before retry_seconds
    assert schemas("m", table.drop_columns(["model_version"])) is None
