"""The one place the component image reference is defined: `<registry>/kfp-mlops:<version>`.

The registry is chosen at compile time (`KFP_MLOPS_REGISTRY`); the tag is the package
version, never `:latest`, so a compiled spec names exactly the image it was built for.
"""

import os
from importlib.metadata import PackageNotFoundError, version

DEFAULT_REGISTRY = "ghcr.io/kfp-mlops"


def package_version() -> str:
    """The installed kfp-mlops version."""
    try:
        return version("kfp-mlops")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0.0.0+unknown"


def image_reference(registry: str | None = None, name: str = "kfp-mlops") -> str:
    """The image every component runs in (or, by `name`, another image built beside it)."""
    registry = (registry or os.environ.get("KFP_MLOPS_REGISTRY") or DEFAULT_REGISTRY).rstrip("/")
    return f"{registry}/{name}:{package_version()}"


IMAGE = image_reference()
# The MLflow tracking server image the manifests run (Dockerfile target `mlflow-server`).
MLFLOW_SERVER_IMAGE = image_reference(name="kfp-mlops-mlflow")
