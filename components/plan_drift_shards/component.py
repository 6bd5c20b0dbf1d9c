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
    model_name: str,
    model_alias: str,
    plan: dsl.Output[dsl.Artifact],
) -> list:
    """Plan a sharded drift run from the Parquet footers of both datasets.

    No row is read, except, with a model, the first batch of its inputs on each side (the
    type of its output).

    Args:
        reference: Parquet (a file or a folder of files) of the reference data.
        current: Parquet (a file or a folder of files) of the data to check.
        shards: Shards per side, 2..64: whole row groups balanced by compressed bytes; a
            side with fewer row groups gets one shard per row group (logged).
        fan_in: "collected" (the reduce gets the states as artifacts) or "s3" (the map tasks
            also write them under the run's S3 prefix, which the reduce lists); checked here.
        columns: Columns to compare; empty means the model's input columns when model_alias
            is set (as detect_drift), else every column in both.
        method: "auto" or a registered test (as detect_drift).
        thresholds: Per-column thresholds {column: value}.
        column_methods: Per-column methods {column: name}.
        model_name: Registered model whose `@model_alias` version's predictions are compared
            too (prediction drift, as detect_drift); empty: none. No such alias yet:
            skipped, with a log line.
        model_alias: The alias, resolved here once: the plan pins its version and sha256,
            and every map task loads that version and checks it; empty: no prediction drift.
        plan: Output JSON: the drift plan (columns, types, grid edges from the footers), its
            sha256 fingerprint, the rules, both datasets' URIs, the shards per side and the
            pinned model (name, alias, version, sha256; null without one).

    Returns:
        shards: One item per shard of either side: side, index, of (shards of that side),
            uri, groups ([part, row group, bytes] each) and bytes.

    Raises:
        ConfigError: shards outside 2..64, an unknown fan_in or method.
        DataError: Data that is not Parquet, empty, or lacks a compared column or one of the
            model's inputs.
        ModelTrustError: The version's file is not the recorded one or is not trusted.
    """
    from components._shared.registry.champion import load_champion
    from components.detect_drift.finalize import Rules
    from components.detect_drift.sharding import pin
    from components.plan_drift_shards.core import plan_shards, write_plan

    found = load_champion(model_name, model_alias) if model_name and model_alias else None
    if model_name and model_alias and found is None:
        print(f"prediction drift skipped: models:/{model_name}@{model_alias}: no such version yet")
    pinned = pin(model_name, model_alias, found.version, found.sha256) if found else None
    planned = plan_shards(
        reference.uri,
        current.uri,
        shards,
        columns=list(columns),
        rules=Rules(method, dict(thresholds), dict(column_methods)),
        fan_in=fan_in,
        model=found.model if found else None,
        pinned=pinned,
    )
    for note in planned.notes:
        print(f"plan: {note}")
    write_plan(planned, plan.path)
    plan.metadata.update({"fingerprint": planned.plan.fingerprint, "shards": len(planned.shards)})
    if pinned:
        plan.metadata["model_version"] = pinned["version"]
        print(f"plan: prediction drift with models:/{model_name}/{pinned['version']}")
    return planned.shards
