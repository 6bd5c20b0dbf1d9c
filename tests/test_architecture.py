"""Guards on the shape of the code: pure cores, thin wrappers, one image, no machine paths."""

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
COMPONENT_DIRS = sorted(p for p in (REPO / "components").iterdir() if (p / "component.py").exists())


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_every_component_has_core_wrapper_and_readme():
    assert len(COMPONENT_DIRS) >= 6
    for folder in COMPONENT_DIRS:
        for name in ("core.py", "component.py", "README.md", "__init__.py"):
            assert (folder / name).exists(), f"{folder.name} lacks {name}"


# Every module below a component or _shared folder, packages in them (_shared/io) included.
CORE_MODULES = sorted(
    p for p in (REPO / "components").glob("*/**/*.py") if p.name != "component.py"
)


@pytest.mark.parametrize("core", CORE_MODULES, ids=lambda p: str(p.relative_to(REPO)))
def test_no_core_module_imports_kfp(core):
    assert "kfp" not in _imports(core), (
        f"{core.relative_to(REPO)} imports kfp; keep KFP in component.py"
    )


@pytest.mark.parametrize(
    "wrapper", [d / "component.py" for d in COMPONENT_DIRS], ids=lambda p: p.parent.name
)
def test_wrapper_is_thin_and_uses_the_project_image(wrapper):
    source = wrapper.read_text()
    assert "from __future__ import annotations" not in source, "KFP reads raw annotations"
    assert "base_image=IMAGE" in source and "install_kfp_package=False" in source
    tree = ast.parse(source)
    funcs = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert len(funcs) == 1, "one component per wrapper"
    body = funcs[0].body[1:]  # after the docstring
    lines = funcs[0].end_lineno - body[0].lineno + 1
    assert lines <= 45, (
        f"{wrapper.parent.name} wrapper body has {lines} lines; move logic into core.py"
    )


def test_pipelines_do_not_use_deprecated_condition():
    for path in (REPO / "pipelines").glob("*.py"):
        assert "dsl.Condition" not in path.read_text(), path.name


def test_no_absolute_machine_paths_in_tracked_sources():
    pattern = re.compile(r"/(?:work|root|home)/[\w.-]+/")
    offenders = [
        str(p.relative_to(REPO))
        for folder in ("components", "pipelines", "tests", "compiled", "data")
        for p in (REPO / folder).rglob("*")
        if p.is_file()
        and p.suffix in {".py", ".yaml", ".json", ".md"}
        and pattern.search(p.read_text(errors="ignore"))
        and p.name != "test_architecture.py"
    ]
    assert not offenders


@pytest.mark.parametrize("module", CORE_MODULES, ids=lambda p: str(p.relative_to(REPO)))
def test_components_depend_on_shared_helpers_only_not_on_each_other(module):
    own = module.relative_to(REPO / "components").parts[0]
    tree = ast.parse(module.read_text())
    imported = {
        node.module.split(".")[1]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and node.module
        and node.module.startswith("components.")
    }
    assert imported <= {own, "_shared"}, f"{module.relative_to(REPO)} imports components {imported}"
