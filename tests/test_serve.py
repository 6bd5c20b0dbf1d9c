"""The model server against the real stack: a registered model, a real `kfp-mlops serve` process."""

import json
import subprocess
import uuid

import numpy as np
import pandas as pd
import pytest

from components._shared.errors import DataError
from kfp_mlops.serve.app import Limits, Server
from kfp_mlops.serve.frame import RequestError, build_frame, checked_rows
from kfp_mlops.serve.metrics import Metrics
from kfp_mlops.serve.model import ServedModel
from kfp_mlops.serve.schema import Column, Schema, schema_from
from kfp_mlops.serve.v1 import v1_columns
from kfp_mlops.serve.v2 import v2_columns
from tests.conftest import GERMAN_CREDIT
from tests.serving import ROWS, Process, command, get, metric, post, register, unique_prefix
from tests.test_register_model import FEATURES, train

SCHEMA = Schema(
    (
        Column("sex", "string"),
        Column("housing", "string"),
        Column("credit_amount", "integer"),
        Column("duration", "integer"),
        Column("age", "integer"),
    )
)
MAX_ROWS, MAX_BODY = 50, 20_000


@pytest.fixture(scope="module")
def credit() -> pd.DataFrame:
    return pd.read_csv(GERMAN_CREDIT).head(300)


@pytest.fixture(scope="module")
def model_name(stack, tmp_path_factory, credit) -> str:
    return register(tmp_path_factory.mktemp("serve"), credit, f"serve-{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
def server(model_name):
    proc = Process(
        "serve", f"models:/{model_name}@champion", "--max-rows", str(MAX_ROWS),
        "--max-body-bytes", str(MAX_BODY), "--log-flush-seconds", "0.5",
        env={"KFP_MLOPS_PREDICTION_LOG_URI": unique_prefix("serve")},
    )  # fmt: skip
    yield proc
    code, err = proc.stop()
    assert code == 0, err


def v1(server, name, body):
    return post(f"{server.base}/v1/models/{name}:predict", body)


def v2(server, name, body, version=None):
    at = f"/versions/{version}" if version else ""
    return post(f"{server.base}/v2/models/{name}{at}/infer", body)


def columns_body(rows, request_id="req-1"):
    types = {c.name: "BYTES" if c.kind == "string" else "INT64" for c in SCHEMA.columns}
    inputs = [
        {"name": n, "shape": [len(rows)], "datatype": types[n], "data": [r[n] for r in rows]}
        for n in FEATURES
    ]
    return {"id": request_id, "inputs": inputs}


# -- pure cores: schema and conversion --------------------------------------------------------


def test_schema_from_fitted_pipeline_and_signature_in_training_order(credit):
    model = train(credit)
    signature = [{"name": n, "type": "string" if n in ("sex", "housing") else "long"}
                 for n in reversed(FEATURES)]  # fmt: skip
    assert schema_from(model, signature, "m") == SCHEMA


def test_schema_without_signature_reads_the_pipeline_preprocessing(credit):
    schema = schema_from(train(credit), None, "m")
    assert [(c.name, c.kind) for c in schema.columns] == [
        ("sex", "string"), ("housing", "string"), ("credit_amount", "double"),
        ("duration", "double"), ("age", "double"),
    ]  # fmt: skip


def test_schema_signature_naming_other_columns_is_refused(credit):
    signature = [{"name": "sex", "type": "string"}]
    with pytest.raises(DataError, match="the registered signature names columns"):
        schema_from(train(credit), signature, "models:/m/1")


def test_schema_signature_with_an_unchecked_type_is_refused(credit):
    signature = [{"name": n, "type": "datetime"} for n in FEATURES]
    with pytest.raises(DataError, match="signature type 'datetime'"):
        schema_from(train(credit), signature, "models:/m/1")


def test_build_frame_types_nulls_and_order():
    columns = {n: [r[n] for r in ROWS] for n in reversed(FEATURES)}
    columns["age"] = [67, None]
    frame = build_frame(columns, SCHEMA)
    assert list(frame.columns) == FEATURES
    assert frame["credit_amount"].dtype == np.int64 and frame["age"].dtype == np.float64
    assert np.isnan(frame["age"][1])


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("age", "old", "column 'age' expects integer values, got 'old' \\(str\\) in row 0"),
        ("age", 2.5, "column 'age' expects integer values, got 2.5"),
        ("age", True, "column 'age' expects integer values, got True \\(bool\\)"),
        ("sex", 1, "column 'sex' expects string values, got 1 \\(int\\)"),
    ],
)
def test_build_frame_mistyped_value_names_column_row_and_value(column, value, message):
    columns = {n: [ROWS[0][n]] for n in FEATURES} | {column: [value]}
    with pytest.raises(RequestError, match=message):
        build_frame(columns, SCHEMA)


