"""The fleet pipeline: the monitoring steps once per model, side by side, then one report.

`list models` names the models (an explicit list or a registry filter, at most 200: see
components/list_models/core.py), a `dsl.ParallelFor` runs the monitoring steps as a
sub-pipeline per model with at most PARALLELISM bodies at once, and `fleet report` runs after
them all, even when some failed (`ignore_upstream_failure`): it reads each model's gate
records by run id, so a failed body is a row saying so and the others are still reported.
The bodies carry no exit handler: the fleet has one, and one notification.

The ParallelFor limit is compiled into the spec (KFP reads it when the run starts, not as a
run parameter): `build(parallelism=N)` compiles another limit.
"""

from kfp import dsl

from components._shared.verdicts.gate_records import FLEET_ENV
from components.fleet_report.component import fleet_report
from components.list_models.component import list_models
from components.list_models.core import MAX_MODELS
from pipelines.exit_handler import notify_step
from pipelines.monitoring import monitoring_steps
from pipelines.task_settings import step

PIPELINE = "monitoring-fleet"
PARALLELISM = 8  # bodies at once; each body's task costs two pods on KFP (#12642)
FLEET_MODEL = "fleet"  # the `model` label of the fleet run's own notification and end metrics


def _body() -> dsl.graph_component.GraphComponent:
    """The monitoring steps as a sub-pipeline whose every task says it is in a fleet run.

    KFP_MLOPS_FLEET=1 on each executor (the retrain's too): gate records go per model, and
    pushes leave out per-column series (components/_shared/verdicts/).
    """
    body = dsl.pipeline(name="monitoring-model")(monitoring_steps)
    for executor in body.pipeline_spec.deployment_spec["executors"].values():
        container = executor["container"]
        env = container["env"] if "env" in container else container.get_or_create_list("env")
        env.add_struct().update({"name": FLEET_ENV, "value": "1"})
    return body


def build(parallelism: int = PARALLELISM):
    """The fleet pipeline with a ParallelFor limit of `parallelism` bodies at once."""
    if not 1 <= parallelism <= MAX_MODELS:
        raise ValueError(f"parallelism {parallelism}: expected 1..{MAX_MODELS}")
    body = _body()

    def monitoring_fleet(
        model_names: list = [],
        registry_filter: str = "",
        max_models: int = MAX_MODELS,
        predictions_prefix: str = "s3://kfp-mlops-data/predictions/",
        labels_prefix: str = "",
        current_last_days: int = 7,
        drift_columns: list = [],
        prediction_drift_alias: str = "champion",
        drift_method: str = "auto",
        drift_share: float = 0.5,
        drift_thresholds: dict = {},
        performance_bounds: dict = {"accuracy": 0.7},
        performance_last_days: int = 0,
        performance_min_days: int = 3,
        performance_min_labels_per_day: int = 30,
        retrain_last_days: int = 30,
        min_labelled_rows: int = 200,
        target_column: str = "risk",
        sensitive_features: list = ["sex"],
        estimator: str = "hist_gradient_boosting",
        min_accuracy: float = 0.7,
        promote: bool = True,
        notify_format: str = "slack",
    ):
        """Monitor many registered models in one run; one report, one notification."""
        exit_task = notify_step(PIPELINE, FLEET_MODEL, notify_format)
        with dsl.ExitHandler(exit_task):
            listed = step(
                list_models(
                    model_names=model_names,
                    registry_filter=registry_filter,
                    predictions_prefix=predictions_prefix,
                    labels_prefix=labels_prefix,
                    max_models=max_models,
                ),
                "list models",
                mlflow=True,
                reads_outside_state=True,  # the registry changes between runs
                retries=2,
                memory="512Mi",
            )
            with dsl.ParallelFor(
                listed.output, parallelism=parallelism, name="each model"
            ) as model:
                monitored = body(
                    model_name=model.model_name,
                    current_uri=model.predictions_uri,
                    current_last_days=current_last_days,
                    predictions_uri=model.predictions_uri,
                    labels_uri=model.labels_uri,
                    drift_columns=drift_columns,
                    prediction_drift_alias=prediction_drift_alias,
                    drift_method=drift_method,
                    drift_share=drift_share,
                    drift_thresholds=drift_thresholds,
                    performance_bounds=performance_bounds,
                    performance_last_days=performance_last_days,
                    performance_min_days=performance_min_days,
                    performance_min_labels_per_day=performance_min_labels_per_day,
                    retrain_last_days=retrain_last_days,
                    min_labelled_rows=min_labelled_rows,
                    target_column=target_column,
                    sensitive_features=sensitive_features,
                    estimator=estimator,
                    min_accuracy=min_accuracy,
                    promote=promote,
                ).set_display_name("monitor model")
            step(
                fleet_report(models=listed.output, kfp_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER),
                "fleet report",
                s3=True,
                mlflow=True,  # the versions the run registered
                pipeline=PIPELINE,
                gate=True,  # not a gate, but it pushes each model's run end
                reads_outside_state=True,
                retries=2,
                memory="1Gi",
            ).after(monitored).ignore_upstream_failure()

    return dsl.pipeline(
        name=PIPELINE,
        description=(
            "Run the monitoring steps for each of many registered models (model_names, or "
            "registry_filter; at most max_models, 200) with at most "
            f"{parallelism} at once: model M's current data and prediction log are "
            "<predictions_prefix>/M/, its labels <labels_prefix>/M/. Then one fleet report "
            "(a row per model: drift, live performance, retrain outcome, version, or where "
            "it failed) and one notification (notify)."
        ),
    )(monitoring_fleet)


monitoring_fleet = build()
