"""KFP wrapper of a sharded drift run's reduce: merge the states, decide, publish as the gate."""

from kfp import dsl

from components._shared.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def merge_drift_states(
    plan: dsl.Input[dsl.Artifact],
    fan_in: str,
    drift_share: float,
    model_name: str,
    kfp_run_id: str,
    metrics: dsl.Output[dsl.Metrics],
    report: dsl.Output[dsl.Markdown],
    report_html: dsl.Output[dsl.HTML],
    states: dsl.Input[list[dsl.Artifact]] = None,
) -> bool:
    """Merge every shard's drift state per side and decide, with the drift gate's outputs.

    Each state's sha256 is checked, its plan must be this run's, and each side must have
    exactly its planned shards. Columns the footers could not range get their grid counted
    here (a second pass over those columns); scores within their bound of the threshold are
    re-scored exactly here when they fit exact mode, as in the one-pod path. With a model
    pinned in the plan, its prediction column is decided as the one-pod gate decides it
    (reported apart, not in the share); what is read again of it comes from the predictions
    the map tasks stored (sha256 and rows checked), never from scoring again.

    Args:
        plan: The plan task's JSON (plan_drift_shards).
        fan_in: "collected": read `states`; "s3": list the run's S3 prefix instead.
        drift_share: Dataset drift when drifted ÷ compared columns >= this.
        model_name: The model the verdict is about (pushed figures, gate record); also
            scopes the S3 prefix in a fleet run.
        kfp_run_id: The KFP run id (dsl.PIPELINE_JOB_ID_PLACEHOLDER): the verdict record and
            the S3 prefix.
        metrics: Output numbers, as detect_drift's.
        report: Output Markdown verdict, with detect_drift's metadata.
        report_html: Output HTML page, as detect_drift's.
        states: The map tasks' state artifacts (dsl.Collected); left out with fan_in "s3",
            for backends without artifact fan-in. The one parameter with a default.

    Returns:
        drifted: True when the dataset has drifted.

    Raises:
        DataError: A corrupt, stale, missing or duplicated state or stored predictions, a
            state counted with another model than the plan's, or no rows.
    """
    import time

    from components.detect_drift.publishing import publish_result
    from components.detect_drift.sharding import plan_of, state_prefix
    from components.merge_drift_states.core import reduce_from

    started = time.monotonic()
    document, planned = plan_of(plan.path)
    prefix = state_prefix(kfp_run_id, planned.fingerprint, model_name) if fan_in == "s3" else ""
    folders = [] if prefix else [s.path for s in states or []]
    result = reduce_from(document, planned, folders, prefix, drift_share)
    seconds = time.monotonic() - started
    publish_result(result, metrics, report, report_html, kfp_run_id, model_name, seconds)
    return result.drifted