@pytest.mark.parametrize(
    ("kind", "values", "refused"),
    [
        ("integer", [1, None, 2.0, -3], None),  # an integral float is an integer
        ("integer", [1, 2, 2.5], 2),
        ("integer", [1, None, False], 2),
        ("double", [1, 2.5, None, 7], None),
        ("double", [1.5, 2.5, float("inf")], 2),
        ("double", [True, 1.0], 0),
        ("string", ["a", None, "b"], None),
        ("string", ["a", "b", 3], 2),
        ("boolean", [True, None, False], None),
        ("boolean", [True, 1], 1),
        ("string", [], None),
    ],
)
def test_checked_values_pass_or_name_the_first_bad_row(kind, values, refused):
    """The one-pass type check accepts exactly what the value-by-value check does."""
    schema = Schema((Column("x", kind),))
    if refused is None:
        assert checked_rows({"x": values}, schema)["x"] == values
        return
    with pytest.raises(RequestError, match=f"in row {refused}$"):
        checked_rows({"x": values}, schema)


def test_v1_lists_follow_training_order_and_records_may_come_in_any_order():
    records = {"instances": [dict(reversed(list(r.items()))) for r in ROWS]}
    lists = {"instances": [list(r.values()) for r in ROWS]}
    assert v1_columns(records, SCHEMA, 10) == v1_columns(lists, SCHEMA, 10)


def test_v1_mixed_instance_forms_and_short_lists_are_refused():
    with pytest.raises(RequestError, match="instance 1 is a list, but instance 0 is a record"):
        v1_columns({"instances": [ROWS[0], list(ROWS[1].values())]}, SCHEMA, 10)
    with pytest.raises(RequestError, match="instance 0 holds 2 values, but the model takes 5"):
        v1_columns({"instances": [["male", "own"]]}, SCHEMA, 10)


def test_v2_nested_2d_data_and_flat_data_are_the_same_tensor():
    rows = [list(r.values()) for r in ROWS]
    nested = {"inputs": [{"name": "x", "shape": [2, 5], "datatype": "BYTES", "data": rows}]}
    flat = {"inputs": [nested["inputs"][0] | {"data": [v for r in rows for v in r]}]}
    assert v2_columns(nested, SCHEMA, 10) == v2_columns(flat, SCHEMA, 10)
    assert v2_columns(flat, SCHEMA, 10)["age"] == [67, 22]


def test_v2_column_datatype_the_column_does_not_take_is_refused():
    body = columns_body(ROWS)
    body["inputs"][4]["datatype"] = "BYTES"
    with pytest.raises(RequestError, match="column age \\(integer\\) takes datatype one of"):
        v2_columns(body, SCHEMA, 10)


def test_server_is_not_ready_until_the_warm_up_prediction_ran(credit):
    served = ServedModel("credit", "registered", 4, train(credit), SCHEMA)
    server = Server(served, None, Limits(), Metrics())
    with pytest.raises(RequestError, match="model 'credit' is not ready yet") as refused:
        server.check("credit")
    assert refused.value.status == 503 and not server.ready
    server.warm_up()
    server.check("credit")
    assert server.ready
    assert server.metrics.registry.get_sample_value("kfp_mlops_serve_ready") == 1
    with pytest.raises(RequestError, match="unknown model 'registered'; this server serves"):
        server.check("registered")  # --name renames the routes; the registered name is not one


