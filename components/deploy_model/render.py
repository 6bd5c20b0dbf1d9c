"""The InferenceService (serving.kserve.io/v1beta1) for one registered version: pure rendering.

The predictor is a custom container (the project image running `kfp-mlops serve`), so KServe
needs no runtime for our skops models. Service addresses reach the container from the
kfp-mlops-config ConfigMap and credentials from a Secret, by name only: no value is rendered.
"""

import re
from dataclasses import dataclass

from components._shared.errors import ConfigError, one_of
from components._shared.registry.signing import (
    PUBLIC_KEY_CONFIG_MAP,
    PUBLIC_KEY_MOUNT,
    PUBLIC_KEY_NAME,
)
from components._shared.settings import MODEL_PUBLIC_KEY_ENV, MODEL_SHA256_ENV
from components.deploy_model.kube import API_VERSION, KIND

# serving.kserve.io/deploymentMode values: Knative (Serverless) and the plain Deployment mode,
# called RawDeployment before KServe 0.20 and Standard since (same controller path).
SERVERLESS, STANDARD, RAW = "Serverless", "Standard", "RawDeployment"
MODES = (SERVERLESS, STANDARD, RAW)
MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
# Prediction logging: KServe's payload logger to the log sink, the server's own log, or none.
KSERVE_LOGGER, BUILTIN_LOG, NO_LOG = "kserve-logger", "builtin", "off"
LOG_MODES = (KSERVE_LOGGER, BUILTIN_LOG, NO_LOG)
PORT = 8080  # KServe's container port convention
CONTAINER = "kserve-container"
# Our annotations and pod labels. The pod labels select the canary's series in Prometheus
# (a labelmap of pod labels turns kfp-mlops/model-version into kfp_mlops_model_version).
MODEL_NAME_KEY = "kfp-mlops/model-name"
MODEL_VERSION_KEY = "kfp-mlops/model-version"
MODEL_SHA_KEY = "kfp-mlops/model-sha256"
CLIENT_KEY = "kfp-mlops/client"  # the pod label manifests/ admits to MLflow and MinIO
STABLE_VERSION_KEY = "kfp-mlops/stable-version"  # the version that serves all traffic
CONFIG_MAP = "kfp-mlops-config"  # same names as pipelines/task_settings.py and manifests/
READONLY_SECRET = "kfp-mlops-s3-readonly"
# The server's own prediction log writes to S3: the prediction writer's user, which may only
# put under predictions/ (manifests/README.md, "Storage roles"); the model still loads
# through MLflow's artifact proxy. With the payload logger (the default) it stays read-only.
WRITER_SECRET = "kfp-mlops-s3-predictions"
# Every rendered model server carries this pod label: manifests/mesh selects them all by it.
COMPONENT_KEY, COMPONENT = "app.kubernetes.io/component", "model-server"
# Without a mesh, the server checks a bearer token: the Secret's key `token` (one accepted token
# a line; the server reads the file again when the kubelet updates it after a rotation).
TOKEN_DIR, TOKEN_KEY = "/var/run/secrets/kfp-mlops/auth", "token"
TOKEN_VOLUME = "auth-token"
# Pod Security "restricted" (checked by manifests/podsecurity.py): the root filesystem is
# read-only, so MLflow's artifact downloads and HOME's caches go to an emptyDir at /tmp.
TMP_VOLUME, TMP_DIR, TMP_SIZE = "tmp", "/tmp", "512Mi"
# Model signatures: a deploy step that verifies with a public key renders a predictor that
# verifies with the same one (the ConfigMap of components/_shared/registry/signing.py, read-only).
PUBLIC_KEY_VOLUME = "model-signing-public"
_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|[KMGTPE]i?)?$")


@dataclass(frozen=True)
class Target:
    """One registered version to serve, and how."""

    service: str  # InferenceService name
    namespace: str
    model_name: str
    version: int
    sha256: str
    image: str
    service_account: str
    deployment_mode: str
    prediction_log: str
    log_sink_url: str
    resources: dict  # {"requests": {"cpu":..,"memory":..}, "limits": {...}}
    min_replicas: int = 1
    auth_token_secret: str = ""  # Secret with key `token`; "" = no token (a mesh, or none)
    verify_signatures: bool = False  # mount the model-signing public key, point the server at it
    # A second version predicting the same rows off the request path (serve --shadow);
    # None: no shadow. Its file is pinned like the primary's.
    shadow_version: int | None = None
    shadow_sha256: str = ""


