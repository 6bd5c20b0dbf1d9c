"""Istio objects that admit only named service accounts to one InferenceService: pure rendering.

With a mesh (KServe Serverless on Knative and Istio, as in multi-user Kubeflow), identity
comes from the sidecars' mutual TLS: a caller's principal is its service account,
`<trust domain>/ns/<namespace>/sa/<name>`. Two objects per InferenceService:

- `PeerAuthentication` `<service>-mtls`, mode STRICT, except the server's own port, which also
  takes plain text so that a Prometheus outside the mesh can scrape it. A caller's principal
  is known only over mutual TLS, so a plain-text request matches no prediction rule below.
- `AuthorizationPolicy` `<service>-callers`, action ALLOW: prediction routes from the named
  principals only (plus the ingress gateway and the Knative activator, which forward external
  and scale-from-zero traffic and are themselves the place to authenticate end users); health
  and metrics routes from anyone (probes and Prometheus carry no prediction data). An ALLOW
  policy denies whatever no rule allows.

Both select the pods by `serving.kserve.io/inferenceservice=<service>`, the label KServe puts
on every pod of an InferenceService (KServe's `constants.InferenceServicePodLabelKey`).

deploy_model does not apply these: the pipeline's service account may touch only
InferenceServices (`manifests/base/deploy/role.yaml`); one that may write AuthorizationPolicies
could open any workload of the namespace. A platform engineer applies them
(`kfp-mlops mesh-policy SERVICE ... | kubectl apply -f -`); the `manifests/mesh` component
ships the same objects for every model server and the log sink at once.
"""

import re

from components._shared.errors import ConfigError
from components.deploy_model.render import PORT

API_VERSION = "security.istio.io/v1"
ISVC_POD_LABEL = "serving.kserve.io/inferenceservice"
TRUST_DOMAIN = "cluster.local"  # Istio's default trust domain (meshConfig.trustDomain)
# Who forwards traffic to a model server in KServe's Serverless mode, by the service accounts
# of a default install (Istio's ingress gateway chart; Knative Serving's `controller` account,
# which the activator runs as).
GATEWAY = "istio-system/istio-ingressgateway-service-account"
ACTIVATOR = "knative-serving/controller"
FORWARDERS = (GATEWAY, ACTIVATOR)
QUEUE_PROXY_PORT = 8012  # Knative's queue-proxy, in front of the server in Serverless mode
# The routes `kfp-mlops serve --auth-token-file` leaves open too (kfp_mlops/serve/auth.py).
OPEN_PATHS = ("/metrics", "/v2/health/live", "/v2/health/ready")
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def principal(account: str, namespace: str, trust_domain: str = TRUST_DOMAIN) -> str:
    """`NAMESPACE/ACCOUNT` (or `ACCOUNT`, in `namespace`) as an Istio principal."""
    ns, _, name = account.rpartition("/")
    ns = ns or namespace
    for part, what in ((ns, "namespace"), (name, "service account")):
        if not _NAME.match(part):
            raise ConfigError(
                f"caller {account!r}: {what} {part!r} is not a Kubernetes name (lowercase "
                "letters, digits and '-'); name callers as NAMESPACE/SERVICE_ACCOUNT"
            )
    return f"{trust_domain}/ns/{ns}/sa/{name}"


def peer_authentication(service: str, namespace: str) -> dict:
    """STRICT mutual TLS on the InferenceService's pods (plain text too on PORT, for scrapes)."""
    return {
        "apiVersion": API_VERSION,
        "kind": "PeerAuthentication",
        "metadata": _metadata(f"{service}-mtls", namespace),
        "spec": {
            "selector": {"matchLabels": {ISVC_POD_LABEL: service}},
            "mtls": {"mode": "STRICT"},
            "portLevelMtls": {str(PORT): {"mode": "PERMISSIVE"}},
        },
    }


def authorization_policy(
    service: str,
    namespace: str,
    callers: list[str],
    *,
    forwarders: tuple[str, ...] = FORWARDERS,
    trust_domain: str = TRUST_DOMAIN,
) -> dict:
    """ALLOW prediction routes from `callers` (and the forwarders); health and metrics from any."""
    if not callers:
        raise ConfigError(
            f"no caller named for {service!r}: name at least one service account that may "
            "call it (--caller NAMESPACE/SERVICE_ACCOUNT); an ALLOW policy without one would "
            "let only the gateway in"
        )
    principals = sorted({principal(c, namespace, trust_domain) for c in (*callers, *forwarders)})
    ports = [str(PORT), str(QUEUE_PROXY_PORT)]
    return {
        "apiVersion": API_VERSION,
        "kind": "AuthorizationPolicy",
        "metadata": _metadata(f"{service}-callers", namespace),
        "spec": {
            "selector": {"matchLabels": {ISVC_POD_LABEL: service}},
            "action": "ALLOW",
            "rules": [
                {"from": [{"source": {"principals": principals}}],
                 "to": [{"operation": {"ports": ports}}]},
                # Any port: Knative's autoscaler reads queue-proxy's /metrics on 9090.
                {"to": [{"operation": {"methods": ["GET"], "paths": list(OPEN_PATHS)}}]},
            ],
        },
    }  # fmt: skip


def policies(service: str, namespace: str, callers: list[str], **kwargs) -> list[dict]:
    """Both objects for one InferenceService, in the order to apply them."""
    if not _NAME.match(service):
        raise ConfigError(f"service {service!r} is not a DNS label")
    if not _NAME.match(namespace):
        raise ConfigError(f"namespace {namespace!r} is not a DNS label")
    return [
        peer_authentication(service, namespace),
        authorization_policy(service, namespace, callers, **kwargs),
    ]


def _metadata(name: str, namespace: str) -> dict:
    labels = {"app.kubernetes.io/part-of": "kfp-mlops"}
    return {"name": name, "namespace": namespace, "labels": labels}