def test_served_model_labels_are_the_most_probable_class_like_predict(credit):
    model = train(credit)
    served = ServedModel("m", "m", 1, model, SCHEMA)
    frame = credit[FEATURES].head(50)
    answer = served.predict(frame)
    assert answer.labels == model.predict(frame).tolist()
    assert np.allclose(answer.probabilities, model.predict_proba(frame), atol=1e-6)


# -- the real server: answers -------------------------------------------------------------------


def test_serve_v1_records_give_labels_and_probabilities(server, model_name):
    status, body = v1(server, model_name, {"instances": ROWS})
    assert status == 200, body
    assert len(body["predictions"]) == 2 and set(body["predictions"]) <= {0, 1}
    assert body["classes"] == [0, 1]
    assert all(abs(sum(p) - 1) < 1e-6 for p in body["probabilities"])
    assert [int(np.argmax(p)) for p in body["probabilities"]] == body["predictions"]


def test_serve_v1_lists_in_training_order_answer_like_records(server, model_name):
    records = v1(server, model_name, {"instances": ROWS})[1]
    status, lists = v1(server, model_name, {"instances": [list(r.values()) for r in ROWS]})
    assert status == 200 and lists == records


def test_serve_v2_one_tensor_per_column_per_the_spec(server, model_name):
    expected = v1(server, model_name, {"instances": ROWS})[1]
    status, body = v2(server, model_name, columns_body(ROWS, "abc-42"))
    assert status == 200, body
    assert body["model_name"] == model_name and body["model_version"] == "1"
    assert body["id"] == "abc-42"
    predict, proba = body["outputs"]
    assert predict == {
        "name": "predict", "shape": [2], "datatype": "INT64", "data": expected["predictions"]
    }  # fmt: skip
    assert proba["name"] == "predict_proba" and proba["shape"] == [2, 2]
    assert proba["datatype"] == "FP64"
    assert proba["data"] == [p for row in expected["probabilities"] for p in row]


def test_serve_v2_one_2d_tensor_in_training_order_with_version_and_output_choice(
    server, model_name
):
    expected = v1(server, model_name, {"instances": ROWS})[1]["predictions"]
    tensor = {"name": "x", "shape": [2, 5], "datatype": "BYTES",
              "data": [v for r in ROWS for v in r.values()]}  # fmt: skip
    body = {"inputs": [tensor], "outputs": [{"name": "predict"}]}
    status, answer = v2(server, model_name, body, version="1")
    assert status == 200, answer
    assert [o["name"] for o in answer["outputs"]] == ["predict"]
    assert answer["outputs"][0]["data"] == expected
    assert isinstance(answer["id"], str) and answer["id"]  # generated when the request has none


def test_serve_readiness_and_metadata_routes(server, model_name):
    assert get(f"{server.base}/v2/health/live") == (200, {"live": True})
    assert get(f"{server.base}/v2/health/ready") == (200, {"ready": True})
    assert get(f"{server.base}/v1/models/{model_name}") == (
        200, {"name": model_name, "ready": True}
    )  # fmt: skip
    status, meta = get(f"{server.base}/v2")
    assert status == 200 and meta["name"] == "kfp-mlops" and meta["extensions"] == []
    assert get(f"{server.base}/v2/")[1] == meta
    status, model = get(f"{server.base}/v2/models/{model_name}/versions/1")
    assert status == 200 and model["versions"] == ["1"] and model["platform"] == "sklearn"
    assert [(i["name"], i["datatype"]) for i in model["inputs"]] == [
        ("sex", "BYTES"), ("housing", "BYTES"), ("credit_amount", "INT64"),
        ("duration", "INT64"), ("age", "INT64"),
    ]  # fmt: skip
    assert get(f"{server.base}/v2/models/{model_name}")[1] == model
    assert get(f"{server.base}/v2/models/{model_name}/ready")[0] == 200
    assert get(f"{server.base}/v2/models/{model_name}/versions/1/ready")[0] == 200
    assert get(f"{server.base}/v2/models/{model_name}/versions/7/ready")[0] == 404


