"""Registered model versions, by alias or number, loaded from MLflow through the checked loader."""

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components._shared.errors import ConfigError, DataError, ServiceError
from components._shared.model_io import MODEL_FILE, REFUSED_HINT, ModelTrustError, load_bytes
from components._shared.redact import redact, redact_uri
from components._shared.registry.client import apply_client_policy, mlflow_client
from components._shared.registry.names import CHAMPION, SHA256_TAG
from components._shared.registry.signing import verify_model
from components._shared.settings import MLFLOW_URI_ENV, mlflow_tracking_uri

ALIAS = CHAMPION  # what load_champion loads unless told another alias


@dataclass(frozen=True)
class Champion:
    """The registered model version behind the champion alias, or why it cannot be used."""

    version: int
    model: Any | None  # None when the version could not be loaded
    problem: str | None = None  # why model is None, for the report
    sha256: str | None = None  # the file's, checked against the version's tag at load
    tags: dict[str, str] = field(default_factory=dict)  # the version's lineage tags


def _service_error(uri: str, exc: Exception, doing: str = "looking up the champion"):
    from mlflow.exceptions import RestException

    what = "answered with an error" if isinstance(exc, RestException) else "did not answer"
    return ServiceError(
        f"MLflow at {redact_uri(uri)} ({MLFLOW_URI_ENV}) {what} while {doing} "
        f"({type(exc).__name__}: {redact(str(exc))[:300]}); is the stack up "
        "(`kfp-mlops stack status`)?"
    )


def _not_found(exc: Exception, alias: bool) -> bool:
    """Whether MLflow answered that the model, version or alias does not exist."""
    if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
        return True
    return alias and exc.error_code == "INVALID_PARAMETER_VALUE" and "alias" in str(exc).lower()


def _version_by_alias(client: Any, uri: str, model_name: str, alias: str) -> Any | None:
    from mlflow.exceptions import MlflowException, RestException

    try:
        return client.get_model_version_by_alias(model_name, alias)
    except RestException as exc:
        # The server answered: a missing model or alias is the expected first run.
        if _not_found(exc, alias=True):
            return None
        raise _service_error(uri, exc) from exc
    except MlflowException as exc:
        raise _service_error(uri, exc) from exc


def _saved_as(local: Path) -> str:
    """How MLmodel says the model was saved, for the refusal of a version without skops."""
    from mlflow.models import Model

    try:
        flavor = Model.load(local).flavors.get("sklearn")
    except Exception:  # a missing or damaged MLmodel: the refusal stands either way
        return "an unreadable MLmodel"
    if flavor is None:
        return "no sklearn flavor"
    return f"serialization_format {flavor.get('serialization_format')!r}"


def _load(uri: str, model_name: str, model_version: Any) -> Champion:
    """Download one registered version and load it through the one loader."""
    import mlflow.artifacts
    from mlflow.exceptions import MlflowException

    version = int(model_version.version)
    where = f"models:/{model_name}/{version}"
    tags = dict(model_version.tags or {})
    expected = tags.get(SHA256_TAG)
    # Our own temporary folder: MLflow would otherwise leave a copy of the model in /tmp.
    with tempfile.TemporaryDirectory(prefix="kfp-mlops-champion-") as tmp:
        try:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=where, dst_path=tmp, tracking_uri=uri, registry_uri=uri
            )
        except MlflowException as exc:
            raise _service_error(uri, exc, f"downloading {where}") from exc
        # The fixed name, not the one MLmodel names: a crafted MLmodel could point anywhere.
        path = Path(local) / MODEL_FILE
        if not path.is_file():
            raise ModelTrustError(
                f"{where} has no {MODEL_FILE} ({_saved_as(Path(local))}); only skops models are "
                f"loaded (unpickling a registry file can run arbitrary code): {REFUSED_HINT}"
            )
        # The signature first (when a public key is configured): it covers the file and the
        # tags, so a file rewritten together with its model_sha256 tag is refused here.
        verify_model(local, tags, where)
        if not expected:
            raise ModelTrustError(
                f"{where} has no {SHA256_TAG} tag, so its file cannot be checked; refusing to "
                f"load it: {REFUSED_HINT}"
            )
        # Our class list, not the one stored beside the model: a crafted MLmodel file could
        # trust any type (which is also why mlflow.sklearn.load_model is not used).
        model = load_bytes(path.read_bytes(), sha256=expected, where=where)
    return Champion(version, model, sha256=expected, tags=tags)


