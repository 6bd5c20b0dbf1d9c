"""The one redaction of credentials: every message, log line and report that names a service.

What is masked, strongest signal first:
- the values of the credential variables in this process's environment (S3 keys, MLflow
  passwords and tokens, the KFP token, the webhook URL and its path), exactly, and in the
  HTML-escaped form a Slack message gives them;
- a `user:password@` part of any URI;
- the value of an `Authorization` header and of a `Bearer` token;
- the value after `=` or `:` of a key whose name ends in a credential word
  (`AWS_SECRET_ACCESS_KEY=...`, `"password": "..."`, `?token=...`);
- tokens whose format announces them (AWS access key ids, Slack and GitHub tokens, JWTs,
  Slack webhook paths, PEM private keys).
A generic "long random-looking string" rule is not used: the messages must carry run ids,
sha256 pins and MLflow run ids, which look just like that, and a threshold would still miss
a short password. A secret with none of these marks, held by no variable here, is not found.
"""

import html
import os
import re
from urllib.parse import urlparse

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
# scheme://userinfo@ — userinfo is everything up to the last "@" before the host (a password
# may hold an unescaped "@"); whitespace, quotes and a path, query or fragment end it.
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^/?#\s\"'<>]+)@")
# A value runs to whitespace, a quote or a closing bracket (";" and "&" stay in it: a
# Slack-escaped "<" is "&lt;", and masking a little too much is the safe side).
_VALUE = r"[^\s\"'<>,)}\]]+"
_AUTHORIZATION = re.compile(
    rf"(?i)(?P<key>\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)"
    rf"(?P<scheme>(?:bearer|basic|digest|token)\s+)?(?P<value>{_VALUE})"
)
_BEARER = re.compile(r"(?i)(?P<key>\bbearer\s+)(?P<value>[A-Za-z0-9._~+/=-]{8,})")
# The key must END in a credential word: AWS_SECRET_ACCESS_KEY, client_secret, api-key and
# MLFLOW_TRACKING_PASSWORD are keys to mask; secret_name, token_count and max_tokens are not.
_CREDENTIAL_KEY = (
    r"(?:secret|password|passwd|passphrase|token|api[_-]?key|access[_-]?key(?:[_-]?id)?"
    r"|secret[_-]?key|private[_-]?key|credentials?)"
)
_KEY_VALUE = re.compile(
    rf"(?i)(?P<key>\b[\w.-]*{_CREDENTIAL_KEY}(?![\w-])[\"']?\s*[:=]\s*[\"']?)(?P<value>{_VALUE})"
)
_KNOWN_TOKENS = re.compile(
    r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"  # AWS access key id
    r"|\bxox[abposr]-[A-Za-z0-9-]{10,}"  # Slack token
    r"|\bgh[pousr]_[A-Za-z0-9]{30,}|\bgithub_pat_\w{22,}"  # GitHub token
    r"|\beyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]*"  # JWT (header.payload.signature)
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----",
    re.DOTALL,
)
_SLACK_HOOK = re.compile(r"(?P<key>hooks\.slack\.com/(?:services|workflows|triggers)/)[\w/-]+")


def secret_values(environ: "os._Environ[str] | dict[str, str] | None" = None) -> list[str]:
    """The credential values set in the environment, longest first (so none is half-masked).

    A URL-valued credential (the webhook) counts with its path and query too: a receiver or
    a library may echo the path without the host.
    """
    env = os.environ if environ is None else environ
    values = set()
    for name in SECRET_ENVS:
        value = env.get(name, "")
        values.add(value)
        if "://" in value:
            parts = urlparse(value)
            values.update((parts.path, parts.query))
    escaped = {html.escape(v, quote=False) for v in values}  # as Slack's mrkdwn carries it
    return sorted(
        (v for v in values | escaped if len(v) >= MIN_SECRET_LENGTH), key=len, reverse=True
    )


# Schemes whose "NAME@" is no userinfo: a dataset reference (dataset://NAME@sha256:HEX) names
# a version, and masking its name would hide which one an error is about.
_NO_USERINFO = ("dataset://",)


def redact_uri(uri: str) -> str:
    """A service URI without its `user:password@` part, safe to print."""
    return _USERINFO.sub(
        lambda m: m[0] if m["scheme"].lower() in _NO_USERINFO else f"{m['scheme']}{MASK}@", uri
    )


def redact(text: object, environ: "dict[str, str] | None" = None) -> str:
    """Text with every credential this module knows of masked (see the module docstring).

    Args:
        text: What is about to be printed, logged, stored or sent.
        environ: Another environment whose credentials are masked too (e.g. the service
            settings a runner hands its tasks but does not hold itself).
    """
    out = str(text)
    values = secret_values() + (secret_values(environ) if environ else [])
    # Exact values first: a pattern below could otherwise mask half of one and hide the rest.
    for value in sorted(set(values), key=len, reverse=True):
        out = out.replace(value, MASK)
    out = redact_uri(out)
    keep_key = lambda m: f"{m['key']}{MASK}"  # noqa: E731
    out = _AUTHORIZATION.sub(lambda m: f"{m['key']}{m['scheme'] or ''}{MASK}", out)
    out = _BEARER.sub(keep_key, out)
    out = _KEY_VALUE.sub(keep_key, out)
    out = _SLACK_HOOK.sub(keep_key, out)
    return _KNOWN_TOKENS.sub(MASK, out)
