"""The training pipeline: snapshot → validate → train → evaluate + fairness → register; notify."""

from kfp import dsl

from components.check_fairness.component import check_fairness
from components.evaluate_model.component import evaluate_model
from components.load_data.component import load_data
from components.register_model.component import register_model
from components.train_model.component import train_model
from components.validate_data.component import validate_data
from pipelines.exit_handler import notified
from pipelines.lineage import scalar_parameters
from pipelines.task_settings import step

PIPELINE = "training"  # the pipeline's name, and the `pipeline` label its gates push


def training_steps(
    data_uri: str = "s3://kfp-mlops-data/german_credit/german_credit.csv",
    target_column: str = "risk",
    sensitive_features: list = ["sex"],
    model_name: str = "german-credit",
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
):
    """Train a gated model; thresholds below 0 are unset (a gate with none set fails closed)."""
    # First statement: locals() holds exactly the parameters (the lineage's source).
    lineage = scalar_parameters(locals())
    snapshot = step(
        # New data: nothing to pin, no date window.
        load_data(
            data_uri=data_uri,
            expected_sha256="",
            start_date="",
            end_date="",
            last_days=0,
            dataset_name=model_name,
        ),
        "snapshot data",
        s3=True,
        reads_outside_state=True,
        retries=2,
    )
    validation = step(
        validate_data(
            dataset=snapshot.outputs["dataset"],
            target_column=target_column,
            suite=suite,
            min_rows=min_rows,
            model_name=model_name,
            kfp_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
        ),
        "validate data",
        pipeline=PIPELINE,
        gate=True,
    )
    training_task = step(
        train_model(
            dataset=snapshot.outputs["dataset"],
            target_column=target_column,
            estimator=estimator,
            hyperparameters=hyperparameters,
            test_size=test_size,
            random_seed=random_seed,
        ).after(validation),
        "train model",
        memory="2Gi",
    )
    evaluation = step(
        evaluate_model(
            model=training_task.outputs["model"],
            predictions=training_task.outputs["predictions"],
            model_name=model_name,
            primary_metric=primary_metric,
            min_accuracy=min_accuracy,
            min_roc_auc=min_roc_auc,
            max_latency_ms=max_latency_ms,
            max_regression=max_regression,
            kfp_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
        ),
        "evaluate model",
        pipeline=PIPELINE,
        gate=True,
        s3=True,  # the champion's training data, to leave its training rows out
        mlflow=True,
        loads_models=True,  # the champion it compares with
        reads_outside_state=True,  # the champion it compares with can change between runs
        retries=2,
    )
    fairness = step(
        check_fairness(
            predictions=training_task.outputs["predictions"],
            sensitive_features=sensitive_features,
            max_demographic_parity_difference=max_demographic_parity_difference,
            max_equalized_odds_difference=max_equalized_odds_difference,
            positive_label=positive_label,
            model_name=model_name,
            kfp_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
        ),
        "check fairness",
        pipeline=PIPELINE,
        gate=True,
    )
    # Gates return one bool each: kfp.local skips a dsl.If on a NamedTuple field silently.
    with (
        dsl.If(evaluation.outputs["Output"] == True, name="evaluation-blessed"),
        dsl.If(fairness.outputs["Output"] == True, name="fairness-blessed"),
    ):
        step(
            register_model(
                model=training_task.outputs["model"],
                dataset=snapshot.outputs["dataset"],
                validation=validation.outputs["validation"],
                evaluation_report=evaluation.outputs["report"],
                fairness_report=fairness.outputs["report"],
                evaluation_blessed=evaluation.outputs["Output"],
                fairness_blessed=fairness.outputs["Output"],
                model_name=model_name,
                promote=promote,
                parameters=lineage,  # every scalar parameter, from the signature
                kfp_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
            ),
            "register model",
            s3=True,  # the registry lock is a lease object on S3
            mlflow=True,
            signs_models=True,  # the only step that holds the private key
            reads_outside_state=True,
            retries=2,
        )


DESCRIPTION = (
    "Snapshot and validate a dataset, train a scikit-learn model, gate it on evaluation "
    "(thresholds and champion/challenger) and fairness, and register it in MLflow only "
    "when every gate blessed it."
)
# The steps as a sub-pipeline, without the exit handler: monitoring's retrain (one run, one
# notification, sent by the monitoring pipeline's own handler).
training_sub_pipeline = dsl.pipeline(name=PIPELINE, description=DESCRIPTION)(training_steps)
training = dsl.pipeline(
    name=PIPELINE, description=DESCRIPTION + " Ends with a notification (notify)."
)(notified(training_steps, PIPELINE))
