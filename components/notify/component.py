"""KFP wrapper of the end-of-run notification (the exit task of every pipeline)."""

from kfp import dsl

from components._shared.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def notify(
    status: dsl.PipelineTaskFinalStatus,
    pipeline: str,
    model_name: str,
    kfp_run_id: str,
    message_format: str,
    pipeline_root: str,
    job_name: str,
    run_created: str,
) -> str:
    """Tell a webhook how the run ended; push the pipeline-end metrics; never fail the run.

    The message: the final status ("succeeded, blessed", "completed, rejected", "succeeded,
    no drift", "succeeded, nothing new to learn from" or "failed" with the failed task when it
    can be found and the error), one line per gate verdict (the gates' records in S3 for this
    run id), and the run's page in the Kubeflow UI (KFP_MLOPS_UI_URL + /#/runs/details/<run
    id>) or "local run <id>".
    The webhook URL comes from the env KFP_MLOPS_WEBHOOK_URL (the optional Secret
    kfp-mlops-notify, key webhook_url); without it the message is only printed. Posts are
    retried with exponential backoff on connection errors, timeouts, 5xx and 429 (Retry-After
    honoured, capped); any other 4xx is not retried; a redirect (3xx) is not followed and
    the message is "not delivered". Every string sent is redacted first (credential env
    values, URI user:password, key=value secrets, bearer tokens). Only the URL's host is
    ever printed.
    The Pushgateway (KFP_MLOPS_PUSHGATEWAY_URL) gets kfp_mlops_pipeline_last_run_* and, on
    success, kfp_mlops_pipeline_last_success_timestamp_seconds.

    Args:
        status: KFP's final status of the ExitHandler's group.
        pipeline: The pipeline's name (training, monitoring, deploy).
        model_name: The model the run was about.
        kfp_run_id: The run id (dsl.PIPELINE_JOB_ID_PLACEHOLDER): whose gate records to read.
        message_format: "slack" (incoming-webhook text + blocks) or "json".
        pipeline_root: dsl.PIPELINE_ROOT_PLACEHOLDER: in a local run, where the tasks' outputs
            show which task failed.
        job_name: dsl.PIPELINE_JOB_NAME_PLACEHOLDER: the run's folder under pipeline_root.
        run_created: dsl.PIPELINE_JOB_CREATE_TIME_UTC_PLACEHOLDER (RFC 3339): the run's
            duration is measured from it; anything unparseable leaves the duration out.

    Returns:
        The final status the message reported ("unknown" if notify itself went wrong).
    """
    from components.notify.announce import main_guarded

    outcome = main_guarded(
        state=status.state or "",
        error_message=status.error_message or "",
        group_task=status.pipeline_task_name or "",
        pipeline=pipeline,
        model_name=model_name,
        kfp_run_id=kfp_run_id,
        message_format=message_format,
        pipeline_root=pipeline_root,
        job_name=job_name,
        run_created=run_created,
    )
    return outcome["status"]
