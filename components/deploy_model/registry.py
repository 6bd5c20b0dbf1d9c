"""Which registered version to deploy, checked: it exists, carries model_sha256, and matches it."""

from typing import Any

from components._shared.errors import ConfigError
from components._shared.registry.approvals import check_approved
from components._shared.registry.champion import SHA256_TAG, load_version
from components._shared.registry.client import Registry

NOTHING = "nothing was deployed"


def resolve(model_name: str, model_version: str) -> tuple[int, str]:
    """The version number and model_sha256 behind a version or an alias (see resolve_model)."""
    version, sha256, _model = resolve_model(model_name, model_version)
    return version, sha256


def resolve_model(model_name: str, model_version: str) -> tuple[int, str, Any]:
    """The version number, model_sha256 and loaded model behind a version number or an alias.

    The file is downloaded and checked through the one loader (sha256, then the class list)
    before anything is deployed: a version the server would refuse never reaches the cluster.

    Raises:
        ConfigError: No such model, version or alias (names the way out).
        ModelTrustError: No model_sha256 tag, or the stored file does not match it.
        ServiceError: MLflow is not configured or does not answer.
    """
    from mlflow.exceptions import MlflowException

    registry = Registry()
    wanted = str(model_version).strip().removeprefix("@")
    with registry.step(f"reading model {model_name!r}", NOTHING):
        try:
            model = registry.client.get_registered_model(model_name)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            model = None
    if model is None:
        raise ConfigError(
            f"no registered model {model_name!r} in MLflow; register one with the training "
            f"pipeline, or check model_name; {NOTHING}"
        )
    aliases = {alias: int(v) for alias, v in (model.aliases or {}).items()}
    if wanted.isdigit():
        version = int(wanted)
    elif wanted in aliases:
        version = aliases[wanted]
    else:
        raise ConfigError(
            f"model {model_name!r} has no alias {wanted!r}; give a version number or one of "
            f"its aliases {sorted(aliases)}; {NOTHING}"
        )
    # ConfigError when absent, ModelTrustError when altered
    loaded = load_version(model_name, version).model
    return version, registry.version_tags(model_name, version, NOTHING)[SHA256_TAG], loaded


def approval_step(model_name: str, version: int, required: bool, state: str = NOTHING) -> str:
    """The report's approval line; raises ApprovalError (naming `kfp-mlops approve`) without one.

    With `required` False nothing is read: the line says approval was not required.
    """
    if not required:
        return "approval: not required (require_approval=False)"
    return f"approval: v{version} {check_approved(model_name, version, state).describe()}"
