"""The compiled specs and the model server in real containers: DockerRunner, the project image.

`make e2e` starts Docker, builds the image and runs these (marker `e2e`; `make test` leaves
them out). DockerRunner can report SUCCESS for a container that failed, so every assertion
is on what the tasks wrote (executor outputs) and on the registry, never on task status.
"""

import hashlib
import json
import os
import time
import uuid
from pathlib import Path

import pandas as pd
import pytest
import yaml

from components._shared.image import IMAGE
from kfp_mlops.params.parse import resolve
from kfp_mlops.stack import DATA_BUCKET
from tests.conftest import GERMAN_CREDIT, REPO, free_port
from tests.e2e.docker_run import FORWARDED, run_in_containers

pytestmark = pytest.mark.e2e

TRAINING = REPO / "compiled" / "training.yaml"
MONITORING = REPO / "compiled" / "monitoring.yaml"
EXAMPLE = REPO / "examples" / "training-german-credit.yaml"
IMAGE_UID = 10001
TRAINING_TASKS = {
    "load-data",
    "validate-data",
    "train-model",
    "evaluate-model",
    "check-fairness",
    "register-model",
    "notify",  # the exit handler runs in the image too
}


def _spec_images(spec: Path) -> set[str]:
    docs = list(yaml.safe_load_all(spec.read_text()))
    executors = docs[0]["deploymentSpec"]["executors"].values()
    return {e["container"]["image"] for e in executors}


@pytest.fixture(scope="module")
def image_env():
    """The built image's environment; fails (not skips) when Docker or the image is missing."""
    import docker

    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        pytest.fail(f"no Docker daemon answers ({exc}); run `make e2e`, which starts one")
    try:
        image = client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        pytest.fail(f"image {IMAGE} is not built; run `make e2e` (or `make image`)")
    env = dict(item.split("=", 1) for item in image.attrs["Config"]["Env"])
    client.close()
    return env


@pytest.fixture(scope="module")
def s3_data(stack, tmp_path_factory):
    """The German credit data, and a strongly shifted copy, stored in the stack's S3."""
    from minio import Minio

    from components._shared.settings import s3_settings

    s3 = s3_settings()
    client = Minio(s3.endpoint, s3.access_key, s3.secret_key, secure=s3.secure)
    shifted = tmp_path_factory.mktemp("e2e-data") / "shifted.csv"
    frame = pd.read_csv(GERMAN_CREDIT)
    frame["credit_amount"] = frame["credit_amount"] * 3 + 5000
    frame["duration"] = frame["duration"] + 40
    frame["age"] = frame["age"] + 30
    frame["housing"] = "free"
    frame["saving_accounts"] = "rich"  # 5 of 10 columns: at the 0.5 dataset-drift share
    frame.to_csv(shifted, index=False)
    uris = {}
    for name, path in (("german_credit", GERMAN_CREDIT), ("shifted", shifted)):
        client.fput_object(DATA_BUCKET, f"e2e/{name}.csv", str(path))
        uris[name] = f"s3://{DATA_BUCKET}/e2e/{name}.csv"
    return uris


def _ran_as_image_user(summary: dict) -> dict[str, int]:
    """Task → owner uid of the executor output it wrote inside its container."""
    outputs = Path(summary["run_dir"]) / "outputs"
    return {p.parent.name: p.stat().st_uid for p in outputs.glob("*/*/executor_output.json")}


def _no_credentials_in(run_dir: str) -> list[str]:
    secrets = [os.environ[k].encode() for k in ("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID")]
    files = [p for p in Path(run_dir).rglob("*") if p.is_file()]
    assert len(files) > 10
    return [str(p) for p in files for s in secrets if s in p.read_bytes()]


def test_image_runs_as_non_root_and_has_kfp_without_pip():
    import docker

    client = docker.from_env()
    script = "id -u; python3 -c 'import kfp; print(kfp.__version__)'; command -v pip || echo no-pip"
    try:
        out = client.containers.run(IMAGE, ["sh", "-c", script], remove=True).decode().split()
    finally:
        client.close()
    # Non-root; kfp from the venv (what `python3 -m kfp.dsl.executor_main` needs); no pip, so
    # nothing can pip-install at start.
    assert out == [str(IMAGE_UID), "2.17.3", "no-pip"], out


def test_compiled_specs_name_the_built_image():
    assert _spec_images(TRAINING) == {IMAGE} and _spec_images(MONITORING) == {IMAGE}


