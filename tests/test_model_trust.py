"""No code runs when a model is loaded: the class list, crafted skops files, tampered champions.

Every crafted file would write a marker file if it were loaded the way skops allows when told
to trust what the file names (a control test proves each payload is live); our loader must
refuse each one by name, and the marker must not appear. Registered champions are real MLflow
versions on the embedded stack whose model object is then overwritten in S3.
"""

import importlib
import inspect
import io
import json
import socket
import sys
import uuid
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops
import skops.io as sio
from kfp import dsl
from sklearn.preprocessing import FunctionTransformer
from skops.io._protocol import PROTOCOL

from components._shared.errors import ConfigError, ServiceError
from components._shared.io import s3_client, write_parquet
from components._shared.model_io import (
    MODEL_FILE,
    TRUSTED_NODES,
    TRUSTED_TYPES,
    ModelTrustError,
    file_sha256,
    file_types,
    load_model,
    save_model,
)
from components._shared.registry.champion import load_champion, load_model_uri, load_version
from components.detect_drift.component import detect_drift
from components.train_model.component import train_model
from components.train_model.core import ESTIMATORS
from kfp_mlops.cli.main import main as cli_main
from kfp_mlops.stack import ARTIFACT_BUCKET
from tests.conftest import GERMAN_CREDIT
from tests.test_evaluate_model import register_champion, run_gate, trained
from tests.test_train_model import three_classes

# Small models keep the module fast on a shared 2-core machine.
FAST = {"hist_gradient_boosting": {"max_iter": 10}, "random_forest": {"n_estimators": 5}}


@pytest.fixture(scope="module")
def credit() -> pd.DataFrame:
    return pd.read_csv(GERMAN_CREDIT)


# --- the class list is derived from every estimator train_model supports ---


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory) -> dict[tuple[str, str], dsl.Model]:
    """Every estimator fitted and saved by train_model itself, on binary and 3-class data."""
    root = tmp_path_factory.mktemp("estimators")
    datasets = {
        "binary": (pd.read_csv(GERMAN_CREDIT), "risk"),
        "multiclass": (three_classes(), "label"),
    }
    # Every estimator takes class_weight; a dict of them stores its key types.
    weighted = {"class_weight": {0: 1, 1: 2}}
    datasets["weighted"] = datasets["binary"]
    models = {}
    for kind, (frame, target) in datasets.items():
        write_parquet(frame, root / f"{kind}.parquet")
        for estimator in ESTIMATORS:
            model = dsl.Model(uri=str(root / f"{kind}-{estimator}.skops"))
            train_model.python_func(
                dataset=dsl.Dataset(uri=str(root / f"{kind}.parquet")),
                target_column=target,
                estimator=estimator,
                hyperparameters=FAST.get(estimator, {}) | (weighted if kind == "weighted" else {}),
                test_size=0.25,
                random_seed=0,
                model=model,
                predictions=dsl.Dataset(uri=str(root / f"{kind}-{estimator}-predictions")),
                metrics=dsl.Metrics(uri=str(root / f"{kind}-{estimator}-metrics")),
            )
            models[(kind, estimator)] = model
    return models


def test_every_estimator_needs_only_trusted_classes_and_every_trusted_class_is_needed(
    saved_models,
):
    needed_types, needed_kinds = set(), set()
    for (kind, estimator), model in saved_models.items():
        data = Path(model.path).read_bytes()
        kinds, types = file_types(data, model.path)
        untrusted = set(sio.get_untrusted_types(data=data))
        assert untrusted <= TRUSTED_TYPES, (kind, estimator, untrusted - TRUSTED_TYPES)
        assert types <= TRUSTED_TYPES, (kind, estimator, types - TRUSTED_TYPES)
        assert kinds <= TRUSTED_NODES, (kind, estimator, kinds - TRUSTED_NODES)
        needed_types |= types | untrusted
        needed_kinds |= kinds
    # Minimal: a name no supported estimator is made of would be trust nobody asked for.
    assert sorted(TRUSTED_TYPES - needed_types) == []
    assert sorted(TRUSTED_NODES - needed_kinds) == []


@pytest.mark.parametrize("name", sorted(TRUSTED_TYPES))
def test_every_trusted_name_is_a_class_not_a_function(name):
    module, _, attribute = name.rpartition(".")
    obj = getattr(importlib.import_module(module), attribute)
    assert inspect.isclass(obj), f"{name} is {type(obj).__name__}, not a class"


