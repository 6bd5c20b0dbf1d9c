"""Every pipeline ends with a notification: its body inside a dsl.ExitHandler around `notify`.

The handler wraps a pipeline's body, not the body's pipeline: the monitoring pipeline runs
the training *steps* as its retrain sub-pipeline, and an ExitHandler compiled inside that
sub-pipeline would run a second notify for the same run. So each pipeline file defines its
body as a plain function (also usable as a sub-pipeline), and the public pipeline is
`notified(body)`: the same parameters plus `notify_format`, the body inline in the handler.
"""

import inspect
from collections.abc import Callable

from kfp import dsl, kubernetes

from components._shared.verdicts.pushgateway import PUSHGATEWAY_ENV
from components.notify.announce import UI_URL_ENV, WEBHOOK_ENV
from components.notify.component import notify
from pipelines.task_settings import CONFIG_MAP, step

NOTIFY_SECRET = "kfp-mlops-notify"
NOTIFY_SECRET_KEYS = {"webhook_url": WEBHOOK_ENV}
# Optional keys: a cluster without a Kubeflow UI address or a Pushgateway still notifies.
NOTIFY_CONFIG_KEYS = {UI_URL_ENV: UI_URL_ENV, PUSHGATEWAY_ENV: PUSHGATEWAY_ENV}
FORMAT_PARAMETER = "notify_format"


def notify_step(pipeline: str, model_name, message_format) -> dsl.PipelineTask:
    """The exit task: S3 (gate records), the optional webhook Secret and ConfigMap keys."""
    task = notify(
        pipeline=pipeline,
        model_name=model_name,
        kfp_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
        message_format=message_format,
        pipeline_root=dsl.PIPELINE_ROOT_PLACEHOLDER,
        job_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
        run_created=dsl.PIPELINE_JOB_CREATE_TIME_UTC_PLACEHOLDER,
    )
    # Gate records and the webhook can change between runs with the same parameters.
    step(task, "notify", s3=True, reads_outside_state=True, memory="512Mi", pipeline=pipeline)
    kubernetes.use_secret_as_env(
        task, secret_name=NOTIFY_SECRET, secret_key_to_env=NOTIFY_SECRET_KEYS, optional=True
    )
    kubernetes.use_config_map_as_env(
        task, config_map_name=CONFIG_MAP, config_map_key_to_env=NOTIFY_CONFIG_KEYS, optional=True
    )
    return task


def notified(body: Callable, pipeline: str) -> Callable:
    """A pipeline function: `body`'s parameters + notify_format, the body inside the handler.

    Args:
        body: The pipeline's steps as a plain function whose parameters (with their literal
            defaults) are the pipeline's; it must take `model_name`.
        pipeline: The pipeline's name, as the notification and the metrics label it.
    """
    signature = inspect.signature(body)
    extra = inspect.Parameter(
        FORMAT_PARAMETER, inspect.Parameter.POSITIONAL_OR_KEYWORD, default="slack", annotation=str
    )
    full = signature.replace(parameters=[*signature.parameters.values(), extra])

    def run(*args, **kwargs):
        values = full.bind(*args, **kwargs).arguments
        message_format = values.pop(FORMAT_PARAMETER, "slack")
        exit_task = notify_step(pipeline, values["model_name"], message_format)
        with dsl.ExitHandler(exit_task):
            body(**values)

    run.__signature__ = full  # KFP reads a pipeline's inputs with inspect.signature
    run.__name__, run.__qualname__, run.__doc__ = body.__name__, body.__qualname__, body.__doc__
    run.__module__ = body.__module__
    return run
