"""The compare-live pipeline: the shadowed challenger judged against the champion on live data."""

from kfp import dsl

from components.compare_live.component import compare_live_gate
from pipelines.exit_handler import notified
from pipelines.task_settings import step

PIPELINE = "compare-live"  # the pipeline's name, and the `pipeline` label its gate pushes


# The component's function is not named compare_live: a task component named like its
# pipeline ("compare-live") is what kfp's loader takes for the pipeline itself.
def compare_live_steps(
    model_name: str = "german-credit",
    predictions_uri: str = "s3://kfp-mlops-data/predictions/german-credit/",
    labels_uri: str = "",
    label_schema: str = "",
    start_date: str = "",
    end_date: str = "",
    last_days: int = 7,
    challenger_version: str = "",
    metric: str = "accuracy",
    positive_label: str = "",
    min_requests: int = 500,
    min_labelled_rows: int = 200,
    max_metric_drop: float = 0.0,
    min_agreement: float = 0.0,
    sensitive_features: list = ["sex"],
    max_fairness_gap: float = 0.1,
    min_group_rows: int = 30,
    bootstrap: int = 1000,
):
    """Judge the shadow's version against the champion on the window's shadowed requests."""
    step(
        compare_live_gate(
            predictions_uri=predictions_uri,
            labels_uri=labels_uri,
            label_schema=label_schema,
            start_date=start_date,
            end_date=end_date,
            last_days=last_days,
            model_name=model_name,
            challenger_version=challenger_version,
            metric=metric,
            positive_label=positive_label,
            min_requests=min_requests,
            min_labelled_rows=min_labelled_rows,
            max_metric_drop=max_metric_drop,
            min_agreement=min_agreement,
            sensitive_features=sensitive_features,
            max_fairness_gap=max_fairness_gap,
            min_group_rows=min_group_rows,
            bootstrap=bootstrap,
            kfp_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
        ),
        "compare live",
        pipeline=PIPELINE,
        gate=True,
        s3=True,
        mlflow=True,  # the challenger version is tagged with the verdict
        reads_outside_state=True,  # the log and the labels grow under the same URIs
        retries=2,
        memory="2Gi",
    )


DESCRIPTION = (
    "Judge the challenger served in shadow (the prediction log's `endpoint` = shadow rows) "
    "against the champion on the same requests of the window: agreement, per-class "
    "prediction shares, the metric on the labels that arrived with the difference's 95 % "
    "interval (paired bootstrap over requests), and fairness per group. Fails closed on too "
    "few requests or labels, or mixed versions. Tags the challenger version with the verdict."
)
compare_live_pipeline = dsl.pipeline(
    name=PIPELINE, description=DESCRIPTION + " Ends with a notification (notify)."
)(notified(compare_live_steps, PIPELINE))
