"""Which task failed: what the orchestrator tells the exit handler, or what a local run left.

KFP hands an exit task the final status of the ExitHandler's group (`exit-handler-1`), not of
the task that failed inside it: kfp.local says "Task exit-handler-1 failed." and the v2
backend driver fills the producer's name with the group too (kubeflow/pipelines
backend/src/v2/driver: `PipelineTaskName: producer.GetName()`, with an empty or group-level
`Error`). So the message names the failed task only when it can be found out:
- from the status, should a backend ever name a task other than the group;
- in a local run, from the run's folder: kfp.local writes `<pipeline root>/<job name>/<task>/
  executor_output.json` for every task that completed, and nothing for one that failed. The
  failed task is the one that did not complete although every task it waits for did.
"""

import re
from dataclasses import dataclass
from pathlib import Path

_FAILED = re.compile(r"[Tt]ask '?([\w.-]+)'? failed")


@dataclass(frozen=True)
class Step:
    """One executed task of a compiled spec.

    Attributes:
        folder: The folder kfp.local writes its outputs to (its task key, or its component's
            name when a nested DAG repeats a key used before).
        display_name: What the spec (and the Kubeflow UI) calls it.
        waits_for: Folders of the executed tasks it waits for, those of its enclosing DAGs
            included.
    """

    folder: str
    display_name: str
    waits_for: frozenset[str]


def failed_from_status(error_message: str, group_task: str) -> str:
    """A task named as failed in the status message, unless it is only the group itself."""
    found = _FAILED.search(error_message or "")
    return found[1] if found and found[1] != group_task else ""


def spec_steps(spec: dict) -> list[Step]:
    """The executed tasks (not DAGs) of a parsed compiled spec, root DAG first."""
    components = spec.get("components", {})
    steps: list[Step] = []
    claimed: set[str] = set()
    pending = [(spec["root"]["dag"], frozenset())]
    while pending:
        dag, inherited = pending.pop(0)
        folders = {}
        for key, task in dag["tasks"].items():
            component = task["componentRef"]["name"]
            if "dag" not in components.get(component, {}):
                folders[key] = key if key not in claimed else component.removeprefix("comp-")
            claimed.add(key)
        for key, task in dag["tasks"].items():
            # Waiting for a DAG (a sub-pipeline, a condition) counts as satisfied here.
            waits = inherited | {folders[d] for d in task.get("dependentTasks", []) if d in folders}
            component = components.get(task["componentRef"]["name"], {})
            if key not in folders:
                pending.append((component["dag"], waits))
            else:
                steps.append(Step(folders[key], task["taskInfo"]["name"], frozenset(waits)))
    return steps


def stalled_steps(steps: list[Step], completed: set[str], exit_task: str) -> list[str]:
    """Display names of the tasks that did not complete though all they wait for did."""
    return [
        s.display_name
        for s in steps
        if s.folder != exit_task and s.folder not in completed and s.waits_for <= completed
    ]


def local_failed_tasks(
    spec_path: Path, pipeline_root: str, job_name: str, exit_task: str
) -> list[str]:
    """The failed task(s) of a local run, read from its folder; [] when not a local run."""
    import yaml

    run_dir = Path(pipeline_root) / job_name
    if "://" in pipeline_root or not job_name or not run_dir.is_dir() or not spec_path.is_file():
        return []
    completed = {p.parent.name for p in run_dir.glob("*/executor_output.json")}
    spec = next(yaml.safe_load_all(spec_path.read_text()))
    return stalled_steps(spec_steps(spec), completed, exit_task)