def test_every_estimator_round_trips_through_the_checked_loader(saved_models):
    for (_, estimator), model in saved_models.items():
        assert model.metadata["sha256"] == file_sha256(Path(model.path).read_bytes())
        loaded = load_model(model.path, sha256=model.metadata["sha256"])
        assert type(loaded[-1]).__name__ == type(ESTIMATORS[estimator].build()).__name__
        assert [str(c) for c in loaded.classes_] == [str(c) for c in model.metadata["classes"]]


def test_a_local_model_file_with_another_sha256_is_refused_naming_both(saved_models, tmp_path):
    model = saved_models[("binary", "logistic_regression")]
    wrong = "0" * 64
    with pytest.raises(ModelTrustError) as caught:
        load_model(model.path, sha256=wrong)
    assert model.metadata["sha256"] in str(caught.value) and wrong in str(caught.value)
    assert "kfp-mlops rollback" in str(caught.value)


def test_save_model_refuses_a_scorer_skops_cannot_write_naming_the_setting(tmp_path, credit):
    from components.train_model.core import train

    hyperparameters = {"early_stopping": True, "scoring": "accuracy", "max_iter": 5}
    result = train(credit, "risk", "hist_gradient_boosting", hyperparameters, 0.25, 0)
    with pytest.raises(ModelTrustError, match=r"skops cannot save the Pipeline model.*'loss'"):
        save_model(result.pipeline, tmp_path / "model.skops")
    assert not (tmp_path / "model.skops").exists()


def test_save_model_refuses_an_estimator_outside_the_class_list(tmp_path):
    from sklearn.svm import SVC

    x = np.arange(20, dtype=float).reshape(-1, 1)
    svc = SVC().fit(x, np.arange(20) % 2)
    with pytest.raises(ModelTrustError, match=r"sklearn\.svm\._classes\.SVC.*train_model"):
        save_model(svc, tmp_path / "svc.skops")
    assert not (tmp_path / "svc.skops").exists()


# --- crafted skops files: each would write a marker file if it were loaded ---


def json_node(value) -> dict:
    return {
        "__class__": "str",
        "__module__": "builtins",
        "__loader__": "JsonNode",
        "content": json.dumps(value),
        "is_json": True,
    }


def container_node(kind: str, items: tuple[dict, ...]) -> dict:
    loader = f"{kind.capitalize()}Node"
    return {
        "__class__": kind,
        "__module__": "builtins",
        "__loader__": loader,
        "content": list(items),
    }


def tuple_node(*items: dict) -> dict:
    return container_node("tuple", items)


def list_node(*items: dict) -> dict:
    return container_node("list", items)


def empty_dict_node() -> dict:
    return {
        "__class__": "dict",
        "__module__": "builtins",
        "__loader__": "DictNode",
        "content": {},
        "key_types": list_node(),
    }


def call(module: str, name: str, *args: dict) -> dict:
    """A reduce node: skops calls `module.name(*args)` while it constructs the file."""
    return {
        "__class__": name,
        "__module__": module,
        "__loader__": "ConstructorFromReduceNode",
        "content": tuple_node(*args),
    }


