"""KFP wrapper of a sharded drift run's map task: one shard of one side → its state."""

from kfp import dsl

from components._shared.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def drift_shard(
    plan: dsl.Input[dsl.Artifact],
    shard: dict,
    fan_in: str,
    model_name: str,
    kfp_run_id: str,
    state: dsl.Output[dsl.Artifact],
):
    """Count one shard's row groups into the mergeable drift state of its side.

    Args:
        plan: The plan task's JSON (plan_drift_shards); its fingerprint is checked.
        shard: One item of the plan task's list (side, uri, row groups).
        fan_in: "s3": also write the state under the run's S3 prefix for the reduce to list;
            "collected": the output artifact only.
        model_name: Scopes that prefix in a fleet run (one run id, many models).
        kfp_run_id: The KFP run id (dsl.PIPELINE_JOB_ID_PLACEHOLDER): scopes that prefix.
        state: Output folder: state.npz (no pickle) and state.npz.sha256. Metadata: side,
            index, rows, sha256, fingerprint.

    Raises:
        DataError: The data changed since the plan, or a part is not readable Parquet.
    """
    from components.detect_drift.sharding import plan_of, state_prefix
    from components.drift_shard.core import count_shard, save_shard

    _, planned = plan_of(plan.path)
    prefix = state_prefix(kfp_run_id, planned.fingerprint, model_name) if fan_in == "s3" else ""
    counted = count_shard(planned, shard)
    digest = save_shard(counted, shard, state.path, prefix)
    index = int(shard["index"])  # a loop item's numbers may come back as floats
    state.metadata.update(
        {
            "side": shard["side"],
            "index": index,
            "rows": counted.rows,
            "sha256": digest,
            "fingerprint": planned.fingerprint,
        }
    )
    print(f"{shard['side']} shard {index}: {counted.rows} rows, sha256 {digest[:12]}")
