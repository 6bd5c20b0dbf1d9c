"""KFP wrapper of the drift gate: compare current with reference, write metrics and reports."""

from kfp import dsl

from components._shared.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def detect_drift(
    reference: dsl.Input[dsl.Dataset],
    current: dsl.Input[dsl.Dataset],
    columns: list,
    method: str,
    drift_share: float,
    thresholds: dict,
    column_methods: dict,
    model_name: str,
    model_alias: str,
    kfp_run_id: str,
    metrics: dsl.Output[dsl.Metrics],
    report: dsl.Output[dsl.Markdown],
    report_html: dsl.Output[dsl.HTML],
) -> bool:
    """Tell whether the current data has drifted from the reference data.

    Per column, a distribution test: with method "auto", Evidently 0.7's default choice
    (reference <= 1000 rows: KS for numerical columns with > 5 values, chi-square for > 2
    categories, Z-test for 2; larger: normed Wasserstein or Jensen-Shannon distance). Column
    types come from the current data (integers with <= 10 values are categorical). Nulls and
    ±inf are dropped before the test and their shares reported. A column whose type changed
    counts as drifted; an all-null column is skipped. The dataset has drifted when the share
    of drifted columns is at least drift_share. An expected "drifted" never raises.

    Args:
        reference: Parquet (a file or a folder of files) of the reference data.
        current: Parquet (a file or a folder of files) of the data to check.
        columns: Columns to compare; empty means the model's input columns when model_alias
            is set (so a training snapshot's target and a prediction log's request ids and
            outputs are left out), else every column; they must be in both.
        method: "auto" or one of ks, chisquare, z, wasserstein, jensenshannon, psi, kl_div,
            hellinger.
        drift_share: Dataset drift when drifted ÷ compared columns >= this (e.g. 0.5).
        thresholds: Per-column thresholds {column: value}; others use the test default.
        column_methods: Per-column methods {column: name} overriding `method`.
        model_name: Registered model whose `@model_alias` version's predictions on both
            datasets are compared too (prediction drift, reported apart, not in the share);
            empty: no prediction drift. No such alias yet: skipped, with a log line.
        model_alias: The alias of that model version (e.g. champion); empty: no prediction
            drift.
        kfp_run_id: The KFP run id (dsl.PIPELINE_JOB_ID_PLACEHOLDER): where the verdict
            record goes (`runs/<id>/gates/drift.json`); empty = no record.
        metrics: Output numbers: drift_share, columns_compared, columns_drifted, drifted (1/0),
            score_<column>.
        report: Output Markdown verdict, as every gate writes. Metadata: passed (no drift),
            drifted, drift_share, drift_share_threshold, columns_drifted, columns_skipped,
            schema_changes, reasons.
        report_html: Output HTML page: per-column method, score, threshold, verdict, null
            shares.

    The verdict, drift share and per-column scores are pushed to the Pushgateway at
    KFP_MLOPS_PUSHGATEWAY_URL (none set: nothing pushed; a failed push only warns).

    Returns:
        drifted: True when the dataset has drifted.

    Raises:
        DataError: Empty data, a column missing from one dataset, or nothing comparable.
        ConfigError: Unknown method or a threshold out of range.
    """
    import time

    from components._shared.io.sources import open_source
    from components._shared.registry.champion import load_champion
    from components.detect_drift.core import detect_drift as compare
    from components.detect_drift.publishing import publish_result

    started = time.monotonic()
    found = load_champion(model_name, model_alias) if model_name and model_alias else None
    if model_name and (found is None or found.model is None):
        why = found.problem if found else "no such version yet"
        print(f"prediction drift skipped: models:/{model_name}@{model_alias}: {why}")
    result = compare(
        open_source(reference.path, "reference"),
        open_source(current.path, "current"),
        columns=list(columns),
        method=method,
        thresholds=dict(thresholds),
        per_column_methods=dict(column_methods),
        drift_share=drift_share,
        model=found.model if found else None,
    )
    seconds = time.monotonic() - started
    publish_result(result, metrics, report, report_html, kfp_run_id, model_name, seconds)
    return result.drifted
