"""Pipeline descriptors: one entry per pipeline, its structure read from the compiled spec."""

import inspect

import pytest
import yaml

from kfp_mlops.runs.local import _Progress
from kfp_mlops.runs.summaries import SUMMARIZERS
from pipelines.descriptors import PIPELINES, spec_display_names
from pipelines.exit_handler import FORMAT_PARAMETER
from pipelines.lineage import SCALAR_TYPES


def _signature(name: str) -> dict[str, inspect.Parameter]:
    return dict(inspect.signature(PIPELINES[name].load_function().pipeline_func).parameters)


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_every_task_a_descriptor_names_is_in_its_compiled_spec(name):
    described = PIPELINES[name]
    names = described.display_names()
    roles = [described.register_task, described.train_task]
    for task in [*described.gates.values(), *filter(None, roles)]:
        assert task in names, f"{name}: {task!r} is not a task of {described.compiled_path.name}"
    spec = next(yaml.safe_load_all(described.compiled_path.read_text()))
    dags = [spec["root"]["dag"]] + [c["dag"] for c in spec["components"].values() if "dag" in c]
    every_name = {task["taskInfo"]["name"] for dag in dags for task in dag["tasks"].values()}
    assert set(described.skipped) <= every_name
    assert described.load_function().name == name  # the @dsl.pipeline function, imported lazily


def test_the_tool_has_a_summarizer_for_every_described_pipeline():
    assert set(SUMMARIZERS) == set(PIPELINES)


def test_display_names_are_what_set_display_name_gave_not_the_task_keys():
    training = PIPELINES["training"]
    assert training.display_name("register-model") == "register model"
    assert training.display_name("load-data") == "snapshot data"
    with pytest.raises(KeyError, match=r"no task 'no-such-task' in training\.yaml"):
        training.display_name("no-such-task")


def test_display_names_follow_the_spec_file_when_it_changes(tmp_path):
    spec = next(yaml.safe_load_all(PIPELINES["training"].compiled_path.read_text()))
    path = tmp_path / "training.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert spec_display_names(path)["train-model"] == "train model"
    # The body sits in the exit handler's DAG (pipelines/exit_handler.py), not the root's.
    body = spec["components"]["comp-exit-handler-1"]["dag"]["tasks"]
    body["train-model"]["taskInfo"]["name"] = "fit"
    path.write_text(yaml.safe_dump(spec) + "\n# changed\n")
    assert spec_display_names(path)["train-model"] == "fit"


def test_monitoring_declares_every_training_parameter_with_the_same_default():
    training, monitoring = _signature("training"), _signature("monitoring")
    for name, param in training.items():
        if name == "data_uri":  # monitoring retrains on a built training set, or retrain_data_uri
            assert monitoring["retrain_data_uri"].default == ""
            continue
        assert name in monitoring, f"monitoring lacks training's parameter {name}"
        assert monitoring[name].default == param.default, name
        assert monitoring[name].annotation is param.annotation, name


def test_lineage_records_every_scalar_training_parameter_and_no_list_or_dict():
    scalars = {
        n for n, p in _signature("training").items() if p.annotation in (str, int, float, bool)
    }
    scalars.remove(FORMAT_PARAMETER)  # how the run's end is told, not how the model was made
    assert {"min_rows", "positive_label", "promote"} <= scalars  # once missing from the lineage
    spec = next(yaml.safe_load_all(PIPELINES["training"].compiled_path.read_text()))
    register = next(
        c["dag"]["tasks"]["register-model"]
        for c in spec["components"].values()
        if "register-model" in c.get("dag", {}).get("tasks", {})
    )
    recorded = register["inputs"]["parameters"]["parameters"]["runtimeValue"]["constant"]
    assert set(recorded) == scalars
    assert set(SCALAR_TYPES) == {"String", "Integer", "Float", "Boolean"}


def test_progress_names_a_skipped_condition_by_what_its_skipping_means():
    lines = []
    progress = _Progress(PIPELINES["monitoring"], lines.append)
    retrain = PIPELINES["monitoring"].retrain_condition
    drifted = next(key for key, name in progress.names.items() if name == retrain)
    progress.feed(f"Skipping conditional task '{drifted}'")
    progress.feed("Executing task 'train-model'")
    progress.feed(f"Skipping conditional task '{drifted}'")
    assert lines[0] == "  - retrain skipped: no drift, live performance not below its bounds"
    assert lines[-1] == "  - register model skipped: a gate did not bless the model"


def test_progress_names_a_sub_pipeline_task_kfp_local_logs_under_its_component_name():
    names = PIPELINES["monitoring"].log_names()
    assert names["load-data-3"] == "snapshot data"  # the retrain's snapshot, not its key
    assert names["load-data"] == "snapshot reference"  # root tasks keep their own names
    assert names["load-data-2"] == "snapshot current"