def check_target(target: Target, canary_traffic_percent: int) -> None:
    """Refuse settings KServe would reject or silently ignore, naming the way out."""
    if not _DNS_LABEL.match(target.service):
        raise ConfigError(
            f"service_name {target.service!r} is not a DNS label (lowercase letters, digits, "
            "'-', at most 63 characters, starting with a letter)"
        )
    if target.auth_token_secret and not _DNS_LABEL.match(target.auth_token_secret):
        raise ConfigError(
            f"auth_token_secret {target.auth_token_secret!r} is not a Secret name (lowercase "
            "letters, digits, '-'); name the Secret holding the key `token`, or leave it empty"
        )
    if target.deployment_mode not in MODES:
        raise one_of("deployment_mode", target.deployment_mode, MODES)
    if target.prediction_log not in LOG_MODES:
        raise one_of("prediction_log", target.prediction_log, LOG_MODES)
    if target.prediction_log == KSERVE_LOGGER and not target.log_sink_url.startswith("http"):
        raise ConfigError(
            f"prediction_log {KSERVE_LOGGER!r} needs log_sink_url, the log sink Service's URL "
            "(e.g. http://kfp-mlops-log-sink.<namespace>.svc.cluster.local/)"
        )
    if not 0 <= canary_traffic_percent < 100:
        raise ConfigError(
            f"canary_traffic_percent {canary_traffic_percent} is outside 0..99; 0 deploys "
            "without a canary"
        )
    if canary_traffic_percent and target.deployment_mode == RAW:
        raise ConfigError(
            f"canary_traffic_percent={canary_traffic_percent} with deployment_mode "
            f"{RAW!r}: KServe ignores canaryTrafficPercent there (all traffic would go to the "
            f"new version at once); use {STANDARD!r} (spec.canary[], traffic by replica count) "
            f"or {SERVERLESS!r} (Knative), or set canary_traffic_percent=0"
        )
    for part in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            value = str((target.resources.get(part) or {}).get(resource, ""))
            if not _QUANTITY.match(value):
                raise ConfigError(
                    f"resources.{part}.{resource} {value!r} is not a Kubernetes quantity "
                    "like '500m', '1' or '1Gi'"
                )


def predictor(target: Target) -> dict:
    """The predictor spec serving `target.version` (a custom container, Prometheus scraped)."""
    args = ["serve", f"models:/{target.model_name}/{target.version}"]
    args += ["--host", "0.0.0.0", "--port", str(PORT)]
    if target.prediction_log != BUILTIN_LOG:
        args.append("--no-log")  # the payload logger (or nobody) records predictions
    if target.auth_token_secret:
        args += ["--auth-token-file", f"{TOKEN_DIR}/{TOKEN_KEY}"]
    if target.shadow_version is not None:
        args += ["--shadow", f"models:/{target.model_name}/{target.shadow_version}"]
        args += ["--shadow-sha256", target.shadow_sha256]
        if target.prediction_log == KSERVE_LOGGER:  # the sink records the shadow's rows too
            args += ["--shadow-log-url", target.log_sink_url]
    spec: dict = {
        "serviceAccountName": target.service_account,
        "minReplicas": target.min_replicas,
        # kfp-mlops/client: admitted by MLflow's NetworkPolicy (the model loads through its
        # artifact proxy) and MinIO's (a builtin prediction log writes there).
        "labels": {
            MODEL_NAME_KEY: target.model_name,
            MODEL_VERSION_KEY: str(target.version),
            CLIENT_KEY: "true",
            COMPONENT_KEY: COMPONENT,
        },
        "annotations": {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(PORT),
            "prometheus.io/path": "/metrics",
            MODEL_SHA_KEY: target.sha256,
        },
        # Pod level, so it holds for the sidecars KServe and Knative add as well.
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [_container(target, args)],
        "volumes": [{"name": TMP_VOLUME, "emptyDir": {"sizeLimit": TMP_SIZE}}],
    }
    if target.auth_token_secret:
        spec["volumes"].append(_token_volume(target.auth_token_secret))
        spec["containers"][0]["volumeMounts"].append(
            {"name": TOKEN_VOLUME, "mountPath": TOKEN_DIR, "readOnly": True}
        )
    if target.verify_signatures:
        config_map = {"name": PUBLIC_KEY_CONFIG_MAP}
        spec["volumes"].append({"name": PUBLIC_KEY_VOLUME, "configMap": config_map})
        spec["containers"][0]["volumeMounts"].append(
            {"name": PUBLIC_KEY_VOLUME, "mountPath": PUBLIC_KEY_MOUNT, "readOnly": True}
        )
        spec["containers"][0]["env"].append(
            {"name": MODEL_PUBLIC_KEY_ENV, "value": f"{PUBLIC_KEY_MOUNT}/{PUBLIC_KEY_NAME}"}
        )
    if target.deployment_mode != SERVERLESS:
        spec["name"] = f"v{target.version}"  # Standard's spec.canary[] needs named predictors
    if target.prediction_log == KSERVE_LOGGER:
        spec["logger"] = {"mode": "all", "url": target.log_sink_url}
    return spec


def _token_volume(secret: str) -> dict:
    # Only the key `token`; the pod runs as a non-root user, so the file keeps the default
    # world-readable mode inside this pod's own volume.
    items = [{"key": TOKEN_KEY, "path": TOKEN_KEY}]
    return {"name": TOKEN_VOLUME, "secret": {"secretName": secret, "items": items}}


