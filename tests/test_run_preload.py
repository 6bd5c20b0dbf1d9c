"""The warm runner's import order follows the run's spec: its first tasks' libraries first."""

from pathlib import Path

import yaml

from kfp_mlops.runs.preload import PRELOAD, preload_order, task_order
from pipelines.descriptors import compiled_spec


def test_run_preload_monitoring_imports_gx_only_after_what_its_first_tasks_need():
    order = preload_order(compiled_spec("monitoring"))
    assert sorted(set(order) - set(PRELOAD)) == [
        "components.build_training_set.core",
        "components.check_novelty.core",
        "components.check_performance.core",
        "components.drift_shard.core",
        "components.merge_drift_states.core",
        "components.notify.core",
        "components.plan_drift_shards.core",
    ]
    assert set(PRELOAD) <= set(order) and len(order) == len(set(order))
    gx = order.index("great_expectations")
    for first in ("mlflow", "components.resolve_reference.core", "components.detect_drift.core"):
        assert order.index(first) < gx, first
    # Every run path first, the retrain branch (under a condition) after it.
    tasks = task_order(compiled_spec("monitoring"))
    assert tasks[:8] == [
        "load_data",
        "resolve_reference",
        "detect_drift",  # one of the drift branches always runs: the one pod, or sharded
        "plan_drift_shards",
        "drift_shard",
        "merge_drift_states",
        "check_performance",
        "notify",
    ]
    assert tasks.index("validate_data") > tasks.index("notify")


def test_run_preload_training_keeps_the_training_order():
    order = preload_order(compiled_spec("training"))
    training = [m for m in PRELOAD if m in order]
    assert order.index("great_expectations") < order.index("skops.io") < order.index("mlflow")
    assert order[: order.index("mlflow")] == training[: training.index("mlflow")]


def test_run_preload_unreadable_or_missing_spec_falls_back_to_the_full_list(tmp_path):
    assert preload_order(None) == list(PRELOAD)
    assert preload_order(tmp_path / "missing.yaml") == list(PRELOAD)
    bad = tmp_path / "bad.yaml"
    bad.write_text("root: [unclosed")
    assert preload_order(bad) == list(PRELOAD)
    cyclic = tmp_path / "cyclic.yaml"
    tasks = {
        "a": {"componentRef": {"name": "comp-a"}, "dependentTasks": ["b"]},
        "b": {"componentRef": {"name": "comp-b"}, "dependentTasks": ["a"]},
    }
    cyclic.write_text(yaml.safe_dump({"root": {"dag": {"tasks": tasks}}}))
    assert task_order(Path(cyclic)) == []
    assert preload_order(cyclic) == list(PRELOAD)
