"""Guards on the shape of the code: pure cores, thin wrappers, one image, no machine paths."""

import ast
import importlib.util
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
        for folder in ("components", "pipelines", "kfp_mlops", "tests", "compiled", "data")
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
    allowed = {own, "_shared"} | SPLIT_OF.get(own, set())
    assert imported <= allowed, f"{module.relative_to(REPO)} imports components {imported}"


# A sharded drift run is the drift gate split into pods: its plan, map and reduce tasks use
# the gate's engine (detect_drift/state.py, finalize.py, sharding.py), not a copy of it.
SPLIT_OF = {
    name: {"detect_drift"} for name in ("plan_drift_shards", "drift_shard", "merge_drift_states")
}


# pipelines/ holds pipeline definitions and their compilation; the tool lives in kfp_mlops/.
PIPELINE_HELPERS = {
    "__init__",
    "compile",
    "descriptors",
    "drift_steps",
    "exit_handler",
    "lineage",
    "task_settings",
}


@pytest.mark.parametrize("module", sorted((REPO / "pipelines").glob("*.py")), ids=lambda p: p.name)
def test_pipelines_folder_holds_only_pipeline_definitions_and_compilation(module):
    source = module.read_text()
    defines_pipeline = "dsl.pipeline(" in source  # as a decorator or applied to a body
    assert defines_pipeline or module.stem in PIPELINE_HELPERS, (
        f"pipelines/{module.name} is neither a pipeline definition nor compilation; "
        "tool code (CLI, runner, stack, KFP client) belongs in kfp_mlops/"
    )
    allowed = {"kfp", "components", "pipelines", "yaml"} | set(
        __import__("sys").stdlib_module_names
    )
    assert _imports(module) <= allowed, (
        f"pipelines/{module.name} imports {_imports(module) - allowed}"
    )


def test_tool_package_has_a_folder_per_role_and_one_error_module():
    package = REPO / "kfp_mlops"
    roles = {p.name for p in package.iterdir() if (p / "__init__.py").exists()}
    assert {"cli", "stack", "runs", "kfp"} <= roles
    # Exit codes are decided in kfp_mlops/errors.py only.
    for path in package.rglob("*.py"):
        if path.name != "errors.py":
            assert not re.search(r"^EXIT_\w+ *=", path.read_text(), re.M), path
            assert "class UsageError" not in path.read_text(), path


def test_no_file_in_the_tool_package_or_pipelines_is_over_300_lines():
    files = [*(REPO / "kfp_mlops").rglob("*.py"), *(REPO / "pipelines").glob("*.py")]
    long = {
        str(p.relative_to(REPO)): n for p in files if (n := len(p.read_text().splitlines())) > 300
    }
    assert not long


# -- the direction is total: tool -> pipelines -> components, and no circles --------------------


def _structure():
    """scripts/structure.py, the one import-graph reader (the report's tables use it too)."""
    spec = importlib.util.spec_from_file_location("structure", REPO / "scripts" / "structure.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "module", sorted((REPO / "components").rglob("*.py")), ids=lambda p: str(p.relative_to(REPO))
)
def test_no_component_imports_pipelines_or_the_tool(module):
    # ast.walk: imports inside functions count (a lazy import is still an arrow upward).
    upward = _imports(module) & {"pipelines", "kfp_mlops"}
    assert not upward, (
        f"{module.relative_to(REPO)} imports {sorted(upward)}; components are the bottom layer: "
        "move what it needs into components/, or pass it in as a parameter"
    )


MODULE_PATH = re.compile(r"^(components|pipelines|kfp_mlops)(\.\w+)+(:\w+)?$")


@pytest.mark.parametrize("module", sorted((REPO / "pipelines").glob("*.py")), ids=lambda p: p.name)
def test_pipelines_name_no_module_by_string(module):
    tree = ast.parse(module.read_text())
    named = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and MODULE_PATH.match(node.value)
    ]
    assert not named and "importlib" not in _imports(module), (
        f"pipelines/{module.name} names modules by string {named} or uses importlib: an arrow "
        "no import shows; import what it needs (inside a function, to stay lazy), or let the "
        "tool register its own parts"
    )


# Circles another branch is breaking; each entry names it. Remove an entry once it is gone.
KNOWN_CIRCLES: list[list[str]] = []  # none: every circle found fails the test


def test_the_import_graph_has_no_circles():
    found = _structure().circles(_structure().import_graph(REPO))
    new = [c for c in found if c not in KNOWN_CIRCLES]
    gone = [c for c in KNOWN_CIRCLES if c not in found]
    assert not new, f"import circles: {new}; one side must not import the other"
    assert not gone, f"{gone} no longer circle: remove them from KNOWN_CIRCLES"


def test_the_import_graph_reader_sees_lazy_imports_and_circles(tmp_path):
    structure = _structure()
    package = tmp_path / "components" / "room"
    package.mkdir(parents=True)
    (tmp_path / "components" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from components.room import b\n")
    (package / "b.py").write_text("from .c import x\n")
    (package / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from components.room.b import y\n"
        "from components.room.a import f\n"
    )
    for root in ("pipelines", "kfp_mlops"):
        (tmp_path / root).mkdir()
    graph = structure.import_graph(tmp_path)
    assert graph["components.room.a"] == {"components.room.b"}
    assert graph["components.room.b"] == {"components.room.c"}
    assert graph["components.room.c"] == {"components.room.a"}  # not the type-only import
    assert structure.circles(graph) == [
        ["components.room.a", "components.room.b", "components.room.c"]
    ]


# -- the registry room: one MLflow client, one alias-move protocol -------------------------------

REGISTRY_ROOM = REPO / "components" / "_shared" / "registry"
# Calls only the room makes: the client with its one policy, the lease, the alias move itself.
ROOM_ONLY_CALLS = {"MlflowClient", "Lease", "set_alias", "set_registered_model_alias"}


def _called_names(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            func = node.func
            names.add(func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", ""))
    return names


@pytest.mark.parametrize(
    "module",
    sorted(
        p
        for root in ("components", "pipelines", "kfp_mlops")
        for p in (REPO / root).rglob("*.py")
        if REGISTRY_ROOM not in p.parents
    ),
    ids=lambda p: str(p.relative_to(REPO)),
)
def test_only_the_registry_room_makes_clients_takes_the_lease_or_moves_aliases(module):
    made = _called_names(module) & ROOM_ONLY_CALLS
    assert not made, (
        f"{module.relative_to(REPO)} calls {sorted(made)}; use components/_shared/registry/ "
        "(client.mlflow_client or Registry for the client, aliases.alias_moves for a move)"
    )
