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


def image_reference(registry: str | None = None) -> str:
    """The image every component runs in."""
    registry = (registry or os.environ.get("KFP_MLOPS_REGISTRY") or DEFAULT_REGISTRY).rstrip("/")
    return f"{registry}/kfp-mlops:{package_version()}"


IMAGE = image_reference()
