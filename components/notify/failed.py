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
_GROUP = "comp-condition-branches-"  # an If/Elif/Else group: its DAGs are its branches
_LOOP = "comp-for-loop-"  # a ParallelFor


@dataclass(frozen=True)
class Step:
    """One executed task of a compiled spec.

    Attributes:
        folder: The folder kfp.local writes its outputs to (`_folder`: its component's name
            without `comp-`).
        display_name: What the spec (and the Kubeflow UI) calls it.
        waits_for: Folders of the executed tasks it waits for, those of its enclosing DAGs
            included.
        branches: (group, branch) of each If/Elif/Else group it sits in: one branch of a
            group runs, so a step of another branch than the one that ran never stalled.
        waits_any: For each If/Elif/Else group or ParallelFor it waits for, the alternatives
            of last steps (a group: one per branch; a loop: its own): done when every last
            step of one alternative is.
    """

    folder: str
    display_name: str
    waits_for: frozenset[str]
    branches: frozenset[tuple[str, str]] = frozenset()
    waits_any: tuple[tuple[frozenset[str], ...], ...] = ()


def failed_from_status(error_message: str, group_task: str) -> str:
    """A task named as failed in the status message, unless it is only the group itself."""
    found = _FAILED.search(error_message or "")
    return found[1] if found and found[1] != group_task else ""


def _ends(tasks: dict) -> frozenset[str]:
    """The tasks of a DAG that no other task of it waits for (its last ones), by key."""
    waited = {d for t in tasks.values() for d in t.get("dependentTasks", [])}
    return frozenset(k for k in tasks if k not in waited)


def _folder(component: str) -> str:
    """The folder kfp.local writes a task's outputs to: its component's name without `comp-`.

    kfp 2.17 `local/executor_input_utils.get_local_task_resource_name`; a task key can repeat
    across DAGs, a component name cannot (the compiler numbers them: comp-step, comp-step-2).
    """
    return component.removeprefix("comp-")


def _every(alternatives: list[tuple[frozenset[str], ...]]) -> tuple[frozenset[str], ...]:
    """Done when all of several things are, each done by any one of its alternatives."""
    combined = (frozenset(),)
    for options in alternatives:
        combined = tuple(done | option for done in combined for option in options)
    return combined


def _dag_done(name: str, components: dict) -> tuple[frozenset[str], ...]:
    """When the DAG component `name` is done: its last tasks done (folders, alternatives)."""
    tasks = components[name]["dag"]["tasks"]
    ends = []
    for key in sorted(_ends(tasks)):
        component = tasks[key]["componentRef"]["name"]
        if "dag" in components[component]:
            ends.append(_done_when(component, components))
        else:
            ends.append((frozenset({_folder(component)}),))
    return _every(ends)


def _done_when(name: str, components: dict) -> tuple[frozenset[str], ...]:
    """When a DAG task of component `name` is done: the folders of any one alternative.

    An If/Elif/Else group: the last tasks of one of its branches. A ParallelFor or a
    sub-pipeline: its own last tasks. A last task that is itself a DAG counts by its own.
    """
    if name.startswith(_GROUP):
        branches = components[name]["dag"]["tasks"].values()
        return tuple(
            done
            for branch in branches
            for done in _dag_done(branch["componentRef"]["name"], components)
        )
    return _dag_done(name, components)


def spec_steps(spec: dict) -> list[Step]:
    """The executed tasks (not DAGs) of a parsed compiled spec, root DAG first."""
    components = spec.get("components", {})
    steps: list[Step] = []
    pending = [(spec["root"]["dag"], frozenset(), frozenset(), "", ())]
    while pending:
        dag, inherited, branches, group, any_of = pending.pop(0)
        mine = {
            key: _folder(task["componentRef"]["name"])
            for key, task in dag["tasks"].items()
            if "dag" not in components.get(task["componentRef"]["name"], {})
        }
        for key, task in dag["tasks"].items():
            # Waiting for an If/Elif/Else group counts as one of its branches done; for a
            # ParallelFor or a sub-pipeline, as its last tasks done.
            deps = task.get("dependentTasks", [])
            waits = inherited | {mine[d] for d in deps if d in mine}
            waited_dags = (
                _done_when(dag["tasks"][d]["componentRef"]["name"], components)
                for d in deps
                if d not in mine
            )
            groups = any_of + tuple(alternatives for alternatives in waited_dags if alternatives)
            name = task["componentRef"]["name"]
            if key not in mine:
                inner = branches | {(group, key)} if group else branches
                is_group = key if name.startswith(_GROUP) else ""
                pending.append((components[name]["dag"], waits, inner, is_group, groups))
            else:
                steps.append(
                    Step(mine[key], task["taskInfo"]["name"], frozenset(waits), branches, groups)
                )
    return steps


def stalled_steps(steps: list[Step], completed: set[str], exit_task: str) -> list[str]:
    """Display names of the tasks that did not complete though all they wait for did.

    A step in a branch of an If/Elif/Else group whose other branch ran is not one of them:
    its branch was not taken.
    """
    taken = dict(branch for s in steps if s.folder in completed for branch in s.branches)

    def ready(step: Step) -> bool:
        if any(taken.get(g, b) != b for g, b in step.branches):
            return False  # another branch of its group ran
        done = step.waits_for <= completed
        return done and all(any(end <= completed for end in g) for g in step.waits_any)

    return [
        s.display_name
        for s in steps
        if s.folder != exit_task and s.folder not in completed and ready(s)
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
