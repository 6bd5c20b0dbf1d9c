"""The MLflow tracking server of the embedded stack: sqlite registry, artifacts proxied to S3."""

import os
from pathlib import Path

from kfp_mlops.stack.service import HOST, Service

ARTIFACT_BUCKET = "mlflow"


class MLflowServer(Service):
    """`mlflow server` with one worker, its artifacts in the S3 bucket `mlflow`."""

    name = "mlflow"
    title = "MLflow"
    binary = "mlflow"
    port_env = "KFP_MLOPS_MLFLOW_PORT"
    # 11-23 s on an idle laptop and seen at 77 s on a busy 2-core one (creating a new sqlite
    # db is most of it); a crash is caught at once, so a long timeout costs nothing.
    timeout_s = 180.0

    def _health_url(self) -> str:
        return self.url + "/health"

    def command(self, binary: Path) -> tuple[list[str], dict[str, str]]:
        """`mlflow server` on 127.0.0.1, with the stack's S3 credentials for its proxy."""
        home = self.stack.home
        self.stack.record_ports(self.name, {"port": self.port})
        command = [str(binary), "server", "--host", HOST, "--port", str(self.port)]
        command += ["--backend-store-uri", f"sqlite:///{home / 'mlflow.db'}"]
        command += ["--artifacts-destination", f"s3://{ARTIFACT_BUCKET}/", "--workers", "1"]
        env = {**os.environ, **self.stack.env(), "MLFLOW_S3_ENDPOINT_URL": self.stack.s3_url}
        env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"  # no huey job-queue processes
        env.pop("MLFLOW_TRACKING_URI")
        return command, env
