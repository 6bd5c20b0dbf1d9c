"""The one module that talks to Kubernetes: InferenceServices through the `kubernetes` client.

Credentials are never parameters: on a cluster the pod's service account (in-cluster config),
elsewhere a kubeconfig (KUBECONFIG, else ~/.kube/config). Every refusal the API server sends
becomes an error naming the object, the verb and the way out.
"""

import os
import time
from dataclasses import dataclass

from components._shared.errors import ConfigError, ServiceError
from components._shared.redact import redact

GROUP, VERSION = "serving.kserve.io", "v1beta1"
PLURAL, KIND = "inferenceservices", "InferenceService"
API_VERSION = f"{GROUP}/{VERSION}"
FIELD_MANAGER = "kfp-mlops"
# Strict: the API server refuses (400) a field it would otherwise drop with only a warning, so
# a misspelled field fails the step instead of silently not being applied.
# The Role in manifests/base/deploy/ that grants exactly what this module does.
DEPLOY_ROLE = "kfp-mlops-deploy"
RBAC_HINT = (
    f"apply the Role {DEPLOY_ROLE} and its RoleBinding for the pipeline's service account "
    "(kubectl apply -k manifests/overlays/<your overlay>)"
)
NO_CLUSTER = (
    "no Kubernetes cluster is configured: the deploy step runs on a cluster with its pod's "
    "service account (in-cluster config), or elsewhere with a kubeconfig (set KUBECONFIG or "
    "write ~/.kube/config for a cluster that runs KServe)"
)
WATCH_CHUNK_S = 30  # a watch is re-opened this often, so a silently dropped stream is noticed


class KubeError(ServiceError):
    """The Kubernetes API refused, failed, or an InferenceService did not become ready."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status  # the API server's HTTP status, when it answered


class KubeForbiddenError(KubeError):
    """RBAC refused the request: the pipeline's service account lacks the deploy Role."""


@dataclass(frozen=True)
class Readiness:
    """Whether an InferenceService has reconciled its latest spec and is Ready, and why not."""

    ready: bool
    reconciled: bool  # status.observedGeneration == metadata.generation
    conditions: tuple[dict, ...]

    def describe(self) -> str:
        """The conditions as `Type=Status (Reason: message)`, for messages and reports."""
        if not self.reconciled:
            prefix = "the controller has not observed the latest generation yet; "
        else:
            prefix = ""
        parts = [
            f"{c.get('type')}={c.get('status')}"
            + (f" ({c.get('reason', '')}: {c.get('message', '')})" if c.get("reason") else "")
            for c in self.conditions
        ]
        return prefix + ("; ".join(parts) or "no conditions reported")


def readiness(obj: dict) -> Readiness:
    """Read the Ready condition of the generation the object's spec is at (pure)."""
    status = obj.get("status") or {}
    generation = (obj.get("metadata") or {}).get("generation")
    reconciled = generation is not None and status.get("observedGeneration") == generation
    conditions = tuple(status.get("conditions") or ())
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    return Readiness(ready=reconciled and ready, reconciled=reconciled, conditions=conditions)


def replacing(current: dict, desired: dict) -> dict:
    """A merge patch turning `current` into `desired` (pure): keys it lacks become null."""
    patch = {key: None for key in current if key not in desired}
    for key, value in desired.items():
        old = current.get(key)
        both = isinstance(old, dict) and isinstance(value, dict)
        patch[key] = replacing(old, value) if both else value
    return patch


SA_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


def current_namespace() -> str:
    """The pod's own namespace on a cluster, else the kubeconfig context's, else `default`."""
    try:
        with open(SA_NAMESPACE) as f:
            return f.read().strip()
    except OSError:
        pass
    from kubernetes import config

    try:
        path = os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
        _, context = config.list_kube_config_contexts(config_file=path)
    except (config.ConfigException, OSError, TypeError):
        raise KubeError(NO_CLUSTER) from None
    return (context.get("context") or {}).get("namespace") or "default"


def _configuration():
    from kubernetes import client, config

    cfg = client.Configuration()
    try:
        if os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config(client_configuration=cfg)
        else:
            # Read now, not the path the client computed when it was imported.
            path = os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
            config.load_kube_config(config_file=path, client_configuration=cfg)
    except (config.ConfigException, OSError, TypeError) as exc:
        raise KubeError(f"{NO_CLUSTER} ({type(exc).__name__}: {redact(exc)[:200]})") from None
    return cfg


