"""The reference data URI: the one given, or the `dataset_uri` tag of the model's champion."""

import os
from dataclasses import dataclass

from components._shared.errors import DataError, ServiceError
from components._shared.settings import MLFLOW_URI_ENV, mlflow_tracking_uri

ALIAS = "champion"
# Fail in seconds when MLflow is down (the pipeline retries the step); values already set win.
CLIENT_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "15"}


@dataclass(frozen=True)
class Reference:
    """Where the reference data is and how it was found."""

    uri: str
    source: str  # "given" or "champion"
    model_version: int | None = None
    dataset_sha256: str | None = None


def _no_champion(model_name: str, why: str) -> DataError:
    return DataError(
        f"no reference data for {model_name!r}: {why}; give reference_uri or train a champion "
        "first (the training pipeline tags it with dataset_uri)"
    )


def resolve_reference(model_name: str, reference_uri: str) -> Reference:
    """The reference data: `reference_uri` when given, else the champion's training snapshot.

    Args:
        model_name: Registered model whose `@champion` version's `dataset_uri` tag is used.
        reference_uri: Explicit reference data URI; empty means "ask the champion".

    Returns:
        The URI and where it came from (with the champion's version and dataset hash).

    Raises:
        DataError: No model, no champion alias, or a champion without a `dataset_uri` tag.
        ServiceError: MLflow is not configured or does not answer.
    """
    if reference_uri.strip():
        return Reference(uri=reference_uri.strip(), source="given")
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException, RestException

    uri = mlflow_tracking_uri()
    for key, value in CLIENT_ENV.items():
        os.environ.setdefault(key, value)
    try:
        version = MlflowClient(tracking_uri=uri, registry_uri=uri).get_model_version_by_alias(
            model_name, ALIAS
        )
    except RestException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise _no_champion(model_name, f"it has no @{ALIAS} version") from exc
        raise _service_error(uri, exc) from exc
    except MlflowException as exc:
        raise _service_error(uri, exc) from exc
    tags = version.tags or {}
    if not tags.get("dataset_uri"):
        why = f"its @{ALIAS} (version {version.version}) has no dataset_uri tag"
        raise _no_champion(model_name, why)
    return Reference(
        uri=tags["dataset_uri"],
        source=ALIAS,
        model_version=int(version.version),
        dataset_sha256=tags.get("dataset_sha256"),
    )


def _service_error(uri: str, exc: Exception) -> ServiceError:
    return ServiceError(
        f"MLflow at {uri} ({MLFLOW_URI_ENV}) did not answer while looking up the champion "
        f"({type(exc).__name__}: {str(exc)[:300]}); is the stack up (`kfp-mlops stack status`)?"
    )
