"""The drift step of a sharded run: plan → ParallelFor over the shards → reduce.

Used by the monitoring steps (pipelines/monitoring.py) when `shards` is above one. The
ParallelFor limit is compiled into the spec (KFP reads it when the run starts).
"""

from kfp import dsl

from components.drift_shard.component import drift_shard
from components.merge_drift_states.component import merge_drift_states
from components.plan_drift_shards.component import plan_drift_shards
from pipelines.task_settings import step

PIPELINE = "monitoring"  # the `pipeline` label the reduce's gate pushes
# Map tasks at once in a sharded drift run (each costs two pods on KFP, #12642); compiled in.
SHARD_PARALLELISM = 16


def sharded_drift(
    reference,
    current,
    shards,
    fan_in,
    columns,
    method,
    share,
    thresholds,
    model,
    alias,
    given=None,
):
    """Plan → ParallelFor(shards of both sides) → reduce: the drift gate's outputs, K pods wide.

    `alias` (e.g. the pipeline's prediction_drift_alias; empty: none) is resolved once, by the
    plan task, to a version every map task loads and scores with (prediction drift).

    With fan_in "s3" the reduce takes no artifact list (backends without artifact fan-in,
    kubeflow/pipelines#11725; Vertex's 100-artifact cap): the map tasks also write their
    states under the run's S3 prefix and the reduce lists it once they are all done.
    `fan_in` (a literal) shapes the graph; `given` (the pipeline's parameter, when there is
    one) goes to the plan task, which refuses a value other than "collected" or "s3".
    """
    planned = step(
        plan_drift_shards(
            reference=reference,
            current=current,
            shards=shards,
            fan_in=fan_in if given is None else given,
            columns=columns,
            method=method,
            thresholds=thresholds,
            column_methods={},
            model_name=model,
            model_alias=alias,
        ),
        "plan drift shards",
        s3=True,  # reads the footers through the artifacts' URIs
        mlflow=True,  # resolves the alias and loads the model (its inputs, its output's type)
        loads_models=True,
        reads_outside_state=True,  # the alias can point at another version next run
        retries=2,
        memory="1Gi",  # the model beside the footers
    )
    with dsl.ParallelFor(
        planned.outputs["Output"], parallelism=SHARD_PARALLELISM, name="each shard"
    ) as shard:
        mapped = step(
            drift_shard(
                plan=planned.outputs["plan"],
                shard=shard,
                fan_in=fan_in,
                model_name=model,
                kfp_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
            ),
            "count drift shard",
            s3=True,  # ranged reads of its row groups; the states' prefix with fan_in "s3"
            mlflow=True,  # loads the version the plan pinned, to score its rows
            loads_models=True,
            # A cached map task would not write to this run's prefix: never cached with "s3".
            reads_outside_state=fan_in == "s3",
            retries=2,
            # 1 GiB for the state budget (detect_drift/state.py) and the reader, 512 MiB for
            # the model and one batch's scoring.
            memory="1536Mi",
        )
    collected = {"states": dsl.Collected(mapped.outputs["state"])} if fan_in == "collected" else {}
    merged = merge_drift_states(
        plan=planned.outputs["plan"],
        fan_in=fan_in,
        drift_share=share,
        model_name=model,
        kfp_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
        **collected,
    )
    if not collected:
        merged.after(mapped)
    return step(
        merged,
        "merge drift states",
        pipeline=PIPELINE,
        reads_outside_state=fan_in == "s3",  # lists a prefix, not its inputs
        gate=True,
        retries=2,
        memory="2Gi",  # exact re-scoring of the columns within their bound, as the one pod
    )
