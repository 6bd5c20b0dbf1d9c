"""KFP component: validate a dataset with a GX 1.x suite and fail on bad data, after reporting."""

from kfp import dsl

from components._shared.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def validate_data(
    dataset: dsl.Input[dsl.Dataset],
    target_column: str,
    suite: dict,
    min_rows: int,
    model_name: str,
    kfp_run_id: str,
    validation: dsl.Output[dsl.Artifact],
    report: dsl.Output[dsl.Markdown],
    metrics: dsl.Output[dsl.Metrics],
):
    """Validate a Parquet dataset with a Great Expectations 1.x suite.

    With an empty suite (`{}`, or no expectations) the baseline runs: at least `min_rows`
    rows, the target never null and with at least 2 classes, no column entirely null. The
    target column must exist in every case. The outputs are written before the step fails.

    Args:
        dataset: Parquet table (from load_data).
        target_column: The label column.
        suite: A GX 1.x suite in its JSON form: `{"name": ..., "expectations": [{"type":
            "expect_column_to_exist", "kwargs": {"column": "age"}}, ...]}`.
        min_rows: Minimum row count of the baseline (unused when a suite is given).
        model_name: The model the data is for: the `model` label of the pushed figures.
        kfp_run_id: The KFP run id (dsl.PIPELINE_JOB_ID_PLACEHOLDER): where the verdict
            record goes (`runs/<id>/gates/validation.json`); empty = no record.
        validation: Output. The GX validation result (JSON). Metadata: `success`,
            `suite_sha256` (of the effective suite's canonical JSON), `evaluated`, `failed`,
            `suite_name`.
        report: Output. Markdown: verdict, failed expectations, a table of all of them.
            Metadata: `passed`, `reasons` (one line per failed expectation), `evaluated`,
            `failed`.
        metrics: Output. `expectations_evaluated`, `expectations_failed`, `success_percent`,
            `rows`.

    The verdict and counts are pushed to the Pushgateway at KFP_MLOPS_PUSHGATEWAY_URL (none
    set: nothing pushed; a failed push only warns), before a failure is raised.

    Raises:
        DataError: An expectation failed (names each one and its unexpected count), or the
            target column is missing (lists the columns).
        ConfigError: The suite is malformed (names the bad expectation) or min_rows < 1.
    """
    import json
    import time

    from components._shared.errors import DataError
    from components._shared.io import read_parquet
    from components._shared.reports.markdown import write_text
    from components._shared.verdicts.publish import publish_verdict
    from components.validate_data.core import validate
    from components.validate_data.signals import figures_of, record_of

    started = time.monotonic()
    result = validate(read_parquet(dataset.path), target_column, suite, min_rows)
    write_text(validation.path, json.dumps(result.result, indent=2, default=str))
    validation.metadata.update(
        {
            "success": result.success,
            "suite_sha256": result.suite_sha256,
            "evaluated": result.evaluated,
            "failed": result.failed,
            "suite_name": result.suite_name,
        }
    )
    write_text(report.path, result.markdown())
    report.metadata.update(
        {
            "passed": result.success,
            "reasons": result.reasons,
            "evaluated": result.evaluated,
            "failed": result.failed,
        }
    )
    metrics.log_metric("expectations_evaluated", result.evaluated)
    metrics.log_metric("expectations_failed", result.failed)
    metrics.log_metric("success_percent", result.success_percent)
    metrics.log_metric("rows", result.rows)
    publish_verdict(
        kfp_run_id,
        figures_of(result, model_name, time.monotonic() - started),
        lambda pipeline: record_of(result, model_name, pipeline),
    )
    if not result.success:
        raise DataError(result.failure_message())
