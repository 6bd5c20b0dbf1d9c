"""What each pipeline parameter means, read from the compiled spec (the wrapper docstrings).

KFP compiles a function's `Args:` docstring into `inputDefinitions.parameters.<name>.description`.
The pipeline functions document no parameters of their own: each component wrapper documents
its inputs, so a root parameter means what the inputs it feeds say. The spec's own root
description wins when there is one; otherwise the DAG is followed from the root parameter to
every component input it feeds (through sub-pipelines and the exit handler), and each step's
description is kept once.
"""

from pathlib import Path
from typing import Any

import yaml


def _one_line(text: str) -> str:
    return " ".join(text.split())


def spec_descriptions(spec_path: Path) -> dict[str, list[tuple[str, str]]]:
    """Root parameter → [(step display name, description)], "" as the step for the root's own.

    Distinct descriptions only, in the order the spec's DAG lists the steps that read them; an
    empty list when nothing the parameter feeds is documented.
    """
    spec = next(yaml.safe_load_all(spec_path.read_text()))
    components: dict[str, Any] = spec.get("components", {})

    def fed(dag: dict, name: str) -> list[tuple[str, str]]:
        found = []
        for task in dag.get("tasks", {}).values():
            component = components.get(task.get("componentRef", {}).get("name", ""), {})
            for given, source in task.get("inputs", {}).get("parameters", {}).items():
                if source.get("componentInputParameter") == name:
                    found += described(component, given, task.get("taskInfo", {}).get("name", ""))
        return found

    def described(component: dict, name: str, step: str) -> list[tuple[str, str]]:
        declared = component.get("inputDefinitions", {}).get("parameters", {}).get(name, {})
        if declared.get("description"):
            return [(step, _one_line(declared["description"]))]
        return fed(component.get("dag", {}), name)  # a sub-pipeline: what its steps say

    root = spec["root"]
    result = {}
    for name, declared in root.get("inputDefinitions", {}).get("parameters", {}).items():
        if declared.get("description"):
            result[name] = [("", _one_line(declared["description"]))]
            continue
        seen: dict[str, str] = {}
        for step, text in fed(root.get("dag", {}), name):
            seen.setdefault(text, step)
        result[name] = [(step, text) for text, step in seen.items()]
    return result
