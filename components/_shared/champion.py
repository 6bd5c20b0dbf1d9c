"""A registered model version by alias (`@champion` by default), loaded from MLflow with skops."""

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components._shared.errors import ConfigError, DataError, ServiceError
from components._shared.model_io import load_model
from components._shared.settings import MLFLOW_URI_ENV, mlflow_tracking_uri

ALIAS = "champion"
# An unreachable server should fail in seconds, not after MLflow's default minutes of retries
# (the pipeline retries the whole step instead); no progress bars in step logs.
# Values already in the environment win.
CLIENT_ENV = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "15",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}


@dataclass(frozen=True)
class Champion:
    """The registered model version behind the champion alias, or why it cannot be used."""

    version: int
    model: Any | None  # None when the version could not be loaded
    problem: str | None = None  # why model is None, for the report


@contextmanager
def _client_env() -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in CLIENT_ENV}
    for key, value in CLIENT_ENV.items():
        os.environ.setdefault(key, value)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)


def _service_error(uri: str, exc: Exception) -> ServiceError:
    from mlflow.exceptions import RestException

    what = "answered with an error" if isinstance(exc, RestException) else "did not answer"
    return ServiceError(
        f"MLflow at {uri} ({MLFLOW_URI_ENV}) {what} while looking up the champion "
        f"({type(exc).__name__}: {str(exc)[:300]}); is the stack up (`kfp-mlops stack status`)?"
    )


def _champion_version(client: Any, uri: str, model_name: str, alias: str = ALIAS) -> int | None:
    from mlflow.exceptions import MlflowException, RestException

    try:
        return int(client.get_model_version_by_alias(model_name, alias).version)
    except RestException as exc:
        # The server answered: a missing model or alias is the expected first run.
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        if exc.error_code == "INVALID_PARAMETER_VALUE" and "alias" in str(exc).lower():
            return None
        raise _service_error(uri, exc) from exc
    except MlflowException as exc:
        raise _service_error(uri, exc) from exc


def _load_version(uri: str, model_name: str, version: int) -> Champion:
    import mlflow.artifacts
    from mlflow.exceptions import MlflowException
    from mlflow.models import Model

    # Our own temporary folder: MLflow would otherwise leave a copy of the model in /tmp.
    with tempfile.TemporaryDirectory(prefix="kfp-mlops-champion-") as tmp:
        try:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{model_name}/{version}",
                dst_path=tmp,
                tracking_uri=uri,
                registry_uri=uri,
            )
        except MlflowException as exc:
            raise _service_error(uri, exc) from exc
        flavor = Model.load(local).flavors.get("sklearn")
        if flavor is None:
            return Champion(version, None, f"version {version} has no sklearn flavor")
        if flavor.get("serialization_format") != "skops":
            return Champion(
                version,
                None,
                f"version {version} is saved as {flavor.get('serialization_format')!r}; only "
                "skops models are loaded (unpickling a registry file can run arbitrary code)",
            )
        try:
            # Our allow-list, not the one stored beside the model: a crafted MLmodel file
            # could trust any type (which is also why mlflow.sklearn.load_model is not used).
            model = load_model(Path(local) / flavor["pickled_model"])
        except Exception as exc:  # skops raises many types for foreign or corrupt files
            return Champion(version, None, f"version {version} cannot be loaded: {exc}")
    return Champion(version, model)


def load_champion(model_name: str, alias: str = ALIAS) -> Champion | None:
    """The model behind `models:/<model_name>@<alias>`, or None when there is none yet.

    Raises:
        ServiceError: MLflow is not configured or does not answer (never read as "no champion").
    """
    from mlflow import MlflowClient

    uri = mlflow_tracking_uri()
    with _client_env():
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        version = _champion_version(client, uri, model_name, alias)
        if version is None:
            return None
        return _load_version(uri, model_name, version)


def load_model_uri(model_uri: str) -> Champion | None:
    """A model by URI: `models:/NAME@ALIAS`, `models:/NAME/VERSION`, or a local .skops file.

    Returns:
        The loaded model (version 0 for a file), or None when the alias is not set yet.

    Raises:
        ConfigError: A URI in none of these forms, or a version that is not a number.
        DataError: A local file that does not exist or cannot be loaded.
        ServiceError: MLflow is not configured or does not answer.
    """
    if not model_uri.startswith("models:/"):
        path = Path(model_uri)
        if not path.is_file():
            raise DataError(
                f"model {model_uri!r} is neither models:/NAME@ALIAS, models:/NAME/VERSION "
                "nor an existing .skops file"
            )
        try:
            return Champion(0, load_model(path))
        except Exception as exc:  # skops raises many types for foreign or corrupt files
            raise DataError(f"cannot load the model file {model_uri}: {exc}") from exc
    name, at, alias = model_uri.removeprefix("models:/").partition("@")
    if at:
        return load_champion(name, alias)
    name, _, version = name.rpartition("/")
    if not name or not version.isdigit():
        raise ConfigError(
            f"model URI {model_uri!r} is not models:/NAME@ALIAS or models:/NAME/VERSION"
        )
    uri = mlflow_tracking_uri()
    with _client_env():
        return _load_version(uri, name, int(version))
