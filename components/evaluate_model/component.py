"""KFP wrapper of evaluate_model: score, compare with the champion, write metrics and report."""

from kfp import dsl

from components._shared.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def evaluate_model(
    model: dsl.Input[dsl.Model],
    predictions: dsl.Input[dsl.Dataset],
    model_name: str,
    primary_metric: str,
    min_accuracy: float,
    min_roc_auc: float,
    max_latency_ms: float,
    max_regression: float,
    kfp_run_id: str,
    metrics: dsl.Output[dsl.Metrics],
    classification_metrics: dsl.Output[dsl.ClassificationMetrics],
    report: dsl.Output[dsl.Markdown],
) -> bool:
    """Gate a trained classifier on thresholds and on the registered champion.

    A threshold below 0 is not set. With no threshold set (min_accuracy, min_roc_auc,
    max_latency_ms) the model is not blessed (fail closed). The champion is the version
    behind `models:/<model_name>@champion` in MLflow (MLFLOW_TRACKING_URI). Both models are
    compared only on test rows neither trained on: the champion's training rows are its
    training data (its dataset_version tag, else dataset_uri checked against dataset_sha256,
    read from S3) re-split with the test_size, random_seed and target_column of its
    parameters tag, and test rows whose row hash is among them are left out. The model is
    rejected if its primary metric on those rows is lower than the champion's by more than
    max_regression. With no champion yet (first run), a champion that cannot score these
    rows, fewer than 30 rows left, or training rows that cannot be known (unreadable or
    changed data, parameters without test_size or random_seed), the comparison cannot judge:
    the model is judged on thresholds only and the report says why. A champion whose stored
    file is not the registered one fails the step (see Raises).

    Args:
        model: skops file of the fitted sklearn Pipeline (from train_model), loaded only if
            it matches the sha256 train_model recorded in its metadata.
        predictions: Parquet of the held-out rows with prediction and probability columns.
        model_name: Registered model name whose @champion is the baseline.
        primary_metric: Metric compared with the champion: accuracy, f1 or roc_auc.
            f1 is the positive class's (the later class) for binary, macro for multiclass;
            roc_auc is one-vs-rest macro for multiclass.
        min_accuracy: Lowest accepted accuracy; below 0 = not set.
        min_roc_auc: Lowest accepted ROC AUC; below 0 = not set.
        max_latency_ms: Highest accepted p95 single-row predict latency (ms); below 0 = not set.
        max_regression: Largest accepted drop of the primary metric vs the champion (e.g.
            0.015); below 0 = compare and report but do not enforce.
        kfp_run_id: The KFP run id (dsl.PIPELINE_JOB_ID_PLACEHOLDER): where the verdict
            record goes (`runs/<id>/gates/evaluation.json`); empty = no record.
        metrics: Output numbers: accuracy, f1, roc_auc, latency_p50_ms, latency_p95_ms,
            champion_version (0 if none), blessed (1/0); when the champion scored:
            champion_<primary> and compared_<primary> (both on the compared rows),
            delta_<primary>, compared_rows, champion_trained_rows (test rows left out).
        classification_metrics: Output confusion matrix and ROC curve (the last class vs
            the rest), for the Kubeflow UI.
        report: Output Markdown verdict. Metadata: passed, reasons, primary_metric,
            primary_value, champion_version, champion_value, delta, first_run, roc_class,
            comparison (first_run, compared or cannot_judge), compared_value, test_rows,
            compared_rows, champion_trained_rows, compared_on (the rows, in one sentence).

    The verdict, scores (latency in seconds) and bounds are pushed to the Pushgateway at
    KFP_MLOPS_PUSHGATEWAY_URL (none set: nothing pushed; a failed push only warns).

    Returns:
        Whether the model is blessed.

    Raises:
        ServiceError: MLflow does not answer (never read as "no champion"), or S3 does not
            answer while the champion's training data is read.
        ModelTrustError: The champion's (or the model's) file is not the recorded one, or
            names a type outside the trusted class list; nothing of it is run.
    """
    import time

    from components._shared.io import read_parquet
    from components._shared.model_io import load_model
    from components._shared.registry.champion import load_champion
    from components._shared.reports.markdown import write_text
    from components._shared.verdicts.publish import publish_verdict
    from components.evaluate_model.core import PredictionColumns, Thresholds, evaluate
    from components.evaluate_model.report import render_markdown
    from components.evaluate_model.signals import figures_of, record_of
    from components.evaluate_model.trained_on import training_rows

    started = time.monotonic()
    limits = Thresholds(min_accuracy, min_roc_auc, max_latency_ms, max_regression)
    result = evaluate(
        frame=read_parquet(predictions.path),
        columns=PredictionColumns.from_metadata(predictions.metadata),
        model=load_model(model.path, sha256=model.metadata.get("sha256")),
        primary_metric=primary_metric,
        thresholds=limits,
        load_champion=lambda: load_champion(model_name),
        trained_on=training_rows,
    )
    print(f"evaluation: {'; '.join(result.reasons)}")
    for name, value in result.metrics().items():
        metrics.log_metric(name, value)
    classification_metrics.log_confusion_matrix(
        list(result.categories), [list(row) for row in result.confusion]
    )
    classification_metrics.log_roc_curve(*(list(values) for values in result.roc))
    write_text(report.path, render_markdown(result))
    report.metadata.update(result.report_metadata())
    publish_verdict(
        kfp_run_id,
        figures_of(result, limits, model_name, time.monotonic() - started),
        lambda pipeline: record_of(result, model_name, pipeline),
    )
    return result.passed
