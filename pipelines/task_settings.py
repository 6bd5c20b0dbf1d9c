"""Per-task platform settings: service env from Kubernetes, caching, retries, resources.

Only names of Secrets, ConfigMaps and keys appear here (and so in compiled specs); the
values live in the cluster (manifests/) or, locally, in the embedded stack's environment.
kfp.local accepts and ignores the kfp-kubernetes settings.
"""

from kfp import kubernetes
from kfp.dsl import PipelineTask

from components._shared.registry.signing import (
    PUBLIC_KEY_CONFIG_MAP,
    PUBLIC_KEY_MOUNT,
    SIGNING_MOUNT,
    SIGNING_SECRET,
)
from components._shared.settings import MODEL_PUBLIC_KEY_ENV, MODEL_SIGNING_KEY_ENV
from components._shared.verdicts.pushgateway import PIPELINE_ENV, PUSHGATEWAY_ENV

S3_SECRET = "kfp-mlops-s3"
S3_SECRET_KEYS = {
    "AWS_ACCESS_KEY_ID": "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY": "AWS_SECRET_ACCESS_KEY",
}
CONFIG_MAP = "kfp-mlops-config"
CONFIG_MAP_KEYS = {
    "AWS_ENDPOINT_URL_S3": "AWS_ENDPOINT_URL_S3",
    "AWS_DEFAULT_REGION": "AWS_DEFAULT_REGION",
    "MLFLOW_TRACKING_URI": "MLFLOW_TRACKING_URI",
}
# Deploy only: where Prometheus answers (the canary judge's numbers), same ConfigMap.
PROMETHEUS_KEYS = {"KFP_MLOPS_PROMETHEUS_URL": "KFP_MLOPS_PROMETHEUS_URL"}
# Gates: where they push their figures. Mapped optional: a cluster whose ConfigMap lacks the
# key still runs (the variable is unset and nothing is pushed), as an empty value does. The
# spec's `configMapAsEnv[].optional: true` becomes the env var's ConfigMapKeySelector.Optional
# (kubeflow/pipelines backend/src/v2/driver, extendPodSpecPatch), which Kubernetes reads as
# "the ConfigMap or its key need not be defined".
PUSHGATEWAY_KEYS = {PUSHGATEWAY_ENV: PUSHGATEWAY_ENV}
# Model signatures (components/_shared/registry/signing.py). The private key is a Secret mounted as
# a volume into the register step alone; the public key a ConfigMap mounted into every step that
# loads a registered model. The paths the code reads come from kfp-mlops-config (keys named like the
# variables), so locally the embedded stack's own paths apply: kfp.local ignores these kfp-
# kubernetes settings, but would apply a literal env value.
SIGNING_KEYS = {MODEL_SIGNING_KEY_ENV: MODEL_SIGNING_KEY_ENV}
PUBLIC_KEY_KEYS = {MODEL_PUBLIC_KEY_ENV: MODEL_PUBLIC_KEY_ENV}


def step(
    task: PipelineTask,
    name: str,
    *,
    s3: bool = False,
    mlflow: bool = False,
    reads_outside_state: bool = False,
    retries: int = 0,
    memory: str = "1Gi",
    prometheus: bool = False,
    pipeline: str = "",
    gate: bool = False,
    loads_models: bool = False,
    signs_models: bool = False,
) -> PipelineTask:
    """Attach the settings every task gets, and those its kind of step needs.

    A gate (`gate=True`, which needs `pipeline`) gets the Pushgateway address and, for its
    verdict record, the S3 settings. A step that loads a registered model
    (`loads_models=True`) gets the public key it verifies signatures with; the register step
    (`signs_models=True`) alone gets the private key.
    """
    if gate and not pipeline:
        raise ValueError(f"gate step {name!r}: pass pipeline=<the pipeline's name>")
    s3 = s3 or gate
    task.set_display_name(name)
    task.set_cpu_request("250m").set_cpu_limit("2")
    task.set_memory_request(memory).set_memory_limit(memory)
    task.set_env_variable("MLFLOW_DISABLE_TELEMETRY", "true")
    if pipeline:
        # The `pipeline` label of what the task pushes and records.
        task.set_env_variable(PIPELINE_ENV, pipeline)
    if reads_outside_state:
        # The same parameters can meet different data or a different champion.
        task.set_caching_options(enable_caching=False)
    if retries:
        # Short backoff: KFP cannot tell a network blip from bad input, and both retry.
        task.set_retry(
            num_retries=retries,
            backoff_duration="5s",
            backoff_factor=2.0,
            backoff_max_duration="60s",
        )
    if s3 or mlflow:
        kubernetes.use_config_map_as_env(
            task, config_map_name=CONFIG_MAP, config_map_key_to_env=CONFIG_MAP_KEYS
        )
    if prometheus:
        kubernetes.use_config_map_as_env(
            task, config_map_name=CONFIG_MAP, config_map_key_to_env=PROMETHEUS_KEYS
        )
    if gate:
        kubernetes.use_config_map_as_env(
            task,
            config_map_name=CONFIG_MAP,
            config_map_key_to_env=PUSHGATEWAY_KEYS,
            optional=True,
        )
    if s3:
        kubernetes.use_secret_as_env(task, secret_name=S3_SECRET, secret_key_to_env=S3_SECRET_KEYS)
    if loads_models:
        kubernetes.use_config_map_as_volume(
            task, config_map_name=PUBLIC_KEY_CONFIG_MAP, mount_path=PUBLIC_KEY_MOUNT
        )
        kubernetes.use_config_map_as_env(
            task, config_map_name=CONFIG_MAP, config_map_key_to_env=PUBLIC_KEY_KEYS
        )
    if signs_models:
        kubernetes.use_secret_as_volume(task, secret_name=SIGNING_SECRET, mount_path=SIGNING_MOUNT)
        kubernetes.use_config_map_as_env(
            task, config_map_name=CONFIG_MAP, config_map_key_to_env=SIGNING_KEYS
        )
    return task
