"""A local run's Markdown and HTML reports, stored again under names a browser can open.

kfp.local stores an artifact at its output name (`.../check-fairness/report`), without an
extension, so a browser shows an HTML report as source. The run folder gets `reports/` with
a copy of each report named `TASK-OUTPUT.md` or `.html`, by the type the spec declares.
"""

import shutil
from pathlib import Path

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: 10x faster on a spec
_EXTENSIONS = {"system.Markdown": ".md", "system.HTML": ".html"}


def report_types(spec_path: Path) -> dict[tuple[str, str], str]:
    """(task key, output name) → extension, for every Markdown or HTML output in the spec."""
    spec = next(yaml.load_all(spec_path.read_text(), Loader=_LOADER))
    components = spec.get("components", {})
    found = {}
    for component in [spec["root"], *components.values()]:
        for task_key, task in component.get("dag", {}).get("tasks", {}).items():
            outputs = components.get(task["componentRef"]["name"], {}).get("outputDefinitions", {})
            for name, artifact in outputs.get("artifacts", {}).items():
                kind = artifact.get("artifactType", {}).get("schemaTitle")
                if kind in _EXTENSIONS:
                    found[(task_key, name)] = _EXTENSIONS[kind]
    return found


def store_reports(spec_path: Path, run_dir: Path) -> list[str]:
    """Copy the run's report artifacts into RUN_DIR/reports with extensions; their paths."""
    stored = []
    for (task_key, name), ext in sorted(report_types(spec_path).items()):
        for source in sorted((run_dir / "outputs").glob(f"*/{task_key}/{name}")):
            if source.is_file():
                target = run_dir / "reports" / f"{task_key}-{name}{ext}"
                target.parent.mkdir(exist_ok=True)
                shutil.copyfile(source, target)
                stored.append(str(target))
    return stored
