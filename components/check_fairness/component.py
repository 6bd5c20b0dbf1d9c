"""KFP wrapper of the fairness gate."""

from kfp import dsl

from components._shared.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def check_fairness(
    predictions: dsl.Input[dsl.Dataset],
    sensitive_features: list,
    max_demographic_parity_difference: float,
    max_equalized_odds_difference: float,
    positive_label: str,
    model_name: str,
    kfp_run_id: str,
    metrics: dsl.Output[dsl.Metrics],
    report: dsl.Output[dsl.Markdown],
) -> bool:
    """Bless the model only if its disparities across sensitive groups stay within bounds.

    Per sensitive feature (fairlearn): per-group selection rate, TPR and FPR; the demographic
    parity difference and the equalized odds difference. Binary targets use classes[1] (or
    `positive_label`) as the positive class; multiclass targets are assessed one-vs-rest and
    the worst class counts. Numeric features with more than 10 distinct values are split into
    quartile bins. Groups under 30 rows are flagged as small but still counted.
    Fails closed: no sensitive features, no bound set, or a feature of more than 20 groups
    (an identifier or free text) means not blessed.

    Args:
        predictions: Held-out rows from train_model (Parquet with features, target,
            prediction; metadata target_column, prediction_column, classes).
        sensitive_features: Columns to split the rows by, e.g. ["sex", "age"].
        max_demographic_parity_difference: Largest allowed gap in selection rate; < 0 unsets it.
        max_equalized_odds_difference: Largest allowed gap in TPR or FPR; < 0 unsets it.
        positive_label: The favourable class as text; empty means the default above.
        model_name: The model judged: the `model` label of the pushed figures.
        kfp_run_id: The KFP run id (dsl.PIPELINE_JOB_ID_PLACEHOLDER): where the verdict
            record goes (`runs/<id>/gates/fairness.json`); empty = no record.
        metrics: Output numbers: demographic_parity_difference_<feature>,
            equalized_odds_difference_<feature>, the worst of each overall, blessed (1/0).
        report: Output Markdown with the per-group table; metadata passed, reasons,
            per_feature {feature: {demographic_parity_difference, equalized_odds_difference,
            groups: {group: {count, selection_rate, tpr, fpr, small}}}}.

    The verdict, disparities with their bounds and per-group rates are pushed to the
    Pushgateway at KFP_MLOPS_PUSHGATEWAY_URL (none set: nothing pushed; a failed push only
    warns).

    Returns:
        blessed: True only when every set bound holds for every sensitive feature.

    Raises:
        DataError: A sensitive feature (or the target/prediction column) is not in the data;
            the message lists the available columns.
    """
    import time

    from components._shared.io import read_parquet
    from components._shared.reports.markdown import write_text
    from components._shared.verdicts.publish import publish_verdict
    from components.check_fairness.core import check_fairness as assess
    from components.check_fairness.report import metadata_of, metrics_of, render_report
    from components.check_fairness.signals import figures_of, record_of

    started = time.monotonic()
    result = assess(
        read_parquet(predictions.path),
        target_column=predictions.metadata["target_column"],
        prediction_column=predictions.metadata["prediction_column"],
        classes=list(predictions.metadata["classes"]),
        sensitive_features=list(sensitive_features),
        max_demographic_parity_difference=max_demographic_parity_difference,
        max_equalized_odds_difference=max_equalized_odds_difference,
        positive_label=positive_label,
    )
    for name, value in metrics_of(result).items():
        metrics.log_metric(name, value)
    write_text(report.path, render_report(result))
    report.metadata.update(metadata_of(result))
    publish_verdict(
        kfp_run_id,
        figures_of(result, model_name, time.monotonic() - started),
        lambda pipeline: record_of(result, model_name, pipeline),
    )
    return result.passed