def skops_file(root: dict) -> bytes:
    """A skops zip whose schema.json is exactly `root` (written by hand, not by skops)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        schema = {**root, "protocol": PROTOCOL, "_skops_version": skops.__version__}
        archive.writestr("schema.json", json.dumps(schema))
    return buffer.getvalue()


def write_marker(marker: Path) -> str:
    return f"open({str(marker)!r}, 'w').write('code ran')"


def payload_exec(marker: Path) -> bytes:
    return skops_file(call("builtins", "exec", json_node(write_marker(marker))))


def payload_eval(marker: Path) -> bytes:
    return skops_file(call("builtins", "eval", json_node(write_marker(marker))))


def payload_getattr(marker: Path) -> bytes:
    # list(map(getattr(__import__("os"), "system"), ["touch MARKER"])): list() drives the map.
    os_module = call("builtins", "__import__", json_node("os"))
    system = call("builtins", "getattr", os_module, json_node("system"))
    commands = list_node(json_node(f"touch '{marker}'"))
    return skops_file(call("builtins", "list", call("builtins", "map", system, commands)))


def payload_import(marker: Path) -> bytes:
    # Importing a module runs it; the test puts this module on sys.path.
    module = marker.with_name(f"{marker.stem}_module.py")
    module.write_text(f"{write_marker(marker)}\n", encoding="utf-8")
    return skops_file(call("builtins", "__import__", json_node(module.stem)))


def payload_numpy(marker: Path) -> bytes:
    return skops_file(call("numpy", "savetxt", json_node(str(marker)), list_node(json_node(1.0))))


def payload_scipy(marker: Path) -> bytes:
    return skops_file(call("scipy.io", "savemat", json_node(str(marker)), empty_dict_node()))


def payload_os_system(marker: Path) -> bytes:
    return skops_file(call("os", "system", json_node(f"touch '{marker}'")))


def payload_function_transformer(marker: Path) -> bytes:
    # Written by skops itself: a FunctionTransformer is a default-trusted sklearn estimator,
    # its func is exec (stored as a TypeNode): predicting with it runs the input as code.
    return sio.dumps(FunctionTransformer(func=exec))


def payload_function_node(marker: Path) -> bytes:
    # The same with func as a FunctionNode, the node kind skops writes for Python functions.
    with zipfile.ZipFile(io.BytesIO(payload_function_transformer(marker))) as archive:
        schema = json.loads(archive.read("schema.json"))
    schema["content"]["content"]["func"]["__loader__"] = "FunctionNode"
    del schema["protocol"], schema["_skops_version"]
    return skops_file(schema)


PAYLOADS = {
    "exec": (payload_exec, ["builtins.exec", "ConstructorFromReduceNode"]),
    "eval": (payload_eval, ["builtins.eval", "ConstructorFromReduceNode"]),
    "getattr": (payload_getattr, ["builtins.getattr", "builtins.__import__", "builtins.map"]),
    "__import__": (payload_import, ["builtins.__import__", "ConstructorFromReduceNode"]),
    "numpy.savetxt": (payload_numpy, ["numpy.savetxt", "ConstructorFromReduceNode"]),
    "scipy.io.savemat": (payload_scipy, ["scipy.io.savemat", "ConstructorFromReduceNode"]),
    "os.system": (payload_os_system, ["os.system", "ConstructorFromReduceNode"]),
    "FunctionTransformer(exec)": (
        payload_function_transformer,
        ["builtins.exec", "sklearn.preprocessing._function_transformer.FunctionTransformer"],
    ),
    "FunctionTransformer(FunctionNode exec)": (
        payload_function_node,
        ["builtins.exec", "FunctionTransformer", "FunctionNode"],
    ),
}


@pytest.fixture
def marker(tmp_path, monkeypatch) -> Path:
    """Where a payload writes when its code runs (a .mat name, which savemat keeps as is)."""
    monkeypatch.syspath_prepend(str(tmp_path))
    path = tmp_path / f"ran_{uuid.uuid4().hex[:8]}.mat"
    yield path
    for name in [m for m in sys.modules if m.startswith(path.stem)]:
        del sys.modules[name]


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_crafted_payload_is_live_when_skops_trusts_what_the_file_names(name, marker):
    """Control: without our loader each payload does run code, so the refusals below count."""
    build, _ = PAYLOADS[name]
    data = build(marker)
    loaded = sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    if isinstance(loaded, FunctionTransformer):
        loaded.transform(write_marker(marker))  # what a prediction would do
    assert marker.exists()


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_crafted_payload_refused_naming_its_type_and_no_code_runs(name, marker, tmp_path):
    build, named = PAYLOADS[name]
    path = tmp_path / "model.skops"
    path.write_bytes(build(marker))

    with pytest.raises(ModelTrustError) as caught:
        load_model(path)

    message = str(caught.value)
    assert all(n in message for n in named), message
    assert "refusing it (loading it could run code)" in message and "re-register" in message
    assert not marker.exists()


@pytest.mark.parametrize("name", ["exec", "os.system", "FunctionTransformer(exec)"])
def test_cli_drift_refuses_a_crafted_model_file_before_reading_data(name, marker, tmp_path, capsys):
    build, named = PAYLOADS[name]
    path = tmp_path / "model.skops"
    path.write_bytes(build(marker))
    data = tmp_path / "data.parquet"
    pd.DataFrame({"x": [1.0, 2.0, 3.0]}).to_parquet(data)
    report = tmp_path / "report.html"

    code = cli_main(["drift", str(data), str(data), "--model", str(path), "--report", str(report)])

    err = capsys.readouterr().err
    assert code == 1 and named[0] in err
    assert not marker.exists() and not report.exists()


def test_cli_drift_local_model_with_wrong_sha256_refused_naming_both(
    saved_models, tmp_path, capsys
):
    model = saved_models[("binary", "logistic_regression")]
    data = tmp_path / "data.parquet"
    pd.read_csv(GERMAN_CREDIT).to_parquet(data)
    wrong = "f" * 64

    code = cli_main(["drift", str(data), str(data), "--model", model.path, "--model-sha256", wrong])

    err = capsys.readouterr().err
    assert code == 1 and wrong in err and model.metadata["sha256"] in err


def test_a_sha256_for_a_registered_model_is_a_usage_error():
    with pytest.raises(ConfigError, match="checked against its own model_sha256 tag"):
        load_model_uri("models:/credit@champion", sha256="0" * 64)


# --- registered champions on the embedded stack: the file is checked against its tag ---


def unique_name() -> str:
    return f"trust-test-{uuid.uuid4().hex[:10]}"


def stored_model_key(model_name: str, version: int) -> str:
    """The S3 key of a registered version's model file in the MLflow artifact bucket."""
    from mlflow import MlflowClient

    source = MlflowClient().get_model_version(model_name, str(version)).source
    model_id = source.removeprefix("models:/")  # MLflow 3: the logged model's id
    keys = [
        o.object_name
        for o in s3_client().list_objects(ARTIFACT_BUCKET, recursive=True)
        if o.object_name.endswith(f"/{model_id}/artifacts/{MODEL_FILE}")
    ]
    assert len(keys) == 1, keys
    return keys[0]


