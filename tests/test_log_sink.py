"""The payload-logger sink: KServe CloudEvents joined on Ce-Id into the prediction log (real S3)."""

import os
import socket
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from kfp_mlops.serve.frame import RequestError
from kfp_mlops.serve.metrics import Metrics
from kfp_mlops.serve.payloads import input_columns, output_columns
from kfp_mlops.serve.predlog import PredictionLog
from kfp_mlops.serve.sink import Half, Sink
from tests.conftest import free_port
from tests.serving import ROWS, Process, get, metric, post, read_log, unique_prefix

REQUEST = "org.kubeflow.serving.inference.request"
RESPONSE = "org.kubeflow.serving.inference.response"
V2_REQUEST = {
    "id": "x",
    "inputs": [
        {"name": "age", "shape": [2], "datatype": "INT64", "data": [67, 22]},
        {"name": "sex", "shape": [2, 1], "datatype": "BYTES", "data": [["male"], ["female"]]},
    ],
}
V2_RESPONSE = {
    "model_name": "credit",
    "model_version": "4",
    "id": "x",
    "outputs": [
        {"name": "predict", "shape": [2], "datatype": "INT64", "data": [1, 0]},
        {
            "name": "predict_proba",
            "shape": [2, 2],
            "datatype": "FP64",
            "data": [0.2, 0.8, 0.9, 0.1],
        },
    ],
}


def headers(event_id: str, kind: str, service: str = "credit", at: datetime | None = None):
    at = at or datetime.now(UTC)
    return {
        "Ce-Id": event_id,
        "Ce-Type": kind,
        "Ce-Source": "http://localhost:9081/",
        "Ce-Specversion": "1.0",
        "Ce-Time": at.isoformat().replace("+00:00", "Z"),
        "Ce-Inferenceservicename": service,
        "Ce-Namespace": "models",
        "Ce-Component": "predictor",
        "Ce-Endpoint": "default",
    }


# -- payloads without a schema ---------------------------------------------------------------


def test_log_sink_v1_records_and_lists_as_typed_columns():
    records_ = input_columns({"instances": ROWS})
    assert records_.values["age"] == [67, 22] and records_.kinds["age"] == "integer"
    assert records_.kinds["sex"] == "string"
    lists = input_columns({"instances": [list(r.values()) for r in ROWS]})
    assert list(lists.values) == [f"input_{j}" for j in range(5)]
    assert lists.values["input_4"] == [67, 22]
    answer = output_columns({"predictions": [1, 0], "classes": [0, 1],
                             "probabilities": [[0.2, 0.8], [0.9, 0.1]]})  # fmt: skip
    assert answer.values == {"prediction": [1, 0], "proba_0": [0.2, 0.9], "proba_1": [0.8, 0.1]}
    assert answer.kinds == {"prediction": "integer", "proba_0": "double", "proba_1": "double"}


def test_log_sink_v2_tensors_as_columns_typed_by_their_datatype():
    columns = input_columns(V2_REQUEST)
    assert columns.values == {"age": [67, 22], "sex": ["male", "female"]}
    assert columns.kinds == {"age": "integer", "sex": "string"}
    two_d = {"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP64", "data": [1, 2, 3, 4]}]}
    assert input_columns(two_d).values == {"x_0": [1, 3], "x_1": [2, 4]}
    assert output_columns(V2_RESPONSE).values == {
        "prediction": [1, 0], "predict_proba_0": [0.2, 0.9], "predict_proba_1": [0.8, 0.1]
    }  # fmt: skip
    named = {**V2_RESPONSE, "outputs": [V2_RESPONSE["outputs"][0], {
        **V2_RESPONSE["outputs"][1], "parameters": {"classes": ["bad", "good"]}}]}  # fmt: skip
    assert list(output_columns(named).values) == ["prediction", "proba_bad", "proba_good"]


def test_log_sink_unreadable_payloads_are_named():
    with pytest.raises(RequestError, match="a request payload is"):
        input_columns({"rows": []})
    with pytest.raises(RequestError, match="shape \\[3\\] does not match its data"):
        input_columns({"inputs": [{"name": "a", "shape": [3], "data": [1]}]})


# -- joining in-process ----------------------------------------------------------------------


def half(kind: str, body: object, at: datetime | None = None) -> Half:
    read = input_columns if kind == "request" else output_columns
    facts = body if kind == "response" else {}
    at = at or datetime.now(UTC)
    return Half(kind, read(body), facts, "credit", at, at, time.monotonic())


def test_log_sink_joins_either_order_and_counts_unmatched_halves():
    metrics = Metrics()
    log = PredictionLog("s3://kfp-mlops-data/never-written", metrics)  # not started: queue only
    sink = Sink(log, metrics, join_seconds=0.0, max_pending=2)
    assert not sink.accept("a", half("request", {"instances": ROWS}))
    assert sink.accept("a", half("response", {"predictions": [1, 0]}))
    assert not sink.accept("b", half("response", V2_RESPONSE))
    assert sink.accept("b", half("request", V2_REQUEST))
    assert log.queued_rows == 4
    for event_id in ("c", "d", "e"):  # past max_pending the oldest half goes
        sink.accept(event_id, half("request", {"instances": ROWS}))
    unmatched = "kfp_mlops_log_sink_unmatched_total"
    assert metrics.registry.get_sample_value(unmatched, {"type": "request"}) == 1
    assert sink.sweep() == 2  # join_seconds 0: every waiting half is overdue
    assert metrics.registry.get_sample_value(unmatched, {"type": "request"}) == 3