def test_serve_metrics_count_requests_rows_errors_and_the_log(server, model_name):
    before = get(f"{server.base}/metrics")[1]
    v1(server, model_name, {"instances": ROWS})
    v1(server, model_name, {"instances": []})
    status, text = get(f"{server.base}/metrics")
    assert status == 200
    route = {"route": "/v1/models/{name}:predict"}
    assert (
        metric(text, "kfp_mlops_serve_requests_total", **route, status="200")
        == metric(before, "kfp_mlops_serve_requests_total", **route, status="200") + 1
    )
    assert metric(text, "kfp_mlops_serve_requests_total", **route, status="400") >= 1
    assert metric(text, "kfp_mlops_serve_prediction_rows_total", model=model_name) >= 2
    assert metric(text, "kfp_mlops_serve_errors_total", reason="bad_request") >= 1
    assert metric(text, "kfp_mlops_serve_request_duration_seconds_count", **route) >= 2
    assert 'kfp_mlops_serve_request_duration_seconds_bucket{le="0.001"' in text
    assert metric(text, "kfp_mlops_serve_ready") == 1
    for name in ("queue_rows", "flushed_rows_total", "write_errors_total"):
        assert f"kfp_mlops_prediction_log_{name}" in text
    assert "kfp_mlops_prediction_log_dropped_rows" in text
    assert ":" not in "".join(
        line.split("{")[0] for line in text.splitlines() if not line.startswith("#")
    )


# -- the real server: bad input ----------------------------------------------------------------


def test_serve_malformed_json_is_400(server, model_name):
    status, body = v1(server, model_name, b'{"instances": [')
    assert status == 400 and body["error"].startswith("the body is not valid JSON")
    status, body = v2(server, model_name, b'{"inputs": [NaN]}')
    assert status == 400 and "NaN is not a JSON number" in body["error"]


def test_serve_v2_shape_that_does_not_match_its_data_is_400(server, model_name):
    body = columns_body(ROWS)
    body["inputs"][2]["shape"] = [3]
    status, answer = v2(server, model_name, body)
    assert status == 400
    assert answer["error"] == (
        "input 'credit_amount': shape [3] holds 3 values, but data has 2; "
        "make the shape match the data"
    )


def test_serve_unknown_model_name_is_404(server, model_name):
    status, body = v1(server, "no-such-model", {"instances": ROWS})
    assert status == 404
    assert body["error"] == f"unknown model 'no-such-model'; this server serves {model_name!r}"
    assert v2(server, "no-such-model", columns_body(ROWS))[0] == 404
    assert get(f"{server.base}/v2/models/no-such-model")[0] == 404
    assert get(f"{server.base}/nowhere")[1] == {"error": "no route /nowhere"}


def test_serve_missing_extra_and_mistyped_columns_are_400(server, model_name):
    missing = [{k: v for k, v in r.items() if k != "age"} for r in ROWS]
    status, body = v1(server, model_name, {"instances": missing})
    assert status == 400 and body["error"].startswith("instance 0: missing column(s) ['age']")
    extra = [r | {"colour": "red"} for r in ROWS]
    status, body = v1(server, model_name, {"instances": extra})
    assert status == 400 and "unknown column(s) ['colour']" in body["error"]
    mistyped = [ROWS[0], ROWS[1] | {"duration": "long"}]
    status, body = v1(server, model_name, {"instances": mistyped})
    assert status == 400
    assert body["error"] == "column 'duration' expects integer values, got 'long' (str) in row 1"
    v2_missing = columns_body(ROWS)
    del v2_missing["inputs"][0]
    status, body = v2(server, model_name, v2_missing)
    assert status == 400 and "missing column(s) ['sex']" in body["error"]