def overwrite(key: str, data: bytes) -> None:
    s3_client().put_object(ARTIFACT_BUCKET, key, io.BytesIO(data), len(data))


def stored_bytes(key: str) -> bytes:
    response = s3_client().get_object(ARTIFACT_BUCKET, key)
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()


def test_registered_champion_loads_by_alias_and_number_when_its_file_matches_its_tag(
    stack, tmp_path, credit
):
    name = unique_name()
    model, _ = trained(tmp_path, credit, "random_forest", {"n_estimators": 5})
    version = register_champion(name, model)
    sha = model.metadata["sha256"]
    assert file_sha256(stored_bytes(stored_model_key(name, version))) == sha  # stored as trained

    features = credit.drop(columns="risk")
    expected = load_model(model.path, sha256=sha).predict(features)
    for found in (
        load_champion(name),
        load_version(name, version),
        load_model_uri(f"models:/{name}/{version}"),
        load_model_uri(f"models:/{name}@champion"),
    ):
        assert found.version == version and found.problem is None
        np.testing.assert_array_equal(found.model.predict(features), expected)
    with pytest.raises(ConfigError, match=f"models:/{name}/99 does not exist"):
        load_version(name, 99)


def test_version_without_a_model_sha256_tag_is_refused(stack, tmp_path, credit):
    from mlflow import MlflowClient

    name = unique_name()
    model, _ = trained(tmp_path, credit, "logistic_regression", {})
    version = register_champion(name, model)
    MlflowClient().delete_model_version_tag(name, str(version), "model_sha256")

    with pytest.raises(ModelTrustError, match=f"models:/{name}/{version} has no model_sha256 tag"):
        load_champion(name)


