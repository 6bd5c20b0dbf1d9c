"""KFP wrapper of a sharded drift run's plan: shards of whole row groups, and the drift plan."""

from kfp import dsl

from components._shared.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def plan_drift_shards(
    reference: dsl.Input[dsl.Dataset],
    current: dsl.Input[dsl.Dataset],
    shards: int,
    fan_in: str,
    columns: list,
    method: str,
    thresholds: dict,
    column_methods: dict,
    plan: dsl.Output[dsl.Artifact],
) -> list:
    """Plan a sharded drift run from the Parquet footers of both datasets (no row is read).

    Args:
        reference: Parquet (a file or a folder of files) of the reference data.
        current: Parquet (a file or a folder of files) of the data to check.
        shards: Shards per side, 2..64: whole row groups balanced by compressed bytes; a
            side with fewer row groups gets one shard per row group (logged).
        fan_in: "collected" (the reduce gets the states as artifacts) or "s3" (the map tasks
            also write them under the run's S3 prefix, which the reduce lists); checked here.
        columns: Columns to compare; empty means every column in both.
        method: "auto" or a registered test (as detect_drift).
        thresholds: Per-column thresholds {column: value}.
        column_methods: Per-column methods {column: name}.
        plan: Output JSON: the drift plan (columns, types, grid edges from the footers), its
            sha256 fingerprint, the rules, both datasets' URIs and the shards per side.

    Returns:
        shards: One item per shard of either side: side, index, of (shards of that side),
            uri, groups ([part, row group, bytes] each) and bytes.

    Raises:
        ConfigError: shards outside 2..64, an unknown fan_in or method.
        DataError: Data that is not Parquet, empty, or lacks a compared column.
    """
    from components.detect_drift.finalize import Rules
    from components.plan_drift_shards.core import plan_shards, write_plan

    planned = plan_shards(
        reference.uri,
        current.uri,
        shards,
        columns=list(columns),
        rules=Rules(method, dict(thresholds), dict(column_methods)),
        fan_in=fan_in,
    )
    for note in planned.notes:
        print(f"plan: {note}")
    write_plan(planned, plan.path)
    plan.metadata.update({"fingerprint": planned.plan.fingerprint, "shards": len(planned.shards)})
    return planned.shards