class Cluster:
    """InferenceServices in one namespace, spoken to with the `kubernetes` client."""

    def __init__(self, namespace: str):
        from kubernetes import client

        self.namespace = namespace
        self.api = client.CustomObjectsApi(client.ApiClient(_configuration()))
        self.where = self.api.api_client.configuration.host

    def _call(self, verb: str, name: str, fn, *args, **kwargs):
        from kubernetes.client.exceptions import ApiException

        try:
            return fn(GROUP, VERSION, self.namespace, PLURAL, *args, **kwargs)
        except ApiException as exc:
            raise self._refusal(verb, name, exc) from None
        except Exception as exc:  # urllib3 connection errors, timeouts
            raise KubeError(
                f"the Kubernetes API at {self.where} did not answer while trying to {verb} "
                f"{KIND} {self.namespace}/{name} ({type(exc).__name__}: {redact(exc)[:200]}); "
                "is the cluster reachable from this pod?"
            ) from None

    def _refusal(self, verb: str, name: str, exc) -> KubeError:
        import json

        try:
            status = json.loads(exc.body or "{}")
        except ValueError:
            status = {}
        message = redact(status.get("message") or exc.reason)[:500]
        what = f"{verb} {KIND} {self.namespace}/{name}"
        if exc.status == 403:
            refused = f"the Kubernetes API refused to {what}: {message}; {RBAC_HINT}"
            return KubeForbiddenError(refused)
        if exc.status in (400, 422):
            return ConfigError(f"the Kubernetes API rejected {what} as invalid: {message}")
        if exc.status == 404 and status.get("details", {}).get("kind") != PLURAL:
            return KubeError(
                f"the Kubernetes API has no {PLURAL}.{GROUP} ({message}); is KServe installed "
                "on this cluster?"
            )
        return KubeError(
            f"the Kubernetes API answered {exc.status} to {what}: {message}", status=exc.status
        )

    def get(self, name: str) -> dict | None:
        """The InferenceService, or None when it does not exist."""
        from kubernetes.client.exceptions import ApiException

        try:
            return self.api.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, name
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise self._refusal("get", name, exc) from None

    def create(self, body: dict) -> dict:
        """Create the InferenceService (field manager kfp-mlops)."""
        name = body["metadata"]["name"]
        return self._call(
            "create", name, self.api.create_namespaced_custom_object, body,
            field_manager=FIELD_MANAGER, field_validation="Strict",
        )  # fmt: skip

    def patch(self, name: str, patch: dict) -> dict:
        """Merge-patch the InferenceService (null removes a field; field manager kfp-mlops)."""
        return self._call(
            "patch", name, self.api.patch_namespaced_custom_object, name, patch,
            field_manager=FIELD_MANAGER, field_validation="Strict",
        )  # fmt: skip

    def apply(self, body: dict) -> tuple[dict, bool]:
        """Create the InferenceService, or patch it to `body` if it exists; (object, created).

        The patch makes the spec exactly `body`'s: a merge patch keeps fields it does not
        name, so a field the existing spec has and `body` lacks (a canary share, a logger)
        is sent as null, which removes it.
        """
        name = body["metadata"]["name"]
        current = self.get(name)
        if current is None:
            try:
                return self.create(body), True
            except KubeError as exc:
                if exc.status != 409:  # 409: created meanwhile, so patch it instead
                    raise
                current = self.get(name) or {}
        patch = dict(body) | {"spec": replacing(current.get("spec") or {}, body.get("spec", {}))}
        return self.patch(name, patch), False

    def wait_ready(self, name: str, timeout_s: float) -> dict:
        """Wait until the latest generation is observed and Ready=True; return the object.

        Raises:
            KubeError: Not ready within `timeout_s`: names the InferenceService, its last
                conditions and the way out. KubeForbiddenError when RBAC refuses the watch.
        """
        deadline = time.monotonic() + timeout_s
        obj = self.get(name)
        if obj is None:
            raise KubeError(f"{KIND} {self.namespace}/{name} does not exist (deleted meanwhile?)")
        while not readiness(obj).ready:
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._not_ready(name, obj, timeout_s)
            obj = self._watch_once(name, obj, min(left, WATCH_CHUNK_S))
        return obj

    def _watch_once(self, name: str, obj: dict, seconds: float) -> dict:
        """Follow the object's changes for up to `seconds`; the newest version seen."""
        from kubernetes import watch

        stream = watch.Watch().stream(
            self.api.list_namespaced_custom_object, GROUP, VERSION, self.namespace, PLURAL,
            field_selector=f"metadata.name={name}",
            resource_version=obj["metadata"].get("resourceVersion"),
            timeout_seconds=max(1, int(seconds)),
            _request_timeout=seconds + 5,
        )  # fmt: skip
        try:
            for event in self._events(name, stream):
                if event["type"] == "DELETED":
                    raise KubeError(f"{KIND} {self.namespace}/{name} was deleted while waiting")
                obj = event["object"]
                if readiness(obj).ready:
                    break
        finally:
            stream.close()
        return obj

    def _events(self, name: str, stream):
        from kubernetes.client.exceptions import ApiException

        try:
            yield from stream
        except ApiException as exc:
            raise self._refusal("watch", name, exc) from None
        except Exception as exc:  # a dropped connection: the caller re-reads and re-watches
            if isinstance(exc, KubeError):
                raise
            return

    def _not_ready(self, name: str, obj: dict, timeout_s: float) -> KubeError:
        state = readiness(obj).describe()
        return KubeError(
            f"{KIND} {self.namespace}/{name} (generation {obj['metadata'].get('generation')}) "
            f"was not Ready after {timeout_s:g} s: {redact(state)[:800]}. Look at "
            f"`kubectl describe inferenceservice {name} -n {self.namespace}` and the predictor "
            "pod's events and logs; fix the cause, or raise ready_timeout_s if it only starts "
            "slowly"
        )
