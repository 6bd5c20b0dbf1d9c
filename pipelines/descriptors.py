"""Every pipeline described once: function, compiled spec, gate tasks, display names.

Compile, the CLI, the local runner and summaries, the KFP client and the tests read a
pipeline's structure from here. Data and lazy imports only: this module names no module
of the tool (kfp_mlops) — the tool's summaries choose their summarizer by pipeline name —
and no module path as a string. Task keys (`register-model`) are what kfp.local names a task;
display names (`register model`, from `set_display_name`) are what the compiled spec holds in
`taskInfo.name` and what the KFP API server reports as a task's `display_name` (v2beta1
PipelineTaskDetail: "User specified name of a task that is defined in Pipeline.spec",
kubeflow/pipelines backend/api/v2beta1). Display names are read from the compiled spec, never
written here, so they cannot drift from what a server reports.
"""

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from components._shared.compiled import COMPILED_DIR, compiled_spec  # noqa: F401 (public here too)


@dataclass(frozen=True)
class Pipeline:
    """One pipeline and the parts of its structure that the tool reads.

    Attributes:
        name: The CLI name and the compiled spec's file stem.
        function: Imports and returns the @dsl.pipeline function (lazily: kfp and the
            components are heavy).
        gates: Gate name (a key of the summary's `gates`) → task key, in display order.
        register_task: Task key of the step that registers a blessed model ("" if none).
        train_task: Task key of the step that trains; it ran when a model was trained ("" if
            the pipeline never trains).
        skipped: Display name of a condition (dsl.If name) → what its skipping means.
        trains_always: Every successful run trains a model (training); else only on a branch.
        retrain_condition: Display name of the condition under which training runs, if any.
        current_task: Task key of the step that snapshots the data monitored ("" if none).
        build_task: Task key of the step that builds the retrain's training set ("" if none).
    """

    name: str
    function: Callable[[], Callable]
    gates: dict[str, str]
    register_task: str = "register-model"
    train_task: str = "train-model"
    skipped: dict[str, str] = field(default_factory=dict)
    trains_always: bool = True
    retrain_condition: str = ""
    current_task: str = ""
    build_task: str = ""

    @property
    def compiled_path(self) -> Path:
        """Where the compiled spec lives (compiled/<name>.yaml)."""
        return compiled_spec(self.name)

    def load_function(self) -> Callable:
        """The @dsl.pipeline function."""
        return self.function()

    def display_names(self) -> dict[str, str]:
        """Task key → display name, read from the compiled spec (root tasks first)."""
        return spec_display_names(self.compiled_path)

    def log_names(self) -> dict[str, str]:
        """Names kfp.local logs tasks under → display name, for the progress display.

        kfp.local logs a sub-pipeline's task whose key repeats a parent's under its
        component's name instead (monitoring's retrain snapshot is `load-data-3`).
        """
        spec = next(yaml.safe_load_all(self.compiled_path.read_text()))
        names = spec_display_names(self.compiled_path)
        for component in spec.get("components", {}).values():
            for task in component.get("dag", {}).get("tasks", {}).values():
                logged = task["componentRef"]["name"].removeprefix("comp-")
                names.setdefault(logged, task["taskInfo"]["name"])
        return names

    def display_name(self, task: str) -> str:
        """The display name the compiled spec (and so a KFP server) gives a task key."""
        names = self.display_names()
        if task not in names:
            raise KeyError(f"{self.name}: no task {task!r} in {self.compiled_path.name}")
        return names[task]


_NOT_BLESSED = "register model skipped: a gate did not bless the model"
_TRAINING_GATES = {
    "validation": "validate-data",
    "evaluation": "evaluate-model",
    "fairness": "check-fairness",
}
_TRAINING_SKIPS = {"evaluation-blessed": _NOT_BLESSED, "fairness-blessed": _NOT_BLESSED}


def _training() -> Callable:
    from pipelines.training import training

    return training


def _monitoring() -> Callable:
    from pipelines.monitoring import monitoring

    return monitoring


def _deploy() -> Callable:
    from pipelines.deploy import deploy

    return deploy


def _compare_live() -> Callable:
    from pipelines.compare_live import compare_live_pipeline

    return compare_live_pipeline


def _monitoring_fleet() -> Callable:
    from pipelines.monitoring_fleet import monitoring_fleet

    return monitoring_fleet


PIPELINES: dict[str, Pipeline] = {
    "training": Pipeline(
        name="training",
        function=_training,
        gates=_TRAINING_GATES,
        skipped=_TRAINING_SKIPS,
    ),
    "monitoring": Pipeline(
        name="monitoring",
        function=_monitoring,
        gates={
            "drift": "detect-drift",
            "live_performance": "check-performance",
            "novelty": "check-novelty",
            **_TRAINING_GATES,
        },
        skipped={
            "retrain needed": "retrain skipped: no drift, live performance not below its bounds",
            **_TRAINING_SKIPS,
            "something new to learn": "retrain skipped: nothing new to learn from, or no "
            "training set (see check novelty and build training set)",
        },
        trains_always=False,
        retrain_condition="retrain needed",
        current_task="load-data-2",
        build_task="build-training-set",
    ),
    "deploy": Pipeline(
        name="deploy",
        function=_deploy,
        gates={"deploy": "deploy-model"},
        register_task="",
        train_task="",
        trains_always=False,
    ),
    "compare-live": Pipeline(
        name="compare-live",
        function=_compare_live,
        gates={"live_comparison": "compare-live-gate"},
        register_task="",
        train_task="",
        trains_always=False,
    ),
    # Gates run per model inside the ParallelFor; the fleet report is the run's verdict.
    "monitoring-fleet": Pipeline(
        name="monitoring-fleet",
        function=_monitoring_fleet,
        gates={},
        register_task="",
        train_task="",
        trains_always=False,
    ),
}


def pipeline(name: str) -> Pipeline:
    """The descriptor of a pipeline, or a KeyError listing the known ones."""
    if name not in PIPELINES:
        raise KeyError(f"unknown pipeline {name!r}; expected one of {sorted(PIPELINES)}")
    return PIPELINES[name]


def pipelines() -> dict[str, Callable]:
    """Pipeline name → pipeline function, for compile."""
    return {name: p.load_function() for name, p in PIPELINES.items()}


def compiled_path(name: str) -> Path:
    """Where the compiled spec of a pipeline lives."""
    return pipeline(name).compiled_path


@functools.cache
def _spec_names(path: Path, mtime_ns: int) -> dict[str, str]:
    spec = next(yaml.safe_load_all(path.read_text()))
    return spec_task_names(spec)


def spec_display_names(path: Path) -> dict[str, str]:
    """Task key → display name of a compiled spec file (re-read when the file changes)."""
    return dict(_spec_names(path, path.stat().st_mtime_ns))


def spec_task_names(spec: dict) -> dict[str, str]:
    """Task key → `taskInfo.name` across the root DAG and every nested DAG of a parsed spec.

    Outer DAGs come first (breadth-first from the root): a sub-pipeline's task keys can
    repeat the parent's, and the parent's body sits one level down, in its exit handler's DAG.
    """
    components = spec.get("components", {})
    names: dict[str, str] = {}
    pending = [spec["root"]["dag"]]
    while pending:
        dag = pending.pop(0)
        for key, task in dag["tasks"].items():
            names.setdefault(key, task["taskInfo"]["name"])
            inner = components.get(task["componentRef"]["name"], {})
            if "dag" in inner:
                pending.append(inner["dag"])
    return names
