"""KFP wrapper of deploy_model: serve a version on KServe, canary, promote or roll back."""

from kfp import dsl

from components._shared.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def deploy_model(
    model_name: str,
    model_version: str,
    service_name: str,
    namespace: str,
    deployment_mode: str,
    require_approval: bool,
    canary_traffic_percent: int,
    canary_observe_s: float,
    canary_window_s: int,
    max_canary_error_rate: float,
    max_canary_p95_latency_ms: float,
    min_canary_requests: int,
    ready_timeout_s: float,
    prediction_log: str,
    log_sink_url: str,
    service_account: str,
    cpu_request: str,
    cpu_limit: str,
    memory_request: str,
    memory_limit: str,
    min_replicas: int,
    auth_token_secret: str,
    shadow_version: str,
    kfp_run_id: str,
    metrics: dsl.Output[dsl.Metrics],
    report: dsl.Output[dsl.Markdown],
) -> bool:
    """Deploy a registered model version as a KServe InferenceService; return whether it serves.

    Reads the version (a number or an alias) and its model_sha256 from MLflow
    (MLFLOW_TRACKING_URI) and checks the stored file against it; renders a
    serving.kserve.io/v1beta1 InferenceService whose predictor is the project image running
    `kfp-mlops serve models:/NAME/VERSION` (Prometheus scrape annotations, the payload logger or
    the built-in prediction log, the given service account); creates or merge-patches it
    (field manager kfp-mlops) with the pod's service account (in-cluster config) or KUBECONFIG;
    waits for observedGeneration == generation and Ready=True. With an existing service and
    canary_traffic_percent > 0 the version first takes that share (Serverless:
    canaryTrafficPercent; Standard: spec.canary[], split by replica count), is judged on
    error rate and p95 latency from Prometheus (KFP_MLOPS_PROMETHEUS_URL) after
    canary_observe_s, then promoted or rolled back. Promotion moves alias `production` under
    the model's lease, recorded first; a rollback sends all traffic back, leaves the alias and
    records why.

    Args:
        model_name: Registered model name.
        model_version: Version number or alias (`champion`).
        service_name: InferenceService name (DNS label).
        namespace: Namespace; empty = the pod's own (or the kubeconfig context's).
        deployment_mode: Serverless (Knative), Standard or RawDeployment (no canary).
        require_approval: Refuse, before anything is deployed, a version without an approval
            (`kfp-mlops approve NAME VERSION --reason TEXT`) or a rejected one; False deploys
            it anyway and the report says approval was not required.
        canary_traffic_percent: Share for the new version, 0..99; 0 = no canary.
        canary_observe_s: Seconds of live traffic before judging.
        canary_window_s: PromQL window (seconds) the numbers cover.
        max_canary_error_rate: Highest 5xx share; below 0 = not set (no promotion).
        max_canary_p95_latency_ms: Highest p95 latency; below 0 = not set (no promotion).
        min_canary_requests: Fewest prediction requests to judge on; fewer fails.
        ready_timeout_s: How long to wait for Ready before failing (or rolling back).
        prediction_log: kserve-logger (payload logger to log_sink_url), builtin or off.
        log_sink_url: The log sink Service URL (kserve-logger only).
        service_account: The predictor's service account (read-only S3 Secret).
        cpu_request: Predictor CPU request (a Kubernetes quantity, e.g. 250m).
        cpu_limit: Predictor CPU limit.
        memory_request: Predictor memory request (e.g. 512Mi).
        memory_limit: Predictor memory limit.
        min_replicas: Predictor replicas at least.
        auth_token_secret: A Secret (key `token`, one accepted token a line) the predictor
            mounts to require `Authorization: Bearer` on every route but health and metrics
            (RawDeployment/Standard without a mesh); empty = none (with a mesh, the
            AuthorizationPolicy of `kfp-mlops mesh-policy` or manifests/mesh decides).
        shadow_version: A version number or alias (`challenger`) to shadow model_version:
            the service keeps serving model_version (which must already serve all
            traffic) and the shadow predicts the same requests off the request path, logged
            as endpoint=shadow for compare-live; no canary, no alias move. Checked like
            model_version, and refused (as the server would refuse it) unless it takes the
            same inputs (names, order and kinds) and classes. Empty = none (a deploy
            without it removes a running shadow).
        kfp_run_id: The KFP run id (dsl.PIPELINE_JOB_ID_PLACEHOLDER): lease holder, recorder,
            and where the verdict record goes (`runs/<id>/gates/deploy.json`).
        metrics: Output numbers: promoted, version, canary_requests/error_rate/p95_latency_ms
            (shadow_version is in the report's metadata).
        report: Output Markdown. Metadata: passed, reasons, deployed, promoted, version,
            previous_version, canary, shadow_version.

    The verdict, the canary's numbers and their bounds are pushed to the Pushgateway at
    KFP_MLOPS_PUSHGATEWAY_URL (none set: nothing pushed; a failed push only warns).

    Returns:
        Whether the version serves all traffic (and `production` points at it).

    Raises:
        ConfigError: A setting KServe rejects or ignores; unknown model, version or alias.
        ApprovalError: require_approval and the version is not approved, or was rejected.
        ModelTrustError: No model_sha256 tag, or the stored file does not match it; with
            KFP_MLOPS_MODEL_PUBLIC_PEM set, a missing or foreign signature (the predictor
            then mounts the same public key and verifies at start).
        KubeError: No cluster configured, RBAC refused (names the Role), not Ready in time.
    """
    import os
    import time

    from components._shared.image import IMAGE
    from components._shared.reports.markdown import write_text
    from components._shared.settings import MODEL_PUBLIC_KEY_ENV
    from components._shared.verdicts.publish import publish_verdict
    from components.deploy_model.core import Request
    from components.deploy_model.core import deploy_model as deploy
    from components.deploy_model.judge import Thresholds
    from components.deploy_model.kube import current_namespace
    from components.deploy_model.render import Target
    from components.deploy_model.report import render_report
    from components.deploy_model.signals import figures_of, record_of

    started = time.monotonic()
    target = Target(
        service=service_name, namespace=namespace or current_namespace(),
        model_name=model_name, version=0, sha256="", image=IMAGE,
        service_account=service_account, deployment_mode=deployment_mode,
        prediction_log=prediction_log, log_sink_url=log_sink_url,
        resources={"requests": {"cpu": cpu_request, "memory": memory_request},
                   "limits": {"cpu": cpu_limit, "memory": memory_limit}},
        min_replicas=int(min_replicas), auth_token_secret=auth_token_secret,
        # This step verifies the version with a public key: so does the server it deploys.
        verify_signatures=bool(os.environ.get(MODEL_PUBLIC_KEY_ENV)),
    )  # fmt: skip
    limits = Thresholds(
        max_canary_error_rate, max_canary_p95_latency_ms, min_canary_requests, canary_window_s
    )
    request = Request(
        target, model_version, canary_traffic_percent, limits, ready_timeout_s, kfp_run_id,
        require_approval, shadow_version=shadow_version,
    )  # fmt: skip
    outcome = deploy(request, observe_s=canary_observe_s)
    for key, value in outcome.metrics().items():
        metrics.log_metric(key, value)
    report.metadata.update(outcome.metadata())
    write_text(report.path, render_report(outcome, service_name, target.namespace))
    publish_verdict(
        kfp_run_id,
        figures_of(outcome, limits, time.monotonic() - started),
        lambda pipeline: record_of(outcome, limits, pipeline),
    )
    return outcome.promoted
