"""The deploy pipeline: a registered version → InferenceService → canary → promote or roll back."""

from kfp import dsl

from components.deploy_model.component import deploy_model
from pipelines.exit_handler import notified
from pipelines.task_settings import step

PIPELINE = "deploy"  # the pipeline's name, and the `pipeline` label its gate pushes


def deploy_steps(
    model_name: str = "german-credit",
    model_version: str = "champion",
    service_name: str = "german-credit",
    namespace: str = "",
    deployment_mode: str = "Serverless",
    require_approval: bool = True,
    canary_traffic_percent: int = 10,
    canary_observe_s: float = 600.0,
    canary_window_s: int = 300,
    max_canary_error_rate: float = 0.01,
    max_canary_p95_latency_ms: float = 100.0,
    min_canary_requests: int = 50,
    ready_timeout_s: float = 600.0,
    prediction_log: str = "kserve-logger",
    log_sink_url: str = "http://kfp-mlops-log-sink/",
    service_account: str = "kfp-mlops-predictor",
    cpu_request: str = "250m",
    cpu_limit: str = "1",
    memory_request: str = "512Mi",
    memory_limit: str = "1Gi",
    min_replicas: int = 1,
    auth_token_secret: str = "",
    shadow_version: str = "",
):
    """Deploy a registered version; canary, judge, promote or roll back."""
    step(
        deploy_model(
            model_name=model_name,
            model_version=model_version,
            service_name=service_name,
            namespace=namespace,
            deployment_mode=deployment_mode,
            require_approval=require_approval,
            canary_traffic_percent=canary_traffic_percent,
            canary_observe_s=canary_observe_s,
            canary_window_s=canary_window_s,
            max_canary_error_rate=max_canary_error_rate,
            max_canary_p95_latency_ms=max_canary_p95_latency_ms,
            min_canary_requests=min_canary_requests,
            ready_timeout_s=ready_timeout_s,
            prediction_log=prediction_log,
            log_sink_url=log_sink_url,
            service_account=service_account,
            cpu_request=cpu_request,
            cpu_limit=cpu_limit,
            memory_request=memory_request,
            memory_limit=memory_limit,
            min_replicas=min_replicas,
            auth_token_secret=auth_token_secret,
            shadow_version=shadow_version,
            kfp_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
        ),
        "deploy model",
        pipeline=PIPELINE,
        gate=True,
        s3=True,  # the model's S3 lease for the `production` move
        mlflow=True,
        loads_models=True,  # the version is loaded and checked before it is deployed
        prometheus=True,
        reads_outside_state=True,  # the cluster and the registry change between runs
        memory="1Gi",
    )


DESCRIPTION = (
    "Serve a registered model version on KServe as an InferenceService (the project image "
    "as a custom predictor) once it is approved (kfp-mlops approve; require_approval), wait "
    "until it is Ready, and when another version already "
    "serves, send it a canary share of traffic, judge it on error rate and p95 latency "
    "from Prometheus, then promote it (alias production) or roll it back."
)
deploy = dsl.pipeline(
    name=PIPELINE, description=DESCRIPTION + " Ends with a notification (notify)."
)(notified(deploy_steps, PIPELINE))
