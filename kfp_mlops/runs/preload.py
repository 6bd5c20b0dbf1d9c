"""What the warm runner imports, and in which order: the run's own tasks' libraries first.

Each task function (the spec's `--function_to_execute`) needs its core module and the
libraries that module imports lazily. The runner imports them between requests, one at a
time, and a task that arrives while an import is under way waits for it to finish: so the
libraries of the tasks a run starts with come first. A monitoring run that finds nothing
starts with the reference, the two snapshots and the drift check, and never validates or
trains: Great Expectations (2-7 s of imports) waits until those are in.

Imports only: nothing here may run an OpenMP region in the runner (kfp_mlops/runs/warm.py).
"""

from pathlib import Path

import yaml

_COMPONENTS = Path(__file__).resolve().parents[2] / "components"
# libyaml when PyYAML has it (as reports.py and retries.py read the spec); never None, which
# would raise TypeError and quietly drop the spec's order for PRELOAD's.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_FUNCTION = "--function_to_execute"
_MLFLOW = ("mlflow", "mlflow.tracking", "mlflow.artifacts")
_SKLEARN = tuple(
    f"sklearn.{m}"
    for m in ("ensemble", "linear_model", "pipeline", "compose", "impute", "preprocessing")
)

# Task function → what it imports, in the order training needs them (kfp.local runs one task
# at a time). Their union, in this order, is the preload of a run whose spec is not read.
BY_TASK = {
    "load_data": ("pandas", "pyarrow.parquet", "minio", "components._shared.io"),
    "validate_data": ("great_expectations",),
    "train_model": (*_SKLEARN, "skops.io"),
    "check_fairness": ("fairlearn.metrics",),
    "evaluate_model": _MLFLOW,
    "register_model": _MLFLOW,
    "resolve_reference": (*_MLFLOW, "components._shared.registry.champion"),
    "detect_drift": ("pandas", "pyarrow.parquet"),
}
PRELOAD = tuple(
    dict.fromkeys(
        [
            "kfp.dsl.executor_main",
            *(m for task, mods in BY_TASK.items() for m in (*mods, f"components.{task}.core")),
        ]
    )
)


def task_function(args: list[str]) -> str | None:
    """The task function an executor's argv names (`--function_to_execute NAME`), if any."""
    return args[args.index(_FUNCTION) + 1] if _FUNCTION in args[:-1] else None


def task_order(spec_path: Path) -> list[str]:
    """The spec's task functions, those that run on every run first, in dependency order.

    Sub-DAGs (an exit handler) are walked in place; tasks under a condition come last.
    """
    spec = next(yaml.load_all(spec_path.read_text(), Loader=_LOADER))
    components = spec.get("components", {})
    executors = spec.get("deploymentSpec", {}).get("executors", {})
    now, later = [], []

    def function(component: dict) -> str | None:
        container = executors.get(component.get("executorLabel"), {}).get("container", {})
        return task_function(container.get("args", []))

    def walk(dag: dict, out: list[str], branch: bool = False) -> None:
        tasks, done = dag.get("tasks", {}), set()
        while len(done) < len(tasks):
            ready = sorted(
                key
                for key, task in tasks.items()
                if key not in done and set(task.get("dependentTasks", [])) <= done
            )
            if not ready:
                return  # not a DAG after all: keep what was ordered
            for key in ready:
                done.add(key)
                task = tasks[key]
                component = components.get(task["componentRef"]["name"], {})
                conditional = "condition" in task.get("triggerPolicy", {}) and not branch
                target = later if conditional else out
                if "dag" in component:
                    # If/Elif/Else feeding a OneOf: one branch always runs (monitoring's drift).
                    walk(component["dag"], target, key.startswith("condition-branches-"))
                elif name := function(component):
                    target.append(name)

    walk(spec.get("root", {}).get("dag", {}), now)
    return list(dict.fromkeys(now + later))


def preload_order(spec_path: Path | None) -> list[str]:
    """PRELOAD, with the modules of the spec's tasks in the order they run first."""
    if spec_path is None:
        return list(PRELOAD)
    try:
        tasks = task_order(spec_path)
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError, StopIteration):
        return list(PRELOAD)
    first = ["kfp.dsl.executor_main"]
    for task in tasks:
        first += BY_TASK.get(task, ())
        if (_COMPONENTS / task / "core.py").is_file():
            first.append(f"components.{task}.core")
    return list(dict.fromkeys([*first, *PRELOAD]))
