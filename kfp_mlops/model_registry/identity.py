"""Who acts on the registry from the CLI: a person, or a pod's service identity.

In order: KFP_MLOPS_USER (set explicitly: always wins); in a pod, the Kubernetes service
identity `system:serviceaccount:<namespace>:<name>` when the service-account namespace file
is mounted and KFP_MLOPS_SERVICE_ACCOUNT names the account (the downward API gives it:
`fieldRef: {fieldPath: spec.serviceAccountName}`), the same username the API server's audit
log records for that pod; else the login name; else "unknown" (approve, reject and promote
refuse to record nobody). A pod's login name (root, or a bare uid) names nobody, so the
service identity comes first when both are known. The service-account token is never read.
"""

import getpass
import os
from pathlib import Path

USER_ENV = "KFP_MLOPS_USER"
SERVICE_ACCOUNT_ENV = "KFP_MLOPS_SERVICE_ACCOUNT"
NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
UNKNOWN = "unknown"


def service_identity(namespace_file: Path = NAMESPACE_FILE) -> str | None:
    """`system:serviceaccount:<ns>:<name>` in a pod that says its account; else None."""
    name = os.environ.get(SERVICE_ACCOUNT_ENV, "").strip()
    if not name:
        return None
    try:
        namespace = namespace_file.read_text().strip()
    except OSError:
        return None
    return f"system:serviceaccount:{namespace}:{name}" if namespace else None


def who(namespace_file: Path = NAMESPACE_FILE) -> str:
    """The actor to record: KFP_MLOPS_USER, a pod's service identity, the login name."""
    explicit = os.environ.get(USER_ENV, "").strip()
    if explicit:
        return explicit
    service = service_identity(namespace_file)
    if service:
        return service
    try:
        return getpass.getuser() or UNKNOWN
    except (OSError, KeyError):  # no login name in a bare container (KeyError before 3.13)
        return UNKNOWN
