"""The one redaction of credentials: every message, log line and report that names a service.

Two kinds of secret reach our text: a `user:password@` part of a service URI (an MLflow
tracking URI may carry one), and the values of the credential variables in the environment
(S3 keys, MLflow passwords and tokens), which an error from a library may echo back.
"""

import os
import re

MASK = "***"
# Variables whose values are credentials wherever they appear (names from boto3/minio, MLflow
# and the KFP client).
SECRET_ENVS = (
    "AWS_SECRET_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SESSION_TOKEN",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_CLIENT_CERT_PATH",
    "KF_PIPELINES_TOKEN",
    "KFP_MLOPS_WEBHOOK_URL",
)
# Short values would mask ordinary words; real keys are long.
MIN_SECRET_LENGTH = 8
# scheme://userinfo@ — userinfo is everything up to the last "@" before the host.
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^/\s@]+)@")


def secret_values(environ: "os._Environ[str] | dict[str, str] | None" = None) -> list[str]:
    """The credential values set in the environment, longest first (so none is half-masked)."""
    env = os.environ if environ is None else environ
    values = {env.get(name, "") for name in SECRET_ENVS}
    return sorted((v for v in values if len(v) >= MIN_SECRET_LENGTH), key=len, reverse=True)


def redact_uri(uri: str) -> str:
    """A service URI without its `user:password@` part, safe to print."""
    return _USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", uri)


def redact(text: object, environ: "dict[str, str] | None" = None) -> str:
    """Text with every URI userinfo and every credential value masked.

    Args:
        text: What is about to be printed, logged or stored.
        environ: Another environment whose credentials are masked too (e.g. the service
            settings a runner hands its tasks but does not hold itself).
    """
    out = redact_uri(str(text))
    values = secret_values() + (secret_values(environ) if environ else [])
    for value in sorted(set(values), key=len, reverse=True):
        out = out.replace(value, MASK)
    return out
