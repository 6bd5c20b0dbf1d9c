"""Recurring runs on a KFP server: create one on a cron, replacing a same-named one if asked."""

from kfp_mlops.errors import UsageError
from kfp_mlops.kfp.client import Kfp
from kfp_mlops.kfp.specs import LocalSpec
from kfp_mlops.kfp.uploads import experiment_id, name_filter, uploaded_version


def schedule(
    kfp: Kfp,
    spec: LocalSpec,
    params: dict,
    *,
    cron: str,
    name: str,
    experiment: str,
    replace: bool,
    catchup: bool,
) -> dict:
    """Create a recurring run (cron already validated); replace a same-named one if asked."""
    pipeline, version = uploaded_version(kfp, spec)
    with kfp.call(f"looking for recurring run {name!r}"):
        existing = (
            kfp.client.list_recurring_runs(
                filter=name_filter(name), namespace=kfp.namespace, page_size=100
            ).recurring_runs
            or []
        )
    if existing and not replace:
        ids = [r.recurring_run_id for r in existing]
        raise UsageError(
            f"a recurring run named {name!r} already exists ({ids}); pass --replace to "
            "replace it, or --name to choose another name"
        )
    experiment_key = experiment_id(kfp, experiment)
    with kfp.call(f"creating recurring run {name!r}"):
        created = kfp.client.create_recurring_run(
            experiment_id=experiment_key,
            job_name=name,
            description=f"kfp-mlops {spec.name} on cron {cron!r}",
            cron_expression=cron,
            max_concurrency=1,
            no_catchup=not catchup,
            params=params,
            pipeline_id=pipeline.pipeline_id,
            version_id=version.pipeline_version_id,
        )
    # Created first, deleted after: a failed create never leaves the schedule missing.
    for old in existing:
        with kfp.call(f"deleting the replaced recurring run {old.recurring_run_id}"):
            kfp.client.delete_recurring_run(old.recurring_run_id)
    return {
        "recurring_run_id": created.recurring_run_id,
        "name": name,
        "cron": cron,
        "catchup": catchup,
        "version": version.display_name,
        "replaced": [r.recurring_run_id for r in existing],
        "url": f"{kfp.where.ui}/#/recurringrun/details/{created.recurring_run_id}",
    }
