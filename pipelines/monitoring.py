"""The monitoring pipeline: drift and live-performance gates → retrain when either fails."""

from kfp import dsl

from components.build_training_set.component import build_training_set
from components.check_novelty.component import check_novelty
from components.check_performance.component import check_performance
from components.detect_drift.component import detect_drift
from components.load_data.component import load_data
from components.resolve_reference.component import resolve_reference
from pipelines.drift_steps import sharded_drift
from pipelines.exit_handler import notified
from pipelines.task_settings import step
from pipelines.training import training_sub_pipeline

PIPELINE = "monitoring"  # the pipeline's name, and the `pipeline` label its gates push


def monitoring_steps(
    current_uri: str = "s3://kfp-mlops-data/production/german_credit/",
    current_start_date: str = "",
    current_end_date: str = "",
    current_last_days: int = 0,
    reference_uri: str = "",
    retrain_data_uri: str = "",
    model_name: str = "german-credit",
    drift_columns: list = [],
    drift_method: str = "auto",
    drift_share: float = 0.5,
    drift_thresholds: dict = {},
    prediction_drift_alias: str = "champion",
    labels_uri: str = "",
    label_schema: str = "",
    predictions_uri: str = "s3://kfp-mlops-data/predictions/german-credit/",
    performance_start_date: str = "",
    performance_end_date: str = "",
    performance_last_days: int = 0,
    performance_bounds: dict = {"accuracy": 0.7},
    performance_min_days: int = 3,
    performance_min_labels_per_day: int = 30,
    max_label_delay_days: float = 30.0,
    retrain_start_date: str = "",
    retrain_end_date: str = "",
    retrain_last_days: int = 30,
    include_champion_data: bool = True,
    min_labelled_rows: int = 200,
    target_column: str = "risk",
    sensitive_features: list = ["sex"],
    estimator: str = "hist_gradient_boosting",
    hyperparameters: dict = {},
    test_size: float = 0.25,
    random_seed: int = 42,
    suite: dict = {},
    min_rows: int = 100,
    primary_metric: str = "roc_auc",
    min_accuracy: float = 0.7,
    min_roc_auc: float = -1.0,
    max_latency_ms: float = 100.0,
    max_regression: float = 0.015,
    max_demographic_parity_difference: float = 0.1,
    max_equalized_odds_difference: float = -1.0,
    positive_label: str = "",
    promote: bool = True,
    shards: int = 1,
    fan_in: str = "collected",
):
    """Check drift and live performance; retrain through the gated training pipeline on a fail."""
    reference = step(
        resolve_reference(model_name=model_name, reference_uri=reference_uri),
        "resolve reference",
        mlflow=True,
        reads_outside_state=True,  # the champion can change between runs
        retries=2,
    )
    reference_data = step(
        # Pinned: the bytes must hash to the champion's dataset_sha256 ("" for a given URI).
        load_data(
            data_uri=reference.outputs["Output"],
            expected_sha256=reference.outputs["expected_sha256"],
            start_date="",
            end_date="",
            last_days=0,
            dataset_name="",
        ),
        "snapshot reference",
        s3=True,
        reads_outside_state=True,
        retries=2,
    )
    current_data = step(
        load_data(
            data_uri=current_uri,
            expected_sha256="",
            start_date=current_start_date,
            end_date=current_end_date,
            last_days=current_last_days,
            dataset_name="",
        ),
        "snapshot current",
        s3=True,
        reads_outside_state=True,  # a prefix of production data grows under the same URI
        retries=2,
    )
    drift_inputs = (reference_data.outputs["dataset"], current_data.outputs["dataset"], shards)
    drift_rules = (
        drift_columns,
        drift_method,
        drift_share,
        drift_thresholds,
        model_name,
        prediction_drift_alias,  # empty: no prediction drift, as in one pod
    )
    # shards=1: the one-pod gate; above, the same verdict from K map tasks per side.
    with dsl.If(shards == 1, name="one pod"):
        drift = step(
            detect_drift(
                reference=reference_data.outputs["dataset"],
                current=current_data.outputs["dataset"],
                columns=drift_columns,
                method=drift_method,
                drift_share=drift_share,
                thresholds=drift_thresholds,
                column_methods={},  # per-column methods: the CLI's --column-method, not a parameter
                model_name=model_name,
                model_alias=prediction_drift_alias,  # empty: no prediction drift
                kfp_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
            ),
            "detect drift",
            pipeline=PIPELINE,
            gate=True,
            mlflow=True,  # loads the model whose predictions are compared
            loads_models=True,
            reads_outside_state=True,  # the champion can change between runs
            retries=2,
            memory="2Gi",
        )
    with dsl.Elif(fan_in == "s3", name="sharded, fan-in through S3"):
        listed = sharded_drift(*drift_inputs, "s3", *drift_rules, given=fan_in)
    with dsl.Else(name="sharded"):
        collected = sharded_drift(*drift_inputs, "collected", *drift_rules, given=fan_in)
    drifted = dsl.OneOf(
        drift.outputs["Output"], listed.outputs["Output"], collected.outputs["Output"]
    )
    performance = step(
        # Always runs: with no labels_uri it passes the drift verdict on and says it skipped.
        check_performance(
            drifted=drifted,
            labels_uri=labels_uri,
            label_schema=label_schema,
            predictions_uri=predictions_uri,
            start_date=performance_start_date,
            end_date=performance_end_date,
            last_days=performance_last_days,
            bounds=performance_bounds,
            min_days=performance_min_days,
            min_labels_per_day=performance_min_labels_per_day,
            max_label_delay_days=max_label_delay_days,
            positive_label=positive_label,
            model_name=model_name,
            model_alias=prediction_drift_alias,  # the served version; empty: every version
            kfp_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
        ),
        "check live performance",
        s3=True,
        mlflow=True,  # which version the alias serves
        pipeline=PIPELINE,
        gate=True,
        reads_outside_state=True,  # labels and the log grow under the same URIs
        retries=2,
        memory="2Gi",
    )
    # One bool (drifted or below bound): kfp.local skips a dsl.If on a NamedTuple field
    # silently, and a condition cannot OR two tasks' outputs.
    with dsl.If(performance.outputs["Output"] == True, name="retrain needed"):
        # A fixed retrain_data_uri passes through; else the log's window joined with its
        # labels becomes a dataset version; "" (too few labels, or no labels_uri): no retrain.
        training_set = step(
            build_training_set(
                retrain_data_uri=retrain_data_uri,
                predictions_uri=predictions_uri,
                start_date=retrain_start_date,
                end_date=retrain_end_date,
                last_days=retrain_last_days,
                labels_uri=labels_uri,
                label_schema=label_schema,
                max_label_delay_days=max_label_delay_days,
                target_column=target_column,
                model_name=model_name,
                include_champion_data=include_champion_data,
                min_labelled_rows=min_labelled_rows,
            ),
            "build training set",
            s3=True,
            mlflow=True,  # the champion's inputs and training data
            reads_outside_state=True,  # labels and the log grow under the same URIs
            retries=2,
            memory="2Gi",
        )
        # "" (no training set) is not novel either: one condition, one bool.
        novelty = step(
            check_novelty(
                data_uri=training_set.outputs["Output"],
                model_name=model_name,
                parameters={
                    "estimator": estimator,
                    "target_column": target_column,
                    "test_size": test_size,
                    "random_seed": random_seed,
                },
                hyperparameters=hyperparameters,
                kfp_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
            ),
            "check novelty",
            s3=True,  # hashes the training set; writes its verdict record
            pipeline=PIPELINE,
            gate=True,
            mlflow=True,  # the champion's lineage tags
            reads_outside_state=True,  # the champion and the data can change between runs
            retries=2,
        )
        # One bool: kfp.local skips a dsl.If on a NamedTuple field silently.
        with dsl.If(novelty.outputs["Output"] == True, name="something new to learn"):
            training_sub_pipeline(
                data_uri=training_set.outputs["Output"],
                target_column=target_column,
                sensitive_features=sensitive_features,
                model_name=model_name,
                estimator=estimator,
                hyperparameters=hyperparameters,
                test_size=test_size,
                random_seed=random_seed,
                suite=suite,
                min_rows=min_rows,
                primary_metric=primary_metric,
                min_accuracy=min_accuracy,
                min_roc_auc=min_roc_auc,
                max_latency_ms=max_latency_ms,
                max_regression=max_regression,
                max_demographic_parity_difference=max_demographic_parity_difference,
                max_equalized_odds_difference=max_equalized_odds_difference,
                positive_label=positive_label,
                promote=promote,
            ).set_display_name("retrain")


DESCRIPTION = (
    "Compare recent production data (files, or the prediction log's days in a window) with "
    "the reference (the champion's training snapshot unless reference_uri is given); when "
    "it has drifted, or when labels that arrived later (labels_uri) show the served model "
    "below its performance bounds for performance_min_days days, run the training "
    "pipeline, with all its gates, on a training set built from production: the log's "
    "inputs of the last retrain_last_days days (or retrain_start_date..retrain_end_date) "
    "joined with their labels, unioned with the champion's training data "
    "(include_champion_data), stored as a dataset version; with fewer than "
    "min_labelled_rows labelled rows nothing is retrained. A fixed retrain_data_uri is "
    "trained on instead (teams without labels); with neither labels_uri nor "
    "retrain_data_uri there is nothing to retrain on. A retrain whose data, parameters and "
    "code are the champion's is skipped (check_novelty: nothing new to learn from)."
)
# The retrain is the training steps without their handler: one run, one notification.
monitoring = dsl.pipeline(
    name=PIPELINE, description=DESCRIPTION + " Ends with a notification (notify)."
)(notified(monitoring_steps, PIPELINE))
