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
    predictions: dsl.Output[dsl.Dataset],
):
    """Count one shard's row groups into the mergeable drift state of its side.

    With a model pinned in the plan (prediction drift), that version is loaded through the
    checked loader and its sha256 must be the plan's; its output on each row is counted as
    the column `prediction` and stored for the reduce.

    Args:
        plan: The plan task's JSON (plan_drift_shards); its fingerprint is checked.
        shard: One item of the plan task's list (side, uri, row groups).
        fan_in: "s3": also write the state under the run's S3 prefix for the reduce to list;
            "collected": the output artifact only.
        model_name: Scopes that prefix in a fleet run (one run id, many models).
        kfp_run_id: The KFP run id (dsl.PIPELINE_JOB_ID_PLACEHOLDER): scopes that prefix.
        state: Output folder: state.npz (no pickle) and state.npz.sha256; the state names
            its predictions (URI, rows, sha256, model). Metadata: side, index, rows, sha256,
            fingerprint.
        predictions: Output Parquet of one column, `prediction`, the model's output on the
            shard's rows in the order read (the reduce reads it back instead of scoring
            again); without a model, no rows. Metadata: rows, sha256, model_version.

    Raises:
        DataError: The data changed since the plan, or a part is not readable Parquet.
        ModelTrustError: The pinned version's file or recorded sha256 is not the plan's.
    """
    from components.detect_drift.sharding import (
        load_pinned,
        object_sha256,
        plan_of,
        readable_uri,
        schema_of,
        state_prefix,
    )
    from components.drift_shard.core import count_shard, save_shard, write_no_predictions

    document, planned = plan_of(plan.path)
    pinned = document.get("model")
    model = load_pinned(pinned) if pinned else None
    prefix = state_prefix(kfp_run_id, planned.fingerprint, model_name) if fan_in == "s3" else ""
    schema = schema_of(document, shard["side"])
    counted = count_shard(planned, shard, schema, model, predictions.path if model else None)
    notes = {}
    if model is None:
        write_no_predictions(predictions.path)  # KFP uploads every declared output
    else:
        sha = object_sha256(predictions.path)
        notes["predictions"] = {
            "uri": readable_uri(predictions.uri),
            "rows": counted.rows,
            "sha256": sha,
            "model": pinned,
        }
        predictions.metadata.update(
            {"rows": counted.rows, "sha256": sha, "model_version": pinned["version"]}
        )
    digest = save_shard(counted, shard, state.path, prefix, notes)
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