def test_training_in_containers_registers_champion_with_image_lineage(
    stack, s3_data, image_env, tmp_path
):
    from mlflow import MlflowClient

    model = "e2e-german-credit"
    params = resolve(
        TRAINING,
        EXAMPLE,
        [f"data_uri={s3_data['german_credit']}", f"model_name={model}"],
    )
    summary = run_in_containers("training", TRAINING, params, tmp_path / "training")
    assert summary["status"] == "succeeded", summary["error"]
    assert summary["blessed"] is True and summary["model"]["version"] == 1
    assert set(summary["model"]["aliases"]) >= {"champion"}

    # Every task ran, in a container, as the image's non-root user (it wrote its outputs).
    owners = _ran_as_image_user(summary)
    assert set(owners) == TRAINING_TASKS, sorted(owners)
    assert set(owners.values()) == {IMAGE_UID}

    gates = summary["gates"]
    assert all(gates[g]["passed"] for g in ("validation", "evaluation", "fairness"))
    assert 0.5 < gates["evaluation"]["metrics"]["roc_auc"] <= 1.0
    assert "demographic_parity_difference" in str(gates["fairness"]["metrics"])

    version = MlflowClient().get_model_version_by_alias(model, "champion")
    assert version.tags["image"] == IMAGE == image_env["KFP_MLOPS_IMAGE"]
    assert version.tags["git_commit"] == image_env["KFP_MLOPS_GIT_COMMIT"] != "unknown"
    assert version.tags["dataset_uri"] == s3_data["german_credit"]
    assert version.tags["dataset_sha256"] == hashlib.sha256(GERMAN_CREDIT.read_bytes()).hexdigest()
    assert _no_credentials_in(summary["run_dir"]) == []


def test_model_server_in_the_image_answers_v1_v2_metrics_and_logs_to_s3(stack, image_env):
    """The champion the training test registered, served by the image as KServe would run it."""
    import docker

    from tests.serving import get, post, read_log

    model = "e2e-german-credit"
    prefix = f"s3://{DATA_BUCKET}/e2e-predictions-{uuid.uuid4().hex[:8]}/"
    port = free_port()
    env = {k: os.environ[k] for k in FORWARDED if k in os.environ}
    env |= {"MLFLOW_DISABLE_TELEMETRY": "true", "KFP_MLOPS_PREDICTION_LOG_URI": prefix}
    rows = json.loads(
        pd.read_csv(GERMAN_CREDIT).drop(columns=["risk"]).head(2).to_json(orient="records")
    )
    client = docker.from_env()
    container = client.containers.run(
        IMAGE,
        ["kfp-mlops", "serve", f"models:/{model}@champion", "--host", "127.0.0.1",
         "--port", str(port), "--log-flush-seconds", "1"],
        network_mode="host", environment=env, detach=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            container.reload()
            assert container.status != "exited", container.logs().decode()[-3000:]
            try:
                if get(f"{base}/v2/health/ready")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the server in the image never became ready"
            time.sleep(0.5)
        status, v1 = post(f"{base}/v1/models/{model}:predict", {"instances": rows})
        assert status == 200 and len(v1["predictions"]) == 2, v1
        kinds = {c: "BYTES" if isinstance(v, str) else "INT64" for c, v in rows[0].items()}
        inputs = [
            {"name": c, "shape": [2], "datatype": kind, "data": [r[c] for r in rows]}
            for c, kind in kinds.items()
        ]
        status, v2 = post(f"{base}/v2/models/{model}/infer", {"id": "e2e-1", "inputs": inputs})
        assert status == 200 and v2["id"] == "e2e-1" and v2["model_name"] == model, v2
        status, metrics = get(f"{base}/metrics")
        assert status == 200 and "kfp_mlops_serve_requests_total" in metrics
    finally:
        container.stop(timeout=30)  # SIGTERM: the server flushes its prediction log
        exit_code = container.wait()["StatusCode"]
        logs = container.logs().decode()
        container.remove()
        client.close()
    assert exit_code == 0, logs[-3000:]
    logged = read_log(prefix)
    assert sum(len(p) for p in logged.values()) == 4, logged.keys()
    assert all(f"/{model}/date=" in key for key in logged)
    for secret in (os.environ["AWS_SECRET_ACCESS_KEY"], os.environ["AWS_ACCESS_KEY_ID"]):
        assert secret not in logs


def test_monitoring_in_containers_detects_drift_and_retrains(stack, s3_data, image_env, tmp_path):
    from mlflow import MlflowClient

    model = "e2e-monitoring"
    params = resolve(
        MONITORING,
        None,
        [
            f"current_uri={s3_data['shifted']}",
            f"reference_uri={s3_data['german_credit']}",
            f"retrain_data_uri={s3_data['german_credit']}",
            f"model_name={model}",
        ],
    )
    summary = run_in_containers("monitoring", MONITORING, params, tmp_path / "monitoring")
    assert summary["status"] == "succeeded", summary["error"]
    drift = summary["gates"]["drift"]
    assert summary["drifted"] is True and drift["passed"] is False
    drifted_columns = set(drift["report"]["columns_drifted"])
    assert {"credit_amount", "duration", "age", "housing", "saving_accounts"} <= drifted_columns
    assert summary["retrained"] is True and summary["blessed"] is True

    owners = _ran_as_image_user(summary)
    assert {
        "resolve-reference", "detect-drift", "check-performance", "train-model", "register-model",
        "notify",
    } <= set(owners)  # fmt: skip
    assert set(owners.values()) == {IMAGE_UID}

    version = MlflowClient().get_model_version_by_alias(model, "champion")
    assert version.tags["image"] == IMAGE
    assert version.tags["dataset_uri"] == s3_data["german_credit"]
    assert _no_credentials_in(summary["run_dir"]) == []