def load_version(model_name: str, version: int) -> Champion:
    """One registered version, loaded only if its file matches the version's model_sha256 tag.

    Every load of a registered model goes through here (evaluation, drift, the CLI, rollback,
    serving, deploy): the signature is verified first when a public key is configured
    (signing.verify_model), then the file's sha256 is compared with the tag, then the
    classes it names with model_io.TRUSTED_TYPES, and only then is it loaded.

    Raises:
        ModelTrustError: A signature missing, made by another key or not covering the file
            and its tags (with a public key configured); no model_sha256 tag, another file
            than the recorded one, a model not saved with skops, or a type or node kind
            outside the trusted lists.
        ConfigError: No such version (names the model and version).
        ServiceError: MLflow is not configured or does not answer.
    """
    from mlflow.exceptions import MlflowException, RestException

    uri = mlflow_tracking_uri()
    client = mlflow_client(uri)
    try:
        found = client.get_model_version(model_name, str(version))
    except RestException as exc:
        if _not_found(exc, alias=False):
            raise ConfigError(
                f"models:/{model_name}/{version} does not exist; list the versions in the "
                f"MLflow UI, or name an alias such as @{CHAMPION}"
            ) from None
        raise _service_error(uri, exc, f"looking up models:/{model_name}/{version}") from exc
    except MlflowException as exc:
        raise _service_error(uri, exc, f"looking up models:/{model_name}/{version}") from exc
    return _load(uri, model_name, found)


def version_by_alias(model_name: str, alias: str = ALIAS) -> Any | None:
    """The registered version (MLflow's ModelVersion, with its tags) behind an alias, or None.

    None when the model or the alias does not exist (the expected first run).

    Raises:
        ServiceError: MLflow is not configured or does not answer (never read as "none").
    """
    uri = mlflow_tracking_uri()
    return _version_by_alias(mlflow_client(uri), uri, model_name, alias)


def load_champion(model_name: str, alias: str = ALIAS) -> Champion | None:
    """The model behind `models:/<model_name>@<alias>`, or None when there is none yet.

    Raises:
        ModelTrustError: The version's file is not the recorded one or is not trusted.
        ServiceError: MLflow is not configured or does not answer (never read as "no champion").
    """
    uri = mlflow_tracking_uri()
    found = _version_by_alias(mlflow_client(uri), uri, model_name, alias)
    return None if found is None else _load(uri, model_name, found)


def load_model_uri(model_uri: str, sha256: str | None = None) -> Champion | None:
    """A model by URI: `models:/NAME@ALIAS`, `models:/NAME/VERSION`, or a local .skops file.

    A registered version is checked against its own model_sha256 tag. A local file has no
    recorded hash: it is checked against `sha256` when given, and always against the class
    list (the user named the file and vouches for where it came from).

    Returns:
        The loaded model (version 0 for a file), or None when the alias is not set yet.

    Raises:
        ConfigError: A URI in none of these forms, a version that is not a number, or a
            sha256 given for a registered model (its tag is what is checked).
        DataError: A local file that does not exist or cannot be loaded.
        ModelTrustError: A file or version that is not the recorded one or is not trusted.
        ServiceError: MLflow is not configured or does not answer.
    """
    if not model_uri.startswith("models:/"):
        path = Path(model_uri)
        if not path.is_file():
            raise DataError(
                f"model {model_uri!r} is neither models:/NAME@ALIAS, models:/NAME/VERSION "
                "nor an existing .skops file"
            )
        return Champion(0, load_bytes(path.read_bytes(), sha256=sha256, where=model_uri))
    if sha256 is not None:
        raise ConfigError(
            f"a sha256 was given for {model_uri}: a registered version is checked against its "
            f"own {SHA256_TAG} tag; give a sha256 only with a local .skops file"
        )
    name, alias, version = registered_uri(model_uri)
    return load_champion(name, alias) if alias else load_version(name, version)


def registered_uri(model_uri: str) -> tuple[str, str, int]:
    """(name, alias, 0) of `models:/NAME@ALIAS`, or (name, "", version) of `models:/NAME/VERSION`.

    Checked before anything is asked of MLflow, so a malformed URI is said as such even where
    MLflow is not configured.

    Raises:
        ConfigError: The URI is in neither form.
    """
    name, at, alias = model_uri.removeprefix("models:/").partition("@")
    if at and name and alias:
        return name, alias, 0
    name, _, version = name.rpartition("/")
    if at or not model_uri.startswith("models:/") or not name or not version.isdigit():
        raise ConfigError(
            f"model URI {model_uri!r} is not models:/NAME@ALIAS or models:/NAME/VERSION"
        )
    return name, "", int(version)


def signature_inputs(model_uri: str) -> list[dict] | None:
    """The input signature MLflow recorded for a registered version (names and types), if any.

    Read under the one client policy and error wording, so it fails as a load does.
    Only names and types: what is loaded is still the sha-checked file.

    Raises:
        ServiceError: MLflow does not answer, or answers with an error.
    """
    from mlflow.exceptions import MlflowException
    from mlflow.models import get_model_info

    uri = mlflow_tracking_uri()
    apply_client_policy()
    try:
        signature = get_model_info(model_uri).signature
    except MlflowException as exc:
        raise _service_error(uri, exc, f"reading the signature of {model_uri}") from exc
    if signature is None or signature.inputs is None:
        return None
    return signature.inputs.to_dict()
