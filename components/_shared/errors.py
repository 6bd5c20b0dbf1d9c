"""Errors that name the problem and the way out; the CLI maps them to exit codes."""


class KfpMlopsError(Exception):
    """Base of every error this project raises on purpose."""


class DataError(KfpMlopsError, ValueError):
    """The input data is missing, unreadable or not what the pipeline was told to expect."""


class ConfigError(KfpMlopsError, ValueError):
    """A parameter, suite, estimator or threshold is invalid."""


class ServiceError(KfpMlopsError, RuntimeError):
    """An outside service (S3, MLflow) is not configured or does not answer."""


def one_of(kind: str, value: object, valid: "list[str] | set[str] | dict") -> ConfigError:
    """Build the house error for a name that is not in a registry, listing the valid keys."""
    return ConfigError(f"unknown {kind} {value!r}; expected one of {sorted(valid)}")
