"""The MLflow server image (`make image-mlflow`) serves the registry and proxies artifacts to S3.

It runs as the manifests run it: a sqlite backend in the container, `--artifacts-destination`
in the stack's S3 (SeaweedFS here, MinIO on a cluster), credentials from the environment.
"""

import time
import urllib.request

import pytest

from components._shared.image import MLFLOW_SERVER_IMAGE
from kfp_mlops.stack import ARTIFACT_BUCKET
from tests.conftest import free_port

pytestmark = pytest.mark.e2e
START_TIMEOUT_S = 120


@pytest.fixture
def mlflow_server(stack):
    """The image's MLflow server on a free 127.0.0.1 port (host network), stopped after."""
    import docker

    client = docker.from_env()
    try:
        client.images.get(MLFLOW_SERVER_IMAGE)
    except docker.errors.ImageNotFound:
        pytest.fail(f"image {MLFLOW_SERVER_IMAGE} is not built; run `make e2e`")
    port = free_port()
    env = stack.env()
    command = ["mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    home = "/home/mlflow"  # the image user's home (inside the container, not this machine)
    command += ["--backend-store-uri", f"sqlite:///{home}/mlflow.db"]
    command += ["--artifacts-destination", f"s3://{ARTIFACT_BUCKET}/e2e-mlflow-image/"]
    container = client.containers.run(
        MLFLOW_SERVER_IMAGE,
        command,
        detach=True,
        network_mode="host",
        environment={
            "MLFLOW_S3_ENDPOINT_URL": env["AWS_ENDPOINT_URL_S3"],
            **{k: env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")},
            "AWS_DEFAULT_REGION": env["AWS_DEFAULT_REGION"],
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        },
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            container.reload()
            assert container.status == "running", container.logs().decode()[-2000:]
            assert time.monotonic() < deadline, "the MLflow server image did not answer"
            time.sleep(1)
        yield url, container
    finally:
        container.remove(force=True)
        client.close()


def test_mlflow_image_serves_registry_and_proxies_artifacts_to_s3(stack, mlflow_server):
    from minio import Minio
    from mlflow import MlflowClient

    from components._shared.settings import s3_settings

    url, container = mlflow_server
    assert container.attrs["Config"]["User"] == "10001:10001"
    assert "MLFLOW_DISABLE_TELEMETRY=true" in container.attrs["Config"]["Env"]

    client = MlflowClient(tracking_uri=url)
    experiment = client.create_experiment("e2e-mlflow-image")
    run = client.create_run(experiment)
    client.log_text(run.info.run_id, "served by the image", "note.txt")
    client.create_registered_model("e2e-mlflow-image-model")
    assert client.get_registered_model("e2e-mlflow-image-model").name == "e2e-mlflow-image-model"

    # The artifact went through the server's proxy (boto3 in the image) into S3.
    s3 = s3_settings()
    minio = Minio(s3.endpoint, s3.access_key, s3.secret_key, secure=s3.secure)
    keys = [
        o.object_name
        for o in minio.list_objects(ARTIFACT_BUCKET, prefix="e2e-mlflow-image/", recursive=True)
    ]
    assert any(key.endswith(f"{run.info.run_id}/artifacts/note.txt") for key in keys), keys