def test_log_sink_pair_with_different_row_counts_is_counted_not_logged():
    metrics = Metrics()
    log = PredictionLog("s3://kfp-mlops-data/never-written", metrics)
    sink = Sink(log, metrics)
    sink.accept("a", half("request", {"instances": ROWS}))
    sink.accept("a", half("response", {"predictions": [1]}))
    assert log.queued_rows == 0
    events = "kfp_mlops_log_sink_events_total"
    labels = {"type": "pair", "outcome": "row_mismatch"}
    assert metrics.registry.get_sample_value(events, labels) == 1


# -- a real sink process, real S3 --------------------------------------------------------------


def test_log_sink_process_writes_joined_events_in_the_served_layout(stack):
    prefix = unique_prefix("sink")
    sink = Process(
        "log-sink", "--join-seconds", "3", env={"KFP_MLOPS_PREDICTION_LOG_URI": prefix},
        ready="/healthz",
    )  # fmt: skip
    try:
        start = datetime.now(UTC)
        v1_id, v2_id = f"v1-{uuid.uuid4().hex[:6]}", f"v2-{uuid.uuid4().hex[:6]}"
        assert post(sink.base, {"instances": ROWS}, headers(v1_id, REQUEST, at=start)) == (
            200, {"id": v1_id, "joined": False}
        )  # fmt: skip
        later = start + timedelta(milliseconds=15)
        status, body = post(sink.base, {"predictions": [1, 0]}, headers(v1_id, RESPONSE, at=later))
        assert (status, body["joined"]) == (200, True)
        # V2, the response first (the logger sends the halves independently).
        other = {**V2_RESPONSE, "model_name": "other"}  # the answer names the model
        assert post(sink.base, other, headers(v2_id, RESPONSE, "credit"))[0] == 200
        assert post(sink.base, V2_REQUEST, headers(v2_id, REQUEST, "other"))[1]["joined"]
        # A request whose response never comes, an event that is not the logger's, bad JSON.
        assert post(sink.base, {"instances": ROWS}, headers("lonely", REQUEST))[0] == 200
        status, body = post(sink.base, {"instances": ROWS}, {"Ce-Type": "something.else"})
        assert status == 400 and body["error"].startswith("not a payload-logger CloudEvent")
        assert post(sink.base, b"{", headers("broken", REQUEST))[0] == 400

        def lonely_counted():
            text = get(f"{sink.metrics_base}/metrics")[1]
            return metric(text, "kfp_mlops_log_sink_unmatched_total", type="request") == 1

        deadline = time.monotonic() + 60
        while not lonely_counted():
            assert time.monotonic() < deadline, "the unmatched request was never counted"
            time.sleep(0.1)
        text = get(f"{sink.metrics_base}/metrics")[1]
        assert metric(text, "kfp_mlops_log_sink_events_total", type="pair", outcome="logged") == 2
    finally:
        code, err = sink.stop()
    assert code == 0, err
    logs = read_log(prefix)
    path = prefix.split("/", 3)[3]
    by_model = {key[len(path) :].split("/")[0]: frame for key, frame in logs.items()}
    assert set(by_model) == {"credit", "other"}
    v1 = by_model["credit"]
    assert list(v1.columns) == [
        "request_id", "time", "model_name", "model_version", "endpoint", *ROWS[0],
        "prediction", "latency_seconds",
    ]  # fmt: skip
    assert v1["request_id"].tolist() == [v1_id] * 2 and v1["prediction"].tolist() == [1, 0]
    assert v1["latency_seconds"].tolist() == pytest.approx([0.015, 0.015])
    assert v1["time"][0] >= pd.Timestamp(start)  # when the sink received it, not Ce-Time
    v2 = by_model["other"]
    assert v2["model_version"].tolist() == ["4", "4"] and v2["sex"].tolist() == ["male", "female"]
    assert v2["predict_proba_1"].tolist() == [0.8, 0.1]
    for key, frame in logs.items():
        assert f"/date={frame['time'][0].strftime('%Y-%m-%d')}/" in key


# -- the metrics listener: its own port, so Prometheus can be let in to it alone ----------------


def test_log_sink_serves_metrics_on_its_own_port_and_events_only_on_the_ingest_port(stack):
    sink = Process(
        "log-sink", env={"KFP_MLOPS_PREDICTION_LOG_URI": unique_prefix("sink-metrics")},
        ready="/healthz",
    )  # fmt: skip
    try:
        assert sink.metrics_base != sink.base
        assert post(sink.base, {"instances": ROWS}, headers("m-1", REQUEST))[0] == 200
        assert get(f"{sink.base}/metrics")[0] == 404  # not on the ingest port
        status, text = get(f"{sink.metrics_base}/metrics")
        assert status == 200
        assert metric(text, "kfp_mlops_log_sink_events_total", type="request",
                      outcome="accepted") == 1  # fmt: skip
        assert get(f"{sink.metrics_base}/healthz")[0] == 200
        # The metrics port takes no events: a caller let in for scrapes cannot write the log.
        assert post(sink.metrics_base, {"instances": ROWS}, headers("m-2", REQUEST))[0] == 404
    finally:
        code, err = sink.stop()
    assert code == 0, err
    assert f"metrics on {sink.metrics_base}/metrics" in err


def test_log_sink_refuses_a_metrics_port_it_cannot_use(tmp_path):
    from tests.serving import command

    same = subprocess.run(
        command("log-sink", "--port", "18099", "--metrics-port", "18099"),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert same.returncode == 2
    assert "--metrics-port 18099 is the ingest port" in same.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            command("log-sink", "--port", str(free_port()), "--metrics-port", str(port)),
            capture_output=True, text=True, timeout=120,
            env={**os.environ, "KFP_MLOPS_PREDICTION_LOG_URI": "s3://unused/predictions"},
        )  # fmt: skip
    assert done.returncode == 2
    assert f"--metrics-port {port}: cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "give another with --metrics-port" in done.stderr
