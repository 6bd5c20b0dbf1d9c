"""KFP wrapper of the live comparison gate: the shadow's version judged against the champion."""

from kfp import dsl

from components._shared.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def compare_live_gate(
    predictions_uri: str,
    labels_uri: str,
    label_schema: str,
    start_date: str,
    end_date: str,
    last_days: int,
    model_name: str,
    challenger_version: str,
    metric: str,
    positive_label: str,
    min_requests: int,
    min_labelled_rows: int,
    max_metric_drop: float,
    min_agreement: float,
    sensitive_features: list,
    max_fairness_gap: float,
    min_group_rows: int,
    bootstrap: int,
    kfp_run_id: str,
    metrics: dsl.Output[dsl.Metrics],
    report: dsl.Output[dsl.Markdown],
    report_html: dsl.Output[dsl.HTML],
) -> bool:
    """Judge the challenger (the shadow's version) against the champion on the same requests.

    Pairs each shadow row of the prediction log (`endpoint` = shadow) with the primary row of
    the same request and row, joins the labels that arrived for them, and reports the
    agreement rate, each model's per-class prediction shares, the metric of each on the
    labelled rows with the difference challenger - champion and its 95 % interval (paired
    bootstrap over requests, `bootstrap` resamples, fixed seed), and per sensitive feature
    each model's per-group accuracy and selection rate (fairlearn MetricFrame) and gap
    (demographic parity difference for two classes, else the accuracy gap). Passes only when
    the interval's lower bound is >= -max_metric_drop, agreement >= min_agreement and each
    feature's challenger gap <= max_fairness_gap. Fails closed (CANNOT JUDGE, not passed): no
    shadow rows, shadow rows of more than one version (give challenger_version) or pairs
    answered by more than one champion version, fewer than min_requests paired requests or
    min_labelled_rows labelled paired rows, a gap with fewer than two groups of
    min_group_rows rows, a sensitive feature of more than 20 groups. Groups are
    check_fairness's: a numeric feature of more than 10 values in quartile bins. Pushes its
    figures, records its verdict for the notification and tags the challenger version with
    it (`kfp_mlops.live_comparison`, JSON).

    Args:
        predictions_uri: The model's prediction-log prefix (`date=YYYY-MM-DD/` folders).
        labels_uri: Labels (`request_id, label[, time][, row]`), a CSV/Parquet file or a
            folder/`s3://` prefix of them; empty, or a prefix with no file yet: no labels
            (cannot judge the metric).
        label_schema: `NAME@vN`: use only labels of that schema version (or mapped into it);
            empty: every label.
        start_date: First day of the log to read (YYYY-MM-DD, UTC); empty: open.
        end_date: Last day (inclusive); empty: open.
        last_days: Instead: the last N days up to today (UTC); 0: no such window.
        model_name: The registered model whose versions are compared (tag, pushed `model`).
        challenger_version: Judge the shadow rows of this version only; empty: the window
            must hold one shadow version.
        metric: accuracy or roc_auc (from proba_<positive_label>; two classes).
        positive_label: The positive class as text; empty: the second in sorted order.
        min_requests: Paired requests needed to judge.
        min_labelled_rows: Labelled paired rows needed to judge.
        max_metric_drop: How far below 0 the interval's lower bound may reach (0: the
            challenger must not be shown worse).
        min_agreement: Share of rows both predict alike below which the gate fails; 0: none.
        sensitive_features: Input columns of the log to judge fairness on; []: none.
        max_fairness_gap: The challenger's largest gap allowed per feature; below 0: shown,
            not judged.
        min_group_rows: Labelled rows a group needs to count in a gap.
        bootstrap: Bootstrap resamples.
        kfp_run_id: The run's id, for the gate record and the version tag.
        metrics: Output numbers: agreement, <metric>_champion/_challenger/_difference[_low,
            _high], requests, labelled_rows, share_difference_<class>, fairness gaps.
        report: Output Markdown verdict. Metadata: passed, cannot_judge, verdict, reasons,
            notes, model_name, versions, counts, agreement, shares, metric values, interval, method,
            fairness, settings.
        report_html: Output HTML page: class shares of both models, the difference's interval.

    Returns:
        passed: The challenger holds up against the champion (never when it cannot judge).

    Raises:
        DataError: A missing log or window, missing columns (a sensitive feature the log
            lacks), labels not of the models' classes, roc_auc without probabilities.
        ConfigError: An unknown metric, a bad window, count or bound, a bad positive_label.
        ServiceError: S3 or MLflow does not answer (the version could not be tagged).
    """
    import time

    from components._shared.io.partitions import DateWindow
    from components._shared.reports.markdown import write_text
    from components.compare_live import report as out
    from components.compare_live.chart import render_html
    from components.compare_live.gate import judge_uris
    from components.compare_live.publish import publish, tag_challenger

    started = time.monotonic()
    result = judge_uris(
        predictions_uri,
        labels_uri,
        DateWindow.of(start_date, end_date, last_days),
        metric=metric,
        positive_label=positive_label,
        challenger_version=challenger_version,
        min_requests=min_requests,
        min_labelled_rows=min_labelled_rows,
        max_metric_drop=max_metric_drop,
        min_agreement=min_agreement,
        sensitive_features=list(sensitive_features),
        max_fairness_gap=max_fairness_gap,
        min_group_rows=min_group_rows,
        bootstrap=bootstrap,
        label_schema=label_schema,
    )
    print(out.summary_line(result), flush=True)
    for name, value in out.metrics_of(result).items():
        metrics.log_metric(name, value)
    write_text(report.path, out.render_markdown(result))
    write_text(report_html.path, render_html(result))
    report.metadata.update(out.metadata_of(result) | {"model_name": model_name})
    publish(result, model_name, kfp_run_id, time.monotonic() - started)
    tag_challenger(result, model_name, kfp_run_id)
    return result.passed
