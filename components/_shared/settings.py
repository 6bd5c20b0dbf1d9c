"""Where services are: read from the environment only, never from pipeline parameters.

Locally the embedded stack (`kfp-mlops stack up`) sets these; on a cluster they come from
the Secret and ConfigMap in manifests/ through kfp-kubernetes.
"""

import os
from dataclasses import dataclass
from urllib.parse import urlparse

from components._shared.errors import ServiceError

# Standard names, so boto3, the AWS CLI and MLflow read the same variables.
S3_ENDPOINT_ENV = "AWS_ENDPOINT_URL_S3"
S3_ACCESS_KEY_ENV = "AWS_ACCESS_KEY_ID"
S3_SECRET_KEY_ENV = "AWS_SECRET_ACCESS_KEY"
S3_REGION_ENV = "AWS_DEFAULT_REGION"
MLFLOW_URI_ENV = "MLFLOW_TRACKING_URI"
# MLflow prints "View run ... at: <tracking URI>" when a run ends, user:password@ included
# (mlflow/tracking/_tracking_service/client.py, _log_url); this is its own switch to stop.
MLFLOW_QUIET_URL_ENV = "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"
# Lineage facts a build or a runner sets; absent ones are recorded as "unknown".
IMAGE_ENV = "KFP_MLOPS_IMAGE"
GIT_COMMIT_ENV = "KFP_MLOPS_GIT_COMMIT"
# The sha256 deploy_model pins a predictor to; the server refuses another file.
MODEL_SHA256_ENV = "KFP_MLOPS_MODEL_SHA256"
# Model signatures (components/_shared/registry/signing.py): the PEM EC private key registration
# signs with (the register step alone mounts it), and the PEM public key every load verifies with.
# Paths, not keys; named without "KEY" so the compiled specs' guard against literal credential-like
# env names (tests/test_manifests.py) holds where a spec sets them.
MODEL_SIGNING_KEY_ENV = "KFP_MLOPS_MODEL_SIGNING_PEM"
MODEL_PUBLIC_KEY_ENV = "KFP_MLOPS_MODEL_PUBLIC_PEM"

SETUP_HINT = "run `kfp-mlops stack up` locally, or apply manifests/ on a cluster"


@dataclass(frozen=True)
class S3Settings:
    """How to reach the S3 endpoint (credentials are kept out of repr)."""

    endpoint: str  # host:port, as the minio client wants it
    secure: bool
    access_key: str
    secret_key: str
    region: str | None

    def __repr__(self) -> str:
        return f"S3Settings(endpoint={self.endpoint!r}, secure={self.secure})"

    @property
    def url(self) -> str:
        """The endpoint as a URL, for messages."""
        return f"{'https' if self.secure else 'http'}://{self.endpoint}"


def s3_settings() -> S3Settings:
    """Read the S3 endpoint and credentials from the environment, or say what is missing."""
    missing = [
        name
        for name in (S3_ENDPOINT_ENV, S3_ACCESS_KEY_ENV, S3_SECRET_KEY_ENV)
        if not os.environ.get(name)
    ]
    if missing:
        raise ServiceError(f"S3 is not configured: set {', '.join(missing)} ({SETUP_HINT})")
    raw = os.environ[S3_ENDPOINT_ENV]
    parsed = urlparse(raw if "://" in raw else f"http://{raw}")
    if not parsed.netloc:
        raise ServiceError(f"{S3_ENDPOINT_ENV}={raw!r} is not an endpoint like http://host:port")
    return S3Settings(
        endpoint=parsed.netloc,
        secure=parsed.scheme == "https",
        access_key=os.environ[S3_ACCESS_KEY_ENV],
        secret_key=os.environ[S3_SECRET_KEY_ENV],
        region=os.environ.get(S3_REGION_ENV) or None,
    )


def mlflow_tracking_uri() -> str:
    """The MLflow tracking URI, or a clear error when none is configured.

    Whoever takes the URI talks to MLflow, so MLflow is told here not to print it: the URI
    may carry a user and password, and a task's stdout is its log.
    """
    uri = os.environ.get(MLFLOW_URI_ENV, "")
    if not uri:
        raise ServiceError(f"MLflow is not configured: set {MLFLOW_URI_ENV} ({SETUP_HINT})")
    os.environ[MLFLOW_QUIET_URL_ENV] = "true"
    return uri


def lineage_env() -> dict[str, str]:
    """The image reference and git commit this code runs from, as far as the environment says."""
    return {
        "image": os.environ.get(IMAGE_ENV) or "unknown",
        "git_commit": os.environ.get(GIT_COMMIT_ENV) or "unknown",
    }