def _container(target: Target, args: list[str]) -> dict:
    def from_config(name: str) -> dict:
        return {"name": name, "valueFrom": {"configMapKeyRef": {"name": CONFIG_MAP, "key": name}}}

    secret = WRITER_SECRET if target.prediction_log == BUILTIN_LOG else READONLY_SECRET

    def from_secret(name: str) -> dict:
        ref = {"name": secret, "key": name}
        return {"name": name, "valueFrom": {"secretKeyRef": ref}}

    env = [
        {"name": "KFP_MLOPS_MODEL_NAME", "value": target.model_name},
        {"name": "KFP_MLOPS_MODEL_VERSION", "value": str(target.version)},
        {"name": MODEL_SHA256_ENV, "value": target.sha256},
        {"name": "MLFLOW_DISABLE_TELEMETRY", "value": "true"},
        {"name": "HOME", "value": TMP_DIR},  # the image's HOME is on the read-only root
        from_config("MLFLOW_TRACKING_URI"),
        from_config("AWS_ENDPOINT_URL_S3"),
        from_config("AWS_DEFAULT_REGION"),
        from_secret("AWS_ACCESS_KEY_ID"),
        from_secret("AWS_SECRET_ACCESS_KEY"),
    ]
    return {
        "name": CONTAINER,
        "image": target.image,
        "command": ["kfp-mlops"],
        "args": args,
        "ports": [{"containerPort": PORT, "protocol": "TCP"}],
        "env": env,
        "resources": {k: dict(v) for k, v in target.resources.items()},
        "readinessProbe": {"httpGet": {"path": "/v2/health/ready", "port": PORT}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "runAsNonRoot": True,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": TMP_VOLUME, "mountPath": TMP_DIR}],
    }


def inference_service(target: Target, *, stable_version: int, spec: dict) -> dict:
    """The whole object around a spec; `stable_version` is the one serving all traffic."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": target.service,
            "namespace": target.namespace,
            "labels": {"app.kubernetes.io/part-of": "kfp-mlops", MODEL_NAME_KEY: target.model_name},
            "annotations": {
                MODE_ANNOTATION: target.deployment_mode,
                MODEL_NAME_KEY: target.model_name,
                MODEL_VERSION_KEY: str(target.version),
                MODEL_SHA_KEY: target.sha256,
                STABLE_VERSION_KEY: str(stable_version),
            },
        },
        "spec": spec,
    }


def direct(target: Target) -> dict:
    """All traffic to `target.version` at once (first deploy, or no canary asked for)."""
    return inference_service(
        target, stable_version=target.version, spec={"predictor": predictor(target)}
    )


def with_canary(target: Target, percent: int, current: dict) -> dict:
    """`percent` of traffic to `target.version`, the rest to what `current` serves.

    Serverless: the new predictor with canaryTrafficPercent (Knative splits by revision).
    Standard: the current predictor stays, the new one is spec.canary[0]; KServe splits by
    replica count, so 5 % beside one stable replica is one canary pod beside one stable pod.
    """
    stable = int(current["metadata"]["annotations"][STABLE_VERSION_KEY])
    new = predictor(target)
    if target.deployment_mode == SERVERLESS:
        spec = {"predictor": new | {"canaryTrafficPercent": percent}}
    else:
        spec = {
            "predictor": current["spec"]["predictor"],
            "canary": [{"predictor": new, "trafficPercent": percent}],
        }
    return inference_service(target, stable_version=stable, spec=spec)


def promotion_patch(target: Target, canary: dict) -> dict:
    """The merge patch that sends all traffic to the canary's version."""
    notes = {STABLE_VERSION_KEY: str(target.version)}
    if target.deployment_mode == SERVERLESS:
        spec = {"predictor": {"canaryTrafficPercent": None}}  # null: the field goes
    else:
        spec = {"predictor": canary["spec"]["canary"][0]["predictor"], "canary": None}
    return {"metadata": {"annotations": notes}, "spec": spec}


def rollback_patch(target: Target, stable: int) -> dict:
    """The merge patch that sends all traffic back to the stable version."""
    notes = {STABLE_VERSION_KEY: str(stable)}
    if target.deployment_mode == SERVERLESS:
        # Knative keeps the canary revision at 0 %; the previous rolled-out one serves all.
        spec: dict = {"predictor": {"canaryTrafficPercent": 0}}
    else:
        spec = {"canary": None}
    return {"metadata": {"annotations": notes}, "spec": spec}


def stable_version(current: dict | None) -> int | None:
    """The version an existing InferenceService of ours serves to all traffic."""
    if current is None:
        return None
    value = (current.get("metadata", {}).get("annotations") or {}).get(STABLE_VERSION_KEY)
    return int(value) if value and value.isdigit() else None