def test_serve_empty_instances_and_too_many_rows_are_400(server, model_name):
    status, body = v1(server, model_name, {"instances": []})
    assert status == 400 and body["error"].startswith("the request holds no rows")
    status, body = v1(server, model_name, {"instances": [ROWS[0]] * (MAX_ROWS + 1)})
    assert status == 400
    assert f"more than the server's limit of {MAX_ROWS} (--max-rows)" in body["error"]
    status, body = v1(server, model_name, {"rows": ROWS})
    assert status == 400 and body["error"].startswith("a V1 predict body is a JSON object")


def test_serve_body_over_the_limit_is_413(server, model_name):
    big = json.dumps({"instances": [ROWS[0] | {"sex": "x" * MAX_BODY}]}).encode()
    status, body = v1(server, model_name, big)
    assert status == 413 and f"limit of {MAX_BODY}" in body["error"]


def test_serve_model_uri_that_does_not_exist_refuses_to_start(cli, model_name):
    code, _, err = cli("serve", f"models:/no-such-model-{uuid.uuid4().hex[:6]}/3")
    assert code == 2
    assert "does not exist; list the versions in the MLflow UI" in err
    code, _, err = cli("serve", f"models:/{model_name}@nobody-set-this")
    assert code == 2
    assert f"the alias is not set on any version of {model_name!r}; train and register" in err
    code, _, err = cli("serve", "model.skops")
    assert code == 2 and "serves registered versions only" in err


def test_serve_model_whose_sha_does_not_match_refuses_to_start(stack, tmp_path, credit):
    from mlflow import MlflowClient

    name = register(tmp_path, credit, f"tampered-{uuid.uuid4().hex[:6]}")
    MlflowClient().set_model_version_tag(name, "1", "model_sha256", "0" * 64)
    done = subprocess.run(
        command("serve", f"models:/{name}/1", "--port", "1"),
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 1
    assert f"models:/{name}/1 has sha256" in done.stderr
    assert "was recorded: the file changed after its hash was recorded" in done.stderr


def test_serve_pinned_to_another_sha_refuses_to_start_naming_both(cli, model_name, monkeypatch):
    """The pin deploy_model renders (KFP_MLOPS_MODEL_SHA256), or --model-sha256: a version
    whose checked file is another one exits before a port is bound."""
    from mlflow import MlflowClient

    actual = MlflowClient().get_model_version(model_name, "1").tags["model_sha256"]
    other = "ab" * 32
    code, _, err = cli("serve", f"models:/{model_name}/1", "--model-sha256", other, "--port", "1")
    assert code == 1
    assert (
        f"models:/{model_name}/1 has model_sha256 {actual}, but this server was pinned to " in err
    )
    assert other in err and actual in err and "redeploy the version you mean" in err
    monkeypatch.setenv("KFP_MLOPS_MODEL_SHA256", other.upper())
    code, _, err = cli("serve", f"models:/{model_name}/1", "--port", "1")
    assert code == 1 and f"pinned to {other}" in err
    code, _, err = cli("serve", f"models:/{model_name}/1", "--model-sha256", "not-a-sha")
    assert code == 2 and "is not a sha256 (64 hex digits)" in err


def test_serve_pinned_to_its_own_sha_starts(model_name):
    from mlflow import MlflowClient

    actual = MlflowClient().get_model_version(model_name, "1").tags["model_sha256"]
    server = Process(
        "serve", f"models:/{model_name}/1", "--no-log",
        env={"KFP_MLOPS_MODEL_SHA256": actual.upper()},
    )  # fmt: skip
    try:
        assert v1(server, model_name, {"instances": ROWS})[0] == 200
    finally:
        assert server.stop()[0] == 0