def test_champion_overwritten_in_s3_refused_by_evaluation_drift_and_cli_naming_both_hashes(
    stack, tmp_path, credit, capsys
):
    name = unique_name()
    champion, _ = trained(tmp_path / "champion", credit, "random_forest", {"n_estimators": 5})
    version = register_champion(name, champion)
    # Another real model of trusted classes: only the hash tells it from the registered one.
    other, predictions = trained(tmp_path / "other", credit, "logistic_regression", {})
    overwrite(stored_model_key(name, version), Path(other.path).read_bytes())
    recorded, found = champion.metadata["sha256"], other.metadata["sha256"]
    mismatch = f"models:/{name}/{version} has sha256 {found}, but {recorded} was recorded"

    # Evaluation fails the run (never blesses against a champion it cannot trust).
    with pytest.raises(ModelTrustError, match=mismatch):
        run_gate(tmp_path, other, predictions, name, min_accuracy=0.5)
    assert not (tmp_path / "eval-report.md").exists()

    # Prediction drift in the monitoring pipeline's drift step.
    data = tmp_path / "credit.parquet"
    credit.to_parquet(data)
    with pytest.raises(ModelTrustError, match=mismatch):
        detect_drift.python_func(
            reference=dsl.Dataset(uri=str(data)),
            current=dsl.Dataset(uri=str(data)),
            columns=[],
            method="auto",
            drift_share=0.5,
            metrics=dsl.Metrics(uri=str(tmp_path / "drift-metrics")),
            report=dsl.Markdown(uri=str(tmp_path / "drift-summary.md")),
            report_html=dsl.HTML(uri=str(tmp_path / "drift-report.html")),
            thresholds={},
            column_methods={},
            model_name=name,
            model_alias="champion",
            kfp_run_id="",
        )
    assert not (tmp_path / "drift-report.html").exists()

    # The CLI.
    report = tmp_path / "cli-report.html"
    model_uri = f"models:/{name}@champion"
    code = cli_main(["drift", str(data), str(data), "--model", model_uri, "--report", str(report)])
    err = capsys.readouterr().err
    assert code == 1 and mismatch in err and "kfp-mlops rollback" in err
    assert not report.exists()


def test_champion_overwritten_with_a_code_payload_runs_nothing_even_with_its_hash_recorded(
    stack, tmp_path, credit, marker
):
    from mlflow import MlflowClient

    name = unique_name()
    model, _ = trained(tmp_path, credit, "logistic_regression", {})
    version = register_champion(name, model)
    payload = payload_exec(marker)
    overwrite(stored_model_key(name, version), payload)

    with pytest.raises(ModelTrustError, match=f"has sha256 {file_sha256(payload)}"):
        load_champion(name)
    assert not marker.exists()

    # Someone who can also write registry tags records the payload's hash: the class list holds.
    MlflowClient().set_model_version_tag(name, str(version), "model_sha256", file_sha256(payload))
    with pytest.raises(ModelTrustError, match=r"builtins\.exec"):
        load_champion(name)
    assert not marker.exists()


@pytest.mark.parametrize(
    "load",
    [lambda: load_champion("credit"), lambda: load_version("credit", 1)],
    ids=["alias", "number"],
)
def test_champion_errors_never_show_the_tracking_uri_password(load, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing answers there
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://admin:Sup3rSecretPass@127.0.0.1:{port}")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")

    with pytest.raises(ServiceError) as caught:
        load()

    message = str(caught.value)
    assert f"http://***@127.0.0.1:{port}" in message and "did not answer" in message
    assert "Sup3rSecretPass" not in message and "admin:" not in message


def test_register_model_stores_the_trained_file_so_the_champion_loads_checked(stack, tmp_path):
    from tests.test_register_model import artifacts, run

    name = unique_name()
    inputs = artifacts(tmp_path, pd.read_csv(GERMAN_CREDIT).head(300), model_name=name)
    version = run(tmp_path, inputs)["meta"]["version"]

    sha = inputs["model"].metadata["sha256"]
    assert file_sha256(stored_bytes(stored_model_key(name, version))) == sha
    champion = load_champion(name)
    assert champion.version == version and champion.model is not None


def test_a_pickled_version_is_refused_without_unpickling_it(stack, tmp_path):
    import mlflow
    from mlflow import MlflowClient
    from sklearn.linear_model import LogisticRegression

    name = unique_name()
    x = np.arange(20, dtype=float).reshape(-1, 1)
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(
            LogisticRegression().fit(x, np.arange(20) % 2),
            name="model",
            serialization_format="cloudpickle",
            pip_requirements=["scikit-learn==1.9.1"],
        )
    client = MlflowClient()
    client.create_registered_model(name)
    version = client.create_model_version(
        name,
        info.model_uri,
        run.info.run_id,
        tags={"model_sha256": "0" * 64},
        model_id=info.model_id,
    ).version

    with pytest.raises(ModelTrustError, match=r"serialization_format 'cloudpickle'.*unpickling"):
        load_version(name, int(version))
