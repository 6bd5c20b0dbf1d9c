"""KFP wrapper of the live-performance gate: delayed labels joined with the prediction log."""

from kfp import dsl

from components._shared.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def check_performance(
    drifted: bool,
    labels_uri: str,
    label_schema: str,
    predictions_uri: str,
    start_date: str,
    end_date: str,
    last_days: int,
    bounds: dict,
    min_days: int,
    min_labels_per_day: int,
    max_label_delay_days: float,
    positive_label: str,
    model_name: str,
    model_alias: str,
    kfp_run_id: str,
    metrics: dsl.Output[dsl.Metrics],
    report: dsl.Output[dsl.Markdown],
    report_html: dsl.Output[dsl.HTML],
) -> bool:
    """Judge the served model on labels that arrive after its predictions; say whether to retrain.

    Joins ground truth (`request_id, label[, time][, row]`) with the prediction log on the
    request id (and `row`, the instance's index, for requests of several rows), keeps the
    predictions the served version (`model_alias`) logged, scores
    accuracy, precision, recall, f1 and roc_auc (when the log holds probabilities) per day of
    prediction and over the window, and fails a bound when its metric is below it on each of
    the last `min_days` days that have at least `min_labels_per_day` labels. Labels for
    unknown ids, repeated labels (the latest time wins), late labels and unlabelled
    predictions are counted and reported. Each bound is passed, failed or not judged, and
    the report says why. Fails closed: no bound, or a bound whose metric could be computed
    on fewer than `min_days` of at least `min_days` judged days (roc_auc on days of one
    class), means not passed; with fewer judged days than `min_days` no bound is judged yet
    and the gate passes, saying so. Pushes its figures to the Pushgateway when one is
    configured and records its verdict for the run's notification.

    Args:
        drifted: The drift gate's verdict; returned unchanged when no labels_uri is given.
        labels_uri: A CSV/Parquet file, or a folder/`s3://` prefix of them, of labels;
            empty: not checked (the report says so). A folder or prefix with no label file
            yet: "cannot judge yet" (not passed, no retrain asked on that account).
        label_schema: `NAME@vN`: use only labels of that schema version, or of an older
            one mapped into it (`kfp-mlops labels schema register`); the rest are counted
            and reported by reason. All refused: "cannot judge" (not passed; no retrain
            asked on that account). Empty: every label is used.
        predictions_uri: The model's prediction-log prefix (`date=YYYY-MM-DD/` folders).
        start_date: First day of predictions to judge (YYYY-MM-DD, UTC); empty: open.
        end_date: Last day (inclusive); empty: open.
        last_days: Instead: the last N days up to today (UTC); 0: no such window.
        bounds: Metric -> minimum, e.g. {"precision": 0.85}.
        min_days: Judged days in a row below a bound that fail it.
        min_labels_per_day: Labels a day needs to be judged.
        max_label_delay_days: Labels known later than this after the prediction are late
            (counted, not used); below 0: no cutoff.
        positive_label: The positive class as text; empty: the second class in sorted order.
        model_name: The registered model (the pushed figures' `model` label).
        model_alias: The alias of the served version (e.g. champion): only the log rows of
            its `model_version` are judged, and min_days counts its judged days; rows of
            other versions and their labels are counted and reported, not judged. An alias
            not set: "cannot judge" (not passed, no retrain asked on that account). Empty:
            every version's predictions are judged together.
        kfp_run_id: The run's id, for the gate record the notification reads.
        metrics: Output numbers: window values, <metric>_last_day, days below, label counts.
        report: Output Markdown verdict. Metadata: passed (None when skipped), skipped,
            reasons, notes, bounds, checks {metric: {status, reason, ...}}, counts, days
            [{day, labelled, <metric>..., unscored}], cannot_judge, served {alias, version,
            other_versions, predictions_other_versions, labels_other_versions}.
        report_html: Output HTML page with one per-day SVG chart per metric, bound drawn.

    Returns:
        retrain: drifted, or live performance failed its bounds (not when it cannot judge).

    Raises:
        DataError: A labels file or bucket that does not exist, a missing log, missing
            columns, an alias given for a log that records no model_version, labels not of
            the model's classes
            (non-numeric for a numeric target), an empty window, no label that matches, a
            roc_auc bound on a log without a proba_<class> column per class.
        ConfigError: An unknown metric, a bound outside [0, 1], a bad window or setting,
            a label_schema not of NAME@vN (DataError: one not stored).
    """
    import time

    from components._shared.io.partitions import DateWindow
    from components._shared.reports.markdown import write_text
    from components.check_performance import report as out
    from components.check_performance.gate import judge_uris
    from components.check_performance.publish import publish

    if not labels_uri:
        write_text(report.path, out.SKIPPED_REPORT)
        write_text(report_html.path, out.skipped_html())
        report.metadata.update(out.skipped_metadata())
        metrics.log_metric("checked", 0.0)
        return drifted
    started = time.monotonic()
    result = judge_uris(
        labels_uri,
        predictions_uri,
        DateWindow.of(start_date, end_date, last_days),
        model_name=model_name,
        model_alias=model_alias,
        bounds=dict(bounds),
        min_days=min_days,
        min_labels_per_day=min_labels_per_day,
        max_label_delay_days=max_label_delay_days,
        positive_label=positive_label,
        label_schema=label_schema,
    )
    print(out.served_line(result), flush=True)
    print(out.label_line(result), flush=True)
    for line in result.label_counts.lines() if result.label_counts else []:
        print(f"  {line}", flush=True)
    for name, value in out.metrics_of(result).items():
        metrics.log_metric(name, value)
    write_text(report.path, out.render_markdown(result))
    write_text(report_html.path, out.render_html(result))
    report.metadata.update(out.metadata_of(result))
    publish(result, model_name, kfp_run_id, time.monotonic() - started)
    # Cannot judge (labels of the wrong schema or none yet, the alias not set) says nothing
    # about the model: it does not ask for a retrain.
    return drifted or (not result.passed and not result.cannot_judge)
